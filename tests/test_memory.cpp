// Physical memory through its TLM socket: sparse pages, per-page write
// versions and last writers, region attributes, and the content digest.
#include "child.h"

#include "models/cpu/cpu.h"
#include "sim/core/memory.h"

#include <fmt/format.h>

using namespace quiesce;
using quiesce::test::Facts;

TEST_CASE("memory: sparse pages record version, last writer and time", "[memory]") {
    Facts f = quiesce::test::in_child([](Facts& f) {
        RunContext ctx(1);
        ClockDomain cpu_clk("cpu", 1'000'000'000), dram("dram", 800'000'000);
        PhysicalMemory mem("memory", ctx, dram, 1 << 20);
        mem.add_region({"fw", 0xf0000, 0x10000, RegionAttr::Firmware});
        mem.add_region({"nosave", 0xe0000, 0x1000, RegionAttr::Nosave});
        Cpu cpu("cpu0", ctx, cpu_clk, 0);
        cpu.socket.bind(mem.socket);
        struct Prog : sc_core::sc_module {
            SC_HAS_PROCESS(Prog);
            Prog(sc_core::sc_module_name n, std::function<void()> b) : sc_module(n), body(std::move(b)) {
                SC_THREAD(run);
            }
            void run() { body(); }
            std::function<void()> body;
        };
        Prog prog("prog", [&] {
            f["untouched"] = fmt::format("{:#x}", cpu.read32(0x5000));
            f["resident_after_read"] = std::to_string(mem.resident_pages());
            Picos t0 = now_ps();
            cpu.write32(0x5004, 0xcafef00d);
            f["write_ps"] = std::to_string(now_ps() - t0);
            cpu.write32(0x5008, 1);
            uint8_t block[6000];
            for (size_t i = 0; i < sizeof block; ++i) block[i] = uint8_t(i);
            cpu.write_block(0x6ff0, block, sizeof block);  // spans three pages
            f["readback"] = fmt::format("{:#x}", cpu.read32(0x5004));
            f["past_end_ok"] = cpu.read(1 << 20, 4) == 0 && cpu.last_access_ok() ? "yes" : "no";
        });
        sc_core::sc_start();
        const auto* p5 = mem.page_info(5);
        f["version5"] = std::to_string(p5->version);
        f["writer5"] = p5->last_writer;
        f["version7"] = std::to_string(mem.page_info(7)->version);
        f["resident"] = std::to_string(mem.resident_pages());
        f["peek"] = fmt::format("{:#x}", mem.peek32(0x7000));  // block[0x10..0x13]
        f["attr_fw"] = to_string(mem.attr_of(0xf1234));
        f["attr_nosave"] = to_string(mem.attr_of(0xe0000));
        f["attr_normal"] = to_string(mem.attr_of(0x1000));
        uint64_t d1 = mem.digest();
        mem.poke(0x5004, "x", 1, "test");
        f["digest_changes"] = d1 != mem.digest() ? "yes" : "no";
    });
    REQUIRE(f["untouched"] == "0x0");
    REQUIRE(f["resident_after_read"] == "0");    // reads do not allocate
    REQUIRE(f["readback"] == "0xcafef00d");
    REQUIRE(f["version5"] == "2");
    REQUIRE(f["writer5"] == "cpu0");
    REQUIRE(f["version7"] == "1");
    REQUIRE(f["resident"] == "4");               // page 5, and 6..8 under the block
    REQUIRE(f["peek"] == "0x13121110");
    REQUIRE(f["past_end_ok"] == "no");           // outside memory: an address error
    REQUIRE(f["attr_fw"] == "firmware");
    REQUIRE(f["attr_nosave"] == "nosave");
    REQUIRE(f["attr_normal"] == "normal");
    REQUIRE(f["digest_changes"] == "yes");
    REQUIRE(std::stoull(f["write_ps"]) > 0);     // a memory access takes time
}

TEST_CASE("memory: the pages looked up last are remembered, and forgotten when written or lost", "[memory]") {
    Facts f = quiesce::test::in_child([](Facts& f) {
        RunContext ctx(1);
        ClockDomain dram("dram", 800'000'000);
        PhysicalMemory mem("memory", ctx, dram, 1 << 20);
        f["absent"] = std::to_string(mem.peek64(0x3000));       // page 3 looked up: not there
        f["info_absent"] = mem.page_info(3) ? "info" : "none";   // ... and asked again
        mem.poke(0x3008, "\x2a", 1, "dev");                      // now it is
        f["written"] = std::to_string(mem.peek32(0x3008));
        f["info_written"] = mem.page_info(3) ? mem.page_info(3)->last_writer : "none";
        mem.poke(0x4000, "\x07", 1, "dev");                      // another page, then back
        mem.poke(0x3009, "\x01", 1, "cpu0");
        f["both"] = std::to_string(mem.peek32(0x3008)) + " " + std::to_string(mem.peek32(0x4000));
        f["writer"] = mem.page_info(3)->last_writer + " " + mem.page_info(4)->last_writer;
        mem.lose_contents();                                     // page 3 was the last looked up
        f["lost"] = std::to_string(mem.peek32(0x3008)) + " " + (mem.page_info(3) ? "info" : "null");
        mem.poke(0x3000, "\x05", 1, "dev");                      // a fresh page after the loss
        f["after"] = std::to_string(mem.peek32(0x3000)) + " " + std::to_string(mem.peek32(0x3008)) + " " +
                     std::to_string(mem.resident_pages());
    });
    REQUIRE(f["absent"] == "0");
    REQUIRE(f["info_absent"] == "none");
    REQUIRE(f["written"] == "42");
    REQUIRE(f["info_written"] == "dev");
    REQUIRE(f["both"] == "298 7");
    REQUIRE(f["writer"] == "cpu0 dev");
    REQUIRE(f["lost"] == "0 null");
    REQUIRE(f["after"] == "5 0 1");
}

// A copy alternates between two pages (a DMA engine's bursts: read the
// source, write the destination); both stay remembered, absent or not, and
// a page remembered absent and then written is found, in either place.
TEST_CASE("memory: two pages remembered absent are found once written in either order", "[memory]") {
    Facts f = quiesce::test::in_child([](Facts& f) {
        RunContext ctx(1);
        ClockDomain dram("dram", 800'000'000);
        PhysicalMemory mem("memory", ctx, dram, 1 << 20);
        std::string seen;
        auto look = [&] {
            seen += std::to_string(mem.peek32(0x5000)) + "," + std::to_string(mem.peek32(0x6000)) + "," +
                    std::to_string(mem.peek32(0x7000)) + " ";
        };
        look();                                   // 5, 6, 7 absent; 6 and 7 remembered so
        mem.poke(0x6000, "\x06", 1, "dev");       // the older of the two
        look();
        mem.poke(0x7000, "\x07", 1, "dev");       // the newer
        look();
        for (int i = 0; i < 3; ++i) {             // alternating, as a burst copy does
            uint8_t b = 0;
            mem.peek(0x6000, &b, 1);
            b = uint8_t(b + 0x10);
            mem.poke(0x5000 + uint64_t(i), &b, 1, "dma0");
        }
        look();
        f["seen"] = seen;
        f["resident"] = std::to_string(mem.resident_pages());
        mem.lose_contents();                      // both remembered pages are lost_'s
        look();
        f["lost"] = seen.substr(seen.rfind(' ', seen.size() - 2) + 1);
    });
    REQUIRE(f["seen"] == "0,0,0 0,6,0 0,6,7 1447446,6,7 ");
    REQUIRE(f["resident"] == "3");
    REQUIRE(f["lost"] == "0,0,0 ");
}
