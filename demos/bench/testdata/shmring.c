// shmring.c: the C reference for ipcplay's "shm" transport (TestCompareC,
// compare.sh). Two processes share an anonymous MAP_SHARED mapping holding
// two single-producer/single-consumer rings (one each way): the same
// layout and algorithm as demos/bench/ring.go, so that the two are
// comparable instruction for instruction.
//
//	usage: shmring [-m futex|spin|adaptive:N] pingpong|stream SIZE COUNT [WARMUP] [CPU_A CPU_B]
//
// -m futex (the default, transport shm): futex wake-ups. -m spin (shm-spin):
// busy polling on per-slot ready words. -m adaptive:N (shm-adaptive --spin
// N): poll the counter N times (a PAUSE after each), then the futex.
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
// The producer keeps the last tail it read and reads the shared one only
// when that copy says the ring is full. In spin mode each slot starts with
// an 8-byte ready word, stored (after the message, which follows it) as the
// message's index + 1; the consumer polls the word of the slot it expects,
// 4096 rounds, then with sched_yield between polls. The ready word and
// tail are published with a store-release (a plain store on x86): nothing
// follows that needs the full fence of the futex modes, which read the
// peer's wait word right after publishing.
//
// SLOT is SIZE rounded up to 64 (8 + SIZE in spin mode); NSLOTS is 256 KiB
// / (SIZE rounded up to 64) rounded down to a power of two, between 2 and
// 256. Every message carries its sequence number in its first 8 bytes and
// every receiver checks it (no checksum: the Go side's CRC-32 is extra
// work the C side does not do).
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

enum { FUTEX, SPIN, ADAPTIVE };
static int mode = FUTEX;
static long spin_budget = 0;

struct ring {
	uint32_t *head, *cw, *tail, *pw;
	char *slots;
	uint32_t n, mask, h, t, seen_tail;
	size_t slot, off;
};

static size_t ring_bytes(size_t size, uint32_t *nslots, size_t *slot) {
	size_t s = (size + 63) & ~(size_t)63;
	size_t n = (256 * 1024) / s, p = 1;
	if (mode == SPIN)
		s = (8 + size + 63) & ~(size_t)63;
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
	r->h = r->t = r->seen_tail = 0;
	r->off = mode == SPIN ? 8 : 0;
}

static uint32_t *ready(struct ring *r, uint32_t i) { return (uint32_t *)(r->slots + (size_t)(i & r->mask) * r->slot); }

static void fwait(uint32_t *a, uint32_t v) { syscall(SYS_futex, a, FUTEX_WAIT, v, NULL, NULL, 0); }
static void fwake(uint32_t *a) { syscall(SYS_futex, a, FUTEX_WAKE, 1, NULL, NULL, 0); }

// relax is the spin-wait hint after each poll of an adaptive budget (the
// Go side's cpuRelax).
static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static int full(struct ring *r) {
	r->seen_tail = __atomic_load_n(r->tail, __ATOMIC_SEQ_CST);
	return r->h - r->seen_tail == r->n;
}

static char *produce_begin(struct ring *r) {
	if (r->h - r->seen_tail == r->n && full(r)) {
		if (mode == SPIN) {
			for (long spins = 0; full(r); spins++)
				if (spins >= 4096)
					sched_yield();
		} else {
			long k = mode == ADAPTIVE ? spin_budget : 0;
			for (long i = 0; i < k && full(r); i++)
				relax();
			while (full(r)) {
				__atomic_store_n(r->pw, r->h - r->n + r->n / 2, __ATOMIC_SEQ_CST);
				if (!full(r))
					break;
				fwait(r->tail, r->seen_tail);
			}
		}
	}
	return r->slots + (size_t)(r->h & r->mask) * r->slot + r->off;
}

static void produce_end(struct ring *r) {
	r->h++;
	if (mode == SPIN) {
		__atomic_store_n(ready(r, r->h - 1), r->h, __ATOMIC_RELEASE);
		return;
	}
	__atomic_store_n(r->head, r->h, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(r->cw, __ATOMIC_SEQ_CST) == r->h)
		fwake(r->head);
}

static char *consume_begin(struct ring *r) {
	if (mode == SPIN) {
		uint32_t *w = ready(r, r->t);
		for (long spins = 0; __atomic_load_n(w, __ATOMIC_ACQUIRE) != r->t + 1; spins++)
			if (spins >= 4096)
				sched_yield();
	} else if (__atomic_load_n(r->head, __ATOMIC_SEQ_CST) == r->t) {
		long k = mode == ADAPTIVE ? spin_budget : 0;
		for (long i = 0; i < k && __atomic_load_n(r->head, __ATOMIC_SEQ_CST) == r->t; i++)
			relax();
		while (__atomic_load_n(r->head, __ATOMIC_SEQ_CST) == r->t) {
			__atomic_store_n(r->cw, r->t + 1, __ATOMIC_SEQ_CST);
			if (__atomic_load_n(r->head, __ATOMIC_SEQ_CST) != r->t)
				break;
			fwait(r->head, r->t);
		}
	}
	return r->slots + (size_t)(r->t & r->mask) * r->slot + r->off;
}

static void consume_end(struct ring *r) {
	r->t++;
	if (mode == SPIN) {
		__atomic_store_n(r->tail, r->t, __ATOMIC_RELEASE);
		return;
	}
	__atomic_store_n(r->tail, r->t, __ATOMIC_SEQ_CST);
	if (mode != SPIN && __atomic_load_n(r->pw, __ATOMIC_SEQ_CST) == r->t)
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
	const char *prog = argv[0];
	if (argc > 2 && strcmp(argv[1], "-m") == 0) {
		if (strcmp(argv[2], "futex") == 0)
			mode = FUTEX;
		else if (strcmp(argv[2], "spin") == 0)
			mode = SPIN;
		else if (strncmp(argv[2], "adaptive:", 9) == 0) {
			mode = ADAPTIVE;
			spin_budget = strtol(argv[2] + 9, 0, 10);
		} else {
			fprintf(stderr, "-m %s: must be futex, spin or adaptive:N\n", argv[2]);
			return 2;
		}
		argc -= 2;
		argv += 2;
	}
	if (argc < 4) {
		fprintf(stderr, "usage: %s [-m futex|spin|adaptive:N] pingpong|stream SIZE COUNT [WARMUP] [CPU_A CPU_B]\n", prog);
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
			uint64_t bad = 0;
			for (long i = 0; i < warmup + count; i++) {
				char *s = consume_begin(&r0);
				uint64_t seq;
				memcpy(&seq, s, 8);
				bad += seq != (uint64_t)i;
				char *d = produce_begin(&r1);
				memcpy(d, s, size);
				produce_end(&r1);
				consume_end(&r0);
			}
			_exit(bad != 0);
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
		uint64_t bad = 0, seq;
		for (long i = 0; i < warmup; i++) {
			seq = (uint64_t)i;
			memcpy(buf, &seq, 8);
			memcpy(produce_begin(&r0), buf, size);
			produce_end(&r0);
			memcpy(buf, consume_begin(&r1), size);
			consume_end(&r1);
			memcpy(&seq, buf, 8);
			bad += seq != (uint64_t)i;
		}
		int64_t start = now();
		for (long i = warmup; i < warmup + count; i++) {
			int64_t t0 = now();
			seq = (uint64_t)i;
			memcpy(buf, &seq, 8);
			memcpy(produce_begin(&r0), buf, size);
			produce_end(&r0);
			memcpy(buf, consume_begin(&r1), size);
			consume_end(&r1);
			memcpy(&seq, buf, 8);
			bad += seq != (uint64_t)i;
			rtt[i - warmup] = now() - t0;
		}
		int64_t elapsed = now() - start;
		int status = 0;
		waitpid(pid, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad++;
		qsort(rtt, (size_t)count, sizeof *rtt, cmp);
		double sum = 0;
		for (long i = 0; i < count; i++)
			sum += (double)rtt[i];
		printf("transport=shm mode=%s pattern=pingpong size=%zu count=%ld min_ns=%lld p50_ns=%lld p90_ns=%lld p99_ns=%lld max_ns=%lld mean_ns=%.0f msgs_per_sec=%.0f bad=%llu\n",
		       mode == SPIN ? "spin" : mode == ADAPTIVE ? "adaptive" : "futex", size, count, (long long)rtt[0], (long long)rtt[count / 2], (long long)rtt[count * 9 / 10],
		       (long long)rtt[count * 99 / 100], (long long)rtt[count - 1], sum / (double)count,
		       (double)count * 1e9 / (double)elapsed, (unsigned long long)bad);
		return bad != 0;
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
	printf("transport=shm mode=%s pattern=stream size=%zu count=%ld elapsed_ns=%lld msgs_per_sec=%.0f mb_per_sec=%.1f bad=%llu\n",
	       mode == SPIN ? "spin" : mode == ADAPTIVE ? "adaptive" : "futex", size, count, (long long)elapsed, (double)count / secs, (double)count * (double)size / secs / 1e6,
	       (unsigned long long)bad);
	return bad != 0;
}
