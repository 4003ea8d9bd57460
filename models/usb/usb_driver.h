// The USB core's side of one device on a root-hub port, over the xHCI
// driver (drivers/usb/core/hub.c, generic.c, driver.c; usbhid for the
// keyboard). Its state lives in kernel memory: the slot, the transfer
// rings, the input and output device contexts, the descriptors it read.
//
// - probe (hub_port_init + usb_new_device): port reset, Enable Slot, the
//   output context in DCBAA[slot], Address Device, GET_DESCRIPTOR (device,
//   serial string, configuration), SET_CONFIGURATION, Configure Endpoint for
//   the interrupt IN endpoint; usbhid sends SET_IDLE and keeps one report TD
//   queued (resubmitted from its completion).
// - suspend/freeze/poweroff (usb_port_suspend): SET_FEATURE
//   (DEVICE_REMOTE_WAKEUP) when the device may wake the system, Stop
//   Endpoint, the port to U3.
// - resume/thaw/restore (usb_port_resume): when the controller kept its
//   state, the port back to U0 (20 ms of resume signalling), CLEAR_FEATURE,
//   the endpoint's doorbell. When the controller was reinitialized (power
//   lost, or hibernation) the power session is over: with persist
//   (power/persist, Linux's default) a reset-resume - the port reset, the
//   device addressed again and its descriptors compared with the ones it
//   had (the same device is kept, a different one is disconnected); without
//   persist the device is disconnected and enumerated as a new one.
#pragma once

#include "sim/pm/device.h"

#include <cstdint>
#include <string>

namespace quiesce {

class Cpu;
class Kernel;
class XhciDriver;

class UsbDeviceDriver {
public:
    UsbDeviceDriver(std::string name, Kernel& kernel, XhciDriver& hcd, unsigned port, bool persist, bool wakeup);

    const std::string& name() const { return name_; }
    int probe(Cpu& cpu);
    int pm(const std::string& cb, Cpu& cpu);
    // HID reports with a key down the driver received (zero-time).
    uint64_t keys(Cpu& cpu) const;
    unsigned slot(Cpu& cpu) const;

private:
    static constexpr uint64_t F_SLOT = 0, F_GEN = 4, F_EP0 = 8, F_INT = 16, F_IN_CTX = 24, F_OUT_CTX = 32,
                              F_BUF = 40, F_REPORT = 48, F_KEYS = 56, F_DESC = 64, F_SERIAL = 96, F_STATE = 160,
                              F_EP = 164, F_MPS = 168, F_INTERVAL = 172, F_SERIAL_LEN = 176;
    enum State : uint32_t { None = 0, Configured = 1, Suspended = 2, Gone = 3 };

    // hub_port_init: reset, slot, address, descriptors; `verify` compares
    // them with the ones recorded (usb_reset_and_verify_device).
    int enumerate(Cpu& cpu, bool verify);
    int configure(Cpu& cpu);
    int suspend(Cpu& cpu);
    int resume(Cpu& cpu);
    int reset_resume(Cpu& cpu);
    void submit_report(Cpu& cpu);
    int request(Cpu& cpu, uint8_t type, uint8_t req, uint16_t value, uint16_t index, uint16_t length,
                unsigned* actual = nullptr);
    unsigned dci() const;

    std::string name_;
    Kernel& kernel_;
    XhciDriver& hcd_;
    unsigned port_;
    bool persist_, wakeup_;
    uint64_t d_ = 0;
    uint8_t ep_ = 0;
};

class UsbPmDevice : public PmDevice {
public:
    UsbPmDevice(std::string name, std::string track, UsbDeviceDriver& drv)
        : PmDevice(std::move(name)), track_(std::move(track)), drv_(drv) {}
    std::string track() const override { return track_; }
    int callback(const std::string& cb, Cpu& cpu) override { return drv_.pm(cb, cpu); }

private:
    std::string track_;
    UsbDeviceDriver& drv_;
};

}  // namespace quiesce
