// Issue 21 item 2: interrupts are seen on clock edges, fixed waits end on
// the component's own clock, and a bus transaction takes effect when it
// completes (and not at all if power is removed while it is in flight). The interrupt controller's input synchronizer
// delays a line change to the sync_cycles-th edge of its clock after the
// change (a change exactly on an edge misses that edge); IRR and delivery
// follow the synchronized level. Component::wait_time ends on the first edge
// of the component's clock at or after the delay. In a whole run every
// assert and deassert of the controller lies on an edge of its clock.
#include "child.h"

#include "models/cpu/intc.h"
#include "sim/core/memory.h"
#include "sim/core/module.h"
#include "sim/scenario/executor.h"
#include "sim/scenario/scenario.h"

#include <fmt/format.h>
#include <tlm_utils/simple_initiator_socket.h>

using namespace quiesce;
using quiesce::test::Facts;

namespace {

constexpr Picos kNs = 1000;

// Nothing reads the controller's registers over the bus here; its target
// socket still needs an initiator bound to it.
struct Unused : sc_core::sc_module {
    tlm_utils::simple_initiator_socket<Unused> socket{"socket"};
    explicit Unused(const sc_core::sc_module_name& n) : sc_core::sc_module(n) {}
};

// A 100 MHz controller (edges every 10 ns); `program` runs in a thread and
// drives its inputs. Every assert/deassert instant is collected as "name@ns".
Facts with_intc(int64_t sync_cycles, const std::function<void(InterruptController&, Facts&)>& program) {
    return quiesce::test::in_child([&](Facts& f) {
        RunContext ctx(1);
        ClockDomain clk("pic", 100'000'000);
        InterruptController intc("intc", ctx, clk);
        Unused bus("bus");
        bus.socket.bind(intc.socket);
        intc.props().set("sync_cycles", PropValue(sync_cycles));
        std::string seen;
        ctx.hub.subscribe(kind_bit(EvKind::Instant), [&](const Event& e) {
            if (e.track == intc.path()) seen += fmt::format("{}{}@{} ", e.name, arg_value(e, "irq"), e.ts / kNs);
        });
        sc_core::sc_spawn([&] { program(intc, f); });
        sc_core::sc_start();
        f["seen"] = seen;
    });
}

void wait_until(Picos t) { sc_core::wait(from_ps(t - now_ps())); }

// A component on a 32768 Hz clock (the RTC's): edges are not whole
// nanoseconds apart, so the edge a delay ends on is not the delay itself.
struct SlowClockDevice : Component {
    SlowClockDevice(const sc_core::sc_module_name& n, RunContext& ctx, const ClockDomain& clk) : Component(n, ctx, clk) {}
};

}  // namespace

TEST_CASE("clock edges: an input change reaches the controller on its second clock edge, not at once", "[clock-edges]") {
    Facts f = with_intc(2, [](InterruptController& intc, Facts& f) {
        wait_until(13 * kNs);  // between edges 1 (10 ns) and 2 (20 ns)
        intc.set_input(5, true);
        f["at_change"] = fmt::format("{} {}", intc.asserted(5), intc.pending());
        wait_until(29 * kNs);
        f["before_edge3"] = fmt::format("{} {}", intc.asserted(5), intc.pending());
        wait_until(30 * kNs);
        sc_core::wait(sc_core::SC_ZERO_TIME);  // the synchronizer's edge has been applied
        f["at_edge3"] = fmt::format("{} {}", intc.asserted(5), intc.pending());
        // A change exactly on an edge misses it (setup time): 40 -> seen at 60.
        wait_until(40 * kNs);
        intc.set_input(5, false);
        wait_until(59 * kNs);
        f["deassert_before"] = fmt::format("{}", intc.asserted(5));
        wait_until(61 * kNs);
        f["deassert_after"] = fmt::format("{}", intc.asserted(5));
    });
    CHECK(f["at_change"] == "false -1");
    CHECK(f["before_edge3"] == "false -1");
    CHECK(f["at_edge3"] == "true -1");  // masked at reset: asserted, not pending
    CHECK(f["deassert_before"] == "true");
    CHECK(f["deassert_after"] == "false");
    CHECK(f["seen"] == "assert5@30 deassert5@60 ");
}

TEST_CASE("clock edges: changed() wakes a waiter on the synchronizer's edge, and one flop is one edge", "[clock-edges]") {
    Facts f = with_intc(1, [](InterruptController& intc, Facts& f) {
        intc.regs().reg("IMR").set(0);  // unmask every input
        wait_until(13 * kNs);
        sc_core::sc_spawn([&] {
            while (intc.pending() < 0) sc_core::wait(intc.changed());
            f["delivered"] = fmt::format("{}@{}", intc.pending(), now_ps() / kNs);
        });
        intc.set_input(3, true);
        // Two changes of different lines inside one cycle reach it on the same edge, in order.
        wait_until(15 * kNs);
        intc.set_input(4, true);
        wait_until(100 * kNs);
    });
    CHECK(f["delivered"] == "3@20");
    CHECK(f["seen"] == "assert3@20 assert4@20 ");
}

TEST_CASE("clock edges: a pulse shorter than the synchronizer is still seen, late and in order", "[clock-edges]") {
    Facts f = with_intc(2, [](InterruptController& intc, Facts&) {
        wait_until(11 * kNs);
        intc.set_input(7, true);
        wait_until(12 * kNs);
        intc.set_input(7, false);
        wait_until(100 * kNs);
    });
    CHECK(f["seen"] == "assert7@30 deassert7@30 ");
}

TEST_CASE("clock edges: wait_time ends on the first edge of the component's own clock at or after the delay",
          "[clock-edges]") {
    Facts f = quiesce::test::in_child([](Facts& f) {
        RunContext ctx(1);
        ClockDomain rtc("rtc", 32768), fast("fast", 1'000'000'000);
        SlowClockDevice slow("slow", ctx, rtc), quick("quick", ctx, fast);
        sc_core::sc_spawn([&] {
            slow.wait_time(100'000'000);  // 100 us: 3.2768 cycles -> the edge of cycle 4
            f["slow"] = std::to_string(now_ps());
            f["slow_is_edge"] = std::to_string(rtc.edge_ps(rtc.cycles_at(now_ps())) == now_ps());
        });
        sc_core::sc_spawn([&] {
            quick.wait_time(100'000'000);  // on a 1 GHz clock 100 us is an edge already
            f["quick"] = std::to_string(now_ps());
            sc_core::wait(from_ps(500));  // half a cycle off the edges
            quick.wait_time(3'000);
            f["quick_off_edge"] = std::to_string(now_ps());
        });
        sc_core::sc_start();
    });
    CHECK(f["slow"] == "122070312");  // floor(4 * 1e12 / 32768)
    CHECK(f["slow_is_edge"] == "1");
    CHECK(f["quick"] == "100000000");
    CHECK(f["quick_off_edge"] == "100004000");  // 100000500 + 3000 -> the next edge, 100004000
}

TEST_CASE("clock edges: in a whole storage run every interrupt the controller sees lies on an edge of its clock",
          "[clock-edges]") {
    RunResult r = execute(load_scenario(std::string(QUIESCE_DATA_DIR) + "/regression/s3-storage.toml"));
    const ClockDomain sysbus("sysbus", 500'000'000);  // the controller's clock (sim/scenario/platform.cpp)
    size_t n = 0, on_edge = 0, off_edge = 0;
    for (const auto& e : r.stream.events) {
        if (e.kind != EvKind::Instant || e.track != "intc" || (e.name != "assert" && e.name != "deassert")) continue;
        ++n;
        (sysbus.edge_ps(sysbus.cycles_at(e.ts)) == e.ts ? on_edge : off_edge) += 1;
    }
    CHECK(n > 0);
    CHECK(off_edge == 0);
    CHECK(on_edge == n);
}

namespace {

// An initiator on a 1 GHz clock writing 8 bytes to a 100 MHz DRAM (edges
// every 10 ns, latency_cycles 40, 16 bytes a cycle): the write reaches the
// memory with 3 ns already annotated, waits for the first edge at or after
// the arrival and 41 cycles more, and only then changes the page.
struct Writer : sc_core::sc_module {
    tlm_utils::simple_initiator_socket<Writer> socket{"socket"};
    explicit Writer(const sc_core::sc_module_name& n) : sc_core::sc_module(n) {}
    void write64(uint64_t addr, uint64_t v, Picos annotated) {
        tlm::tlm_generic_payload tx;
        tx.set_command(tlm::TLM_WRITE_COMMAND);
        tx.set_address(addr);
        tx.set_data_ptr(reinterpret_cast<unsigned char*>(&v));
        tx.set_data_length(8);
        tx.set_streaming_width(8);
        sc_core::sc_time delay = from_ps(annotated);
        socket->b_transport(tx, delay);
        if (delay != sc_core::SC_ZERO_TIME) sc_core::wait(delay);
    }
};

Facts write_to_dram(bool power_down_meanwhile) {
    return quiesce::test::in_child([&](Facts& f) {
        RunContext ctx(1);
        ClockDomain dram("dram", 100'000'000);
        PhysicalMemory mem("memory", ctx, dram, 1 << 16);
        Writer w("writer");
        w.socket.bind(mem.socket);
        sc_core::sc_spawn([&] {
            wait_until(13 * kNs);
            w.write64(0x1000, 0x1122334455667788ULL, 3 * kNs);
            f["returned_at"] = std::to_string(now_ps() / kNs);
            f["value"] = fmt::format("{:#x}", mem.peek64(0x1000));
            const PhysicalMemory::PageInfo* info = mem.page_info(1);
            f["last_write"] = info ? std::to_string(info->last_write / kNs) : "none";
        });
        sc_core::sc_spawn([&] {
            wait_until(200 * kNs);  // in the middle of the write
            f["value_midway"] = fmt::format("{:#x}", mem.peek64(0x1000));
            if (power_down_meanwhile) ++ctx.power_downs;
        });
        sc_core::sc_start();
    });
}

}  // namespace

TEST_CASE("clock edges: a write to RAM takes effect when it completes, on the memory's clock", "[clock-edges]") {
    Facts f = write_to_dram(false);
    // Issued at 13 ns with 3 ns of hops: arrives at 16 ns, the DRAM's next
    // edge is 20 ns, then 40 cycles of latency and one beat: 430 ns.
    CHECK(f["value_midway"] == "0x0");
    CHECK(f["returned_at"] == "430");
    CHECK(f["last_write"] == "430");
    CHECK(f["value"] == "0x1122334455667788");
}

TEST_CASE("clock edges: a write in flight when the machine loses power never lands", "[clock-edges]") {
    Facts f = write_to_dram(true);
    CHECK(f["returned_at"] == "430");  // the initiator's time still passes
    CHECK(f["last_write"] == "none");
    CHECK(f["value"] == "0x0");
}
