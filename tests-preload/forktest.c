/* fork() in a threaded process (scripts/preload-tests.sh, run under libsacs.so): 8 threads
 * allocate and free without pause while the main thread forks 100 children; each child
 * allocates, fills, checks and frees blocks of every tier (and frees a block its parent
 * allocated before the fork), then _exit(0). The parent waits for all of them.
 * Prints "forktest: 100 children ok" and exits 0 when every child exited 0. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 8
#define CHILDREN 100

static atomic_int stop;
static atomic_long thread_ops;

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t pick_size(uint64_t *s) {
    uint64_t r = next(s) % 1000;
    if (r < 900) return 1 + next(s) % 1024;           /* tiny */
    if (r < 990) return 1024 + next(s) % (31 * 1024); /* mid */
    if (r < 999) return 32768 + next(s) % (512 * 1024); /* big */
    return (2u << 20) + next(s) % (1u << 20);          /* whale */
}

static void *worker(void *arg) {
    uint64_t s = 0x9e3779b97f4a7c15ull ^ (uintptr_t)arg;
    enum { SLOTS = 256 };
    unsigned char *slot[SLOTS] = {0};
    size_t len[SLOTS] = {0};
    long ops = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        unsigned i = (unsigned)(next(&s) % SLOTS);
        if (slot[i]) {
            if (slot[i][0] != (unsigned char)(len[i] ^ i) || slot[i][len[i] - 1] != (unsigned char)(len[i] ^ i)) {
                fprintf(stderr, "forktest: thread block corrupted\n");
                abort();
            }
            free(slot[i]);
            slot[i] = NULL;
        } else {
            len[i] = pick_size(&s);
            slot[i] = malloc(len[i]);
            if (!slot[i]) abort();
            slot[i][0] = (unsigned char)(len[i] ^ i);
            slot[i][len[i] - 1] = (unsigned char)(len[i] ^ i);
        }
        ops++;
    }
    for (unsigned i = 0; i < SLOTS; i++) free(slot[i]);
    atomic_fetch_add(&thread_ops, ops);
    return NULL;
}

static int child(int k, char *inherited) {
    uint64_t s = 12345u + (unsigned)k;
    if (strcmp(inherited, "from the parent") != 0) return 3;
    free(inherited);
    for (int round = 0; round < 200; round++) {
        size_t n = pick_size(&s);
        unsigned char *p = malloc(n);
        if (!p) return 4;
        memset(p, k & 0xff, n);
        for (size_t j = 0; j < n; j += 4093)
            if (p[j] != (unsigned char)(k & 0xff)) return 5;
        free(p);
    }
    char *q = calloc(1000, 10);
    if (!q) return 6;
    q = realloc(q, 100000);
    if (!q) return 7;
    free(q);
    return 0;
}

int main(void) {
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(i + 1)) != 0) return 2;
    usleep(20000);

    pid_t pids[CHILDREN];
    int started = 0;
    for (int k = 0; k < CHILDREN; k++) {
        char *inherited = strdup("from the parent");
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            break;
        }
        if (pid == 0) _exit(child(k, inherited));
        free(inherited);
        pids[started++] = pid;
    }

    int ok = 0;
    for (int k = 0; k < started; k++) {
        int st = 0;
        if (waitpid(pids[k], &st, 0) < 0) {
            perror("waitpid");
            continue;
        }
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            ok++;
        else if (WIFEXITED(st))
            fprintf(stderr, "forktest: child %d exited %d\n", k, WEXITSTATUS(st));
        else
            fprintf(stderr, "forktest: child %d killed by signal %d\n", k, WTERMSIG(st));
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    if (ok != CHILDREN) {
        printf("forktest: only %d of %d children ok\n", ok, CHILDREN);
        return 1;
    }
    printf("forktest: %d children ok\n", ok);
    fprintf(stderr, "forktest: thread operations %ld\n", atomic_load(&thread_ops));
    return 0;
}
