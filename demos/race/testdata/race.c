/* race: the C reference for the race lab (TestCompareC). PROCS fork()ed
 * processes each increment one counter ITERS times, in a MAP_SHARED memfd
 * laid out like the Go lab's region (counter, start line, unnamed sem_t,
 * futex mutex, then one tally slot per process on its own cache line).
 * Like the Go workers, every process waits at the same two-round start
 * line in shared memory, stores its progress in its tally after every increment, and
 * takes CLOCK_MONOTONIC before its first and after its last increment.
 * For each MODE it prints one line:
 *
 *   MODE ns_per_op lost
 *
 * where ns_per_op = (last end - first start) / (PROCS * ITERS), as the Go
 * lab computes it. Modes:
 *
 *   unsafe    volatile load, then volatile store of value+1
 *   atomic    __atomic_fetch_add (LOCK XADD)
 *   sysv-sem  semop P/V with SEM_UNDO on a private set
 *   posix-sem sem_wait/sem_post on a sem_open'ed semaphore
 *   posix-sem-unnamed  sem_wait/sem_post, sem_init(pshared=1) in the region
 *   futex     Drepper's mutex3 with shared futexes and the owner bookkeeping
 *             of the Go semaphore.Mutex (as semaphore/testdata/bench.c)
 *   flock     flock LOCK_EX/LOCK_UN, each process opens LOCKFILE itself
 *   socket-token  a 1-byte token around a ring of Unix socketpairs
 *
 * Usage: race PROCS ITERS CPUS SEMNAME LOCKFILE MODE...
 *        (CPUS: "-" for no pinning, else "0,1": process i on the i-th, round robin)
 * Build: cc -O2 -Wall -pthread race.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE 64
#define MAXPROCS 256

static void die(const char *what) {
	fprintf(stderr, "race: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct mx {
	uint32_t state;
	uint32_t magic;
	uint64_t owner;
	uint64_t start;
	uint32_t recovers;
};

struct region {
	_Alignas(LINE) uint64_t counter;
	_Alignas(LINE) uint32_t started;
	_Alignas(LINE) sem_t sem;
	_Alignas(LINE) struct mx mx;
	_Alignas(LINE) struct {
		_Alignas(LINE) uint64_t tally;
	} slot[MAXPROCS];
	struct {
		_Alignas(LINE) int64_t start, end;
	} times[MAXPROCS];
};

static uint64_t self_owner, self_start;

static long futex(uint32_t *addr, int op, uint32_t val) {
	return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

static void mx_lock(struct mx *m) {
	uint32_t c = 0;
	if (!__atomic_compare_exchange_n(&m->state, &c, 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		while (__atomic_exchange_n(&m->state, 2, __ATOMIC_SEQ_CST) != 0)
			futex(&m->state, FUTEX_WAIT, 2);
	}
	__atomic_store_n(&m->owner, self_owner, __ATOMIC_SEQ_CST);
	__atomic_store_n(&m->start, self_start, __ATOMIC_SEQ_CST);
}

static void mx_unlock(struct mx *m) {
	uint64_t o = self_owner;
	if (__atomic_load_n(&m->state, __ATOMIC_SEQ_CST) == 0 ||
	    !__atomic_compare_exchange_n(&m->owner, &o, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		fprintf(stderr, "race: unlock: not owner\n");
		exit(1);
	}
	__atomic_store_n(&m->start, 0, __ATOMIC_SEQ_CST);
	if (__atomic_sub_fetch(&m->state, 1, __ATOMIC_SEQ_CST) != 0) {
		__atomic_store_n(&m->state, 0, __ATOMIC_SEQ_CST);
		futex(&m->state, FUTEX_WAKE, 1);
	}
}

/* The unsafe increment: a load and a separate store (what the Go lab's
 * atomic.LoadUint64 + plain store compiles to). */
static inline void inc(struct region *r) {
	volatile uint64_t *c = &r->counter;
	uint64_t v = *c;
	*c = v + 1;
}

static void semop1(int id, short op) {
	struct sembuf b = {0, op, SEM_UNDO};
	while (semop(id, &b, 1) < 0)
		if (errno != EINTR)
			die("semop");
}

static void token_read(int fd) {
	char b;
	for (;;) {
		ssize_t n = read(fd, &b, 1);
		if (n == 1)
			return;
		if (n < 0 && errno == EINTR)
			continue;
		die("read token");
	}
}

static void token_write(int fd) {
	char b = 't';
	while (write(fd, &b, 1) != 1)
		if (errno != EINTR)
			die("write token");
}

struct ctx {
	struct region *r;
	int procs;
	long iters;
	int semid;
	sem_t *named;
	const char *lockfile;
	int ring[MAXPROCS][2]; /* ring[k]: [0] read end for k+1, [1] write end for k */
	int cpus[MAXPROCS], ncpus;
	int spin;
};

static void child(struct ctx *x, const char *mode, int me) {
	struct region *r = x->r;
	volatile uint64_t *tally = &r->slot[me].tally;
	long n = x->iters;
	int lockfd = -1, in = -1, out = -1;
	self_owner = ((uint64_t)getpid() << 32) | 1;
	self_start = 1;
	if (x->ncpus > 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(x->cpus[me % x->ncpus], &set);
		if (sched_setaffinity(0, sizeof set, &set) < 0)
			die("sched_setaffinity");
	}
	if (!strcmp(mode, "flock") && (lockfd = open(x->lockfile, O_RDWR | O_CLOEXEC)) < 0)
		die("open lockfile");
	if (!strcmp(mode, "socket-token")) {
		out = x->ring[me][1];
		in = x->ring[(me + x->procs - 1) % x->procs][0];
	}
	/* The start line of the Go lab: two rounds, spinning (for at most
	 * 20 ms) when every process can have a CPU of its own. */
	int64_t deadline = now_ns() + 20000000;
	for (uint32_t round = 1; round <= 2; round++) {
		__atomic_add_fetch(&r->started, 1, __ATOMIC_SEQ_CST);
		while (__atomic_load_n(&r->started, __ATOMIC_SEQ_CST) < round * (uint32_t)x->procs)
			if (!x->spin || now_ns() > deadline)
				sched_yield();
	}
	int64_t t0 = now_ns();
	if (!strcmp(mode, "unsafe")) {
		for (long i = 0; i < n; i++) {
			inc(r);
			*tally = i + 1;
		}
	} else if (!strcmp(mode, "atomic")) {
		for (long i = 0; i < n; i++) {
			__atomic_fetch_add(&r->counter, 1, __ATOMIC_SEQ_CST);
			*tally = i + 1;
		}
	} else if (!strcmp(mode, "sysv-sem")) {
		for (long i = 0; i < n; i++) {
			semop1(x->semid, -1);
			inc(r);
			semop1(x->semid, 1);
			*tally = i + 1;
		}
	} else if (!strcmp(mode, "posix-sem") || !strcmp(mode, "posix-sem-unnamed")) {
		sem_t *s = !strcmp(mode, "posix-sem") ? x->named : &r->sem;
		for (long i = 0; i < n; i++) {
			while (sem_wait(s) < 0)
				if (errno != EINTR)
					die("sem_wait");
			inc(r);
			if (sem_post(s) < 0)
				die("sem_post");
			*tally = i + 1;
		}
	} else if (!strcmp(mode, "futex")) {
		for (long i = 0; i < n; i++) {
			mx_lock(&r->mx);
			inc(r);
			mx_unlock(&r->mx);
			*tally = i + 1;
		}
	} else if (!strcmp(mode, "flock")) {
		for (long i = 0; i < n; i++) {
			while (flock(lockfd, LOCK_EX) < 0)
				if (errno != EINTR)
					die("flock");
			inc(r);
			if (flock(lockfd, LOCK_UN) < 0)
				die("flock");
			*tally = i + 1;
		}
	} else if (!strcmp(mode, "socket-token")) {
		for (long i = 0; i < n; i++) {
			if (me != 0 || i > 0)
				token_read(in);
			inc(r);
			token_write(out);
			*tally = i + 1;
		}
		if (me == 0)
			token_read(in);
	} else {
		fprintf(stderr, "race: unknown mode %s\n", mode);
		exit(2);
	}
	r->times[me].start = t0;
	r->times[me].end = now_ns();
	exit(0);
}

int main(int argc, char **argv) {
	if (argc < 7) {
		fprintf(stderr, "usage: race PROCS ITERS CPUS SEMNAME LOCKFILE MODE...\n");
		return 2;
	}
	struct ctx x = {0};
	x.procs = atoi(argv[1]);
	x.iters = atol(argv[2]);
	if (x.procs < 1 || x.procs > MAXPROCS || x.iters < 1) {
		fprintf(stderr, "race: bad PROCS or ITERS\n");
		return 2;
	}
	if (strcmp(argv[3], "-")) {
		char *s = argv[3], *end;
		while (*s && x.ncpus < MAXPROCS) {
			x.cpus[x.ncpus++] = (int)strtol(s, &end, 10);
			s = *end == ',' ? end + 1 : end;
			if (end == s && *s)
				break;
		}
	}
	x.spin = x.ncpus ? x.ncpus >= x.procs : x.procs <= sysconf(_SC_NPROCESSORS_ONLN);
	x.lockfile = argv[5];
	int fd = memfd_create("race", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, sizeof(struct region)) < 0)
		die("memfd");
	x.r = mmap(NULL, sizeof(struct region), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (x.r == MAP_FAILED)
		die("mmap");
	if ((x.semid = semget(IPC_PRIVATE, 1, IPC_CREAT | IPC_EXCL | 0600)) < 0)
		die("semget");
	x.named = sem_open(argv[4], O_CREAT | O_EXCL, 0600, 1);
	if (x.named == SEM_FAILED) {
		semctl(x.semid, 0, IPC_RMID);
		die("sem_open");
	}
	sem_unlink(argv[4]); /* the processes share the mapping; no name needed */
	int lf = open(x.lockfile, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lf < 0)
		die("create lockfile");
	close(lf);

	int status = 0;
	for (int m = 6; m < argc; m++) {
		const char *mode = argv[m];
		memset(x.r, 0, sizeof(struct region));
		union {
			int val;
		} arg = {1};
		if (semctl(x.semid, 0, SETVAL, arg) < 0)
			die("semctl SETVAL");
		if (sem_init(&x.r->sem, 1, 1) < 0)
			die("sem_init");
		x.r->mx.magic = 0x584d5049;
		if (!strcmp(mode, "socket-token"))
			for (int k = 0; k < x.procs; k++) {
				int sv[2];
				if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
					die("socketpair");
				x.ring[k][1] = sv[0];
				x.ring[k][0] = sv[1];
			}
		for (int i = 0; i < x.procs; i++) {
			pid_t pid = fork();
			if (pid < 0)
				die("fork");
			if (pid == 0)
				child(&x, mode, i);
		}
		if (!strcmp(mode, "socket-token"))
			for (int k = 0; k < x.procs; k++) {
				close(x.ring[k][0]);
				close(x.ring[k][1]);
			}
		for (int i = 0; i < x.procs; i++) {
			int st;
			if (wait(&st) < 0)
				die("wait");
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				status = 1;
		}
		int64_t first = x.r->times[0].start, last = x.r->times[0].end;
		for (int i = 1; i < x.procs; i++) {
			if (x.r->times[i].start < first)
				first = x.r->times[i].start;
			if (x.r->times[i].end > last)
				last = x.r->times[i].end;
		}
		double total = (double)x.procs * x.iters;
		printf("%s %.2f %lld\n", mode, (double)(last - first) / total, (long long)(total - (double)x.r->counter));
		fflush(stdout);
	}
	semctl(x.semid, 0, IPC_RMID);
	sem_close(x.named);
	unlink(x.lockfile);
	return status;
}
