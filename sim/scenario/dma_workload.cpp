// The DMA workload of a run (sim/scenario/dma_workload.h).
#include "sim/scenario/dma_workload.h"

#include "sim/scenario/platform.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace quiesce {

std::string dma_workload(Platform& p, RunContext& ctx, Cpu& cpu, const Scenario& s, const char* when,
                         DmaBuffers& buffers) {
    ctx.hub.slice_begin(p.kernel().path(), std::string("workload ") + when, "workload");
    std::string problem;
    std::vector<uint8_t> data(s.copy_size), back(s.copy_size);
    for (auto& [name, drv] : p.dma_drivers()) {
        for (unsigned i = 0; i < s.dma_copies && problem.empty(); ++i) {
            if (!buffers.count(name))
                buffers[name] = {p.kernel().alloc(s.copy_size, 64), p.kernel().alloc(s.copy_size, 64)};
            auto [src, dst] = buffers[name];
            ctx.rng.fill_bytes(data.data(), data.size());
            cpu.write_block(src, data.data(), s.copy_size);
            int rc = drv->copy(cpu, src, dst, s.copy_size);
            if (rc != 0) {
                problem = fmt::format("{}: copy {} {} failed with errno {}", name, i, when, -rc);
                break;
            }
            cpu.read_block(dst, back.data(), s.copy_size);
            if (back != data) problem = fmt::format("{}: copy {} {} produced wrong data", name, i, when);
        }
    }
    // A described device with an engine and local memory (a GPU's VRAM):
    // before, the data goes into its local memory; after, it must read back
    // the same. The buffers' first copy_size bytes of host memory hold what
    // was written (the first entry) and what came back (the second).
    for (auto& [name, drv] : p.generic_drivers()) {
        const auto& d = drv->desc();
        if (!d.engine.on || !problem.empty()) continue;
        const uint32_t len = uint32_t(std::min<uint64_t>(s.copy_size, d.local_memory.size));
        if (!buffers.count(name)) buffers[name] = {p.kernel().alloc(len, 64), p.kernel().alloc(len, 64)};
        auto [wrote, back_at] = buffers[name];
        std::vector<uint8_t> expect(len), got(len);
        int rc;
        if (std::string(when) == "before") {
            ctx.rng.fill_bytes(expect.data(), expect.size());
            cpu.write_block(wrote, expect.data(), len);
            rc = drv->transfer(cpu, GenericDeviceDesc::OP_WRITE, wrote, 0, len);
        } else {
            rc = drv->transfer(cpu, GenericDeviceDesc::OP_READ, back_at, 0, len);
            cpu.read_block(wrote, expect.data(), len);
            cpu.read_block(back_at, got.data(), len);
            if (rc == 0 && got != expect) {
                // What the application reads back is not what it wrote, and
                // nothing told it: the transition was not transparent.
                problem = name + ": local memory lost its data across the transition";
                ctx.hub.guest_error(p.kernel().path(), "transparency.diverged", problem, {{"device", name}});
            }
        }
        if (rc != 0) problem = fmt::format("{}: engine command {} failed with errno {}", name, when, -rc);
    }
    for (auto& [name, drv] : p.xhci_drivers())
        for (unsigned i = 0; i < s.usb_commands && problem.empty(); ++i)
            if (int rc = drv->noop(cpu))
                problem = fmt::format("{}: No-Op command {} {} failed with errno {}", name, i, when, -rc);
    ctx.hub.slice_end(p.kernel().path(), std::string("workload ") + when, "workload",
                      {{"result", problem.empty() ? "ok" : problem}});
    return problem;
}

}  // namespace quiesce
