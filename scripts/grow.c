/* A single-threaded heap that only grows: N blocks of 64 - 255 B allocated and touched, then
 * all freed. Measures what an allocator's slow paths cost as its heap grows (docs/benchmarks.md,
 * "Paced sweeps of the full pages").
 *
 *   gcc -O2 -o /tmp/grow scripts/grow.c
 *   LD_PRELOAD=target/release/libsacs.so /usr/bin/time ./grow 8000000
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    char **p = malloc(n * sizeof *p);
    if (!p) return 1;
    for (long i = 0; i < n; i++) {
        p[i] = malloc(64 + (i * 7) % 192);
        if (!p[i]) return 1;
        p[i][0] = 1;
    }
    long sum = 0;
    for (long i = 0; i < n; i++) sum += p[i][0];
    for (long i = 0; i < n; i++) free(p[i]);
    free(p);
    printf("%ld\n", sum);
    return sum == n ? 0 : 1;
}
