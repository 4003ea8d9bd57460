// The USB core's side of one device on a root-hub port, over the xHCI
// driver (drivers/usb/core: hub.c, generic.c, driver.c), with a class
// driver on top: usbhid for a keyboard, usb-storage + sd for a disk. Its
// state lives in kernel memory: the slot, the transfer rings, the input and
// output device contexts, the descriptors it read.
//
// - probe (hub_port_init + usb_new_device): port reset, Enable Slot, the
//   output context in DCBAA[slot], Address Device, GET_DESCRIPTOR (device,
//   serial string, configuration), SET_CONFIGURATION, Configure Endpoint for
//   the data endpoints, then the class driver binds.
// - Its power management is data: the driver file scenarios/drivers/usb.toml
//   (usb_port_suspend, usb_port_resume), run by a DriverRunner on this
//   class's primitives - the commands it may name:
//     is-configured / is-suspended  1 or 0 (a step's `when = "rc == 1"`)
//     enable-remote-wakeup   SET_FEATURE(DEVICE_REMOTE_WAKEUP) when the
//                            device may wake the system (-EBUSY if refused)
//     disable-remote-wakeup  CLEAR_FEATURE(DEVICE_REMOTE_WAKEUP), likewise
//     stop-endpoints         Stop Endpoint for each data endpoint
//     suspend-port           the port to U3 and 10 ms to settle; -EBUSY when
//                            the device signalled resume meanwhile
//     resume-port            the port back to U0 (20 ms of resume signalling)
//     restart-endpoints      the endpoints' doorbells: queued TDs run again
//     mark-suspended / mark-configured  the device's state in memory
//     class-resume           the class driver's resume (usbhid resubmits)
//     port-connected         1 when the root-hub port shows a device (PORTSC
//                            CCS), 0 when it was unplugged meanwhile
//                            (check_port_resume_type's "still present?")
//     disconnect             the device is gone (hub_port_logical_disconnect,
//                            then usb_disconnect): the class driver's
//                            disconnect (the disk dead, every request and
//                            handle to it failing) and its slot disabled
//     session-lost           1 when the controller was reinitialized (power
//                            lost, or hibernation) or the port is disabled
//     reset-resume           the power session is over: with persist
//                            (power/persist, Linux's default) the port
//                            reset, the device addressed again and its
//                            descriptors compared with the ones it had - the
//                            same device is kept; a different one, or any
//                            device without persist, is disconnected (its
//                            class driver unbinds for good) and enumerated as
//                            a new device
#pragma once

#include "sim/drivers/interpreter.h"

#include "sim/kernel/block.h"
#include "sim/pm/device.h"

#include <systemc>

#include <cstdint>
#include <string>

namespace quiesce {

class Cpu;
class Kernel;
class XhciDriver;

class UsbDeviceDriver : public DriverHost {
public:
    UsbDeviceDriver(std::string name, Kernel& kernel, XhciDriver& hcd, unsigned port, bool persist, bool wakeup,
                    SharedProgram program);
    virtual ~UsbDeviceDriver() = default;

    const std::string& name() const { return name_; }
    int probe(Cpu& cpu);
    // usb_dev_pm_ops of the device.
    int pm(const std::string& cb, Cpu& cpu) { return d_ ? runner_.run(cb, cpu) : 0; }
    const DriverRunner& runner() const { return runner_; }
    unsigned slot(Cpu& cpu) const;

    // DriverHost.
    const std::string& device_name() const override { return name_; }
    int command(Cpu& cpu, const std::string& name, DriverRunner& runner) override;
    const sc_core::sc_event& irq_event() const override { return never_; }

protected:
    static constexpr unsigned kMaxEndpoints = 2;
    struct Endpoint {
        uint8_t address = 0, type = 0;  // type: 2 bulk, 3 interrupt
        unsigned mps = 0, interval = 0;
    };
    // The class driver, once the device is configured (at probe, after a
    // reset-resume, and for the new device after a disconnect).
    virtual int bind(Cpu& cpu, bool again) = 0;
    // The device is gone (unplugged, or not the same after a lost session).
    virtual void disconnected(Cpu&) {}
    // The device runs again after its port resumed.
    virtual void resumed(Cpu&) {}
    // The device is gone: the handles processes hold to what the class
    // driver made of it (a disk) are revoked; how many.
    virtual unsigned revoke_class_handles() { return 0; }

    int request(Cpu& cpu, uint8_t type, uint8_t req, uint16_t value, uint16_t index, uint16_t length,
                unsigned* actual = nullptr);
    Endpoint endpoint(Cpu& cpu, unsigned i) const;
    unsigned endpoints(Cpu& cpu) const;
    uint64_t ring(Cpu& cpu, unsigned i) const;
    static unsigned dci(uint8_t address) { return unsigned(address & 0x0f) * 2 + ((address & 0x80) ? 1 : 0); }
    uint64_t buffer(Cpu& cpu) const;  // 256 bytes for control transfers

    std::string name_;
    Kernel& kernel_;
    XhciDriver& hcd_;
    unsigned port_;
    bool persist_, wakeup_;
    uint64_t d_ = 0;
    DriverRunner runner_;
    sc_core::sc_event never_;

private:
    static constexpr uint64_t F_SLOT = 0, F_GEN = 4, F_EP0 = 8, F_IN_CTX = 24, F_OUT_CTX = 32, F_BUF = 40,
                              F_DESC = 64, F_SERIAL = 96, F_STATE = 160, F_NEPS = 164, F_SERIAL_LEN = 176,
                              F_EPS = 192;  // kMaxEndpoints x {address, type, mps, interval, ring (8)}
    static constexpr unsigned kEpEntry = 24;
    enum State : uint32_t { None = 0, Configured = 1, Suspended = 2 };

    int enumerate(Cpu& cpu, bool verify);
    int configure(Cpu& cpu);
    int reset_resume(Cpu& cpu);
    int disconnect(Cpu& cpu);
    bool controller_has_slot(Cpu& cpu) const;
    int free_slot(Cpu& cpu);
    void restart_endpoints(Cpu& cpu);
};

// usbhid with a boot keyboard: one report TD always queued on the interrupt
// IN endpoint, resubmitted from its completion; each report with a key down
// is an `input-key` instant.
class UsbHidDriver : public UsbDeviceDriver {
public:
    using UsbDeviceDriver::UsbDeviceDriver;
    // Reports with a key down the driver received (zero-time).
    uint64_t keys(Cpu& cpu) const;

protected:
    int bind(Cpu& cpu, bool again) override;

private:
    void submit_report(Cpu& cpu);
    uint64_t hid_ = 0;  // {-, keys (8), report buffer (64)}
};

// usb-storage (Bulk-Only Transport) and sd over it: the disk is a block
// device (`disk_name`, e.g. sdb) on which the swap area and a filesystem
// can live. Each request is a CBW on bulk OUT, the data stage, and the CSW
// on bulk IN, one after the other (usb_stor_Bulk_transport); READ(10),
// WRITE(10) with FUA when the disk caches, SYNCHRONIZE CACHE(10) for a
// flush. At probe: INQUIRY, TEST UNIT READY, READ CAPACITY(10) and MODE
// SENSE(6) of the caching page: WCE says whether the disk has a write cache
// (without one the block layer sends no flush and no FUA, and every write
// counts as durable when acknowledged).
//
// PM of the disk (sd, a child of the USB device in the device graph) is
// data: the driver file sd.toml, as for a SATA disk - Linux runs the same
// sd. What differs is the device under it: usb-storage does not set
// manage_system_start_stop, so `standby` and `revalidate` do nothing (sd
// neither spins a USB disk down nor revalidates it on resume), and
// `flush-cache` is SYNCHRONIZE CACHE(10) through BOT. A disconnected
// device's disk is dead: every request fails with -ENODEV (the new device
// is another disk), and its PM steps do nothing.
class UsbStorageDriver : public UsbDeviceDriver, public BlockDevice {
public:
    UsbStorageDriver(std::string name, std::string disk, Kernel& kernel, XhciDriver& hcd, unsigned port,
                     bool persist, SharedProgram usb, SharedProgram sd);

    const std::string& disk_name() const override { return disk_; }
    unsigned sector_size() const override { return sector_size_; }
    uint64_t capacity() const override { return capacity_; }
    int submit(Cpu& cpu, const BlockRequest& req) override;
    int flush(Cpu& cpu) override;
    void set_observer(BlockObserver o) { observer_ = std::move(o); }
    bool write_cache_enabled() const { return write_cache_; }
    bool dead(Cpu& cpu) const;
    // Where the disk's dead flag lives in kernel memory (0 before bind): the
    // checker peeks it in zero time.
    uint64_t dead_flag() const { return s_ ? s_ + S_DEAD : 0; }
    // The disk's PM callbacks (sd).
    int disk_pm(const std::string& cb, Cpu& cpu) { return s_ ? sd_runner_.run(cb, cpu) : 0; }
    const DriverRunner& disk_runner() const { return sd_runner_; }

protected:
    int bind(Cpu& cpu, bool again) override;
    void disconnected(Cpu& cpu) override;
    unsigned revoke_class_handles() override;

private:
    static constexpr uint64_t S_CBW = 0, S_CSW = 64, S_DATA = 128, S_TAG = 384, S_BLOCKED = 388, S_DEAD = 392,
                              S_DONE = 396, S_CC = 400, S_ACTUAL = 404;
    // One SCSI command through BOT: 0, -EIO (CHECK CONDITION or a transport
    // error), -ENODEV (dead), -ETIMEDOUT.
    int scsi(Cpu& cpu, const uint8_t* cdb, unsigned cdb_len, uint64_t buf, uint32_t len, bool in);
    int bulk(Cpu& cpu, uint8_t ep, uint64_t buf, unsigned len, unsigned& actual);
    bool blocked(Cpu& cpu) const;

    std::string disk_;
    uint64_t s_ = 0;
    unsigned sector_size_ = 512;
    uint64_t capacity_ = 0;
    bool write_cache_ = false;
    uint8_t ep_in_ = 0, ep_out_ = 0;
    unsigned busy_ = 0;          // commands in flight or waiting for the device
    bool in_command_ = false;    // a command owns the device (CBW to CSW)
    sc_core::sc_event done_, unblocked_;
    BlockObserver observer_;

    // The disk's DriverHost: its queue and its SCSI commands.
    class Disk : public DriverHost {
    public:
        explicit Disk(UsbStorageDriver& dev) : dev_(dev) {}
        const std::string& device_name() const override { return dev_.disk_; }
        void queue_stop(Cpu& cpu) override;
        void queue_start(Cpu& cpu) override;
        bool drained(Cpu&) override { return dev_.busy_ == 0; }
        int command(Cpu& cpu, const std::string& name, DriverRunner& runner) override;
        const sc_core::sc_event& irq_event() const override { return dev_.done_; }

    private:
        UsbStorageDriver& dev_;
    };
    Disk disk_host_;
    DriverRunner sd_runner_;
};

}  // namespace quiesce
