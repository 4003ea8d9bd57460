// A PCI-to-PCI bridge (root port): type-1 header with bus numbers and a memory
// window. It forwards configuration and memory accesses downstream and bus-
// master accesses upstream only while it is in D0 with the matching enables:
// in D3hot the secondary bus is unreachable, which is why a bridge must
// suspend after, and resume before, the devices behind it
// (reference/linux-pm.md §2.1).
#pragma once

#include "models/pci/bus.h"
#include "models/pci/function.h"

namespace quiesce {

class PciBridge : public PciFunction {
public:
    PciBridge(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
              const pci::HeaderIdent& ident, PciHostBridge* host);

    PciBus& secondary() { return secondary_; }
    unsigned secondary_number() const { return unsigned(secondary_bus_->value()); }
    unsigned subordinate_number() const { return unsigned(subordinate_bus_->value()); }
    bool window_contains(uint64_t addr) const;

    bool forward_config(unsigned bus, uint8_t devfn, uint32_t reg, tlm::tlm_generic_payload& tx,
                        sc_core::sc_time& delay);
    bool forward_mmio(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    bool forward_dma(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);

private:
    bool forwarding(const char* kind, uint64_t addr);
    PciBus secondary_;
    // The bus numbers and the forwarding window, read on every config and
    // MMIO decode: resolved once.
    const Register* secondary_bus_ = nullptr;
    const Register* subordinate_bus_ = nullptr;
    const Register* mem_base_ = nullptr;
    const Register* mem_limit_ = nullptr;
};

}  // namespace quiesce
