/* semtool: the C side of the semaphore package's interop tests.
 *
 *   semtool create NAME VALUE        sem_open(NAME, O_CREAT|O_EXCL, 0600, VALUE)
 *   semtool post NAME N              N x sem_post
 *   semtool wait NAME N TIMEOUT_MS   N x sem_timedwait; exit 3 on a timeout
 *   semtool getvalue NAME            print sem_getvalue
 *   semtool unlink NAME              sem_unlink
 *   semtool uinit VALUE              sem_init(pshared=1) at offset 0 of fd 3
 *   semtool upost N                  on the sem_t at offset 0 of fd 3
 *   semtool uwait N TIMEOUT_MS
 *   semtool ugetvalue
 *   semtool layout VALUE             print the 32 bytes of sem_init(pshared=1)
 *
 * Build: cc -O2 -Wall -pthread semtool.c
 */
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
	fprintf(stderr, "semtool: %s: %s\n", what, strerror(errno));
	exit(1);
}

static sem_t *open_named(const char *name) {
	sem_t *s = sem_open(name, 0);
	if (s == SEM_FAILED)
		die("sem_open");
	return s;
}

static sem_t *fd3(void) {
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, 3, 0);
	if (p == MAP_FAILED)
		die("mmap fd 3");
	return (sem_t *)p;
}

static int timed_waits(sem_t *s, long n, long ms) {
	for (long i = 0; i < n; i++) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (sem_timedwait(s, &ts) != 0) {
			if (errno == EINTR)
				continue;
			if (errno == ETIMEDOUT) {
				fprintf(stderr, "semtool: sem_timedwait: timed out after %ld of %ld\n", i, n);
				return 3;
			}
			die("sem_timedwait");
		}
	}
	return 0;
}

static void posts(sem_t *s, long n) {
	for (long i = 0; i < n; i++)
		if (sem_post(s) != 0)
			die("sem_post");
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: semtool create|post|wait|getvalue|unlink|uinit|upost|uwait|ugetvalue|layout ...\n");
		return 2;
	}
	const char *cmd = argv[1];
	int v;
	if (!strcmp(cmd, "create") && argc == 4) {
		sem_t *s = sem_open(argv[2], O_CREAT | O_EXCL, 0600, (unsigned)atol(argv[3]));
		if (s == SEM_FAILED)
			die("sem_open O_CREAT|O_EXCL");
		return 0;
	}
	if (!strcmp(cmd, "post") && argc == 4) {
		posts(open_named(argv[2]), atol(argv[3]));
		return 0;
	}
	if (!strcmp(cmd, "wait") && argc == 5)
		return timed_waits(open_named(argv[2]), atol(argv[3]), atol(argv[4]));
	if (!strcmp(cmd, "getvalue") && argc == 3) {
		if (sem_getvalue(open_named(argv[2]), &v) != 0)
			die("sem_getvalue");
		printf("%d\n", v);
		return 0;
	}
	if (!strcmp(cmd, "unlink") && argc == 3) {
		if (sem_unlink(argv[2]) != 0)
			die("sem_unlink");
		return 0;
	}
	if (!strcmp(cmd, "uinit") && argc == 3) {
		if (sem_init(fd3(), 1, (unsigned)atol(argv[2])) != 0)
			die("sem_init");
		return 0;
	}
	if (!strcmp(cmd, "upost") && argc == 3) {
		posts(fd3(), atol(argv[2]));
		return 0;
	}
	if (!strcmp(cmd, "uwait") && argc == 4)
		return timed_waits(fd3(), atol(argv[2]), atol(argv[3]));
	if (!strcmp(cmd, "ugetvalue") && argc == 2) {
		if (sem_getvalue(fd3(), &v) != 0)
			die("sem_getvalue");
		printf("%d\n", v);
		return 0;
	}
	if (!strcmp(cmd, "layout") && argc == 3) {
		union {
			sem_t s;
			unsigned char b[sizeof(sem_t)];
		} u;
		memset(&u, 0, sizeof u);
		if (sem_init(&u.s, 1, (unsigned)atol(argv[2])) != 0)
			die("sem_init");
		printf("%zu ", sizeof(sem_t));
		for (size_t i = 0; i < sizeof u.b; i++)
			printf("%02x", u.b[i]);
		printf("\n");
		return 0;
	}
	fprintf(stderr, "semtool: bad command or arguments\n");
	return 2;
}
