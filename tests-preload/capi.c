/* The C allocation API's contract, checked from a C program running under
 * LD_PRELOAD=libsacs.so (scripts/preload-tests.sh). Prints one line per failed check and,
 * at the end, "capi: N checks, M failed"; exits 1 if any check failed.
 *
 * Built with -O1 -fno-builtin so that the compiler neither folds nor removes the calls. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../include/sacs.h"

/* Not linked with -lsacs: the sacs_* functions come from the preloaded library, bound at run
 * time. Weak references link without it (and would be NULL without the preload). */
#pragma weak sacs_version
#pragma weak sacs_stats_get
#pragma weak sacs_stats_json
#pragma weak sacs_stats_print
#pragma weak sacs_purge
#pragma weak sacs_option_get
#pragma weak sacs_option_set
#pragma weak sacs_large_obtain
#pragma weak sacs_large_release

#include "check.h"

/* Keeps sizes opaque to the optimiser. */
static volatile size_t vz = 0;
static size_t opaque(size_t n) { return n + vz; }

static void check_symbol(const char *name, void *addr) {
    Dl_info info;
    memset(&info, 0, sizeof info);
    int ok = dladdr(addr, &info);
    CHECK(ok && info.dli_fname && strstr(info.dli_fname, "libsacs"),
          "%s at %p resolves to %s, not libsacs", name, addr,
          ok && info.dli_fname ? info.dli_fname : "(unknown)");
}

static void fill(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed + i * 31u);
}

static int holds(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 31u)) return 0;
    return 1;
}

int main(void) {
    const size_t huge = SIZE_MAX / 2 + 2; /* huge * 2 overflows */

    /* Every entry point comes from libsacs. */
    check_symbol("malloc", (void *)&malloc);
    check_symbol("free", (void *)&free);
    check_symbol("calloc", (void *)&calloc);
    check_symbol("realloc", (void *)&realloc);
    check_symbol("reallocarray", (void *)&reallocarray);
    check_symbol("posix_memalign", (void *)&posix_memalign);
    check_symbol("aligned_alloc", (void *)&aligned_alloc);
    check_symbol("memalign", (void *)&memalign);
    check_symbol("valloc", (void *)&valloc);
    check_symbol("pvalloc", (void *)&pvalloc);
    check_symbol("malloc_usable_size", (void *)&malloc_usable_size);
    check_symbol("malloc_trim", (void *)&malloc_trim);
    {
        void *h = dlopen(NULL, RTLD_NOW);
        void *m = h ? dlsym(h, "malloc") : NULL;
        CHECK(m != NULL, "dlsym(malloc) failed");
        if (m) check_symbol("dlsym(malloc)", m);
        if (h) dlclose(h);
    }

    /* malloc(0): a unique, freeable pointer. */
    {
        void *a = malloc(opaque(0)), *b = malloc(opaque(0));
        CHECK(a != NULL && b != NULL, "malloc(0) returned NULL (%p, %p)", a, b);
        CHECK(a != b, "malloc(0) twice returned the same pointer %p", a);
        free(a);
        free(b);
    }

    /* free(NULL) does nothing. */
    free(NULL);
    checks++;

    /* realloc(NULL, n) allocates; realloc(p, 0) frees and returns NULL. */
    {
        char *p = realloc(NULL, opaque(100));
        CHECK(p != NULL, "realloc(NULL, 100) returned NULL");
        if (p) {
            memset(p, 0x5a, 100);
            CHECK(malloc_usable_size(p) >= 100, "usable %zu < 100", malloc_usable_size(p));
            void *q = realloc(p, opaque(0));
            CHECK(q == NULL, "realloc(p, 0) returned %p, not NULL", q);
        }
    }

    /* calloc overflow: NULL and ENOMEM. */
    {
        errno = 0;
        void *p = calloc(opaque(huge), opaque(2));
        CHECK(p == NULL && errno == ENOMEM, "calloc(huge, 2) = %p errno %d", p, errno);
        errno = 0;
        p = calloc(opaque(SIZE_MAX), opaque(SIZE_MAX));
        CHECK(p == NULL && errno == ENOMEM, "calloc(MAX, MAX) = %p errno %d", p, errno);
    }

    /* reallocarray overflow: NULL and ENOMEM, the block untouched. */
    {
        unsigned char *p = malloc(opaque(64));
        CHECK(p != NULL, "malloc(64)");
        fill(p, 64, 7);
        errno = 0;
        void *q = reallocarray(p, opaque(huge), opaque(2));
        CHECK(q == NULL && errno == ENOMEM, "reallocarray(p, huge, 2) = %p errno %d", q, errno);
        CHECK(holds(p, 64, 7), "reallocarray failure changed the block");
        q = reallocarray(p, opaque(100), opaque(3));
        CHECK(q != NULL && holds(q, 64, 7), "reallocarray(p, 100, 3) = %p lost contents", q);
        free(q ? q : p);
        errno = 0;
        q = reallocarray(NULL, opaque(SIZE_MAX), opaque(SIZE_MAX));
        CHECK(q == NULL && errno == ENOMEM, "reallocarray(NULL, MAX, MAX) = %p errno %d", q, errno);
    }

    /* malloc of an impossible size: NULL and ENOMEM. */
    {
        errno = 0;
        void *p = malloc(opaque(SIZE_MAX));
        CHECK(p == NULL && errno == ENOMEM, "malloc(SIZE_MAX) = %p errno %d", p, errno);
        errno = 0;
        p = malloc(opaque((size_t)PTRDIFF_MAX + 1));
        CHECK(p == NULL && errno == ENOMEM, "malloc(PTRDIFF_MAX+1) = %p errno %d", p, errno);
    }

    /* posix_memalign with bad alignments: EINVAL, *out untouched. */
    {
        static const size_t bad[] = {0, 1, 2, 4, 24, 48, 100, 3 * 4096};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            void *out = (void *)0x1234;
            int rc = posix_memalign(&out, opaque(bad[i]), opaque(64));
            CHECK(rc == EINVAL, "posix_memalign(align %zu) returned %d, not EINVAL", bad[i], rc);
            CHECK(out == (void *)0x1234, "posix_memalign(align %zu) changed *out to %p", bad[i], out);
        }
        void *out = NULL;
        int rc = posix_memalign(&out, opaque(64), opaque(SIZE_MAX - 10));
        CHECK(rc == ENOMEM, "posix_memalign(64, SIZE_MAX-10) returned %d, not ENOMEM", rc);
    }

    /* aligned_alloc with an alignment that is not a power of two: NULL and EINVAL. */
    {
        errno = 0;
        void *p = aligned_alloc(opaque(48), opaque(96));
        CHECK(p == NULL && errno == EINVAL, "aligned_alloc(48, 96) = %p errno %d", p, errno);
        if (p) free(p);
        p = aligned_alloc(opaque(64), opaque(128));
        CHECK(p != NULL && ((uintptr_t)p & 63) == 0, "aligned_alloc(64, 128) = %p", p);
        free(p);
    }

    /* posix_memalign / aligned_alloc / memalign results are aligned, for 16 .. 1 MiB, at
     * sizes below, at and above the alignment, and the whole block is writable. */
    for (size_t a = 16; a <= (1u << 20); a <<= 1) {
        size_t sizes[] = {1, a / 2, a, a + 1, 3 * a, 100000};
        for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
            size_t n = sizes[j];
            void *p = NULL;
            int rc = posix_memalign(&p, opaque(a), opaque(n));
            CHECK(rc == 0 && p != NULL, "posix_memalign(%zu, %zu) rc %d", a, n, rc);
            if (rc == 0 && p) {
                CHECK(((uintptr_t)p & (a - 1)) == 0, "posix_memalign(%zu, %zu) = %p misaligned", a, n, p);
                CHECK(malloc_usable_size(p) >= n, "posix_memalign(%zu, %zu): usable %zu", a, n,
                      malloc_usable_size(p));
                memset(p, 0xa5, n);
                free(p);
            }
            p = aligned_alloc(opaque(a), opaque(n));
            CHECK(p != NULL && ((uintptr_t)p & (a - 1)) == 0, "aligned_alloc(%zu, %zu) = %p", a, n, p);
            if (p) {
                memset(p, 0x3c, n);
                free(p);
            }
            p = memalign(opaque(a), opaque(n));
            CHECK(p != NULL && ((uintptr_t)p & (a - 1)) == 0, "memalign(%zu, %zu) = %p", a, n, p);
            if (p) {
                memset(p, 0x3c, n);
                free(p);
            }
        }
    }

    /* The 16-byte rule holds at the aligned entry points too: every size 1..4096 at every
     * alignment 1..16 (posix_memalign needs a multiple of sizeof(void *)), several blocks of a
     * size live at once (the first block of a page is aligned to anything). */
    {
        int bad = 0;
        for (size_t n = 1; n <= 4096; n++) {
            void *live[15];
            int k = 0;
            for (size_t a = 1; a <= 16; a *= 2) {
                live[k++] = aligned_alloc(opaque(a), opaque(n));
                live[k++] = memalign(opaque(a), opaque(n));
                void *p = NULL;
                if (a >= sizeof(void *) && posix_memalign(&p, opaque(a), opaque(n)) != 0) p = NULL;
                live[k++] = p;
            }
            for (int i = 0; i < k; i++) {
                uintptr_t need = n > 8 ? 16 : 8;
                size_t a = (size_t)1 << (i / 3);
                if (live[i] == NULL && !(i % 3 == 2 && a < sizeof(void *))) bad++;
                if (live[i] && ((uintptr_t)live[i] % need != 0 || (uintptr_t)live[i] % a != 0))
                    bad++;
                if (bad && bad < 4 && live[i])
                    CHECK(0, "size %zu align %zu: %p", n, a, live[i]);
                free(live[i]);
            }
        }
        CHECK(bad == 0, "%d aligned blocks of sizes 1..4096 broke the 16-byte rule", bad);
    }

    /* glibc's own names reach SACS too: a block from one is freed by the other. */
    {
        extern void *__libc_malloc(size_t);
        extern void __libc_free(void *);
        extern void *__libc_calloc(size_t, size_t);
        extern void *__libc_realloc(void *, size_t);
        extern void *__libc_memalign(size_t, size_t);
        check_symbol("__libc_malloc", (void *)&__libc_malloc);
        check_symbol("__libc_free", (void *)&__libc_free);
        check_symbol("__libc_calloc", (void *)&__libc_calloc);
        check_symbol("__libc_realloc", (void *)&__libc_realloc);
        check_symbol("__libc_memalign", (void *)&__libc_memalign);
        unsigned char *a = __libc_malloc(opaque(100));
        CHECK(a != NULL && malloc_usable_size(a) >= 100, "__libc_malloc(100) = %p", (void *)a);
        fill(a, 100, 7);
        a = realloc(a, opaque(5000));
        CHECK(a != NULL && holds(a, 100, 7), "realloc of a __libc_malloc block lost its contents");
        free(a);
        unsigned char *b = malloc(opaque(300));
        fill(b, 300, 9);
        b = __libc_realloc(b, opaque(70000));
        CHECK(b != NULL && holds(b, 300, 9), "__libc_realloc of a malloc block lost its contents");
        __libc_free(b);
        unsigned char *z = __libc_calloc(opaque(10), opaque(10));
        int zero = z != NULL;
        for (size_t i = 0; z && i < 100; i++) zero &= z[i] == 0;
        CHECK(zero, "__libc_calloc(10, 10) not zeroed");
        free(z);
        void *m = __libc_memalign(opaque(256), opaque(40));
        CHECK(m != NULL && ((uintptr_t)m & 255) == 0, "__libc_memalign(256, 40) = %p", m);
        __libc_free(m);
    }

    /* Blocks above 8 bytes are 16-aligned, from the aligned entry points too when the
     * alignment asked for is smaller: several live at once, since the first block of a page is
     * aligned to anything. */
    {
        for (size_t n = 9; n <= 1024; n++) {
            void *live[12];
            for (int k = 0; k < 12; k++) {
                size_t a = (size_t)1 << (k % 4);
                void *p = NULL;
                if (k < 4)
                    p = aligned_alloc(opaque(a), opaque(n));
                else if (k < 8)
                    p = memalign(opaque(a), opaque(n));
                else if (posix_memalign(&p, opaque(8), opaque(n)) != 0)
                    p = NULL;
                CHECK(p != NULL && ((uintptr_t)p & 15) == 0, "aligned entry %d (align %zu) size %zu = %p",
                      k / 4, a, n, p);
                live[k] = p;
            }
            for (int k = 0; k < 12; k++) free(live[k]);
        }
    }

    /* malloc_usable_size >= size, across every tier and around many class boundaries;
     * blocks are at least 8-aligned and 16-aligned when the size is a multiple of 16. */
    {
        for (size_t n = 0; n <= (8u << 20); n = n < 2048 ? n + 1 : n + n / 7 + 1) {
            unsigned char *p = malloc(opaque(n));
            CHECK(p != NULL, "malloc(%zu) returned NULL", n);
            if (!p) continue;
            size_t u = malloc_usable_size(p);
            CHECK(u >= n, "malloc_usable_size(malloc(%zu)) = %zu", n, u);
            CHECK(((uintptr_t)p & 7) == 0, "malloc(%zu) = %p not 8-aligned", n, p);
            if (n != 0 && n % 16 == 0)
                CHECK(((uintptr_t)p & 15) == 0, "malloc(%zu) = %p not 16-aligned", n, p);
            if (u) {
                p[0] = 1;
                p[u - 1] = 2; /* the whole usable size is ours */
            }
            free(p);
        }
        CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) = %zu", malloc_usable_size(NULL));
    }

    /* calloc zeroes, also memory that was used and freed before. */
    {
        size_t sizes[] = {8, 100, 1000, 5000, 40000, 300000, 3u << 20};
        for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
            size_t n = sizes[j];
            unsigned char *d = malloc(opaque(n));
            if (d) memset(d, 0xff, n);
            free(d);
            unsigned char *p = calloc(opaque(n), opaque(1));
            CHECK(p != NULL, "calloc(%zu, 1)", n);
            if (!p) continue;
            size_t bad = 0;
            for (size_t i = 0; i < n; i++) bad += p[i] != 0;
            CHECK(bad == 0, "calloc(%zu, 1): %zu non-zero bytes", n, bad);
            free(p);
        }
    }

    /* realloc keeps the contents while growing through every tier, and while shrinking. */
    {
        size_t n = 1;
        unsigned char *p = malloc(opaque(n));
        fill(p, n, 3);
        while (n < (6u << 20)) {
            size_t m = n * 3 / 2 + 7;
            unsigned char *q = realloc(p, opaque(m));
            CHECK(q != NULL, "realloc(%zu -> %zu)", n, m);
            if (!q) break;
            CHECK(holds(q, n, 3), "realloc(%zu -> %zu) lost contents", n, m);
            p = q;
            n = m;
            fill(p, n, 3);
        }
        while (n > 4) {
            size_t m = n / 3;
            unsigned char *q = realloc(p, opaque(m));
            CHECK(q != NULL && holds(q, m, 3), "realloc shrink %zu -> %zu", n, m);
            if (!q) break;
            p = q;
            n = m;
        }
        free(p);
    }

    /* valloc / pvalloc: page aligned; pvalloc rounds the size up to a page. */
    {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size_t sizes[] = {1, 100, page, page + 1, 100000, 3u << 20};
        for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
            size_t n = sizes[j];
            void *p = valloc(opaque(n));
            CHECK(p != NULL && ((uintptr_t)p & (page - 1)) == 0, "valloc(%zu) = %p", n, p);
            if (p) {
                CHECK(malloc_usable_size(p) >= n, "valloc(%zu): usable %zu", n, malloc_usable_size(p));
                memset(p, 1, n);
                free(p);
            }
            p = pvalloc(opaque(n));
            CHECK(p != NULL && ((uintptr_t)p & (page - 1)) == 0, "pvalloc(%zu) = %p", n, p);
            if (p) {
                size_t want = (n + page - 1) / page * page;
                CHECK(malloc_usable_size(p) >= want, "pvalloc(%zu): usable %zu < %zu", n,
                      malloc_usable_size(p), want);
                size_t u = malloc_usable_size(p);
                memset(p, 1, u < want ? u : want);
                free(p);
            }
        }
    }

    /* malloc_trim returns (0 or 1), and the heap works afterwards. */
    {
        void *keep[64];
        for (int i = 0; i < 64; i++) keep[i] = malloc(opaque((size_t)(i + 1) * 1000));
        for (int i = 0; i < 64; i += 2) free(keep[i]);
        int rc = malloc_trim(0);
        CHECK(rc == 0 || rc == 1, "malloc_trim returned %d", rc);
        for (int i = 1; i < 64; i += 2) free(keep[i]);
        void *p = malloc(opaque(1000));
        CHECK(p != NULL, "malloc after malloc_trim");
        free(p);
    }

    /* include/sacs.h and glibc's statistics calls, answered by SACS. */
    CHECK(&sacs_version != NULL, "sacs_version is not bound: is libsacs.so preloaded?");
    if (&sacs_version == NULL) {
        printf("capi: %d checks, %d failed\n", checks, failed);
        return 1;
    }
    check_symbol("sacs_version", (void *)&sacs_version);
    check_symbol("mallinfo2", (void *)&mallinfo2);
    check_symbol("mallopt", (void *)&mallopt);
    check_symbol("malloc_info", (void *)&malloc_info);
    {
        char want[32];
        snprintf(want, sizeof want, "%d.%d.%d", SACS_VERSION_MAJOR, SACS_VERSION_MINOR,
                 SACS_VERSION_PATCH);
        CHECK(strcmp(sacs_version(), want) == 0, "sacs_version %s, header %s", sacs_version(),
              want);

        struct sacs_stats a = {.size = sizeof a}, b = {.size = sizeof b};
        CHECK(sacs_stats_get(&a) == 0 && a.size == sizeof a, "sacs_stats_get: size %llu",
              (unsigned long long)a.size);
        CHECK(a.pid == (uint64_t)getpid(), "pid %llu", (unsigned long long)a.pid);
        void *blocks[1000];
        for (int i = 0; i < 1000; i++) blocks[i] = malloc(opaque(100));
        void *whale = malloc(opaque(5u << 20));
        CHECK(sacs_stats_get(&b) == 0, "sacs_stats_get");
        uint64_t grew = b.in_use_tiny - a.in_use_tiny;
        CHECK(grew >= 100000 && grew <= 200000, "1000 blocks of 100 B: tiny in use grew %llu",
              (unsigned long long)grew);
        CHECK(b.in_use_whale - a.in_use_whale >= (5u << 20), "a 5 MiB whale: in use grew %llu",
              (unsigned long long)(b.in_use_whale - a.in_use_whale));
        CHECK(b.in_use_bytes ==
                  b.in_use_tiny + b.in_use_mid + b.in_use_big + b.in_use_whale,
              "in use %llu is not the sum of the tiers", (unsigned long long)b.in_use_bytes);
        CHECK(b.allocs >= a.allocs + 1001, "allocs %llu -> %llu", (unsigned long long)a.allocs,
              (unsigned long long)b.allocs);

        struct mallinfo2 m = mallinfo2();
        CHECK(m.hblks >= 1 && m.hblkhd >= (5u << 20), "mallinfo2: hblks %zu hblkhd %zu", m.hblks,
              m.hblkhd);
        CHECK(m.uordblks >= 100000 && m.uordblks + m.fordblks == m.arena,
              "mallinfo2: uordblks %zu fordblks %zu arena %zu", m.uordblks, m.fordblks, m.arena);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        struct mallinfo mi = mallinfo();
#pragma GCC diagnostic pop
        CHECK(mi.hblks >= 1 && mi.uordblks > 0, "mallinfo: hblks %d uordblks %d", mi.hblks,
              mi.uordblks);

        for (int i = 0; i < 1000; i++) free(blocks[i]);
        free(whale);
        struct sacs_stats c = {.size = sizeof c};
        sacs_stats_get(&c);
        CHECK(c.in_use_tiny <= a.in_use_tiny + 1000 && c.in_use_whale <= a.in_use_whale,
              "after the frees: tiny %llu (was %llu), whale %llu (was %llu)",
              (unsigned long long)c.in_use_tiny, (unsigned long long)a.in_use_tiny,
              (unsigned long long)c.in_use_whale, (unsigned long long)a.in_use_whale);

        /* An older, shorter struct is written only as far as its size. */
        uint64_t old[4] = {24, 0, 0, 77};
        CHECK(sacs_stats_get((struct sacs_stats *)old) == 0 && old[0] == 24 && old[3] == 77,
              "a 24-byte struct: size %llu, word 3 %llu", (unsigned long long)old[0],
              (unsigned long long)old[3]);
        errno = 0;
        CHECK(sacs_stats_get(NULL) == -1 && errno == EINVAL, "sacs_stats_get(NULL)");

        char json[4096];
        size_t n = sacs_stats_json(json, sizeof json);
        char pid[32];
        snprintf(pid, sizeof pid, "\"pid\":%d,", (int)getpid());
        CHECK(n == strlen(json) && strncmp(json, "{\"sacs\":1,", 9) == 0 && strstr(json, pid),
              "sacs_stats_json: %zu bytes: %.60s", n, json);
        char cut[10];
        size_t whole = sacs_stats_json(cut, sizeof cut);
        CHECK(whole > sizeof cut && strlen(cut) == sizeof cut - 1,
              "a cut text: whole %zu, kept %zu (NUL-terminated in the buffer)", whole, strlen(cut));

        size_t v = 0;
        CHECK(sacs_option_get("SACS_PURGE_DELAY_MS", &v) == 0 && v == 10,
              "SACS_PURGE_DELAY_MS = %zu", v);
        CHECK(sacs_option_set("SACS_PURGE_DELAY_MS", 25) == 0 &&
                  sacs_option_get("SACS_PURGE_DELAY_MS", &v) == 0 && v == 25,
              "set SACS_PURGE_DELAY_MS: %zu", v);
        sacs_option_set("SACS_PURGE_DELAY_MS", 10);
        errno = 0;
        CHECK(sacs_option_get("SACS_NO_SUCH", &v) == -1 && errno == EINVAL, "unknown option");
        CHECK(sacs_option_set("SACS_SITES", 1) == -1, "SACS_SITES is chosen at load");

        void *r = sacs_large_obtain(3u << 20);
        CHECK(r != NULL && ((uintptr_t)r & ((2u << 20) - 1)) == 0, "sacs_large_obtain: %p", r);
        if (r) {
            memset(r, 7, 3u << 20);
            sacs_large_release(r, 3u << 20);
        }
        sacs_purge();

        CHECK(mallopt(M_ARENA_MAX, 1) == 0, "mallopt(M_ARENA_MAX) has no meaning for SACS");
        CHECK(mallopt(M_CHECK_ACTION, 3) == 1, "mallopt(M_CHECK_ACTION, 3)");
        FILE *f = tmpfile();
        if (f) {
            CHECK(malloc_info(0, f) == 0, "malloc_info");
            errno = 0;
            CHECK(malloc_info(1, f) == -1 && errno == EINVAL, "malloc_info(1)");
            fflush(f); /* before the descriptor gets the JSON behind the stream's back */
            CHECK(sacs_stats_print(fileno(f), 1) == 0, "sacs_stats_print");
            char text[8192];
            fflush(f);
            rewind(f);
            size_t got = fread(text, 1, sizeof text - 1, f);
            text[got] = 0;
            CHECK(strncmp(text, "<malloc version=\"1\">", 20) == 0 && strstr(text, "</malloc>"),
                  "malloc_info wrote: %.60s", text);
            fclose(f);
        }
    }

    printf("capi: %d checks, %d failed\n", checks, failed);
    return failed ? 1 : 0;
}
