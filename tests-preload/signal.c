/* A signal handler that calls malloc (undefined by POSIX, done by real programs): under
 * LD_PRELOAD=libsacs.so (scripts/preload-tests.sh, case "signal"). A timer interrupts the main
 * thread hundreds of times a millisecond while it allocates and frees big blocks, which takes
 * SACS's arena locks; when the interrupted thread holds one, the handler's malloc asks for a lock
 * its own thread holds. SACS must then abort with a message (as glibc does), never hang.
 * Prints "done, N signals handled" if the race never hit in 3 s.
 *
 * With no argument the timer starts before the program's first malloc, so the handler may also
 * interrupt SACS's start-up (a hang there was once seen); with "after-start" one block is
 * allocated and freed first, so only the arena locks can be hit. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
static volatile long handled;
static void on_alarm(int sig) {
    (void)sig;
    /* Not async-signal-safe: exactly the misuse this test makes. */
    void *p = malloc(100000);
    if (p) { memset(p, 1, 64); free(p); }
    handled++;
}
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "after-start") == 0) free(malloc(100000));
    struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, 0);
    struct itimerval it = {{0, 50}, {0, 50}};
    setitimer(ITIMER_REAL, &it, 0);
    void *b[64];
    struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        for (int i = 0; i < 64; i++) { b[i] = malloc(100000 + (i % 7) * 5000); if (b[i]) memset(b[i], 2, 64); }
        for (int i = 0; i < 64; i++) free(b[i]);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec >= 3) break;
    }
    printf("done, %ld signals handled\n", handled);
    return 0;
}
