// The PCI bus type's PM callbacks: config space saved and restored, D-state changes and their delays.
#include "sim/drivers/pci_pm.h"

#include "models/cpu/cpu.h"
#include "sim/pm/pm_ids.h"
#include "sim/pm/runtime.h"

namespace quiesce {

PciPmDevice::PciPmDevice(std::string name, std::string track, PciCore& core, PciDev& dev, PciDriver* driver,
                         bool wake_enabled, bool power_manageable)
    : PmDevice(std::move(name)), track_(std::move(track)), core_(core), dev_(dev), driver_(driver),
      wake_enabled_(wake_enabled), power_manageable_(power_manageable) {}

int PciPmDevice::callback(const std::string& cb, Cpu& cpu) {
    using C = PmCallback;
    const PmCallback id = pm_callback_of(cb);  // one lookup, not a compare per case
    if (id == C::SaveState) {
        // linus2006: hardware state now, while the system runs - config
        // space by the core (unless the driver manages PCI PM), the rest
        // by the driver. suspend_noirq will not save again.
        if (!(driver_ && driver_->manages_pci_pm())) core_.save_state(cpu, dev_);
        return driver_ ? driver_->pm(cb, cpu, dev_) : 0;
    }
    if (id == C::RuntimeSuspend) return runtime_suspend(cpu);
    if (id == C::RuntimeResume) return runtime_resume(cpu);
    const bool rpm_suspended = rpm_dev_ && rpm_->suspended(*rpm_dev_);
    if (id == C::Prepare) {
        // pci_pm_prepare: a function runtime-suspended in D3hot that need not
        // be reconfigured for sleep may stay as it is (direct-complete).
        const int rc = driver_pm(cb, cpu);
        if (rc < 0) return rc;
        // (pci_dev_need_resume reads the cached current_state: a bridge in
        // D3hot above it may not forward config cycles.)
        return rpm_suspended && !wake_enabled_ && runtime_d3_ ? 1 : rc;
    }
    if ((id == C::Suspend || id == C::Freeze || id == C::Poweroff) && rpm_suspended &&
        !(rpm_->dpm_flags(*rpm_dev_) & kDpmSmartSuspend))
        rpm_->resume(*rpm_dev_, cpu, 0);  // pm_runtime_resume: reconfigure it for the sleep
    if (id == C::Complete) {
        const int rc = driver_pm(cb, cpu);
        // pci_pm_complete: left runtime-suspended, but the sleep powered it
        // up (pci_refresh_power_state reads D0 after a power-on reset; all
        // ones, behind a bridge that lost its bus numbers, reads as D3cold):
        // resume it, asynchronously.
        if (rpm_suspended) {
            const uint16_t pmcsr = cfg_pmcsr(cpu);
            if (pmcsr != 0xffff && (pmcsr & 3) == 0) rpm_->resume(*rpm_dev_, cpu, RuntimePm::kAsync);
        }
        return rc;
    }
    if (id == C::SuspendNoirq || id == C::PoweroffNoirq) return suspend_noirq(cpu);
    if (id == C::ResumeNoirq || id == C::RestoreNoirq) return resume_noirq(cpu);
    if (id == C::FreezeNoirq) {
        int rc = driver_ ? driver_->pm(cb, cpu, dev_) : 0;
        if (rc == 0 && !dev_.state_saved && !(driver_ && driver_->manages_pci_pm())) core_.save_state(cpu, dev_);
        return rc;
    }
    if ((id == C::Resume || id == C::Restore) && dev_.state_saved) {
        // pci_pm_resume: the suspend error path reaches resume without
        // resume_noirq having restored the standard config registers.
        if (power_manageable_) core_.set_power_state(cpu, dev_, DState::D0);
        core_.restore_state(cpu, dev_);
    }
    return driver_ ? driver_->pm(cb, cpu, dev_) : 0;
}

int PciPmDevice::suspend_noirq(Cpu& cpu) {
    const bool saved_before = dev_.state_saved;
    int rc = driver_ ? driver_->pm("suspend_noirq", cpu, dev_) : 0;
    if (rc != 0 || (driver_ && driver_->manages_pci_pm())) return rc;
    // pci_pm_suspend_noirq: a driver that saved config space itself
    // (pci_save_state in its noirq callback) keeps charge of the power
    // state - the core neither saves nor lowers it (a device that must stay
    // on, as an IRQF_NO_SUSPEND user's).
    if (dev_.state_saved && !saved_before) return 0;
    if (!dev_.state_saved) core_.save_state(cpu, dev_);
    if (!power_manageable_) return 0;
    if (wake_enabled_) core_.set_pme(cpu, dev_, true);
    return core_.set_power_state(cpu, dev_, DState::D3hot);
}

uint16_t PciPmDevice::cfg_pmcsr(Cpu& cpu) { return uint16_t(core_.cfg_read(cpu, dev_, pci::PMCSR, 2)); }

int PciPmDevice::runtime_suspend(Cpu& cpu) {
    dev_.state_saved = false;
    const int rc = driver_pm("runtime_suspend", cpu);
    if (rc != 0 || (driver_ && driver_->manages_pci_pm())) return rc;
    if (!dev_.state_saved) core_.save_state(cpu, dev_);
    if (!power_manageable_) return 0;
    if (wake_enabled_) core_.set_pme(cpu, dev_, true);
    const int set = core_.set_power_state(cpu, dev_, DState::D3hot);  // pci_finish_runtime_suspend
    runtime_d3_ = set == 0;
    return set;
}

int PciPmDevice::runtime_resume(Cpu& cpu) {
    runtime_d3_ = false;
    if (!(driver_ && driver_->manages_pci_pm())) {  // pci_pm_default_resume_early
        if (power_manageable_) core_.set_power_state(cpu, dev_, DState::D0);
        core_.restore_state(cpu, dev_);
        if (wake_enabled_) core_.set_pme(cpu, dev_, false);
    }
    return driver_pm("runtime_resume", cpu);
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
