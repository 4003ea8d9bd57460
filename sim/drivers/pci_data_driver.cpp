// What every PCI driver file runs on: its registers and buffers, the PCI PM glue, its interrupt.
#include "sim/drivers/pci_data_driver.h"

#include "models/cpu/cpu.h"
#include "sim/kernel/kernel.h"

namespace quiesce {

PciDataDriver::PciDataDriver(std::string name, std::string track, Kernel& kernel, PciCore& core,
                             SharedProgram program)
    : name_(std::move(name)), track_(std::move(track)), kernel_(kernel), core_(core),
      runner_(std::move(program), *this, kernel) {}

int PciDataDriver::pm(const std::string& cb, Cpu& cpu, PciDev&) { return runner_.run(cb, cpu); }

void PciDataDriver::request_irq(Cpu& cpu) {
    if (!dev_ || dev_->irq == 0xff) return;
    const unsigned flags = runner_.program().irq_flags;
    kernel_.request_irq(
        cpu, dev_->irq, name_,
        [this, flags](Cpu& c) {
            if ((flags & Kernel::kIrqCondSuspend) && kernel_.device_irqs_suspended()) return suspended_irq(c);
            return irq(c);
        },
        flags);
}

// An IRQF_COND_SUSPEND handler called while its device is suspended (a
// NO_SUSPEND neighbour keeps the line live), as drivers written for it do
// (rtc-at91rm9200, atmel_serial): it touches nothing on the device; one
// armed for wakeup (enable_irq_wake) reports a wakeup - pm_system_wakeup -
// and leaves the event to its resume.
bool PciDataDriver::suspended_irq(Cpu& cpu) {
    const bool wake = kernel_.irq_wake(dev_->irq);
    cpu.compute(Cycles(200));
    kernel_.hub().instant(track_, "irq-while-suspended", "irq",
                          {{"device", name_}, {"irq", std::to_string(dev_->irq)}, {"wakeup", wake ? "yes" : "no"}});
    if (wake) kernel_.pm_wakeup_event("irq " + std::to_string(dev_->irq) + " (" + name_ + ")");
    return false;
}

void PciDataDriver::free_irq(Cpu& cpu) {
    if (dev_ && dev_->irq != 0xff) kernel_.free_irq(dev_->irq, name_);
    cpu.compute(Cycles(500));
}

}  // namespace quiesce
