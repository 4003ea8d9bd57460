// The AHCI controller, the SATA drive and the driver, through the real bus:
// requests become command lists in RAM, DMA, interrupts; the drive's write
// cache, flush, FUA, standby and power loss.
#include "bench_platform.h"

#include "sim/check/checker.h"
#include "sim/kernel/page_cache.h"
#include "sim/pm/device_graph.h"

#include <fmt/format.h>

using namespace quiesce;
using quiesce::test::Facts;
using quiesce::test::pattern;
using quiesce::test::on_disk;

TEST_CASE("disk: probe identifies the drive through AHCI", "[disk]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive&, Facts& f) {
        f["capacity"] = std::to_string(drv.capacity());
        f["sector"] = std::to_string(drv.sector_size());
        f["wce"] = drv.write_cache_enabled() ? "yes" : "no";
        uint64_t abar = 0;
        for (auto& d : p.pci_core().devices())
            if (d.vendor == AhciPci::kVendor && d.device == AhciPci::kDevice) abar = d.bar[AhciPci::kAbar];
        f["clb_programmed"] = cpu.read32(abar + Ahci::PxCLB) != 0 ? "yes" : "no";
        f["running"] = (cpu.read32(abar + Ahci::PxCMD) & (Ahci::CMD_ST | Ahci::CMD_CR)) ? "yes" : "no";
    });
    REQUIRE(f["capacity"] == std::to_string((64u << 20) / 512));
    REQUIRE(f["sector"] == "512");
    REQUIRE(f["wce"] == "yes");
    REQUIRE(f["clb_programmed"] == "yes");
    REQUIRE(f["running"] == "yes");
    REQUIRE(f["guest_errors"].empty());
}

TEST_CASE("disk: cached writes are acknowledged before they are durable", "[disk]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        uint64_t buf = p.kernel().alloc(4096, 4096);
        auto data = pattern(4096, 3);
        cpu.write_block(buf, data.data(), 4096);
        f["write"] = std::to_string(drv.submit(cpu, {true, 100, 8, buf, false, false}));
        f["cached"] = std::to_string(drive.cached_sectors());
        f["media_old"] = drive.media(100) == std::vector<uint8_t>(512, 0) ? "zero" : "data";
        f["readable_new"] = drive.readable(107) == std::vector<uint8_t>(data.end() - 512, data.end()) ? "yes" : "no";
        // Read back through the controller into another buffer.
        uint64_t back = p.kernel().alloc(4096, 4096);
        f["read"] = std::to_string(drv.submit(cpu, {false, 100, 8, back, false, false}));
        std::vector<uint8_t> got(4096);
        cpu.read_block(back, got.data(), 4096);
        f["roundtrip"] = got == data ? "yes" : "no";
        f["flush"] = std::to_string(drv.flush(cpu));
        f["cached_after_flush"] = std::to_string(drive.cached_sectors());
        f["media_after_flush"] = drive.media(100) == std::vector<uint8_t>(data.begin(), data.begin() + 512) ? "yes" : "no";
        // FUA goes straight to the media.
        auto fua = pattern(512, 9);
        cpu.write_block(buf, fua.data(), 512);
        drv.submit(cpu, {true, 200, 1, buf, true, false});
        f["fua_media"] = drive.media(200) == fua ? "yes" : "no";
        f["fua_cached"] = std::to_string(drive.cached_sectors());
        // A cached write and a power cut: gone.
        drv.submit(cpu, {true, 300, 1, buf, false, false});
        drive.power_off();
        drive.power_on();
        f["after_power_loss"] = drive.readable(300) == std::vector<uint8_t>(512, 0) ? "lost" : "kept";
        f["flushes"] = std::to_string(drive.flushes());
    });
    REQUIRE(f["write"] == "0");
    REQUIRE(f["cached"] == "8");
    REQUIRE(f["media_old"] == "zero");
    REQUIRE(f["readable_new"] == "yes");
    REQUIRE(f["read"] == "0");
    REQUIRE(f["roundtrip"] == "yes");
    REQUIRE(f["flush"] == "0");
    REQUIRE(f["cached_after_flush"] == "0");
    REQUIRE(f["media_after_flush"] == "yes");
    REQUIRE(f["fua_media"] == "yes");
    REQUIRE(f["fua_cached"] == "0");
    REQUIRE(f["after_power_loss"] == "lost");
    REQUIRE(f["flushes"] == "1");
}

// ata_qc_new takes a command's tag before the command is built: two
// requests issued at the same instant from two CPUs must get two slots,
// or the second overwrites the first's command table, one command runs and
// both callers see it complete - a write acknowledged that the drive never
// saw.
TEST_CASE("disk: two CPUs issuing at the same instant get two command slots, and both writes reach the drive",
          "[disk]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        Kernel& k = p.kernel();
        REQUIRE(k.cpus().size() >= 2);
        const uint64_t a = k.alloc(4096, 4096), b = k.alloc(4096, 4096);
        const auto da = pattern(4096, 5), db = pattern(4096, 11);
        cpu.write_block(a, da.data(), 4096);
        cpu.write_block(b, db.data(), 4096);
        int done = 0, rc_a = -1, rc_b = -1;
        k.spawn("writer-a", Task::Kind::KThread, false, 0, [&](Task& t) {
            rc_a = drv.submit(t.cpu(), {true, 1000, 8, a, false, false});
            ++done;
        });
        k.spawn("writer-b", Task::Kind::KThread, false, 1, [&](Task& t) {
            rc_b = drv.submit(t.cpu(), {true, 2000, 8, b, false, false});
            ++done;
        });
        while (done < 2) k.sleep(1'000'000'000ULL);  // 1 ms
        f["rc"] = std::to_string(rc_a) + "," + std::to_string(rc_b);
        f["a"] = drive.readable(1000) == std::vector<uint8_t>(da.begin(), da.begin() + 512) ? "yes" : "no";
        f["b"] = drive.readable(2000) == std::vector<uint8_t>(db.begin(), db.begin() + 512) ? "yes" : "no";
    });
    CHECK(f["rc"] == "0,0");
    CHECK(f["a"] == "yes");
    CHECK(f["b"] == "yes");
}

TEST_CASE("disk: a drive in standby spins up on the next media access", "[disk]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        uint64_t buf = p.kernel().alloc(512, 512);
        f["suspend"] = std::to_string(drv.disk_pm("suspend", cpu));
        f["power"] = SataDrive::to_string(drive.power());
        f["resume"] = std::to_string(drv.disk_pm("thaw", cpu));  // the queue goes; no START STOP UNIT
        Picos t0 = now_ps();
        f["read"] = std::to_string(drv.submit(cpu, {false, 0, 1, buf, false, false}));
        f["read_ms"] = std::to_string((now_ps() - t0) / 1'000'000'000ULL);
        f["power_after"] = SataDrive::to_string(drive.power());
    });
    REQUIRE(f["suspend"] == "0");
    REQUIRE(f["power"] == "standby");
    REQUIRE(f["resume"] == "0");
    REQUIRE(f["read"] == "0");
    REQUIRE(f["read_ms"] == "1500");  // spin-up
    REQUIRE(f["power_after"] == "active");
}

TEST_CASE("disk: an HBA reset loses PxCLB/PxFB and resume re-derives them from memory", "[disk]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive&, Facts& f) {
        PciDev* ahci = nullptr;
        for (auto& d : p.pci_core().devices())
            if (d.vendor == AhciPci::kVendor && d.device == AhciPci::kDevice) ahci = &d;
        uint64_t abar = ahci->bar[AhciPci::kAbar];
        uint32_t clb = cpu.read32(abar + Ahci::PxCLB);
        f["stop"] = std::to_string(drv.pm("suspend", cpu, *ahci));
        p.pci_core().save_state(cpu, *ahci);
        p.pci_core().set_power_state(cpu, *ahci, DState::D3hot);
        p.pci_core().set_power_state(cpu, *ahci, DState::D0);   // no No_Soft_Reset: HBA reset
        p.pci_core().restore_state(cpu, *ahci);
        f["clb_after_reset"] = fmt::format("{:#x}", cpu.read32(abar + Ahci::PxCLB));
        f["start"] = std::to_string(drv.pm("resume", cpu, *ahci));
        f["clb_restored"] = cpu.read32(abar + Ahci::PxCLB) == clb ? "yes" : "no";
        uint64_t buf = p.kernel().alloc(512, 512);
        f["io"] = std::to_string(drv.submit(cpu, {false, 0, 1, buf, false, false}));
    });
    REQUIRE(f["stop"] == "0");
    REQUIRE(f["clb_after_reset"] == "0x0");
    REQUIRE(f["start"] == "0");
    REQUIRE(f["clb_restored"] == "yes");
    REQUIRE(f["io"] == "0");
    REQUIRE(f["guest_errors"].empty());
}

TEST_CASE("disk: a request beyond the disk fails with an error, not a hang", "[disk]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive&, Facts& f) {
        uint64_t buf = p.kernel().alloc(512, 512);
        f["beyond"] = std::to_string(drv.submit(cpu, {false, drv.capacity(), 1, buf, false, false}));
        // The HBA reports a task-file error for a command the drive rejects.
        f["rejected"] = std::to_string(drv.submit(cpu, {true, drv.capacity() - 1, 1, buf, false, false}));
    });
    REQUIRE(f["beyond"] == "-5");
    REQUIRE(f["rejected"] == "0");  // the last sector is fine
}

TEST_CASE("page cache: write-back and fsync, as the block layer reports them", "[disk][pagecache]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        PageCache cache(p.kernel(), drv, 0, 16);
        std::vector<std::string> log;
        drv.set_observer({[&](uint64_t sector, uint32_t count, uint64_t, bool durable) {
                              log.push_back(fmt::format("w{}+{}{}", sector, count, durable ? "!" : ""));
                          },
                          [&](Picos) { log.push_back("flush"); }});
        auto data = pattern(4096, 1);
        cache.write(cpu, 3, data.data());
        cache.write(cpu, 5, data.data());
        f["dirty"] = cache.entries().at(3).dirty ? "yes" : "no";
        cache.writeback(cpu, 5);
        f["cached_sectors"] = std::to_string(drive.cached_sectors());
        cache.fsync(cpu, {3});
        std::string joined;
        for (const auto& l : log) joined += l + " ";
        f["log"] = joined;
        f["media3"] = drive.media(3 * 8) == std::vector<uint8_t>(data.begin(), data.begin() + 512) ? "yes" : "no";
        std::vector<uint8_t> back(4096);
        cache.read(cpu, 3, back.data());
        f["read"] = back == data ? "yes" : "no";
    });
    REQUIRE(f["dirty"] == "yes");
    REQUIRE(f["cached_sectors"] == "8");
    // Block 5 went to the drive cache; fsync(3) wrote block 3 and flushed both.
    REQUIRE(f["log"] == "w40+8 w24+8 flush ");
    REQUIRE(f["media3"] == "yes");
    REQUIRE(f["read"] == "yes");
}

namespace {
// The checker's drvstate.stale "after resume" on the booted pc-storage
// platform (ahci0 and dma0 bound) after `change`, given ahci0's ABAR and
// dma0's BAR0; violations as "id@component:register ".
std::string mirrors_after(const std::function<void(Platform&, Cpu&, uint64_t, uint64_t)>& change) {
    return quiesce::test::on_booted("s3-storage", [&](Platform& p, Cpu& cpu, Facts& f) {
               DeviceGraph graph;
               graph.add_device("ahci0");
               graph.add_device("dma0");
               Checker checker(p.kernel().hub(), graph);
               p.watch(checker);
               uint64_t abar = 0;
               for (auto& d : p.pci_core().devices())
                   if (d.vendor == AhciPci::kVendor && d.device == AhciPci::kDevice) abar = d.bar[AhciPci::kAbar];
               REQUIRE(abar);
               REQUIRE(!p.dma_drivers().empty());
               change(p, cpu, abar, p.dma_drivers().at(0).second->mmio_base());
               checker.transition_resumed();
               std::string v;
               for (const auto& x : checker.violations()) {
                   const std::string key = "\"register\":\"";
                   const size_t at = x.evidence.find(key) + key.size();
                   v += x.id + "@" + x.component + ":" + x.evidence.substr(at, x.evidence.find('"', at) - at) + " ";
               }
               f["v"] = v;
           })["v"];
}

// Port 0 stopped as ahci_stop_engine and ahci_stop_fis_rx stop it, PxCLB
// moved to `clb`, then started again when `restart`.
void move_clb(Cpu& cpu, uint64_t abar, uint32_t clb, bool restart) {
    const uint32_t cmd = cpu.read32(abar + Ahci::PxCMD);
    cpu.write32(abar + Ahci::PxCMD, cmd & ~Ahci::CMD_ST);
    sc_core::wait(sc_core::sc_time(1, sc_core::SC_MS));
    cpu.write32(abar + Ahci::PxCMD, cpu.read32(abar + Ahci::PxCMD) & ~Ahci::CMD_FRE);
    sc_core::wait(sc_core::sc_time(1, sc_core::SC_MS));
    REQUIRE(!(cpu.read32(abar + Ahci::PxCMD) & (Ahci::CMD_CR | Ahci::CMD_FR)));
    cpu.write32(abar + Ahci::PxCLB, clb);
    if (!restart) return;
    cpu.write32(abar + Ahci::PxCMD, cpu.read32(abar + Ahci::PxCMD) | Ahci::CMD_FRE);
    sc_core::wait(sc_core::sc_time(1, sc_core::SC_MS));
    cpu.write32(abar + Ahci::PxCMD, cpu.read32(abar + Ahci::PxCMD) | Ahci::CMD_ST);
    sc_core::wait(sc_core::sc_time(1, sc_core::SC_MS));
    REQUIRE((cpu.read32(abar + Ahci::PxCMD) & Ahci::CMD_CR));
}
}  // namespace

TEST_CASE("checker: drvstate.stale - AHCI's PxCLB and the DMA engine's RING_SIZE against the driver's memory",
          "[checker][disk]") {
    // Quiet: both as their drivers programmed them.
    CHECK(mirrors_after([](Platform&, Cpu&, uint64_t, uint64_t) {}).empty());
    // Fires: the port runs its command list from elsewhere than the
    // driver's (a resume that restored PxCLB from a stale copy).
    CHECK(mirrors_after([](Platform& p, Cpu& cpu, uint64_t abar, uint64_t) {
              move_clb(cpu, abar, uint32_t(p.kernel().alloc(1024, 1024)), true);
          }) == "drvstate.stale@ahci0:PxCLB ");
    // Near miss: the same PxCLB on a stopped port, which fetches nothing.
    CHECK(mirrors_after([](Platform& p, Cpu& cpu, uint64_t abar, uint64_t) {
              move_clb(cpu, abar, uint32_t(p.kernel().alloc(1024, 1024)), false);
          }).empty());
    // Fires: a running engine whose RING_SIZE is not the driver's ring's.
    CHECK(mirrors_after([](Platform&, Cpu& cpu, uint64_t, uint64_t bar) {
              cpu.write32(bar + DmaEngine::RING_SIZE, cpu.read32(bar + DmaEngine::RING_SIZE) / 2);
          }) == "drvstate.stale@dma0:RING_SIZE ");
    // Near miss: the same on an engine stopped first (CTRL.ENABLE 0).
    CHECK(mirrors_after([](Platform&, Cpu& cpu, uint64_t, uint64_t bar) {
              cpu.write32(bar + DmaEngine::CTRL, 0);
              cpu.write32(bar + DmaEngine::RING_SIZE, cpu.read32(bar + DmaEngine::RING_SIZE) / 2);
          }).empty());
}
