// The PCI bus type's PM callbacks (pci_dev_pm_ops, reference/linux-pm.md §4.4)
// wrapped around a driver's callbacks:
//   suspend_noirq  driver first; then, unless the driver saved state itself,
//                  pci_save_state, PME armed for wake devices, D3hot
//   resume_noirq   D0 (with the D3hot delay), pci_restore_state, then driver
//   other phases   the driver's callback only
// A driver that "manages PCI PM itself" (legacy PM) gets no help from the core.
#pragma once

#include "models/pci/pci_core.h"
#include "sim/pm/device.h"

#include <string>

namespace quiesce {

class Cpu;
class Kernel;

class PciDriver {
public:
    virtual ~PciDriver() = default;
    virtual int probe(Cpu& cpu, PciDev& dev) = 0;
    // A dev_pm_ops callback; 0 when the driver has none.
    virtual int pm(const std::string& cb, Cpu& cpu, PciDev& dev) = 0;
    // Legacy PM: the driver saves state and changes power states itself.
    virtual bool manages_pci_pm() const { return false; }
    // save_explicit / restore_explicit (galibert-explicit).
    virtual bool explicit_state() const { return false; }
};

class PciPmDevice : public PmDevice {
public:
    PciPmDevice(std::string name, std::string track, PciCore& core, PciDev& dev, PciDriver* driver,
                bool wake_enabled = false, bool power_manageable = true);

    std::string track() const override { return track_; }
    int callback(const std::string& cb, Cpu& cpu) override;
    // A function without a driver has no state of its own beyond config
    // space, which the PCI core handles in the noirq phases.
    bool explicit_state() const override { return !driver_ || driver_->explicit_state(); }
    PciDev& dev() { return dev_; }

private:
    int suspend_noirq(Cpu& cpu);
    int resume_noirq(Cpu& cpu);

    std::string track_;
    PciCore& core_;
    PciDev& dev_;
    PciDriver* driver_;
    bool wake_enabled_;
    bool power_manageable_;
};

}  // namespace quiesce
