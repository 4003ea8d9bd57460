// /sys/power/pm_test: each level stops the transition where Linux's
// suspend_test / hibernation_test stops it, waits, and unwinds without
// sleeping (kernel/power/suspend.c, kernel/power/hibernate.c).
#include "tmpfile.h"

#include "sim/scenario/executor.h"

#include <sstream>

using namespace quiesce;
using quiesce::test::TempFile;

namespace {
Scenario with_pm_test(const std::string& base, const std::string& level) {
    Scenario s = load_scenario(std::string(QUIESCE_DATA_DIR) + "/regression/" + base + ".toml");
    s.properties.push_back({"kernel.pm_test", std::string(level), 0, 0});
    s.expect.outcome = "pm-test:" + level;
    return s;
}

// The transition's phases, in the order they ran.
std::string phases(const RunResult& r) {
    std::string out;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::SliceBegin && ev.category == "phase") out += (out.empty() ? "" : " ") + ev.name;
    return out;
}

std::vector<std::string> callbacks_of(const RunResult& r, const std::string& device) {
    std::vector<std::string> out;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::SliceBegin && ev.category == "callback" && arg_value(ev, "device") == device)
            out.push_back(ev.name);
    return out;
}

bool slept(const RunResult& r) {
    for (const auto& ev : r.stream.events)
        if (ev.name == "platform-enter") return true;
    return false;
}
}  // namespace

TEST_CASE("pm_test: each suspend level stops where suspend_test stops and unwinds without sleeping", "[pm-test]") {
    // TEST_PLATFORM comes after acpi_pm_prepare has saved NVS (nvs-save).
    const std::string head = "sync freeze-tasks";
    const std::string devices = head + " nvs-alloc platform-begin restrict-gfp prepare suspend";
    const std::string noirq = devices + " suspend_late suspend-device-irqs suspend_noirq platform-prepare nvs-save";
    const std::string back = " platform-finish resume_noirq resume-device-irqs resume_early resume complete restore-gfp "
                             "platform-end nvs-free thaw-tasks";
    const std::vector<std::pair<std::string, std::string>> want = {
        {"freezer", head + " thaw-tasks"},
        {"devices", devices + " resume complete restore-gfp platform-end nvs-free thaw-tasks"},
        {"platform", noirq + back},
        {"processors", noirq + " cpus-offline cpus-online" + back},
        {"core", noirq + " cpus-offline irqs-off syscore-suspend syscore-resume irqs-on cpus-online" + back},
    };
    for (const auto& [level, sequence] : want) {
        INFO(level);
        RunResult r = execute(with_pm_test("s3-storage", level));
        CHECK(r.status == "passed");
        CHECK(r.violations.empty());
        CHECK(r.stream.summary.outcome == "pm-test:" + level);
        CHECK(phases(r) == sequence);
        CHECK_FALSE(slept(r));
    }
}

TEST_CASE("pm_test: hibernation's test levels resume devices with restore, not thaw (in_suspend is 0)", "[pm-test]") {
    RunResult r = execute(with_pm_test("s4-storage", "devices"));
    CHECK(r.status == "passed");
    CHECK(phases(r) == "sync freeze-user-tasks platform-begin preallocate freeze-kernel-threads prepare restrict-gfp "
                       "freeze restore restore-gfp complete-thaw thaw-tasks platform-end-thaw thaw-tasks");
    CHECK(callbacks_of(r, "dma0") == std::vector<std::string>{"prepare", "freeze", "restore", "complete"});
    RunResult core = execute(with_pm_test("s4-storage", "core"));
    CHECK(core.status == "passed");
    CHECK(callbacks_of(core, "dma0") ==
          std::vector<std::string>{"prepare", "freeze", "freeze_late", "freeze_noirq", "restore_noirq",
                                   "restore_early", "restore", "complete"});
    // No image: the snapshot never ran.
    CHECK(phases(core).find("snapshot") == std::string::npos);
}

TEST_CASE("pm_test: the wait is pm_test_delay in 1 s steps, suspend's ends at a pending wakeup event", "[pm-test]") {
    auto test_span = [](const RunResult& r) {
        Picos at = 0, resumed = 0;
        for (const auto& ev : r.stream.events) {
            if (ev.name == "pm-test") at = ev.ts;
            if (at && !resumed && ev.kind == EvKind::SliceBegin && ev.category == "phase" && ev.ts > at) resumed = ev.ts;
        }
        return resumed - at;
    };
    // At core, interrupts are off: the RTC alarm cannot end the wait.
    Scenario core = with_pm_test("s3-storage", "core");
    RunResult full = execute(core);
    CHECK(test_span(full) >= 5'000'000'000'000ULL);
    CHECK(test_span(full) < 5'001'000'000'000ULL);
    core.properties.push_back({"kernel.pm_test_delay_ms", int64_t(2000), 0, 0});
    CHECK(test_span(execute(core)) < 2'001'000'000'000ULL);
    // At devices, interrupts are on: the alarm is a wakeup event and the
    // wait stops at the next 1 s step.
    RunResult devices = execute(with_pm_test("s3-storage", "devices"));
    CHECK(test_span(devices) < 5'000'000'000'000ULL);
}

TEST_CASE("pm_test: a level the protocol does not mark, or no level at all, is an input error", "[pm-test]") {
    auto load = [](const std::string& protocol, const std::string& level) {
        TempFile f("[platform]\nname = \"pc-basic\"\n[protocol]\nname = \"" + protocol +
                   "\"\n[properties]\n\"kernel.pm_test\" = \"" + level + "\"\n[expect]\nresult = \"pass\"\n");
        try {
            load_scenario(f.path());
        } catch (const InputError& e) {
            std::string m = e.what();
            return m.substr(m.find(':') + 1);
        }
        return std::string("loaded");
    };
    CHECK(load("linux-s3", "devices") == "loaded");
    CHECK(load("linux-s3", "none") == "loaded");
    CHECK(load("linux-s3", "device") ==
          "6:1: properties.kernel.pm_test: 'device' is no pm_test level (none, freezer, devices, platform, "
          "processors, core)");
    CHECK(load("ben2001", "devices") ==
          "6:1: properties.kernel.pm_test: protocol ben2001 marks no phase as the 'devices' test point (test_level)");
}
