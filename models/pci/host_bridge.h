// The PCI host bridge (00:00.0): the ECAM configuration window, the PCI memory
// window, the path of bus-master accesses to system memory, and the chipset's
// legacy INTx routing: four PIRQ route registers (hardware state held by the
// chipset, lost in S3 unless firmware restores it) that map PIRQA..D to
// platform IRQs on the interrupt controller.
#pragma once

#include "models/cpu/intc.h"
#include "models/pci/bus.h"
#include "models/pci/function.h"
#include "sim/core/bus.h"
#include "sim/core/target_socket.h"

#include <tlm_utils/simple_initiator_socket.h>

#include <map>

namespace quiesce {

class PciHostBridge : public PciFunction {
public:
    static constexpr uint32_t PIRQ_ROUT = 0x60;  // PIRQA..D at 0x60..0x63
    static constexpr uint8_t ROUT_DISABLE = 0x80;

    PciHostBridge(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
                  InterruptController& intc);

    TargetSocket<PciHostBridge> ecam_socket;   // offsets into the ECAM window
    TargetSocket<PciHostBridge> mmio_socket;   // full addresses in the PCI window
    tlm_utils::simple_initiator_socket<PciHostBridge> dma_socket; // towards system memory

    PciBus& root_bus() { return root_; }
    // The system bus dma_socket is bound to: a bus-master access wholly inside
    // the RAM it grants takes the bus's direct path (SystemBus::direct_access),
    // the same hop, latency, page versions, write observers and events.
    void attach_bus(SystemBus& bus) {
        sysbus_ = &bus;
        ram_ = bus.direct_grant(0);
    }
    bool dma_to_memory(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    // Whether a bus-master access of [addr, addr + len) takes the direct
    // path, and that path: this bridge's latency, then the system bus's
    // direct access (dma_to_memory's, for a caller with no payload).
    bool ram_covers(uint64_t addr, unsigned len) const { return ram_.covers(addr, len); }
    void ram_access(bool write, uint64_t addr, unsigned char* data, unsigned len, const std::string& initiator,
                    sc_core::sc_time& delay);
    // INTx of `source` arriving on PIRQ line `pirq` (0..3).
    void set_pirq_source(const void* source, unsigned pirq, bool level);
    // Platform IRQ a PIRQ line is routed to, or -1 when routing is disabled.
    int pirq_irq(unsigned pirq) const;

protected:
    void function_reset() override { update_irqs(); }

private:
    void ecam(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    void window(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    void update_irqs();

    InterruptController& intc_;
    PciBus root_;
    SystemBus* sysbus_ = nullptr;
    SystemBus::DirectGrant ram_;  // where the direct path applies
    const Register* pirq_rout_[4] = {};         // PIRQA..D_ROUT, held (pirq_irq reads one per interrupt edge)
    std::map<const void*, unsigned> asserted_;  // source -> pirq, while asserted
    uint32_t driven_ = 0;                       // platform IRQs we currently drive
};

}  // namespace quiesce
