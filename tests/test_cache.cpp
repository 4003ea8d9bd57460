// The CPU's write-back cache: dirty lines keep what DRAM holds until they
// are written back; WBINVD writes them back; power removed with memory in
// self-refresh loses them (memory reverts, the loss is reported); lines move
// between cores on a write; a device's DMA write invalidates them, and
// only them.
#include "child.h"

#include "models/cpu/cpu.h"
#include "sim/core/bus.h"
#include "sim/core/memory.h"
#include "sim/scenario/executor.h"

using namespace quiesce;
using quiesce::test::Facts;

namespace {

Facts with_cores(const std::function<void(RunContext&, PhysicalMemory&, Cpu&, Cpu&, Facts&)>& body) {
    return quiesce::test::in_child([&](Facts& f) {
        RunContext ctx(1);
        ClockDomain clk("cpu", 1'000'000'000);
        PhysicalMemory mem("memory", ctx, clk, 8 << 20);  // sparse: only the pages written cost
        SystemBus bus("sysbus", ctx, clk);
        bus.map(mem.socket, "ram", 0, 8 << 20, false);
        Cpu a("cpu0", ctx, clk, 0), b("cpu1", ctx, clk, 1);
        a.socket.bind(bus.targ);
        b.socket.bind(bus.targ);
        a.attach_memory(&mem, {&a, &b});
        b.attach_memory(&mem, {&a, &b});
        std::vector<std::string> errors;
        ctx.hub.subscribe(kind_bit(EvKind::GuestError), [&](const Event& e) {
            errors.push_back(e.track + ":" + e.name + ":" + arg_value(e, "lines"));
        });
        struct Runner : sc_core::sc_module {
            SC_HAS_PROCESS(Runner);
            std::function<void()> fn;
            Runner(sc_core::sc_module_name n, std::function<void()> f) : sc_module(n), fn(std::move(f)) {
                SC_THREAD(run);
            }
            void run() { fn(); }
        } runner("runner", [&] { body(ctx, mem, a, b, f); });
        sc_core::sc_start();
        std::string joined;
        for (const auto& e : errors) joined += e + " ";
        f["errors"] = joined;
    });
}

}  // namespace

TEST_CASE("cache: dirty lines are lost in S3 unless WBINVD wrote them back", "[cpu][cache]") {
    Facts f = with_cores([](RunContext&, PhysicalMemory& mem, Cpu& a, Cpu&, Facts& f) {
        a.write64(0x1000, 1);
        a.write64(0x1008, 2);  // same line
        a.write64(0x2000, 3);
        f["dirty"] = std::to_string(a.dirty_lines());
        f["coherent"] = std::to_string(mem.peek64(0x2000));  // what another reader sees
        f["flushed"] = std::to_string(a.wbinvd());
        a.write64(0x3000, 4);
        a.lose_context(true);  // S3 with one line still dirty
        f["after"] = fmt::format("{} {} {}", mem.peek64(0x1000), mem.peek64(0x2000), mem.peek64(0x3000));
    });
    REQUIRE(f["dirty"] == "2");
    REQUIRE(f["coherent"] == "3");
    REQUIRE(f["flushed"] == "2");
    REQUIRE(f["after"] == "1 3 0");  // the unflushed write never reached DRAM
    REQUIRE(f["errors"] == "cpu0:cache.lost-dirty-lines:1 ");
}

TEST_CASE("cache: a lost line reverts to what DRAM held, page by page, written before or never", "[cpu][cache]") {
    Facts f = with_cores([](RunContext&, PhysicalMemory& mem, Cpu& a, Cpu&, Facts& f) {
        std::array<uint8_t, 256> old{}, fresh{};
        old.fill(0x11);
        fresh.fill(0x22);
        a.write_block(0x4f80, old.data(), 256);  // two lines in page 4, two in page 5
        a.wbinvd();                              // DRAM holds 0x11 there now
        a.write_block(0x4f80, fresh.data(), 256);
        a.write_block(0x9000, fresh.data(), 64);  // a page never written before
        f["dirty"] = std::to_string(a.dirty_lines());
        a.lose_context(true);
        std::array<uint8_t, 256> back{};
        mem.peek(0x4f80, back.data(), 256);
        f["reverted"] = back == old ? "yes" : "no";
        f["never_written"] = std::to_string(mem.peek64(0x9000)) + " " + std::to_string(mem.peek64(0x9038));
    });
    REQUIRE(f["dirty"] == "5");
    REQUIRE(f["reverted"] == "yes");
    REQUIRE(f["never_written"] == "0 0");
}

TEST_CASE("cache: lines move between cores, are evicted when full, and DMA invalidates them", "[cpu][cache]") {
    Facts f = with_cores([](RunContext&, PhysicalMemory& mem, Cpu& a, Cpu& b, Facts& f) {
        a.props().set("cache_lines", PropValue(int64_t(2)));
        a.write64(0x1000, 1);
        b.write64(0x1000, 2);  // read-for-ownership: the line leaves cpu0 dirty
        f["moved"] = fmt::format("{} {}", a.dirty_lines(), b.dirty_lines());
        a.write64(0x2000, 3);
        a.write64(0x3000, 4);
        a.write64(0x4000, 5);  // cpu0 holds two: 0x2000 was written back
        f["capacity"] = std::to_string(a.dirty_lines());
        mem.poke(0x3000, "\x09\0\0\0\0\0\0\0", 8, "dma0");  // a device write (zero-time backdoor)
        a.snoop_write(0x3000, 8);                            // as the platform's write observer does
        a.lose_context(true);
        b.lose_context(true);
        f["after"] = fmt::format("{} {} {} {}", mem.peek64(0x1000), mem.peek64(0x2000), mem.peek64(0x3000),
                                 mem.peek64(0x4000));
    });
    REQUIRE(f["moved"] == "0 1");
    REQUIRE(f["capacity"] == "2");
    // 0x1000: cpu1's line lost (DRAM never had 1 or 2); 0x2000 written back;
    // 0x3000: the device's data stays; 0x4000: lost.
    REQUIRE(f["after"] == "0 3 9 0");
    REQUIRE(f["errors"] == "cpu0:cache.lost-dirty-lines:1 cpu1:cache.lost-dirty-lines:1 ");
}

TEST_CASE("cache: a device write invalidates exactly the dirty lines it covers, whatever pages hold others",
          "[cpu][cache]") {
    Facts f = with_cores([](RunContext&, PhysicalMemory&, Cpu& a, Cpu&, Facts& f) {
        auto dirty = [&] { return std::to_string(a.dirty_lines()); };
        // Dirty: two lines of page 0x1000, the first of page 0x2000, and one
        // of the page 4 MiB past 0x1000 (counted with it: the same bucket).
        a.write64(0x1000, 1);
        a.write64(0x1fc0, 2);
        a.write64(0x2000, 3);
        a.write64(0x401040, 4);
        a.snoop_write(0x0, 0x1000);  // page 0: nothing here
        a.snoop_write(0x3000, 0x3000);
        f["elsewhere"] = dirty();
        a.snoop_write(0x1f80, 0x90);  // the last two lines of 0x1000's page and the first of 0x2000's
        f["across"] = dirty();
        a.snoop_write(0x1000 + (4 << 20), 0x40);  // the other page of the bucket, a line not held
        a.snoop_write(0x1040, 0x40);              // 0x1000's page, a line not held
        f["near"] = dirty();
        a.snoop_write(0x401048, 1);
        f["alias"] = dirty();
        a.snoop_write(0x0, 0x1001);
        f["last"] = dirty();
        a.write64(0x5000, 5);
        a.write64(0x5040, 6);
        a.wbinvd();  // written back: none left to invalidate, and none counted
        a.write64(0x5040, 7);
        a.snoop_write(0x5000, 0x40);
        f["after wbinvd"] = dirty();
        a.snoop_write(0x5000, 0x80);
        f["end"] = dirty();
    });
    CHECK(f["elsewhere"] == "4");
    CHECK(f["across"] == "2");  // 0x1fc0 and 0x2000 gone; 0x1000 and 0x401040 stay
    CHECK(f["near"] == "2");
    CHECK(f["alias"] == "1");
    CHECK(f["last"] == "0");
    CHECK(f["after wbinvd"] == "1");
    CHECK(f["end"] == "0");
}

// The regression scenario s3-play-dead-no-wbinvd runs to its end (it used
// to die of SIGFPE in the DMA driver's submit, its ring size read as 0 from
// the lines cpu1 lost) and says what happened.
TEST_CASE("cache: a core offlined without WBINVD loses the driver's state, reported, not a crash", "[cpu][cache]") {
    RunResult r = execute(load_scenario(std::string(QUIESCE_DATA_DIR) + "/regression/s3-play-dead-no-wbinvd.toml"));
    CHECK(r.status == "passed");
    CHECK(r.violations.count("cache.lost-dirty-lines"));
    bool corrupt = false, lost_on_cpu1 = false;
    for (const auto& ev : r.stream.events) {
        if (ev.kind != EvKind::GuestError) continue;
        if (ev.name == "driver.state-corrupt" && arg_value(ev, "size") == "0") corrupt = true;
        if (ev.name == "cache.lost-dirty-lines" && ev.track == "cpu1") lost_on_cpu1 = true;
    }
    CHECK(corrupt);
    CHECK(lost_on_cpu1);
    CHECK(r.stream.summary.workload.find("errno 5") != std::string::npos);
    // With play_dead's WBINVD (the default) nothing is lost.
    Scenario s = load_scenario(std::string(QUIESCE_DATA_DIR) + "/regression/s3-play-dead-no-wbinvd.toml");
    s.properties.clear();
    s.expect = Expectation{};
    CHECK(execute(s).status == "passed");
}
