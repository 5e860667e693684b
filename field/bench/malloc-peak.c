// Samples the process's VmRSS and glibc's mallinfo2() every 100 ms from a thread of its own and,
// at exit, prints to stderr the sample with the highest RSS: what glibc's arenas held (in use,
// free) at about the peak. Diagnostic for docs/field.md, "Session 24":
//   gcc -O2 -shared -fPIC -o /tmp/malloc-peak.so field/bench/malloc-peak.c -lpthread
//   LD_PRELOAD=/tmp/malloc-peak.so field-bench ... 2>peak.txt
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct mallinfo2 best_mi;
static long best_rss;
static long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r"); char line[256]; long v = 0;
  if (!f) return 0;
  while (fgets(line, sizeof line, f)) if (!strncmp(line, "VmRSS:", 6)) { v = atol(line + 6); break; }
  fclose(f); return v;
}
static void *sampler(void *arg) {
  (void)arg;
  for (;;) {
    long r = rss_kib();
    if (r > best_rss) { best_rss = r; best_mi = mallinfo2(); }
    usleep(100000);
  }
  return NULL;
}
__attribute__((constructor)) static void start(void) {
  pthread_t t; pthread_attr_t a; pthread_attr_init(&a); pthread_attr_setstacksize(&a, 1 << 16);
  pthread_create(&t, &a, sampler, NULL);
}
__attribute__((destructor)) static void report(void) {
  fprintf(stderr, "mstat: max sampled rss %ld KiB; arena (non-mmapped) %zu KiB, in use %zu KiB, free %zu KiB (top releasable %zu KiB), mmapped %zu KiB in %zu\n",
          best_rss, best_mi.arena >> 10, best_mi.uordblks >> 10, best_mi.fordblks >> 10, best_mi.keepcost >> 10,
          best_mi.hblkhd >> 10, best_mi.hblks);
}
