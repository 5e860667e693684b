/* The shape of `workload batch`, timed by part, through the C API so that LD_PRELOAD picks the
 * allocator: 12 jobs, each eight 1 MiB buffers taken, written whole and freed, then 500
 * requests of 32 - 128 KiB (log-uniform) taken, written whole and freed, then a 250 ms pause.
 * Before each job, one malloc(16) / free pair is timed apart: the first call after a pause,
 * which is where an allocator without a background thread does its deferred work.
 *
 *   gcc -O2 -o batch-first-call bench-harness/c/batch_first_call.c -lm
 *   LD_PRELOAD=target/release/libsacs.so ./batch-first-call       # sums over the 12 jobs
 *   LD_PRELOAD=target/release/libsacs.so ./batch-first-call v     # and a line per job
 *
 * Prints microseconds. docs/benchmarks.md, "Hot after a pause", quotes it.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { JOBS = 12, BUFFERS = 8, BUFFER = 1 << 20, REQUESTS = 500 };

/* Called through volatile pointers, so the compiler keeps every pair. */
static void *(*volatile alloc_fn)(size_t) = malloc;
static void (*volatile free_fn)(void *) = free;
static volatile char sink;

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static uint64_t state = 0x5EED00BA;

/* xorshift64, then a log-uniform size in [lo, hi). */
static size_t log_range(size_t lo, size_t hi) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    double u = (double)(state >> 11) / 9007199254740992.0;
    return (size_t)(lo * pow((double)hi / lo, u));
}

int main(int argc, char **argv) {
    int per_job = argc > 1;
    double first = 0, scratch = 0, requests = 0;
    void *buffers[BUFFERS];
    for (int j = 0; j < JOBS; j++) {
        double t0 = now_us();
        void *p = alloc_fn(16);
        free_fn(p);
        double t1 = now_us();
        for (int i = 0; i < BUFFERS; i++) {
            buffers[i] = alloc_fn(BUFFER);
            memset(buffers[i], j + 1, BUFFER);
        }
        for (int i = 0; i < BUFFERS; i++)
            free_fn(buffers[i]);
        double t2 = now_us();
        for (int i = 0; i < REQUESTS; i++) {
            size_t n = log_range(32 << 10, 128 << 10);
            char *q = alloc_fn(n);
            memset(q, i, n);
            sink = q[n - 1];
            free_fn(q);
        }
        double t3 = now_us();
        first += t1 - t0;
        scratch += t2 - t1;
        requests += t3 - t2;
        if (per_job)
            printf("job %2d first %7.1f scratch %7.1f requests %7.1f us\n", j, t1 - t0, t2 - t1,
                   t3 - t2);
        struct timespec pause = {0, 250000000};
        nanosleep(&pause, 0);
    }
    printf("first %.0f scratch %.0f requests %.0f total %.0f us\n", first, scratch, requests,
           first + scratch + requests);
    return 0;
}
