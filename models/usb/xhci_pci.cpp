#include "models/usb/xhci_pci.h"

namespace quiesce {

pci::HeaderIdent XhciPci::ident(bool no_soft_reset) {
    pci::HeaderIdent id;
    id.vendor = kVendor;
    id.device = kDevice;
    id.class_code = 0x0c0330;  // serial bus, USB, xHCI
    id.int_pin = 1;
    id.no_soft_reset = no_soft_reset;
    id.bar_size[0] = 0x10000;
    return id;
}

XhciPci::XhciPci(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, bool no_soft_reset)
    : PciFunction(name, ctx, clock, ident(no_soft_reset)) {
    XhciCore::Port port;
    port.dma = [this](uint64_t addr, void* buf, unsigned len, bool write, sc_core::sc_time& delay) {
        return dma_buffer(addr, buf, len, write, delay);
    };
    core_ = std::make_unique<XhciCore>("core", ctx, clock, std::move(port));
    core_->irq.listen([this](bool level) { set_intx(level); });
}

void XhciPci::bar_access(unsigned, uint64_t offset, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    core_->mmio_access(tx, delay, offset);
}

void XhciPci::function_reset() {
    if (core_) core_->reset(false);
}

}  // namespace quiesce
