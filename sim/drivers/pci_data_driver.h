// What every PCI driver whose power management is a driver file shares: the
// DriverHost side of a PCI function - its name and track, the PCI core, its
// interrupt line and handler - and the DriverRunner that runs the file's
// callbacks as its dev_pm_ops.
#pragma once

#include "sim/drivers/interpreter.h"
#include "sim/core/sync.h"
#include "sim/drivers/pci_pm.h"

#include <string>

namespace quiesce {

class Kernel;

// A driver's queue lock (spin_lock_irqsave around its ring), between the
// simulation's threads: who holds it runs to unlock() before another gets it.
class QueueLock {
public:
    void lock() {
        while (locked_) quiesce::wait(unlocked_);
        locked_ = true;
    }
    void unlock() {
        locked_ = false;
        quiesce::notify(unlocked_, sc_core::SC_ZERO_TIME);
    }

private:
    bool locked_ = false;
    sc_core::sc_event unlocked_;
};

class PciDataDriver : public PciDriver, public DriverHost {
public:
    PciDataDriver(std::string name, std::string track, Kernel& kernel, PciCore& core, SharedProgram program);

    int pm(const std::string& cb, Cpu& cpu, PciDev& dev) override;
    bool manages_pci_pm() const override { return runner_.program().legacy_pm; }
    const DriverRunner& runner() const { return runner_; }
    void set_runtime(RuntimePm* rpm) { runner_.set_runtime(rpm); }

    // DriverHost.
    const std::string& device_name() const override { return name_; }
    std::string track() const override { return track_; }
    PciCore* pci_core() override { return &core_; }
    PciDev* pci_dev() override { return dev_; }
    unsigned irq_line() const override { return dev_ ? dev_->irq : 0xff; }
    // request_irq with irq() as the handler; free_irq.
    void request_irq(Cpu& cpu) override;
    void free_irq(Cpu& cpu) override;

protected:
    // The interrupt handler: true when the interrupt was the device's.
    virtual bool irq(Cpu& cpu) = 0;
    bool suspended_irq(Cpu& cpu);

    std::string name_;
    std::string track_;
    Kernel& kernel_;
    PciCore& core_;
    DriverRunner runner_;
    PciDev* dev_ = nullptr;
};

}  // namespace quiesce
