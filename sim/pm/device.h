// A device as the PM core sees it (Linux `struct device` + dev_pm_ops): a name
// in the device graph and callbacks run as timed code on a CPU.
#pragma once

#include <functional>
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

// A device whose callbacks one function dispatches (a disk's sd callbacks,
// a USB device's usb_dev_pm_ops): the driver's own `pm(cb, cpu)`.
class DispatchPmDevice : public PmDevice {
public:
    using Dispatch = std::function<int(const std::string& cb, Cpu& cpu)>;
    DispatchPmDevice(std::string name, std::string track, Dispatch dispatch)
        : PmDevice(std::move(name)), track_(std::move(track)), dispatch_(std::move(dispatch)) {}
    std::string track() const override { return track_; }
    int callback(const std::string& cb, Cpu& cpu) override { return dispatch_(cb, cpu); }

private:
    std::string track_;
    Dispatch dispatch_;
};

}  // namespace quiesce
