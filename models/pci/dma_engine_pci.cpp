// PCI glue for the DMA engine: its function, BAR and interrupt.
#include "models/pci/dma_engine_pci.h"

namespace quiesce {

pci::HeaderIdent DmaEnginePci::ident(bool no_soft_reset) {
    pci::HeaderIdent id;
    id.vendor = kVendor;
    id.device = kDevice;
    id.class_code = 0x088000;  // base system peripheral, other
    id.int_pin = 1;
    id.no_soft_reset = no_soft_reset;
    id.bar_size[0] = 4096;
    return id;
}

DmaEnginePci::DmaEnginePci(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
                           bool no_soft_reset)
    : CoreFunction(name, ctx, clock, ident(no_soft_reset), [&](DmaPort port) {
          return std::make_unique<DmaEngine>("core", ctx, clock, std::move(port));
      }) {
    hub().declare_track({path(), "", "device", clock.name(), clock.hz()});
}

}  // namespace quiesce
