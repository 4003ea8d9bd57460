// libata's error handling in the AHCI driver: the commands a frozen or
// reset port had outstanding belong to the error handler, which retries
// them after the reset and revalidation (or fails them); requests sent while
// the port is suspended wait for its resume; a port-change interrupt
// freezes the port and runs the error handler.
#include "bench_platform.h"

#include "models/disk/ahci.h"

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
