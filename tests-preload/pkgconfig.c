/* A program linked with SACS the way a C user does it: built with
 * `cc pkgconfig.c $(pkg-config --cflags --libs sacs)` against an installed SACS
 * (scripts/install.sh) and run WITHOUT LD_PRELOAD (scripts/preload-tests.sh, case pkgconfig).
 * Linked with -lsacs, libsacs.so.0 comes before libc in the search order, so its malloc
 * interposes glibc's: the allocation count SACS reports must grow with the program's mallocs.
 * Uses every function of <sacs.h>. Prints one line per failed check and, at the end,
 * "pkgconfig: ok" or "pkgconfig: N of M checks failed"; exits 1 if any check failed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sacs.h>

#include "check.h"

/* Keeps sizes opaque to the optimiser, which could otherwise drop a malloc/free pair. */
static volatile size_t vz = 0;

static uint64_t allocs_now(void) {
    struct sacs_stats st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    int rc = sacs_stats_get(&st);
    CHECK(rc == 0, "sacs_stats_get returned %d", rc);
    return st.allocs;
}

int main(void) {
    const char *version = sacs_version();
    CHECK(version && strcmp(version, "0.1.0") == 0, "sacs_version() = %s", version ? version : "(null)");
    printf("sacs_version: %s\n", version ? version : "(null)");

    /* malloc is SACS's: the symbol resolves into libsacs, and SACS counts the allocations. */
    Dl_info info;
    memset(&info, 0, sizeof info);
    int found = dladdr((void *)&malloc, &info);
    CHECK(found && info.dli_fname && strstr(info.dli_fname, "libsacs"),
          "malloc resolves to %s, not libsacs", found && info.dli_fname ? info.dli_fname : "(unknown)");

    uint64_t before = allocs_now();
    enum { N = 1000 };
    static void *blocks[N];
    for (int i = 0; i < N; i++) {
        size_t n = 16 + (size_t)(i % 50) * 24 + vz;
        blocks[i] = malloc(n);
        CHECK(blocks[i] != NULL, "malloc(%zu) failed", n);
        if (blocks[i])
            memset(blocks[i], i & 0xff, n);
    }
    void *big = malloc((3u << 20) + vz);
    CHECK(big != NULL, "malloc(3 MiB) failed");
    uint64_t after = allocs_now();
    CHECK(after >= before + N, "SACS counted %llu allocations before and %llu after %d mallocs",
          (unsigned long long)before, (unsigned long long)after, N + 1);
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    free(big);
    printf("allocations counted by SACS: %llu more after %d mallocs\n",
           (unsigned long long)(after - before), N + 1);

    /* The statistics as JSON: the full length is returned like snprintf's, and a buffer that
     * is too short still gets a terminated prefix. */
    static char json[16384];
    size_t len = sacs_stats_json(json, sizeof json);
    CHECK(len > 0 && len < sizeof json, "sacs_stats_json returned %zu", len);
    CHECK(strncmp(json, "{\"sacs\":", 8) == 0, "JSON starts with %.20s", json);
    CHECK(strlen(json) == len, "strlen %zu != returned %zu", strlen(json), len);
    char small[8];
    size_t len2 = sacs_stats_json(small, sizeof small);
    CHECK(len2 > sizeof small, "a short buffer: returned %zu (full length about %zu)", len2, len);
    CHECK(memchr(small, '\0', sizeof small) != NULL, "a short buffer is not terminated");

    FILE *devnull = fopen("/dev/null", "w");
    CHECK(devnull != NULL, "fopen /dev/null");
    if (devnull) {
        CHECK(sacs_stats_print(fileno(devnull), 0) == 0, "sacs_stats_print(table) failed");
        CHECK(sacs_stats_print(fileno(devnull), 1) == 0, "sacs_stats_print(json) failed");
        fclose(devnull);
    }

    sacs_purge();

    /* Options by name. */
    size_t delay = 0, v = 0;
    CHECK(sacs_option_get("SACS_PURGE_DELAY_MS", &delay) == 0, "SACS_PURGE_DELAY_MS is unknown");
    CHECK(sacs_option_set("SACS_PURGE_DELAY_MS", delay + 7) == 0, "sacs_option_set failed");
    CHECK(sacs_option_get("SACS_PURGE_DELAY_MS", &v) == 0 && v == delay + 7,
          "after set to %zu, get gives %zu", delay + 7, v);
    CHECK(sacs_option_set("SACS_PURGE_DELAY_MS", delay) == 0, "sacs_option_set back failed");
    CHECK(sacs_option_get("SACS_NO_SUCH_OPTION", &v) == -1, "an unknown name is not -1");
    printf("SACS_PURGE_DELAY_MS: %zu\n", delay);

    /* A large-page region: 2 MiB-aligned, writable, released. */
    size_t llen = (size_t)4 << 20;
    char *lp = sacs_large_obtain(llen);
    CHECK(lp != NULL, "sacs_large_obtain(4 MiB) failed");
    if (lp) {
        CHECK(((uintptr_t)lp & ((2u << 20) - 1)) == 0, "sacs_large_obtain gave %p, not 2 MiB-aligned", (void *)lp);
        memset(lp, 0x5a, llen);
        CHECK(lp[0] == 0x5a && lp[llen - 1] == 0x5a, "the region does not hold what was written");
        sacs_large_release(lp, llen);
    }

    if (failed) {
        printf("pkgconfig: %d of %d checks failed\n", failed, checks);
        return 1;
    }
    printf("pkgconfig: ok (%d checks)\n", checks);
    return 0;
}
