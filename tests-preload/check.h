/* The check macro of the C test programs (capi.c, pkgconfig.c): counts every check, prints one
 * line per failed one; the program prints the counts at the end and exits 1 if any failed. */
#ifndef SACS_TEST_CHECK_H
#define SACS_TEST_CHECK_H

#include <stdio.h>

static int checks, failed;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        checks++;                                                                          \
        if (!(cond)) {                                                                     \
            failed++;                                                                      \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                         \
            printf(__VA_ARGS__);                                                           \
            printf("\n");                                                                  \
        }                                                                                  \
    } while (0)

#endif
