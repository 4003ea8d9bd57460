// The AHCI/libata/sd stack: probe, the port and its command slots, the request queue, the disk and its PM.
#include "sim/drivers/ahci_driver.h"
#include "sim/core/sync.h"

#include "models/cpu/cpu.h"
#include "sim/core/errors.h"
#include "sim/core/memory.h"
#include "sim/kernel/kernel.h"

#include <fmt/format.h>

#include <cstring>

namespace quiesce {

namespace {
constexpr int kRetry = 1;    // issue(): the error handler gave the command back, counting a retry
constexpr int kRequeue = 2;  // ... without an error of its own: not counted
constexpr int kEIO = -5, kEBUSY = -16, kENODEV = -19, kEPIPE = -32, kETIMEDOUT = -110;
constexpr Picos kMs = 1'000'000'000ULL;
constexpr Picos kCommandTimeout = 30'000'000'000'000ULL;  // sd's SCSI command timeout (SD_TIMEOUT): 30 s
// libata's error handler tries a device's recovery ATA_EH_DEV_TRIES times
// (a reset, then revalidation: ata_eh_recover, ata_eh_handle_dev_fail), and
// each timed-out IDENTIFY moves it to the next timeout of
// ata_eh_identify_timeouts (ata_internal_cmd_timed_out).
constexpr unsigned kEhDevTries = 3;
constexpr Picos kIdentifyTimeouts[kEhDevTries] = {5 * 1000 * kMs, 10 * 1000 * kMs, 30 * 1000 * kMs};
constexpr uint32_t kMaxBytes = 4u << 20;                  // one PRD: 4 MiB
// How many times a command is issued at most when the error handler keeps
// giving it back: once, then sd's SD_MAX_RETRIES (5) retries
// (scsi_cmd_retry_allowed: ++retries <= allowed); then it fails with -EIO.
constexpr unsigned kMaxTries = 1 + 5;
// The port interrupts the driver enables (libahci's DEF_PORT_IRQ, as far as
// the model has them): D2H register FIS, port connect change, PhyRdy change,
// task file error.
constexpr uint32_t kPortIrqs = Ahci::PIS_DHRS | Ahci::PIS_PCS | Ahci::PIS_PRCS | Ahci::PIS_TFES;
}  // namespace

AhciDriver::AhciDriver(std::string controller, std::string track, std::string disk, Kernel& kernel, PciCore& core,
                       SharedProgram hba, SharedProgram sd)
    : PciDataDriver(std::move(controller), std::move(track), kernel, core, std::move(hba)), disk_(std::move(disk)),
      disk_host_(*this), sd_runner_(std::move(sd), disk_host_, kernel) {}

int AhciDriver::probe(Cpu& cpu, PciDev& dev) {
    dev_ = &dev;
    abar_ = core_.cfg_read(cpu, dev, pci::BAR0 + 4 * AhciPci::kAbar, 4) & ~0xfu;
    if (abar_ == 0 || cpu.read32(abar(Ahci::PI)) != 1) return kENODEV;
    drv_ = kernel_.alloc(64 + 8 * Ahci::kSlots, 64);
    cpu.write64(drv_ + F_CLB, kernel_.alloc(1024, 1024));
    cpu.write64(drv_ + F_FB, kernel_.alloc(256, 256));
    for (unsigned s = 0; s < Ahci::kSlots; ++s) cpu.write64(drv_ + F_CTBA + 8 * s, kernel_.alloc(256, 128));
    cpu.write32(drv_ + F_BLOCKED, 0);
    identify_buf_ = kernel_.alloc(512, 512);
    runner_.bind();
    sd_runner_.bind();
    request_irq(cpu);
    if (int rc = start_port(cpu)) return rc;
    return identify(cpu, kCommandTimeout);
}

// The pointers into the driver's memory, from the driver struct.
int AhciDriver::rederive(Cpu& cpu, const std::string& reg) {
    const uint64_t field = reg == "PxCLB" ? F_CLB : reg == "PxFB" ? F_FB : ~uint64_t(0);
    if (field == ~uint64_t(0)) return -22;
    const uint64_t addr = cpu.read64(drv_ + field);
    cpu.write32(abar(reg == "PxCLB" ? Ahci::PxCLB : Ahci::PxFB), uint32_t(addr));
    cpu.write32(abar(reg == "PxCLB" ? Ahci::PxCLBU : Ahci::PxFBU), uint32_t(addr >> 32));
    return 0;
}

int AhciDriver::command(Cpu& cpu, const std::string& name, DriverRunner&) {
    if (name == "hard-reset") return hard_reset(cpu);
    if (name == "freeze") {
        freeze(cpu, "error handler");
        return 0;
    }
    if (name == "thaw") {
        thaw(cpu);
        return 0;
    }
    if (name == "revalidate") {
        const int rc = identify(cpu, kCommandTimeout);
        eh_finish(rc);
        return rc;
    }
    SIM_PANIC("ahci driver: no command {} (validation missed it)", name);
}

// libahci's ahci_hardreset around libata's sata_link_hardreset,
// sata_link_resume, sata_link_debounce (sata_deb_timing_normal: 5, 100,
// 2000 ms) and ata_wait_ready with ahci_check_ready. It ends with
// ahci_start_engine, which sets ST only with a device present (PxTFD BSY
// and DRQ clear, PxSSTS.DET 3: ahci_is_device_present).
int AhciDriver::hard_reset(Cpu& cpu) {
    resetting_ = true;
    const int rc = do_hard_reset(cpu);
    resetting_ = false;
    quiesce::notify(reset_done_, sc_core::SC_ZERO_TIME);
    return rc;
}

int AhciDriver::do_hard_reset(Cpu& cpu) {
    const std::string what = name_ + ": hard-reset";
    // COMRESET abandons the command the drive runs, and stopping the engine
    // clears PxCI: what is outstanding now is the error handler's.
    take_for_eh("hard-reset");
    // ahci_stop_engine; its result is not looked at (ahci_do_hardreset).
    stop_engine(cpu, what);
    // The D2H reception area says busy, so that the signature FIS is seen arriving.
    const uint8_t busy = 0x80;
    cpu.write_block(cpu.read64(drv_ + F_FB) + Ahci::kD2hFisOffset + 2, &busy, 1);
    // COMRESET: DET 1, at least 1 ms (AHCI 1.1 10.4.2), then DET 0. libata
    // also writes IPM 3 (no Partial/Slumber); link power states are not
    // modelled, so SPD and IPM stay as they were and PxSCTL ends as it began.
    const uint32_t sctl = cpu.read32(abar(Ahci::PxSCTL));
    cpu.write32(abar(Ahci::PxSCTL), (sctl & 0xff0) | 0x1);
    cpu.read32(abar(Ahci::PxSCTL));  // sata_scr_write_flush
    kernel_.sleep(1 * kMs, what + ": COMRESET");
    cpu.write32(abar(Ahci::PxSCTL), sctl & 0xff0);
    kernel_.sleep(200 * kMs, what + ": before debouncing");  // some PHYs react badly if pounded at once
    // sata_link_debounce: DET the same (and not 1) for 100 ms, polled every 5 ms, within 2 s.
    const Picos deadline = now_ps() + 2000 * kMs;
    uint32_t last = cpu.read32(abar(Ahci::PxSSTS)) & 0xf;
    Picos since = now_ps();
    for (;;) {
        kernel_.sleep(5 * kMs, what + ": debouncing PxSSTS.DET");
        const uint32_t det = cpu.read32(abar(Ahci::PxSSTS)) & 0xf;
        if (det == last) {
            if (det == 1 && now_ps() < deadline) continue;
            if (now_ps() - since > 100 * kMs) break;
            continue;
        }
        last = det;
        since = now_ps();
        if (now_ps() > deadline) return kEPIPE;
    }
    // Clear SError (sata_link_resume).
    cpu.write32(abar(Ahci::PxSERR), cpu.read32(abar(Ahci::PxSERR)));
    int rc = 0;
    if (last != 3) {
        rc = kENODEV;  // the link is offline: no device
    } else {
        // ata_wait_ready: PxTFD until BSY clears, every 50 ms, within 10 s (ata_eh_reset's first try).
        const Picos ready_by = now_ps() + 10'000 * kMs;
        for (;;) {
            const uint32_t status = cpu.read32(abar(Ahci::PxTFD)) & 0xff;
            if (!(status & Ahci::TFD_BSY)) break;
            if (now_ps() >= ready_by) {
                rc = kEBUSY;
                break;
            }
            kernel_.sleep(50 * kMs, what + ": waiting for the drive (PxTFD.BSY)");
        }
        if (!rc && cpu.read32(abar(Ahci::PxSIG)) != Ahci::SIG_ATA) rc = kENODEV;  // ahci_dev_classify
    }
    start_engine(cpu);
    kernel_.hub().instant(track(), "hard-reset", "driver",
                          {{"device", name_}, {"det", std::to_string(last)}, {"rc", std::to_string(rc)}});
    return rc;
}

// ata_port_freeze (libata-eh.c) with ahci_freeze (libahci.c): the port's
// interrupts off (PxIE 0) and ATA_PFLAG_FROZEN - "freeze the port to make
// sure the IRQ handler doesn't diddle with those qcs" - and every command
// outstanding aborted to the error handler (ata_port_abort: the qcs are
// EH's; ata_qc_from_tag no longer returns them to the interrupt path). The
// SCSI host is in recovery from here until the error handler finishes:
// scsi_host_queue_ready holds new requests. A port suspends with its
// freeze (ata_eh_handle_port_suspend), so this also holds the requests
// sent while it is suspended, until its resume's error handler ends.
void AhciDriver::freeze(Cpu& cpu, const char* why) {
    cpu.write32(abar(Ahci::PxIE), 0);
    cpu.read32(abar(Ahci::PxIE));  // flush
    frozen_ = true;
    recovering_ = true;
    take_for_eh(why);
    kernel_.hub().instant(track(), "freeze", "driver", {{"device", name_}, {"why", why}});
}

// ahci_thaw: PxIS and IS cleared, the port's interrupts on again.
void AhciDriver::thaw(Cpu& cpu) {
    cpu.write32(abar(Ahci::PxIS), cpu.read32(abar(Ahci::PxIS)));
    cpu.write32(abar(Ahci::IS), 1);
    cpu.write32(abar(Ahci::PxIE), kPortIrqs);
    frozen_ = false;
    kernel_.hub().instant(track(), "thaw", "driver", {{"device", name_}});
}

// The commands outstanding become the error handler's: the interrupt
// handler never completes them (their PxCI bits may clear because a reset
// dropped them, not because they ran).
void AhciDriver::take_for_eh(const char* why, bool with_error) {
    const uint32_t taken = in_flight_ & ~eh_owned_;
    if (!taken) return;
    eh_owned_ |= taken;
    if (with_error) eh_err_ |= taken;
    kernel_.hub().instant(track(), "eh-take", "driver",
                          {{"device", name_}, {"slots", fmt::format("{:#x}", taken)}, {"why", why}});
}

// ata_eh_finish: each command the error handler owns is given back to be
// issued again (ata_eh_qc_retry - the port was reset and the drive
// revalidated: the command never ran or is run again whole) or, when
// revalidation failed, failed: -ENODEV for a detached disk, -EIO otherwise.
// Then the SCSI host leaves recovery and the requests held meanwhile go.
void AhciDriver::eh_finish(int rc) {
    const uint32_t owned = eh_owned_;
    for (unsigned s = 0; s < Ahci::kSlots; ++s) {
        const uint32_t bit = 1u << s;
        if (!(owned & bit)) continue;
        // ata_eh_worth_retry: a device error is retried for a read or write
        // of the filesystem's (ATA_QCFLAG_IO), not for anything else.
        const uint8_t c = slot_cmd_[s];
        const bool io = c == SataDrive::READ_DMA_EXT || c == SataDrive::WRITE_DMA_EXT ||
                        c == SataDrive::WRITE_DMA_FUA_EXT;
        if (rc == 0 && !(eh_err_ & bit)) {
            eh_requeue_ |= bit;
        } else if (rc == 0 && (!(eh_dev_err_ & bit) || io)) {
            eh_retry_ |= bit;
        } else {
            eh_failed_ |= bit;
            eh_rc_[s] = rc == kENODEV ? kENODEV : kEIO;
        }
    }
    in_flight_ &= ~owned;
    eh_owned_ = 0;
    eh_err_ = 0;
    eh_dev_err_ = 0;
    const bool was = recovering_;
    recovering_ = false;
    if (owned || was)
        kernel_.hub().instant(track(), "eh-finish", "driver",
                              {{"device", name_}, {"rc", std::to_string(rc)},
                               {(rc == 0 ? "retried" : "failed"), fmt::format("{:#x}", owned)}});
    quiesce::notify(done_, sc_core::SC_ZERO_TIME);
    quiesce::notify(unblocked_, sc_core::SC_ZERO_TIME);
}

// The SCSI error handler thread (scsi_error_handler -> ata_scsi_error), woken
// by a port change: one at a time per port. After a reset the driver is
// running itself, it runs ata_eh_recover for a hotplugged link - the hard
// reset (ATA_EH_RESET), ata_std_postreset (SError), the thaw - then
// revalidation and ata_eh_finish: the same drive gets its commands again;
// another drive, or none (the link stays down: the reset's -ENODEV), is
// detached and they fail with -ENODEV. libata tries a failing reset up to
// four times with growing timeouts (ata_eh_reset_timeouts) before it gives
// up; this handler tries once.
void AhciDriver::schedule_eh(Cpu& cpu) {
    if (eh_scheduled_) return;
    eh_scheduled_ = true;
    Cpu* c = &cpu;
    sc_core::sc_process_handle h = quiesce::spawn(
        [this, c] {
            quiesce::wait(sc_core::SC_ZERO_TIME);  // after the interrupt handler returns
            while (resetting_) kernel_.wait_event(reset_done_, kCommandTimeout, name_ + ": EH waits for a reset");
            run_eh(*c);
            eh_scheduled_ = false;
        },
        sc_core::sc_gen_unique_name(("scsi_eh_" + name_).c_str()));
    kernel_.adopt_context(h);
}

void AhciDriver::run_eh(Cpu& cpu) {
    kernel_.hub().slice_begin(track(), "error-handler", "driver", {{"device", name_}});
    int rc = 0;
    if (!frozen_) {
        // A port that was not frozen (a task-file error): ahci_error_handler
        // restarts the engine - ERR:Fatal ends only with ST cleared - and
        // the autopsy of a device error asks for no reset (ata_eh_analyze_tf:
        // AC_ERR_DEV), so ata_eh_recover has nothing to do: ata_eh_finish.
        stop_engine(cpu, name_ + ": error handler");
        start_engine(cpu);
        eh_finish(0);
        kernel_.hub().slice_end(track(), "error-handler", "driver", {{"rc", "0"}});
        return;
    }
    // ata_eh_recover: reset and revalidate, up to ATA_EH_DEV_TRIES times
    // while revalidation fails with -EIO (ata_eh_handle_dev_fail asks for
    // another reset); each IDENTIFY that times out makes the next wait
    // longer (5, 10, 30 s). Then the device is disabled (ata_dev_disable)
    // and, as ahci_error_handler does for a port without an enabled device,
    // the engine stopped.
    for (unsigned tries = 1, idx = 0;; ++tries) {
        rc = hard_reset(cpu);
        cpu.write32(abar(Ahci::PxSERR), 0xffffffff);  // ata_std_postreset
        thaw(cpu);
        if (rc != 0) {
            if (!detached_) {
                detached_ = true;  // no device on the link: ata_eh_detach_dev
                kernel_.hub().instant(track(), "detached", "driver", {{"device", disk_}, {"mismatch", "no device"}});
                rc = kENODEV;
            }
            break;
        }
        rc = identify(cpu, kIdentifyTimeouts[idx]);
        if (rc == 0 || rc == kENODEV) break;
        if (rc == kETIMEDOUT && idx + 1 < kEhDevTries) ++idx;  // ata_internal_cmd_timed_out
        rc = kEIO;  // ata_dev_read_id: "I/O error"
        if (tries == kEhDevTries) {
            disabled_ = true;
            kernel_.hub().instant(track(), "disabled", "driver",
                                  {{"device", disk_}, {"tries", std::to_string(tries)}});
            stop_engine(cpu, name_ + ": no enabled device");
            break;
        }
    }
    eh_finish(rc);
    kernel_.hub().slice_end(track(), "error-handler", "driver", {{"rc", std::to_string(rc)}});
}

// scsi_timeout -> the SCSI error handler thread -> ata_scsi_error:
// ata_scsi_cmd_error_handler marks the timed-out command AC_ERR_TIMEOUT and
// EH's, and freezes the port ("the state of the controller is unknown");
// ata_eh_autopsy asks for a reset for a timeout, then the reset,
// revalidation and ata_eh_finish (ata_eh_worth_retry: a timed-out I/O is
// retried) - run_eh. False when the command is the error handler's already
// (the port frozen or suspended: EH ends it) or EH is running (its own
// commands time out on their own).
bool AhciDriver::command_timeout(Cpu& cpu, unsigned slot, uint8_t cmd) {
    if ((eh_owned_ & (1u << slot)) || eh_scheduled_ || resetting_ || frozen_) return false;
    kernel_.hub().instant(track(), "command-timeout", "driver",
                          {{"device", name_}, {"slot", std::to_string(slot)}, {"command", fmt::format("{:#04x}", cmd)}});
    freeze(cpu, "command timeout");
    schedule_eh(cpu);
    return true;
}

// ahci_error_intr for PORT_IRQ_TF_ERR, which does not freeze the port: the
// command the HBA ran (PxCMD.CCS) failed with a device error (AC_ERR_DEV),
// and ata_port_abort hands every outstanding command to the error handler;
// the SCSI host is in recovery until it ends. An internal command (the
// error handler's own IDENTIFY) just fails: ata_exec_internal_sg, and
// ahci_post_internal_cmd kicks the engine.
void AhciDriver::task_file_error(Cpu& cpu) {
    const unsigned ccs = (cpu.read32(abar(Ahci::PxCMD)) & Ahci::CMD_CCS) >> Ahci::CMD_CCS_SHIFT;
    const uint32_t bit = 1u << ccs;
    const uint32_t tfd = cpu.read32(abar(Ahci::PxTFD));
    kernel_.hub().instant(track(), "task-file-error", "driver",
                          {{"device", name_},
                           {"slot", std::to_string(ccs)},
                           {"status", fmt::format("{:#04x}", tfd & 0xff)},
                           {"error", fmt::format("{:#04x}", tfd >> 8 & 0xff)}});
    if (internal_ & bit & in_flight_) {
        failed_ |= bit;
        in_flight_ &= ~bit;
        quiesce::notify(done_, sc_core::SC_ZERO_TIME);
        return;
    }
    recovering_ = true;
    take_for_eh("task file error", false);
    if (eh_owned_ & bit) {
        eh_err_ |= bit;
        eh_dev_err_ |= bit;
    }
    schedule_eh(cpu);
}

// ahci_stop_engine: ST off, then CR polled every 1 ms for up to 500 ms
// (ata_wait_register). A command the drive never answers keeps CR set:
// the wait runs out.
void AhciDriver::stop_engine(Cpu& cpu, const std::string& what) {
    cpu.write32(abar(Ahci::PxCMD), cpu.read32(abar(Ahci::PxCMD)) & ~Ahci::CMD_ST);
    for (const Picos until = now_ps() + 500 * kMs;
         (cpu.read32(abar(Ahci::PxCMD)) & Ahci::CMD_CR) && now_ps() < until;)
        kernel_.sleep(1 * kMs, what + ": waiting for PxCMD.CR");
}

// ata_exec_internal_sg's timeout: the internal command failed with
// AC_ERR_TIMEOUT and the port frozen (ata_port_freeze), then
// ahci_post_internal_cmd: ahci_kick_engine stops the engine (clearing
// PxCI: the HBA forgets the command) and starts it again. The drive may
// still be busy with it: only a reset ends that.
void AhciDriver::internal_timeout(Cpu& cpu, uint8_t cmd) {
    kernel_.hub().instant(track(), "internal-timeout", "driver",
                          {{"device", name_}, {"command", fmt::format("{:#04x}", cmd)}});
    freeze(cpu, "internal command timeout");
    stop_engine(cpu, name_ + ": kick engine");
    start_engine(cpu);
}

// ahci_start_engine: ST, only with a device present (ahci_is_device_present).
void AhciDriver::start_engine(Cpu& cpu) {
    if (cpu.read32(abar(Ahci::PxTFD)) & (Ahci::TFD_BSY | Ahci::TFD_DRQ)) return;
    if ((cpu.read32(abar(Ahci::PxSSTS)) & 0xf) != 3) return;
    cpu.write32(abar(Ahci::PxCMD), cpu.read32(abar(Ahci::PxCMD)) | Ahci::CMD_ST);
    cpu.read32(abar(Ahci::PxCMD));  // flush
}

// blk_mq_quiesce_queue: requests wait in submit() until resume.
void AhciDriver::Disk::queue_stop(Cpu& cpu) { cpu.write32(hba_.drv_ + F_BLOCKED, 1); }

void AhciDriver::Disk::queue_start(Cpu& cpu) {
    cpu.write32(hba_.drv_ + F_BLOCKED, 0);
    quiesce::notify(hba_.unblocked_, sc_core::SC_ZERO_TIME);
}

int AhciDriver::Disk::command(Cpu& cpu, const std::string& name, DriverRunner&) {
    if (name == "flush-cache") return hba_.flush(cpu);
    if (name == "standby") return hba_.start_stop_unit(cpu, false);  // sd_start_stop_device(sdkp, 0)
    if (name == "start") return hba_.start_stop_unit(cpu, true);     // sd_start_stop_device(sdkp, 1)
    SIM_PANIC("sd driver: no command {} (validation missed it)", name);
}

// sd's START STOP UNIT as libata translates it (ata_scsi_start_stop_xlat,
// Linux 6.1): START=1 becomes READ VERIFY SECTORS of one sector at LBA 0 -
// a drive in standby spins up to read it - and START=0 STANDBY IMMEDIATE.
// A disk revalidation detached has no SCSI device left: -ENODEV, no command.
int AhciDriver::start_stop_unit(Cpu& cpu, bool start) {
    if (start && detached_) return kENODEV;
    if (disabled_) return kEIO;  // no ATA device behind the SCSI device: nothing issued
    const uint8_t ata = start ? SataDrive::READ_VERIFY : SataDrive::STANDBY_IMMEDIATE;
    kernel_.hub().instant(track(), "start-stop-unit", "driver",
                          {{"device", disk_}, {"start", start ? "1" : "0"}, {"ata", fmt::format("{:#04x}", ata)}});
    return start ? command(cpu, ata, 0, 1, 0, 0, false) : command(cpu, ata, 0, 0, 0, 0, false);
}

// ahci_port_start: AHCI mode, the memory structures from the driver struct,
// FIS receive before the command engine, interrupts on.
int AhciDriver::start_port(Cpu& cpu) {
    cpu.write32(abar(Ahci::GHC), Ahci::GHC_AE);
    uint64_t clb = cpu.read64(drv_ + F_CLB), fb = cpu.read64(drv_ + F_FB);
    cpu.write32(abar(Ahci::PxCLB), uint32_t(clb));
    cpu.write32(abar(Ahci::PxCLBU), uint32_t(clb >> 32));
    cpu.write32(abar(Ahci::PxFB), uint32_t(fb));
    cpu.write32(abar(Ahci::PxFBU), uint32_t(fb >> 32));
    cpu.write32(abar(Ahci::PxSERR), 0xffffffff);
    cpu.write32(abar(Ahci::PxIS), 0xffffffff);
    cpu.write32(abar(Ahci::PxIE), kPortIrqs);
    uint32_t cmd = cpu.read32(abar(Ahci::PxCMD));
    cpu.write32(abar(Ahci::PxCMD), cmd | Ahci::CMD_FRE);
    cpu.write32(abar(Ahci::PxCMD), cmd | Ahci::CMD_FRE | Ahci::CMD_ST);
    cpu.write32(abar(Ahci::GHC), Ahci::GHC_AE | Ahci::GHC_IE);
    return (cpu.read32(abar(Ahci::PxCMD)) & Ahci::CMD_CR) ? 0 : kEIO;
}

// ahci_interrupt and ahci_port_intr: PxIS read and written back, then, for
// a port change (PCS, PRCS: ahci_error_intr), PxSERR read and written back -
// "AHCI needs SError cleared" and PCS/PRCS clear only with DIAG.X/N - and IS
// last (a level-triggered latch, AHCI 1.1 10.6.2). A port change is
// PORT_IRQ_FREEZE: ata_port_freeze, and the error handler runs (run_eh) -
// unless the driver is resetting the link itself: then the change is the
// reset's own (libata resets with the port frozen, so it never sees one).
bool AhciDriver::irq(Cpu& cpu) {
    uint32_t is = cpu.read32(abar(Ahci::IS));
    if (is == 0 || is == 0xffffffff) return false;
    uint32_t pis = cpu.read32(abar(Ahci::PxIS));
    cpu.write32(abar(Ahci::PxIS), pis);
    if (pis & (Ahci::PIS_PCS | Ahci::PIS_PRCS)) {
        const uint32_t serr = cpu.read32(abar(Ahci::PxSERR));
        cpu.write32(abar(Ahci::PxSERR), serr);
        kernel_.hub().instant(track(), "port-change", "driver",
                              {{"device", name_},
                               {"what", (pis & Ahci::PIS_PCS) ? "connection status changed" : "PHY RDY changed"},
                               {"pxis", fmt::format("{:#x}", pis)}, {"serr", fmt::format("{:#x}", serr)}});
        if (!resetting_ && !frozen_) {
            freeze(cpu, "port change");
            schedule_eh(cpu);
        }
    }
    cpu.write32(abar(Ahci::IS), is);
    // A frozen port's commands are the error handler's; so is any slot it
    // took: a clear PxCI bit there is a reset's doing, not a completion.
    if (frozen_) return true;
    // A task-file error: ahci_port_intr hands it to ahci_error_intr and
    // completes nothing by PxCI (the HBA stopped; the failed slot's bit
    // stays set).
    if ((pis & Ahci::PIS_TFES) && !resetting_) {
        task_file_error(cpu);
        return true;
    }
    uint32_t ci = cpu.read32(abar(Ahci::PxCI));
    uint32_t completed = in_flight_ & ~ci & ~eh_owned_;
    in_flight_ &= ~completed;
    quiesce::notify(done_, sc_core::SC_ZERO_TIME);
    return true;
}

int AhciDriver::command(Cpu& cpu, uint8_t cmd, uint64_t lba, uint32_t count, uint64_t buffer, uint32_t bytes,
                        bool write, bool internal, Picos timeout) {
    if (bytes > kMaxBytes) return -22;  // -EINVAL
    // A disabled device has no ATA device behind its SCSI device any more
    // (ata_scsi_find_dev): the command fails without being issued.
    if (disabled_) return kEIO;
    for (unsigned tries = 1;;) {
        const int rc = issue(cpu, cmd, lba, count, buffer, bytes, write, internal, timeout ? timeout : kCommandTimeout);
        if (rc == kRequeue) continue;  // given back without an error of its own: not a retry
        if (rc != kRetry) return rc;
        // The error handler gave the command back (ata_eh_qc_retry): issued again.
        if (tries++ == kMaxTries) return kEIO;
    }
}

int AhciDriver::issue(Cpu& cpu, uint8_t cmd, uint64_t lba, uint32_t count, uint64_t buffer, uint32_t bytes,
                      bool write, bool internal, Picos timeout) {
    // The slot is taken before the command is built (ata_qc_new): building
    // it takes time, and a caller on another CPU must not pick it meanwhile.
    // It counts as in flight only once issued: the interrupt handler takes
    // an in-flight slot whose PxCI bit is clear for a completed one.
    unsigned slot = 0;
    while ((in_flight_ | reserved_) & (1u << slot)) {
        if (++slot == Ahci::kSlots) {
            kernel_.wait_event(done_, kCommandTimeout);
            slot = 0;
        }
    }
    reserved_ |= 1u << slot;
    uint64_t ctba = cpu.read64(drv_ + F_CTBA + 8 * slot);
    uint8_t table[0x90] = {};
    table[0] = 0x27;  // host to device register FIS
    table[1] = 0x80;  // command
    table[2] = cmd;
    for (int i = 0; i < 3; ++i) table[4 + i] = uint8_t(lba >> (8 * i));
    table[7] = 0x40;  // LBA mode
    for (int i = 0; i < 3; ++i) table[8 + i] = uint8_t(lba >> (24 + 8 * i));
    table[12] = uint8_t(count);
    table[13] = uint8_t(count >> 8);
    unsigned prdtl = bytes ? 1 : 0;
    if (prdtl) {
        std::memcpy(&table[0x80], &buffer, 8);
        uint32_t dbc = bytes - 1;
        std::memcpy(&table[0x8c], &dbc, 4);
    }
    cpu.write_block(ctba, table, sizeof table);
    uint32_t header[8] = {5u | (write ? 1u << 6 : 0u) | (prdtl << 16), 0, uint32_t(ctba), uint32_t(ctba >> 32)};
    cpu.write_block(cpu.read64(drv_ + F_CLB) + 32 * slot, header, sizeof header);
    reserved_ &= ~(1u << slot);
    in_flight_ |= 1u << slot;
    failed_ &= ~(1u << slot);
    eh_retry_ &= ~(1u << slot);
    eh_requeue_ &= ~(1u << slot);
    eh_failed_ &= ~(1u << slot);
    slot_cmd_[slot] = cmd;
    if (internal) internal_ |= 1u << slot;
    else internal_ &= ~(1u << slot);
    if (frozen_) eh_owned_ |= 1u << slot;  // issued into a frozen port: only the error handler can end it
    Picos issued = now_ps();
    cpu.write32(abar(Ahci::PxCI), 1u << slot);
    std::string what = fmt::format("{}: slot {}, ATA command {:#04x}", name_, slot, cmd);
    // The command's timer. When it expires on a SCSI command outside error
    // handling, libata's timeout path makes the command the error
    // handler's, which resets the port and gives it back (or fails it): the
    // command has no timer any more (scsi_eh owns it) and the wait goes on
    // until the handler ends it. An internal command (the error handler's
    // own IDENTIFY), or one the handler owns already, ends at its timeout.
    bool eh_has_it = false;
    for (Picos start = now_ps(); in_flight_ & (1u << slot);) {
        if (!eh_has_it && now_ps() - start >= timeout) {
            // Timed out while the error handler that took it is scheduled
            // or running (a command queued behind the one that timed out):
            // it is the handler's too, and ends with it.
            if (!internal && (((eh_owned_ & (1u << slot)) && eh_scheduled_) || command_timeout(cpu, slot, cmd))) {
                eh_has_it = true;
                continue;
            }
            in_flight_ &= ~(1u << slot);
            eh_owned_ &= ~(1u << slot);
            if (internal) internal_timeout(cpu, cmd);
            return kETIMEDOUT;
        }
        kernel_.wait_event(done_, eh_has_it ? kCommandTimeout : timeout - (now_ps() - start), what);
    }
    if (eh_retry_ & (1u << slot)) {
        eh_retry_ &= ~(1u << slot);
        return kRetry;
    }
    if (eh_requeue_ & (1u << slot)) {
        eh_requeue_ &= ~(1u << slot);
        return kRequeue;
    }
    if (eh_failed_ & (1u << slot)) {
        eh_failed_ &= ~(1u << slot);
        return eh_rc_[slot];
    }
    if (failed_ & (1u << slot)) {
        if (internal) {  // ahci_post_internal_cmd: ahci_kick_engine
            stop_engine(cpu, name_ + ": kick engine");
            start_engine(cpu);
        }
        return kEIO;
    }
    if (write && observer_.written)
        observer_.written(lba, count, buffer, cmd == SataDrive::WRITE_DMA_FUA_EXT || !write_cache_);
    if (cmd == SataDrive::FLUSH_CACHE_EXT && observer_.flushed) observer_.flushed(issued);
    return 0;
}

// IDENTIFY DEVICE. At probe it sets the disk's identity; afterwards it is
// libata's revalidation (ata_dev_revalidate, ata_dev_same_device): another
// serial number (words 10-19), model (words 27-46) or capacity (words
// 100-103) is another drive - the disk is detached (-ENODEV, and its
// requests fail with -ENODEV from then on) and keeps its old identity.
int AhciDriver::identify(Cpu& cpu, Picos timeout) {
    if (int rc = command(cpu, SataDrive::IDENTIFY, 0, 0, identify_buf_, 512, false, true, timeout)) return rc;
    uint8_t id[512];
    cpu.read_block(identify_buf_, id, sizeof id);
    uint64_t sectors;
    std::memcpy(&sectors, &id[200], 8);
    uint16_t w85, w106;
    std::memcpy(&w85, &id[170], 2);
    std::memcpy(&w106, &id[212], 2);
    const std::string serial(reinterpret_cast<const char*>(&id[20]), 20);
    const std::string model(reinterpret_cast<const char*>(&id[54]), 40);
    if (capacity_) {
        const char* differs = serial != serial_ ? "serial number" : model != model_ ? "model number"
                              : sectors != capacity_ ? "capacity" : nullptr;
        if (differs) {
            detached_ = true;
            kernel_.hub().instant(track(), "detached", "driver",
                                  {{"device", disk_}, {"mismatch", differs}});
            return kENODEV;
        }
    }
    serial_ = serial;
    model_ = model;
    capacity_ = sectors;
    write_cache_ = w85 & 0x20;
    sector_size_ = (w106 & 0x4000) ? 4096 : 512;
    return 0;
}

bool AhciDriver::blocked(Cpu& cpu) { return cpu.read32(drv_ + F_BLOCKED) != 0; }

int AhciDriver::submit(Cpu& cpu, const BlockRequest& req) {
    for (;;) {
        if (blocked(cpu))  // blk_mq_quiesce_queue: requests wait for resume
            kernel_.wait_event(unblocked_, kCommandTimeout, disk_ + ": request queue stopped until resume");
        else if (recovering_)  // scsi_host_queue_ready: the host in recovery (port frozen or suspended)
            kernel_.wait_event(unblocked_, kCommandTimeout,
                               disk_ + ": held while " + name_ + "'s port is frozen (error handling or suspended)");
        else
            break;
    }
    if (detached_) return kENODEV;  // revalidation found another drive
    if (disabled_) return kEIO;     // the error handler gave the drive up
    if (req.preflush)
        if (int rc = flush(cpu)) return rc;
    if (req.count == 0) return 0;
    if (req.sector + req.count > capacity_) return -5;
    uint8_t cmd = !req.write ? SataDrive::READ_DMA_EXT
                             : (req.fua ? SataDrive::WRITE_DMA_FUA_EXT : SataDrive::WRITE_DMA_EXT);
    return command(cpu, cmd, req.sector, req.count, req.buffer, req.count * sector_size_, req.write);
}

int AhciDriver::flush(Cpu& cpu) {
    if (!write_cache_) return 0;
    return command(cpu, SataDrive::FLUSH_CACHE_EXT, 0, 0, 0, 0, false);
}

uint64_t AhciDriver::software_clb(const PhysicalMemory& mem) const { return drv_ ? mem.peek64(drv_ + F_CLB) : 0; }

uint64_t AhciDriver::software_fb(const PhysicalMemory& mem) const { return drv_ ? mem.peek64(drv_ + F_FB) : 0; }

}  // namespace quiesce
