// The suspend initiator and /sys/power/wakeup_count (pm_get_wakeup_count /
// pm_save_wakeup_count in drivers/base/power/wakeup.c): the handshake that
// closes the window between deciding to suspend and suspending.
#include <catch2/catch.hpp>

#include "files.h"

#include "sim/scenario/executor.h"

using namespace quiesce;

namespace {
// "name" or "name(key=value)" for the wake-category instants and the transition.
std::vector<std::string> wake_story(const RunResult& r) {
    std::vector<std::string> out;
    for (const auto& ev : r.stream.events) {
        if (ev.kind == EvKind::SliceBegin && ev.category == "transition") out.push_back("transition");
        if (ev.kind == EvKind::SliceBegin && ev.category == "power" && ev.name == "S3") out.push_back("S3");
        if (ev.kind != EvKind::Instant || ev.category != "wake") continue;
        if (ev.name == "wakeup-count-write") out.push_back("wakeup-count-write(rc=" + arg_value(ev, "rc") + ")");
        else if (ev.name == "wakeup-event") out.push_back("wakeup-event(" + arg_value(ev, "source") + ")");
        else out.push_back(ev.name);
    }
    return out;
}
}  // namespace

TEST_CASE("wakeup_count: without the handshake an event in the decision window is lost", "[wakeup-count]") {
    RunResult r = execute(test::load_regression("s3-wakeup-count-race"));
    REQUIRE(r.status == "passed");
    auto story = wake_story(r);
    story.resize(std::min<size_t>(story.size(), 6));
    CHECK(story == std::vector<std::string>{"suspend-decided", "power-button", "wakeup-event(power-button)",
                                            "transition", "S3", "rtc-alarm"});
    const Event* lost = nullptr;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::Violation && ev.name == "wake.lost") lost = &ev;
    REQUIRE(lost);
    CHECK(arg_value(*lost, "message").find("after the suspend was decided at") != std::string::npos);
}

TEST_CASE("wakeup_count: the handshake's write-back fails after an event and no suspend starts", "[wakeup-count]") {
    RunResult r = execute(test::load_regression("s3-wakeup-count-handshake"));
    REQUIRE(r.status == "passed");
    CHECK(r.stream.summary.outcome == "aborted:wakeup-count");
    CHECK(wake_story(r) == std::vector<std::string>{"suspend-decided", "power-button", "wakeup-event(power-button)",
                                                    "wakeup-count-write(rc=-22)"});
}

TEST_CASE("wakeup_count: an event after a good write-back aborts the transition against the saved count",
          "[wakeup-count]") {
    Scenario s = test::load_regression("s3-wakeup-count-handshake");
    s.button_after = 20'060'000'000ULL;  // a few hundred ns after the write, as the transition starts
    s.expect.outcome = "";
    RunResult r = execute(s);
    auto story = wake_story(r);
    REQUIRE(story.size() >= 4);
    CHECK(story[1] == "wakeup-count-write(rc=0)");
    CHECK(r.stream.summary.outcome.rfind("aborted:", 0) == 0);
    CHECK(r.stream.summary.outcome != "aborted:wakeup-count");
    CHECK(r.violations.empty());
}
