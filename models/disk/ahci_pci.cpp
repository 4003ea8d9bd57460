#include "models/disk/ahci_pci.h"

namespace quiesce {

pci::HeaderIdent AhciPci::ident(bool no_soft_reset) {
    pci::HeaderIdent id;
    id.vendor = kVendor;
    id.device = kDevice;
    id.class_code = 0x010601;  // mass storage, SATA, AHCI 1.0
    id.int_pin = 1;
    id.no_soft_reset = no_soft_reset;
    id.bar_size[kAbar] = 4096;
    return id;
}

AhciPci::AhciPci(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, SataDrive& drive,
                 bool no_soft_reset)
    : PciFunction(name, ctx, clock, ident(no_soft_reset)) {
    Ahci::Port port;
    port.dma = [this](uint64_t addr, void* buf, unsigned len, bool write, sc_core::sc_time& delay) {
        return dma_buffer(addr, buf, len, write, delay);
    };
    core_ = std::make_unique<Ahci>("core", ctx, clock, drive, std::move(port));
    core_->irq.listen([this](bool level) { set_intx(level); });
    hub().declare_track({path(), "", "device", clock.name(), clock.hz()});
}

void AhciPci::bar_access(unsigned, uint64_t offset, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    core_->mmio_access(tx, delay, offset);
}

void AhciPci::function_reset() {
    if (core_) core_->reset();
}

}  // namespace quiesce
