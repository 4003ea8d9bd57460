// Runs as CI sees them: forked isolation, crashes and runaways contained,
// determinism of the trace digest, and judging against expectations.
#include "child.h"
#include "files.h"

#include "sim/scenario/executor.h"
#include "sim/scenario/run.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <thread>

using namespace quiesce;

TEST_CASE("fork runner: a crashing child becomes a crashed result", "[runs]") {
    ChildResult r = run_forked(
        [](int) {
            std::fprintf(stderr, "model panic at somewhere.cpp:12: boom\n");
            std::abort();
        },
        10);
    REQUIRE(r.status == ChildResult::Status::Crashed);
    REQUIRE(r.signal == SIGABRT);
    REQUIRE(r.error_tail.find("boom") != std::string::npos);
}

TEST_CASE("fork runner: a runaway child is killed at the wall-clock limit", "[runs]") {
    ChildResult r = run_forked(
        [](int) {
            for (;;) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        },
        0.3);
    REQUIRE(r.status == ChildResult::Status::TimedOut);  // killed, not waited for forever
    REQUIRE_FALSE(r.cpu_limit);                          // it slept: the wall clock killed it
}

TEST_CASE("fork runner: a child spinning is killed at its CPU-time limit, not at the wall clock's", "[runs]") {
    ChildResult r = run_forked(
        [](int) {
            volatile uint64_t x = 0;
            for (;;) x = x + 1;
        },
        RunLimits(600, 0.2));
    REQUIRE(r.status == ChildResult::Status::TimedOut);
    REQUIRE(r.cpu_limit);
    REQUIRE(r.wall_s < 600);
}

TEST_CASE("fork runner: a child that ended in time is not timed out when its parent looks late", "[runs]") {
    // The first child's result keeps the parent busy (as recording a large
    // run does) past the second child's wall limit; the second had ended
    // long before.
    std::vector<ChildResult> out(2);
    run_forked_pool(
        2, 2,
        [](size_t i, int) {
            if (i == 1) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        },
        [](size_t) { return RunLimits(0.5); },
        [&](size_t i, ChildResult r) {
            if (i == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1000));
            out[i] = std::move(r);
        });
    CHECK(out[0].status == ChildResult::Status::Exited);
    CHECK(out[1].status == ChildResult::Status::Exited);
}

TEST_CASE("fork runner: a served pool reports what a pool does and the caller forks none of the runs", "[runs]") {
    // Five runs: a stream larger than a pipe holds, a crash with its last
    // words, a nonzero exit, a runaway past its wall limit, and one that
    // says who forked it.
    auto body = [](size_t i, int fd) {
        if (i == 0) {
            std::string big(3 << 20, 'x');
            for (size_t k = 0; k < big.size(); k += 4096) big[k] = char('a' + k / 4096 % 26);
            write_all(fd, big);
        } else if (i == 1) {
            std::fprintf(stderr, "model panic: boom\n");
            std::abort();
        } else if (i == 2) {
            ::_exit(3);
        } else if (i == 3) {
            for (;;) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        } else {
            write_all(fd, std::to_string(::getppid()));
        }
    };
    auto limits = [](size_t i) { return RunLimits(i == 3 ? 0.3 : 60); };
    std::vector<ChildResult> pooled(5), served(5);
    run_forked_pool(5, 2, body, limits, [&](size_t i, ChildResult r) { pooled[i] = std::move(r); });
    run_served_pool(5, 2, body, limits, [&](size_t i, ChildResult r) { served[i] = std::move(r); });
    for (size_t i = 0; i < 4; ++i) {
        INFO(i);
        CHECK(served[i].status == pooled[i].status);
        CHECK(served[i].signal == pooled[i].signal);
        CHECK(served[i].exit_code == pooled[i].exit_code);
        CHECK(served[i].output == pooled[i].output);
        CHECK(served[i].error_tail == pooled[i].error_tail);
        CHECK(served[i].file == -1);
    }
    CHECK(served[0].output.size() == size_t(3 << 20));
    CHECK(served[1].signal == SIGABRT);
    CHECK(served[1].error_tail.find("boom") != std::string::npos);
    CHECK(served[2].exit_code == 3);
    CHECK(served[3].status == ChildResult::Status::TimedOut);
    CHECK(pooled[4].output == std::to_string(::getpid()));
    CHECK(served[4].status == ChildResult::Status::Exited);
    CHECK_FALSE(served[4].output.empty());
    CHECK(served[4].output != std::to_string(::getpid()));  // the runner forked it
}

TEST_CASE("fork runner: a served pool whose runner dies runs again the runs it did not report", "[runs]") {
    std::vector<ChildResult> out(3);
    std::vector<int> seen(3, 0);
    const pid_t self = ::getpid();
    run_served_pool(
        3, 1,
        [self](size_t i, int fd) {
            // Run 1 kills the runner that forked it; forked by this process, it runs.
            if (i == 1 && ::getppid() != self) ::kill(::getppid(), SIGKILL);
            quiesce::write_all(fd, ::getppid() == self ? "again" : "runner");
        },
        [](size_t) { return RunLimits(60); },
        [&](size_t i, ChildResult r) {
            ++seen[i];
            out[i] = std::move(r);
        });
    CHECK(seen == std::vector<int>{1, 1, 1});
    CHECK(out[0].output == "runner");
    for (size_t i : {1, 2}) {
        INFO(i);
        CHECK(out[i].status == ChildResult::Status::Exited);
        CHECK(out[i].output == "again");
    }
}

TEST_CASE("fork runner: a served pool starts a run only while the streams waiting for its caller are few", "[runs]") {
    // Each run notes that it started and writes 512 KiB; the caller is slow
    // with each report. With 1 MiB let wait, at most two streams wait, two
    // runs run and one is being reported; without a bound, all twelve would
    // have started while the caller took in the first.
    char path[] = "/tmp/quiesce-served-XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(::fcntl(fd, F_SETFL, O_APPEND) == 0);
    auto started = [&] {
        struct stat st {};
        ::fstat(fd, &st);
        return size_t(st.st_size);
    };
    size_t taken = 0, most_ahead = 0;
    run_served_pool(
        12, 2,
        [&](size_t, int out) {
            const char c = 's';
            if (::write(fd, &c, 1) != 1) ::_exit(1);  // a byte from each: the file's size counts them
            write_all(out, std::string(512 << 10, 'x'));
        },
        [](size_t) { return RunLimits(60); },
        [&](size_t, ChildResult r) {
            CHECK(r.status == ChildResult::Status::Exited);
            CHECK(r.output.size() == size_t(512 << 10));
            std::this_thread::sleep_for(std::chrono::milliseconds(40));
            ++taken;
            most_ahead = std::max(most_ahead, started() - taken);
        },
        size_t(1) << 20);
    const size_t all = started();
    ::close(fd);
    ::unlink(path);
    CHECK(taken == 12);
    CHECK(all == 12);
    CHECK(most_ahead <= 5);
}

TEST_CASE("fork runner: a served pool kills a run at its wall limit while it waits for its caller", "[runs]") {
    // Run 0 writes 2 MiB and ends; the caller takes 3 s over it. Run 1
    // hangs, its wall limit 0.3 s. Before it starts run 3, the runner waits
    // for the caller (2 MiB waiting, 1 MiB let wait): run 1 must still be
    // killed near its limit, not when the caller answers.
    std::vector<ChildResult> out(4);
    run_served_pool(
        4, 2,
        [](size_t i, int fd) {
            if (i == 0) write_all(fd, std::string(2 << 20, 'x'));
            if (i == 1)
                for (;;) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        },
        [](size_t i) { return RunLimits(i == 1 ? 0.3 : 60); },
        [&](size_t i, ChildResult r) {
            if (i == 0) std::this_thread::sleep_for(std::chrono::milliseconds(3000));
            out[i] = std::move(r);
        },
        size_t(1) << 20);
    CHECK(out[0].status == ChildResult::Status::Exited);
    CHECK(out[1].status == ChildResult::Status::TimedOut);
    CHECK_FALSE(out[1].cpu_limit);
    CHECK(out[1].wall_s < 2.0);  // killed while the caller still took in run 0 (3 s)
    CHECK(out[2].status == ChildResult::Status::Exited);
    CHECK(out[3].status == ChildResult::Status::Exited);
}

TEST_CASE("fork runner: QUIESCE_RUNNER=0 serves the runs from the caller itself", "[runs]") {
    ::setenv("QUIESCE_RUNNER", "0", 1);
    ChildResult r;
    run_served_pool(
        1, 1, [](size_t, int fd) { write_all(fd, std::to_string(::getppid())); }, [](size_t) { return RunLimits(60); },
        [&](size_t, ChildResult c) { r = std::move(c); });
    ::unsetenv("QUIESCE_RUNNER");
    CHECK(r.output == std::to_string(::getpid()));
}

TEST_CASE("fork runner: a child that sleeps does not reach its CPU-time limit", "[runs]") {
    ChildResult r = run_forked([](int) { std::this_thread::sleep_for(std::chrono::milliseconds(300)); },
                               RunLimits(600, 0.05));
    REQUIRE(r.status == ChildResult::Status::Exited);
}

TEST_CASE("runs: the same scenario and seed give the same trace digest", "[runs][determinism]") {
    Scenario s = test::load_regression("s3-basic");
    RunResult a = execute(s);
    RunResult b = execute(s);
    REQUIRE(a.status == "passed");
    REQUIRE(a.stream.events.size() > 100);
    REQUIRE(a.stream.digest == b.stream.digest);
    REQUIRE(a.stream.summary.sim_end == b.stream.summary.sim_end);
    REQUIRE(a.stream.summary.memory_digest == b.stream.summary.memory_digest);
    s.seed = 99;  // the workload's data comes from the seeded generator
    RunResult c = execute(s);
    REQUIRE(c.status == "passed");
    REQUIRE(c.stream.summary.memory_digest != a.stream.summary.memory_digest);
    REQUIRE(c.stream.digest != a.stream.digest);
}

TEST_CASE("runs: a buggy variant fails an expectation of pass, with a one-line reason", "[runs]") {
    Scenario s = test::load_regression("pci-bar-restore-legacy");
    s.expect = Expectation{};  // pretend we expected it to pass
    RunResult r = execute(s);
    REQUIRE(r.status == "failed");
    REQUIRE(r.message.find("hwstate.not-restored") != std::string::npos);
    REQUIRE(r.message.find('\n') == std::string::npos);
}

TEST_CASE("runs: expected violations must all appear and nothing else", "[runs]") {
    Scenario s = test::load_regression("pci-mmio-after-d3");
    RunResult r = execute(s);
    REQUIRE(r.status == "passed");
    REQUIRE(r.violations == std::set<std::string>{"io.suspended-device"});
    s.expect.violations = {"io.suspended-device", "order.dependency"};
    judge(s, r);
    REQUIRE(r.status == "failed");
    REQUIRE(r.message == "expected violation(s) missing: order.dependency");
    s.expect.violations = {"hwstate.not-restored"};
    r.violations.clear();
    judge(s, r);
    // The failure names the invariant, the phase and the component, for a CI log.
    REQUIRE(r.message ==
            "expected violation(s) missing: hwstate.not-restored; unexpected: io.suspended-device (first: "
            "io.suspended-device in suspend_noirq at dma0: dma0: MMIO reached a function that is not in D0)");
}

TEST_CASE("runs: a device resumed by the buggy driver is unusable afterwards", "[runs]") {
    RunResult r = execute(test::load_regression("pci-bar-restore-legacy"));
    REQUIRE(r.stream.summary.outcome == "resumed");
    // The driver's MMIO lands nowhere after resume: its copies time out.
    REQUIRE(r.stream.summary.workload.find("dma0: copy 0 after failed with errno 110") == 0);
    RunResult fixed = execute(test::load_regression("pci-bar-restore-fixed"));
    REQUIRE(fixed.stream.summary.workload == "ok");
}

TEST_CASE("runs: a wake-armed device keeps auxiliary power through S3", "[runs][acpi]") {
    Scenario s = test::load_regression("s3-basic");
    for (auto& d : s.platform.devices)
        if (d.name == "dma1") d.wake = true;
    RunResult r = execute(s);
    REQUIRE(r.status == "passed");  // PME_En armed in suspend_noirq, cleared in resume_noirq
    auto seen = [&](const std::string& track, const std::string& name) {
        for (const auto& ev : r.stream.events)
            if (ev.track == track && ev.name == name) return true;
        return false;
    };
    REQUIRE(seen("dma1", "aux-power"));
    REQUIRE_FALSE(seen("dma1", "power-off"));
    REQUIRE(seen("dma0", "power-off"));
    REQUIRE(seen("acpi", "S3"));
    REQUIRE(seen("acpi", "rtc-alarm"));
    REQUIRE(seen("firmware", "_WAK(3)"));
}

TEST_CASE("runs: a run past its wall-clock limit is a timeout, not a hang", "[runs]") {
    Scenario s = test::load_regression("s3-basic");
    s.wall_limit_s = 1e-6;
    RunResult r = execute(s);
    REQUIRE(r.status == "timeout");
    REQUIRE(r.message.find("wall-clock limit") != std::string::npos);
}

TEST_CASE("runs: a run past its CPU-time limit is a timeout that names limits.cpu_time", "[runs]") {
    Scenario s = test::load_regression("s3-basic");
    s.cpu_limit_s = 1e-6;
    RunResult r = execute(s);
    REQUIRE(r.status == "timeout");
    REQUIRE(r.message.find("limits.cpu_time") != std::string::npos);
}

TEST_CASE("runs: [properties] override a model's typed properties", "[runs][properties]") {
    Scenario s = test::load_regression("s3-basic");
    RunResult base = execute(s);
    s.properties.push_back({"firmware.s3_resume_us", int64_t(500'000), 0, 0});  // 120 ms -> 500 ms
    s.properties.push_back({"cpu1.offline_cycles", int64_t(20'000), 0, 0});     // the default: no change
    RunResult slow = execute(s);
    REQUIRE(slow.status == "passed");
    Picos delta = slow.stream.summary.sim_end - base.stream.summary.sim_end;
    REQUIRE(delta >= 380'000'000'000ULL - 1'000'000);
    REQUIRE(delta <= 380'000'000'000ULL + 1'000'000);
}

TEST_CASE("runs: a hung callback is reported with what it waits for", "[runs][liveness]") {
    RunResult r = execute(test::load_regression("s3-controller-before-disk"));
    REQUIRE(r.status == "passed");
    std::string evidence;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::Violation && ev.name == "liveness.hang")
            for (const auto& a : ev.args)
                if (a.key == "message") evidence = a.value;
    REQUIRE(evidence == "suspend of sda has run 10s (budget 10s); it waits for ahci0: slot 0, ATA command 0xea");
    REQUIRE(r.stream.summary.outcome == "aborted:suspend");  // the flush timed out after 30 s
    REQUIRE(r.stream.summary.workload == "ok");              // and the disk still works
}

namespace {
// (message, evidence) of each liveness.hang of a run, in trace order.
std::vector<std::pair<std::string, std::string>> hangs(const RunResult& r) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::Violation && ev.name == "liveness.hang")
            out.emplace_back(arg_value(ev, "message"), arg_value(ev, "evidence"));
    return out;
}
}  // namespace

TEST_CASE("runs: a callback still running when the run's time ends is a hang, budget or not", "[runs][liveness]") {
    Scenario s = test::load_regression("s3-callback-hang-past-limit");
    REQUIRE(s.callback_budget > s.sim_limit);  // the DPM watchdog would never fire
    RunResult r = execute(s);
    REQUIRE(r.status == "passed");
    REQUIRE(r.stream.summary.outcome == "sim-time-limit");
    auto h = hangs(r);
    REQUIRE(h.size() == 1);  // the PM thread waits in that callback: one report, not two
    CHECK(h[0].first ==
          "suspend of ahci0 was still running when the run ended, 1.978s after it began; "
          "it waits for a completion that never comes (callback-hang)");
    CHECK(h[0].second.find("\"kind\":\"run-ended\"") != std::string::npos);
    // An explore variant accepts any outcome: the hang alone makes it a finding.
    s.expect = {};
    s.expect.pass = true;
    s.expect.outcome = "";
    CHECK(execute(s).status == "failed");
}

TEST_CASE("runs: every task still blocked in the kernel when the run ends is named with its wait", "[runs][liveness]") {
    RunResult r = execute(test::load_regression("s3-ben2001-swap-deadlock"));
    REQUIRE(r.status == "passed");
    std::vector<std::string> msgs;
    for (const auto& [m, e] : hangs(r)) msgs.push_back(m);
    REQUIRE(msgs == std::vector<std::string>{
                        "suspend of dma0 has run 1s (budget 1s); it waits for sda: request queue stopped until resume",
                        "flusher was still blocked on sda: request queue stopped until resume when the run ended",
                        "jbd2 was still blocked on the journal when the run ended",
                        "toucher was still blocked on swap-out when the run ended",
                        "writer was still blocked on sda: request queue stopped until resume when the run ended"});
}

TEST_CASE("runs: a machine asleep when the run ends is no hang", "[runs][liveness]") {
    // The wake was lost (wake.lost): the machine sleeps on, nothing is stuck.
    RunResult r = execute(test::load_regression("s3-wake-during-suspend-ignored"));
    REQUIRE(r.status == "passed");
    REQUIRE(r.stream.summary.outcome == "sim-time-limit");
    CHECK(hangs(r).empty());
}

TEST_CASE("scenario: [expect] outcome is checked with expected violations when written", "[runs][liveness]") {
    Scenario s = test::load_regression("s3-callback-hang-past-limit");
    s.expect.outcome = "resumed";
    RunResult r = execute(s);
    CHECK(r.status == "failed");
    CHECK(r.message == "found the expected violations, but the transition ended with 'sim-time-limit', not the "
                       "expected 'resumed'");
}

TEST_CASE("scenario: [expect] workload says whether the workload must fail", "[runs]") {
    // s3-callback-fail-resume: hwstate.not-restored, and its DMA copies after resume fail.
    Scenario s = test::load_regression("s3-callback-fail-resume");
    REQUIRE_FALSE(s.expect.workload_given);
    CHECK(execute(s).status == "passed");  // not checked when not written
    s.expect.workload_given = true;
    s.expect.workload_fails = true;
    CHECK(execute(s).status == "passed");
    CHECK(expected_text(s.expect) == "hwstate.not-restored; workload=failed");
    s.expect.workload_fails = false;
    RunResult r = execute(s);
    CHECK(r.status == "failed");
    CHECK(r.message.rfind("found the expected violations, but the workload failed: dma0: copy 0 after failed", 0) == 0);
    // A pass that expects the workload to fail, on a run whose workload completes.
    Scenario basic = test::load_regression("s3-basic");
    basic.expect.workload_given = basic.expect.workload_fails = true;
    r = execute(basic);
    CHECK(r.status == "failed");
    CHECK(r.message == "expected the workload to fail, but it completed");
}

namespace {
// Each device's slice of `callback` in a run: (begin, end) by device.
std::map<std::string, std::pair<Picos, Picos>> spans(const RunResult& r, const std::string& callback) {
    std::map<std::string, std::pair<Picos, Picos>> out;
    for (const auto& ev : r.stream.events) {
        if (ev.category != "callback" || ev.name != callback) continue;
        if (ev.kind == EvKind::SliceBegin) out[arg_value(ev, "device")].first = ev.ts;
        if (ev.kind == EvKind::SliceEnd) out[arg_value(ev, "device")].second = ev.ts;
    }
    return out;
}
}  // namespace

TEST_CASE("runs: async callbacks run in parallel, each after the devices it waits for", "[runs][async]") {
    Scenario s = test::load_regression("s3-storage");
    RunResult r = execute(s);
    REQUIRE(r.status == "passed");
    auto sus = spans(r, "suspend");
    // Unrelated devices start together (two CPUs); a parent waits for its children.
    CHECK(sus["dma0"].first == sus["sda"].first);
    CHECK(sus["rp0"].first >= sus["dma0"].second);
    CHECK(sus["ahci0"].first >= sus["sda"].second);
    CHECK(sus["pci0"].first >= std::max(sus["rp0"].second, sus["ahci0"].second));
    auto res = spans(r, "resume");
    CHECK(res["ahci0"].first == res["rp0"].first);  // both wait for pci0 only
    CHECK(res["sda"].first >= res["ahci0"].second);
    // pm_async = 0: one at a time, in list order.
    s.properties.push_back({"kernel.pm_async", false, 0, 0});
    RunResult one = execute(s);
    REQUIRE(one.status == "passed");
    auto seq = spans(one, "suspend");
    std::vector<std::pair<Picos, Picos>> v;
    for (const auto& [d, span] : seq) v.push_back(span);
    std::sort(v.begin(), v.end());
    for (size_t i = 1; i < v.size(); ++i) CHECK(v[i].first >= v[i - 1].second);
}

TEST_CASE("runs: seeded tie-breaking orders same-time events by its seed, and only by it", "[runs][timing]") {
    Scenario s = test::load_regression("s3-storage");
    RunResult nominal = execute(s);
    s.timing.ties = true;
    // (Seeds whose draws meet a tie in this run: 1 to 3 happen to meet none
    // that changes an event's order.)
    s.timing.seed = 4;
    RunResult a = execute(s), again = execute(s);
    s.timing.seed = 5;
    RunResult b = execute(s);
    REQUIRE(a.status == "passed");
    REQUIRE(b.status == "passed");
    REQUIRE(a.stream.digest == again.stream.digest);  // a function of the scenario and the seed
    REQUIRE(a.stream.digest != b.stream.digest);      // another seed, another order
    REQUIRE(a.stream.digest != nominal.stream.digest);
    s.timing.ties = false;  // off: SystemC's own order, as without a [timing] table
    REQUIRE(execute(s).stream.digest == nominal.stream.digest);
}

TEST_CASE("runs: timing jitter varies software costs within the band, minimum delays only upward, kworker starts",
          "[runs][timing]") {
    auto dur = [](const std::pair<Picos, Picos>& s) { return s.second - s.first; };
    Scenario s = test::load_regression("s3-basic");
    RunResult nominal = execute(s);
    REQUIRE(nominal.status == "passed");
    const Picos prepare = dur(spans(nominal, "prepare")["pci0"]);    // software cost only
    const Picos noirq = dur(spans(nominal, "suspend_noirq")["dma0"]);  // the PCI PM 10 ms D3hot delay inside
    REQUIRE(noirq >= Picos(10'000'000'000));
    s.timing.jitter = 50;
    std::set<Picos> prepares;
    bool longer = false, apart = false;
    for (uint64_t seed = 1; seed <= 6; ++seed) {
        s.timing.seed = seed;
        RunResult r = execute(s);
        REQUIRE(r.status == "passed");
        Picos p = dur(spans(r, "prepare")["pci0"]);
        CHECK(p * 2 >= prepare);  // within 50% either way (plus a bus access's rounding)
        CHECK(p <= prepare * 3 / 2 + 4'000);
        prepares.insert(p);
        auto sus = spans(r, "suspend_noirq");
        CHECK(dur(sus["dma0"]) >= Picos(10'000'000'000));  // never shorter than the spec's minimum
        longer = longer || dur(sus["dma0"]) > noirq + Picos(1'000'000'000);
        // The async callbacks' kworkers leave their cores' idle states at different times.
        apart = apart || sus["dma0"].first != sus["dma1"].first;
    }
    CHECK(prepares.size() > 1);
    CHECK(longer);
    CHECK(apart);
    // The firmware's S3 resume path covers the 100 ms a PCI function needs
    // after power-on before its config space answers: jitter only lengthens
    // it, so the kernel never meets a function still in reset.
    for (uint64_t seed = 1; seed <= 6; ++seed) {
        s.timing.seed = seed;
        RunResult r = execute(s);
        bool early = false;
        for (const auto& ev : r.stream.events) early = early || (ev.kind == EvKind::GuestError && ev.name == "pci.d3-recovery");
        CHECK_FALSE(early);
    }
    CHECK(spans(nominal, "suspend_noirq")["dma0"].first == spans(nominal, "suspend_noirq")["dma1"].first);
}

TEST_CASE("runs: what exploring the new protocols and USB wake turned up stays fixed", "[runs][explore]") {
    auto with = [](const std::string& name, const std::string& rule) {
        Scenario s = test::load_regression(name);
        add_cli_faults(s, {rule});
        s.expect.outcome = "";  // any ending: the test looks at what happened
        return execute(s);
    };
    // A mains power cut takes auxiliary power too: the armed controller goes
    // dark, and a key pressed meanwhile wakes nothing - no lost wake to report.
    RunResult cut = with("s3-usb-keyboard-wake", "kind=power-loss,phase=cpus-offline");
    REQUIRE_FALSE(cut.violations.count("wake.lost"));
    bool aux = false, off = false;
    for (const auto& ev : cut.stream.events) {
        aux = aux || (ev.track == "xhci0" && ev.name == "aux-power");
        off = off || (ev.track == "xhci0" && ev.name == "power-off");
    }
    REQUIRE(off);
    REQUIRE_FALSE(aux);
    // A transition that aborts before a device's suspend-side callback never
    // stopped it: what its user set on it meanwhile is not "not restored".
    RunResult early = with("s3-galibert-explicit", "kind=wake-event,phase=sync");
    REQUIRE(early.stream.summary.outcome.rfind("aborted", 0) == 0);
    REQUIRE_FALSE(early.violations.count("hwstate.not-restored"));
    // save_explicit is undone by restore_explicit when the suspend unwinds.
    RunResult unwound = with("s3-galibert-explicit", "kind=callback-fail,phase=save_explicit,device=dma0");
    REQUIRE(unwound.stream.summary.outcome == "aborted:save_explicit");
    REQUIRE_FALSE(unwound.violations.count("rollback.incomplete"));
}

TEST_CASE("runs: the OS takes SLP_TYP from the DSDT's _Sx packages, not from the chipset", "[runs][acpi]") {
    auto sleep_request = [](const RunResult& r) {
        for (const auto& ev : r.stream.events)
            if (ev.name == "sleep-request") return arg_value(ev, "slp_typ") + " S" + arg_value(ev, "state");
        return std::string("none");
    };
    auto ran = [](const RunResult& r, const std::string& slice) {
        for (const auto& ev : r.stream.events)
            if (ev.kind == EvKind::SliceBegin && ev.name == slice) return true;
        return false;
    };
    Scenario s = test::load_regression("s3-basic");
    s.trace = TraceLevel::Events;
    RunResult good = execute(s);
    REQUIRE(good.status == "passed");
    REQUIRE(sleep_request(good) == "5 S3");  // _S3 = 5, which this chipset decodes as S3
    // A BIOS whose _S3 package carries S5's value: the OS writes what the
    // DSDT says, the chipset powers off, and the machine stays off.
    Scenario wrong = s;
    wrong.expect = Expectation{};
    wrong.properties.push_back({"firmware.s3_slp_typ", int64_t(7), 0, 0});
    RunResult off = execute(wrong);
    REQUIRE(sleep_request(off) == "7 S5");
    REQUIRE(off.violations == std::set<std::string>{"acpi.sequence"});
    REQUIRE(off.stream.summary.outcome == "sim-time-limit");
    // No _S3 package at all: acpi_enter_sleep_state_prep stops before _PTS,
    // SLP_EN is refused (-EFAULT) and the suspend unwinds.
    Scenario none = s;
    none.properties.push_back({"firmware.s3_slp_typ", int64_t(8), 0, 0});
    none.expect.outcome = "aborted:platform-enter";
    RunResult refused = execute(none);
    INFO(refused.message);
    REQUIRE(refused.status == "passed");
    REQUIRE(sleep_request(refused) == "none");
    REQUIRE_FALSE(ran(refused, "_PTS(3)"));
    REQUIRE(ran(refused, "_TTS(0)"));
}

TEST_CASE("runs: a control run that died is a crash, not a comparison with nothing", "[runs][control]") {
    // The run with the transition, as it ran (its control compared later).
    auto transition_run = [](const std::string& name) {
        Scenario s = test::load_regression(name);
        REQUIRE(s.storage.control_run);
        Scenario alone = s;
        alone.storage.control_run = false;
        RunResult r = execute(alone);
        REQUIRE(r.stream.summary.outcome == "resumed");
        r.status.clear();
        r.message.clear();
        return std::make_pair(s, r);
    };
    ChildResult killed;
    killed.status = ChildResult::Status::Crashed;
    killed.signal = SIGKILL;
    for (const char* name : {"s4-transparency-control", "s4-image-bit-flip-no-crc"}) {
        INFO(name);
        auto [s, r] = transition_run(name);
        judge_with_control(s, r, killed);
        REQUIRE(r.status == "crashed");
        REQUIRE(r.message.find("control run") != std::string::npos);
        REQUIRE(r.message.find("signal") != std::string::npos);
        REQUIRE_FALSE(r.violations.count("transparency.diverged"));  // nothing was compared
    }
    // One that exited without its summary died as well; one past its limit timed out.
    auto [s, r] = transition_run("s4-transparency-control");
    ChildResult cut;
    cut.output = "garbage";
    RunResult a = r;
    judge_with_control(s, a, cut);
    REQUIRE(a.status == "crashed");
    ChildResult slow;
    slow.status = ChildResult::Status::TimedOut;
    RunResult b = r;
    judge_with_control(s, b, slow);
    REQUIRE(b.status == "timeout");
    REQUIRE(b.message.find("control run") != std::string::npos);
}

// At the summary level no sink reads a busy run's per-operation slices or
// the ledger's instants, and the hub does not build them (EventHub
// interests); at the events level the trace reads everything. Both ways,
// the run must be judged the same: the same violations (transparency.diverged
// against the control run too: it reads the tasks' results from the
// stream), the same summary, the summary stream the events-level stream
// less what the summary leaves out, the same contexts. The scenarios cover
// every invariant the regression suite sees fire.
TEST_CASE("runs: the summary level judges what the events level does, its events built or not", "[runs]") {
    const std::vector<std::string> names{
        "s3-basic", "s3-no-pts", "s3-play-dead-no-wbinvd", "s3-noirq-wait-irq", "s4-dma-during-snapshot",
        "s3-nobarrier-power-loss", "s4-kexec-no-freezer", "s3-rpm-tuned-no-save", "s4-torn-update-unfrozen",
        "s3-gpu-evict-timeout-free-in-flight", "s3-usb-storage-core-well-no-wait-ready", "s3-freezer-skip-buggy",
        "s4-image-bit-flip-no-crc", "s4-offline-fs-write", "s4-nvs-not-nosave", "order-parent-before-child",
        "s3-irq-routing-lost", "s3-irq-no-suspend-shared", "s3-ben2001-swap-deadlock", "s3-dma-busy-no-drain",
        "s3-rollback-noirq-never-undone", "s3-rpm-io-without-get", "s2idle-wake-irq-not-armed"};
    std::set<std::string> fired;
    for (const auto& name : names) {
        INFO(name);
        Scenario s = test::load_regression(name);
        s.note_contexts = true;
        s.trace = TraceLevel::Events;
        RunResult all = execute(s);
        s.trace = TraceLevel::Summary;
        RunResult summary = execute(s);
        CHECK(summary.status == all.status);
        CHECK(summary.message == all.message);
        CHECK(summary.violations == all.violations);
        fired.insert(all.violations.begin(), all.violations.end());
        CHECK(summary.stream.summary.outcome == all.stream.summary.outcome);
        CHECK(summary.stream.summary.workload == all.stream.summary.workload);
        CHECK(summary.stream.summary.sim_end == all.stream.summary.sim_end);
        CHECK(summary.stream.summary.memory_digest == all.stream.summary.memory_digest);
        CHECK(summary.stream.summary.ledger_issued == all.stream.summary.ledger_issued);
        std::vector<std::string> want, got;
        for (const Event& ev : all.stream.events)
            if (in_summary(ev.kind, ev.category, ev.name)) want.push_back(event_line(ev));
        for (const Event& ev : summary.stream.events) got.push_back(event_line(ev));
        CHECK(got == want);
        REQUIRE(summary.stream.contexts.size() == all.stream.contexts.size());
        for (size_t i = 0; i < all.stream.contexts.size(); ++i) {
            const ContextPair &a = all.stream.contexts[i], &b = summary.stream.contexts[i];
            CHECK(std::tie(a.phase, a.a_kind, a.a, a.a_core, a.b_kind, a.b, a.b_core, a.seen) ==
                  std::tie(b.phase, b.a_kind, b.a, b.a_core, b.b_kind, b.b, b.b_core, b.seen));
        }
    }
    CHECK(fired.size() >= 27);
}
