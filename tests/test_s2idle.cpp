// Suspend-to-idle (linux-s2idle): the phase sequence, the LPS0 _DSM calls,
// the idle loop, wake IRQs and the spurious-wakeup path back to idle
// (kernel/power/suspend.c s2idle_loop, drivers/acpi/sleep.c acpi_s2idle_wake).
#include "files.h"
#include "tmpfile.h"

#include "sim/core/errors.h"
#include "sim/pm/protocol.h"
#include "sim/scenario/executor.h"

#include <algorithm>
#include <fstream>
#include <sstream>

using namespace quiesce;
using quiesce::test::TempFile;

namespace {
// The run's s2idle story: phases, LPS0 and other firmware methods, idle
// periods, the wake checks' verdicts, in time order.
std::string story(const RunResult& r) {
    std::string out;
    auto add = [&](const std::string& s) { out += (out.empty() ? "" : " ") + s; };
    for (const auto& ev : r.stream.events) {
        if (ev.kind == EvKind::SliceBegin && (ev.category == "phase" || ev.category == "firmware")) add(ev.name);
        if (ev.kind == EvKind::SliceBegin && ev.category == "s2idle") add("[idle");
        if (ev.kind == EvKind::SliceEnd && ev.category == "s2idle") add("idle]");
        if (ev.kind == EvKind::Instant && ev.name == "s2idle-wake") add("wake:" + arg_value(ev, "result"));
        if (ev.kind == EvKind::Instant && ev.name == "rearm_wake_irq") add("rearm:" + arg_value(ev, "irq"));
        if (ev.kind == EvKind::Instant && ev.name == "key-press") add("key");
        if (ev.kind == EvKind::Instant && ev.name == "ec-event") add("ec-event");
    }
    return out;
}

const std::string kSuspend =
    "sync freeze-tasks restrict-gfp prepare suspend suspend_late s2idle-prepare suspend-device-irqs suspend_noirq "
    "lps0-display-off LPS0._DSM(3) lps0-entry LPS0._DSM(5) s2idle";
const std::string kResume =
    "lps0-exit LPS0._DSM(6) lps0-display-on LPS0._DSM(4) resume_noirq resume-device-irqs s2idle-restore resume_early "
    "resume complete restore-gfp thaw-tasks";

size_t count(const RunResult& r, const std::string& name, const std::string& category) {
    size_t n = 0;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::SliceBegin && ev.name == name && ev.category == category) ++n;
    return n;
}
}  // namespace

TEST_CASE("s2idle: S3's device phases, LPS0 around the idle loop, no firmware sleep entry, CPUs idle", "[s2idle]") {
    RunResult r = execute(test::load_regression("s2idle-basic"));
    CHECK(r.status == "passed");
    CHECK(r.stream.summary.outcome == "resumed");
    CHECK(story(r) == kSuspend + " [idle idle] wake:wakeup " + kResume);
    // No _TTS/_PTS/_WAK, no SLP_EN, no CPU offline: every CPU went idle once.
    for (const auto& ev : r.stream.events) {
        CHECK(ev.name != "sleep-request");
        CHECK(ev.name.rfind("_PTS", 0) != 0);
        CHECK(ev.name != "cpus-offline");
    }
    CHECK(count(r, "idle", "cpuidle") == 2);  // pc-storage: 2 CPUs
}

TEST_CASE("s2idle: a USB key wakes through the armed SCI, without the keyboard's wake armed it is lost", "[s2idle]") {
    RunResult armed = execute(test::load_regression("s2idle-wake-irq-armed"));
    CHECK(armed.status == "passed");
    CHECK(story(armed) == kSuspend + " [idle key idle] wake:wakeup " + kResume);
    std::string reason, wakeup_irq;
    for (const auto& ev : armed.stream.events) {
        if (ev.name == "s2idle-wake") reason = arg_value(ev, "reason");
        if (ev.name == "irq-wakeup" && wakeup_irq.empty()) wakeup_irq = arg_value(ev, "irq");
    }
    CHECK(reason == "ACPI GPE 13");
    CHECK(wakeup_irq == "9");
    CHECK(armed.stream.summary.sim_end < 500'000'000'000ULL);  // woken by the key, 100 ms in, not by the alarm at 2 s

    RunResult lost = execute(test::load_regression("s2idle-wake-irq-not-armed"));
    CHECK(lost.status == "passed");
    CHECK(story(lost) == kSuspend + " [idle key idle] wake:wakeup " + kResume);
    CHECK(lost.violations == std::set<std::string>{"wake.lost"});
    std::vector<const Event*> found;
    for (const auto& ev : lost.stream.events)
        if (ev.kind == EvKind::Violation) found.push_back(&ev);
    REQUIRE(found.size() == 1);
    CHECK(found[0]->track == "kbd0");
    CHECK(found[0]->phase == "s2idle");
    CHECK(arg_value(*found[0], "message").find("RTC alarm") != std::string::npos);
}

TEST_CASE("s2idle: an EC event is a spurious wakeup - back to idle - and the key then wakes", "[s2idle]") {
    RunResult r = execute(test::load_regression("s2idle-spurious-ec-wakeup"));
    CHECK(r.status == "passed");
    CHECK(story(r) == kSuspend + " [idle ec-event idle] _Q20 wake:spurious rearm:9 [idle key idle] wake:wakeup " + kResume);
    // Without the EC event the same run idles once.
    Scenario s = test::load_regression("s2idle-spurious-ec-wakeup");
    s.properties.erase(std::remove_if(s.properties.begin(), s.properties.end(),
                                      [](const auto& p) { return p.key == "acpi.ec_event_ms"; }),
                       s.properties.end());
    CHECK(story(execute(s)) == kSuspend + " [idle key idle] wake:wakeup " + kResume);
}

TEST_CASE("s2idle: a platform without an LPS0 device makes no _DSM call", "[s2idle]") {
    Scenario s = test::load_regression("s2idle-basic");
    s.properties.push_back({"firmware.lps0", false, 0, 0});
    RunResult r = execute(s);
    CHECK(r.status == "passed");
    CHECK(story(r).find("LPS0._DSM") == std::string::npos);
}

TEST_CASE("s2idle: bad protocol values are input errors naming the key", "[s2idle]") {
    const std::string base = std::string(QUIESCE_DATA_DIR) + "/protocols/linux-s2idle.toml";
    std::ifstream in(base);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    auto error_of = [](const std::string& t) {
        TempFile f(t);
        try {
            load_protocol(f.path());
        } catch (const InputError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    auto replaced = [&](const std::string& from, const std::string& to) {
        std::string t = text;
        const size_t at = t.find(from);
        REQUIRE(at != std::string::npos);
        return t.replace(at, from.size(), to);
    };
    CHECK(error_of(replaced("target = \"s2idle\"", "target = \"S0\"")).find("target: must be") != std::string::npos);
    CHECK(error_of(replaced("function = \"entry\"", "function = \"sleep\"")).find("function: LPS0 function must be") !=
          std::string::npos);
    CHECK(error_of(replaced("function = \"entry\"", "function = \"entry\"\nmethod = \"_PTS\"")).find("no error") !=
          std::string::npos);
    CHECK(error_of(replaced("test_level = \"platform\"", "test_level = \"core\"")).find("test_level: suspend-to-idle") !=
          std::string::npos);
    CHECK(error_of(replaced("action = \"sync\"", "action = \"sync\"\nfunction = \"entry\"")).find("only lps0 phases") !=
          std::string::npos);
    CHECK(error_of(replaced("name = \"s2idle\"               # s2idle_loop: CPUs idle until a confirmed wakeup\naction = \"s2idle\"",
                            "name = \"s2idle\"\naction = \"platform-enter\""))
              .find("no place in suspend-to-idle") != std::string::npos);
    CHECK(error_of(replaced("target = \"s2idle\"", "target = \"S3\"")).find("belongs to a suspend-to-idle protocol") !=
          std::string::npos);
    // The error names the file, line and column.
    const std::string e = error_of(replaced("function = \"entry\"", "function = \"sleep\""));
    CHECK(e.find(".toml:") != std::string::npos);
}
