// Checks of the checker on hand-made events (issue 21 item 5: each invariant
// fires on a minimal case and stays quiet on its near miss), run in a child
// (the checker lives in a SystemC context).
#include "child.h"

#include "sim/check/checker.h"
#include "sim/core/context.h"
#include "sim/pm/device_graph.h"

using namespace quiesce;
using quiesce::test::Facts;

namespace {

// A transition as the PM engine traces it: `freezer` phases (their
// actions), then the announcement of the first callback phase. `unfrozen`
// is what the kernel's task list says; f["asked"] records which kinds the
// checker asked about, f["violations"] what it reported.
Facts freezer_then_prepare(const std::vector<std::string>& freezer, const std::vector<std::string>& unfrozen) {
    return quiesce::test::in_child([&](Facts& f) {
        RunContext ctx(1);
        DeviceGraph graph;
        graph.add_device("dma0");
        Checker checker(ctx.hub, graph);
        checker.set_freezer_probe("kernel", [&](bool user, bool kthreads) {
            f["asked"] += std::string(user ? "user" : "-") + "/" + (kthreads ? "kthreads" : "-") + " ";
            return unfrozen;
        });
        checker.transition_started();
        for (const auto& action : freezer) {
            ctx.hub.slice_begin("kernel", action, "phase", {{"action", action}, {"direction", "suspend"}});
            ctx.hub.slice_end("kernel", action, "phase");
        }
        for (const char* cb : {"prepare", "suspend"})  // asked once, at the first callback phase
            ctx.hub.instant("kernel", "participants", "phase", {{"callback", cb}, {"devices", "dma0"}});
        std::string v;
        for (const auto& x : checker.violations()) v += x.id + "@" + x.component + "/" + x.phase + ":" + x.evidence + " ";
        f["violations"] = v;
    });
}

}  // namespace

TEST_CASE("checker: freeze.escaped - device suspend begins with a freezable task the freezer left running",
          "[checker][freezer]") {
    // Fires: the freezer froze users and kernel threads, a kernel thread is not frozen.
    Facts f = freezer_then_prepare({"freeze-tasks"}, {"jbd2"});
    CHECK(f["asked"] == "user/kthreads ");
    CHECK(f["violations"] == "freeze.escaped@kernel/prepare:{\"kind\":\"not-frozen\",\"tasks\":\"jbd2\"} ");
    // Near miss: every task frozen.
    f = freezer_then_prepare({"freeze-tasks"}, {});
    CHECK(f["violations"].empty());
    // Hibernation's two stages: both kinds asked; a protocol that only
    // freezes user tasks is asked about those alone.
    CHECK(freezer_then_prepare({"freeze-user-tasks", "freeze-kernel-threads"}, {})["asked"] == "user/kthreads ");
    CHECK(freezer_then_prepare({"freeze-user-tasks"}, {})["asked"] == "user/- ");
    // No freezer at all (ben2001, naive-atomic): nothing is asked, nothing reported.
    f = freezer_then_prepare({}, {"writer"});
    CHECK(f["asked"].empty());
    CHECK(f["violations"].empty());
}
