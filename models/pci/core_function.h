// The PCI glue the device models share: a type-0 function whose behaviour
// is a bus-agnostic core (the DMA engine, the AHCI HBA, the xHCI
// controller) behind its memory BAR. The core reaches memory through the
// function (bus mastering: DMA is refused while the function may not master
// the bus), raises INTx through it, and a function reset (power-on,
// D3hot->D0 without No_Soft_Reset) resets it. Each glue adds its identity
// (vendor, class, BAR sizes) and what its core needs to be built.
#pragma once

#include "models/pci/function.h"
#include "sim/core/dma_port.h"

#include <functional>
#include <memory>

namespace quiesce {

template <class Core>
class CoreFunction : public PciFunction {
public:
    Core& core() { return *core_; }
    const Core& core() const { return *core_; }

protected:
    // `make` builds the core around the DMA port this function provides.
    CoreFunction(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
                 const pci::HeaderIdent& ident, const std::function<std::unique_ptr<Core>(DmaPort)>& make)
        : PciFunction(name, ctx, clock, ident) {
        DmaPort port;
        port.dma = [this](uint64_t addr, void* buf, unsigned len, bool write, sc_core::sc_time& delay) {
            return dma_buffer(addr, buf, len, write, delay);
        };
        core_ = make(std::move(port));
        core_->irq.listen([this](bool level) { set_intx(level); });
    }

    void bar_access(unsigned, uint64_t offset, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) override {
        core_->mmio_access(tx, delay, offset);
    }
    void function_reset() override {
        if (core_) core_->reset();
    }

private:
    std::unique_ptr<Core> core_;
};

}  // namespace quiesce
