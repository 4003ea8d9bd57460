// The OS driver of the DMA engine. Its state lives in kernel memory (a driver
// struct and the descriptor ring), never only in registers: resume re-derives
// RING_BASE/RING_SIZE/TAIL from memory, and rewrites the hardware-state
// registers (CTRL, BURST) it saved at suspend.
//
// Variants (the bug knobs a scenario selects):
//   fixed              dev_pm_ops; the PCI core saves/restores config space
//   legacy-no-restore  legacy PM: the driver puts its function in D3hot itself
//                      and on resume only returns it to D0, never restoring
//                      config space (the 3c905B story, linux-pm.md §2.4 #15)
//   mmio-after-d3      the driver powers its function down in suspend_noirq and
//                      then still writes a register through MMIO
//   no-drain-on-freeze freeze only stops new requests: the descriptor in
//                      flight keeps the engine copying into memory
//   d3-in-suspend      legacy PM done in ->suspend, with device interrupts
//                      still live: pci_save_state and D3hot right after
//                      quiescing, D0 and pci_restore_state in ->resume; its
//                      interrupt handler stays registered on a shared line
//
// With `local_memory` pages, the device has memory of its own that does not
// survive D3cold, S3 or S4 (a GPU's VRAM): suspend, freeze and poweroff copy
// it into pages allocated then (GFP_KERNEL, like a GPU driver evicting VRAM);
// resume, thaw and restore copy it back and free them. The allocation is
// the memory pressure that pm_restrict_gfp_mask is about.
#pragma once

#include "models/pci/dma_engine.h"
#include "models/pci/pci_pm.h"

#include <string>
#include <vector>

namespace quiesce {

class Kernel;

class DmaEngineDriver : public PciDriver {
public:
    enum class Variant { Fixed, LegacyNoRestore, MmioAfterD3, NoDrainOnFreeze, D3InSuspend };
    static bool parse_variant(const std::string& s, Variant& out);
    static const char* variants_help() {
        return "fixed, legacy-no-restore, mmio-after-d3, no-drain-on-freeze, d3-in-suspend";
    }

    DmaEngineDriver(std::string name, Kernel& kernel, PciCore& core, Variant variant);

    void set_local_memory(uint64_t pages) { local_pages_ = pages; }
    // A companion whose status this driver reads in suspend_noirq, as EHCI
    // checks its companion controllers: a dependency only a device link
    // (companion suspends after this one) makes safe.
    void set_companion(DmaEngineDriver* companion) { companion_ = companion; }
    // A device this driver hands work to in its resume callback, as EHCI
    // hands full- and low-speed ports back to its companion controllers: it
    // waits for it with device_pm_wait_for_dev first, then needs its engine
    // running (CTRL.ENABLE) - a `handoff` instant, `ok` or `failed`.
    void set_handoff(DmaEngineDriver* to) { handoff_ = to; }
    // galibert-explicit: save_explicit quiesces and writes the device's state
    // as name/value text into kernel memory ("ctrl=0x3\nburst=0x100\n");
    // restore_explicit parses it and programs the engine. A driver that
    // cannot restore (`explicit_state = false` in the scenario) brings the
    // engine back with its probe defaults and says -EOPNOTSUPP.
    bool explicit_state() const override { return true; }
    void set_can_restore(bool on) { can_restore_ = on; }
    const std::string& name() const { return name_; }
    uint64_t mmio_base() const { return mmio_base_; }
    int probe(Cpu& cpu, PciDev& dev) override;
    int pm(const std::string& cb, Cpu& cpu, PciDev& dev) override;
    bool manages_pci_pm() const override {
        return variant_ == Variant::LegacyNoRestore || variant_ == Variant::MmioAfterD3 ||
               variant_ == Variant::D3InSuspend;
    }

    // Copies `len` bytes by DMA and waits for completion. 0, -ETIMEDOUT, -EIO or -EBUSY.
    int copy(Cpu& cpu, uint64_t src, uint64_t dst, uint32_t len);
    // An ioctl that tunes the engine (hdparm for this device): BURST is
    // hardware state, written straight to the register.
    void set_burst(Cpu& cpu, uint32_t bytes);

private:
    // Driver struct fields, in kernel memory.
    // F_HW_SAVED: save_state (linus2006) already copied CTRL/BURST.
    static constexpr uint64_t F_RING = 0, F_SIZE = 8, F_TAIL = 12, F_CTRL = 16, F_BURST = 20, F_STOPPED = 24,
                              F_HW_SAVED = 28, F_SAVED = 32, F_SAVE_LIST = 40,  // pages holding local memory, and their list
                              F_EXPLICIT = 48;  // the explicit state: NUL-terminated name=value lines
    static constexpr unsigned kExplicitSize = 64;
    static constexpr uint32_t kRingSize = 16;

    bool irq(Cpu& cpu);
    int suspend(Cpu& cpu);
    void save_hw_state(Cpu& cpu);
    int resume(Cpu& cpu);
    int program(Cpu& cpu);  // RING_* and TAIL from memory, then CTRL/BURST
    int reserve_local_memory(Cpu& cpu, std::vector<uint64_t>& pages);
    void save_local_memory(Cpu& cpu, const std::vector<uint64_t>& pages);
    void restore_local_memory(Cpu& cpu);
    uint64_t mmio(uint32_t reg) const { return mmio_base_ + reg; }

    DmaEngineDriver* companion_ = nullptr;
    DmaEngineDriver* handoff_ = nullptr;
    bool can_restore_ = true;
    int save_explicit(Cpu& cpu);
    int restore_explicit(Cpu& cpu);
    std::string name_;
    Kernel& kernel_;
    PciCore& core_;
    Variant variant_;
    PciDev* dev_ = nullptr;
    uint64_t mmio_base_ = 0;   // BAR0 as read at probe
    uint64_t drv_ = 0;         // driver struct
    uint64_t local_pages_ = 0;
    sc_core::sc_event done_;
    // The queue lock (spin_lock_irqsave around the ring): a copy holds it
    // from its stopped check to its doorbell, suspend from setting stopped
    // to reading the tail it drains to: a copy that passed the check before
    // suspend set stopped has rung its doorbell before suspend drains.
    bool queue_locked_ = false;
    sc_core::sc_event queue_unlocked_;
    void lock_queue();
    void unlock_queue();
};

}  // namespace quiesce
