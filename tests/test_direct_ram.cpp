// The direct path to RAM (SystemBus::direct_grant/direct_access, issue 18
// item 3): a core holding a grant reaches RAM without a payload, and what it
// sees and leaves is what the socket path gives - values, times, page
// versions and last writers, write observers, the bus's Transaction events;
// MMIO, master aborts and accesses running past RAM still go over the socket.
#include "child.h"

#include "models/cpu/cpu.h"
#include "sim/core/bus.h"
#include "sim/core/memory.h"

#include <fmt/format.h>

using namespace quiesce;
using quiesce::test::Facts;

namespace {

constexpr uint64_t kRam = 1 << 20;

// The same program on two cores, with or without the direct path; every
// observable thing goes into the facts.
Facts run_program(bool direct) {
    return quiesce::test::in_child([direct](Facts& f) {
        RunContext ctx(1);
        ClockDomain cpu_clk("cpu", 1'000'000'000), dram("dram", 800'000'000), bus_clk("sysbus", 500'000'000);
        PhysicalMemory mem("memory", ctx, dram, kRam);
        SystemBus bus("sysbus", ctx, bus_clk);
        if (direct) bus.map_ram(mem, "ram", 0, kRam);
        else bus.map(mem.socket, "ram", 0, kRam, false);
        InterruptController intc("intc", ctx, bus_clk);
        bus.map(intc.socket, "intc", 0x1000'0000, 0x100, true);
        Cpu a("cpu0", ctx, cpu_clk, 0), b("cpu1", ctx, cpu_clk, 1);
        a.socket.bind(bus.targ);
        b.socket.bind(bus.targ);
        if (direct) {
            a.attach_bus(bus);
            b.attach_bus(bus);
        }
        a.attach_memory(&mem, {&a, &b});
        b.attach_memory(&mem, {&a, &b});
        std::string log, observed;
        mem.set_write_observer([&](const std::string& who, uint64_t addr, uint64_t len) {
            observed += fmt::format("{}@{}:{:#x}+{} ", who, now_ps(), addr, len);
        });
        ctx.hub.subscribe(kind_bit(EvKind::Transaction) | kind_bit(EvKind::GuestError), [&](const Event& e) {
            log += fmt::format("{} {} {} {} {:#x} {} {} {} {}; ", int(e.kind), e.ts, e.track, e.name, e.addr, e.size,
                               e.write, e.initiator, e.data);
        });
        struct Runner : sc_core::sc_module {
            SC_HAS_PROCESS(Runner);
            std::function<void()> fn;
            Runner(sc_core::sc_module_name n, std::function<void()> fn) : sc_module(n), fn(std::move(fn)) {
                SC_THREAD(run);
            }
            void run() { fn(); }
        };
        std::string values;
        auto stamp = [&](const std::string& what) { values += fmt::format("{}@{} ", what, now_ps()); };
        Runner ra("ra", [&] {
            a.write32(0x5004, 0xcafef00d);
            stamp("a.w32");
            values += fmt::format("{:#x} ", a.read32(0x5004));
            stamp("a.r32");
            uint8_t block[6000];
            for (size_t i = 0; i < sizeof block; ++i) block[i] = uint8_t(i * 7);
            a.write_block(0x6ff0, block, sizeof block);  // spans three pages
            stamp("a.wblock");
            a.write64(kRam - 8, 0x1122334455667788);  // the last word of RAM
            stamp("a.w64end");
            a.write64(kRam - 4, 1);  // runs past RAM: the socket's address error
            values += fmt::format("ok={} ", a.last_access_ok());
            stamp("a.w64past");
            a.write32(0x1000'0000, 0);  // MMIO
            stamp("a.mmio");
        });
        Runner rb("rb", [&] {
            b.write8(0x5005, 0x42);  // on the line cpu0 holds dirty: read-for-ownership
            stamp("b.w8");
            uint8_t back[40];
            b.read_block(0x6ff0 + 4090, back, sizeof back);
            values += fmt::format("{:#x} ", back[39]);
            stamp("b.rblock");
            values += fmt::format("{:#x} ", b.read64(0x2'0000'0000));  // nobody decodes it
            values += fmt::format("ok={} ", b.last_access_ok());
            stamp("b.abort");
        });
        sc_core::sc_start();
        std::string pages;
        for (uint64_t pfn : mem.resident()) {
            const auto* info = mem.page_info(pfn);
            pages += fmt::format("{}:{}:{}:{} ", pfn, info->version, info->last_writer, info->last_write);
        }
        f["values"] = values;
        f["events"] = log;
        f["observed"] = observed;
        f["pages"] = pages;
        f["digest"] = std::to_string(mem.digest());
        f["dirty"] = fmt::format("{} {}", a.dirty_lines(), b.dirty_lines());
        SystemBus::DirectGrant g = bus.direct_grant(0x5000), m = bus.direct_grant(0x1000'0000);
        f["grant"] = fmt::format("{:#x}+{:#x} {}", g.base, g.size, m.size);
    });
}

}  // namespace

TEST_CASE("direct ram: a core with a grant sees and leaves what the socket path gives", "[memory][direct]") {
    Facts socket = run_program(false), direct = run_program(true);
    REQUIRE(direct.at("grant") == "0x0+0x100000 0");  // RAM is granted, MMIO is not
    REQUIRE(socket.at("grant") == "0x0+0x0 0");        // RAM mapped as a plain target: no grant
    for (const char* key : {"values", "events", "observed", "pages", "digest", "dirty"}) {
        INFO(key);
        REQUIRE(direct.at(key) == socket.at(key));
    }
    // The program did what it says: both cores wrote the word (cpu1's byte
    // inside cpu0's word), the access past RAM and the master abort failed,
    // and the events hold RAM, MMIO and the master abort.
    INFO(direct.at("values"));
    REQUIRE(direct.at("values").find("0xcafe420d") != std::string::npos);
    REQUIRE(direct.at("values").find("ok=false") != std::string::npos);
    REQUIRE(direct.at("events").find(" intc ") != std::string::npos);
    REQUIRE(direct.at("events").find("master-abort") != std::string::npos);
    REQUIRE(direct.at("observed").find("cpu1@") != std::string::npos);
    REQUIRE(direct.at("pages").find(":cpu0:") != std::string::npos);
}

TEST_CASE("direct ram: no grant where a range mapped before shadows part of the RAM", "[memory][direct]") {
    Facts f = quiesce::test::in_child([](Facts& f) {
        RunContext ctx(1);
        ClockDomain clk("sysbus", 500'000'000);
        PhysicalMemory mem("memory", ctx, clk, kRam);
        InterruptController intc("intc", ctx, clk);
        SystemBus bus("sysbus", ctx, clk);
        bus.map(intc.socket, "intc", 0x8000, 0x100, true);  // inside the RAM below, and decoded first
        bus.map_ram(mem, "ram", 0, kRam);
        f["shadowed"] = std::to_string(bus.direct_grant(0x1000).size);
        f["intc"] = std::to_string(bus.direct_grant(0x8000).size);
    });
    REQUIRE(f["shadowed"] == "0");
    REQUIRE(f["intc"] == "0");
}
