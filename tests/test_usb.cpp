// USB devices on the xHCI root hub through the real interfaces: enumeration
// (port reset, Enable Slot, Address Device, descriptors, Configure
// Endpoint), interrupt transfers, port suspend with remote wakeup and PME,
// reset-resume after the controller lost its state; and the ACPI side of
// USB wake (FADT, GPE0, wake GPEs at SLP_EN, legacy _GTS/_BFS).
#include "bench_platform.h"

#include "sim/scenario/executor.h"

#include <fmt/format.h>

using namespace quiesce;
using quiesce::test::Facts;
using quiesce::test::pattern;

namespace {

using X = XhciCore;

// Boots pc-usb (s3-xhci) with the keyboard bound, and runs `body`.
Facts on_usb(const std::function<void(Platform&, Cpu&, UsbKeyboard&, UsbHidDriver&, Facts&)>& body,
             const std::function<void(Scenario&)>& tweak = nullptr) {
    return quiesce::test::on_booted(
        "s3-xhci",
        [&](Platform& p, Cpu& cpu, Facts& f) {
            auto kbds = p.keyboards();
            REQUIRE(kbds.size() == 1);
            body(p, cpu, *kbds[0].first, *kbds[0].second, f);
        },
        tweak);
}

uint64_t xhci_bar(Platform& p, Cpu& cpu) {
    PciDev* pd = p.pci_core().find(0, 0x14 << 3);
    REQUIRE(pd);
    return p.pci_core().cfg_read(cpu, *pd, pci::BAR0, 4) & ~0xfu;
}

// The controller's output device context for `slot`, as the driver reads it.
std::string contexts(Platform& p, Cpu& cpu, unsigned slot) {
    uint64_t dcbaa = p.xhci_drivers().at(0).second->dcbaa(cpu);
    uint64_t out = cpu.read64(dcbaa + 8 * slot);
    uint32_t slot_dw3 = cpu.read32(out + 12), ep0 = cpu.read32(out + X::kCtx), ep3 = cpu.read32(out + 3 * X::kCtx);
    return fmt::format("slot-state={} address={} ep0={} ep3={}", slot_dw3 >> 27, slot_dw3 & 0xff, ep0 & 7, ep3 & 7);
}

int pm(Platform& p, const std::string& dev, const std::string& cb, Cpu& cpu) {
    return p.pm_devices().at(dev)->callback(cb, cpu);
}


}  // namespace

TEST_CASE("usb: the keyboard is enumerated through its port and its key presses reach the driver", "[usb]") {
    Facts f = on_usb([](Platform& p, Cpu& cpu, UsbKeyboard& kbd, UsbHidDriver& drv, Facts& f) {
        const uint64_t bar = xhci_bar(p, cpu);
        uint32_t portsc = cpu.read32(bar + X::PORTSC0);
        f["port"] = fmt::format("ccs={} ped={} pls={} speed={}", portsc & 1, (portsc >> 1) & 1, (portsc >> 5) & 0xf,
                                (portsc >> 10) & 0xf);
        f["empty_port"] = std::to_string(cpu.read32(bar + X::PORTSC0 + 0x10) & X::PORTSC_CCS);
        const unsigned slot = drv.slot(cpu);
        f["slot"] = std::to_string(slot);
        f["contexts"] = contexts(p, cpu, slot);
        f["device"] = fmt::format("address={} configuration={}", kbd.address(), kbd.configuration());
        kbd.press_key(0x04);
        kbd.press_key(0x05);
        p.kernel().sleep(50'000'000'000ULL);
        f["keys"] = std::to_string(drv.keys(cpu));
    });
    REQUIRE(f["port"] == "ccs=1 ped=1 pls=0 speed=2");  // enabled, U0, low speed
    REQUIRE(f["empty_port"] == "0");
    REQUIRE(f["slot"] == "1");
    REQUIRE(f["contexts"] == "slot-state=3 address=1 ep0=1 ep3=1");  // configured, both endpoints running
    REQUIRE(f["device"] == "address=1 configuration=1");
    REQUIRE(f["keys"] == "2");
    REQUIRE(f["guest_errors"].empty());
}

TEST_CASE("usb: a suspended keyboard signals remote wakeup as PME while the controller is halted", "[usb]") {
    Facts f = on_usb([](Platform& p, Cpu& cpu, UsbKeyboard& kbd, UsbHidDriver& drv, Facts& f) {
        const uint64_t bar = xhci_bar(p, cpu);
        REQUIRE(pm(p, "kbd0", "suspend", cpu) == 0);
        uint32_t portsc = cpu.read32(bar + X::PORTSC0);
        f["suspended"] = fmt::format("pls={} device={} remote-wakeup={}", (portsc >> 5) & 0xf, kbd.suspended(),
                                     kbd.remote_wakeup_enabled());
        REQUIRE(pm(p, "xhci0", "suspend", cpu) == 0);
        REQUIRE(pm(p, "xhci0", "suspend_noirq", cpu) == 0);  // D3hot, PME_En
        PciFunction* fn = p.function("xhci0");
        f["pme_before"] = std::to_string(fn->pme.level());
        kbd.press_key(0x04);
        p.kernel().sleep(1'000'000'000ULL);
        f["pme_after"] = std::to_string(fn->pme.level());
        f["pmcsr"] = fmt::format("{:#x}", fn->config().reg("PMCSR").value() & (pci::PMCSR_PME_STATUS | pci::PMCSR_PME_EN));
        REQUIRE(pm(p, "xhci0", "resume_noirq", cpu) == 0);  // clears PME_Status
        f["pme_cleared"] = std::to_string(fn->pme.level());
        REQUIRE(pm(p, "xhci0", "resume", cpu) == 0);
        REQUIRE(pm(p, "kbd0", "resume", cpu) == 0);
        p.kernel().sleep(50'000'000'000ULL);
        portsc = cpu.read32(bar + X::PORTSC0);
        f["resumed"] = fmt::format("pls={} device={} remote-wakeup={}", (portsc >> 5) & 0xf, kbd.suspended(),
                                   kbd.remote_wakeup_enabled());
        f["keys"] = std::to_string(drv.keys(cpu));
    });
    REQUIRE(f["suspended"] == "pls=3 device=true remote-wakeup=true");
    REQUIRE(f["pme_before"] == "0");
    REQUIRE(f["pme_after"] == "1");
    REQUIRE(f["pmcsr"] == "0x8100");
    REQUIRE(f["pme_cleared"] == "0");
    REQUIRE(f["resumed"] == "pls=0 device=false remote-wakeup=false");
    REQUIRE(f["keys"] == "1");  // the key pressed while suspended, delivered after resume
}

TEST_CASE("usb: after the controller lost its state, persist re-addresses the same device, without it, a "
          "disconnect",
          "[usb]") {
    for (bool persist : {true, false}) {
        Facts f = on_usb(
            [](Platform& p, Cpu& cpu, UsbKeyboard& kbd, UsbHidDriver& drv, Facts& f) {
                std::vector<std::string> seen;
                p.kernel().hub().subscribe(kind_bit(EvKind::Instant), [&](const Event& e) {
                    if (e.name == "usb-reset-resume" || e.name == "usb-disconnect" || e.name == "usb-new-device" ||
                        e.name == "xhci-reinit")
                        seen.push_back(e.name);
                });
                REQUIRE(pm(p, "kbd0", "suspend", cpu) == 0);
                REQUIRE(pm(p, "xhci0", "suspend", cpu) == 0);
                REQUIRE(pm(p, "xhci0", "suspend_noirq", cpu) == 0);
                PciFunction* fn = p.function("xhci0");
                fn->power_off();  // the power session ends: VBUS goes too
                f["address_lost"] = std::to_string(kbd.address());
                fn->power_on();
                p.kernel().sleep(100'000'000'000ULL);
                REQUIRE(pm(p, "xhci0", "resume_noirq", cpu) == 0);
                REQUIRE(pm(p, "xhci0", "resume", cpu) == 0);
                REQUIRE(pm(p, "kbd0", "resume", cpu) == 0);
                std::string joined;
                for (const auto& s : seen) joined += (joined.empty() ? "" : " ") + s;
                f["seen"] = joined;
                f["device"] = fmt::format("address={} configuration={}", kbd.address(), kbd.configuration());
                kbd.press_key(0x04);
                p.kernel().sleep(50'000'000'000ULL);
                f["keys"] = std::to_string(drv.keys(cpu));
            },
            [persist](Scenario& s) {
                for (auto& d : s.platform.devices)
                    if (d.name == "kbd0") d.persist = persist;
            });
        INFO("persist " << persist);
        REQUIRE(f["address_lost"] == "0");
        REQUIRE(f["seen"] == (persist ? "xhci-reinit usb-reset-resume" : "xhci-reinit usb-disconnect usb-new-device"));
        REQUIRE(f["device"] == "address=1 configuration=1");
        REQUIRE(f["keys"] == "1");
    }
}

TEST_CASE("acpi: the kernel finds the fixed hardware through the FADT, and refuses a corrupt one", "[acpi]") {
    Facts f = quiesce::test::on_platform("s3-xhci", [](Platform& p, Cpu& cpu, Facts& f) {
        f["init"] = std::to_string(p.acpi_os().init(cpu));
        f["sci"] = std::to_string(p.acpi_os().sci_irq());
        const uint64_t fadt = p.firmware().fadt();
        f["gpe0"] = fmt::format("{:#x}", cpu.read32(fadt + AcpiFirmware::FADT_GPE0_BLK));
        f["facs"] = fmt::format("{}", cpu.read32(fadt + AcpiFirmware::FADT_FIRMWARE_CTRL) == p.firmware().facs());
        cpu.write32(fadt + AcpiFirmware::FADT_GPE0_BLK, 0xfed40020);  // checksum no longer matches
        f["corrupt"] = std::to_string(p.acpi_os().init(cpu));
    });
    REQUIRE(f["init"] == "1");
    REQUIRE(f["sci"] == "9");
    REQUIRE(f["gpe0"] == "0xfed40010");
    REQUIRE(f["facs"] == "true");
    REQUIRE(f["corrupt"] == "0");
}

TEST_CASE("acpi: only the wake GPEs are enabled at SLP_EN, _GTS and _BFS run in their places when asked",
          "[acpi]") {
    Scenario s = load_scenario(std::string(QUIESCE_DATA_DIR) + "/regression/s3-legacy-gts-bfs.toml");
    RunResult r = execute(s);
    REQUIRE(r.status == "passed");
    std::vector<std::string> order;
    std::string gpe0_en;
    for (const auto& ev : r.stream.events) {
        if (ev.kind == EvKind::SliceBegin && ev.category == "firmware" && ev.name.size() > 3 && ev.name[0] == '_')
            order.push_back(ev.name);
        if (ev.kind == EvKind::Instant && ev.name == "sleep-request") {
            order.push_back("SLP_EN");
            gpe0_en = arg_value(ev, "gpe0_en");
        }
    }
    std::string joined;
    for (const auto& o : order) joined += (joined.empty() ? "" : " ") + o;
    REQUIRE(joined == "_TTS(3) _PTS(3) _GTS(3) SLP_EN _BFS(3) _WAK(3) _TTS(0)");
    REQUIRE(gpe0_en == "0x2000");  // GPE 13 (the xHCI's _PRW), nothing else
    // _BFS where acpi_suspend_enter ran it: right after the wake, on one CPU
    // with interrupts off - before syscore resume, interrupts and the other
    // CPUs come back.
    auto first = [&](EvKind kind, const std::string& name) {
        for (const auto& ev : r.stream.events)
            if (ev.kind == kind && ev.name == name) return ev.ts;
        return Picos(0);
    };
    const Picos bfs = first(EvKind::SliceBegin, "_BFS(3)");
    REQUIRE(bfs > first(EvKind::Instant, "sleep-request"));
    CHECK(bfs < first(EvKind::SliceBegin, "syscore-resume"));
    CHECK(bfs < first(EvKind::SliceBegin, "irqs-on"));
    CHECK(bfs < first(EvKind::SliceBegin, "cpus-online"));
    // SLP_TYP: the chipset keeps the S3 value through the wake; the OS writes
    // _S0's back (acpi_leave_sleep_state_prep) before _BFS.
    s.trace = TraceLevel::Bus;
    RunResult bus = execute(s);
    std::vector<std::pair<bool, uint64_t>> cnt;  // PM1_CNT accesses: (write, value)
    for (const auto& ev : bus.stream.events)
        if (ev.kind == EvKind::RegAccess && ev.name == "PM1_CNT") cnt.push_back({ev.write, ev.data});
    REQUIRE(cnt.size() >= 3);
    auto typ = [](uint64_t v) { return (v >> 10) & 7; };
    const auto& last = cnt.back();
    const auto& at_wake = cnt[cnt.size() - 2];
    CHECK(last.first);
    CHECK(typ(last.second) == 0);     // the OS wrote _S0's back
    CHECK_FALSE(at_wake.first);
    CHECK(typ(at_wake.second) == 5);  // read right after the wake: still S3's, the chipset kept it
    // Without the option (today's Linux) neither runs.
    s.trace = TraceLevel::Events;
    // Without the option (today's Linux) neither runs.
    s.properties.clear();
    RunResult modern = execute(s);
    for (const auto& ev : modern.stream.events) REQUIRE(ev.name.rfind("_GTS", 0) != 0);
}

namespace {

// Boots pc-usb-storage (s3-usb-storage) with the USB disk bound.
Facts on_usb_disk(const std::function<void(Platform&, Cpu&, UsbStorageDriver&, SataDrive&, Facts&)>& body,
                  const std::function<void(Scenario&)>& tweak = nullptr) {
    return quiesce::test::on_booted(
        "s3-usb-storage",
        [&](Platform& p, Cpu& cpu, Facts& f) {
            Platform::Disk d = p.disk();
            REQUIRE(d.drive);
            REQUIRE(d.name == "sdb");
            body(p, cpu, *static_cast<UsbStorageDriver*>(d.driver), *d.drive, f);
        },
        tweak);
}


}  // namespace

TEST_CASE("usb: the disk in the enclosure through Bulk-Only Transport: capacity, cache, FUA, flush", "[usb][disk]") {
    Facts f = on_usb_disk([](Platform& p, Cpu& cpu, UsbStorageDriver& sdb, SataDrive& drive, Facts& f) {
        f["geometry"] = fmt::format("{} x {} wce={}", sdb.capacity(), sdb.sector_size(), sdb.write_cache_enabled());
        const uint64_t buf = p.kernel().alloc(64 * 1024 + 4096, 4096);
        auto data = pattern(8 * 512, 3);
        cpu.write_block(buf, data.data(), unsigned(data.size()));
        REQUIRE(sdb.submit(cpu, {true, 100, 8, buf, false, false}) == 0);
        f["cached"] = fmt::format("media={} readable={}", drive.media(100) == std::vector<uint8_t>(data.begin(), data.begin() + 512),
                                  drive.readable(100) == std::vector<uint8_t>(data.begin(), data.begin() + 512));
        const uint64_t flushes = drive.flushes();
        REQUIRE(sdb.flush(cpu) == 0);
        f["flushed"] = fmt::format("media={} flushes={}", drive.media(107) == std::vector<uint8_t>(data.end() - 512, data.end()),
                                   drive.flushes() - flushes);
        auto fua = pattern(512, 9);
        cpu.write_block(buf, fua.data(), 512);
        REQUIRE(sdb.submit(cpu, {true, 200, 1, buf, true, false}) == 0);
        f["fua"] = std::to_string(drive.media(200) == fua);
        // A read of 72 KiB: more than one data stage.
        auto big = pattern(144 * 512, 21);
        cpu.write_block(buf, big.data(), unsigned(big.size()));
        REQUIRE(sdb.submit(cpu, {true, 1000, 144, buf, false, false}) == 0);
        std::vector<uint8_t> zero(big.size(), 0), back(big.size());
        cpu.write_block(buf, zero.data(), unsigned(zero.size()));
        REQUIRE(sdb.submit(cpu, {false, 1000, 144, buf, false, false}) == 0);
        cpu.read_block(buf, back.data(), unsigned(back.size()));
        f["read_back"] = std::to_string(back == big);
        f["past_end"] = std::to_string(sdb.submit(cpu, {false, sdb.capacity(), 1, buf, false, false}));
    });
    REQUIRE(f["geometry"] == "131072 x 512 wce=true");
    REQUIRE(f["cached"] == "media=false readable=true");  // acknowledged from the drive's cache
    REQUIRE(f["flushed"] == "media=true flushes=1");        // SYNCHRONIZE CACHE -> FLUSH CACHE EXT
    REQUIRE(f["fua"] == "1");                                // WRITE(10) FUA -> WRITE DMA FUA EXT
    REQUIRE(f["read_back"] == "1");
    REQUIRE(f["past_end"] == "-5");
    REQUIRE(f["guest_errors"].empty());
}

TEST_CASE("usb: a bridge that hides the write cache gets no flush from sd", "[usb][disk]") {
    Facts f = on_usb_disk(
        [](Platform& p, Cpu& cpu, UsbStorageDriver& sdb, SataDrive& drive, Facts& f) {
            f["wce"] = std::to_string(sdb.write_cache_enabled());
            const uint64_t buf = p.kernel().alloc(4096, 4096);
            REQUIRE(sdb.submit(cpu, {true, 300, 8, buf, true, true}) == 0);  // FUA and PREFLUSH asked for
            REQUIRE(sdb.flush(cpu) == 0);
            f["drive"] = fmt::format("cached={} flushes={}", drive.cached_sectors(), drive.flushes());
        },
        [](Scenario& s) { s.properties.push_back({"usb0.reports_write_cache", false, 0, 0}); });
    REQUIRE(f["wce"] == "0");
    REQUIRE(f["drive"] == "cached=8 flushes=0");  // the drive caches; nobody tells it to flush
}

TEST_CASE("usb: the disk after a lost power session: kept with persist, gone without", "[usb][disk]") {
    for (bool persist : {true, false}) {
        Facts f = on_usb_disk(
            [](Platform& p, Cpu& cpu, UsbStorageDriver& sdb, SataDrive& drive, Facts& f) {
                const uint64_t buf = p.kernel().alloc(4096, 4096);
                auto data = pattern(4096, 5);
                cpu.write_block(buf, data.data(), 4096);
                REQUIRE(sdb.submit(cpu, {true, 64, 8, buf, false, false}) == 0);
                for (const char* dev : {"sdb", "usb0", "xhci0"}) REQUIRE(pm(p, dev, "suspend", cpu) == 0);
                f["flushed"] = std::to_string(drive.cached_sectors());  // sd's SYNCHRONIZE CACHE at suspend
                REQUIRE(pm(p, "xhci0", "suspend_noirq", cpu) == 0);
                p.function("xhci0")->power_off();
                p.function("xhci0")->power_on();
                p.kernel().sleep(100'000'000'000ULL);
                REQUIRE(pm(p, "xhci0", "resume_noirq", cpu) == 0);
                for (const char* dev : {"xhci0", "usb0", "sdb"}) REQUIRE(pm(p, dev, "resume", cpu) == 0);
                std::vector<uint8_t> zero(4096, 0), back(4096);
                cpu.write_block(buf, zero.data(), 4096);
                int rc = sdb.submit(cpu, {false, 64, 8, buf, false, false});
                cpu.read_block(buf, back.data(), 4096);
                f["after"] = fmt::format("rc={} same={} dead={}", rc, back == data, sdb.dead(cpu));
            },
            [persist](Scenario& s) {
                for (auto& d : s.platform.devices)
                    if (d.name == "usb0") d.persist = persist;
            });
        INFO("persist " << persist);
        REQUIRE(f["flushed"] == "0");
        REQUIRE(f["after"] == (persist ? "rc=0 same=true dead=false" : "rc=-19 same=false dead=true"));
    }
}

TEST_CASE("acpi: GPE0 status is write-1-to-clear, a level input sets it again, an enabled one raises the SCI",
          "[acpi]") {
    Facts f = quiesce::test::on_platform("s3-xhci", [](Platform& p, Cpu& cpu, Facts& f) {
        const uint64_t sts = Platform::kAcpiBase + AcpiPm::GPE0_STS, en = Platform::kAcpiBase + AcpiPm::GPE0_EN;
        AcpiPm& pm = p.acpi_pm();
        pm.set_gpe_input(13, true);
        f["latched"] = fmt::format("{:#x}", cpu.read32(sts));
        f["sci_disabled"] = std::to_string(pm.sci.level());
        cpu.write32(sts, 1u << 13);  // still asserted: set again
        f["relatched"] = fmt::format("{:#x}", cpu.read32(sts));
        cpu.write32(en, 1u << 13);
        f["sci_enabled"] = std::to_string(pm.sci.level());
        pm.set_gpe_input(13, false);
        cpu.write32(sts, 1u << 13);
        f["cleared"] = fmt::format("{:#x} sci={}", cpu.read32(sts), int(pm.sci.level()));
        cpu.write32(sts, 0xffffffff);
        f["en_kept"] = fmt::format("{:#x}", cpu.read32(en));
    });
    REQUIRE(f["latched"] == "0x2000");
    REQUIRE(f["sci_disabled"] == "0");
    REQUIRE(f["relatched"] == "0x2000");
    REQUIRE(f["sci_enabled"] == "1");
    REQUIRE(f["cleared"] == "0x0 sci=0");
    REQUIRE(f["en_kept"] == "0x2000");
}
