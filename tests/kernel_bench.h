// The smallest system a kernel runs on: 1 MiB of memory and one CPU. The
// body runs as the kernel's program in a forked child; it gets the run
// context too (for the event hub).
#pragma once

#include "child.h"

#include "models/cpu/cpu.h"
#include "sim/core/memory.h"
#include "sim/kernel/kernel.h"

namespace quiesce::test {

inline Facts with_kernel(const std::function<void(RunContext&, Kernel&, Cpu&, Facts&)>& body) {
    return in_child([&](Facts& f) {
        RunContext ctx(1);
        ClockDomain clk("cpu", 1'000'000'000);
        PhysicalMemory mem("memory", ctx, clk, 1 << 20);
        Cpu cpu("cpu0", ctx, clk, 0);
        cpu.socket.bind(mem.socket);
        Kernel k("kernel", ctx, {&cpu}, 0x10000, 0x10000);
        k.set_program([&](Cpu& c) { body(ctx, k, c, f); });
        sc_core::sc_start();
        f["end_cycles"] = std::to_string(clk.cycles_at(now_ps()).n);
    });
}

}  // namespace quiesce::test
