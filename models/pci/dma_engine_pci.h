// PCI glue for the DMA engine: a type-0 function with one 4 KiB memory BAR and
// INTA#, whose core is the bus-agnostic DmaEngine.
#pragma once

#include "models/pci/dma_engine.h"
#include "models/pci/function.h"

#include <memory>

namespace quiesce {

class DmaEnginePci : public PciFunction {
public:
    static constexpr uint16_t kVendor = 0x1de5, kDevice = 0x0001;

    DmaEnginePci(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
                 bool no_soft_reset);

    DmaEngine& core() { return *core_; }
    const DmaEngine& core() const { return *core_; }

protected:
    void bar_access(unsigned bar, uint64_t offset, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) override;
    void function_reset() override;

private:
    static pci::HeaderIdent ident(bool no_soft_reset);
    std::unique_ptr<DmaEngine> core_;
};

}  // namespace quiesce
