// PCI glue for the xHCI core: a type-0 function (class 0c0330, USB xHCI) with
// one 64 KiB memory BAR and INTA#. A function reset (power-on, D3hot->D0
// without No_Soft_Reset) resets the core; power kept on auxiliary power
// (a wake-armed function in S3) keeps its Save State area.
#pragma once

#include "models/pci/function.h"
#include "models/usb/xhci.h"

#include <memory>

namespace quiesce {

class XhciPci : public PciFunction {
public:
    static constexpr uint16_t kVendor = 0x1b36, kDevice = 0x000d;  // QEMU's qemu-xhci IDs

    XhciPci(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, bool no_soft_reset);

    XhciCore& core() { return *core_; }
    const XhciCore& core() const { return *core_; }

protected:
    void bar_access(unsigned bar, uint64_t offset, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) override;
    void function_reset() override;

private:
    static pci::HeaderIdent ident(bool no_soft_reset);
    std::unique_ptr<XhciCore> core_;
};

}  // namespace quiesce
