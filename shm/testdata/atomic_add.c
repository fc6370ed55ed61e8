// atomic_add: the C reference for ipcplay's shm atomic-add benchmarks.
//
// Usage: atomic_add ITERS STRIDE
//
// It maps one MAP_SHARED memfd page and times __atomic_fetch_add(SEQ_CST)
// on 8-byte words, printing "<mode> <ns/op>" lines where ns/op is wall
// time divided by the total number of adds (over all threads):
//
//   single    one thread, one word
//   same2     two threads, the same word (contended)
//   stride2   two threads, words STRIDE bytes apart (8: false sharing on
//             one cache line; 64 or 128: separate lines)
//
// Each two-thread mode gives each thread ITERS/2 adds and starts them
// together on a barrier.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static pthread_barrier_t start;

struct job {
	uint64_t *word;
	long iters;
};

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void add_loop(uint64_t *w, long n) {
	for (long i = 0; i < n; i++)
		__atomic_fetch_add(w, 1, __ATOMIC_SEQ_CST);
}

static void *worker(void *arg) {
	struct job *j = arg;
	pthread_barrier_wait(&start);
	add_loop(j->word, j->iters);
	return NULL;
}

static double two_threads(uint64_t *a, uint64_t *b, long iters) {
	pthread_t t[2];
	struct job j[2] = {{a, iters / 2}, {b, iters - iters / 2}};
	pthread_barrier_init(&start, NULL, 3);
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, worker, &j[i]) != 0) {
			perror("pthread_create");
			exit(1);
		}
	double t0 = now_ns();
	pthread_barrier_wait(&start);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	double ns = now_ns() - t0;
	pthread_barrier_destroy(&start);
	return ns / (double)iters;
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: atomic_add ITERS STRIDE\n");
		return 2;
	}
	long iters = atol(argv[1]);
	long stride = atol(argv[2]);
	long page = sysconf(_SC_PAGESIZE);
	if (iters <= 0 || stride < 8 || stride % 8 != 0 || stride + 8 > page) {
		fprintf(stderr, "atomic_add: bad ITERS or STRIDE\n");
		return 2;
	}
	int fd = memfd_create("ipcplay-c", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, page) < 0) {
		perror("memfd");
		return 1;
	}
	unsigned char *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	uint64_t *w0 = (uint64_t *)p, *w1 = (uint64_t *)(p + stride);

	add_loop(w0, iters / 10); // warm up
	*w0 = 0;

	double t0 = now_ns();
	add_loop(w0, iters);
	double single = (now_ns() - t0) / (double)iters;
	if (*w0 != (uint64_t)iters) {
		fprintf(stderr, "atomic_add: lost adds\n");
		return 1;
	}
	*w0 = 0;
	double same2 = two_threads(w0, w0, iters);
	if (*w0 != (uint64_t)iters) {
		fprintf(stderr, "atomic_add: lost adds\n");
		return 1;
	}
	double stride2 = two_threads(w0, w1, iters);

	printf("single %.3f\nsame2 %.3f\nstride2 %.3f\n", single, same2, stride2);
	munmap(p, page);
	close(fd);
	return 0;
}
