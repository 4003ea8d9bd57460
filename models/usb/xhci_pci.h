// PCI glue for the xHCI core: a type-0 function (class 0c0330, USB xHCI) with
// one 64 KiB memory BAR and INTA#. A function reset (power-on, D3hot->D0
// without No_Soft_Reset) resets the core; power kept on auxiliary power
// (a wake-armed function in S3) keeps its Save State area and its ports'
// power. A remote wakeup while the controller is halted is a PME.
#pragma once

#include "models/pci/core_function.h"
#include "models/usb/xhci.h"


namespace quiesce {

class XhciPci : public CoreFunction<XhciCore> {
public:
    static constexpr uint16_t kVendor = 0x1b36, kDevice = 0x000d;  // QEMU's qemu-xhci IDs

    XhciPci(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, bool no_soft_reset);

protected:
    // D3cold: the ports' VBUS goes with the function's power - every
    // attached device's power session ends.
    void dstate_changed(DState from, DState to) override;
    // The reset that comes with power removed (D3cold, an S3 power-off
    // without auxiliary power) stops a Save State in progress as what it is.
    void function_reset() override;
    // D3hot->D0 without No_Soft_Reset: the core well's reset. A controller
    // with a suspend well (the core's `suspend_well` property) keeps its
    // Save State area and its root-hub ports there.
    void soft_reset() override;

private:
    static pci::HeaderIdent ident(bool no_soft_reset);
};

}  // namespace quiesce
