#include "sim/drivers/pci_pm.h"

#include "models/cpu/cpu.h"

namespace quiesce {

PciPmDevice::PciPmDevice(std::string name, std::string track, PciCore& core, PciDev& dev, PciDriver* driver,
                         bool wake_enabled, bool power_manageable)
    : PmDevice(std::move(name)), track_(std::move(track)), core_(core), dev_(dev), driver_(driver),
      wake_enabled_(wake_enabled), power_manageable_(power_manageable) {}

int PciPmDevice::callback(const std::string& cb, Cpu& cpu) {
    if (cb == "save_state") {
        // linus2006: hardware state now, while the system runs - config
        // space by the core (unless the driver manages PCI PM), the rest
        // by the driver. suspend_noirq will not save again.
        if (!(driver_ && driver_->manages_pci_pm())) core_.save_state(cpu, dev_);
        return driver_ ? driver_->pm(cb, cpu, dev_) : 0;
    }
    if (cb == "suspend_noirq" || cb == "poweroff_noirq") return suspend_noirq(cpu);
    if (cb == "resume_noirq" || cb == "restore_noirq") return resume_noirq(cpu);
    if (cb == "freeze_noirq") {
        int rc = driver_ ? driver_->pm(cb, cpu, dev_) : 0;
        if (rc == 0 && !dev_.state_saved && !(driver_ && driver_->manages_pci_pm())) core_.save_state(cpu, dev_);
        return rc;
    }
    if ((cb == "resume" || cb == "restore") && dev_.state_saved) {
        // pci_pm_resume: the suspend error path reaches resume without
        // resume_noirq having restored the standard config registers.
        if (power_manageable_) core_.set_power_state(cpu, dev_, DState::D0);
        core_.restore_state(cpu, dev_);
    }
    return driver_ ? driver_->pm(cb, cpu, dev_) : 0;
}

int PciPmDevice::suspend_noirq(Cpu& cpu) {
    int rc = driver_ ? driver_->pm("suspend_noirq", cpu, dev_) : 0;
    if (rc != 0 || (driver_ && driver_->manages_pci_pm())) return rc;
    if (!dev_.state_saved) core_.save_state(cpu, dev_);
    if (!power_manageable_) return 0;
    if (wake_enabled_) core_.set_pme(cpu, dev_, true);
    return core_.set_power_state(cpu, dev_, DState::D3hot);
}

int PciPmDevice::resume_noirq(Cpu& cpu) {
    if (!(driver_ && driver_->manages_pci_pm())) {
        if (power_manageable_) core_.set_power_state(cpu, dev_, DState::D0);
        core_.restore_state(cpu, dev_);
        if (wake_enabled_) core_.set_pme(cpu, dev_, false);
    }
    return driver_ ? driver_->pm("resume_noirq", cpu, dev_) : 0;
}

}  // namespace quiesce
