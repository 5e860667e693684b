/* N malloc(SIZE) / free pairs through the C API, so LD_PRELOAD picks the allocator: the C twin
 * of bench-harness/src/bin/pairs.rs, for instruction counts under callgrind
 * (scripts/hot-path-instructions.sh). Each pair writes one byte and passes the pointer through a
 * volatile sink, so the compiler cannot drop the malloc/free pair.
 *
 *   pairs [N] [SIZE]      (defaults 1000000 and 64)
 */
#include <stdio.h>
#include <stdlib.h>

static void *volatile sink;

static int parse(const char *s, unsigned long *out) {
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *end != '\0')
        return 0;
    *out = v;
    return 1;
}

int main(int argc, char **argv) {
    unsigned long n = 1000000, size = 64;
    if (argc > 3 || (argc > 1 && !parse(argv[1], &n)) || (argc > 2 && !parse(argv[2], &size)) ||
        size == 0) {
        fprintf(stderr, "usage: pairs [N] [SIZE >= 1]\n");
        return 2;
    }
    for (unsigned long i = 0; i < n; i++) {
        unsigned char *p = malloc(size);
        if (p == NULL) {
            fprintf(stderr, "malloc(%lu) failed\n", size);
            return 1;
        }
        *(volatile unsigned char *)p = 1;
        sink = p;
        free(p);
    }
    printf("%lu pairs of %lu B\n", n, size);
    return 0;
}
