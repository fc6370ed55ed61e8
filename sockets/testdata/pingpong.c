/*
 * pingpong.c: the C reference for BenchmarkSocketpairRoundTripProcess.
 *
 * A fork()ed child echoes SIZE-byte messages on a SOCK_STREAM socketpair
 * with blocking read/write; the parent times N round trips (after a warm-up
 * of 1000) on CLOCK_MONOTONIC and prints the nanoseconds per round trip.
 *
 * usage: pingpong [N [SIZE]]   (defaults: 200000 64)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 1000
#define MAXSIZE 65536

/* read_full returns 1 when buf is filled, 0 on EOF before any byte, -1 on error. */
static int read_full(int fd, char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			return got == 0 ? 0 : -1;
		got += (size_t)r;
	}
	return 1;
}

static int write_full(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t r = write(fd, buf, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += r;
		n -= (size_t)r;
	}
	return 0;
}

static void round_trip(int fd, char *buf, size_t size)
{
	if (write_full(fd, buf, size) < 0 || read_full(fd, buf, size) != 1) {
		perror("pingpong: round trip");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	long size = argc > 2 ? atol(argv[2]) : 64;
	static char buf[MAXSIZE];
	int sv[2];

	if (n <= 0 || size <= 0 || size > MAXSIZE) {
		fprintf(stderr, "usage: pingpong [N>0 [SIZE 1..%d]]\n", MAXSIZE);
		return 2;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("pingpong: socketpair");
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("pingpong: fork");
		return 1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sv[0]);
		for (;;) {
			int r = read_full(sv[1], buf, (size_t)size);
			if (r == 0)
				_exit(0);
			if (r < 0 || write_full(sv[1], buf, (size_t)size) < 0)
				_exit(1);
		}
	}
	close(sv[1]);
	memset(buf, 'x', (size_t)size);
	for (int i = 0; i < WARMUP; i++)
		round_trip(sv[0], buf, (size_t)size);

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++)
		round_trip(sv[0], buf, (size_t)size);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	close(sv[0]);
	int status;
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "pingpong: echo child failed\n");
		return 1;
	}
	double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
	printf("%.1f\n", ns / (double)n);
	return 0;
}
