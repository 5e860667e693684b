/* The seed's random mixed workload through the C API, so LD_PRELOAD picks the allocator:
 * a ring of SLOTS live blocks; each operation frees a random slot and allocates a new block of
 * a random size in 16..=1024 bytes, writing its first and last byte. Every block carries a tag
 * that is checked before it is freed, so a broken allocator fails instead of winning.
 *
 *   random_mixed [OPS] [THREADS]      prints ns/op, ops/s and a checksum
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 1024

static long ops_per_thread = 10000000;

static uint64_t next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void *run(void *arg) {
    uint64_t seed = 0x9E3779B97F4A7C15ull ^ (uintptr_t)arg;
    unsigned char *slot[SLOTS];
    size_t len[SLOTS];
    uint64_t sum = 0;
    for (int i = 0; i < SLOTS; i++) {
        len[i] = 16 + next(&seed) % 1009;
        slot[i] = malloc(len[i]);
        slot[i][0] = slot[i][len[i] - 1] = (unsigned char)i;
    }
    for (long op = 0; op < ops_per_thread; op++) {
        uint64_t r = next(&seed);
        int i = r % SLOTS;
        if (slot[i][0] != slot[i][len[i] - 1]) {
            fprintf(stderr, "random_mixed: block %d corrupted\n", i);
            exit(2);
        }
        sum += slot[i][0];
        free(slot[i]);
        len[i] = 16 + (r >> 20) % 1009;
        slot[i] = malloc(len[i]);
        if (!slot[i]) {
            fprintf(stderr, "random_mixed: malloc failed\n");
            exit(2);
        }
        slot[i][0] = slot[i][len[i] - 1] = (unsigned char)(r >> 40);
    }
    for (int i = 0; i < SLOTS; i++) free(slot[i]);
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv) {
    if (argc > 1) ops_per_thread = atol(argv[1]);
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t tid[64];
    uint64_t sum = 0;
    for (int t = 0; t < threads && t < 64; t++) pthread_create(&tid[t], NULL, run, (void *)(uintptr_t)t);
    for (int t = 0; t < threads && t < 64; t++) {
        void *r;
        pthread_join(tid[t], &r);
        sum += (uintptr_t)r;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
    double ops = (double)ops_per_thread * threads;
    printf("random_mixed: %.2f ns/op, %.0f ops/s, checksum %llu\n", ns / ops, ops / ns * 1e9,
           (unsigned long long)sum);
    return 0;
}
