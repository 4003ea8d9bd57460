// DirtyLines (models/cpu/dirty_lines.h) against the map-and-list cache it
// replaced, driven by the same random writes, evictions and snoops: the
// same lines held, in the same order of last write, with the same data.
#include "models/cpu/dirty_lines.h"
#include "sim/core/rng.h"

#include <catch2/catch.hpp>

#include <list>
#include <map>
#include <vector>

using namespace quiesce;

namespace {
struct Reference {
    std::map<uint64_t, std::array<uint8_t, DirtyLines::kLine>> lines;
    std::list<uint64_t> order;  // least recently written first
    void touch(uint64_t a) {
        order.remove(a);
        order.push_back(a);
    }
    void erase(uint64_t a) {
        order.remove(a);
        lines.erase(a);
    }
};

void same(DirtyLines& d, const Reference& r) {
    REQUIRE(d.size() == r.lines.size());
    REQUIRE(d.empty() == r.lines.empty());
    std::vector<uint64_t> got;
    d.each_oldest_first([&](const DirtyLines::Line& l) {
        got.push_back(l.addr);
        REQUIRE(r.lines.count(l.addr));
        REQUIRE(l.dram == r.lines.at(l.addr));
    });
    REQUIRE(got == std::vector<uint64_t>(r.order.begin(), r.order.end()));
    for (const auto& [a, data] : r.lines) {
        DirtyLines::Line* l = d.find(a);
        REQUIRE(l);
        REQUIRE(l->addr == a);
    }
}
}  // namespace

TEST_CASE("dirty lines: writes, evictions, snoops and clears as a map and a list keep them", "[dirty-lines]") {
    Rng rng(7);
    DirtyLines d;
    Reference r;
    // Few distinct lines over a small range, so hits, collisions in the
    // table and deletions next to each other all happen often; a capacity
    // that evicts.
    const size_t capacity = 300;
    for (int step = 0; step < 200000; ++step) {
        const uint64_t line = (rng.next() % 1024) * DirtyLines::kLine + (rng.next() % 4) * (1ull << 32);
        const unsigned what = unsigned(rng.next() % 100);
        if (what < 70) {  // a write
            if (DirtyLines::Line* hit = d.find(line)) {
                REQUIRE(r.lines.count(line));
                d.touch(*hit);
                r.touch(line);
                continue;
            }
            REQUIRE_FALSE(r.lines.count(line));
            if (d.size() >= capacity) {
                const uint64_t oldest = d.oldest().addr;
                REQUIRE(oldest == r.order.front());
                d.erase(d.oldest());
                r.erase(oldest);
            }
            std::array<uint8_t, DirtyLines::kLine> data;
            rng.fill_bytes(data.data(), data.size());
            d.insert(line).dram = data;
            r.lines[line] = data;
            r.order.push_back(line);
        } else if (what < 99) {  // a snoop
            DirtyLines::Line* l = d.find(line);
            REQUIRE(bool(l) == bool(r.lines.count(line)));
            if (l) {
                d.erase(*l);
                r.erase(line);
            }
        } else {  // a power cut or wbinvd
            d.clear();
            r.lines.clear();
            r.order.clear();
        }
        if (step % 5000 == 0) same(d, r);
    }
    same(d, r);
    REQUIRE(d.find(1ull << 40) == nullptr);
}

TEST_CASE("dirty lines: the table grows past its first size and finds every line after", "[dirty-lines]") {
    DirtyLines d;
    REQUIRE(d.find(0) == nullptr);
    for (uint64_t i = 0; i < 5000; ++i) d.insert(i * DirtyLines::kLine).dram[0] = uint8_t(i);
    REQUIRE(d.size() == 5000);
    for (uint64_t i = 0; i < 5000; ++i) {
        DirtyLines::Line* l = d.find(i * DirtyLines::kLine);
        REQUIRE(l);
        REQUIRE(l->dram[0] == uint8_t(i));
    }
    REQUIRE(d.oldest().addr == 0);
    d.touch(d.oldest());
    REQUIRE(d.oldest().addr == DirtyLines::kLine);
    d.clear();
    REQUIRE(d.empty());
    REQUIRE(d.find(0) == nullptr);
    d.insert(7 * DirtyLines::kLine);
    REQUIRE(d.size() == 1);
    REQUIRE(d.oldest().addr == 7 * DirtyLines::kLine);
}
