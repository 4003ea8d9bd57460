// Written-page tracking (sim/core/written_pages.h), what in-process branching
// would roll back with: a page written after the region is protected is
// found, a page only read is not, and copied back it reads as before.
#include "sim/core/written_pages.h"

#include <catch2/catch.hpp>

#include <sys/mman.h>

#include <cstring>
#include <vector>

using namespace quiesce;

TEST_CASE("written pages: found after a write, rolled back by copy, protected again", "[written_pages]") {
    WrittenPages wp;
    if (!wp.open()) {
        WARN("no asynchronous userfaultfd write-protection here: " << wp.error());
        return;
    }
    const size_t ps = page_size(), n = 16;
    char* r = static_cast<char*>(mmap(nullptr, n * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    REQUIRE(r != MAP_FAILED);
    for (size_t i = 0; i < n - 2; ++i) std::memset(r + i * ps, int('a' + i), ps);  // the last two never touched
    const uintptr_t a = reinterpret_cast<uintptr_t>(r), e = a + n * ps;
    std::vector<char> before(r, r + n * ps);
    REQUIRE(wp.track(a, n * ps));

    std::vector<PageRun> runs;
    REQUIRE(wp.written(a, e, false, runs));
    CHECK(runs.empty());

    volatile char sink = r[5 * ps];  // read only: not written
    (void)sink;
    r[3 * ps + 17] = 'X';
    r[4 * ps] = 'Y';
    r[9 * ps + ps - 1] = 'Z';
    r[(n - 1) * ps] = 'W';  // a page not present when protected
    REQUIRE(wp.written(a, e, false, runs));
    REQUIRE(runs.size() == 3);
    CHECK(runs[0].start == a + 3 * ps);
    CHECK(runs[0].pages() == 2);
    CHECK(runs[1].start == a + 9 * ps);
    CHECK(runs[1].pages() == 1);
    CHECK(runs[2].start == a + (n - 1) * ps);

    for (const PageRun& p : runs)
        std::memcpy(reinterpret_cast<void*>(p.start), before.data() + (p.start - a), p.end - p.start);
    CHECK(std::memcmp(r, before.data(), n * ps) == 0);
    // Still marked written (the copy wrote them) until protected again.
    std::vector<PageRun> again;
    REQUIRE(wp.written(a, e, true, again));
    CHECK(again.size() == 3);
    again.clear();
    REQUIRE(wp.written(a, e, false, again));
    CHECK(again.empty());
    r[3 * ps] = 'Q';
    REQUIRE(wp.written(a, e, false, again));
    REQUIRE(again.size() == 1);
    CHECK(again[0].start == a + 3 * ps);
    wp.untrack(a, n * ps);
    munmap(r, n * ps);
}
