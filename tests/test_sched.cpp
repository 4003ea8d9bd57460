// The run queue of each core: one context runs at a time; a long compute is
// preempted at the slice end while others wait; a context that blocks gives
// the core to the next in line; cores run in parallel; a halted task leaves
// its core.
#include "child.h"

#include "models/cpu/cpu.h"
#include "sim/core/bus.h"
#include "sim/core/memory.h"
#include "sim/kernel/kernel.h"

using namespace quiesce;
using quiesce::test::Facts;

namespace {

// Two cores at 1 GHz (a cycle is 1 ns) and a kernel; the body is the
// kernel's program. Every sched_switch is collected as "prev>next:reason".
Facts with_two_cores(int64_t slice_cycles,
                     const std::function<void(Kernel&, Cpu&, Cpu&, Facts&)>& body) {
    return quiesce::test::in_child([&](Facts& f) {
        RunContext ctx(1);
        ClockDomain clk("cpu", 1'000'000'000);
        PhysicalMemory mem("memory", ctx, clk, 1 << 20);
        SystemBus bus("sysbus", ctx, clk);
        bus.map(mem.socket, "ram", 0, 1 << 20, false);
        Cpu a("cpu0", ctx, clk, 0), b("cpu1", ctx, clk, 1);
        a.socket.bind(bus.targ);
        b.socket.bind(bus.targ);
        for (Cpu* c : {&a, &b}) c->props().set("sched_slice_cycles", PropValue(slice_cycles));
        std::map<std::string, std::string> switches;
        ctx.hub.subscribe(kind_bit(EvKind::Instant), [&](const Event& e) {
            if (e.name != "sched_switch") return;
            switches[e.track] += arg_value(e, "prev") + ">" + arg_value(e, "next") + ":" + arg_value(e, "reason") + " ";
        });
        Kernel k("kernel", ctx, {&a, &b}, 0x10000, 0x10000);
        k.set_program([&](Cpu&) { body(k, a, b, f); });
        sc_core::sc_start();
        f["switches_cpu0"] = switches["cpu0"];
        f["switches_cpu1"] = switches["cpu1"];
    });
}

uint64_t now_ns() { return now_ps() / 1000; }

size_t count(const std::string& hay, const std::string& needle) {
    size_t n = 0;
    for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("sched: two tasks on one core share it, preempted at each slice end", "[sched]") {
    Facts f = with_two_cores(1'000, [](Kernel& k, Cpu&, Cpu&, Facts& f) {
        k.spawn("a", Task::Kind::User, true, 1, [&f](Task& t) {
            t.cpu().compute(Cycles(10'000));
            f["a_end"] = std::to_string(now_ns());
        });
        k.spawn("b", Task::Kind::User, true, 1, [&f](Task& t) {
            sc_core::wait(sc_core::sc_time(1, sc_core::SC_NS));  // arrives second
            t.cpu().compute(Cycles(10'000));
            f["b_end"] = std::to_string(now_ns());
        });
        sc_core::wait(sc_core::sc_time(100, sc_core::SC_US));
    });
    // 20,000 cycles of work on one core: round robin in 1,000-cycle slices.
    CHECK(f["a_end"] == "19000");
    CHECK(f["b_end"] == "20000");
    CHECK(count(f["switches_cpu1"], "a>b:preempt") == 10);
    CHECK(count(f["switches_cpu1"], "b>a:preempt") == 9);
    CHECK(f["switches_cpu0"].empty());  // the idle program never computed on cpu0
}

TEST_CASE("sched: a task that blocks gives the core to the next in line at once", "[sched]") {
    Facts f = with_two_cores(1'000'000, [](Kernel& k, Cpu&, Cpu&, Facts& f) {
        k.spawn("sleeper", Task::Kind::User, true, 0, [&f](Task& t) {
            t.cpu().compute(Cycles(1'000));
            sc_core::wait(sc_core::sc_time(10, sc_core::SC_US));  // blocks
            t.cpu().compute(Cycles(1'000));
            f["sleeper_end"] = std::to_string(now_ns());
        });
        k.spawn("worker", Task::Kind::User, true, 0, [&f](Task& t) {
            sc_core::wait(sc_core::sc_time(1, sc_core::SC_NS));
            t.cpu().compute(Cycles(5'000));
            f["worker_end"] = std::to_string(now_ns());
        });
        sc_core::wait(sc_core::sc_time(100, sc_core::SC_US));
    });
    // The worker waits out the sleeper's first 1,000 cycles (no preemption
    // within the slice), then runs while the sleeper sleeps; the sleeper
    // finds the core idle when it wakes.
    CHECK(f["worker_end"] == "6000");
    CHECK(f["sleeper_end"] == "12000");
    CHECK(f["switches_cpu0"] == "idle>sleeper:idle sleeper>worker:blocked worker>sleeper:idle ");
}

TEST_CASE("sched: tasks on two cores run in parallel", "[sched]") {
    Facts f = with_two_cores(1'000, [](Kernel& k, Cpu&, Cpu&, Facts& f) {
        for (unsigned core : {0u, 1u})
            k.spawn("t" + std::to_string(core), Task::Kind::User, true, core, [&f, core](Task& t) {
                t.cpu().compute(Cycles(10'000));
                f["end" + std::to_string(core)] = std::to_string(now_ns());
            });
        sc_core::wait(sc_core::sc_time(100, sc_core::SC_US));
    });
    CHECK(f["end0"] == "10000");
    CHECK(f["end1"] == "10000");
    CHECK(count(f["switches_cpu0"], "preempt") == 0);
}

TEST_CASE("sched: a task halted on its core leaves it to the PM thread, and resumes after", "[sched]") {
    Facts f = with_two_cores(1'000'000, [](Kernel& k, Cpu& boot, Cpu&, Facts& f) {
        k.spawn("hog", Task::Kind::KThread, false, 0, [&f](Task& t) {
            t.cpu().compute(Cycles(500'000));
            f["hog_end"] = std::to_string(now_ns());
        });
        sc_core::wait(sc_core::sc_time(100, sc_core::SC_NS));
        k.halt();  // the atomic section: every task stops where it is
        boot.compute(Cycles(1'000));
        f["pm_end"] = std::to_string(now_ns());
        k.unhalt();
        sc_core::wait(sc_core::sc_time(1, sc_core::SC_MS));
    });
    // The PM thread did not wait for the hog's slice; the hog's own 500,000
    // cycles still ran in full.
    CHECK(f["pm_end"] == "1100");
    CHECK(std::stoull(f["hog_end"]) >= 500'000);
    CHECK(f["switches_cpu0"].find("hog>idle:halted") != std::string::npos);
}
