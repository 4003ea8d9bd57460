// The DMA workload of a run (sim/scenario/run.cpp): copies through every
// DMA engine and generic device, and No-Op commands through every xHCI
// controller, before and after the transition.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace quiesce {

class Cpu;
class Platform;
struct RunContext;
struct Scenario;

// One round of the DMA workload: every engine copies `n` random buffers and
// the data is checked through the CPU. Returns "" or what went wrong.
// The copies through each DMA engine, before and after the transition. Each
// driver gets one pair of buffers, allocated at its first copy and reused:
// the kernel heap does not grow with the number of copies.
using DmaBuffers = std::map<std::string, std::pair<uint64_t, uint64_t>>;
std::string dma_workload(Platform& p, RunContext& ctx, Cpu& cpu, const Scenario& s, const char* when,
                         DmaBuffers& buffers);

}  // namespace quiesce
