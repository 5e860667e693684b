/* The shape of `workload pool`, timed by part, through the C API so that LD_PRELOAD picks the
 * allocator: 16 worker threads take turns at jobs, one job at a time and a 40 ms pause after
 * each; a job takes three buffers of 1 MiB, 1 MiB + 28 KiB and 1 MiB + 56 KiB, writes a word
 * in each 4 KiB page of each (as the workload does), reads them back, and frees them. Each part of a job is timed apart: the wake-up (from
 * the main thread's post to the worker running), each malloc, the writes and reads, each free,
 * and the hand-back (from the worker's post to the main thread running).
 *
 *   gcc -O2 -pthread -o pool-by-part bench-harness/c/pool_by_part.c
 *   LD_PRELOAD=target/release/libsacs.so ./pool-by-part [jobs]
 *
 * Prints the mean and median of each part over the jobs after the first round, in microseconds.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { WORKERS = 16, BUFFERS = 3, BUFFER = 1 << 20, STEP = 28 << 10, GAP_MS = 40 };
enum { WAKE, M0, M1, M2, TOUCH, F0, F1, F2, BACK, PARTS };
static const char *names[PARTS] = {"wake", "malloc 1", "malloc 2", "malloc 3", "write+read",
                                   "free 1", "free 2", "free 3", "hand-back"};

static void *(*volatile alloc_fn)(size_t) = malloc;
static void (*volatile free_fn)(void *) = free;

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static sem_t start[WORKERS], done;
static double posted, handed;
static double (*parts)[PARTS];
static int job_count;
static volatile int stop;
static uint64_t checksum;

static void *worker(void *arg) {
    int w = (int)(intptr_t)arg;
    for (int j = w;; j += WORKERS) {
        sem_wait(&start[w]);
        if (stop)
            return NULL;
        double *p = parts[j];
        double t = now_us();
        p[WAKE] = t - posted;
        char *b[BUFFERS];
        for (int k = 0; k < BUFFERS; k++) {
            b[k] = alloc_fn(BUFFER + k * STEP);
            double u = now_us();
            p[M0 + k] = u - t;
            t = u;
        }
        uint64_t sum = 0;
        for (int k = 0; k < BUFFERS; k++) {
            size_t len = BUFFER + k * STEP;
            for (size_t i = 0; i + 8 <= len; i += 4096)
                *(volatile uint64_t *)(b[k] + i) = (uint64_t)j ^ i;
            for (size_t i = 0; i + 8 <= len; i += 4096)
                sum += *(volatile uint64_t *)(b[k] + i);
        }
        checksum += sum;
        double u = now_us();
        p[TOUCH] = u - t;
        t = u;
        for (int k = 0; k < BUFFERS; k++) {
            free_fn(b[k]);
            u = now_us();
            p[F0 + k] = u - t;
            t = u;
        }
        handed = now_us();
        sem_post(&done);
    }
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    job_count = argc > 1 ? atoi(argv[1]) : 240;
    if (job_count < 2 * WORKERS)
        job_count = 2 * WORKERS;
    parts = calloc(job_count + WORKERS, sizeof *parts);
    pthread_t threads[WORKERS];
    sem_init(&done, 0, 0);
    for (int w = 0; w < WORKERS; w++) {
        sem_init(&start[w], 0, 0);
        pthread_create(&threads[w], NULL, worker, (void *)(intptr_t)w);
    }
    struct timespec gap = {0, GAP_MS * 1000000L};
    for (int j = 0; j < job_count; j++) {
        posted = now_us();
        sem_post(&start[j % WORKERS]);
        sem_wait(&done);
        parts[j][BACK] = now_us() - handed;
        nanosleep(&gap, NULL);
    }
    stop = 1;
    for (int w = 0; w < WORKERS; w++)
        sem_post(&start[w]);
    for (int w = 0; w < WORKERS; w++)
        pthread_join(threads[w], NULL);
    int n = job_count - WORKERS;
    double *column = malloc(n * sizeof *column), total_mean = 0;
    for (int q = 0; q < PARTS; q++) {
        double mean = 0;
        for (int j = 0; j < n; j++) {
            column[j] = parts[WORKERS + j][q];
            mean += column[j];
        }
        mean /= n;
        total_mean += mean;
        qsort(column, n, sizeof *column, cmp);
        printf("%-11s mean %8.1f  median %8.1f\n", names[q], mean, column[n / 2]);
    }
    printf("%-11s mean %8.1f  (checksum %llu)\n", "job", total_mean,
           (unsigned long long)(checksum & 0xff));
    return 0;
}
