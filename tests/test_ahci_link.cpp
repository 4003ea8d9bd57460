// The AHCI link layer: COMRESET through PxSCTL.DET, the link coming back in
// the SATA clock domain (PxSSTS.DET 0 -> 1 -> 3), the drive's signature FIS,
// a command in flight abandoned by the reset, the drive's write cache across
// a hardware reset, the driver's `hard-reset` command, the HBA reset
// (GHC.HR), the port-change interrupts (PxIS.PCS/PRCS) and the driver's
// resume as Linux runs it (HBA reset, hard reset, revalidation).
#include "bench_platform.h"
#include "cli.h"

#include "models/disk/ahci.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

using namespace quiesce;
using quiesce::test::Facts;
using quiesce::test::on_disk;
using quiesce::test::pattern;
using quiesce::test::sh;
using quiesce::test::tmp_path;

namespace {

Ahci* find_ahci(const std::vector<sc_core::sc_object*>& objs) {
    for (sc_core::sc_object* o : objs) {
        if (auto* a = dynamic_cast<Ahci*>(o)) return a;
        if (Ahci* a = find_ahci(o->get_child_objects())) return a;
    }
    return nullptr;
}
Ahci& the_ahci() {
    Ahci* a = find_ahci(sc_core::sc_get_top_level_objects());
    REQUIRE(a);
    return *a;
}

uint64_t abar_of(Platform& p) {
    for (auto& d : p.pci_core().devices())
        if (d.vendor == AhciPci::kVendor && d.device == AhciPci::kDevice) return d.bar[AhciPci::kAbar];
    return 0;
}

std::string arg(const Event& e, const std::string& key) {
    for (const Arg& a : e.args)
        if (a.key == key) return a.value;
    return "";
}

constexpr Picos kMs = 1'000'000'000ULL;

}  // namespace

TEST_CASE("ahci link: COMRESET takes the link down, DET 0 -> 1 -> 3 in SATA clock cycles, then the signature",
          "[ahci-link]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver&, SataDrive&, Facts& f) {
        Ahci& ahci = the_ahci();
        const uint64_t abar = abar_of(p);
        std::string seq = std::to_string(cpu.read32(abar + Ahci::PxSSTS) & 0xf);
        std::map<std::string, Picos> at;
        // Each link event with the registers as the HBA left them.
        p.kernel().hub().subscribe(kind_bit(EvKind::Instant), [&](const Event& e) {
            if (e.category != "link" || e.track != ahci.path()) return;
            const RegisterBank& b = ahci.regs();
            f[e.name] = fmt::format("ssts={:#x} tfd={:#x} sig={:#x}", b.reg("PxSSTS").value(),
                                    b.reg("PxTFD").value(), b.reg("PxSIG").value());
            f[e.name + ".cycles"] = arg(e, "sata_cycles");
            at[e.name] = e.ts;
            const std::string det = std::to_string(b.reg("PxSSTS").value() & 0xf);
            if (seq.back() != det.back()) seq += " " + det;
        });
        cpu.write32(abar + Ahci::PxCMD, cpu.read32(abar + Ahci::PxCMD) & ~Ahci::CMD_ST);
        // Port changes masked: PxSERR keeps what the link did (the driver's handler would clear it).
        cpu.write32(abar + Ahci::PxIE, Ahci::PIS_DHRS | Ahci::PIS_TFES);
        cpu.write32(abar + Ahci::PxSERR, 0xffffffff);
        cpu.write32(abar + Ahci::PxSCTL, 0x301);
        f["det_during"] = std::to_string(cpu.read32(abar + Ahci::PxSSTS));
        p.kernel().sleep(1 * kMs);
        f["still_down"] = std::to_string(cpu.read32(abar + Ahci::PxSSTS));
        cpu.write32(abar + Ahci::PxSCTL, 0x300);
        p.kernel().sleep(20 * kMs);
        f["seq"] = seq;
        f["ssts"] = fmt::format("{:#x}", cpu.read32(abar + Ahci::PxSSTS));
        f["sig"] = fmt::format("{:#x}", cpu.read32(abar + Ahci::PxSIG));
        f["tfd"] = fmt::format("{:#x}", cpu.read32(abar + Ahci::PxTFD) & 0xff);
        const uint32_t serr = cpu.read32(abar + Ahci::PxSERR);
        f["serr"] = fmt::format("{:#x}", serr);
        // The time from the release to COMINIT and to link-up is the SATA clock's cycles.
        const ClockDomain& sata = ahci.sata_clock();
        f["cominit_cycles"] = std::to_string((sata.cycles_at(at["cominit"]) - sata.cycles_at(at["comreset-release"])).n);
        f["linkup_cycles"] = std::to_string((sata.cycles_at(at["link-up"]) - sata.cycles_at(at["comreset-release"])).n);
        f["linkup_us"] = std::to_string((at["link-up"] - at["comreset-release"]) / 1'000'000);
        f["sig_after_linkup"] = at["signature"] >= at["link-up"] ? "yes" : "no";
        f["hz"] = std::to_string(sata.hz());
    });
    CHECK(f["det_during"] == "0");   // AHCI 10.4.2: DET 0 while COMRESET is asserted
    CHECK(f["still_down"] == "0");
    CHECK(f["comreset"] == "ssts=0x0 tfd=0x7f sig=0xffffffff");
    CHECK(f["comreset-release"] == "ssts=0x0 tfd=0x7f sig=0xffffffff");
    CHECK(f["cominit"] == "ssts=0x1 tfd=0x80 sig=0xffffffff");
    CHECK(f["link-up"] == "ssts=0x113 tfd=0x80 sig=0xffffffff");
    CHECK(f["signature"] == "ssts=0x113 tfd=0x150 sig=0x101");
    // The waits are whole cycles of the SATA clock from the edge at or after the release.
    CHECK((f["cominit.cycles"] == "15000000" || f["cominit.cycles"] == "15000001"));
    CHECK((f["link-up.cycles"] == "15085760" || f["link-up.cycles"] == "15085761"));
    CHECK(f["seq"] == "3 0 1 3");
    CHECK(f["hz"] == "1500000000");
    // Cycle counts at edges of the 1.5 GHz domain: the release lands between edges.
    CHECK(std::stoull(f["cominit_cycles"]) >= 15000000);
    CHECK(std::stoull(f["cominit_cycles"]) <= 15000001);
    CHECK(std::stoull(f["linkup_cycles"]) >= 15085760);
    CHECK(std::stoull(f["linkup_cycles"]) <= 15085761);
    CHECK(f["linkup_us"] == "10057");  // 10 ms COMINIT + 2.56 us COMWAKE + 54.6 us ALIGN
    CHECK(f["sig_after_linkup"] == "yes");
    CHECK(f["ssts"] == "0x113");
    CHECK(f["sig"] == "0x101");
    CHECK(f["tfd"] == "0x50");
    CHECK(f["serr"] == fmt::format("{:#x}", Ahci::SERR_DIAG_N | Ahci::SERR_DIAG_W | Ahci::SERR_DIAG_X));
    CHECK(f["guest_errors"].empty());
}

TEST_CASE("ahci link: a command in flight when COMRESET comes is abandoned: no FIS, no interrupt, PxCI kept",
          "[ahci-link]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        Ahci& ahci = the_ahci();
        const uint64_t abar = abar_of(p);
        uint64_t buf = p.kernel().alloc(512, 512);
        auto data = pattern(512, 11);
        cpu.write_block(buf, data.data(), 512);
        f["standby"] = std::to_string(drv.disk_pm("suspend", cpu));  // the next media access spins up (1.5 s)
        f["resume"] = std::to_string(drv.disk_pm("thaw", cpu));      // the queue goes, the drive stays in standby
        std::string outcome;
        p.kernel().hub().subscribe(kind_bit(EvKind::SliceEnd), [&](const Event& e) {
            if (e.name == "command" && e.track == ahci.path()) outcome += arg(e, "outcome") + " ";
        });
        // COMRESET 100 ms into the write's spin-up, from the bus side (no CPU).
        sc_core::sc_spawn([&] {
            sc_core::wait(sc_core::sc_time(100, sc_core::SC_MS));
            f["ci_before"] = std::to_string(ahci.regs().reg("PxCI").value());
            ahci.regs().write(Ahci::PxSCTL, 4, 0x301, "test");
            f["ci_after"] = std::to_string(ahci.regs().reg("PxCI").value());
            sc_core::wait(sc_core::sc_time(1, sc_core::SC_MS));
            ahci.regs().write(Ahci::PxSCTL, 4, 0x300, "test");
            sc_core::wait(sc_core::sc_time(3, sc_core::SC_SEC));
            f["pis"] = fmt::format("{:#x}", ahci.regs().reg("PxIS").value() & (Ahci::PIS_DHRS | Ahci::PIS_TFES));
            f["ci_later"] = std::to_string(ahci.regs().reg("PxCI").value());
            f["link"] = fmt::format("{:#x}", ahci.regs().reg("PxSSTS").value());
            f["media"] = drive.media(40) == data ? "written" : "not written";
            f["cached"] = std::to_string(drive.cached_sectors());
            f["outcome"] = outcome;
            // Software stops the engine (PxCI clears) and starts it again: the port works.
            ahci.regs().write(Ahci::PxCMD, 4, ahci.regs().reg("PxCMD").value() & ~Ahci::CMD_ST, "test");
            ahci.regs().write(Ahci::PxCMD, 4, ahci.regs().reg("PxCMD").value() | Ahci::CMD_ST, "test");
        });
        cpu.write32(abar + Ahci::PxIS, Ahci::PIS_DHRS | Ahci::PIS_TFES);
        // Port changes masked: no error handler runs (tests/test_ahci_eh.cpp runs it).
        cpu.write32(abar + Ahci::PxIE, Ahci::PIS_DHRS | Ahci::PIS_TFES);
        Picos t0 = now_ps();
        f["write"] = std::to_string(drv.submit(cpu, {true, 40, 1, buf, false, false}));
        f["waited_s"] = std::to_string((now_ps() - t0) / (1000 * kMs));
        f["media_after"] = drive.readable(40) == data ? "written" : "not written";
        // After the timeout the port takes commands again.
        f["read"] = std::to_string(drv.submit(cpu, {false, 40, 1, buf, false, false}));
    });
    CHECK(f["standby"] == "0");
    CHECK(f["resume"] == "0");
    CHECK(f["ci_before"] == "1");
    CHECK(f["ci_after"] == "1");   // the HBA keeps the slot; it will never answer it
    CHECK(f["ci_later"] == "1");   // not re-issued once the link is up
    CHECK(f["pis"] == "0x0");      // no D2H FIS, no interrupt
    CHECK(f["link"] == "0x113");
    CHECK(f["media"] == "not written");
    CHECK(f["cached"] == "0");
    CHECK(f["outcome"] == "aborted ");
    // sd's 30 s command timeout, then libata's error handler: the port reset
    // (the stopped engine drops the abandoned slot) and the write issued again.
    CHECK(f["write"] == "0");
    CHECK(f["waited_s"] == "30");
    CHECK(f["media_after"] == "written");
    CHECK(f["read"] == "0");
}

TEST_CASE("ahci link: a hardware reset keeps the write cache and destages it before the drive is ready",
          "[ahci-link]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        Ahci& ahci = the_ahci();
        const uint64_t abar = abar_of(p);
        uint64_t buf = p.kernel().alloc(4096, 4096);
        auto data = pattern(4096, 13);
        cpu.write_block(buf, data.data(), 4096);
        drv.submit(cpu, {true, 200, 8, buf, false, false});
        f["cached"] = std::to_string(drive.cached_sectors());
        Picos destaged = 0, signature = 0;
        p.kernel().hub().subscribe(kind_bit(EvKind::SliceEnd) | kind_bit(EvKind::Instant), [&](const Event& e) {
            if (e.name == "reset-destage") destaged = e.ts;
            if (e.name == "signature" && e.track == ahci.path()) signature = e.ts;
        });
        cpu.write32(abar + Ahci::PxCMD, cpu.read32(abar + Ahci::PxCMD) & ~Ahci::CMD_ST);
        cpu.write32(abar + Ahci::PxSCTL, 0x301);
        f["cached_in_reset"] = std::to_string(drive.cached_sectors());
        f["readable_in_reset"] = drive.readable(203) == std::vector<uint8_t>(data.begin() + 1536, data.begin() + 2048)
                                     ? "yes" : "no";
        p.kernel().sleep(1 * kMs);
        cpu.write32(abar + Ahci::PxSCTL, 0x300);
        p.kernel().sleep(20 * kMs);
        f["cached_after"] = std::to_string(drive.cached_sectors());
        bool all = true;
        for (unsigned i = 0; i < 8; ++i)
            all = all && drive.media(200 + i) == std::vector<uint8_t>(data.begin() + 512 * i, data.begin() + 512 * (i + 1));
        f["on_media"] = all ? "yes" : "no";
        f["order"] = destaged && signature && destaged <= signature ? "destage, then signature" : "?";
        f["flushes"] = std::to_string(drive.flushes());  // not a FLUSH CACHE command
    });
    CHECK(f["cached"] == "8");
    CHECK(f["cached_in_reset"] == "8");   // COMRESET does not drop the cache
    CHECK(f["readable_in_reset"] == "yes");
    CHECK(f["cached_after"] == "0");
    CHECK(f["on_media"] == "yes");
    CHECK(f["order"] == "destage, then signature");
    CHECK(f["flushes"] == "0");
}

TEST_CASE("ahci link: the driver's hard-reset is libata's sequence and leaves the port working", "[ahci-link]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive&, Facts& f) {
        const uint64_t abar = abar_of(p);
        std::vector<std::pair<uint64_t, Picos>> sctl;
        p.kernel().hub().subscribe(kind_bit(EvKind::RegAccess), [&](const Event& e) {
            if (e.write && e.name == "PxSCTL") sctl.push_back({e.data, e.ts});
        });
        Picos t0 = now_ps();
        f["rc"] = std::to_string(drv.command(cpu, "hard-reset", const_cast<DriverRunner&>(drv.disk_runner())));
        f["ms"] = std::to_string((now_ps() - t0) / kMs);
        f["sctl_writes"] = std::to_string(sctl.size());
        f["held_us"] = sctl.size() == 2 ? std::to_string((sctl[1].second - sctl[0].second) / 1'000'000) : "?";
        f["first"] = sctl.empty() ? "" : fmt::format("{:#x}", sctl[0].first);
        f["second"] = sctl.size() < 2 ? "" : fmt::format("{:#x}", sctl[1].first);
        f["ssts"] = fmt::format("{:#x}", cpu.read32(abar + Ahci::PxSSTS));
        f["serr"] = fmt::format("{:#x}", cpu.read32(abar + Ahci::PxSERR));
        f["running"] = (cpu.read32(abar + Ahci::PxCMD) & Ahci::CMD_CR) ? "yes" : "no";
        uint64_t buf = p.kernel().alloc(512, 512);
        f["io"] = std::to_string(drv.submit(cpu, {false, 0, 1, buf, false, false}));
    });
    CHECK(f["rc"] == "0");
    CHECK(f["sctl_writes"] == "2");
    CHECK(f["first"] == "0x1");       // COMRESET (SPD and IPM as they were: 0)
    CHECK(f["second"] == "0x0");
    CHECK(std::stoull(f["held_us"]) >= 1000);   // AHCI 10.4.2: at least 1 ms
    CHECK(std::stoull(f["held_us"]) <= 1010);
    // 1 ms COMRESET, 200 ms before debouncing, DET stable for more than 100 ms at 5 ms polls.
    CHECK(std::stoull(f["ms"]) >= 301);
    CHECK(std::stoull(f["ms"]) <= 320);
    CHECK(f["ssts"] == "0x113");
    CHECK(f["serr"] == "0x0");        // cleared after the link came up
    CHECK(f["running"] == "yes");
    CHECK(f["io"] == "0");
    CHECK(f["guest_errors"].empty());
}

TEST_CASE("ahci link: a driver file names hard-reset on the HBA only, a wrong name is exit 2 at file:line:column",
          "[ahci-link]") {
    const std::string dir = tmp_path("ahci-link");
    std::filesystem::create_directories(dir);
    auto scenario = [&](const std::string& name, const std::string& device, const std::string& command) {
        std::ofstream(dir + "/" + name) << "[platform]\nname = \"pc-storage\"\n[protocol]\nname = \"linux-s3\"\n"
                                        << "[[drivers." << device << ".patch]]\ncallback = \"resume\"\n"
                                        << "prepend = [{ op = \"command\", name = \"" << command << "\" }]\n"
                                        << "[expect]\nresult = \"pass\"\n";
        return dir + "/" + name;
    };
    auto good = sh("validate " + scenario("good.toml", "ahci0", "hard-reset"));
    CHECK(good.status == 0);
    auto on_disk_dev = sh("validate " + scenario("sd.toml", "sda", "hard-reset"));
    CHECK(on_disk_dev.status == 2);
    CHECK(on_disk_dev.out.find("sd.toml:7:37: drivers.sda.patch[0].prepend[0].name: 'sd' offers no command 'hard-reset' "
                               "(flush-cache, standby, start)") != std::string::npos);
    auto typo = sh("validate " + scenario("typo.toml", "ahci0", "hardreset"));
    CHECK(typo.status == 2);
    CHECK(typo.out.find("typo.toml:7:37: drivers.ahci0.patch[0].prepend[0].name: 'ahci' offers no command 'hardreset' (freeze, hard-reset, thaw, revalidate)") !=
          std::string::npos);
    CHECK(std::count(typo.out.begin(), typo.out.end(), '\n') == 1);
    std::filesystem::remove_all(dir);
}

TEST_CASE("ahci link: the regression pair - a port reset racing the disk hangs, the reset inside resume does not",
          "[ahci-link]") {
    const std::string db = tmp_path("ahci-link.db");
    auto r = sh("run " + quiesce::test::regression("s3-ahci-reset-races-disk") + " " +
                quiesce::test::regression("s3-ahci-reset-in-resume") + " --db " + db);
    CHECK(r.status == 0);
    CHECK(r.out.find("PASS    s3-ahci-reset-races-disk") != std::string::npos);
    CHECK(r.out.find("found the expected liveness.hang") != std::string::npos);
    CHECK(r.out.find("PASS    s3-ahci-reset-in-resume") != std::string::npos);
    std::filesystem::remove(db);
}

TEST_CASE("ahci link: GHC.HR takes hr_cycles, loads the reset values but PxCLB/PxFB, and the link comes back "
          "through COMRESET", "[ahci-link]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver&, SataDrive&, Facts& f) {
        Ahci& ahci = the_ahci();
        const uint64_t abar = abar_of(p);
        std::map<std::string, Picos> at;
        std::string seq;
        p.kernel().hub().subscribe(kind_bit(EvKind::Instant), [&](const Event& e) {
            if (e.track != ahci.path() || e.category != "link") return;
            if (!at.count(e.name)) at[e.name] = e.ts;
            seq += e.name + " ";
            if (e.name == "hba-reset-done") f["done_cycles"] = arg(e, "cycles");
        });
        const uint32_t clb = cpu.read32(abar + Ahci::PxCLB), fb = cpu.read32(abar + Ahci::PxFB);
        f["before"] = fmt::format("ghc={:#x} ssts={:#x}", cpu.read32(abar + Ahci::GHC), cpu.read32(abar + Ahci::PxSSTS));
        const Picos t0 = now_ps();
        cpu.write32(abar + Ahci::GHC, Ahci::GHC_AE | Ahci::GHC_HR);
        f["hr_at_once"] = (cpu.read32(abar + Ahci::GHC) & Ahci::GHC_HR) ? "set" : "clear";
        cpu.write32(abar + Ahci::GHC, Ahci::GHC_AE | Ahci::GHC_IE);   // writing HR 0 does nothing
        f["hr_after_zero"] = (cpu.read32(abar + Ahci::GHC) & Ahci::GHC_HR) ? "set" : "clear";
        while (cpu.read32(abar + Ahci::GHC) & Ahci::GHC_HR) p.kernel().sleep(10'000'000);  // every 10 us
        f["hr_us"] = std::to_string((now_ps() - t0) / 1'000'000);
        f["after"] = fmt::format("ghc={:#x} is={:#x} pie={:#x} cmd={:#x} ssts={:#x} tfd={:#x} sig={:#x} serr={:#x} sctl={:#x}",
                                 cpu.read32(abar + Ahci::GHC), cpu.read32(abar + Ahci::IS),
                                 cpu.read32(abar + Ahci::PxIE), cpu.read32(abar + Ahci::PxCMD),
                                 cpu.read32(abar + Ahci::PxSSTS), cpu.read32(abar + Ahci::PxTFD),
                                 cpu.read32(abar + Ahci::PxSIG), cpu.read32(abar + Ahci::PxSERR),
                                 cpu.read32(abar + Ahci::PxSCTL));
        f["kept"] = cpu.read32(abar + Ahci::PxCLB) == clb && cpu.read32(abar + Ahci::PxFB) == fb && clb ? "yes" : "no";
        p.kernel().sleep(20 * kMs);
        f["later"] = fmt::format("ssts={:#x} tfd={:#x} sig={:#x} pis={:#x} is={:#x}", cpu.read32(abar + Ahci::PxSSTS),
                                 cpu.read32(abar + Ahci::PxTFD) & 0xff, cpu.read32(abar + Ahci::PxSIG),
                                 cpu.read32(abar + Ahci::PxIS), cpu.read32(abar + Ahci::IS));
        f["seq"] = seq;
        f["linkup_after_done_us"] = std::to_string((at["link-up"] - at["hba-reset-done"]) / 1'000'000);
    });
    CHECK(f["before"] == "ghc=0x80000002 ssts=0x113");
    CHECK(f["hr_at_once"] == "set");
    CHECK(f["hr_after_zero"] == "set");
    CHECK((f["done_cycles"] == "250000" || f["done_cycles"] == "250001"));   // 1 ms of the 250 MHz HBA clock, from the edge after the write
    CHECK(std::stoull(f["hr_us"]) >= 1000);
    CHECK(std::stoull(f["hr_us"]) <= 1011);
    // AHCI 1.3.1 10.4.3: GHC (AE, IE), IS and the port's registers reset; the link is down (PxSSTS 0,
    // PxTFD 7Fh, PxSIG all ones) while the HBA's own COMRESET runs; SUD and POD read 1 (no staggered spin-up).
    CHECK(f["after"] ==
          "ghc=0x0 is=0x0 pie=0x0 cmd=0x6 ssts=0x0 tfd=0x7f sig=0xffffffff serr=0x0 sctl=0x0");
    CHECK(f["kept"] == "yes");             // PxCLB/PxFB are not affected by HR
    CHECK(f["seq"] ==
          "hba-reset hba-reset-done comreset comreset-release cominit port-change link-up port-change signature ");
    CHECK(f["linkup_after_done_us"] == "10057");  // the handshake as after a COMRESET
    // Up again; the link's changes are in PxSERR and PxIS mirrors them, but PxIE is 0: no interrupt.
    CHECK(f["later"] == fmt::format("ssts=0x113 tfd=0x50 sig=0x101 pis={:#x} is=0x0", Ahci::PIS_PCS | Ahci::PIS_PRCS));
    CHECK(f["guest_errors"].empty());
}

TEST_CASE("ahci link: PxIS.PCS and PRCS follow PxSERR.DIAG.X and N, interrupt when enabled, and the driver "
          "clears them and freezes the port as libahci does", "[ahci-link]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver&, SataDrive&, Facts& f) {
        Ahci& ahci = the_ahci();
        const uint64_t abar = abar_of(p);
        auto comreset = [&] {
            cpu.write32(abar + Ahci::PxCMD, cpu.read32(abar + Ahci::PxCMD) & ~Ahci::CMD_ST);
            cpu.write32(abar + Ahci::PxSCTL, 0x301);
            p.kernel().sleep(1 * kMs);
            cpu.write32(abar + Ahci::PxSCTL, 0x300);
            p.kernel().sleep(20 * kMs);
        };
        std::string hba, driver;
        p.kernel().hub().subscribe(kind_bit(EvKind::Instant), [&](const Event& e) {
            if (e.name == "port-change" && e.category == "link")
                hba += fmt::format("pcs={} prcs={} irq={}; ", arg(e, "pcs"), arg(e, "prcs"), arg(e, "irq"));
            if (e.name == "port-change" && e.category == "driver") driver += arg(e, "what") + "; ";
            if (e.category == "driver" && (e.name == "freeze" || e.name == "thaw" || e.name == "eh-finish" ||
                                           e.name == "hard-reset"))
                driver += e.name + "; ";
        });
        f["pie"] = fmt::format("{:#x}", cpu.read32(abar + Ahci::PxIE));
        // Enabled (the driver's PxIE): the first change interrupts; the handler clears PxSERR and PxIS,
        // freezes the port (PxIE 0: the rest of the handshake is masked) and its error handler resets
        // the link, thaws the port and revalidates the drive.
        comreset();
        f["hba_first"] = hba.substr(0, hba.find(';') + 2);
        p.kernel().sleep(500 * kMs);
        f["driver"] = driver;
        f["cleared"] = fmt::format("serr={:#x} pis={:#x} is={:#x} line={}", cpu.read32(abar + Ahci::PxSERR),
                                   cpu.read32(abar + Ahci::PxIS), cpu.read32(abar + Ahci::IS), ahci.irq.level() ? 1 : 0);
        // Masked: the bits stay; writing PxIS does not clear them, clearing the DIAG bit does.
        cpu.write32(abar + Ahci::PxIE, Ahci::PIS_DHRS | Ahci::PIS_TFES);
        hba.clear();
        comreset();
        f["masked"] = hba;
        f["pis"] = fmt::format("{:#x}", cpu.read32(abar + Ahci::PxIS));
        cpu.write32(abar + Ahci::PxIS, 0xffffffff);
        f["pis_after_w1c"] = fmt::format("{:#x}", cpu.read32(abar + Ahci::PxIS));
        cpu.write32(abar + Ahci::PxSERR, Ahci::SERR_DIAG_X);
        f["pis_after_x"] = fmt::format("{:#x}", cpu.read32(abar + Ahci::PxIS));
        cpu.write32(abar + Ahci::PxSERR, 0xffffffff);
        f["pis_after_all"] = fmt::format("{:#x}", cpu.read32(abar + Ahci::PxIS));
        f["is"] = fmt::format("{:#x}", cpu.read32(abar + Ahci::IS));
    });
    CHECK(f["pie"] == fmt::format("{:#x}", Ahci::PIS_DHRS | Ahci::PIS_PCS | Ahci::PIS_PRCS | Ahci::PIS_TFES));
    // COMRESET drops PhyRdy (N): one interrupt; the port is frozen from then on, the error handler's
    // own reset raises none, and the revalidation ends the error handling.
    CHECK(f["hba_first"] == "pcs=0 prcs=1 irq=1; ");
    CHECK(f["driver"] == "PHY RDY changed; freeze; hard-reset; thaw; eh-finish; ");
    CHECK(f["cleared"] == "serr=0x0 pis=0x0 is=0x0 line=0");
    CHECK(f["masked"] == "pcs=0 prcs=1 irq=0; pcs=1 prcs=0 irq=0; ");
    CHECK(f["pis"] == fmt::format("{:#x}", Ahci::PIS_PCS | Ahci::PIS_PRCS));
    CHECK(f["pis_after_w1c"] == fmt::format("{:#x}", Ahci::PIS_PCS | Ahci::PIS_PRCS));  // read-only mirrors
    CHECK(f["pis_after_x"] == fmt::format("{:#x}", Ahci::PIS_PRCS));
    CHECK(f["pis_after_all"] == "0x0");
    CHECK(f["is"] == "0x0");
    CHECK(f["guest_errors"].empty());
}

namespace {
PciDev& ahci_dev(Platform& p) {
    for (auto& d : p.pci_core().devices())
        if (d.vendor == AhciPci::kVendor && d.device == AhciPci::kDevice) return d;
    throw std::runtime_error("no AHCI function");
}

// Suspend ahci0, D3hot and back to D0 (no No_Soft_Reset: the HBA resets),
// then its resume; the resume's return code.
int suspend_resume(Platform& p, Cpu& cpu, AhciDriver& drv) {
    PciDev& dev = ahci_dev(p);
    if (int rc = drv.pm("suspend", cpu, dev)) return rc;
    p.pci_core().save_state(cpu, dev);
    p.pci_core().set_power_state(cpu, dev, DState::D3hot);
    p.pci_core().set_power_state(cpu, dev, DState::D0);
    p.pci_core().restore_state(cpu, dev);
    return drv.pm("resume", cpu, dev);
}
}  // namespace

TEST_CASE("ahci link: resume resets the HBA and waits for HR, then the port's hard reset, then revalidation",
          "[ahci-link]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive&, Facts& f) {
        Ahci& ahci = the_ahci();
        std::string order;
        Picos hr = 0, hr_done = 0, hr_seen_clear = 0;
        p.kernel().hub().subscribe(kind_bit(EvKind::Instant) | kind_bit(EvKind::RegAccess), [&](const Event& e) {
            if (e.kind == EvKind::RegAccess) {
                if (e.name == "GHC" && !e.write && hr_done && !hr_seen_clear && !(e.data & Ahci::GHC_HR)) {
                    hr_seen_clear = e.ts;
                    order += "hr-clear-read ";
                }
                if (e.name == "PxSCTL" && e.write && (e.data & 0xf) == 1) order += "comreset-written ";
                return;
            }
            if (e.name == "hba-reset" && e.category == "link") { hr = e.ts; order += "hba-reset "; }
            if (e.name == "hba-reset-done") { hr_done = e.ts; order += "hba-reset-done "; }
            if (e.name == "hard-reset" && e.category == "driver") order += "hard-reset(rc=" + arg(e, "rc") + ") ";
            if (e.name == "ata" && e.track == ahci.path()) order += "ata:" + arg(e, "command") + " ";
        });
        f["rc"] = std::to_string(suspend_resume(p, cpu, drv));
        f["order"] = order;
        f["hr_ms"] = std::to_string((hr_done - hr) / kMs);
        f["seen_after_ms"] = std::to_string((hr_seen_clear - hr) / kMs);
        uint64_t buf = p.kernel().alloc(512, 512);
        f["io"] = std::to_string(drv.submit(cpu, {false, 0, 1, buf, false, false}));
    });
    CHECK(f["rc"] == "0");
    // The reset first, HR seen clear before the link is reset; IDENTIFY (0xec) last, on a ready drive.
    CHECK(f["order"] == "hba-reset hba-reset-done hr-clear-read comreset-written hard-reset(rc=0) ata:0xec ");
    CHECK(f["hr_ms"] == "1");
    CHECK(f["seen_after_ms"] == "10");     // polled every 10 ms, as ahci_reset_controller polls
    CHECK(f["io"] == "0");
    CHECK(f["guest_errors"].empty());
}

TEST_CASE("ahci link: revalidation after resume finds another drive and detaches the disk", "[ahci-link]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        std::string detached;
        p.kernel().hub().subscribe(kind_bit(EvKind::Instant), [&](const Event& e) {
            if (e.name == "detached") detached += arg(e, "device") + ":" + arg(e, "mismatch");
        });
        drive.props().set("serial", PropValue(std::string("QS-SWAPPED")));  // another drive on the port
        f["rc"] = std::to_string(suspend_resume(p, cpu, drv));
        f["detached"] = detached;
        uint64_t buf = p.kernel().alloc(512, 512);
        f["io"] = std::to_string(drv.submit(cpu, {false, 0, 1, buf, false, false}));
        f["sd_start"] = std::to_string(drv.disk_pm("resume", cpu));
    });
    CHECK(f["rc"] == "0");                     // the controller resumed; the disk did not
    CHECK(f["detached"] == "sda:serial number");
    CHECK(f["io"] == "-19");
    CHECK(f["sd_start"] == "-19");                // no START STOP UNIT to a detached disk
}

// sd_suspend_common and sd_resume as Linux 6.1 runs them on libata: SYNCHRONIZE
// CACHE (FLUSH CACHE EXT), START STOP UNIT 0 (STANDBY IMMEDIATE); on resume
// the HBA's error handler revalidates the drive (IDENTIFY), then sd's START
// STOP UNIT 1 reaches the drive as READ VERIFY SECTORS of LBA 0, which spins
// it up. Before, sd's resume sent an IDENTIFY of its own and the drive stayed
// in standby until the first request.
TEST_CASE("ahci link: sd's resume is START STOP UNIT, READ VERIFY of LBA 0 after the error handler's IDENTIFY, "
          "and it spins the drive up",
          "[ahci-link]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        Ahci& ahci = the_ahci();
        std::string order;
        Picos verify_at = 0, spun_up_at = 0;
        p.kernel().hub().subscribe(kind_bit(EvKind::Instant) | kind_bit(EvKind::SliceEnd), [&](const Event& e) {
            if (e.name == "ata" && e.track == ahci.path()) {
                order += "ata:" + arg(e, "command") + "(lba " + arg(e, "lba") + " n " + arg(e, "count") + ") ";
                if (arg(e, "command") == "0x40") verify_at = e.ts;
            }
            if (e.name == "start-stop-unit") order += "sd:start=" + arg(e, "start") + " ";
            if (e.name == "spin-up" && e.kind == EvKind::SliceEnd) spun_up_at = e.ts;
        });
        f["suspend"] = std::to_string(drv.disk_pm("suspend", cpu));
        f["power_suspended"] = SataDrive::to_string(drive.power());
        order += "| ";
        f["hba"] = std::to_string(suspend_resume(p, cpu, drv));
        order += "| ";
        const Picos t0 = now_ps();
        f["resume"] = std::to_string(drv.disk_pm("resume", cpu));
        f["resume_ms"] = std::to_string((now_ps() - t0) / kMs);
        f["power_resumed"] = SataDrive::to_string(drive.power());
        f["spin_up_after_verify_ms"] = std::to_string(spun_up_at > verify_at ? (spun_up_at - verify_at) / kMs : 0);
        uint64_t buf = p.kernel().alloc(512, 512);
        const Picos t1 = now_ps();
        f["read"] = std::to_string(drv.submit(cpu, {false, 0, 1, buf, false, false}));
        f["read_ms"] = std::to_string((now_ps() - t1) / kMs);
        f["order"] = order;
    });
    CHECK(f["suspend"] == "0");
    CHECK(f["power_suspended"] == "standby");
    CHECK(f["hba"] == "0");
    CHECK(f["resume"] == "0");
    CHECK(f["order"] == "ata:0xea(lba 0 n 0) sd:start=0 ata:0xe0(lba 0 n 0) | ata:0xec(lba 0 n 0) | "
                        "sd:start=1 ata:0x40(lba 0 n 1) ata:0x25(lba 0 n 1) ");  // then the read
    CHECK(f["power_resumed"] == "active");
    CHECK(f["spin_up_after_verify_ms"] == "1500");  // the drive's spin-up, inside sd's resume
    CHECK(std::stoull(f["resume_ms"]) >= 1500);
    CHECK(f["read"] == "0");
    CHECK(f["read_ms"] == "0");                      // spun up already
    CHECK(f["guest_errors"].empty());
}

// READ VERIFY SECTORS (ACS-3 7.34): the media read, nothing transferred; a
// range past the end is an error, and so is a drive without power.
TEST_CASE("ahci link: the drive's READ VERIFY spins up from standby, moves no data and fails past the end",
          "[ahci-link]") {
    Facts f = on_disk([](Platform&, Cpu&, AhciDriver&, SataDrive& drive, Facts& f) {
        std::vector<uint8_t> data;
        f["standby"] = drive.execute(SataDrive::STANDBY_IMMEDIATE, 0, 0, data) ? "ok" : "error";
        Picos t0 = now_ps();
        f["verify"] = drive.execute(SataDrive::READ_VERIFY, 0, 1, data) ? "ok" : "error";
        f["verify_ms"] = std::to_string((now_ps() - t0) / kMs);
        f["power"] = SataDrive::to_string(drive.power());
        f["data"] = std::to_string(data.size());
        f["ext"] = drive.execute(SataDrive::READ_VERIFY_EXT, drive.sectors() - 8, 8, data) ? "ok" : "error";
        f["past_end"] = drive.execute(SataDrive::READ_VERIFY_EXT, drive.sectors() - 1, 2, data) ? "ok" : "error";
        drive.power_off();
        f["no_power"] = drive.execute(SataDrive::READ_VERIFY, 0, 1, data) ? "ok" : "error";
        drive.power_on();
    });
    CHECK(f["standby"] == "ok");
    CHECK(f["verify"] == "ok");
    CHECK(f["verify_ms"] == "1500");
    CHECK(f["power"] == "active");
    CHECK(f["data"] == "0");
    CHECK(f["ext"] == "ok");
    CHECK(f["past_end"] == "error");
    CHECK(f["no_power"] == "error");
}

TEST_CASE("ahci link: the regression pair - a resume that does not wait for HR to clear, and one that does",
          "[ahci-link]") {
    const std::string db = tmp_path("ahci-hr.db");
    auto r = sh("run " + quiesce::test::regression("s3-ahci-host-reset-no-wait") + " " +
                quiesce::test::regression("s3-ahci-host-reset-waited") + " --db " + db);
    CHECK(r.status == 0);
    CHECK(r.out.find("PASS    s3-ahci-host-reset-no-wait") != std::string::npos);
    CHECK(r.out.find("PASS    s3-ahci-host-reset-waited") != std::string::npos);
    std::filesystem::remove(db);
}
