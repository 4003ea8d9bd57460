// PCI glue for the DMA engine: a type-0 function with one 4 KiB memory BAR and
// INTA#, whose core is the bus-agnostic DmaEngine.
#pragma once

#include "models/pci/dma_engine.h"
#include "models/pci/core_function.h"


namespace quiesce {

class DmaEnginePci : public CoreFunction<DmaEngine> {
public:
    static constexpr uint16_t kVendor = 0x1de5, kDevice = 0x0001;

    DmaEnginePci(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
                 bool no_soft_reset);

private:
    static pci::HeaderIdent ident(bool no_soft_reset);
};

}  // namespace quiesce
