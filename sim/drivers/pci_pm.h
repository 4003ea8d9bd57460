// The PCI bus type's PM callbacks (pci_dev_pm_ops, reference/linux-pm.md §4.4)
// wrapped around a driver's callbacks:
//   suspend_noirq  driver first; then, unless the driver saved state itself,
//                  pci_save_state, PME armed for wake devices, D3hot
//   resume_noirq   D0 (with the D3hot delay), pci_restore_state, then driver
//   other phases   the driver's callback only
//   runtime_suspend  pci_pm_runtime_suspend: driver first; unless it saved
//                  state itself, pci_save_state and D3hot (PME armed for
//                  wake devices)
//   runtime_resume   pci_pm_runtime_resume: D0, pci_restore_state, driver
//   prepare          pci_pm_prepare: the driver's; 1 (may stay suspended:
//                  direct-complete) if runtime-suspended in D3hot, not wake
//   suspend, freeze, poweroff  a runtime-suspended function is runtime-
//                  resumed first unless its driver set SMART_SUSPEND
//   complete         pci_pm_complete: the driver's; a function left runtime-
//                  suspended that the sleep powered up (PMCSR reads D0) gets
//                  an async runtime resume (pm_request_resume)
// A driver that "manages PCI PM itself" (legacy PM) gets no help from the core.
#pragma once

#include "models/pci/pci_core.h"
#include "sim/pm/device.h"
#include "sim/pm/runtime.h"

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
    // After every device was added to it: the function's entry is found once.
    void set_runtime(RuntimePm* rpm) {
        rpm_ = rpm;
        rpm_dev_ = rpm ? rpm->find(name()) : nullptr;
    }

private:
    int suspend_noirq(Cpu& cpu);
    int resume_noirq(Cpu& cpu);
    int runtime_suspend(Cpu& cpu);
    int runtime_resume(Cpu& cpu);
    uint16_t cfg_pmcsr(Cpu& cpu);
    int driver_pm(const std::string& cb, Cpu& cpu) { return driver_ ? driver_->pm(cb, cpu, dev_) : 0; }

    std::string track_;
    PciCore& core_;
    PciDev& dev_;
    PciDriver* driver_;
    bool wake_enabled_;
    bool power_manageable_;
    RuntimePm* rpm_ = nullptr;
    RuntimePm::Dev* rpm_dev_ = nullptr;  // its entry in rpm_, nullptr if none
    bool runtime_d3_ = false;  // current_state: the PCI core put it in D3hot at runtime suspend
};

}  // namespace quiesce
