// Scenario files: the schema of docs/scenarios.md, and one-line errors that
// name file, line, column and key.
#include "tmpfile.h"

#include "sim/scenario/platform.h"
#include "sim/scenario/scenario.h"

using namespace quiesce;
using quiesce::test::TempFile;

namespace {
const std::string kGood = R"(
[scenario]
name = "good"
seed = 7

[platform]
name = "pc-basic"

[protocol]
name = "linux-s3"

[drivers.dma0]
driver = "dma-engine-legacy-no-restore"

[workload]
dma_copies = 2
copy_size = "8KiB"

[wake]
after = "50ms"

[limits]
sim_time = "2s"
cpu_time = "20s"
wall_time = "30s"

[trace]
level = "bus"

[expect]
violations = ["hwstate.not-restored"]
)";

std::string error_of(const std::string& text) {
    TempFile f(text);
    try {
        load_scenario(f.path());
    } catch (const InputError& e) {
        std::string msg = e.what();
        REQUIRE(msg.rfind(f.path(), 0) == 0);  // starts with the file name
        REQUIRE(msg.find('\n') == std::string::npos);
        return msg.substr(f.path().size());
    }
    FAIL("no error for:\n" << text);
    return "";
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
    size_t at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
}
}  // namespace

TEST_CASE("scenario: every documented key loads", "[scenario]") {
    TempFile f(kGood);
    Scenario s = load_scenario(f.path());
    REQUIRE(s.name == "good");
    REQUIRE(s.seed == 7);
    REQUIRE(s.platform.name == "pc-basic");
    REQUIRE(s.platform.devices.size() == 4);
    REQUIRE(s.protocol.name == "linux-s3");
    REQUIRE(s.drivers.at("dma0")->name == "dma-engine-legacy-no-restore");
    REQUIRE(s.drivers.at("dma0")->legacy_pm);
    REQUIRE(s.drivers.at("dma1")->name == "dma-engine");  // the built-in driver of a device left alone
    REQUIRE(s.dma_copies == 2);
    REQUIRE(s.copy_size == 8192);
    REQUIRE(s.wake_after == 50'000'000'000ULL);
    REQUIRE(s.sim_limit == 2'000'000'000'000ULL);
    REQUIRE(s.wall_limit_s == 30);
    REQUIRE(s.cpu_limit_s == 20);
    REQUIRE(s.trace == TraceLevel::Bus);
    REQUIRE_FALSE(s.expect.pass);
    REQUIRE(s.expect.violations == std::vector<std::string>{"hwstate.not-restored"});
}

TEST_CASE("scenario: unknown keys and bad values name file:line:column and key", "[scenario]") {
    REQUIRE(error_of(replace(kGood, "seed = 7", "seed = 7\nsede = 8")) == ":5:1: scenario.sede: unknown key");
    REQUIRE(error_of(replace(kGood, "after = \"50ms\"", "after = \"50\"")) ==
            ":20:9: wake.after: '50' needs a unit: ps, ns, us, ms or s");
    REQUIRE(error_of(replace(kGood, "seed = 7", "seed = \"7\"")) == ":4:8: scenario.seed: expected an integer");
    REQUIRE(error_of(replace(kGood, "name = \"pc-basic\"", "name = \"pc-nope\"")) ==
            ":7:8: platform.name: no platform named 'pc-nope'");
    REQUIRE(error_of(replace(kGood, "name = \"linux-s3\"", "name = \"linux-s9\"")) ==
            ":10:8: protocol.name: no protocol named 'linux-s9' (looked in protocols/ and the built-ins)");
    REQUIRE(error_of(replace(kGood, "driver = \"dma-engine-legacy-no-restore\"", "driver = \"sloppy\"")) ==
            ":13:10: drivers.dma0.driver: no driver file named 'sloppy' (drivers/sloppy.toml)");
    REQUIRE(error_of(replace(kGood, "driver = \"dma-engine-legacy-no-restore\"", "variant = \"sloppy\"")) ==
            ":13:11: drivers.dma0.variant: dma-engine drivers are data: name a driver file (driver = "
            "\"dma-engine-sloppy\") or patch one (docs/drivers.md)");
    {
        // The xHCI driver is data too: its former variants are driver files.
        std::string usb = replace(replace(kGood, "name = \"pc-basic\"", "name = \"pc-usb\""), "[drivers.dma0]",
                                  "[drivers.xhci0]");
        REQUIRE(error_of(replace(usb, "driver = \"dma-engine-legacy-no-restore\"", "variant = \"ignore-sre\"")) ==
                ":13:11: drivers.xhci0.variant: xhci drivers are data: name a driver file (driver = "
                "\"xhci-ignore-sre\") or patch one (docs/drivers.md)");
        REQUIRE(error_of(usb) == ":13:10: drivers.xhci0.driver: 'dma-engine-legacy-no-restore' drives dma-engine, "
                                 "'xhci0' is xhci");
        // So are AHCI's and the disk's (sd) behind it.
        std::string sata = replace(replace(kGood, "name = \"pc-basic\"", "name = \"pc-storage\""), "[drivers.dma0]",
                                   "[drivers.ahci0]");
        REQUIRE(error_of(replace(sata, "driver = \"dma-engine-legacy-no-restore\"",
                                 "variant = \"no-flush-on-suspend\"")) ==
                ":13:11: drivers.ahci0.variant: the disk's driver is data: [drivers.sda] driver = "
                "\"sd-no-flush-on-suspend\" (docs/drivers.md)");
        REQUIRE(error_of(replace(replace(sata, "[drivers.ahci0]", "[drivers.sda]"),
                                 "driver = \"dma-engine-legacy-no-restore\"", "driver = \"ahci\"")) ==
                ":13:10: drivers.sda.driver: 'ahci' drives ahci, 'sda' is sd");
    }
    REQUIRE(error_of(replace(kGood, "name = \"linux-s3\"", "name = \"linux-s4\"")) ==
            ":10:8: protocol.name: 'linux-s4' hibernates: platform 'pc-basic' needs a disk with a swap partition "
            "(an ahci device)");
    REQUIRE(error_of(replace(kGood, "[drivers.dma0]", "[drivers.dma7]")) ==
            ":12:1: drivers.dma7: no device named 'dma7'");
    REQUIRE(error_of(replace(kGood, "\"hwstate.not-restored\"", "\"hwstate.not-restord\"")) ==
            ":31:14: expect.violations: unknown invariant id 'hwstate.not-restord'");
    REQUIRE(error_of(replace(kGood, "level = \"bus\"", "level = \"everything\"")) ==
            ":28:9: trace.level: must be \"summary\", \"events\" or \"bus\"");
    REQUIRE(error_of(replace(kGood, "[workload]", "[workload]\nextra = true")) == ":16:1: workload.extra: unknown key");
    REQUIRE(error_of(replace(kGood, "[workload]", "[workload]\ncontrol_run = true")).find(
                "workload.control_run: needs ops") != std::string::npos);
    REQUIRE(error_of(replace(kGood, "[drivers.dma0]", "[drivers.dma0]\nlocal_memory = \"5000B\"")).find(
                "drivers.dma0.local_memory: must be a multiple of 4KiB") != std::string::npos);
    REQUIRE(error_of(replace(kGood, "[scenario]", "fault = [\"power-loss\"]\n[scenario]")) ==
            ":2:10: fault[0]: expected a table");
}

TEST_CASE("scenario: a negative seed, and [hibernation] under a suspend-to-RAM protocol, are input errors", "[scenario]") {
    REQUIRE(error_of(replace(kGood, "seed = 7", "seed = -1")) == ":4:8: scenario.seed: must be 0 to 9223372036854775807");
    REQUIRE(error_of(replace(kGood, "[wake]", "[hibernation]\ncrc = false\n\n[wake]")) ==
            ":19:1: hibernation: is for a hibernation (S4) protocol; 'linux-s3' suspends to RAM");
    // The seeds of a replayed decision take no sign either ("-1" is not 2^64-1).
    Scenario s = load_scenario(TempFile(kGood).path());
    REQUIRE_THROWS_WITH(add_cli_faults(s, {"timing=seed=-1"}), "timing: seed needs a number, got '-1'");
    REQUIRE_THROWS_WITH(add_cli_faults(s, {"schedule=pct,seed= 1"}), "schedule: seed needs a number, got ' 1'");
}

TEST_CASE("scenario: TOML syntax errors and missing sections", "[scenario]") {
    REQUIRE(error_of(replace(kGood, "seed = 7", "seed = ")).find(":4:") == 0);
    REQUIRE(error_of("[platform]\nname = \"pc-basic\"\n") == ":1:1: protocol: is required: [protocol] name = \"linux-s3\"");
    std::string no_expect = kGood.substr(0, kGood.find("[expect]"));
    REQUIRE(error_of(no_expect).find("expect: is required") != std::string::npos);
}

TEST_CASE("scenario: protocol overrides are validated where they are written", "[scenario]") {
    std::string text = replace(kGood, "[drivers.dma0]", "[[protocol.override]]\nphase = \"suspend_noirq\"\norder = \"up\"\n\n[drivers.dma0]");
    REQUIRE(error_of(text) == ":14:9: phase 'suspend_noirq'.order: order must be \"top-down\" or \"bottom-up\"");
    text = replace(kGood, "[drivers.dma0]", "[[protocol.override]]\nphase = \"suspend_noirqq\"\n\n[drivers.dma0]");
    REQUIRE(error_of(text) == ":13:9: protocol.override[0].phase: protocol 'linux-s3' has no phase 'suspend_noirqq'");
}

TEST_CASE("platform: a device-link cycle is rejected naming the cycle", "[scenario][graph]") {
    TempFile plat(R"(
name = "loop"
[[device]]
name = "pci0"
type = "pci-host"
[[device]]
name = "a"
type = "dma-engine"
slot = "01.0"
parent = "pci0"
[[link]]
supplier = "a"
consumer = "pci0"
)");
    try {  // at load, naming the link that closes it
        load_platform(plat.path());
        FAIL("cycle accepted");
    } catch (const InputError& e) {
        REQUIRE(std::string(e.what()) == plat.path() + ":11:1: link[0]: device graph has a cycle: pci0 -> a -> pci0");
    }
}

TEST_CASE("platform: a CPU clock the clock model cannot represent is an input error at load", "[scenario]") {
    const std::string base = "name = \"clocked\"\ncpu_clock = \"CLOCK\"\n[[device]]\nname = \"pci0\"\ntype = \"pci-host\"\n";
    auto with = [&](const std::string& clock) { return TempFile(replace(base, "CLOCK", clock)); };
    TempFile fast = with("2000GHz");
    try {
        load_platform(fast.path());
        FAIL("2000GHz accepted");
    } catch (const InputError& e) {
        REQUIRE(std::string(e.what()) == fast.path() + ":2:13: cpu_clock: '2000GHz' is above 1000GHz, the fastest clock "
                                                       "the model represents (one cycle per picosecond)");
    }
    TempFile fastest = with("1000GHz");  // one cycle per picosecond: the limit itself
    REQUIRE(load_platform(fastest.path()).cpu_hz == kMaxClockHz);
}

TEST_CASE("scenario: a device can be left out of the platform, if nothing sits on it", "[scenario]") {
    TempFile ok(replace(kGood, "[drivers.dma0]", "[devices.dma1]\npresent = false\n\n[drivers.dma0]"));
    Scenario s = load_scenario(ok.path());
    for (const auto& d : s.platform.devices) REQUIRE(d.name != "dma1");
    REQUIRE(s.platform.devices.size() == 3);  // pci0, rp0, dma0
    REQUIRE(error_of(replace(kGood, "[drivers.dma0]", "[devices.rp0]\npresent = false\n\n[drivers.dma0]")) ==
            ":12:1: devices.rp0.present: 'dma0' sits on it");
    REQUIRE(error_of(replace(kGood, "[drivers.dma0]", "[devices.pci0]\npresent = false\n\n[drivers.dma0]")) ==
            ":12:1: devices.pci0.present: the host bridge stays");
    // A driver table for a device left out names it as unknown.
    REQUIRE(error_of(replace(kGood, "[drivers.dma0]", "[devices.dma0]\npresent = false\n\n[drivers.dma0]")) ==
            ":15:1: drivers.dma0: no device named 'dma0'");
}
