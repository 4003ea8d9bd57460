// A USB disk unplugged, or swapped for another one, while the system sleeps:
// the xHCI port shows it as hardware does (Disconnected with CSC; a new
// connection), and the USB core's resume runs Linux's path - a port with no
// device is a disconnect (the disk dead, handles revoked), a different
// device is disconnected and the new one enumerated, an identical-looking
// one is taken for the old (persist.rst's hazard). And the fault kinds are
// checked as input.
#include "bench_platform.h"
#include "files.h"
#include "tmpfile.h"

#include "sim/scenario/executor.h"

#include <fmt/format.h>

using namespace quiesce;
using quiesce::test::Facts;
using quiesce::test::pattern;

namespace {

using X = XhciCore;

int pm(Platform& p, const std::string& dev, const std::string& cb, Cpu& cpu) {
    return p.pm_devices().at(dev)->callback(cb, cpu);
}

// PORTSC of the disk's port (port 2), read in zero time: the controller is
// in D3hot while the system sleeps.
std::string port(Platform& p) {
    auto* hc = dynamic_cast<XhciPci*>(p.function("xhci0"));
    REQUIRE(hc);
    const uint64_t v = hc->core().regs().reg("PORTSC1").value();
    return fmt::format("ccs={} ped={} pls={} csc={}", v & X::PORTSC_CCS ? 1 : 0, v & X::PORTSC_PED ? 1 : 0,
                       (v & X::PORTSC_PLS) >> X::PORTSC_PLS_SHIFT, v & X::PORTSC_CSC ? 1 : 0);
}

// The USB core's and the controller's record of what happened, in order.
void record(Platform& p, std::string& into) {
    p.kernel().hub().subscribe(kind_bit(EvKind::Instant), [&into](const Event& e) {
        if (e.name == "usb-disconnect" || e.name == "usb-reset-resume" || e.name == "usb-new-device" ||
            e.name == "port-disconnect" || e.name == "port-connect") {
            std::string reason;
            for (const auto& a : e.args)
                if (a.key == "reason") reason = "(" + a.value + ")";
            into += (into.empty() ? "" : " ") + e.name + reason;
        }
    });
}

// Writes `data` at sector 64 of sdb, then suspends the disk, the USB device
// and the controller (D3hot with wake armed), as the system's suspend does.
void suspend(Platform& p, Cpu& cpu, UsbStorageDriver& sdb, const std::vector<uint8_t>& data) {
    const uint64_t buf = p.kernel().alloc(4096, 4096);
    cpu.write_block(buf, data.data(), 4096);
    REQUIRE(sdb.submit(cpu, {true, 64, 8, buf, false, false}) == 0);
    for (const char* dev : {"sdb", "usb0", "xhci0"}) REQUIRE(pm(p, dev, "suspend", cpu) == 0);
    REQUIRE(pm(p, "xhci0", "suspend_noirq", cpu) == 0);
}

// The controller's enabled device slots (Enable Slot ... Disable Slot).
unsigned slots(Platform& p) {
    auto* hc = dynamic_cast<XhciPci*>(p.function("xhci0"));
    REQUIRE(hc);
    return hc->core().enabled_slots();
}

void resume(Platform& p, Cpu& cpu) {
    p.kernel().sleep(100'000'000'000ULL);
    REQUIRE(pm(p, "xhci0", "resume_noirq", cpu) == 0);
    for (const char* dev : {"xhci0", "usb0", "sdb"}) REQUIRE(pm(p, dev, "resume", cpu) == 0);
}

}  // namespace

TEST_CASE("usb hotplug: a disk unplugged while the controller sleeps is seen at its port and disconnected on resume",
          "[usb][hotplug]") {
    Facts f = quiesce::test::on_booted("s3-usb-unplug", [](Platform& p, Cpu& cpu, Facts& f) {
        Platform::Disk d = p.disk();
        auto& sdb = *static_cast<UsbStorageDriver*>(d.driver);
        std::string seen;
        record(p, seen);
        const int handle = p.kernel().open_handle("app", "sdb", "");
        const auto data = pattern(4096, 11);
        suspend(p, cpu, sdb, data);
        f["before"] = port(p);
        PciFunction* fn = p.function("xhci0");
        f["pme_before"] = std::to_string(fn->pme.level());
        REQUIRE(p.usb_hot_plug("usb0", false));
        f["unplugged"] = port(p);
        f["pme"] = std::to_string(fn->pme.level());  // WDE: the disconnect wakes the system
        f["removed"] = std::to_string(p.disk_removed("sdb"));
        resume(p, cpu);
        f["seen"] = seen;
        const uint64_t buf = p.kernel().alloc(4096, 4096);
        f["after"] = fmt::format("rc={} dead={} handle={} usb0-slot={} slots={}",
                                 sdb.submit(cpu, {false, 64, 8, buf, false, false}), sdb.dead(cpu),
                                 p.kernel().use_handle(handle), sdb.slot(cpu), slots(p));
        // What sd flushed at suspend is on the medium its owner holds.
        f["medium"] = std::to_string(d.drive->media(64) == std::vector<uint8_t>(data.begin(), data.begin() + 512) &&
                                     p.medium("sdb") == d.drive);
    });
    CHECK(f["before"] == "ccs=1 ped=1 pls=3 csc=0");    // suspended in U3
    CHECK(f["pme_before"] == "0");
    CHECK(f["unplugged"] == "ccs=0 ped=0 pls=5 csc=1");  // Disconnected: RxDetect, connect change
    CHECK(f["pme"] == "1");
    CHECK(f["removed"] == "1");
    CHECK(f["seen"] == "port-disconnect usb-disconnect(no device at the port after resume)");
    CHECK(f["after"] == "rc=-19 dead=true handle=-9 usb0-slot=0 slots=0");  // -ENODEV, the handle revoked (-EBADF)
    CHECK(f["medium"] == "1");
}

TEST_CASE("usb hotplug: a disk swapped for another is disconnected and the new one enumerated, an identical-looking "
          "one is taken for the old",
          "[usb][hotplug]") {
    for (bool identical : {false, true}) {
        Facts f = quiesce::test::on_booted(
            "s3-usb-swap",
            [](Platform& p, Cpu& cpu, Facts& f) {
                Platform::Disk d = p.disk();
                auto& sdb = *static_cast<UsbStorageDriver*>(d.driver);
                std::string seen;
                record(p, seen);
                f["slots_before"] = std::to_string(slots(p));
                const unsigned had = sdb.slot(cpu);
                suspend(p, cpu, sdb, pattern(4096, 12));
                REQUIRE(p.usb_hot_plug("usb0", true));
                f["swapped"] = port(p);
                resume(p, cpu);
                f["seen"] = seen;
                f["port"] = port(p);
                // One device at the port, one slot on the controller; the
                // persist path resets the device in its slot (Reset Device).
                f["slots"] = fmt::format("{} same-slot={}", slots(p), sdb.slot(cpu) == had);
                // A write to sdb after resume: which medium does it reach?
                const uint64_t buf = p.kernel().alloc(4096, 4096);
                const auto data = pattern(4096, 13);
                cpu.write_block(buf, data.data(), 4096);
                const int rc = sdb.submit(cpu, {true, 300, 8, buf, true, false});
                const SataDrive* now = p.medium("sdb");
                const std::vector<uint8_t> first(data.begin(), data.begin() + 512);
                f["after"] = fmt::format("rc={} dead={} medium={} on-first={} on-medium={}", rc, sdb.dead(cpu),
                                         now == d.drive ? "first" : "second", d.drive->readable(300) == first,
                                         now->readable(300) == first);
            },
            [identical](Scenario& s) {
                REQUIRE(s.faults.faults.size() == 1);
                s.faults.faults[0].identical = identical;
            });
        INFO("identical " << identical);
        CHECK(f["swapped"] == "ccs=1 ped=0 pls=7 csc=1");  // a new connection, the port disabled
        CHECK(f["slots_before"] == "1");
        if (identical) {
            CHECK(f["seen"] == "port-disconnect port-connect usb-reset-resume");
            CHECK(f["port"] == "ccs=1 ped=1 pls=0 csc=0");
            // The kernel's sdb writes to the second stick.
            CHECK(f["after"] == "rc=0 dead=false medium=second on-first=false on-medium=true");
            CHECK(f["slots"] == "1 same-slot=true");
        } else {
            // The reset-resume finds other descriptors (-ENODEV): a disconnect, and a new device.
            CHECK(f["seen"] == "port-disconnect port-connect usb-reset-resume usb-disconnect(not the same device "
                               "after the reset) usb-new-device");
            CHECK(f["port"] == "ccs=1 ped=1 pls=0 csc=0");  // the new device enumerated
            CHECK(f["after"] == "rc=-19 dead=true medium=first on-first=false on-medium=false");
            // The old device's slot disabled, then the new one's enabled: the
            // controller hands out the lowest free slot, the same number.
            CHECK(f["slots"] == "1 same-slot=true");
        }
    }
}

TEST_CASE("usb hotplug: usb-unplug and usb-swap are checked as input", "[usb][hotplug]") {
    auto error_of = [](const std::string& text) { return test::input_error(text, load_scenario); };
    const std::string swap = test::read_text(test::regression("s3-usb-swap"));
    CHECK(error_of(swap) == "no error");
    std::string bad = swap;
    bad.replace(bad.find("device = \"usb0\""), 15, "device = \"xhci0\"");
    CHECK(error_of(bad).find("fault[0].device: 'xhci0' is not a USB device") != std::string::npos);
    bad = swap;
    bad.replace(bad.find("device = \"usb0\""), 15, "");
    CHECK(error_of(bad).find("fault[0].kind: usb-swap needs a device") != std::string::npos);
    bad = swap;
    bad.replace(bad.find("device = \"usb0\""), 15, "device = \"usb0\"\nidentical = \"yes\"");
    CHECK(error_of(bad).find("fault[0].identical") != std::string::npos);
    const std::string unplug = test::read_text(test::regression("s3-usb-unplug"));
    bad = unplug;
    bad.replace(bad.find("device = \"usb0\""), 15, "device = \"usb0\"\nidentical = true");
    CHECK(error_of(bad).find("identical") != std::string::npos);  // not a key of usb-unplug
    bad = unplug;
    bad.replace(bad.find("name = \"linux-s3\""), 17, "name = \"linux-s2idle\"");  // suspend-to-idle: no S3
    CHECK(error_of(bad).find("usb-unplug happens while the machine sleeps in S3") != std::string::npos);
    // usb-swap replaces a disk: not a keyboard.
    const std::string kbd = test::read_text(test::regression("s3-usb-keyboard-wake")) +
                            "\n[[fault]]\nkind = \"usb-swap\"\ndevice = \"kbd0\"\n";
    CHECK(error_of(kbd).find("usb-swap replaces a USB disk: 'kbd0' is a usb-keyboard") != std::string::npos);
}
