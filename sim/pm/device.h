// A device as the PM core sees it (Linux `struct device` + dev_pm_ops): a name
// in the device graph and callbacks run as timed code on a CPU.
#pragma once

#include <string>

namespace quiesce {

class Cpu;

class PmDevice {
public:
    explicit PmDevice(std::string name) : name_(std::move(name)) {}
    virtual ~PmDevice() = default;

    const std::string& name() const { return name_; }
    // The trace track of the model behind this device.
    virtual std::string track() const = 0;
    // Runs callback `cb` ("prepare", "suspend_noirq", "resume"...) on `cpu`.
    // Returns 0 or a negative errno. A device without that callback returns 0.
    virtual int callback(const std::string& cb, Cpu& cpu) = 0;
    // Whether the device saves and restores its state explicitly
    // (save_explicit / restore_explicit, galibert-explicit). Without it the
    // PM core quiesces it with suspend, brings it back with resume, and
    // counts it as not restored (-EOPNOTSUPP).
    virtual bool explicit_state() const { return false; }

private:
    std::string name_;
};

}  // namespace quiesce
