// Counts a process's heap calls per thread name (comm, which a thread without a name of its own
// inherits from the thread that made it) and the distinct threads per name; at exit appends one
// line per name (`thread=NAME tids= allocs= bytes= frees=`) to $COUNT_OUT (default stderr), then
// glibc's malloc_info if COUNT_INFO is set and /proc/self/smaps if COUNT_SMAPS is set.
// Diagnostic for docs/field.md, "Session 24" (which threads allocate, and in how many arenas):
//   gcc -O2 -shared -fPIC -o /tmp/thread-allocs.so field/bench/thread-allocs.c
//   COUNT_OUT=/tmp/allocs.txt COUNT_INFO=1 LD_PRELOAD=/tmp/thread-allocs.so field-bench ...
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

#define SLOTS 32
struct slot { char name[16]; atomic_long allocs, bytes, frees; int tids[64]; atomic_int ntids; };
static struct slot slots[SLOTS];
static atomic_int nslots;
static __thread struct slot *mine;
static __thread int in;

static struct slot *me(void) {
  if (mine) return mine;
  char name[16] = {0};
  prctl(PR_GET_NAME, name);
  int tid = syscall(SYS_gettid);
  int n = atomic_load(&nslots);
  struct slot *s = NULL;
  for (int i = 0; i < n; i++) if (!strcmp(slots[i].name, name)) { s = &slots[i]; break; }
  if (!s) { int i = atomic_fetch_add(&nslots, 1); if (i >= SLOTS) return NULL; s = &slots[i]; memcpy(s->name, name, 16); }
  int k = atomic_fetch_add(&s->ntids, 1); if (k < 64) s->tids[k] = tid;
  mine = s; return s;
}
static void note(size_t n) { if (in) return; in = 1; struct slot *s = me(); if (s) { s->allocs++; s->bytes += n; } in = 0; }
static void notef(void) { if (in) return; in = 1; struct slot *s = me(); if (s) s->frees++; in = 0; }
void *malloc(size_t n) { note(n); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { note(a * b); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { note(n); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { note(n); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { note(n); return __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n) { note(n); *p = __libc_memalign(a, n); return *p ? 0 : 12; }
void free(void *p) { if (p) notef(); __libc_free(p); }

__attribute__((destructor)) static void report(void) {
  in = 1;
  const char *path = getenv("COUNT_OUT");
  FILE *f = path ? fopen(path, "a") : stderr;
  if (!f) return;
  int n = atomic_load(&nslots);
  for (int i = 0; i < n && i < SLOTS; i++)
    fprintf(f, "thread=%s tids=%d allocs=%ld bytes=%ld frees=%ld\n", slots[i].name, slots[i].ntids,
            slots[i].allocs, slots[i].bytes, slots[i].frees);
  if (getenv("COUNT_INFO")) malloc_info(0, f);
  if (getenv("COUNT_SMAPS")) { FILE *m = fopen("/proc/self/smaps", "r"); char line[512];
    if (m) { while (fgets(line, sizeof line, m)) fputs(line, f); fclose(m); } }
  if (path) fclose(f);
}
