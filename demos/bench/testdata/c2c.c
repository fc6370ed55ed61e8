// c2c.c: an independent measurement of the core-to-core cache-line round
// trip, to check the floor ipcplay bench measures (TestCompareFloor,
// floor-compare.sh). Two processes share one anonymous MAP_SHARED page;
// A stores 2i+1 into a 64-byte aligned word and spins until it reads 2i+2,
// B spins until it reads 2i+1 and stores 2i+2 (the single-line ping-pong
// of core-to-core latency tools). On one CPU (CPU_A == CPU_B) each side
// calls sched_yield after every poll that failed, so the round trip is two
// context switches.
//
//	usage: c2c ROUNDTRIPS_PER_BATCH BATCHES [CPU_A CPU_B]
//
// Output, one line, after a warm-up of 2000 round trips: c2c_rtt_ns, the
// median of the round trips each timed on its own with CLOCK_MONOTONIC (as
// ipcplay bench times its floor and its rows: one clock reading is in each),
// then batched_ns, the median over batches of the time per round trip
// (no clock in it), and the batches' min and max.
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pin(int cpu) {
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0) {
		perror("sched_setaffinity");
		exit(1);
	}
}

static int64_t now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int same;

static void wait_for(volatile uint32_t *w, uint32_t v) {
	while (__atomic_load_n(w, __ATOMIC_ACQUIRE) != v)
		if (same)
			sched_yield();
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: %s ROUNDTRIPS_PER_BATCH BATCHES [CPU_A CPU_B]\n", argv[0]);
		return 2;
	}
	long per = strtol(argv[1], 0, 10), batches = strtol(argv[2], 0, 10), warm = 2000;
	int cpuA = argc > 4 ? atoi(argv[3]) : -1, cpuB = argc > 4 ? atoi(argv[4]) : -1;
	if (per < 1 || batches < 1) {
		fprintf(stderr, "ROUNDTRIPS_PER_BATCH and BATCHES must be positive\n");
		return 2;
	}
	same = cpuA >= 0 && cpuA == cpuB;
	uint32_t *w = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (w == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	long total = warm + per * batches;
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		pin(cpuB);
		for (long i = 0; i < total; i++) {
			wait_for(w, (uint32_t)(2 * i + 1));
			__atomic_store_n(w, (uint32_t)(2 * i + 2), __ATOMIC_RELEASE);
		}
		_exit(0);
	}
	pin(cpuA);
	int64_t *b = malloc(sizeof(int64_t) * (size_t)batches), t0 = 0, bt = 0;
	int64_t *r = malloc(sizeof(int64_t) * (size_t)(per * batches));
	// Half the batches time each round trip, half the batch: alternated.
	for (long i = 0; i < total; i++) {
		long k = i - warm, batch = k / per;
		int single = k >= 0 && batch % 2 == 0;
		if (k >= 0 && k % per == 0)
			bt = now();
		if (single)
			t0 = now();
		__atomic_store_n(w, (uint32_t)(2 * i + 1), __ATOMIC_RELEASE);
		wait_for(w, (uint32_t)(2 * i + 2));
		if (single)
			r[k] = now() - t0;
		if (k >= 0 && k % per == per - 1)
			b[batch] = now() - bt;
	}
	waitpid(pid, 0, 0);
	long nr = 0, nb = 0;
	for (long k = 0; k < per * batches; k++)
		if ((k / per) % 2 == 0)
			r[nr++] = r[k];
	for (long j = 1; j < batches; j += 2)
		b[nb++] = b[j];
	if (nb == 0)
		b[nb++] = 0;
	qsort(r, (size_t)nr, sizeof *r, cmp);
	qsort(b, (size_t)nb, sizeof *b, cmp);
	printf("c2c_rtt_ns=%lld batched_ns=%.0f min_ns=%.0f max_ns=%.0f\n", (long long)r[nr / 2], (double)b[nb / 2] / (double)per,
	       (double)b[0] / (double)per, (double)b[nb - 1] / (double)per);
	return 0;
}
