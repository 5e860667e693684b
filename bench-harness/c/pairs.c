/* N malloc(SIZE) / free pairs through the C API, so LD_PRELOAD picks the allocator: the C twin
 * of bench-harness/src/bin/pairs.rs, for instruction counts under callgrind
 * (scripts/hot-path-instructions.sh). Each pair writes one byte and passes the pointer through a
 * volatile sink, so the compiler cannot drop the malloc/free pair.
 *
 *   pairs [N] [SIZE]      (defaults 1000000 and 64)
 *
 * PAIRS_API=new takes the pairs from C++ `operator new(size_t)` / `operator delete(void *)`
 * (called by their Itanium ABI names; link with -lstdc++), PAIRS_API=calloc from calloc(1, SIZE)
 * / free; the default is malloc / free.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *_Znwm(unsigned long size);
void _ZdlPv(void *p);

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
    const char *api = getenv("PAIRS_API");
    if (api != NULL && strcmp(api, "new") == 0) {
        for (unsigned long i = 0; i < n; i++) {
            unsigned char *p = _Znwm(size);
            *(volatile unsigned char *)p = 1;
            sink = p;
            _ZdlPv(p);
        }
        printf("%lu operator new pairs of %lu B\n", n, size);
        return 0;
    }
    if (api != NULL && strcmp(api, "calloc") == 0) {
        for (unsigned long i = 0; i < n; i++) {
            unsigned char *p = calloc(1, size);
            if (p == NULL) {
                fprintf(stderr, "calloc(1, %lu) failed\n", size);
                return 1;
            }
            *(volatile unsigned char *)p = 1;
            sink = p;
            free(p);
        }
        printf("%lu calloc pairs of %lu B\n", n, size);
        return 0;
    }
    if (api != NULL && strcmp(api, "malloc") != 0) {
        fprintf(stderr, "PAIRS_API: malloc, new or calloc\n");
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
