// khungtaskd (kernel/hung_task.c) as the kernel's periodic check: a task
// blocked in one kernel wait across a whole check interval is reported
// while the run goes on; a shorter stall is not.
#include "files.h"
#include "tmpfile.h"

#include "sim/core/errors.h"
#include "sim/scenario/executor.h"

using namespace quiesce;

namespace {
std::vector<const Event*> hung(const RunResult& r) {
    std::vector<const Event*> out;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::GuestError && ev.name == "liveness.hang" && arg_value(ev, "kind") == "hung-task")
            out.push_back(&ev);
    return out;
}
}  // namespace

TEST_CASE("hung tasks: a stall across a check interval is reported at the check, and the run goes on",
          "[hungtask]") {
    RunResult r = execute(test::load_regression("s3-hung-task-slow-spin-up"));
    CHECK(r.status == "passed");
    auto h = hung(r);
    REQUIRE(h.size() == 2);
    CHECK(h[0]->ts == 10'000'000'000'000ULL);  // the second check, 10 s in
    CHECK(arg_value(*h[0], "task") == "writer");
    CHECK(arg_value(*h[1], "task") == "jbd2");
    CHECK(r.stream.summary.outcome == "resumed");
    CHECK(r.stream.summary.workload == "ok");       // the tasks got out and finished
    CHECK(r.stream.summary.sim_end > 20'000'000'000'000ULL);  // after run_after, not cut short
}

TEST_CASE("hung tasks: a stall shorter than a whole check interval is not reported", "[hungtask]") {
    // Blocked from 0.3 s to 9.3 s: neither the check at 5 s (4.7 s blocked)
    // nor the one at 10 s (over) sees a task blocked a whole interval.
    Scenario s = test::load_regression("s3-hung-task-slow-spin-up");
    s.faults.faults.at(0).duration = 6'000'000'000'000ULL;
    s.expect = Expectation{};
    RunResult r = execute(s);
    CHECK(hung(r).empty());
    CHECK(r.status == "passed");
    // The same stall with a 3 s threshold is reported (at the check at 6 s).
    s.properties.push_back({"kernel.hung_task_ms", PropValue(int64_t(3000))});
    RunResult tight = execute(s);
    auto h = hung(tight);
    REQUIRE_FALSE(h.empty());
    CHECK(h[0]->ts == 6'000'000'000'000ULL);
}

TEST_CASE("hung tasks: khungtaskd is paused while a transition runs, and reports after it", "[hungtask]") {
    // hung_task_pm_notify: no check from PM_SUSPEND_PREPARE to
    // PM_POST_SUSPEND. A task in D state from 20 ms on keeps the freezer
    // waiting its 20 s and stays blocked after suspend aborts: the checks at
    // 5, 10, 15 and 20 s fall inside the transition and report nothing; the
    // first check after it does.
    RunResult r = execute(test::load_regression("s3-freezer-timeout"));
    CHECK(r.status == "passed");
    CHECK(r.stream.summary.outcome == "aborted:freeze-tasks");
    Picos transition_end = 0;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::SliceEnd && ev.name == "linux-s3") transition_end = ev.ts;
    REQUIRE(transition_end > 20'000'000'000'000ULL);
    auto h = hung(r);
    REQUIRE(h.size() == 1);
    CHECK(arg_value(*h[0], "task") == "stuck");
    CHECK(arg_value(*h[0], "waits_for") == "an NFS server that does not answer");
    const Picos every = 5'000'000'000'000ULL;
    CHECK(h[0]->ts == (transition_end / every + 1) * every);  // the first check after the transition
}
