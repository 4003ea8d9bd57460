// /lib/firmware on a disk other than the root disk ([platform]
// firmware_disk): request_firmware and the firmware cache read it through
// that disk's controller and queue; on a USB disk a built-in driver's probe
// finds no filesystem yet, as Linux's does before the root is mounted.
#include "files.h"
#include "tmpfile.h"

#include "sim/core/errors.h"
#include "sim/scenario/executor.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace quiesce;

namespace {
// Which controllers ran a disk command while the kernel read firmware
// (firmware-read slices: the probe's request and the PM notifier's cache fill).
std::set<std::string> read_through(const RunResult& r) {
    std::set<std::string> out;
    Picos from = 0, to = 0;
    std::vector<std::pair<Picos, std::string>> commands;
    std::vector<std::pair<Picos, Picos>> reads;
    for (const auto& ev : r.stream.events) {
        if (ev.kind == EvKind::SliceBegin && ev.name == "firmware-read") from = ev.ts;
        if (ev.kind == EvKind::SliceEnd && ev.name == "firmware-read") to = ev.ts, reads.emplace_back(from, to);
        if (ev.kind == EvKind::SliceBegin && ev.name == "command" && ev.category == "disk")
            commands.emplace_back(ev.ts, ev.track);
    }
    for (const auto& [at, track] : commands)
        for (const auto& [a, b] : reads)
            if (at >= a && at <= b) out.insert(track);
    return out;
}
}  // namespace

TEST_CASE("firmware disk: /lib/firmware on sdb is read through ahci1, at probe and into the cache", "[firmware]") {
    RunResult r = execute(test::load_regression("s3-gpu-firmware-usr-cached"));
    CHECK(r.status == "passed");
    CHECK(read_through(r) == std::set<std::string>{"ahci1.core"});
    std::vector<std::string> from;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::Instant && (ev.name == "request-firmware" || ev.name == "firmware-cached"))
            from.push_back(ev.name + ":" + (ev.name == "firmware-cached" ? arg_value(ev, "rc") : arg_value(ev, "from")));
    // The probe reads the disk, the notifier fills the cache, resume_early is answered from it.
    CHECK(from == std::vector<std::string>{"request-firmware:disk", "firmware-cached:0", "request-firmware:cache"});
}

TEST_CASE("firmware disk: the uncached read in resume_early waits for sdb's queue, not sda's", "[firmware]") {
    RunResult r = execute(test::load_regression("s3-gpu-firmware-usr-uncached"));
    CHECK(r.status == "passed");
    bool sdb = false;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::Violation && ev.name == "liveness.hang")
            sdb = arg_value(ev, "message").find("waits for sdb") != std::string::npos;
    CHECK(sdb);
}

TEST_CASE("firmware disk: on a USB disk a built-in driver's probe finds no /lib/firmware and leaves the GPU unbound",
          "[firmware]") {
    // pc-usb-storage's USB disk holds /lib/firmware; the GPU probes with the
    // PCI devices, before hub_wq has found the USB disk: -ENOENT, as a
    // built-in Linux driver's request_firmware before the root is mounted.
    const std::string dir = std::filesystem::temp_directory_path() / ("quiesce-fwdisk-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir + "/platforms");
    std::string plat = test::read_text(std::string(QUIESCE_DATA_DIR) + "/platforms/pc-usb-storage.toml");
    const std::string name = "name = \"pc-usb-storage\"";
    plat.replace(plat.find(name), name.size(), "name = \"p\"\nfirmware_disk = \"sdb\"");
    plat += "\n[[device]]\nname = \"gpu0\"\ntype = \"pci-device\"\nmodel = \"qgpu\"\nslot = \"02.0\"\nparent = \"pci0\"\n";
    std::ofstream(dir + "/platforms/p.toml") << plat;
    std::ofstream(dir + "/s.toml") << "[scenario]\nseed = 7\n[platform]\nname = \"p\"\n[protocol]\nname = \"linux-s3\"\n"
                                      "[expect]\nresult = \"pass\"\n";
    RunResult r = execute(load_scenario(dir + "/s.toml"));
    std::string probe, request;
    for (const auto& ev : r.stream.events) {
        if (ev.kind == EvKind::Instant && ev.name == "request-firmware" && request.empty()) request = arg_value(ev, "rc");
        if (ev.kind == EvKind::Instant && ev.name == "probe" && ev.track.find("gpu0") != std::string::npos)
            probe = arg_value(ev, "rc");
    }
    CHECK(request == "-2");
    CHECK(probe != "0");
    // A firmware disk that is no disk of the platform is bad input.
    std::string bad = plat;
    bad.replace(bad.find("\"sdb\"\n"), 5, "\"sdz\"");
    std::ofstream(dir + "/platforms/p.toml") << bad;
    CHECK_THROWS_WITH(load_scenario(dir + "/s.toml"),
                      Catch::Contains("p.toml:10:17: firmware_disk: no disk named 'sdz' (its disks: sdb)"));
    std::filesystem::remove_all(dir);
}
