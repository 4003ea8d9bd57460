// PCI glue for the xHCI controller: its function, BAR and interrupt.
#include "models/usb/xhci_pci.h"

#include "models/usb/usb_device.h"

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
    : CoreFunction(name, ctx, clock, ident(no_soft_reset), [&](DmaPort port) {
          return std::make_unique<XhciCore>("core", ctx, clock, std::move(port));
      }) {
    core().on_wake = [this] { signal_pme(); };
}

void XhciPci::function_reset() {
    if (!powered()) core().clock_stopped("power removed");
    CoreFunction<XhciCore>::function_reset();
}

void XhciPci::soft_reset() {
    if (core().props().get<int64_t>("suspend_well")) core().reset(true);
    else function_reset();
}

void XhciPci::dstate_changed(DState, DState to) {
    if (to == DState::D3hot) core().clock_stopped("D3hot");
    if (to != DState::D3cold) return;
    for (unsigned p = 0; p < XhciCore::kPorts; ++p)
        if (UsbDevice* dev = core().device(p)) dev->vbus_lost();
}

}  // namespace quiesce
