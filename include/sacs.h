/*
 * sacs.h: the C API of SACS beyond malloc.
 *
 * Link with -lsacs (pkg-config --cflags --libs sacs, after scripts/install.sh), or load
 * libsacs.so with LD_PRELOAD and declare what you call. Every function is safe to call from
 * any thread at any time, before or after the first malloc, and none of them allocates.
 * The standard allocation functions (malloc, free, calloc, realloc, posix_memalign, ...),
 * malloc_usable_size, malloc_trim, malloc_stats, mallinfo, mallinfo2, mallopt and malloc_info
 * keep their glibc declarations (<stdlib.h>, <malloc.h>); docs/c-api.md says what each
 * means for SACS.
 */
#ifndef SACS_H
#define SACS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version this header describes; sacs_version() gives the library's. */
#define SACS_VERSION_MAJOR 0
#define SACS_VERSION_MINOR 1
#define SACS_VERSION_PATCH 0

/* The library's version, e.g. "0.1.0" (a static string). */
const char *sacs_version(void);

/*
 * A summary of SACS's statistics. Set `size` to sizeof(struct sacs_stats) before the call:
 * the library writes no more than that, so a program built against this header keeps working
 * with a later library whose struct has grown (fields are only ever added at the end), and
 * `size` comes back as the number of bytes written.
 * Bytes "in use" are the sizes of the blocks the program holds: each request rounded up to
 * its size class (a whale, >= 2 MiB, to its mapping's length).
 */
struct sacs_stats {
    uint64_t size;                 /* in: sizeof(struct sacs_stats); out: bytes written */
    uint64_t pid;                  /* the process */
    uint64_t elapsed_ms;           /* since SACS started in the process */
    uint64_t allocs;               /* allocations, all tiers */
    uint64_t frees;                /* frees, all tiers */
    uint64_t in_use_bytes;         /* bytes of live blocks, all tiers */
    uint64_t in_use_tiny;          /*   of blocks up to 1 KiB */
    uint64_t in_use_mid;           /*   of blocks above 1 KiB, up to 32 KiB */
    uint64_t in_use_big;           /*   of blocks above 32 KiB, below 2 MiB */
    uint64_t in_use_whale;         /*   of blocks of 2 MiB and more */
    uint64_t committed_bytes;      /* mapped by SACS and not given back: what it may hold resident */
    uint64_t peak_committed_bytes; /* the highest committed_bytes so far */
    uint64_t mapped_bytes;         /* address space mapped by SACS, committed or not */
    uint64_t resident_bytes;       /* the whole process's resident set (/proc/self/statm) */
    uint64_t purged_bytes;         /* given back to the system by purging, in all */
    uint64_t syscalls;             /* system calls made (mmap, munmap, madvise, ..., file reads) */
    uint64_t threads_live;         /* thread heaps alive */
    uint64_t invalid_frees;        /* bad pointers reported */
};

/* Fills *out (see struct sacs_stats). Returns 0; -1 with errno EINVAL if out is NULL or
 * out->size is below 8. */
int sacs_stats_get(struct sacs_stats *out);

/* Writes every statistic as one JSON object on one line (schema: docs/statistics.md) into
 * buf, NUL-terminated when len > 0. Like snprintf, returns the length of the whole text
 * (without the NUL): if it is len or more, the text was cut. 4096 bytes always suffice. */
size_t sacs_stats_json(char *buf, size_t len);

/* Writes the statistics table (json == 0) or the JSON object (json != 0) to descriptor fd.
 * Returns 0. */
int sacs_stats_print(int fd, int json);

/* Gives back to the system, now, the memory SACS holds free (as malloc_trim(0)). */
void sacs_purge(void);

/* Reads option `name` (a SACS_* name of docs/configuration.md, e.g. "SACS_PURGE_DELAY_MS")
 * into *value. Returns 0; -1 with errno EINVAL if there is no such option or value is NULL. */
int sacs_option_get(const char *name, size_t *value);

/* Sets option `name` for the rest of the process; it takes effect where SACS next reads it
 * (the next purge look, the next whale, the statistics at exit). Returns 0; -1 with errno
 * EINVAL if there is no such option, or for SACS_SITES, SACS_SITES_SAMPLE_EVERY,
 * SACS_PROFILE and SACS_PROFILE_SAMPLE_EVERY, which are chosen once at load. */
int sacs_option_set(const char *name, size_t value);

/* A region of len bytes rounded up to 2 MiB, aligned to 2 MiB, with transparent huge pages
 * advised (unless SACS_WHALE_HUGE_PAGES=0). Not a malloc block: give it back with
 * sacs_large_release(p, len) with the same len. A fresh region reads as zero; a reused one
 * holds what its last user wrote. NULL with errno ENOMEM on failure (or len 0). */
void *sacs_large_obtain(size_t len);

/* Gives back a region of sacs_large_obtain(len) (kept for reuse for a while). NULL is
 * ignored. */
void sacs_large_release(void *p, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* SACS_H */
