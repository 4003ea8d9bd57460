// The OS's AHCI/libata/sd stack, condensed: the controller driver (ahci0, a
// PCI driver), and the disk (sda, a PM device child of ahci0) with its
// request queue. Its state lives in kernel memory: a struct with the command
// list, received-FIS and command-table addresses, which resume re-derives the
// PxCLB/PxFB registers from.
//
// PM, as in reference/linux-pm.md §6.2:
//   sda  suspend/poweroff  block the queue, drain, SYNCHRONIZE CACHE (FLUSH
//                          CACHE EXT) if the write cache is on, then STANDBY
//                          IMMEDIATE (spin down)
//        freeze            nothing (sd has no freeze callback)
//        resume/restore    revalidate (IDENTIFY; the first command spins the
//                          drive up) and unblock the queue
//   ahci0 suspend          stop the port (ST, FRE) and the HBA interrupt
//        resume           re-enable AHCI, program PxCLB/PxFB from memory,
//                          start FIS receive and the command engine
// Variants: fixed, no-flush-on-suspend (sd forgets SYNCHRONIZE CACHE).
#pragma once

#include "models/disk/ahci_pci.h"
#include "sim/drivers/pci_pm.h"
#include "sim/kernel/block.h"
#include "sim/pm/device.h"

#include <string>

namespace quiesce {

class Kernel;

class AhciDriver : public PciDriver, public BlockDevice {
public:
    enum class Variant { Fixed, NoFlushOnSuspend };
    static bool parse_variant(const std::string& s, Variant& out);
    static const char* variants_help() { return "fixed, no-flush-on-suspend"; }

    AhciDriver(std::string controller, std::string disk, Kernel& kernel, PciCore& core, Variant variant);

    // PciDriver (ahci0).
    int probe(Cpu& cpu, PciDev& dev) override;
    int pm(const std::string& cb, Cpu& cpu, PciDev& dev) override;

    // BlockDevice (sda).
    const std::string& disk_name() const override { return disk_; }
    unsigned sector_size() const override { return sector_size_; }
    uint64_t capacity() const override { return capacity_; }
    int submit(Cpu& cpu, const BlockRequest& req) override;
    int flush(Cpu& cpu) override;

    // The disk's PM callbacks (sd).
    int disk_pm(const std::string& cb, Cpu& cpu);
    void set_observer(BlockObserver o) { observer_ = std::move(o); }
    bool write_cache_enabled() const { return write_cache_; }

private:
    // Driver struct in kernel memory.
    static constexpr uint64_t F_CLB = 0, F_FB = 8, F_CTBA = 16;  // F_CTBA: kSlots entries of 8 bytes
    static constexpr uint64_t F_BLOCKED = 16 + 8 * Ahci::kSlots;

    int command(Cpu& cpu, uint8_t cmd, uint64_t lba, uint32_t count, uint64_t buffer, uint32_t bytes, bool write);
    int identify(Cpu& cpu);
    int start_port(Cpu& cpu);
    int stop_port(Cpu& cpu);
    bool irq(Cpu& cpu);
    bool blocked(Cpu& cpu);
    uint64_t abar(uint32_t reg) const { return abar_ + reg; }

    std::string controller_, disk_;
    Kernel& kernel_;
    PciCore& core_;
    Variant variant_;
    uint64_t abar_ = 0;
    uint64_t drv_ = 0;
    uint64_t identify_buf_ = 0;
    unsigned sector_size_ = 512;
    uint64_t capacity_ = 0;
    bool write_cache_ = false;
    uint32_t in_flight_ = 0;   // slots issued, not yet completed
    uint32_t failed_ = 0;      // slots that completed with an error
    sc_core::sc_event done_;
    sc_core::sc_event unblocked_;
    BlockObserver observer_;
};

}  // namespace quiesce
