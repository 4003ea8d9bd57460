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
