// The kernel's page allocator: freed frames come back first; under pressure
// an allocation reclaims through the shrinkers; GFP_NOIO, and every
// allocation while pm_restrict_gfp_mask is in force, may only reclaim what
// needs no I/O; GFP_ATOMIC never reclaims.
#include "kernel_bench.h"

#include <catch2/catch.hpp>

using namespace quiesce;
using quiesce::test::Facts;

TEST_CASE("kernel: allocations reclaim under pressure, without I/O while the GFP mask is restricted", "[kernel][memory]") {
    Facts f = quiesce::test::with_kernel([](RunContext&, Kernel& k, Cpu& cpu, Facts& f) {
        const uint64_t total = k.free_pages();  // a 64 KiB heap: 16 pages
        std::vector<uint64_t> held;
        REQUIRE(k.alloc_pages(cpu, total, Kernel::Gfp::Kernel, held) == 0);
        f["full"] = std::to_string(k.free_pages());
        // A shrinker that can give back held pages, but only by "writing them out".
        std::string calls;
        k.add_shrinker([&](Cpu&, uint64_t want, bool may_io) {
            calls += may_io ? "io " : "noio ";
            uint64_t freed = 0;
            while (may_io && freed < want && !held.empty()) {
                k.free_page(held.back());
                held.pop_back();
                ++freed;
            }
            return freed;
        });
        std::vector<uint64_t> more;
        f["kernel"] = std::to_string(k.alloc_pages(cpu, 2, Kernel::Gfp::Kernel, more));
        k.restrict_gfp(true);
        f["restricted"] = std::to_string(k.alloc_pages(cpu, 1, Kernel::Gfp::Kernel, more));
        k.restrict_gfp(false);
        f["noio"] = std::to_string(k.alloc_pages(cpu, 1, Kernel::Gfp::NoIO, more));
        f["atomic"] = std::to_string(k.alloc_pages(cpu, 1, Kernel::Gfp::Atomic, more));
        f["calls"] = calls;
        f["after"] = std::to_string(k.alloc_pages(cpu, 1, Kernel::Gfp::Kernel, more));
    });
    REQUIRE(f["full"] == "0");
    REQUIRE(f["kernel"] == "0");   // the heap is full: two pages written out and reused
    REQUIRE(f["restricted"] == "-12");
    REQUIRE(f["noio"] == "-12");
    REQUIRE(f["atomic"] == "-12");  // did not even ask
    REQUIRE(f["calls"] == "io noio noio ");
    REQUIRE(f["after"] == "0");
}

TEST_CASE("kernel: a page is free from its free_page to the allocation that takes it back", "[kernel][memory]") {
    Facts f = quiesce::test::with_kernel([](RunContext&, Kernel& k, Cpu& cpu, Facts& f) {
        const uint64_t total = k.free_pages();
        std::vector<uint64_t> held;
        REQUIRE(k.alloc_pages(cpu, total, Kernel::Gfp::Kernel, held) == 0);
        auto free_now = [&] {
            std::string out;
            for (uint64_t a : held) out += k.page_free(a / 4096) ? '1' : '0';
            return out;
        };
        f["allocated"] = free_now();
        // Free the last, the first and one between: only those read as free.
        k.free_page(held.back());
        k.free_page(held.front());
        k.free_page(held[5]);
        f["three freed"] = free_now();
        f["below the heap"] = k.page_free(held.front() / 4096 - 1) ? "free" : "not";
        f["past the heap"] = k.page_free(held.back() / 4096 + 1000) ? "free" : "not";
        std::vector<uint64_t> again;
        REQUIRE(k.alloc_pages(cpu, 2, Kernel::Gfp::Kernel, again) == 0);  // the last freed first
        f["two taken back"] = free_now();
        f["taken"] = std::to_string((again[0] - held.front()) / 4096) + "," +
                     std::to_string((again[1] - held.front()) / 4096);
    });
    const std::string none(16, '0');
    REQUIRE(f["allocated"] == none);
    REQUIRE(f["three freed"] == "1000010000000001");
    REQUIRE(f["below the heap"] == "not");
    REQUIRE(f["past the heap"] == "not");
    REQUIRE(f["taken"] == "5,0");
    REQUIRE(f["two taken back"] == "0000000000000001");
}
