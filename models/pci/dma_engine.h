// A descriptor-ring DMA copy engine: the bus-agnostic core. The driver puts
// 32-byte descriptors {src, dst, len, flags, cookie} in a ring in RAM and
// writes TAIL; the engine fetches each descriptor by DMA, copies `len` bytes in
// bursts, writes DONE back into the descriptor, advances HEAD and raises its
// interrupt. Register state classes:
//   hardware  CTRL, BURST          (configuration only the device holds)
//   driver    RING_BASE, RING_SIZE, TAIL (mirror the ring in memory)
//   volatile  STATUS, HEAD, COMPLETED
#pragma once

#include "sim/core/dma_port.h"
#include "sim/core/irq.h"
#include "sim/core/module.h"

#include <functional>

namespace quiesce {

class DmaEngine : public MmioDevice {
public:
    SC_HAS_PROCESS(DmaEngine);

    // Register offsets (BAR0).
    static constexpr uint32_t ID = 0x00, CTRL = 0x04, STATUS = 0x08, RING_BASE = 0x10, RING_SIZE = 0x18,
                              TAIL = 0x1c, HEAD = 0x20, COMPLETED = 0x24, BURST = 0x28;
    static constexpr uint32_t CTRL_ENABLE = 1u << 0, CTRL_IRQ_EN = 1u << 1, CTRL_FLUSH = 1u << 2;
    static constexpr uint32_t STS_BUSY = 1u << 0, STS_DONE = 1u << 1, STS_ERROR = 1u << 2;
    // Descriptor layout.
    static constexpr unsigned kDescSize = 32;
    static constexpr uint32_t DESC_VALID = 1u << 0, DESC_DONE = 1u << 1, DESC_ERROR = 1u << 2;
    static constexpr uint32_t kIdValue = 0x31414d44;  // "DMA1"

    using Port = DmaPort;  // how the core reaches memory: provided by the bus glue

    DmaEngine(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, Port port);
    // The register bank as data: what the constructor declares, and what a
    // driver file may name.
    static std::vector<RegSpec> register_specs();

    // The completion interrupt (level): DONE or ERROR with IRQ_EN.
    IrqLine irq{"irq"};

    // Internal reset (power-on or D3hot->D0 without No_Soft_Reset).
    void reset();
    bool idle() const;

private:
    void engine();
    bool dma(uint64_t addr, void* buf, unsigned len, bool write) { return port_.transfer(addr, buf, len, write); }
    bool process(uint32_t index, uint64_t generation);
    void update_irq();
    void fail(const std::string& why);

    Port port_;
    // The registers and properties the engine reads per descriptor and per
    // burst, resolved once (issue 18 item 3: no lookup by name per access).
    Register *ctrl_, *status_, *head_, *tail_, *ring_base_, *ring_size_, *burst_, *completed_;
    const int64_t* beat_cycles_;
    const int64_t* flush_cycles_;
    sc_core::sc_event kick_;
    uint64_t generation_ = 0;
    bool flush_ = false;       // CTRL.FLUSH written: DONE once the ring is idle  // bumped by reset(): work in progress is abandoned
};

}  // namespace quiesce
