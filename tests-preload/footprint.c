/* The code most programs never run stays out of their memory: libsacs.so keeps such code
 * (statistics and profile output, learning, Site Rules' sampling, whales, error reports) in a
 * section of its own, `.sacs_rare`, after `.text` (docs/architecture.md, "The library's own
 * footprint"). A small program that allocates and frees blocks of every tier but the whales',
 * on two threads, must not bring any page of that section into memory, except pages that share
 * a fault-around window (64 KiB, the kernel's default) with code it does run.
 *
 *   usage: footprint RARE_START RARE_END [START END]...
 *     addresses relative to the library's load address (hexadecimal): the `.sacs_rare`
 *     section, then every other executable section of the library
 *
 * The library's code that such a program runs must also fit in two fault-around windows: the
 * resident pages of all its executable sections together must not exceed MAX_CODE_KIB (the
 * environment variable FOOTPRINT_MAX_CODE_KIB; unchecked when unset). `.text` growing past the
 * second window costs every process another 64 KiB; the fix is to mark code that most programs
 * never run as rare, not to raise the bound.
 *
 * Prints "footprint: ok, N of M .sacs_rare pages checked, none resident; code resident K KiB"
 * or what failed.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WINDOW 0x10000UL

static void *other_thread(void *arg) {
    void **shared = arg;
    for (int i = 0; i < 1000; i++) {
        char *p = malloc(16 + (i % 300) * 8);
        memset(p, 1, 16 + (i % 300) * 8);
        free(p);
    }
    *shared = malloc(200);
    return NULL;
}

static void allocate_everything(void) {
    enum { N = 3000 };
    static void *blocks[N];
    for (int i = 0; i < N; i++) {
        size_t size = (i % 7 == 0) ? 4096 + (size_t)i * 97 : 8 + (size_t)(i % 500) * 3;
        if (i % 101 == 0) size = 300000 + (size_t)i * 10; /* big: < 2 MiB */
        blocks[i] = (i % 3 == 0) ? calloc(1, size) : malloc(size);
        memset(blocks[i], 7, size);
    }
    for (int i = 0; i < N; i += 2) blocks[i] = realloc(blocks[i], 64 + (size_t)i);
    void *aligned = NULL;
    if (posix_memalign(&aligned, 4096, 5000) == 0) free(aligned);
    for (int i = 0; i < N; i++) free(blocks[i]);
    void *from_thread = NULL;
    pthread_t t;
    pthread_create(&t, NULL, other_thread, &from_thread);
    pthread_join(t, NULL);
    free(from_thread); /* a block of an exited thread */
}

static uintptr_t library_base(void) {
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    uintptr_t base = 0;
    while (maps && fgets(line, sizeof line, maps)) {
        unsigned long start, offset;
        if (strstr(line, "libsacs.so") && sscanf(line, "%lx-%*x %*s %lx", &start, &offset) == 2 &&
            offset == 0) {
            base = start;
            break;
        }
    }
    if (maps) fclose(maps);
    return base;
}

int main(int argc, char **argv) {
    if (argc < 3 || (argc - 3) % 2 != 0) {
        fprintf(stderr, "usage: footprint RARE_START RARE_END [START END]...\n");
        return 2;
    }
    allocate_everything();
    uintptr_t base = library_base();
    if (!base) {
        printf("footprint: libsacs.so is not mapped\n");
        return 1;
    }
    uintptr_t rare_start = strtoul(argv[1], NULL, 16), rare_end = strtoul(argv[2], NULL, 16);
    FILE *pagemap = fopen("/proc/self/pagemap", "r");
    if (!pagemap) {
        printf("footprint: skipped, /proc/self/pagemap cannot be read\n");
        return 0;
    }
    long page = sysconf(_SC_PAGESIZE);
    int checked = 0, total = 0, resident = 0;
    for (uintptr_t a = rare_start & ~(uintptr_t)(page - 1); a < rare_end; a += page) {
        total++;
        int shared_window = 0;
        for (int i = 3; i + 1 < argc; i += 2) {
            uintptr_t s = strtoul(argv[i], NULL, 16), e = strtoul(argv[i + 1], NULL, 16);
            /* Windows are aligned in the process's address space. */
            uintptr_t w = (base + a) & ~(WINDOW - 1);
            if (s < e && base + s < w + WINDOW && base + e > w) shared_window = 1;
        }
        if (shared_window) continue;
        checked++;
        uint64_t entry = 0;
        if (fseek(pagemap, (long)((base + a) / page * 8), SEEK_SET) != 0 ||
            fread(&entry, 8, 1, pagemap) != 1) {
            printf("footprint: skipped, pagemap read failed\n");
            return 0;
        }
        if (entry >> 63) {
            printf("footprint: .sacs_rare page at +0x%lx is resident\n", (unsigned long)a);
            resident++;
        }
    }
    /* Every resident page of the library's executable sections, rare or not, each page once
     * (sections may share one). */
    long code_pages = 0;
    for (uintptr_t a = 0; a < (uintptr_t)1 << 32; a += page) {
        int in_code = 0, beyond = 1;
        for (int i = 1; i + 1 < argc; i += 2) {
            uintptr_t s = strtoul(argv[i], NULL, 16), e = strtoul(argv[i + 1], NULL, 16);
            if (s < e && s < a + page && e > a) in_code = 1;
            if (e > a) beyond = 0;
        }
        if (beyond) break;
        if (!in_code) continue;
        uint64_t entry = 0;
        if (fseek(pagemap, (long)((base + a) / page * 8), SEEK_SET) != 0 ||
            fread(&entry, 8, 1, pagemap) != 1) {
            printf("footprint: skipped, pagemap read failed\n");
            return 0;
        }
        code_pages += (long)(entry >> 63);
    }
    fclose(pagemap);
    if (resident) return 1;
    long code_kib = code_pages * page / 1024;
    const char *max = getenv("FOOTPRINT_MAX_CODE_KIB");
    if (max && code_kib > atol(max)) {
        printf("footprint: %ld KiB of the library's code resident, more than %s KiB: mark code "
               "that most programs never run #[link_section = \".sacs_rare\"]\n",
               code_kib, max);
        return 1;
    }
    printf("footprint: ok, %d of %d .sacs_rare pages checked, none resident; code resident %ld "
           "KiB\n", checked, total, code_kib);
    return 0;
}
