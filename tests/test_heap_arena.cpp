// A forked child's heap of its own (sim/core/heap_arena.h): each test runs
// its allocations in a child of the pool, which enters the arena.
#include "sim/core/heap_arena.h"
#include "tests/child.h"
#include "tests/smaps.h"

#include <catch2/catch.hpp>
#include <sysc/datatypes/misc/sc_concatref.h>  // sc_core::sc_temp_heap

#include <malloc.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

using namespace quiesce;
using quiesce::test::Facts;
using quiesce::test::in_child;
using quiesce::test::mapping_of;

namespace {

uintptr_t addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

// Frees p, hidden from the compiler (a freed chunk is read after: the test
// is what happens to it).
void release(void* p) {
    asm volatile("" : "+r"(p));
    std::free(p);
}

// Whether n bytes at p all hold `v` (read through volatile: p may have been freed).
bool all(const void* p, unsigned char v, size_t n) {
    const volatile unsigned char* b = static_cast<const volatile unsigned char*>(p);
    for (size_t i = 0; i < n; ++i)
        if (b[i] != v) return false;
    return true;
}

void* filled(size_t n, unsigned char v) {
    void* p = std::malloc(n);
    std::memset(p, v, n);
    return p;
}

std::string yes(bool b) { return b ? "yes" : "no"; }

// Each fact named is "yes".
void check_yes(Facts& f, std::initializer_list<const char*> keys) {
    for (const char* k : keys) {
        INFO(k);
        CHECK(f[k] == "yes");
    }
}

bool advised_huge(const void* p) { return (" " + mapping_of(p).flags + " ").find(" hg ") != std::string::npos; }

// With QUIESCE_ARENA_HUGE_PAGES=0, a block of malloc's from glibc is not
// advised. 64 MiB: past glibc's largest mmap threshold (32 MiB), a mapping
// of its own; a smaller one may come from heap that an earlier test of
// this process had advised (the tests share it when run in one process).
void check_small_pages_when_off() {
    const size_t n = size_t(64) << 20;
    ::setenv("QUIESCE_ARENA_HUGE_PAGES", "0", 1);
    char* plain = static_cast<char*>(std::malloc(n));
    ::unsetenv("QUIESCE_ARENA_HUGE_PAGES");
    REQUIRE(plain);
    CHECK_FALSE(advised_huge(plain + n / 2));
    std::free(plain);
}

}  // namespace

#if defined(__SANITIZE_ADDRESS__)

TEST_CASE("heap arena: compiled out under AddressSanitizer", "[heap_arena]") {
    Facts f = in_child([](Facts& f) { f["entered"] = yes(heap_arena::enter() || heap_arena::active()); });
    CHECK(f["entered"] == "no");
}

#else

TEST_CASE("heap arena: a forked child allocates from its own region and reuses what it frees", "[heap_arena]") {
    void* before = filled(100, 1);
    CHECK_FALSE(heap_arena::active());
    CHECK_FALSE(heap_arena::owns(before));
    Facts f = in_child([before](Facts& f) {
        f["active"] = yes(heap_arena::active());
        f["parent's owned"] = yes(heap_arena::owns(before));
        void* p = filled(100, 2);
        const uintptr_t at = addr(p);
        f["owned"] = yes(heap_arena::owns(p));
        f["usable"] = std::to_string(malloc_usable_size(p));
        release(p);
        void* q = filled(100, 3);
        f["reused"] = yes(addr(q) == at);
        std::free(q);
        // Memory does not grow with what is allocated and freed again.
        const size_t used = heap_arena::used();
        for (int i = 0; i < 20000; ++i) {
            void* small = filled(size_t(i % 2000) + 1, 4);
            void* large = filled(size_t(1) << (16 + i % 6), 5);
            std::free(large);
            std::free(small);
        }
        f["growth"] = std::to_string(heap_arena::used() - used);
        std::string s(1000, 'x');  // operator new too
        f["string owned"] = yes(heap_arena::owns(s.data()));
    });
    CHECK(f["active"] == "yes");
    CHECK(f["parent's owned"] == "no");
    CHECK(f["owned"] == "yes");
    CHECK(std::stoul(f["usable"]) >= 100);
    CHECK(f["reused"] == "yes");
    // A chunk of each size class used (the six large sizes, 64 KiB..2 MiB,
    // about 4 MiB together), not one a round: 20,000 rounds would take 14 GB.
    CHECK(std::stoul(f["growth"]) <= size_t(8) << 20);
    CHECK(f["string owned"] == "yes");
    std::free(before);
}

TEST_CASE("heap arena: a parent's chunk is left as it is when a child frees it, copied when it reallocs",
          "[heap_arena]") {
    void* small = filled(64, 0x5a);
    void* big = filled(300000, 0x6b);  // mapped apart by glibc
    void* copied = filled(48, 0x7c);
    Facts f = in_child([&](Facts& f) {
        release(small);
        release(big);
        f["small intact"] = yes(all(small, 0x5a, 64));
        f["big intact"] = yes(all(big, 0x6b, 300000));
        void* again = std::malloc(64);
        f["not handed out"] = yes(again != small && heap_arena::owns(again));
        f["usable"] = std::to_string(malloc_usable_size(copied));
        void* grown = std::realloc(copied, 5000);
        f["grown owned"] = yes(heap_arena::owns(grown));
        f["copied"] = yes(all(grown, 0x7c, 48));
        f["source intact"] = yes(all(copied, 0x7c, 48));
    });
    check_yes(f, {"small intact", "big intact", "not handed out"});
    CHECK(std::stoul(f["usable"]) >= 48);
    check_yes(f, {"grown owned", "copied", "source intact"});
    std::free(small);
    std::free(big);
    std::free(copied);
}

TEST_CASE("heap arena: alignment, calloc zeroing, realloc and large blocks", "[heap_arena]") {
    Facts f = in_child([](Facts& f) {
        std::string bad;
        for (size_t align = 8; align <= (size_t(4) << 20); align *= 2)
            for (size_t n : {size_t(1), size_t(100), size_t(5000), size_t(70000)}) {
                void* p = nullptr;
                if (posix_memalign(&p, align, n) != 0 || addr(p) % align || !heap_arena::owns(p) ||
                    malloc_usable_size(p) < n)
                    bad += " posix_memalign(" + std::to_string(align) + "," + std::to_string(n) + ")";
                std::memset(p, 1, n);
                void* a = aligned_alloc(align, n);
                if (addr(a) % align || !heap_arena::owns(a)) bad += " aligned_alloc(" + std::to_string(align) + ")";
                std::free(p);
                std::free(a);
            }
        void* odd = memalign(48, 10);  // glibc takes the next power of two
        const long page = ::sysconf(_SC_PAGESIZE);
        void* v = valloc(10);
        void* pv = pvalloc(10);
        if (addr(odd) % 64 || addr(v) % size_t(page) || addr(pv) % size_t(page) || malloc_usable_size(pv) < size_t(page))
            bad += " memalign/valloc/pvalloc";
        void* ugly = nullptr;
        if (posix_memalign(&ugly, 24, 10) != EINVAL) bad += " posix_memalign(24)";
        f["bad"] = bad;

        // calloc zeroes what it hands out again.
        void* p = filled(256, 0xff);
        const uintptr_t at = addr(p);
        release(p);
        void* c = std::calloc(16, 16);
        f["calloc reused"] = yes(addr(c) == at);
        f["calloc zero"] = yes(all(c, 0, 256));
        void* l = filled(300000, 0xff);
        std::free(l);
        void* lc = std::calloc(1, 300000);
        f["large calloc zero"] = yes(all(lc, 0, 300000));
        volatile size_t half = SIZE_MAX / 2;
        f["calloc overflow"] = yes(std::calloc(half, 4) == nullptr);

        // realloc keeps what it holds, growing through the classes into spans.
        unsigned char* r = static_cast<unsigned char*>(std::malloc(16));
        for (int i = 0; i < 16; ++i) r[i] = static_cast<unsigned char>(i);
        bool kept = true;
        for (size_t n = 32; n <= (size_t(8) << 20); n *= 3) {
            r = static_cast<unsigned char*>(std::realloc(r, n));
            for (int i = 0; i < 16; ++i) kept = kept && r[i] == i;
        }
        f["realloc kept"] = yes(kept && heap_arena::owns(r));
        f["realloc 0"] = yes(std::realloc(r, 0) == nullptr);

        // A block of more than 64 spans: its pages given back when freed,
        // its addresses taken again for the same size.
        char* big = static_cast<char*>(std::malloc(size_t(10) << 20));
        big[0] = 1;
        big[(size_t(10) << 20) - 1] = 2;
        const uintptr_t big_at = addr(big);
        f["big usable"] = yes(malloc_usable_size(big) >= (size_t(10) << 20));
        release(big);
        void* big2 = std::calloc(1, size_t(10) << 20);
        f["big reused"] = yes(addr(big2) == big_at);
        f["big zero"] = yes(all(big2, 0, size_t(10) << 20));
    });
    CHECK(f["bad"] == "");
    check_yes(f, {"calloc reused", "calloc zero", "large calloc zero", "calloc overflow", "realloc kept",
                  "realloc 0", "big usable", "big reused", "big zero"});
}

TEST_CASE("heap arena: a child of a child takes a region of its own, its parent's chunks foreign", "[heap_arena]") {
    Facts f = in_child([](Facts& f) {
        void* mine = filled(64, 0x11);
        f["child owns"] = yes(heap_arena::owns(mine));
        Facts g = in_child([mine](Facts& g) {
            g["grandchild owns"] = yes(heap_arena::owns(mine));
            g["usable"] = std::to_string(malloc_usable_size(mine));
            release(mine);
            g["intact"] = yes(all(mine, 0x11, 64));
            void* again = std::malloc(64);
            g["own chunk"] = yes(again != mine && heap_arena::owns(again));
        });
        for (const auto& [k, v] : g) f[k] = v;
        // Back in the child: its chunk is its own to free.
        release(mine);
        void* again = std::malloc(64);
        f["child reuses"] = yes(again == mine);
    });
    CHECK(f["child owns"] == "yes");
    CHECK(f["grandchild owns"] == "no");
    CHECK(std::stoul(f["usable"]) >= 64);
    check_yes(f, {"intact", "own chunk", "child reuses"});
}

TEST_CASE("heap arena: a child that leaves allocates from glibc again and still frees its own", "[heap_arena]") {
    Facts f = in_child([](Facts& f) {
        void* mine = filled(64, 1);
        heap_arena::leave();
        f["active"] = yes(heap_arena::active());
        void* later = filled(64, 2);
        f["later owned"] = yes(heap_arena::owns(later));
        void* grown = std::realloc(mine, 100000);  // out of the region, into glibc's heap
        f["grown owned"] = yes(heap_arena::owns(grown));
        f["grown kept"] = yes(all(grown, 1, 64));
        std::free(grown);
        std::free(later);
    });
    CHECK(f["active"] == "no");
    CHECK(f["later owned"] == "no");
    CHECK(f["grown owned"] == "no");
    CHECK(f["grown kept"] == "yes");
}

TEST_CASE("heap arena: after prefer_huge_pages the region grows in 2 MiB pages from a fresh 2 MiB", "[heap_arena]") {
    Facts f = in_child([](Facts& f) {
        void* before = filled(1000, 1);
        f["before advised"] = yes(advised_huge(before));
        heap_arena::prefer_huge_pages();
        const size_t used = heap_arena::used();
        char* big = static_cast<char*>(filled(size_t(1) << 20, 2));
        f["owned"] = yes(heap_arena::owns(big));
        f["advised"] = yes(advised_huge(big));
        f["before still"] = yes(!advised_huge(before));
        // The first chunk after it starts the next 2 MiB (what it holds 8
        // bytes past the chunk's header, itself 8 past the boundary).
        f["at boundary"] = yes((addr(big) - 16) % (size_t(2) << 20) == 0);
        f["skipped"] = std::to_string(heap_arena::used() - used);
        f["thp"] = yes(mapping_of(big).huge_kb > 0);
        f["intact"] = yes(all(before, 1, 1000) && all(big, 2, size_t(1) << 20));
    });
    CHECK(f["before advised"] == "no");
    check_yes(f, {"owned", "advised", "before still", "at boundary", "intact"});
    // The rest of the first 2 MiB is left as address space; the chunk is 1 MiB and its class's rounding.
    CHECK(std::stoul(f["skipped"]) >= (size_t(1) << 20));
    CHECK(std::stoul(f["skipped"]) < (size_t(4) << 20));
    std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string modes((std::istreambuf_iterator<char>(thp)), std::istreambuf_iterator<char>());
    INFO("THP modes: " << modes << " (the kernel may have had no free 2 MiB page)");
    if (modes.find("[never]") == std::string::npos && f["thp"] == "no") WARN("no huge page was given");
}

TEST_CASE("heap arena: a block of 4 MiB or more from glibc is asked to take huge pages", "[heap_arena]") {
    REQUIRE_FALSE(heap_arena::active());
    // Past glibc's largest mmap threshold (32 MiB): a mapping of its own,
    // which nothing before this test advised.
    const size_t n = size_t(64) << 20;
    char* big = static_cast<char*>(std::malloc(n));
    REQUIRE(big);
    const uintptr_t inner = (addr(big) + (size_t(2) << 20) - 1) / (size_t(2) << 20) * (size_t(2) << 20);
    CHECK(advised_huge(reinterpret_cast<void*>(inner)));
    std::free(big);
    check_small_pages_when_off();
}

TEST_CASE("heap arena: a block of 2 MiB or more from malloc starts on a 2 MiB boundary in huge pages whole",
          "[heap_arena]") {
    REQUIRE_FALSE(heap_arena::active());
    const size_t n = size_t(3) << 20, huge = size_t(2) << 20;
    char* p = static_cast<char*>(std::malloc(n));
    REQUIRE(p);
    CHECK(addr(p) % huge == 0);
    CHECK(advised_huge(p));
    CHECK(advised_huge(p + n - 1));  // the last 1 MiB too: its 2 MiB are the block's
    std::memset(p, 5, n);
    CHECK(all(p, 5, n));
    std::free(p);
    check_small_pages_when_off();
}

TEST_CASE("heap arena: SystemC's temporary heap - 3 MiB it zeroes as it loads - lies in huge pages", "[heap_arena]") {
    // Allocated and zeroed by libsystemc's initialisation, before main:
    // 768 faults of a small page in every process that started.
    const char* heap = sc_core::sc_temp_heap.m_bgn_p;
    REQUIRE(heap);
    CHECK(addr(heap) % (size_t(2) << 20) == 0);
    CHECK(advised_huge(heap));
}

// The parent of runs (glibc's heap, no region of its own) decodes every
// run's stream into glibc's heap: asked, the heap grows in huge pages and
// keeps what is freed for the next run.
TEST_CASE("heap arena: glibc's heap asked to grow in huge pages is advised as it grows and not trimmed",
          "[heap_arena]") {
    // Small chunks until one lies past the break as it was: heap grown for
    // it (the free space before it, which an earlier test of this process
    // may have had advised, used up first).
    auto grow = [] {
        std::vector<void*> chunks;
        const uintptr_t brk = addr(::sbrk(0));
        do chunks.push_back(filled(1000, 2));
        while (addr(chunks.back()) < brk && chunks.size() < 2'000'000);
        for (int i = 0; i < 4'000; ++i) chunks.push_back(filled(1000, 2));  // 4 MB more of it
        return chunks;
    };
    Facts f = in_child([&](Facts& f) {
        heap_arena::leave();  // glibc's malloc, as a parent of runs
        const std::vector<void*> before = grow();
        f["before advised"] = yes(advised_huge(before.back()));
        heap_arena::grow_main_heap_huge();
        const std::vector<void*> after = grow();
        f["last advised"] = yes(advised_huge(after.back()));
        f["earlier still small"] = yes(!advised_huge(before.back()));
        const void* brk = ::sbrk(0);
        for (void* p : after) std::free(p);
        f["kept"] = yes(::sbrk(0) == brk);
        for (void* p : before) std::free(p);
    });
    CHECK(f["before advised"] == "no");
    check_yes(f, {"last advised", "earlier still small", "kept"});
    Facts off = in_child([&](Facts& f) {
        heap_arena::leave();
        ::setenv("QUIESCE_ARENA_HUGE_PAGES", "0", 1);
        heap_arena::grow_main_heap_huge();
        ::unsetenv("QUIESCE_ARENA_HUGE_PAGES");
        const std::vector<void*> after = grow();
        f["advised"] = yes(advised_huge(after.back()));
        for (void* p : after) std::free(p);
    });
    CHECK(off["advised"] == "no");
}

TEST_CASE("heap arena: QUIESCE_ARENA_HUGE_PAGES=0 and a child that does not ask keep small pages", "[heap_arena]") {
    Facts f = in_child([](Facts& f) {
        char* plain = static_cast<char*>(filled(size_t(1) << 20, 3));
        f["plain advised"] = yes(advised_huge(plain));
        ::setenv("QUIESCE_ARENA_HUGE_PAGES", "0", 1);
        heap_arena::prefer_huge_pages();
        char* off = static_cast<char*>(filled(size_t(3) << 20, 4));
        f["off advised"] = yes(advised_huge(off));
        ::unsetenv("QUIESCE_ARENA_HUGE_PAGES");
    });
    CHECK(f["plain advised"] == "no");
    CHECK(f["off advised"] == "no");
}

#endif
