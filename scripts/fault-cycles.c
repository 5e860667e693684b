/* The cost of a page fault, as the learner charges it (allocator/src/learn.rs, FAULT_CYCLES):
 * maps 256 MiB, touches one byte of each 4 KiB page (one minor fault, the page zeroed), and
 * prints time-stamp cycles per fault (faults counted by getrusage), five times; then the
 * cycles of one getrusage call, which the learner makes once per window.
 *   gcc -O2 -o /tmp/fault-cycles scripts/fault-cycles.c && /tmp/fault-cycles
 * x86-64 only (rdtsc). */
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <x86intrin.h>

int main(void) {
    size_t n = (size_t)256 << 20;
    for (int r = 0; r < 5; r++) {
        char *p = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return 1;
        struct rusage a, b;
        getrusage(RUSAGE_SELF, &a);
        unsigned long long t = __rdtsc();
        for (size_t i = 0; i < n; i += 4096) p[i] = 1;
        t = __rdtsc() - t;
        getrusage(RUSAGE_SELF, &b);
        long faults = b.ru_minflt - a.ru_minflt;
        printf("faults %ld, cycles per fault %llu\n", faults, t / (unsigned long long)(faults ? faults : 1));
        munmap(p, n);
    }
    struct rusage u;
    unsigned long long t = __rdtsc();
    for (int i = 0; i < 10000; i++) getrusage(RUSAGE_SELF, &u);
    printf("getrusage: %llu cycles per call\n", (__rdtsc() - t) / 10000);
    return 0;
}
