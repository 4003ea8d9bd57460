// The OS driver of the xHCI controller (drivers/usb/host/xhci.c, trimmed to
// the host controller itself): its state lives in kernel memory - the command
// ring with its enqueue pointer and cycle state, the software dequeue pointer
// that follows the completions, the event ring and ERST - and the registers
// that point into it are driver state.
//
// - probe/init: HCRST, wait CNR; program CONFIG, DCBAAP, CRCR, ERSTSZ, ERSTBA,
//   ERDP, IMOD, IMAN.IE; R/S and INTE; wait HCH clear.
// - noop(): a No-Op command through the command ring and doorbell 0, waiting
//   for its Command Completion Event (the interrupt handler walks the event
//   ring, moves ERDP, and follows the controller's dequeue pointer).
// - suspend/freeze/poweroff (xhci_suspend): clear R/S, wait HCH, save the
//   operational and interrupter registers into memory, Save State (CSS),
//   wait SSS clear; SRE fails the callback.
// - resume/thaw (xhci_resume): a controller that lost power (CNR or HCE set)
//   is reinitialized; otherwise the saved registers go back, CRCR is rebuilt
//   from the software ring (xhci_set_cmd_ring_deq: the dequeue pointer and
//   cycle state in memory), Restore State (CRS), and SRE means reinitialize;
//   then R/S. restore (after hibernation) always reinitializes.
//
// Variants:
//   fixed             as above
//   crcr-from-saved   resume writes CRCR from the value it programmed at init
//                     (a register value saved, not the ring in memory): the
//                     controller fetches stale commands again
//   ignore-sre        resume does not look at SRE after Restore State: a
//                     controller that lost its saved state (a reset without
//                     No_Soft_Reset) is started as if nothing happened
#pragma once

#include "models/pci/pci_pm.h"

#include <systemc>

#include <string>

namespace quiesce {

class Kernel;
class PhysicalMemory;

class XhciDriver : public PciDriver {
public:
    enum class Variant { Fixed, CrcrFromSaved, IgnoreSre };
    static bool parse_variant(const std::string& s, Variant& out);
    static const char* variants_help() { return "fixed, crcr-from-saved, ignore-sre"; }

    XhciDriver(std::string name, Kernel& kernel, PciCore& core, Variant variant);

    int probe(Cpu& cpu, PciDev& dev) override;
    int pm(const std::string& cb, Cpu& cpu, PciDev& dev) override;

    // A No-Op command: 0, or a negative errno (-ETIMEDOUT, -EIO).
    int noop(Cpu& cpu);
    // Where the driver believes the controller will fetch the next command,
    // and with which cycle state (zero-time, for the checker).
    uint64_t software_command_dequeue(const PhysicalMemory& mem) const;
    bool software_command_cycle(const PhysicalMemory& mem) const;
    // Where the driver will read the next event, and the cycle state it expects.
    uint64_t software_event_dequeue(const PhysicalMemory& mem) const;
    bool software_event_cycle(const PhysicalMemory& mem) const;

private:
    // Driver struct fields, in kernel memory.
    static constexpr uint64_t F_CMD_RING = 0, F_CMD_ENQ = 8, F_CMD_PCS = 16, F_CMD_DEQ = 24, F_EVT_SEG = 32,
                              F_EVT_DEQ = 40, F_EVT_CCS = 48, F_ERST = 56, F_DCBAA = 64, F_PENDING = 72,
                              F_PENDING_CC = 80, F_CRCR_INIT = 88,
                              // saved registers (xhci_save_registers)
                              F_S_USBCMD = 128, F_S_DNCTRL = 136, F_S_DCBAAP = 144, F_S_CONFIG = 152,
                              F_S_ERSTSZ = 160, F_S_ERSTBA = 168, F_S_ERDP = 176, F_S_IMAN = 184, F_S_IMOD = 192;
    static constexpr unsigned kRingTrbs = 64;

    int init(Cpu& cpu);
    int suspend(Cpu& cpu);
    int resume(Cpu& cpu, bool hibernated);
    bool irq(Cpu& cpu);
    // Polls USBSTS until (status & mask) == want, up to `timeout_us`.
    bool wait_status(Cpu& cpu, uint32_t mask, uint32_t want, uint64_t timeout_us);
    uint64_t mmio(uint32_t reg) const { return mmio_base_ + reg; }

    std::string name_;
    Kernel& kernel_;
    PciCore& core_;
    Variant variant_;
    PciDev* dev_ = nullptr;
    uint64_t mmio_base_ = 0;
    uint64_t drv_ = 0;
    sc_core::sc_event done_;
};

}  // namespace quiesce
