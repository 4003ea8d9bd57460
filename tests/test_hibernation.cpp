// The hibernation image on the swap partition: what write_image leaves on
// the disk, the restore kernel's loader, single use, and the CRC.
#include "bench_platform.h"

#include "sim/drivers/program.h"
#include "sim/pm/hibernation.h"
#include "sim/scenario/executor.h"

#include <cstring>

using namespace quiesce;
using quiesce::test::Facts;

namespace {

std::string media_string(SataDrive& drive, uint64_t sector, size_t off, size_t len) {
    auto s = drive.media(sector);
    return std::string(reinterpret_cast<const char*>(&s[off]), len);
}

// Boots pc-storage with linux-s4 (so there is a restore kernel), writes an
// image of the running system, then runs `body`.
Facts with_image(const std::function<void(Platform&, Cpu&, Hibernation&, Platform::Disk&, Facts&)>& body,
                 bool crc = true, bool lz4 = false) {
    return quiesce::test::on_booted("s4-storage", [&](Platform& p, Cpu& cpu, Facts& f) {
        Platform::Disk disk = p.disk();
        HibernationOptions opts;
        opts.crc = crc;
        opts.lz4 = lz4;
        opts.hw_signature = 0x5eed0002;
        Hibernation h(p.kernel(), p.memory(), p.kernel().hub(), opts);
        h.set_swap(disk.driver, disk.swap_first, disk.drive->sectors() - disk.swap_first);
        uint64_t marker = p.kernel().alloc(4096, 4096);
        cpu.write64(marker, 0x1234567890abcdefULL);
        f["prealloc"] = std::to_string(h.preallocate(cpu));
        f["snapshot"] = std::to_string(h.snapshot(cpu));
        f["pages"] = std::to_string(h.image_pages());
        f["write"] = std::to_string(h.write_image(cpu));
        disk.driver->flush(cpu);
        uint64_t last = disk.swap_first + 7;  // the header's last sector: the signatures
        f["sig"] = media_string(*disk.drive, last, 4086 - 3584, 9);
        f["orig_sig"] = media_string(*disk.drive, last, 4076 - 3584, 10);
        cpu.write64(marker, 0);  // memory moves on after the snapshot
        body(p, cpu, h, disk, f);
        f["marker_after_load"] = std::to_string(cpu.read64(marker) == 0x1234567890abcdefULL);
    });
}

// As the restore kernel does: its own PCI core and AHCI driver, in its own
// memory (loading pages over the memory a running driver uses would corrupt it).
ImageLoad load(Platform& p, Cpu& cpu, Platform::Disk& disk, bool crc = true) {
    static PciCore* core = nullptr;
    static AhciDriver* drv = nullptr;
    if (!drv) {
        core = new PciCore(Platform::kEcamBase, Platform::kPciMmioBase, Platform::kPciMmioSize);
        core->enumerate(cpu);
        PciDev* ahci = nullptr;
        for (auto& d : core->devices())
            if (d.vendor == AhciPci::kVendor && d.device == AhciPci::kDevice) ahci = &d;
        const std::string dir = std::string(QUIESCE_DATA_DIR) + "/drivers/";
        drv = new AhciDriver("ahci0", "ahci0", "sda", *p.restore_kernel(), *core,
                             std::make_shared<DriverProgram>(load_driver(dir + "ahci.toml")),
                             std::make_shared<DriverProgram>(load_driver(dir + "sd.toml")));
        p.restore_kernel()->take_interrupts();
        if (drv->probe(cpu, *ahci) != 0) return ImageLoad{false, "restore kernel probe failed", {}};
    }
    HibernationOptions opts;
    opts.crc = crc;
    opts.hw_signature = 0x5eed0002;
    return load_image(*p.restore_kernel(), cpu, *drv, disk.swap_first, disk.drive->sectors() - disk.swap_first,
                      opts, p.kernel().hub());
}

}  // namespace

TEST_CASE("hibernation: the image is on swap with its signature, loads once, and brings memory back",
          "[hibernation]") {
    Facts f = with_image([](Platform& p, Cpu& cpu, Hibernation&, Platform::Disk& disk, Facts& f) {
        ImageLoad first = load(p, cpu, disk);
        f["first_ok"] = first.ok ? "yes" : first.reason;
        f["sig_after_load"] = media_string(*disk.drive, disk.swap_first + 7, 4086 - 3584, 10);
        ImageLoad second = load(p, cpu, disk);
        f["second"] = second.ok ? "loaded again" : second.reason;
    });
    REQUIRE(f["prealloc"] == "0");
    REQUIRE(f["snapshot"] == "0");
    REQUIRE(std::stoi(f["pages"]) >= 3);  // the boot structures and the marker page
    REQUIRE(f["write"] == "0");
    REQUIRE(f["sig"] == "S1SUSPEND");
    REQUIRE(f["orig_sig"] == "SWAPSPACE2");
    REQUIRE(f["first_ok"] == "yes");
    REQUIRE(f["marker_after_load"] == "1");            // the page came back from the image
    REQUIRE(f["sig_after_load"] == "SWAPSPACE2");      // consumed before use
    REQUIRE(f["second"] == "no image");                // single use
    REQUIRE(f["guest_errors"].empty());
}

TEST_CASE("hibernation: a flipped bit fails the CRC, without a CRC it loads", "[hibernation]") {
    auto run = [](bool crc) {
        return with_image(
            [crc](Platform& p, Cpu& cpu, Hibernation&, Platform::Disk& disk, Facts& f) {
                f["flipped"] = std::to_string(flip_image_bit(*disk.drive, disk.swap_first, 3) > 0);
                ImageLoad l = load(p, cpu, disk, crc);
                f["load"] = l.ok ? "ok" : l.reason;
            },
            crc);
    };
    Facts with_crc = run(true);
    REQUIRE(with_crc["flipped"] == "1");
    REQUIRE(with_crc["load"] == "Invalid image CRC32!");
    Facts without = run(false);
    REQUIRE(without["load"] == "ok");
}

TEST_CASE("hibernation: the same S4 scenario and seed give the same digest", "[hibernation][determinism]") {
    Scenario s = load_scenario(std::string(QUIESCE_DATA_DIR) + "/regression/s4-storage.toml");
    RunResult a = execute(s), b = execute(s);
    REQUIRE(a.status == "passed");
    REQUIRE(a.stream.digest == b.stream.digest);
    auto seen = [&](const std::string& name) {
        for (const auto& ev : a.stream.events)
            if (ev.name == name) return true;
        return false;
    };
    REQUIRE(seen("signature-consumed"));
    REQUIRE(seen("jump"));
    REQUIRE(seen("contents-lost"));  // S4 took memory's power
    REQUIRE(a.stream.summary.outcome == "resumed");
}

TEST_CASE("hibernation: an LZ4 image is smaller, round-trips, and its CRC still guards it", "[hibernation][lz4]") {
    auto run = [](bool flip) {
        return with_image(
            [flip](Platform& p, Cpu& cpu, Hibernation&, Platform::Disk& disk, Facts& f) {
                if (flip) flip_image_bit(*disk.drive, disk.swap_first, 0);
                ImageLoad l = load(p, cpu, disk);
                f["load"] = l.ok ? "ok" : l.reason;
            },
            true, true);
    };
    Facts ok = run(false);
    REQUIRE(ok["write"] == "0");
    REQUIRE(ok["load"] == "ok");
    REQUIRE(ok["marker_after_load"] == "1");
    Facts bad = run(true);
    INFO("load: " << bad["load"]);
    REQUIRE((bad["load"] == "Invalid image CRC32!" || bad["load"] == "bad compressed unit"));
}
