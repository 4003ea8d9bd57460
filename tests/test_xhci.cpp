// The xHCI controller through its real bus interface, with its driver:
// register masks, command and event ring processing across the link TRB,
// Save/Restore State keeping hardware state identical, and the power-loss
// path (Restore State fails with SRE, the driver reinitializes); CNR after
// a reset with writes dropped until it clears, the times of HCRST, CNR,
// Save and Restore State on the controller's clock edges, and a save that
// loses its power half-way.
#include "bench_platform.h"

#include "models/usb/xhci.h"
#include "models/usb/xhci_pci.h"
#include "sim/check/checker.h"
#include "sim/pm/device_graph.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

using namespace quiesce;
using quiesce::test::Facts;

namespace {

// Boots pc-usb (s3-xhci) and runs `body` with the controller's driver, its
// kernel-side PCI device and the MMIO base.
Facts on_xhci(const std::function<void(Platform&, Cpu&, XhciDriver&, PciDev&, uint64_t, Facts&)>& body) {
    return quiesce::test::on_booted("s3-xhci", [&](Platform& p, Cpu& cpu, Facts& f) {
        PciDev* pd = p.pci_core().find(0, 0x14 << 3);
        REQUIRE(pd);
        uint64_t bar = p.pci_core().cfg_read(cpu, *pd, pci::BAR0, 4) & ~0xfu;
        body(p, cpu, *p.xhci_drivers().at(0).second, *pd, bar, f);
    });
}

// The hardware-state registers the driver saves and restores.
std::string hardware_state(Cpu& cpu, uint64_t bar) {
    using X = XhciCore;
    return fmt::format("USBCMD={:#x} DNCTRL={:#x} CONFIG={:#x} IMAN={:#x} IMOD={:#x}", cpu.read32(bar + X::USBCMD),
                       cpu.read32(bar + X::DNCTRL), cpu.read32(bar + X::CONFIG), cpu.read32(bar + X::IMAN),
                       cpu.read32(bar + X::IMOD));
}

}  // namespace

TEST_CASE("xhci: register masks, and commands through the ring across its link TRB", "[usb][xhci]") {
    Facts f = on_xhci([](Platform&, Cpu& cpu, XhciDriver& drv, PciDev&, uint64_t bar, Facts& f) {
        using X = XhciCore;
        f["cap"] = fmt::format("{:#x}", cpu.read32(bar + X::CAPLENGTH));
        uint32_t params = cpu.read32(bar + X::HCSPARAMS1);
        cpu.write32(bar + X::HCSPARAMS1, 0xffffffff);  // read-only
        f["params_ro"] = cpu.read32(bar + X::HCSPARAMS1) == params ? "yes" : "no";
        f["ports"] = std::to_string(params >> 24);
        f["crcr"] = fmt::format("{:#x}", cpu.read64(bar + X::CRCR));  // the pointer never reads back
        f["running"] = (cpu.read32(bar + X::USBSTS) & X::STS_HCH) ? "halted" : "running";
        int failures = 0;
        for (int i = 0; i < 70; ++i) failures += drv.noop(cpu) != 0;  // 63 slots, then the link TRB toggles
        f["failures"] = std::to_string(failures);
        cpu.write32(bar + X::USBSTS, X::STS_HCH);  // RO bit: ignored
        f["hch_ro"] = (cpu.read32(bar + X::USBSTS) & X::STS_HCH) ? "set" : "clear";
    });
    REQUIRE(f["cap"] == "0x1100020");
    REQUIRE(f["params_ro"] == "yes");
    REQUIRE(f["ports"] == "2");
    REQUIRE(f["crcr"] == "0x0");
    REQUIRE(f["running"] == "running");
    REQUIRE(f["failures"] == "0");
    REQUIRE(f["hch_ro"] == "clear");
    REQUIRE(f["guest_errors"].empty());
}

TEST_CASE("xhci: save then restore state keeps hardware state, losing power makes the driver reinitialize",
          "[usb][xhci]") {
    Facts f = on_xhci([](Platform& p, Cpu& cpu, XhciDriver& drv, PciDev& pd, uint64_t bar, Facts& f) {
        std::vector<std::string> notes;
        p.kernel().hub().subscribe(kind_bit(EvKind::Instant) | kind_bit(EvKind::SliceEnd), [&](const Event& e) {
            if (e.name == "xhci-reinit") notes.push_back("reinit:" + arg_value(e, "reason"));
            if (e.name == "restore-state") notes.push_back("restore:" + arg_value(e, "result"));
        });
        REQUIRE(drv.noop(cpu) == 0);
        std::string before = hardware_state(cpu, bar);
        REQUIRE(drv.pm("suspend", cpu, pd) == 0);
        f["halted"] = (cpu.read32(bar + XhciCore::USBSTS) & XhciCore::STS_HCH) ? "yes" : "no";
        REQUIRE(drv.pm("resume", cpu, pd) == 0);
        f["identity"] = hardware_state(cpu, bar) == before ? "yes" : before + " / " + hardware_state(cpu, bar);
        f["after_resume"] = std::to_string(drv.noop(cpu));
        // Suspend again, then the function loses power (D3cold): config space
        // and the Save State area are gone.
        REQUIRE(drv.pm("suspend", cpu, pd) == 0);
        p.pci_core().save_state(cpu, pd);
        p.function("xhci0")->power_off();
        p.function("xhci0")->power_on();
        sc_core::wait(sc_core::sc_time(100, sc_core::SC_MS));  // D3cold->D0: config space after 100 ms
        p.pci_core().restore_state(cpu, pd);
        f["resume_lost"] = std::to_string(drv.pm("resume", cpu, pd));
        f["after_power_loss"] = std::to_string(drv.noop(cpu));
        std::string joined;
        for (const auto& n : notes) joined += n + " ";
        f["notes"] = joined;
    });
    REQUIRE(f["halted"] == "yes");
    REQUIRE(f["identity"] == "yes");
    REQUIRE(f["after_resume"] == "0");
    REQUIRE(f["resume_lost"] == "0");
    REQUIRE(f["after_power_loss"] == "0");
    REQUIRE(f["notes"] == "restore:restored restore:SRE reinit:state lost ");
}

TEST_CASE("xhci: D3hot while Save State runs stops it: SRE, and Restore State has nothing to restore",
          "[usb][xhci]") {
    for (bool wait_for_sss : {true, false}) {
        DYNAMIC_SECTION((wait_for_sss ? "SSS waited for" : "D3hot at once")) {
            Facts f = on_xhci([&](Platform& p, Cpu& cpu, XhciDriver&, PciDev& pd, uint64_t bar, Facts& f) {
                using X = XhciCore;
                std::vector<std::string> notes;
                p.kernel().hub().subscribe(kind_bit(EvKind::SliceEnd), [&](const Event& e) {
                    if (e.name == "save-state") notes.push_back("save:" + arg_value(e, "result"));
                    if (e.name == "restore-state") notes.push_back("restore:" + arg_value(e, "result"));
                });
                cpu.write32(bar + X::USBCMD, cpu.read32(bar + X::USBCMD) & ~X::CMD_RS);
                while (!(cpu.read32(bar + X::USBSTS) & X::STS_HCH)) sc_core::wait(sc_core::sc_time(50, sc_core::SC_US));
                cpu.write32(bar + X::USBCMD, cpu.read32(bar + X::USBCMD) | X::CMD_CSS);
                if (wait_for_sss)
                    while (cpu.read32(bar + X::USBSTS) & X::STS_SSS) sc_core::wait(sc_core::sc_time(50, sc_core::SC_US));
                p.pci_core().save_state(cpu, pd);
                REQUIRE(p.pci_core().set_power_state(cpu, pd, DState::D3hot) == 0);
                REQUIRE(p.pci_core().set_power_state(cpu, pd, DState::D0) == 0);
                p.pci_core().restore_state(cpu, pd);
                const uint32_t st = cpu.read32(bar + X::USBSTS);
                f["sss"] = (st & X::STS_SSS) ? "1" : "0";
                f["sre_after_save"] = (st & X::STS_SRE) ? "1" : "0";
                cpu.write32(bar + X::USBSTS, X::STS_SRE);  // RW1C
                cpu.write32(bar + X::USBCMD, cpu.read32(bar + X::USBCMD) | X::CMD_CRS);
                while (cpu.read32(bar + X::USBSTS) & X::STS_RSS) sc_core::wait(sc_core::sc_time(50, sc_core::SC_US));
                f["sre_after_restore"] = (cpu.read32(bar + X::USBSTS) & X::STS_SRE) ? "1" : "0";
                std::string joined;
                for (const auto& n : notes) joined += n + " ";
                f["notes"] = joined;
            });
            REQUIRE(f["sss"] == "0");
            if (wait_for_sss) {
                REQUIRE(f["sre_after_save"] == "0");
                REQUIRE(f["sre_after_restore"] == "0");
                REQUIRE(f["notes"] == "save:saved restore:restored ");
            } else {
                REQUIRE(f["sre_after_save"] == "1");
                REQUIRE(f["sre_after_restore"] == "1");
                REQUIRE(f["notes"] == "save:stopped restore:SRE ");
            }
        }
    }
}

namespace {

XhciCore& core_of(Platform& p) {
    auto* x = dynamic_cast<XhciPci*>(p.function("xhci0"));
    REQUIRE(x);
    return x->core();
}

// The controller's slices (HCRST, not-ready, save-state, restore-state) as
// "name:result@begin+duration" in ps, and whether each ended on an edge
// of the controller's clock.
struct Slices {
    std::vector<std::string> seen;
    std::map<std::string, Picos> begin;
    bool on_edges = true;
};

void record_slices(Platform& p, XhciCore& core, Slices& out) {
    const Picos period = 1'000'000'000'000ULL / core.clock().hz();
    p.kernel().hub().subscribe(kind_bit(EvKind::SliceBegin) | kind_bit(EvKind::SliceEnd), [&out, &core, period](
                                                                                              const Event& e) {
        if (e.track != core.path() || e.category != "usb") return;
        if (e.kind == EvKind::SliceBegin) {
            out.begin[e.name] = e.ts;
            return;
        }
        const std::string result = arg_value(e, "result");
        out.seen.push_back(e.name + (result.empty() ? "" : ":" + result) + "=" +
                           std::to_string((e.ts - out.begin[e.name]) / 1'000'000) + "us");
        out.on_edges = out.on_edges && e.ts % period == 0;
    });
}

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
    return out;
}

}  // namespace

TEST_CASE("xhci: HCRST reads 1 for reset_us, then CNR for ready_us, save and restore in the controller's clock",
          "[usb][xhci]") {
    Facts f = on_xhci([](Platform& p, Cpu& cpu, XhciDriver& drv, PciDev& pd, uint64_t bar, Facts& f) {
        using X = XhciCore;
        XhciCore& core = core_of(p);
        Slices s;
        record_slices(p, core, s);
        // xhci_halt, then xhci_reset: HCRST, HCRST back to 0, then CNR.
        cpu.write32(bar + X::USBCMD, 0);
        while (!(cpu.read32(bar + X::USBSTS) & X::STS_HCH)) sc_core::wait(sc_core::sc_time(10, sc_core::SC_US));
        const Picos written = now_ps();
        cpu.write32(bar + X::USBCMD, X::CMD_HCRST);
        f["cnr_at_once"] = (cpu.read32(bar + X::USBSTS) & X::STS_CNR) ? "1" : "0";
        while (cpu.read32(bar + X::USBCMD) & X::CMD_HCRST) sc_core::wait(sc_core::sc_time(10, sc_core::SC_US));
        const Picos hcrst_clear = now_ps();
        f["cnr_after_hcrst"] = (cpu.read32(bar + X::USBSTS) & X::STS_CNR) ? "1" : "0";
        // Not ready: an operational register write is dropped (and said).
        cpu.write32(bar + X::IMOD, 123);
        f["imod_while_not_ready"] = std::to_string(cpu.read32(bar + X::IMOD));
        while (cpu.read32(bar + X::USBSTS) & X::STS_CNR) sc_core::wait(sc_core::sc_time(10, sc_core::SC_US));
        const Picos ready = now_ps();
        f["hcrst_us"] = std::to_string((hcrst_clear - written) / 1'000'000);
        f["cnr_us"] = std::to_string((ready - written) / 1'000'000);
        cpu.write32(bar + X::IMOD, 123);
        f["imod_when_ready"] = std::to_string(cpu.read32(bar + X::IMOD));
        // The driver's own reinit, then a suspend/resume: Save and Restore
        // State take save_us and restore_us of the controller's clock.
        REQUIRE(drv.pm("restore", cpu, pd) == 0);  // after hibernation: always reinitialized
        REQUIRE(drv.pm("suspend", cpu, pd) == 0);
        REQUIRE(drv.pm("resume", cpu, pd) == 0);
        f["slices"] = joined(s.seen);
        f["on_edges"] = s.on_edges ? "yes" : "no";
        f["noop"] = std::to_string(drv.noop(cpu));
    });
    CHECK(f["cnr_at_once"] == "1");
    CHECK(f["cnr_after_hcrst"] == "1");
    CHECK(f["imod_while_not_ready"] == "4000");  // IMOD's reset value: the write was dropped
    CHECK(f["imod_when_ready"] == "123");
    // Polled every 10 us: HCRST clears after 500 us, CNR 500 us later.
    CHECK(std::stoi(f["hcrst_us"]) >= 500);
    CHECK(std::stoi(f["hcrst_us"]) < 520);
    CHECK(std::stoi(f["cnr_us"]) >= 1000);
    CHECK(std::stoi(f["cnr_us"]) < 1020);
    CHECK(f["slices"] == "halt=2000us HCRST=500us not-ready:ready=500us HCRST=500us not-ready:ready=500us halt=2000us "
                         "save-state:saved=500us restore-state:restored=500us");
    CHECK(f["on_edges"] == "yes");
    CHECK(f["noop"] == "0");
    CHECK(f["guest_errors"] == "xhci0.core:xhci.write-while-not-ready");
}

TEST_CASE("xhci: after power-on CNR stays set, and Linux's resume waits for it before writing anything", "[usb][xhci]") {
    Facts f = on_xhci([](Platform& p, Cpu& cpu, XhciDriver& drv, PciDev& pd, uint64_t bar, Facts& f) {
        using X = XhciCore;
        XhciCore& core = core_of(p);
        // A controller slow to come up (firmware loaded at power-on, as the
        // Renesas uPD72020x parts): 150 ms, longer than PCI's 100 ms.
        core.props().set("ready_us", PropValue(int64_t(150'000)));
        Slices s;
        record_slices(p, core, s);
        std::vector<std::string> writes;
        p.kernel().hub().subscribe(kind_bit(EvKind::RegAccess), [&](const Event& e) {
            if (e.track == core.path() && e.write) writes.push_back(e.name);
        });
        REQUIRE(drv.pm("suspend", cpu, pd) == 0);
        p.pci_core().save_state(cpu, pd);
        p.function("xhci0")->power_off();
        p.function("xhci0")->power_on();
        const Picos on = now_ps();
        sc_core::wait(sc_core::sc_time(100, sc_core::SC_MS));  // D3cold->D0: config space after 100 ms
        p.pci_core().restore_state(cpu, pd);
        f["cnr_at_100ms"] = (cpu.read32(bar + X::USBSTS) & X::STS_CNR) ? "1" : "0";
        writes.clear();
        REQUIRE(drv.pm("resume", cpu, pd) == 0);
        // The first register write of the resume came after CNR cleared.
        f["writes_first"] = writes.empty() ? "" : writes.front();
        f["slices"] = joined(s.seen);
        f["resumed_after_ms"] = std::to_string((now_ps() - on) / 1'000'000'000);
        f["noop"] = std::to_string(drv.noop(cpu));
    });
    CHECK(f["cnr_at_100ms"] == "1");
    CHECK(f["writes_first"] == "DNCTRL");  // restore-regs, once ready
    // The save completed, then power went: the area with it. After the 150 ms
    // of not-ready, Restore State finds nothing (SRE): reinitialized, and
    // this controller takes its 150 ms after HCRST too.
    CHECK(f["slices"] == "halt=2000us save-state:saved=500us not-ready:ready=150000us restore-state:SRE=500us "
                         "HCRST=500us not-ready:ready=150000us");
    CHECK(f["noop"] == "0");
    CHECK(f["guest_errors"].empty());
}

TEST_CASE("xhci: power removed while SSS is set stops the save, and the Restore State after it reports SRE",
          "[usb][xhci]") {
    Facts f = on_xhci([](Platform& p, Cpu& cpu, XhciDriver&, PciDev& pd, uint64_t bar, Facts& f) {
        using X = XhciCore;
        std::vector<std::string> notes;
        p.kernel().hub().subscribe(kind_bit(EvKind::SliceEnd), [&](const Event& e) {
            if (e.name == "save-state") notes.push_back("save:" + arg_value(e, "result") + ":" + arg_value(e, "by"));
            if (e.name == "restore-state") notes.push_back("restore:" + arg_value(e, "result"));
        });
        cpu.write32(bar + X::USBCMD, cpu.read32(bar + X::USBCMD) & ~X::CMD_RS);
        while (!(cpu.read32(bar + X::USBSTS) & X::STS_HCH)) sc_core::wait(sc_core::sc_time(50, sc_core::SC_US));
        cpu.write32(bar + X::USBCMD, cpu.read32(bar + X::USBCMD) | X::CMD_CSS);
        sc_core::wait(sc_core::sc_time(100, sc_core::SC_US));  // SSS set: 400 us of the save to go
        f["sss"] = (cpu.read32(bar + X::USBSTS) & X::STS_SSS) ? "1" : "0";
        p.pci_core().save_state(cpu, pd);
        p.function("xhci0")->power_off();  // D3cold: no auxiliary power
        p.function("xhci0")->power_on();
        sc_core::wait(sc_core::sc_time(100, sc_core::SC_MS));
        p.pci_core().restore_state(cpu, pd);
        while (cpu.read32(bar + X::USBSTS) & X::STS_CNR) sc_core::wait(sc_core::sc_time(50, sc_core::SC_US));
        cpu.write32(bar + X::USBCMD, cpu.read32(bar + X::USBCMD) | X::CMD_CRS);
        while (cpu.read32(bar + X::USBSTS) & X::STS_RSS) sc_core::wait(sc_core::sc_time(50, sc_core::SC_US));
        f["sre"] = (cpu.read32(bar + X::USBSTS) & X::STS_SRE) ? "1" : "0";
        f["notes"] = joined(notes);
    });
    CHECK(f["sss"] == "1");
    CHECK(f["sre"] == "1");
    CHECK(f["notes"] == "save:stopped:power removed restore:SRE");
}

namespace {
// The checker's verdict "after resume" on the booted pc-usb platform, after
// `change` (zero or more register writes); violations as "id:register".
std::string stale_after(const std::function<void(Platform&, Cpu&, uint64_t)>& change, int64_t ready_us = 0) {
    return quiesce::test::on_platform("s3-xhci", [&](Platform& p, Cpu& cpu, Facts& f) {
               p.pci_core().enumerate(cpu);
               if (ready_us) core_of(p).props().set("ready_us", PropValue(ready_us));
               p.bind_devices(cpu);
               DeviceGraph graph;
               graph.add_device("xhci0");
               Checker checker(p.kernel().hub(), graph);
               p.watch(checker);
               PciDev* pd = p.pci_core().find(0, 0x14 << 3);
               REQUIRE(pd);
               change(p, cpu, p.pci_core().cfg_read(cpu, *pd, pci::BAR0, 4) & ~0xfu);
               checker.transition_resumed();
               std::string v;
               for (const auto& x : checker.violations())
                   v += x.id + ":" + x.component + ":" + x.evidence + " ";
               f["v"] = v;
           })["v"];
}
}  // namespace

TEST_CASE("checker: drvstate.stale - a running xHCI whose DCBAAP is not the driver's array, no mirror without a driver",
          "[checker][usb][xhci]") {
    using X = XhciCore;
    // Quiet: the controller as the driver programmed it.
    CHECK(stale_after([](Platform&, Cpu&, uint64_t) {}).empty());
    // Fires: a running controller with DCBAAP cleared (what a resume that
    // writes every saved register back but DCBAAP leaves after the core
    // lost its registers).
    const std::string fired = stale_after([](Platform&, Cpu& cpu, uint64_t bar) { cpu.write64(bar + X::DCBAAP, 0); });
    CHECK(fired.rfind("drvstate.stale:xhci0:{\"register\":\"DCBAAP\",\"device\":\"0x0\",\"memory\":\"0x", 0) == 0);
    CHECK(std::count(fired.begin(), fired.end(), ' ') == 1);  // that one alone
    // Near miss: the same DCBAAP on a halted controller, which fetches no
    // context (between xhci_suspend's halt and xhci_resume's R/S).
    CHECK(stale_after([](Platform&, Cpu& cpu, uint64_t bar) {
              cpu.write32(bar + X::USBCMD, cpu.read32(bar + X::USBCMD) & ~X::CMD_RS);
              sc_core::wait(sc_core::sc_time(5, sc_core::SC_MS));  // halt_us: 2 ms
              REQUIRE((cpu.read32(bar + X::USBSTS) & X::STS_HCH));
              cpu.write64(bar + X::DCBAAP, 0);
          }).empty());
    // A controller slower than xhci_reset's 250 ms wait for CNR after HCRST
    // fails its probe (-ETIMEDOUT) and stays unbound: no driver state in
    // memory, nothing to compare (the checker once compared the event ring
    // with a driver struct that probe never filled).
    CHECK(stale_after([](Platform&, Cpu&, uint64_t) {}, 300'000).empty());
}

TEST_CASE("xhci: Reset Device puts an addressed slot back in Default, and Address Device needs it first",
          "[usb][xhci]") {
    Facts f = quiesce::test::on_booted("s3-usb-unplug", [](Platform& p, Cpu& cpu, Facts& f) {
        using X = XhciCore;
        XhciDriver& hcd = *p.xhci_drivers().at(0).second;
        auto& sdb = *static_cast<UsbStorageDriver*>(p.disk().driver);
        const unsigned slot = sdb.slot(cpu);
        const uint64_t out = cpu.read64(hcd.dcbaa(cpu) + 8 * slot) & ~uint64_t(0x3f);
        // The output device context: slot state, context entries, data
        // endpoints not Disabled.
        auto context = [&] {
            unsigned enabled = 0;
            for (unsigned dci = 2; dci < 32; ++dci) enabled += (cpu.read32(out + X::kCtx * dci) & 7) != 0;
            return fmt::format("state={} entries={} endpoints={} address={}", cpu.read32(out + 12) >> 27,
                               cpu.read32(out) >> 27, enabled, cpu.read32(out + 12) & 0xff);
        };
        f["before"] = context();
        f["readdress"] = std::to_string(hcd.command(cpu, X::TRB_ADDRESS_DEVICE, 0, slot << 24));
        f["no-slot"] = std::to_string(hcd.command(cpu, X::TRB_RESET_DEVICE, 0, 7u << 24));
        f["reset"] = std::to_string(hcd.command(cpu, X::TRB_RESET_DEVICE, 0, slot << 24));
        f["after"] = context();
        f["again"] = std::to_string(hcd.command(cpu, X::TRB_RESET_DEVICE, 0, slot << 24));
    });
    CHECK(f["before"] == "state=3 entries=4 endpoints=2 address=1");  // Configured: bulk IN and OUT
    CHECK(f["readdress"] == "19");                                    // Context State Error: it has an address
    CHECK(f["no-slot"] == "11");                                      // Slot Not Enabled
    CHECK(f["reset"] == "1");
    CHECK(f["after"] == "state=1 entries=1 endpoints=0 address=0");  // Default, EP0 only
    CHECK(f["again"] == "19");                                       // a Default slot cannot be reset
}
