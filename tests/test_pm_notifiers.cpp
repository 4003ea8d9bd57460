// PM notifiers (register_pm_notifier): driver steps at PM_SUSPEND_PREPARE /
// PM_POST_SUSPEND (and the hibernation pair), called as
// pm_notifier_call_chain_robust calls them (kernel/power/main.c,
// kernel/notifier.c).
#include "tmpfile.h"

#include "sim/scenario/executor.h"

using namespace quiesce;
using quiesce::test::TempFile;

namespace {
const char* kNotifiers = R"(
[[drivers.dma0.patch]]
callback = "pm_suspend_prepare"
replace = [{ op = "compute", cycles = 1000 }]

[[drivers.dma0.patch]]
callback = "pm_post_suspend"
replace = [{ op = "compute", cycles = 1000 }]

[[drivers.gpu0.patch]]
callback = "pm_suspend_prepare"
replace = [{ op = "return", err = "EBUSY" }]

[[drivers.gpu0.patch]]
callback = "pm_post_suspend"
replace = [{ op = "compute", cycles = 1000 }]
)";

RunResult run(const std::string& protocol, const std::string& extra) {
    TempFile f("[scenario]\nseed = 7\n[platform]\nname = \"pc-gpu\"\n[protocol]\nname = \"" + protocol + "\"\n" + extra +
               "\n[expect]\nresult = \"pass\"\n");
    Scenario s = load_scenario(f.path());
    s.expect.outcome = "";
    return execute(s);
}

// "device:event(rc)" for every notifier call, and "freezer" where tasks froze.
std::vector<std::string> chain(const RunResult& r) {
    std::vector<std::string> out;
    for (const auto& ev : r.stream.events) {
        if (ev.kind == EvKind::SliceEnd && ev.category == "notifier")
            out.push_back(arg_value(ev, "device") + ":" + ev.name + "(" + arg_value(ev, "rc") + ")");
        if (ev.kind == EvKind::SliceBegin && ev.category == "freezer" && ev.name == "freeze user tasks")
            out.push_back("freezer");
    }
    return out;
}
}  // namespace

TEST_CASE("pm notifiers: a failing PREPARE stops the chain, earlier notifiers get POST, no task freezes",
          "[pm-notifier]") {
    RunResult r = run("linux-s3", kNotifiers);
    CHECK(r.stream.summary.outcome == "aborted:freeze-tasks");
    CHECK(chain(r) == std::vector<std::string>{"dma0:pm_suspend_prepare(0)", "gpu0:pm_suspend_prepare(-16)",
                                               "dma0:pm_post_suspend(0)"});
    CHECK(r.violations.empty());
}

TEST_CASE("pm notifiers: PREPARE before the freezer, POST after the thaw, each once", "[pm-notifier]") {
    std::string ok = kNotifiers;
    const std::string fail = "{ op = \"return\", err = \"EBUSY\" }";
    ok.replace(ok.find(fail), fail.size(), "{ op = \"compute\", cycles = 10 }");
    RunResult r = run("linux-s3", ok);
    CHECK(r.stream.summary.outcome == "resumed");
    CHECK(chain(r) == std::vector<std::string>{"dma0:pm_suspend_prepare(0)", "gpu0:pm_suspend_prepare(0)", "freezer",
                                               "dma0:pm_post_suspend(0)", "gpu0:pm_post_suspend(0)"});
    // Hibernation sends the hibernation pair.
    std::string hib = ok;
    for (auto [from, to] : {std::pair<std::string, std::string>{"pm_suspend_prepare", "pm_hibernation_prepare"},
                            {"pm_post_suspend", "pm_post_hibernation"}})
        for (size_t at; (at = hib.find(from)) != std::string::npos;) hib.replace(at, from.size(), to);
    // The alarm after the thaw, which resets the SATA link (about 311 ms).
    RunResult h = run("linux-s4", hib + "\n[wake]\nafter = \"1s\"\n");
    CHECK(h.stream.summary.outcome == "resumed");
    CHECK(chain(h) == std::vector<std::string>{"dma0:pm_hibernation_prepare(0)", "gpu0:pm_hibernation_prepare(0)",
                                               "freezer", "dma0:pm_post_hibernation(0)",
                                               "gpu0:pm_post_hibernation(0)"});
    // A notifier is called with every event (a driver's switch ignores the
    // others): one defining only the suspend pair is still called, and does nothing.
    CHECK(chain(run("linux-s4", ok)) == chain(h));
}
