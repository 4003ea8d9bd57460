// Runs a driver program's callbacks (sim/drivers/program.h) as timed code on
// a CPU: each step is a primitive on the real models - an MMIO access
// through the bus, a PCI core operation, a kernel wait - traced as a `step`
// slice on the device's track. What only the C++ driver knows (its struct in
// memory, its queue, the commands its model offers) it provides through
// DriverHost.
#pragma once

#include "sim/drivers/program.h"
#include "sim/kernel/firmware.h"
#include "sim/pm/runtime.h"

#include <systemc>

#include <map>
#include <string>
#include <vector>

namespace quiesce {

class Cpu;
class Kernel;
class PciCore;
struct PciDev;
class DriverRunner;

class DriverHost {
public:
    virtual ~DriverHost() = default;
    virtual const std::string& device_name() const = 0;
    virtual std::string track() const { return device_name(); }
    // A device with no registers of its own (a disk, a USB device) has none.
    virtual uint64_t mmio_base() const { return 0; }
    // A peer device's MMIO base (a $companion parameter's device), 0 if none.
    virtual uint64_t peer_mmio_base(const std::string& /*peer*/) const { return 0; }
    virtual PciCore* pci_core() { return nullptr; }
    virtual PciDev* pci_dev() { return nullptr; }
    // A driver-state register programmed from the memory it mirrors
    // (validation lets only the target's `rederive` list through).
    virtual int rederive(Cpu& /*cpu*/, const std::string& /*reg*/) { return -22; }  // -EINVAL
    virtual void queue_stop(Cpu& /*cpu*/) {}
    virtual void queue_start(Cpu& /*cpu*/) {}
    // Whether the device's own queue is empty, by the driver's own reckoning.
    virtual bool drained(Cpu& /*cpu*/) { return true; }
    virtual int command(Cpu& cpu, const std::string& name, DriverRunner& runner) = 0;
    // A scenario parameter ([drivers.NAME] companion = "dma1"), "" if unset.
    virtual std::string param(const std::string& /*name*/) const { return ""; }
    virtual uint64_t device_memory_pages() const { return 0; }
    virtual void request_irq(Cpu& /*cpu*/) {}
    virtual void free_irq(Cpu& /*cpu*/) {}
    virtual unsigned irq_line() const { return 0xff; }
    // Notified by the driver's interrupt handler (what wait-irq waits for).
    virtual const sc_core::sc_event& irq_event() const = 0;
};

class DriverRunner {
public:
    DriverRunner(SharedProgram program, DriverHost& host, Kernel& kernel);
    ~DriverRunner();
    DriverRunner(const DriverRunner&) = delete;
    DriverRunner& operator=(const DriverRunner&) = delete;

    // At probe: the driver's save area and variables, in kernel memory.
    void bind();
    // The runtime PM core the rpm-* steps call (the platform sets it after
    // probe, after adding every device to it; without it they fail with
    // -ENODEV). The device's own entry is found once.
    void set_runtime(RuntimePm* rpm) {
        rpm_ = rpm;
        rpm_dev_ = rpm ? rpm->find(host_.device_name()) : nullptr;
    }
    // pm_runtime_active() of its device: what a handler on a shared line
    // checks before it touches the hardware (IRQ_NONE while the device is
    // runtime-suspended or on its way there, already in D3hot).
    bool runtime_active() const;
    const DriverProgram& program() const { return *program_; }
    bool has(const std::string& cb) const { return program_->callback(cb) != nullptr; }
    // Runs a callback's steps; 0 or a negative errno. A callback the program
    // does not define returns 0 at once.
    int run(const std::string& cb, Cpu& cpu);
    // The I/O path's hooks (io_begin before a request touches the device,
    // io_end after it completed), run by the driver's C++ request path from
    // whatever thread submits: on the track DEVICE.io, leaving callback() be.
    int run_io(const std::string& hook, Cpu& cpu);
    // The callback run() is running (a command that does different things
    // after hibernation asks), "" between callbacks.
    const std::string& callback() const { return callback_; }
    // The pages a buffer holds (alloc/free), for commands that use them.
    std::vector<uint64_t>& buffer(const std::string& name) { return buffers_[name]; }
    // The firmware request-firmware holds (until release-firmware), or nullptr.
    const FirmwareStore::Blob* firmware(const std::string& name) const {
        auto it = firmware_.find(name);
        return it == firmware_.end() ? nullptr : &it->second;
    }
    // Where `save` keeps a register in the driver's memory (commands that
    // write saved values, as galibert's explicit restore does).
    uint64_t slot(const std::string& reg) const;
    uint64_t var(Cpu& cpu, const std::string& name);
    void set_var(Cpu& cpu, const std::string& name, uint64_t value);

private:
    struct Frame {
        std::string where;        // callback or work item
        int rc = 0;               // the previous step's result
        int deferred = 0;         // the first error an on_fail = "continue" step kept
    };
    int run_steps(const std::vector<Step>& steps, const std::string& where, Cpu& cpu);
    int exec(const Step& s, Frame& f, Cpu& cpu);
    bool holds(const StepCondition& c, const Frame& f, Cpu& cpu);
    uint64_t reg_base(const Step& s) const;
    const RegSpec& spec(const std::string& reg) const;
    uint64_t read_reg(Cpu& cpu, uint64_t base, const RegSpec& r);
    void write_reg(Cpu& cpu, uint64_t base, const RegSpec& r, uint64_t v);
    int poll(const Step& s, Cpu& cpu, const std::function<bool()>& done);
    void might_sleep(const Step& s, const Frame& f, Cpu& cpu);
    int schedule_work(const std::string& name, Cpu& cpu);
    int flush_work(const Step& s, Cpu& cpu);
    int alloc(const Step& s, Cpu& cpu);
    int runtime_step(const Step& s, Cpu& cpu);

    SharedProgram program_;  // the scenario's, not a copy: a runner writes its count, never a step
    DriverHost& host_;
    Kernel& kernel_;
    const DriverTarget* target_;
    uint64_t save_area_ = 0;  // one 8-byte slot per register of the bank
    uint64_t vars_ = 0;       // one 8-byte slot per variable
    std::map<std::string, unsigned> var_index_;
    std::map<std::string, std::vector<uint64_t>> buffers_;
    std::map<std::string, std::vector<uint64_t>> replaced_buffers_;  // by the last image load
    int state_ = 0;  // the buffers' registration with the kernel's image state
    std::map<std::string, FirmwareStore::Blob> firmware_;
    struct Work {
        bool pending = false;
        sc_core::sc_event done;
    };
    std::map<std::string, Work> work_;
    unsigned work_threads_ = 0;
    unsigned depth_ = 0;  // call nesting
    RuntimePm* rpm_ = nullptr;
    RuntimePm::Dev* rpm_dev_ = nullptr;  // its device's entry in rpm_, nullptr if none
    std::string callback_;
};

}  // namespace quiesce
