// The OS driver of the DMA engine: its I/O path (copy, the interrupt
// handler, the queue lock) in C++, its power management as data - the
// driver file scenarios/drivers/dma-engine.toml, run by a DriverRunner on
// this class's primitives. Its state lives in kernel memory (a driver
// struct and the descriptor ring), never only in registers: resume
// re-derives RING_BASE/RING_SIZE/TAIL from memory (`rederive`).
//
// Commands its driver file may name:
//   save-local-memory     the device's own memory (`local_memory` of the
//                         scenario: a GPU's VRAM, lost in D3cold, S3 and S4)
//                         copied into the pages of buffer `local`
//   restore-local-memory  copied back, and the pages freed
//   explicit-save         galibert-explicit: CTRL and BURST as name=value
//                         text in the driver struct ("ctrl=0x3\nburst=0x100\n")
//   explicit-restore      the probe defaults, then the text parsed into the
//                         save slots of CTRL and BURST; -EOPNOTSUPP when the
//                         scenario says the driver cannot (`explicit_state =
//                         false`), -EINVAL for a name it does not know
//   reclaim-ring          after CTRL.ENABLE was cleared with work queued:
//                         waits for the descriptor in flight (STATUS.BUSY:
//                         the one at HEAD) to complete, then gives every
//                         descriptor from HEAD to the driver's tail back to
//                         its submitter (DESC_ERROR: -EIO) and moves the
//                         driver's tail back to HEAD - an instant
//                         `dma-reclaim`; -ETIMEDOUT when the descriptor in
//                         flight does not complete in 5 ms
//   handoff               needs the $handoff device's engine running (EHCI
//                         handing ports to its companions): a `handoff`
//                         instant, `ok` or `failed`
// Parameters: companion (a device whose STATUS suspend_noirq reads),
// handoff (a device resume waits for and hands work to).
#pragma once

#include "models/pci/dma_engine.h"
#include "sim/drivers/pci_data_driver.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace quiesce {

class Kernel;
class PhysicalMemory;

class DmaEngineDriver : public PciDataDriver {
public:
    DmaEngineDriver(std::string name, std::string track, Kernel& kernel, PciCore& core, SharedProgram program);

    void set_local_memory(uint64_t pages) { local_pages_ = pages; }
    // A peer device's driver, for the $companion and $handoff parameters.
    void set_peer(const std::string& param, DmaEngineDriver* peer) { peers_[param] = peer; }
    bool explicit_state() const override { return true; }
    void set_can_restore(bool on) { can_restore_ = on; }
    const std::string& name() const { return name_; }
    int probe(Cpu& cpu, PciDev& dev) override;
    // A syscore op of the driver file (syscore_suspend / syscore_resume):
    // one CPU, interrupts off. 0 when the file has none.
    int syscore(const std::string& cb, Cpu& cpu) { return runner_.run(cb, cpu); }

    // Copies `len` bytes by DMA and waits for completion. 0, -ETIMEDOUT, -EIO or -EBUSY.
    int copy(Cpu& cpu, uint64_t src, uint64_t dst, uint32_t len);
    // The ring as the driver's struct in memory says it is (zero-time, for
    // the checker's drvstate.stale): its base and the tail it wrote last.
    uint64_t software_ring(const PhysicalMemory& mem) const;
    uint32_t software_tail(const PhysicalMemory& mem) const;
    uint32_t software_ring_size(const PhysicalMemory& mem) const;
    // An ioctl that tunes the engine (hdparm for this device): BURST is
    // hardware state, written straight to the register.
    void set_burst(Cpu& cpu, uint32_t bytes);

    // DriverHost.
    uint64_t mmio_base() const override { return mmio_base_; }
    uint64_t peer_mmio_base(const std::string& peer) const override;
    int rederive(Cpu& cpu, const std::string& reg) override;
    void queue_stop(Cpu& cpu) override;
    void queue_start(Cpu& cpu) override;
    bool drained(Cpu& cpu) override;
    int command(Cpu& cpu, const std::string& name, DriverRunner& runner) override;
    std::string param(const std::string& name) const override;
    uint64_t device_memory_pages() const override { return local_pages_; }
    const sc_core::sc_event& irq_event() const override { return done_; }

private:
    // Driver struct fields, in kernel memory.
    static constexpr uint64_t F_RING = 0, F_SIZE = 8, F_TAIL = 12, F_STOPPED = 24,
                              F_EXPLICIT = 48;  // the explicit state: NUL-terminated name=value lines
    static constexpr unsigned kExplicitSize = 64;
    static constexpr uint32_t kRingSize = 16;
    static constexpr uint32_t kCtrlDefault = DmaEngine::CTRL_ENABLE | DmaEngine::CTRL_IRQ_EN, kBurstDefault = 256;

    bool irq(Cpu& cpu) override;
    int submit(Cpu& cpu, uint64_t src, uint64_t dst, uint32_t len);  // one descriptor, waited for
    int explicit_save(Cpu& cpu);
    int explicit_restore(Cpu& cpu);
    void save_local_memory(Cpu& cpu, const std::vector<uint64_t>& pages);
    void restore_local_memory(Cpu& cpu, std::vector<uint64_t>& pages);
    int handoff(Cpu& cpu);
    int reclaim_ring(Cpu& cpu);
    uint64_t mmio(uint32_t reg) const { return mmio_base_ + reg; }

    std::map<std::string, DmaEngineDriver*> peers_;
    bool can_restore_ = true;
    uint64_t mmio_base_ = 0;   // BAR0 as read at probe
    uint64_t drv_ = 0;         // driver struct
    uint64_t local_pages_ = 0;
    sc_core::sc_event done_;
    // The queue lock (spin_lock_irqsave around the ring): a copy holds it
    // from its stopped check to its doorbell, queue-stop while it sets
    // stopped: a copy that passed the check before has rung its doorbell
    // before the driver drains.
    QueueLock queue_lock_;
};

}  // namespace quiesce
