/* Bad pointers handed to the allocator (scripts/preload-tests.sh, run under libsacs.so).
 *   badptr free-stack      free() of a stack address
 *   badptr realloc-stack   realloc() of a stack address
 *   badptr usable-stack    malloc_usable_size() of a stack address
 *   badptr double-free     free() of the same small block twice in a row
 *   badptr all             all of the above in one process (for SACS_ON_ERROR=continue),
 *                          then checks that the heap still works
 * Prints "survived <mode>" on stdout when the process is still alive after the misuse. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile sink;

static void free_stack(void) {
    char local[64];
    memset(local, 1, sizeof local);
    sink = local;
    free(sink);
}

static void realloc_stack(void) {
    char local[64];
    memset(local, 1, sizeof local);
    sink = local;
    sink = realloc(sink, 128);
}

static void usable_stack(void) {
    char local[64];
    memset(local, 1, sizeof local);
    sink = local;
    size_t n = malloc_usable_size(sink);
    (void)n;
}

static void double_free(void) {
    char *p = malloc(32);
    memset(p, 7, 32);
    sink = p;
    free(sink);
    free(sink);
}

static int heap_works(void) {
    /* Allocate, fill and check many blocks: the heap must be intact after the misuse. */
    enum { N = 2000 };
    static unsigned char *blocks[N];
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i % 97) * 7 + 1;
        blocks[i] = malloc(n);
        if (!blocks[i]) return 0;
        memset(blocks[i], i & 0xff, n);
    }
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i % 97) * 7 + 1;
        for (size_t j = 0; j < n; j++)
            if (blocks[i][j] != (unsigned char)(i & 0xff)) return 0;
        free(blocks[i]);
    }
    return 1;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "free-stack")) free_stack();
    else if (!strcmp(mode, "realloc-stack")) realloc_stack();
    else if (!strcmp(mode, "usable-stack")) usable_stack();
    else if (!strcmp(mode, "double-free")) double_free();
    else if (!strcmp(mode, "all")) {
        free_stack();
        realloc_stack();
        usable_stack();
        double_free();
        if (!heap_works()) {
            printf("heap broken after misuse\n");
            return 1;
        }
    } else {
        fprintf(stderr, "usage: badptr free-stack|realloc-stack|usable-stack|double-free|all\n");
        return 2;
    }
    printf("survived %s\n", mode);
    return 0;
}
