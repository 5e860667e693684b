// A C++ program for scripts/preload-tests.sh: threads filling std::map, std::unordered_map,
// std::vector and std::string, objects with alignas(64) through operator new (the aligned
// forms), and nothrow new. Prints a deterministic checksum: the same with and without
// LD_PRELOAD=libsacs.so.
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

struct alignas(64) Line {
    std::uint64_t v[8];
};

struct alignas(256) Wide {
    unsigned char bytes[1000];
};

static std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

struct Result {
    std::uint64_t sum = 0;
    bool aligned = true;
    bool nothrow_ok = true;
};

static void work(int id, Result &out) {
    std::uint64_t h = 1469598103934665603ull + static_cast<std::uint64_t>(id);
    std::map<std::string, std::vector<int>> tree;
    std::unordered_map<std::uint64_t, std::string> table;
    std::vector<std::unique_ptr<Line>> lines;
    std::uint64_t s = 88172645463325252ull ^ static_cast<std::uint64_t>(id * 7919);
    for (int round = 0; round < 30000; ++round) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        std::string key = "k" + std::to_string(s % 5000) + std::string(s % 40, 'x');
        auto &vec = tree[key];
        vec.push_back(round);
        if (vec.size() > 20) vec.erase(vec.begin(), vec.begin() + 10);
        table[s % 20000] = key + "/" + std::to_string(round);
        if (round % 3 == 0) {
            auto line = std::make_unique<Line>();
            if (reinterpret_cast<std::uintptr_t>(line.get()) % 64 != 0) out.aligned = false;
            for (int j = 0; j < 8; ++j) line->v[j] = s + static_cast<std::uint64_t>(j);
            lines.push_back(std::move(line));
            if (lines.size() > 500) lines.erase(lines.begin(), lines.begin() + 250);
        }
        if (round % 997 == 0) {
            Wide *w = new Wide[3];
            if (reinterpret_cast<std::uintptr_t>(w) % 256 != 0) out.aligned = false;
            w[2].bytes[999] = static_cast<unsigned char>(round);
            h = mix(h, w[2].bytes[999]);
            delete[] w;
            int *n = new (std::nothrow) int[1000];
            if (n == nullptr) {
                out.nothrow_ok = false;
            } else {
                n[999] = round;
                h = mix(h, static_cast<std::uint64_t>(n[999]));
                delete[] n;
            }
            Line *l = new (std::nothrow) Line;
            if (l == nullptr || reinterpret_cast<std::uintptr_t>(l) % 64 != 0) out.aligned = false;
            delete l;
        }
        if (round % 5000 == 4999) {
            std::vector<std::string> big;
            for (int j = 0; j < 2000; ++j) big.emplace_back(std::string(static_cast<std::size_t>(j % 300), static_cast<char>('a' + j % 26)));
            std::string joined;
            for (auto &b : big) joined += b;
            h = mix(h, joined.size());
        }
    }
    for (auto &kv : tree) {
        h = mix(h, kv.first.size());
        for (int v : kv.second) h = mix(h, static_cast<std::uint64_t>(v));
    }
    std::map<std::uint64_t, std::string> ordered(table.begin(), table.end());
    for (auto &kv : ordered) h = mix(mix(h, kv.first), kv.second.size());
    for (auto &l : lines) h = mix(h, l->v[7]);
    // A nothrow request that cannot be met returns nullptr instead of aborting.
    void *impossible = ::operator new(static_cast<std::size_t>(-1) / 2, std::nothrow);
    if (impossible != nullptr) out.nothrow_ok = false;
    out.sum = h;
}

int main() {
    const int threads = 4;
    std::vector<Result> results(threads);
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) pool.emplace_back(work, i, std::ref(results[i]));
    for (auto &t : pool) t.join();
    std::uint64_t total = 0;
    bool aligned = true, nothrow_ok = true;
    for (int i = 0; i < threads; ++i) {
        std::printf("thread %d: %016llx\n", i, static_cast<unsigned long long>(results[i].sum));
        total = mix(total, results[i].sum);
        aligned = aligned && results[i].aligned;
        nothrow_ok = nothrow_ok && results[i].nothrow_ok;
    }
    std::printf("checksum %016llx\n", static_cast<unsigned long long>(total));
    std::printf("aligned new: %s\n", aligned ? "ok" : "MISALIGNED");
    std::printf("nothrow new: %s\n", nothrow_ok ? "ok" : "BROKEN");
    return aligned && nothrow_ok ? 0 : 1;
}
