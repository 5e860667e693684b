/* Compiled by gcc under LD_PRELOAD=libsacs.so and run under it (scripts/preload-tests.sh):
 * generates a deterministic text, counts its words in a chained hash table of malloc'ed
 * nodes and strdup'ed keys, sorts them with qsort, and prints the top words and a checksum. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
    char *word;
    long count;
    struct node *next;
};

static uint32_t state = 2463534242u;
static uint32_t rnd(void) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static int by_count(const void *a, const void *b) {
    const struct node *x = *(const struct node *const *)a, *y = *(const struct node *const *)b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return strcmp(x->word, y->word);
}

int main(void) {
    size_t buckets = 1024, used = 0;
    struct node **table = calloc(buckets, sizeof *table);
    char word[32];
    for (int i = 0; i < 300000; i++) {
        int len = 1 + (int)(rnd() % 4) + (int)(rnd() % 3);
        for (int j = 0; j < len; j++) word[j] = (char)('a' + rnd() % 6);
        word[len] = 0;
        uint64_t h = hash(word);
        struct node *n = table[h % buckets];
        while (n && strcmp(n->word, word)) n = n->next;
        if (n) {
            n->count++;
            continue;
        }
        n = malloc(sizeof *n);
        n->word = strdup(word);
        n->count = 1;
        n->next = table[h % buckets];
        table[h % buckets] = n;
        if (++used > buckets) { /* grow: rehash into a table twice as large */
            size_t nb = buckets * 2;
            struct node **t2 = calloc(nb, sizeof *t2);
            for (size_t b = 0; b < buckets; b++)
                for (struct node *m = table[b], *next; m; m = next) {
                    next = m->next;
                    size_t k = hash(m->word) % nb;
                    m->next = t2[k];
                    t2[k] = m;
                }
            free(table);
            table = t2;
            buckets = nb;
        }
    }
    struct node **all = NULL;
    size_t n_all = 0;
    for (size_t b = 0; b < buckets; b++)
        for (struct node *m = table[b]; m; m = m->next) {
            all = realloc(all, (n_all + 1) * sizeof *all);
            all[n_all++] = m;
        }
    qsort(all, n_all, sizeof *all, by_count);
    uint64_t sum = 0;
    for (size_t i = 0; i < n_all; i++) sum = sum * 31 + hash(all[i]->word) + (uint64_t)all[i]->count;
    printf("distinct words %zu\n", n_all);
    for (size_t i = 0; i < 5 && i < n_all; i++) printf("%s %ld\n", all[i]->word, all[i]->count);
    printf("checksum %016llx\n", (unsigned long long)sum);
    for (size_t i = 0; i < n_all; i++) {
        free(all[i]->word);
        free(all[i]);
    }
    free(all);
    free(table);
    return 0;
}
