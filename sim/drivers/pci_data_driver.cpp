#include "sim/drivers/pci_data_driver.h"

#include "models/cpu/cpu.h"
#include "sim/kernel/kernel.h"

namespace quiesce {

PciDataDriver::PciDataDriver(std::string name, std::string track, Kernel& kernel, PciCore& core,
                             DriverProgram program)
    : name_(std::move(name)), track_(std::move(track)), kernel_(kernel), core_(core),
      runner_(std::move(program), *this, kernel) {}

int PciDataDriver::pm(const std::string& cb, Cpu& cpu, PciDev&) { return runner_.run(cb, cpu); }

void PciDataDriver::request_irq(Cpu& cpu) {
    if (dev_ && dev_->irq != 0xff) kernel_.request_irq(cpu, dev_->irq, name_, [this](Cpu& c) { return irq(c); });
}

void PciDataDriver::free_irq(Cpu& cpu) {
    if (dev_ && dev_->irq != 0xff) kernel_.free_irq(dev_->irq, name_);
    cpu.compute(Cycles(500));
}

}  // namespace quiesce
