/* bench: the C reference for the semaphore package's benchmarks
 * (TestCompareC). Every figure is the mean of ITERS uncontended pairs,
 * after a warm-up, in ns per pair, one "name ns" line each:
 *
 *   sysv_pv          semop -1 then semop +1 on a private System V set
 *   sysv_pv_undo     the same with SEM_UNDO
 *   named_waitpost   sem_wait + sem_post on a sem_open'ed semaphore
 *   unnamed_waitpost sem_wait + sem_post, sem_init(pshared=1) in MAP_SHARED
 *   futex_lockunlock Drepper's mutex3 with shared futexes and the same
 *                    owner bookkeeping as the Go Mutex (owner word and
 *                    start time stored on lock, CAS-cleared on unlock)
 *   pthread_pshared  pthread_mutex_lock + unlock, PTHREAD_PROCESS_SHARED
 *
 * Usage: bench ITERS /NAME        Build: cc -O2 -Wall -pthread bench.c
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
	fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ---- futex mutex, as the Go Mutex does it ---- */
struct mx {
	uint32_t state;
	uint32_t magic;
	uint64_t owner;
	uint64_t start;
	uint32_t recovers;
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
		fprintf(stderr, "bench: unlock: not owner\n");
		exit(1);
	}
	__atomic_store_n(&m->start, 0, __ATOMIC_SEQ_CST);
	if (__atomic_sub_fetch(&m->state, 1, __ATOMIC_SEQ_CST) != 0) {
		__atomic_store_n(&m->state, 0, __ATOMIC_SEQ_CST);
		futex(&m->state, FUTEX_WAKE, 1);
	}
}

#define MEASURE(label, iters, body)                                   \
	do {                                                          \
		for (long i_ = 0; i_ < (iters) / 10; i_++) {          \
			body;                                         \
		}                                                     \
		double t0_ = now_ns();                                \
		for (long i_ = 0; i_ < (iters); i_++) {               \
			body;                                         \
		}                                                     \
		printf("%s %.2f\n", label, (now_ns() - t0_) / (iters)); \
		fflush(stdout);                                       \
	} while (0)

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: bench ITERS /NAME\n");
		return 2;
	}
	long iters = atol(argv[1]);
	const char *name = argv[2];
	self_owner = (uint64_t)getpid() << 32 | 12345;
	self_start = 12345;

	/* System V */
	int id = semget(IPC_PRIVATE, 1, IPC_CREAT | IPC_EXCL | 0600);
	if (id < 0)
		die("semget");
	struct sembuf p = {0, -1, 0}, v = {0, 1, 0};
	if (semop(id, &v, 1) != 0)
		die("semop");
	long sysv_iters = iters / 20 > 0 ? iters / 20 : 1; /* syscalls are slow */
	MEASURE("sysv_pv", sysv_iters, { semop(id, &p, 1); semop(id, &v, 1); });
	p.sem_flg = v.sem_flg = SEM_UNDO;
	MEASURE("sysv_pv_undo", sysv_iters, { semop(id, &p, 1); semop(id, &v, 1); });
	semctl(id, 0, IPC_RMID);

	/* POSIX named */
	sem_t *ns = sem_open(name, O_CREAT | O_EXCL, 0600, 1);
	if (ns == SEM_FAILED)
		die("sem_open");
	sem_unlink(name);
	MEASURE("named_waitpost", iters, { sem_wait(ns); sem_post(ns); });
	sem_close(ns);

	/* shared memory for the rest */
	char *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	sem_t *us = (sem_t *)mem;
	if (sem_init(us, 1, 1) != 0)
		die("sem_init");
	MEASURE("unnamed_waitpost", iters, { sem_wait(us); sem_post(us); });

	struct mx *m = (struct mx *)(mem + 64);
	MEASURE("futex_lockunlock", iters, { mx_lock(m); mx_unlock(m); });

	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutex_t *pm = (pthread_mutex_t *)(mem + 128);
	pthread_mutex_init(pm, &a);
	MEASURE("pthread_pshared", iters, { pthread_mutex_lock(pm); pthread_mutex_unlock(pm); });
	return 0;
}
