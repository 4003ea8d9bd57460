// The OS driver of the xHCI controller (drivers/usb/host/xhci.c, trimmed to
// the host controller itself): its state lives in kernel memory - the command
// ring with its enqueue pointer and cycle state, the software dequeue pointer
// that follows the completions, the event ring and ERST - and the registers
// that point into it are driver state.
//
// - probe/init: halt, HCRST, wait for HCRST then CNR to clear (xhci_reset);
//   program CONFIG, DCBAAP, CRCR, ERSTSZ, ERSTBA, ERDP, IMOD, IMAN.IE; R/S
//   and INTE; wait HCH clear.
// - command(): a command TRB through the command ring and doorbell 0,
//   waiting for its Command Completion Event (the interrupt handler walks the
//   event ring, moves ERDP, and follows the controller's dequeue pointer).
// - For the USB devices on the root hub (UsbDeviceDriver): transfer rings,
//   control transfers on EP0 (Setup/Data/Status, waiting for the Status
//   stage's Transfer Event), Normal TDs on data endpoints completed from the
//   interrupt handler, and the root-hub port operations of xhci-hub.c (port
//   reset, link to U3 and back with the 20 ms resume signalling). A Port
//   Status Change Event for a port in Resume is a remote wakeup: a wakeup
//   event for the device on that port.
// - Its power management is data: the driver file scenarios/drivers/xhci.toml
//   (xhci_suspend, xhci_resume as Linux writes them), run by a DriverRunner
//   on this class's primitives. The commands it may name:
//     bus-suspend         xhci_bus_suspend: the root hub stops - a port whose
//                         device signalled resume makes it fail with -EBUSY
//                         (a wakeup is pending); enabled ports still in U0
//                         go to U3, with the wake bits set when the
//                         controller may wake the system
//     clear-command-ring  xhci_clear_command_ring: CRCR holds a 64-byte
//                         aligned pointer only, so the ring starts over at
//                         its base (zeroed, cycle state 1) and CRCR says so
//     reinit              the controller lost its state (power, SRE, or a
//                         restore after hibernation): xhci_reset and
//                         xhci_init with empty rings; every slot is dropped,
//                         each USB device must be reset and addressed again
//                         (generation() tells its driver)
//   and rederive CRCR: xhci_set_cmd_ring_deq, the software ring's dequeue
//   pointer with its cycle state.
#pragma once

#include "sim/drivers/pci_data_driver.h"

#include <systemc>

#include <functional>
#include <map>
#include <string>
#include <utility>

namespace quiesce {

class Kernel;
class PhysicalMemory;
struct SetupPacket;

class XhciDriver : public PciDataDriver {
public:
    XhciDriver(std::string name, std::string track, Kernel& kernel, PciCore& core, SharedProgram program);

    int probe(Cpu& cpu, PciDev& dev) override;

    // DriverHost.
    uint64_t mmio_base() const override { return mmio_base_; }
    int rederive(Cpu& cpu, const std::string& reg) override;
    int command(Cpu& cpu, const std::string& name, DriverRunner& runner) override;
    const sc_core::sc_event& irq_event() const override { return done_; }

    // A No-Op command: 0, or a negative errno (-ETIMEDOUT, -EIO).
    int noop(Cpu& cpu);
    // A command TRB of `type`: the completion code (or a negative errno on a
    // timeout); `slot` gets the slot ID of the completion.
    int command(Cpu& cpu, uint32_t type, uint64_t param, uint32_t control, unsigned* slot = nullptr);
    // The controller may wake the system (its PME is armed): ports get their
    // wake bits when the root hub suspends.
    void set_wakeup(bool on) { wakeup_ = on; }
    // How many times the controller was reinitialized (every slot lost).
    uint32_t generation(Cpu& cpu) const;
    // Whose device is on root-hub port `port` (1-based), for wakeup events.
    void set_port_owner(unsigned port, std::string name) { owners_[port] = std::move(name); }

    // Transfer rings: a ring struct in memory {base, enqueue, cycle state}.
    uint64_t new_ring(Cpu& cpu);
    void init_ring(Cpu& cpu, uint64_t ring, uint64_t base);
    // A control transfer on slot's EP0 ring: 0 (`actual` bytes moved),
    // -EPIPE (stall), -ETIMEDOUT, -EPROTO.
    int control(Cpu& cpu, unsigned slot, uint64_t ring, const SetupPacket& setup, uint64_t buf, unsigned& actual);
    // A Normal TD on a data endpoint, completed by the interrupt handler
    // calling `done` with the completion code and the bytes moved.
    using Completion = std::function<void(Cpu&, uint32_t cc, unsigned actual)>;
    void submit(Cpu& cpu, unsigned slot, unsigned dci, uint64_t ring, uint64_t buf, unsigned len, Completion done);
    // Stop Endpoint: the controller writes its dequeue pointer back; the TD
    // in flight stays queued (the doorbell restarts it).
    int stop_endpoint(Cpu& cpu, unsigned slot, unsigned dci);
    void ring_doorbell(Cpu& cpu, unsigned slot, unsigned dci);
    uint64_t dcbaa(Cpu& cpu) const;

    // Root-hub ports (1-based).
    uint32_t portsc(Cpu& cpu, unsigned port);
    // Writes PORTSC preserving its state (xhci_port_state_to_neutral) plus `bits`.
    void port_write(Cpu& cpu, unsigned port, uint32_t bits);
    // Port reset: 0 and the port enabled, or -ENODEV / -ETIMEDOUT.
    int reset_port(Cpu& cpu, unsigned port);
    int suspend_port(Cpu& cpu, unsigned port);
    int resume_port(Cpu& cpu, unsigned port);
    // Where the driver believes the controller will fetch the next command,
    // and with which cycle state (zero-time, for the checker).
    uint64_t software_command_dequeue(const PhysicalMemory& mem) const;
    bool software_command_cycle(const PhysicalMemory& mem) const;
    // Where the driver will read the next event, and the cycle state it expects.
    uint64_t software_event_dequeue(const PhysicalMemory& mem) const;
    bool software_event_cycle(const PhysicalMemory& mem) const;
    // The device context base address array the driver allocated (what DCBAAP must hold).
    uint64_t software_dcbaa(const PhysicalMemory& mem) const;

private:
    // Driver struct fields, in kernel memory.
    static constexpr uint64_t F_CMD_RING = 0, F_CMD_ENQ = 8, F_CMD_PCS = 16, F_CMD_DEQ = 24, F_EVT_SEG = 32,
                              F_EVT_DEQ = 40, F_EVT_CCS = 48, F_ERST = 56, F_DCBAA = 64, F_PENDING = 72,
                              F_PENDING_CC = 80, F_PENDING_SLOT = 88, F_GENERATION = 96, F_XFER = 104,
                              F_PORT_WAKE = 112;
    // The transfer table: per (slot, DCI) {pending TRB, completion code, residue}.
    static constexpr unsigned kXferEntry = 16;
    uint64_t xfer_entry(unsigned slot, unsigned dci) const { return xfer_ + (slot * 32 + dci) * kXferEntry; }
    static constexpr unsigned kRingTrbs = 64;

    int init(Cpu& cpu);
    void clear_command_ring(Cpu& cpu);
    bool irq(Cpu& cpu) override;
    void transfer_event(Cpu& cpu, uint64_t param, uint32_t status, uint32_t control);
    void port_event(Cpu& cpu, unsigned port);
    int bus_suspend(Cpu& cpu);
    uint64_t enqueue(Cpu& cpu, uint64_t ring, uint64_t param, uint32_t status, uint32_t control);
    // Polls register `reg` until (value & mask) == want, up to `timeout_us`.
    bool wait_reg(Cpu& cpu, uint32_t reg, uint32_t mask, uint32_t want, uint64_t timeout_us);
    // The same on USBSTS.
    bool wait_status(Cpu& cpu, uint32_t mask, uint32_t want, uint64_t timeout_us);
    uint64_t mmio(uint32_t reg) const { return mmio_base_ + reg; }

    uint64_t mmio_base_ = 0;
    uint64_t drv_ = 0;
    uint64_t xfer_ = 0;
    bool wakeup_ = false;
    std::map<unsigned, std::string> owners_;
    std::map<std::pair<unsigned, unsigned>, Completion> completions_;
    sc_core::sc_event done_;
};

}  // namespace quiesce
