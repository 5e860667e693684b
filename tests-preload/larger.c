/* Blocks of a larger class under the C entry points: a class about to carve takes a spare block
 * of a slightly larger class (SACS_LARGER_CLASS_SPAN). Run with Site Rules sampling every miss
 * (SACS_SITES=on SACS_SITES_SAMPLE_EVERY=1), a sample puts back the block its refill took,
 * which may be another class's: it must go back to its own page. Every block is filled with a
 * pattern of its own and checked before it is freed; malloc_usable_size must cover the request
 * and blocks must be 16-aligned. Prints "larger: ok" or the first failure (exit 1). */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, size_t a, size_t b) {
    printf("larger: FAIL %s (%zu, %zu)\n", what, a, b);
    exit(1);
}

static void fill(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed * 31 + i);
}

static void check(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed * 31 + i)) fail("pattern overwritten", n, i);
}

static unsigned char *get(size_t n, unsigned seed) {
    unsigned char *p = malloc(n);
    if (!p) fail("malloc returned null", n, 0);
    if ((uintptr_t)p % 16) fail("block not 16-aligned", n, (uintptr_t)p);
    if (malloc_usable_size(p) < n) fail("usable size below the request", n, malloc_usable_size(p));
    fill(p, n, seed);
    return p;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(void) {
    enum { SPARE = 40, KEEP = 4, GROW = 200 };
    /* Every size from 144 B to 2 KiB in 16 B steps, with each of the next sizes left with
     * spare blocks: the size's growth takes theirs first. */
    for (size_t small = 144; small <= 2048; small += 16) {
        unsigned char *spare[4][SPARE];
        for (int j = 0; j < 4; j++) {
            size_t big = small + 16 * (j + 1);
            for (int i = 0; i < SPARE; i++) spare[j][i] = get(big, (unsigned)(big + i));
            for (int i = KEEP; i < SPARE; i++) {
                check(spare[j][i], big, (unsigned)(big + i));
                free(spare[j][i]);
            }
        }
        unsigned char *grow[GROW];
        for (int i = 0; i < GROW; i++) grow[i] = get(small, (unsigned)(small * 7 + i));
        for (int j = 0; j < 4; j++) {
            size_t big = small + 16 * (j + 1);
            for (int i = 0; i < KEEP; i++) check(spare[j][i], big, (unsigned)(big + i));
        }
        for (int i = 0; i < GROW; i++) {
            check(grow[i], small, (unsigned)(small * 7 + i));
            free(grow[i]);
        }
        for (int j = 0; j < 4; j++)
            for (int i = 0; i < KEEP; i++) free(spare[j][i]);
    }
    /* A live set of 4,096 blocks of 16 B - 4 KiB whose size mix drifts, one replaced per step. */
    enum { LIVE = 4096, STEPS = 400000 };
    static unsigned char *live[LIVE];
    static size_t len[LIVE];
    static unsigned seed[LIVE];
    for (int i = 0; i < LIVE; i++) {
        len[i] = 16 + next() % 1024;
        seed[i] = (unsigned)i;
        live[i] = get(len[i], seed[i]);
    }
    for (unsigned s = 0; s < STEPS; s++) {
        int i = (int)(next() % LIVE);
        check(live[i], len[i], seed[i]);
        free(live[i]);
        size_t top = 256 + (size_t)(s / 1000) % 8 * 512; /* the mix drifts up and down */
        len[i] = 16 + next() % top;
        seed[i] = s;
        live[i] = get(len[i], seed[i]);
    }
    for (int i = 0; i < LIVE; i++) {
        check(live[i], len[i], seed[i]);
        free(live[i]);
    }
    puts("larger: ok");
    return 0;
}
