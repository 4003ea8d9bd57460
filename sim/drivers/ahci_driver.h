// The OS's AHCI/libata/sd stack, condensed: the controller driver (ahci0, a
// PCI driver), and the disk (sda, a PM device child of ahci0) with its
// request queue. Its state lives in kernel memory: a struct with the command
// list, received-FIS and command-table addresses, which resume re-derives the
// PxCLB/PxFB registers from.
//
// Their power management is data, as in reference/linux-pm.md §6.2: two
// driver files run by two DriverRunners on this class's primitives.
//   scenarios/drivers/ahci.toml (binds "ahci", the HBA: ahci_port_suspend /
//     ahci_port_resume): stop the command engine and FIS receive, waiting for
//     CR and FR; resume runs ahci_pci_device_resume: the HBA reset (GHC.HR,
//     polled until it clears), ahci_init_controller, the port's resume
//     (PxCLB/PxFB from memory with `rederive`, FIS receive, the engine) and
//     libata's error handler (freeze, `hard-reset`, thaw, `revalidate`).
//     Its commands
//       freeze       ata_port_freeze / ahci_freeze: PxIE 0; the commands in
//                    flight now belong to the error handler (the interrupt
//                    handler completes none of them, nor anything while the
//                    port is frozen), and requests wait (the SCSI host in
//                    recovery, the port suspended) until `revalidate` ends
//                    the error handling
//       thaw         ahci_thaw: PxIS and IS cleared, the port's interrupts on
//       hard-reset   ahci_hardreset / sata_link_hardreset: engine stopped, the
//                    D2H area marked busy, COMRESET (PxSCTL.DET 1) for 1 ms,
//                    released (SPD, IPM kept), 200 ms, PxSSTS.DET debounced (stable 100 ms,
//                    polled every 5 ms, -EPIPE after 2 s), PxSERR cleared,
//                    PxTFD polled until BSY clears (50 ms, -EBUSY after 10 s),
//                    ahci_start_engine (ST, with a device present); -ENODEV
//                    when the link stays down or the signature is not ATA's
//                    (the commands it abandons belong to the error handler)
//       revalidate   ata_dev_revalidate: IDENTIFY; another serial number,
//                    model or capacity is another drive: the disk is
//                    detached (-ENODEV, and so are its requests from then on);
//                    then ata_eh_finish: the error handler's commands are
//                    retried (ata_eh_qc_retry; at most 1 + SD_MAX_RETRIES issues) or,
//                    the disk detached or unreadable, failed, and the
//                    requests held meanwhile go
//     The interrupt handler takes a port change (PxIS.PCS/PRCS) as libahci
//     does: the port frozen and the error handler run in a thread of its
//     own (hard-reset, SError, thaw, revalidate: the abandoned commands
//     issued again, or failed with the disk detached). A command that gets
//     no answer in 30 s (sd's SCSI timeout) runs the same error handler: the
//     port frozen, reset, the drive revalidated, the command issued again
//     (at most 6 issues, then -EIO); the handler's IDENTIFY times out after
//     5, 10, 30 s, a reset before each, and after three tries the drive is
//     disabled (its requests fail with -EIO). A task-file error (TFES) does
//     not freeze the port: the error handler restarts the engine and issues
//     a failed filesystem read or write again (no reset).
//   scenarios/drivers/sd.toml (binds "sd", the disk; no registers of its
//     own - it talks ATA through the HBA): queue-stop/queue-start block and
//     unblock the request queue, drain waits for the commands in flight, and
//     the commands
//       flush-cache  SYNCHRONIZE CACHE (FLUSH CACHE EXT) if the write cache
//                    is on, else nothing
//       standby      START STOP UNIT (START=0), which libata translates to
//                    STANDBY IMMEDIATE (spin down)
//       start        START STOP UNIT (START=1), which libata translates to
//                    READ VERIFY SECTORS of one sector at LBA 0: a drive in
//                    standby spins up (-ENODEV without a command once the
//                    disk is detached). The drive's revalidation (IDENTIFY)
//                    is the HBA's error handler's, as in Linux.
#pragma once

#include "models/disk/ahci_pci.h"
#include "sim/drivers/pci_data_driver.h"
#include "sim/kernel/block.h"
#include "sim/pm/device.h"

#include <string>

namespace quiesce {

class Kernel;
class PhysicalMemory;

class AhciDriver : public PciDataDriver, public BlockDevice {
public:
    AhciDriver(std::string controller, std::string track, std::string disk, Kernel& kernel, PciCore& core,
               SharedProgram hba, SharedProgram sd);

    // PciDriver (ahci0).
    int probe(Cpu& cpu, PciDev& dev) override;
    const DriverRunner& disk_runner() const { return sd_runner_; }

    // BlockDevice (sda).
    const std::string& disk_name() const override { return disk_; }
    unsigned sector_size() const override { return sector_size_; }
    uint64_t capacity() const override { return capacity_; }
    int submit(Cpu& cpu, const BlockRequest& req) override;
    int flush(Cpu& cpu) override;

    // The disk's PM callbacks (sd).
    int disk_pm(const std::string& cb, Cpu& cpu) { return sd_runner_.run(cb, cpu); }
    void set_observer(BlockObserver o) { observer_ = std::move(o); }
    bool write_cache_enabled() const { return write_cache_; }

    // DriverHost of the HBA.
    uint64_t mmio_base() const override { return abar_; }
    int rederive(Cpu& cpu, const std::string& reg) override;
    int command(Cpu& cpu, const std::string& name, DriverRunner& runner) override;
    const sc_core::sc_event& irq_event() const override { return done_; }
    // Port 0's command list and received-FIS area in the driver struct
    // (what PxCLB and PxFB must hold; zero-time, for the checker).
    uint64_t software_clb(const PhysicalMemory& mem) const;
    uint64_t software_fb(const PhysicalMemory& mem) const;

private:
    // The disk's DriverHost: its queue and its ATA commands.
    class Disk : public DriverHost {
    public:
        explicit Disk(AhciDriver& hba) : hba_(hba) {}
        const std::string& device_name() const override { return hba_.disk_; }
        void queue_stop(Cpu& cpu) override;
        void queue_start(Cpu& cpu) override;
        bool drained(Cpu&) override { return (hba_.in_flight_ | hba_.reserved_) == 0; }
        int command(Cpu& cpu, const std::string& name, DriverRunner& runner) override;
        const sc_core::sc_event& irq_event() const override { return hba_.done_; }

    private:
        AhciDriver& hba_;
    };

    // Driver struct in kernel memory.
    static constexpr uint64_t F_CLB = 0, F_FB = 8, F_CTBA = 16;  // F_CTBA: kSlots entries of 8 bytes
    static constexpr uint64_t F_BLOCKED = 16 + 8 * Ahci::kSlots;

    // `internal`: a command of libata's own (ata_exec_internal: IDENTIFY),
    // timed out after `timeout`; otherwise a SCSI command, whose 30 s timer
    // hands it to the error handler.
    int command(Cpu& cpu, uint8_t cmd, uint64_t lba, uint32_t count, uint64_t buffer, uint32_t bytes, bool write,
                bool internal = false, Picos timeout = 0);
    // One issue of a command: its result, or 1 when the error handler gave it back.
    int issue(Cpu& cpu, uint8_t cmd, uint64_t lba, uint32_t count, uint64_t buffer, uint32_t bytes, bool write,
              bool internal, Picos timeout);
    // IDENTIFY DEVICE, an internal command timed out after `timeout`.
    int identify(Cpu& cpu, Picos timeout);
    int start_stop_unit(Cpu& cpu, bool start);
    int start_port(Cpu& cpu);
    int hard_reset(Cpu& cpu);
    // libata's error handling: the port frozen (its commands taken by the
    // error handler), thawed, and the handler's end (ata_eh_finish).
    void freeze(Cpu& cpu, const char* why);
    void thaw(Cpu& cpu);
    void eh_finish(int rc);
    void take_for_eh(const char* why, bool with_error = true);
    // ahci_error_intr for a task-file error (not one that freezes the port).
    void task_file_error(Cpu& cpu);
    // A port change's error handler, in a thread of its own (scsi_eh_N).
    void schedule_eh(Cpu& cpu);
    // A command's timer expired: libata's timeout handling (true: EH runs for it).
    bool command_timeout(Cpu& cpu, unsigned slot, uint8_t cmd);
    void run_eh(Cpu& cpu);
    int do_hard_reset(Cpu& cpu);
    // ahci_stop_engine: ST off, CR polled every 1 ms for up to 500 ms.
    void stop_engine(Cpu& cpu, const std::string& what);
    void start_engine(Cpu& cpu);
    // An internal command's timer expired (ata_exec_internal_sg): the port
    // frozen and, as ahci_post_internal_cmd does, the engine kicked.
    void internal_timeout(Cpu& cpu, uint8_t cmd);
    bool irq(Cpu& cpu) override;
    bool blocked(Cpu& cpu);
    uint64_t abar(uint32_t reg) const { return abar_ + reg; }

    std::string disk_;
    uint64_t abar_ = 0;
    uint64_t drv_ = 0;
    uint64_t identify_buf_ = 0;
    unsigned sector_size_ = 512;
    uint64_t capacity_ = 0;
    bool write_cache_ = false;
    std::string serial_, model_;  // IDENTIFY words 10-19 and 27-46 as the drive sent them
    bool detached_ = false;       // revalidation found another drive: ata_dev_disable
    bool disabled_ = false;       // the error handler's revalidation failed every try: ata_dev_disable
    uint32_t in_flight_ = 0;   // slots issued, not yet completed
    uint32_t reserved_ = 0;    // slots taken by a command being built (ata_qc_new's tag), not yet issued
    uint32_t failed_ = 0;      // slots that completed with an error
    // Error handling (libata EH): slots the error handler owns - outstanding
    // when the port was frozen or reset - which the interrupt handler never
    // completes; the ones it gives back to be issued again, and the ones it
    // failed (with eh_rc_).
    uint32_t eh_owned_ = 0;
    uint32_t eh_retry_ = 0;
    uint32_t eh_failed_ = 0;
    // Of the error handler's slots, those with an error of their own (qc's
    // err_mask: every one taken at a freeze, only the failed one at a
    // task-file error) and those whose error is the device's (AC_ERR_DEV);
    // a slot given back without an error is issued again without counting
    // against its retries (ata_eh_qc_retry: scmd->allowed++).
    uint32_t eh_err_ = 0;
    uint32_t eh_dev_err_ = 0;
    uint32_t eh_requeue_ = 0;
    uint32_t internal_ = 0;             // slots running an internal command (ata_exec_internal)
    uint8_t slot_cmd_[Ahci::kSlots] = {};  // each slot's ATA command
    int eh_rc_[Ahci::kSlots] = {};
    bool frozen_ = false;      // ATA_PFLAG_FROZEN: PxIE 0, nothing completes
    bool recovering_ = false;  // from a freeze to the end of error handling: requests wait
    bool resetting_ = false;     // hard_reset() runs: the link's changes are its own
    bool eh_scheduled_ = false;  // a port change's error handler is scheduled or running
    sc_core::sc_event reset_done_;
    sc_core::sc_event done_;
    sc_core::sc_event unblocked_;
    BlockObserver observer_;
    Disk disk_host_;
    DriverRunner sd_runner_;
};

}  // namespace quiesce
