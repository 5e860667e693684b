// Call sites of `operator new` and `calloc` for Site Rules and the heap profile
// (scripts/preload-tests.sh, case `sites-entries`): two functions keep what they allocate to
// the end, two free it at once. Under SACS_PROFILE=1 each of the four must show up as a site of
// its own, named by dladdr (the program is linked with -rdynamic), with its lifetime: long for
// the keepers, short for the others. It prints a checksum of the kept blocks, which must be the
// same without the preload.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

struct Node {
    unsigned long value;
    unsigned char pad[40];
};

extern "C" {

__attribute__((noinline)) Node *keep_node(unsigned long v) {
    Node *n = new Node;
    n->value = v;
    std::memset(n->pad, int(v & 0x7f), sizeof n->pad);
    return n;
}

__attribute__((noinline)) unsigned long temp_buffer(unsigned long v) {
    size_t len = 16 + (v * 37) % 700;
    unsigned char *b = new unsigned char[len];
    std::memset(b, int(v & 0xff), len);
    unsigned long sum = b[len / 2] + len;
    delete[] b;
    return sum;
}

__attribute__((noinline)) unsigned long *keep_zeroed(unsigned long v) {
    unsigned long *z = static_cast<unsigned long *>(std::calloc(6, sizeof(unsigned long)));
    if (z == nullptr)
        std::abort();
    for (int i = 0; i < 6; i++)
        if (z[i] != 0)
            std::abort();
    z[0] = v;
    return z;
}

__attribute__((noinline)) unsigned long temp_zeroed(unsigned long v) {
    size_t n = 2 + (v * 13) % 90;
    unsigned long *z = static_cast<unsigned long *>(std::calloc(n, sizeof(unsigned long)));
    if (z == nullptr)
        std::abort();
    unsigned long sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += z[i];  // calloc's memory is zero: the sum is 0
    z[n - 1] = v;
    sum += z[n - 1] == v ? 0 : 1;
    std::free(z);
    return sum;
}
}

int main() {
    const unsigned long keep = 40000, temps_per_keep = 8;
    std::vector<Node *> nodes;
    std::vector<unsigned long *> zeroed;
    nodes.reserve(keep);
    zeroed.reserve(keep);
    unsigned long temp_sum = 0;
    for (unsigned long i = 0; i < keep; i++) {
        nodes.push_back(keep_node(i));
        zeroed.push_back(keep_zeroed(i));
        for (unsigned long t = 0; t < temps_per_keep; t++) {
            temp_sum += temp_buffer(i * temps_per_keep + t);
            temp_sum += temp_zeroed(i * temps_per_keep + t);
        }
        // Spread over 40 ms or more, so that a short-lived threshold of a few milliseconds
        // lets the keepers' rules come while they still allocate.
        if (i % 1000 == 999)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    // Older than SACS_SITES_SHORT_MS (100 ms by default) at exit: the kept blocks are long-lived.
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    unsigned long kept_sum = 0;
    for (unsigned long i = 0; i < keep; i++)
        kept_sum += nodes[i]->value + nodes[i]->pad[39] + zeroed[i][0] + zeroed[i][5];
    std::printf("kept %lu, checksum %lu, temporaries %lu\n", keep, kept_sum, temp_sum);
    for (unsigned long i = 0; i < keep; i++) {
        delete nodes[i];
        std::free(zeroed[i]);
    }
    return 0;
}
