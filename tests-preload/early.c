/* SACS serves the very first allocations of a process: those of a shared library's constructor
 * (run by ld.so before main) and of the executable's own .preinit_array function (run before
 * any constructor). Each keeps its block; main frees them with SACS's free, which reports and
 * aborts on any pointer SACS did not hand out, and checks malloc_usable_size on them.
 *
 *   built as: early_lib.so (this file with -DEARLY_LIB -shared -fPIC) and early (linked to it)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>

#ifdef EARLY_LIB
void *early_lib_block;
__attribute__((constructor)) static void lib_init(void) {
    early_lib_block = malloc(12345);
    if (early_lib_block) memset(early_lib_block, 0x5A, 12345);
}
#else
extern void *early_lib_block;
static void *preinit_block;
static void preinit(int argc, char **argv, char **envp) {
    (void)argc, (void)argv, (void)envp;
    preinit_block = calloc(1, 333);
}
__attribute__((section(".preinit_array"), used)) static void (*preinit_entry)(int, char **, char **) = preinit;

int main(void) {
    if (!preinit_block || !early_lib_block) {
        printf("early: missing block\n");
        return 1;
    }
    unsigned char *b = early_lib_block;
    for (int i = 0; i < 12345; i++)
        if (b[i] != 0x5A) {
            printf("early: library block corrupted\n");
            return 1;
        }
    size_t u1 = malloc_usable_size(preinit_block), u2 = malloc_usable_size(early_lib_block);
    if (u1 < 333 || u2 < 12345) {
        printf("early: usable sizes %zu %zu\n", u1, u2);
        return 1;
    }
    free(preinit_block);
    free(early_lib_block);
    printf("early: ok\n");
    return 0;
}
#endif
