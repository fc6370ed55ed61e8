// shmring.c: the C reference for ipcplay's "shm" transport (TestCompareC,
// compare.sh). Two processes share an anonymous MAP_SHARED mapping holding
// two single-producer/single-consumer rings (one each way) with futex
// wake-ups: the same layout and algorithm as demos/bench/ring.go, so that
// the two are comparable instruction for instruction.
//
//	usage: shmring pingpong|stream SIZE COUNT [WARMUP] [CPU_A CPU_B]
//
// pingpong: A copies a SIZE-byte message into ring 0, B copies it from
// ring 0 into ring 1, A copies it out of ring 1; the round trip is timed.
// stream: A copies COUNT messages into ring 0 (memcpy), B copies each one
// out (memcpy) and acknowledges the last on ring 1: memcpy-bound one-way
// throughput.
//
// Ring layout (offsets in bytes; 128-byte lines keep the writers apart):
//
//	0    uint32 head          messages published; the consumer's futex
//	128  uint32 cons_wait     head value a consumer about to sleep waits for
//	256  uint32 tail          messages consumed; the producer's futex
//	384  uint32 prod_wait     tail value a producer about to sleep waits for
//	768  slots                NSLOTS x SLOT bytes
//
// A side that finds the ring empty (full) stores the counter value that
// will end its wait, checks the counter again and sleeps in FUTEX_WAIT on
// it; the other side, after advancing its counter, calls FUTEX_WAKE only
// when the new value is the one a sleeper announced. Storing the awaited
// value, not a flag, means a stale announcement can never swallow a
// later one, and the waker needs no atomic read-modify-write. A consumer
// waits for the next message; a producer facing a full ring waits until
// half of it is free.
//
// SLOT is SIZE rounded up to 64; NSLOTS is 256 KiB / SLOT rounded down to a
// power of two, between 2 and 256.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HDR 768
#define FLAG_STOP (1ull << 63)

struct ring {
	uint32_t *head, *cw, *tail, *pw;
	char *slots;
	uint32_t n, mask, h, t;
	size_t slot;
};

static size_t ring_bytes(size_t size, uint32_t *nslots, size_t *slot) {
	size_t s = (size + 63) & ~(size_t)63;
	size_t n = (256 * 1024) / s, p = 1;
	while (p * 2 <= n)
		p *= 2;
	if (p < 2)
		p = 2;
	if (p > 256)
		p = 256;
	*nslots = (uint32_t)p;
	*slot = s;
	return HDR + p * s;
}

static void ring_init(struct ring *r, char *base, size_t size) {
	ring_bytes(size, &r->n, &r->slot);
	r->mask = r->n - 1;
	r->head = (uint32_t *)(base + 0);
	r->cw = (uint32_t *)(base + 128);
	r->tail = (uint32_t *)(base + 256);
	r->pw = (uint32_t *)(base + 384);
	r->slots = base + HDR;
	r->h = r->t = 0;
}

static void fwait(uint32_t *a, uint32_t v) { syscall(SYS_futex, a, FUTEX_WAIT, v, NULL, NULL, 0); }
static void fwake(uint32_t *a) { syscall(SYS_futex, a, FUTEX_WAKE, 1, NULL, NULL, 0); }

static char *produce_begin(struct ring *r) {
	while (r->h - __atomic_load_n(r->tail, __ATOMIC_ACQUIRE) == r->n) {
		uint32_t want = r->h - r->n / 2; // the tail value that frees half the ring
		__atomic_store_n(r->pw, want, __ATOMIC_SEQ_CST);
		uint32_t t = __atomic_load_n(r->tail, __ATOMIC_SEQ_CST);
		if (r->h - t != r->n)
			break;
		fwait(r->tail, t);
	}
	return r->slots + (size_t)(r->h & r->mask) * r->slot;
}

static void produce_end(struct ring *r) {
	r->h++;
	__atomic_store_n(r->head, r->h, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(r->cw, __ATOMIC_SEQ_CST) == r->h)
		fwake(r->head);
}

static char *consume_begin(struct ring *r) {
	while (__atomic_load_n(r->head, __ATOMIC_ACQUIRE) == r->t) {
		__atomic_store_n(r->cw, r->t + 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(r->head, __ATOMIC_SEQ_CST) != r->t)
			break;
		fwait(r->head, r->t);
	}
	return r->slots + (size_t)(r->t & r->mask) * r->slot;
}

static void consume_end(struct ring *r) {
	r->t++;
	__atomic_store_n(r->tail, r->t, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(r->pw, __ATOMIC_SEQ_CST) == r->t)
		fwake(r->tail);
}

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

int main(int argc, char **argv) {
	if (argc < 4) {
		fprintf(stderr, "usage: %s pingpong|stream SIZE COUNT [WARMUP] [CPU_A CPU_B]\n", argv[0]);
		return 2;
	}
	int stream = strcmp(argv[1], "stream") == 0;
	size_t size = strtoul(argv[2], 0, 10);
	long count = strtol(argv[3], 0, 10);
	long warmup = argc > 4 ? strtol(argv[4], 0, 10) : count / 10;
	int cpuA = argc > 6 ? atoi(argv[5]) : -1, cpuB = argc > 6 ? atoi(argv[6]) : -1;
	if (size < 16) {
		fprintf(stderr, "SIZE must be at least 16\n");
		return 2;
	}
	uint32_t n;
	size_t slot;
	size_t rb = (ring_bytes(size, &n, &slot) + 4095) & ~(size_t)4095;
	char *mem = mmap(0, 2 * rb, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	struct ring r0, r1;
	ring_init(&r0, mem, size);
	ring_init(&r1, mem + rb, size);
	char *buf = aligned_alloc(64, slot);
	memset(buf, 0xa5, size);

	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) { // B: echo, or consume and acknowledge
		pin(cpuB);
		if (!stream) {
			for (long i = 0; i < warmup + count; i++) {
				char *s = consume_begin(&r0);
				char *d = produce_begin(&r1);
				memcpy(d, s, size);
				produce_end(&r1);
				consume_end(&r0);
			}
			_exit(0);
		}
		for (int phase = 0; phase < 2; phase++) {
			uint64_t expect = 0, bad = 0;
			for (;;) {
				char *s = consume_begin(&r0);
				memcpy(buf, s, size);
				consume_end(&r0);
				uint64_t seq;
				memcpy(&seq, buf, 8);
				if ((seq & ~FLAG_STOP) != expect++)
					bad++;
				if (seq & FLAG_STOP)
					break;
			}
			char *d = produce_begin(&r1);
			memcpy(d, &bad, 8);
			produce_end(&r1);
		}
		_exit(0);
	}
	pin(cpuA);
	if (!stream) {
		int64_t *rtt = malloc(sizeof(int64_t) * (size_t)count);
		for (long i = 0; i < warmup; i++) {
			memcpy(produce_begin(&r0), buf, size);
			produce_end(&r0);
			memcpy(buf, consume_begin(&r1), size);
			consume_end(&r1);
		}
		int64_t start = now();
		for (long i = 0; i < count; i++) {
			int64_t t0 = now();
			memcpy(produce_begin(&r0), buf, size);
			produce_end(&r0);
			memcpy(buf, consume_begin(&r1), size);
			consume_end(&r1);
			rtt[i] = now() - t0;
		}
		int64_t elapsed = now() - start;
		waitpid(pid, 0, 0);
		qsort(rtt, (size_t)count, sizeof *rtt, cmp);
		double sum = 0;
		for (long i = 0; i < count; i++)
			sum += (double)rtt[i];
		printf("transport=shm pattern=pingpong size=%zu count=%ld min_ns=%lld p50_ns=%lld p90_ns=%lld p99_ns=%lld max_ns=%lld mean_ns=%.0f msgs_per_sec=%.0f\n",
		       size, count, (long long)rtt[0], (long long)rtt[count / 2], (long long)rtt[count * 9 / 10],
		       (long long)rtt[count * 99 / 100], (long long)rtt[count - 1], sum / (double)count,
		       (double)count * 1e9 / (double)elapsed);
		return 0;
	}
	int64_t start = 0, elapsed = 0;
	uint64_t bad = 0;
	for (int phase = 0; phase < 2; phase++) { // phase 0 is the warm-up
		long k = phase == 0 ? (warmup > 0 ? warmup : 1) : count;
		start = now();
		for (long i = 0; i < k; i++) {
			uint64_t seq = (uint64_t)i | (i == k - 1 ? FLAG_STOP : 0);
			memcpy(buf, &seq, 8);
			memcpy(produce_begin(&r0), buf, size);
			produce_end(&r0);
		}
		memcpy(&bad, consume_begin(&r1), 8);
		consume_end(&r1);
		elapsed = now() - start;
	}
	waitpid(pid, 0, 0);
	double secs = (double)elapsed / 1e9;
	printf("transport=shm pattern=stream size=%zu count=%ld elapsed_ns=%lld msgs_per_sec=%.0f mb_per_sec=%.1f bad=%llu\n",
	       size, count, (long long)elapsed, (double)count / secs, (double)count * (double)size / secs / 1e6,
	       (unsigned long long)bad);
	return bad != 0;
}
