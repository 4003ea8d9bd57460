// libata's error handling in the AHCI driver: the commands a frozen or
// reset port had outstanding belong to the error handler, which retries
// them after the reset and revalidation (or fails them); requests sent while
// the port is suspended wait for its resume; a port-change interrupt
// freezes the port and runs the error handler.
#include "bench_platform.h"

#include "models/disk/ahci.h"
#include "sim/fault/injector.h"

#include <fmt/format.h>

using namespace quiesce;
using quiesce::test::Facts;
using quiesce::test::on_disk;
using quiesce::test::pattern;

namespace {

constexpr Picos kMs = 1'000'000'000ULL;

PciDev& ahci_dev(Platform& p) {
    for (auto& d : p.pci_core().devices())
        if (d.vendor == AhciPci::kVendor && d.device == AhciPci::kDevice) return d;
    throw std::runtime_error("no AHCI function");
}

// The platform's HBA model, to act on the link from the bus side.
Ahci* find_hba() {
    for (sc_core::sc_object* o : sc_core::sc_get_top_level_objects())
        for (sc_core::sc_object* c : o->get_child_objects())
            if (auto* a = dynamic_cast<Ahci*>(c)) return a;
    return nullptr;
}

std::string arg(const Event& e, const std::string& key) {
    for (const Arg& a : e.args)
        if (a.key == key) return a.value;
    return "";
}

}  // namespace

// The bug this guards: a request sent to a suspended (stopped) port sat in
// PxCI; resume's HBA reset cleared PxCI without running it, and the next
// interrupt - the revalidation's IDENTIFY - took the clear bit for a
// completion: the write was acknowledged and never reached the drive.
TEST_CASE("ahci eh: a write sent while the port is suspended waits for resume and is on the drive when acknowledged",
          "[ahci-eh]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        Kernel& k = p.kernel();
        PciDev& dev = ahci_dev(p);
        const uint64_t abar = dev.bar[AhciPci::kAbar];
        const uint64_t buf = k.alloc(4096, 4096);
        const auto data = pattern(4096, 29);
        cpu.write_block(buf, data.data(), 4096);
        std::string order;
        k.hub().subscribe(kind_bit(EvKind::Instant), [&](const Event& e) {
            if (e.name == "ata" && e.category == "disk") order += "ata:" + arg(e, "command") + " ";
        });
        f["suspend"] = std::to_string(drv.pm("suspend", cpu, dev));
        bool done = false;
        int rc = 1;
        std::string on_drive;
        k.spawn("writer", Task::Kind::KThread, false, 1, [&](Task& t) {
            rc = drv.submit(t.cpu(), {true, 300, 8, buf, false, false});
            // What the drive holds at the moment the write is acknowledged.
            on_drive = drive.readable(307) == std::vector<uint8_t>(data.begin() + 3584, data.end()) ? "yes" : "no";
            done = true;
        });
        k.sleep(5 * kMs);  // the writer's request reaches the suspended port
        f["ci_while_suspended"] = fmt::format("{:#x}", cpu.read32(abar + Ahci::PxCI));
        f["done_while_suspended"] = done ? "yes" : "no";
        p.pci_core().save_state(cpu, dev);
        p.pci_core().set_power_state(cpu, dev, DState::D3hot);
        p.pci_core().set_power_state(cpu, dev, DState::D0);
        p.pci_core().restore_state(cpu, dev);
        f["resume"] = std::to_string(drv.pm("resume", cpu, dev));
        for (int i = 0; i < 400 && !done; ++i) k.sleep(100 * kMs);
        f["rc"] = std::to_string(rc);
        f["on_drive"] = on_drive;
        f["order"] = order;
    });
    CHECK(f["suspend"] == "0");
    CHECK(f["resume"] == "0");
    CHECK(f["ci_while_suspended"] == "0x0");   // held back: nothing issued to the stopped port
    CHECK(f["done_while_suspended"] == "no");
    CHECK(f["rc"] == "0");
    CHECK(f["on_drive"] == "yes");             // acknowledged only once done
    CHECK(f["order"] == "ata:0xec ata:0x35 "); // revalidation's IDENTIFY, then the write
    CHECK(f["guest_errors"].empty());
}

namespace {
// A write to a drive in standby (1.5 s of spin-up), the link reset from the
// bus side 100 ms into it - as a cable glitch would - with the driver's
// port interrupts enabled; `swap` puts another drive on the port first.
Facts link_drop_under_write(bool swap) {
    return on_disk([swap](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        Kernel& k = p.kernel();
        Ahci* hba = find_hba();
        REQUIRE(hba);
        const uint64_t buf = k.alloc(512, 512);
        const auto data = pattern(512, 41);
        cpu.write_block(buf, data.data(), 512);
        f["standby"] = std::to_string(drv.disk_pm("suspend", cpu));
        // thaw lets the queue go without START STOP UNIT: the drive stays in standby.
        f["resume"] = std::to_string(drv.disk_pm("thaw", cpu));
        std::string events;
        k.hub().subscribe(kind_bit(EvKind::Instant), [&](const Event& e) {
            if (e.category != "driver") return;
            if (e.name == "eh-take") events += "eh-take(" + arg(e, "slots") + ") ";
            else if (e.name == "eh-finish") events += "eh-finish(" + arg(e, "retried") + arg(e, "failed") + ") ";
            else if (e.name == "detached") events += "detached(" + arg(e, "mismatch") + ") ";
            else if (e.name == "freeze" || e.name == "thaw" || e.name == "port-change") events += e.name + " ";
        });
        sc_core::sc_spawn([&, swap] {
            sc_core::wait(sc_core::sc_time(100, sc_core::SC_MS));
            if (swap) drive.props().set("serial", PropValue(std::string("QS-SWAPPED")));
            hba->regs().write(Ahci::PxSCTL, 4, 0x301, "test");
            sc_core::wait(sc_core::sc_time(1, sc_core::SC_MS));
            hba->regs().write(Ahci::PxSCTL, 4, 0x300, "test");
        });
        const Picos t0 = now_ps();
        f["write"] = std::to_string(drv.submit(cpu, {true, 40, 1, buf, false, false}));
        f["waited_ms"] = std::to_string((now_ps() - t0) / kMs);
        f["readable"] = drive.readable(40) == data ? "yes" : "no";
        f["read"] = std::to_string(drv.submit(cpu, {false, 40, 1, buf, false, false}));
        f["events"] = events;
    });
}
}  // namespace

TEST_CASE("ahci eh: a link drop under a write freezes the port, the error handler resets, revalidates and "
          "issues the write again", "[ahci-eh]") {
    Facts f = link_drop_under_write(false);
    INFO(f["events"]);
    CHECK(f["standby"] == "0");
    CHECK(f["resume"] == "0");
    CHECK(f["write"] == "0");
    CHECK(f["readable"] == "yes");
    // Not libata's 30 s command timeout: the reset (~306 ms) and the spin-up the retried write waits for.
    CHECK(std::stoull(f["waited_ms"]) < 3000);
    CHECK(f["read"] == "0");
    CHECK(f["events"] == "port-change eh-take(0x1) freeze thaw eh-finish(0x1) ");
    CHECK(f["guest_errors"].empty());
}

TEST_CASE("ahci eh: another drive on the port after a link drop is detached: the write fails with -ENODEV",
          "[ahci-eh]") {
    Facts f = link_drop_under_write(true);
    CHECK(f["write"] == "-19");
    CHECK(f["readable"] == "no");
    CHECK(f["read"] == "-19");
    CHECK(f["events"] == "port-change eh-take(0x1) freeze thaw detached(serial number) eh-finish(0x1) ");
}

namespace {
// A write the drive never answers (the disk-no-answer fault: the drive busy
// with it until a COMRESET); `every` makes the drive answer nothing at all.
// `events` lists the driver's error handling in order; `identify_waits` how
// long each of the error handler's IDENTIFYs waited before it timed out
// (from the thaw before it to its internal-timeout), in ms.
Facts no_answer_under_write(bool every) {
    return on_disk([every](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        Kernel& k = p.kernel();
        const uint64_t buf = k.alloc(512, 512);
        const auto data = pattern(512, 53);
        cpu.write_block(buf, data.data(), 512);
        std::string events, identify_waits;
        Picos thawed = 0;
        k.hub().subscribe(kind_bit(EvKind::Instant), [&](const Event& e) {
            if (e.category != "driver") return;
            if (e.name == "eh-take") events += "eh-take(" + arg(e, "slots") + ") ";
            else if (e.name == "eh-finish") events += "eh-finish(" + arg(e, "retried") + arg(e, "failed") + ") ";
            else if (e.name == "command-timeout") events += "timeout(" + arg(e, "command") + ") ";
            else if (e.name == "internal-timeout") {
                events += "internal-timeout(" + arg(e, "command") + ") ";
                identify_waits += std::to_string((now_ps() - thawed) / kMs) + " ";
            } else if (e.name == "thaw") {
                events += "thaw ";
                thawed = now_ps();
            } else if (e.name == "freeze" || e.name == "disabled") events += e.name + " ";
        });
        FaultSpec rule;
        rule.kind = "disk-no-answer";
        rule.once = !every;
        drive.ctx().faults.add_rule(rule, 1);
        const Picos t0 = now_ps();
        f["write"] = std::to_string(drv.submit(cpu, {true, 40, 1, buf, false, false}));
        f["waited_ms"] = std::to_string((now_ps() - t0) / kMs);
        f["readable"] = drive.readable(40) == data ? "yes" : "no";
        f["resets"] = std::to_string(drive.resets());
        f["events"] = events;
        f["identify_waits"] = identify_waits;
        f["read"] = std::to_string(drv.submit(cpu, {false, 40, 1, buf, false, false}));
    });
}
}  // namespace

// libata's timeout path: sd's 30 s command timer expires, the command
// becomes the error handler's and the port freezes
// (ata_scsi_cmd_error_handler), the error handler resets the link - the
// COMRESET ends the drive's hung command - revalidates and issues the
// command again. Before, the timeout dropped the slot and failed the write
// with -ETIMEDOUT, the drive still stuck on it.
TEST_CASE("ahci eh: a command the drive never answers times out after 30 s, the error handler resets the port "
          "and issues it again",
          "[ahci-eh]") {
    Facts f = no_answer_under_write(false);
    INFO(f["events"]);
    CHECK(f["write"] == "0");
    CHECK(f["readable"] == "yes");
    // The 30 s timeout, then the reset: 500 ms waiting for CR (the hung
    // command keeps the engine running) and about 306 ms of COMRESET.
    const uint64_t waited = std::stoull(f["waited_ms"]);
    CHECK(waited >= 30'000);
    CHECK(waited < 31'000);
    CHECK(f["resets"] == "1");
    CHECK(f["events"] == "timeout(0x35) eh-take(0x1) freeze thaw eh-finish(0x1) ");
    CHECK(f["read"] == "0");
    CHECK(f["guest_errors"].empty());
}

// A drive that answers nothing: the error handler's IDENTIFY times out too
// (ata_exec_internal: the port frozen, the engine kicked), and
// ata_eh_recover tries again - a reset, then IDENTIFY with a longer timeout
// (ata_eh_identify_timeouts: 5, 10, 30 s) - three times (ATA_EH_DEV_TRIES);
// then the device is disabled and the write fails with -EIO instead of
// hanging, as does the next request, without a command.
TEST_CASE("ahci eh: a drive that answers nothing is reset and identified three times with 5, 10 and 30 s, then "
          "disabled: the write fails with -EIO",
          "[ahci-eh]") {
    Facts f = no_answer_under_write(true);
    INFO(f["events"]);
    CHECK(f["write"] == "-5");
    CHECK(f["readable"] == "no");
    CHECK(f["identify_waits"] == "5000 10000 30000 ");
    CHECK(f["resets"] == "3");
    CHECK(f["events"] == "timeout(0x35) eh-take(0x1) freeze "
                         "thaw internal-timeout(0xec) freeze "
                         "thaw internal-timeout(0xec) freeze "
                         "thaw internal-timeout(0xec) freeze disabled eh-finish(0x1) ");
    // 30 s, three resets and 45 s of IDENTIFY timeouts.
    const uint64_t waited = std::stoull(f["waited_ms"]);
    CHECK(waited >= 75'000);
    CHECK(waited < 80'000);
    CHECK(f["read"] == "-5");
}

namespace {
// A write the drive fails (the disk-write-error fault: ERR/ABRT in its D2H
// FIS), once or, with `every`, every time. `events` lists the driver's
// error handling; `hba` what the HBA shows when the error arrives.
Facts write_error(bool every) {
    return on_disk([every](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        Kernel& k = p.kernel();
        Ahci* hba = find_hba();
        REQUIRE(hba);
        const uint64_t buf = k.alloc(512, 512);
        const auto data = pattern(512, 67);
        cpu.write_block(buf, data.data(), 512);
        std::string events, seen;
        unsigned writes = 0;
        k.hub().subscribe(kind_bit(EvKind::Instant), [&](const Event& e) {
            if (e.category == "disk" && e.name == "ata" && arg(e, "command") == "0x35") ++writes;
            if (e.category == "disk" && e.name == "task-file-error" && seen.empty()) {
                const uint64_t cmd = hba->regs().reg("PxCMD").value();
                seen = fmt::format("ci={:#x} st={} cr={} tfd={:#x}", hba->regs().reg("PxCI").value(),
                                   cmd & Ahci::CMD_ST, (cmd & Ahci::CMD_CR) ? 1 : 0, hba->regs().reg("PxTFD").value());
            }
            if (e.category != "driver") return;
            if (e.name == "task-file-error") events += "tfe(" + arg(e, "slot") + ") ";
            else if (e.name == "eh-take") events += "eh-take(" + arg(e, "slots") + ") ";
            else if (e.name == "eh-finish") events += "eh-finish(" + arg(e, "retried") + arg(e, "failed") + ") ";
            else if (e.name == "freeze" || e.name == "hard-reset") events += e.name + " ";
        });
        FaultSpec rule;
        rule.kind = "disk-write-error";
        rule.once = !every;
        drive.ctx().faults.add_rule(rule, 1);
        f["write"] = std::to_string(drv.submit(cpu, {true, 40, 1, buf, false, false}));
        f["readable"] = drive.readable(40) == data ? "yes" : "no";
        f["writes"] = std::to_string(writes);
        f["hba"] = seen;
        f["events"] = events;
        f["read"] = std::to_string(drv.submit(cpu, {false, 40, 1, buf, false, false}));
    });
}
}  // namespace

// A task-file error (AHCI 6.2.2: TFES, the slot's PxCI bit kept, CR clear -
// ERR:Fatal) is not a freeze: ahci_error_intr charges the running command
// with a device error and aborts to the error handler, which restarts the
// engine (ST off, on) without a reset, and ata_eh_worth_retry retries a
// filesystem write. Before, the write failed at once with -EIO.
TEST_CASE("ahci eh: a write the drive fails once is retried by the error handler, without a reset", "[ahci-eh]") {
    Facts f = write_error(false);
    INFO(f["events"]);
    CHECK(f["hba"] == "ci=0x1 st=1 cr=0 tfd=0x451");  // ERR:Fatal: PxCI kept, CR clear; ABRT, DRDY|DSC|ERR
    CHECK(f["write"] == "0");
    CHECK(f["readable"] == "yes");
    CHECK(f["writes"] == "2");
    CHECK(f["events"] == "tfe(0) eh-take(0x1) eh-finish(0x1) ");
    CHECK(f["read"] == "0");
    CHECK(f["guest_errors"].empty());
}

// A write the drive fails every time: SCSI allows sd's 5 retries
// (scsi_cmd_retry_allowed), so 6 issues, then -EIO; the port works on.
TEST_CASE("ahci eh: a write the drive always fails is issued 6 times, then fails with -EIO", "[ahci-eh]") {
    Facts f = write_error(true);
    INFO(f["events"]);
    CHECK(f["write"] == "-5");
    CHECK(f["readable"] == "no");
    CHECK(f["writes"] == "6");
    std::string six;
    for (int i = 0; i < 6; ++i) six += "tfe(0) eh-take(0x1) eh-finish(0x1) ";
    CHECK(f["events"] == six);
    CHECK(f["read"] == "0");
}
