// Runtime PM (docs/runtime-pm.md): the core's sequences (autosuspend after
// the delay, the parent before the child, usage counts), and how system
// sleep treats a runtime-suspended device (direct-complete, SMART_SUSPEND,
// MAY_SKIP_RESUME, hibernation), asserted on the trace.
#include "tmpfile.h"

#include "sim/core/errors.h"
#include "sim/scenario/executor.h"

using namespace quiesce;
using quiesce::test::TempFile;

namespace {
RunResult run(const std::string& protocol, const std::string& extra, const std::string& platform = "pc-basic") {
    TempFile f("[scenario]\nseed = 1\n[platform]\nname = \"" + platform + "\"\n[protocol]\nname = \"" + protocol +
               "\"\n[workload]\nidle = \"20ms\"\n" + extra + "\n[expect]\nresult = \"pass\"\n");
    Scenario s = load_scenario(f.path());
    s.expect.outcome = "";
    return execute(s);
}

const char* kDma0Auto = "[runtime.dma0]\ncontrol = \"auto\"\nautosuspend_delay = \"2ms\"\n";

// What happened to `dev` in order: "runtime_suspend", "runtime_resume",
// system callbacks by name, "skip:CALLBACK:reason", "status:S".
std::vector<std::string> story(const RunResult& r, const std::string& dev) {
    std::vector<std::string> out;
    for (const auto& ev : r.stream.events) {
        if (arg_value(ev, "device") != dev) continue;
        if (ev.kind == EvKind::SliceBegin && (ev.category == "rpm" || ev.category == "callback"))
            out.push_back(ev.name);
        else if (ev.kind == EvKind::Instant && ev.name == "callback-skipped")
            out.push_back("skip:" + arg_value(ev, "callback") + ":" + arg_value(ev, "reason"));
        else if (ev.kind == EvKind::Instant && ev.name == "rpm-status")
            out.push_back("status:" + arg_value(ev, "status"));
    }
    return out;
}

const Event* first(const RunResult& r, const std::function<bool(const Event&)>& pred) {
    for (const auto& ev : r.stream.events)
        if (pred(ev)) return &ev;
    return nullptr;
}
}  // namespace

TEST_CASE("runtime pm: nothing runtime-suspends unless the scenario allows it", "[runtime-pm]") {
    RunResult r = run("linux-s3", "");
    CHECK(r.status == "passed");
    CHECK_FALSE(first(r, [](const Event& ev) { return ev.category == "rpm"; }));
    CHECK_FALSE(first(r, [](const Event& ev) { return ev.name == "callback-skipped"; }));
}

TEST_CASE("runtime pm: autosuspend the delay after the last busy mark, direct-complete through S3", "[runtime-pm]") {
    RunResult r = run("linux-s3", kDma0Auto);
    CHECK(r.status == "passed");
    // The last copy before the transition marks dma0 busy; 2 ms later its
    // timer suspends it.
    const Event* suspend = first(r, [](const Event& ev) {
        return ev.kind == EvKind::SliceBegin && ev.category == "rpm" && ev.name == "runtime_suspend";
    });
    REQUIRE(suspend);
    Picos busy = 0;
    for (const auto& ev : r.stream.events)
        if (ev.ts < suspend->ts && ev.kind == EvKind::SliceEnd && ev.category == "step" && ev.name == "busy" &&
            ev.track == "dma0.io")
            busy = ev.ts;
    REQUIRE(busy);
    CHECK(suspend->ts - busy >= 2'000'000'000ULL);
    CHECK(suspend->ts - busy < 2'001'000'000ULL);
    // prepare and complete only; then the power-on the sleep did is seen and
    // a runtime resume queued; the copies after resume find it active.
    CHECK(story(r, "dma0") ==
          std::vector<std::string>{"runtime_suspend", "status:suspended", "prepare", "skip:suspend:direct-complete",
                                   "skip:suspend_late:direct-complete", "skip:suspend_noirq:direct-complete",
                                   "skip:resume_noirq:direct-complete", "skip:resume_early:direct-complete",
                                   "skip:resume:direct-complete", "complete", "runtime_resume", "status:active",
                                   // idle again after resume, and woken by the copies
                                   "runtime_suspend", "status:suspended", "runtime_resume", "status:active"});
    // dma1 never runtime-suspends: its callbacks all run.
    CHECK(story(r, "dma1").size() == 8);
}

TEST_CASE("runtime pm: SMART_SUSPEND skips late and noirq, MAY_SKIP_RESUME leaves the device suspended",
          "[runtime-pm]") {
    const std::string smart = std::string(kDma0Auto) +
                              "[drivers.dma0]\nflags = [\"SMART_SUSPEND\", \"NO_DIRECT_COMPLETE\"]\n"
                              "[[drivers.dma0.patch]]\ncallback = \"suspend\"\n"
                              "prepend = [{ op = \"return\", label = \"rpm-suspended\", when = \"$runtime_suspended\" }]\n";
    RunResult r = run("linux-s3", smart);
    CHECK(r.status == "passed");
    std::vector<std::string> s = story(r, "dma0");
    // suspend runs (and returns at once), late and noirq are skipped, the
    // device is set active before resume_noirq and resumed by its callbacks.
    const std::vector<std::string> expect{"runtime_suspend", "status:suspended", "prepare", "suspend",
                                          "skip:suspend_late:smart-suspend", "skip:suspend_noirq:smart-suspend",
                                          "status:active", "resume_noirq", "resume_early", "resume", "complete"};
    REQUIRE(s.size() >= expect.size());
    CHECK(std::vector<std::string>(s.begin(), s.begin() + long(expect.size())) == expect);

    std::string skip = smart;
    skip.replace(skip.find("\"NO_DIRECT_COMPLETE\""), 20, "\"NO_DIRECT_COMPLETE\", \"MAY_SKIP_RESUME\"");
    RunResult k = run("linux-s3", skip);
    CHECK(k.status == "passed");
    std::vector<std::string> t = story(k, "dma0");
    const std::vector<std::string> left{"runtime_suspend", "status:suspended", "prepare", "suspend",
                                        "skip:suspend_late:smart-suspend", "skip:suspend_noirq:smart-suspend",
                                        "skip:resume_noirq:may-skip-resume", "skip:resume_early:may-skip-resume",
                                        "resume", "complete"};
    REQUIRE(t.size() >= left.size());
    CHECK(std::vector<std::string>(t.begin(), t.begin() + long(left.size())) == left);
}

TEST_CASE("runtime pm: hibernation never direct-completes: the PCI core resumes the device for freeze",
          "[runtime-pm]") {
    RunResult r = run("linux-s4", kDma0Auto, "pc-storage");
    CHECK(r.status == "passed");
    std::vector<std::string> s = story(r, "dma0");
    CHECK(std::find_if(s.begin(), s.end(), [](const std::string& x) { return x.rfind("skip:", 0) == 0; }) ==
          s.end());
    auto freeze = std::find(s.begin(), s.end(), "freeze");
    REQUIRE(freeze != s.end());
    CHECK(*(freeze + 1) == "runtime_resume");  // inside pci_pm_freeze, before the driver's freeze
}

TEST_CASE("runtime pm: a parent resumes before its child, unless it ignores its children", "[runtime-pm]") {
    RunResult r = run("linux-s3", std::string(kDma0Auto) + "[runtime.rp0]\ncontrol = \"auto\"\n");
    CHECK(r.status == "passed");
    // rp0 suspends only after dma0 did; for the copies after resume, rp0's
    // runtime resume ends before dma0's begins.
    Picos dma0_suspended = 0, rp0_suspend = 0, rp0_resumed = 0, dma0_resume = 0;
    for (const auto& ev : r.stream.events) {
        const std::string dev = arg_value(ev, "device");
        if (ev.kind == EvKind::Instant && ev.name == "rpm-status" && dev == "dma0" &&
            arg_value(ev, "status") == "suspended" && !dma0_suspended)
            dma0_suspended = ev.ts;
        if (ev.kind == EvKind::SliceBegin && ev.category == "rpm" && ev.name == "runtime_suspend" && dev == "rp0" &&
            !rp0_suspend)
            rp0_suspend = ev.ts;
        if (ev.kind == EvKind::SliceEnd && ev.category == "rpm" && ev.name == "runtime_resume" && dev == "rp0")
            rp0_resumed = ev.ts;
        if (ev.kind == EvKind::SliceBegin && ev.category == "rpm" && ev.name == "runtime_resume" && dev == "dma0")
            dma0_resume = ev.ts;
    }
    REQUIRE(dma0_suspended);
    CHECK(rp0_suspend >= dma0_suspended);
    REQUIRE(dma0_resume);
    CHECK(rp0_resumed <= dma0_resume);

    RunResult ig = run("linux-s3", std::string(kDma0Auto) + "[runtime.rp0]\ncontrol = \"auto\"\nignore_children = true\n");
    CHECK(ig.violations.count("io.suspended-device"));
    // rp0 begins to runtime-suspend at boot, with dma0 behind it active.
    const Event* rp0_down = first(ig, [](const Event& ev) {
        return ev.kind == EvKind::SliceBegin && ev.category == "rpm" && arg_value(ev, "device") == "rp0";
    });
    REQUIRE(rp0_down);
    CHECK(rp0_down->name == "runtime_suspend");
    const Event* dma0_down = first(ig, [](const Event& ev) {
        return ev.kind == EvKind::Instant && ev.name == "rpm-status" && arg_value(ev, "device") == "dma0" &&
               arg_value(ev, "status") == "suspended";
    });
    CHECK((!dma0_down || dma0_down->ts > rp0_down->ts));
}

TEST_CASE("runtime pm: usage counts - a put too many underflows, a put too few is reported at the end",
          "[runtime-pm]") {
    auto kinds = [](const RunResult& r) {
        std::set<std::string> out;
        for (const auto& ev : r.stream.events)
            if (ev.kind == EvKind::GuestError && ev.name == "rpm.usage-unbalanced") out.insert(arg_value(ev, "kind"));
        return out;
    };
    RunResult leak = run("linux-s3", std::string(kDma0Auto) + "[[drivers.dma0.patch]]\ncallback = \"io_end\"\ndelete = \"put\"\n");
    CHECK(leak.violations == std::set<std::string>{"rpm.usage-unbalanced"});
    CHECK(kinds(leak) == std::set<std::string>{"end-of-run"});
    CHECK_FALSE(first(leak, [](const Event& ev) { return ev.category == "rpm" && ev.name == "runtime_suspend"; }));

    RunResult under =
        run("linux-s3", std::string(kDma0Auto) + "[[drivers.dma0.patch]]\ncallback = \"io_begin\"\ndelete = \"get\"\n");
    CHECK(kinds(under).count("underflow"));
    CHECK(under.violations.count("io.suspended-device"));
}

TEST_CASE("runtime pm: a runtime resume must give back the state the device had when it runtime-suspended",
          "[runtime-pm]") {
    RunResult r = run("linux-s3", std::string(kDma0Auto) +
                                      "[[drivers.dma0.patch]]\ncallback = \"runtime_resume\"\ndelete = \"restore-regs\"\n");
    CHECK(r.violations == std::set<std::string>{"hwstate.not-restored"});
    const Event* v = first(r, [](const Event& ev) { return ev.kind == EvKind::Violation; });
    REQUIRE(v);
    CHECK(arg_value(*v, "message").find("not restored after runtime resume") != std::string::npos);
}

TEST_CASE("runtime pm: bad [runtime] tables and driver flags are input errors", "[runtime-pm]") {
    auto load = [](const std::string& extra) {
        TempFile f("[platform]\nname = \"pc-basic\"\n[protocol]\nname = \"linux-s3\"\n" + extra +
                   "[expect]\nresult = \"pass\"\n");
        try {
            load_scenario(f.path());
        } catch (const InputError& e) {
            std::string m = e.what();
            return m.substr(m.find(':') + 1);
        }
        return std::string("loaded");
    };
    CHECK(load("[runtime.dma0]\ncontrol = \"auto\"\nautosuspend_delay = \"5ms\"\nignore_children = false\n") ==
          "loaded");
    CHECK(load("[runtime.dma0]\ncontrol = \"sometimes\"\n") ==
          "6:11: runtime.dma0.control: must be \"auto\" or \"on\" (power/control)");
    CHECK(load("[runtime.dma9]\ncontrol = \"auto\"\n").find("runtime.dma9: no device named 'dma9'") !=
          std::string::npos);
    CHECK(load("[runtime.dma0]\nautosuspend = true\n").find("runtime.dma0.autosuspend") != std::string::npos);
    CHECK(load("[drivers.dma0]\nflags = [\"SMART\"]\n").find(
              "drivers.dma0.flags: unknown flag 'SMART' (NO_DIRECT_COMPLETE, SMART_SUSPEND, MAY_SKIP_RESUME)") !=
          std::string::npos);
    CHECK(load("[[drivers.dma0.patch]]\ncallback = \"io_begin\"\nappend = [{ op = \"rpm-get-sometimes\" }]\n")
              .find("unknown step 'rpm-get-sometimes'") != std::string::npos);
}

TEST_CASE("runtime pm: a described device's request path runs its driver file's io hooks", "[runtime-pm][devices]") {
    TempFile f("[scenario]\nseed = 1\n[platform]\nname = \"pc-gpu\"\n[protocol]\nname = \"linux-s3\"\n"
               "[[drivers.gpu0.patch]]\ncallback = \"io_begin\"\nappend = [{ op = \"rpm-resume-and-get\", label = \"get\" }]\n"
               "[[drivers.gpu0.patch]]\ncallback = \"io_end\"\nappend = [{ op = \"rpm-put\", label = \"put\" }]\n"
               "[expect]\nresult = \"pass\"\n");
    Scenario s = load_scenario(f.path());
    RunResult r = execute(s);
    CHECK(r.status == "passed");
    // One get and one put per engine command of the workload (before and
    // after), on gpu0's .io track; the VRAM eviction inside its PM
    // callbacks is the driver's own and takes none.
    unsigned gets = 0, puts = 0;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::SliceBegin && ev.category == "step" && ev.track == "gpu0.io") {
            gets += ev.name == "get";
            puts += ev.name == "put";
        }
    CHECK(gets == 2);
    CHECK(puts == 2);
}
