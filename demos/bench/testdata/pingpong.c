// pingpong.c: the minimal C ping-pong ipcplay's Go transports are compared
// against (TestCompareC, compare.sh). Two processes, blocking read(2) and
// write(2) of SIZE-byte messages over a socketpair (AF_UNIX, SOCK_STREAM)
// or a pair of pipes. The parent times each round trip with
// CLOCK_MONOTONIC and prints the percentiles.
//
//	usage: pingpong socketpair|pipe SIZE COUNT [WARMUP] [CPU_A CPU_B]
//
// Output, one line: transport=... size=... count=... min_ns=... p50_ns=...
// p90_ns=... p99_ns=... max_ns=... mean_ns=... msgs_per_sec=...
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
	perror(what);
	exit(1);
}

static void full(ssize_t (*op)(int, void *, size_t), int fd, char *p, size_t n) {
	while (n > 0) {
		ssize_t k = op(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			die("read/write");
		p += k;
		n -= (size_t)k;
	}
}

static ssize_t wr(int fd, void *p, size_t n) { return write(fd, p, n); }

static void pin(int cpu) {
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0)
		die("sched_setaffinity");
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
		fprintf(stderr, "usage: %s socketpair|pipe SIZE COUNT [WARMUP] [CPU_A CPU_B]\n", argv[0]);
		return 2;
	}
	const char *kind = argv[1];
	size_t size = strtoul(argv[2], 0, 10);
	long count = strtol(argv[3], 0, 10);
	long warmup = argc > 4 ? strtol(argv[4], 0, 10) : count / 10;
	int cpuA = argc > 6 ? atoi(argv[5]) : -1, cpuB = argc > 6 ? atoi(argv[6]) : -1;

	int ab[2], ba[2]; // a writes ab[1], b reads ab[0]; b writes ba[1], a reads ba[0]
	if (strcmp(kind, "socketpair") == 0) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
			die("socketpair");
		ab[1] = ba[0] = sv[0];
		ab[0] = ba[1] = sv[1];
	} else if (strcmp(kind, "pipe") == 0) {
		if (pipe(ab) != 0 || pipe(ba) != 0)
			die("pipe");
	} else {
		fprintf(stderr, "unknown transport %s\n", kind);
		return 2;
	}
	char *buf = malloc(size);
	memset(buf, 0xa5, size);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		pin(cpuB);
		for (long i = 0; i < warmup + count; i++) {
			full(read, ab[0], buf, size);
			full(wr, ba[1], buf, size);
		}
		_exit(0);
	}
	pin(cpuA);
	int64_t *rtt = malloc(sizeof(int64_t) * (size_t)count);
	for (long i = 0; i < warmup; i++) {
		full(wr, ab[1], buf, size);
		full(read, ba[0], buf, size);
	}
	int64_t start = now();
	for (long i = 0; i < count; i++) {
		int64_t t0 = now();
		full(wr, ab[1], buf, size);
		full(read, ba[0], buf, size);
		rtt[i] = now() - t0;
	}
	int64_t elapsed = now() - start;
	waitpid(pid, 0, 0);
	qsort(rtt, (size_t)count, sizeof *rtt, cmp);
	double sum = 0;
	for (long i = 0; i < count; i++)
		sum += (double)rtt[i];
	printf("transport=%s size=%zu count=%ld min_ns=%lld p50_ns=%lld p90_ns=%lld p99_ns=%lld max_ns=%lld mean_ns=%.0f msgs_per_sec=%.0f\n",
	       kind, size, count, (long long)rtt[0], (long long)rtt[count / 2], (long long)rtt[count * 9 / 10],
	       (long long)rtt[count * 99 / 100], (long long)rtt[count - 1], sum / (double)count,
	       (double)count * 1e9 / (double)elapsed);
	return 0;
}
