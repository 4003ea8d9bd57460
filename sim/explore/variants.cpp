// Variants as runs: which this shard runs, the scenario each is, the workload shrinking may drop, shared prefixes.
#include "sim/explore/explore.h"

#include "sim/core/rng.h"

#include <algorithm>
#include <map>
#include <sstream>

namespace quiesce {

PrefixPlan prefix_plan(const RunStream& baseline, const std::vector<FaultPoint>& variant_points,
                       std::vector<size_t>& alone) {
    PrefixPlan plan;
    plan.steps.resize(variant_points.size());
    std::vector<size_t> candidates;
    for (size_t k = 0; k < variant_points.size(); ++k) {
        const FaultPoint& p = variant_points[k];
        const Decisions d = decisions(p);
        std::vector<Choice>& steps = plan.steps[k];
        for (const std::string* r : {&d.schedule, &d.timing})  // another run from its first event
            if (!r->empty()) steps.push_back(Choice{Choice::Where::Start, {}, *r});
        if (!d.order.empty()) steps.push_back(Choice{Choice::Where::FirstCallback, {}, d.order});
        if (!d.fault.empty()) {
            // The rule is named by its place among the variant's rules
            // ("--fault 2" after an order): the same fault after other
            // decisions is another rule. One that waits for no phase is
            // taken at time 0, from the zygote.
            const std::string key = d.fault + " #" + std::to_string(decision_rules(p).size());
            if (!p.nth && p.phase.empty()) steps.push_back(Choice{Choice::Where::Begin, {}, key});
            else
                steps.push_back(
                    Choice{Choice::Where::At, Mark{p.nth ? "" : p.phase, p.nth ? p.device : "", p.nth}, key});
        }
        const bool begins = std::any_of(steps.begin(), steps.end(),
                                        [](const Choice& c) { return c.where == Choice::Where::Begin; });
        if (steps.empty()) {
            alone.push_back(k);
        } else if (begins) {  // from the zygote, with what follows it
            alone.push_back(k);
            plan.zygote.push_back(k);
        } else {
            candidates.push_back(k);
        }
    }
    // What would fork at time 0 one by one - a schedule, a timing, their
    // pair with no variant following it - forks from the zygote too.
    for (Fork& f : plan_forks(baseline, 0, true, {}, candidates, plan.steps)) {
        if (!f.stem && f.at == 0) {
            alone.push_back(f.members[0]);
            plan.zygote.push_back(f.members[0]);
            continue;
        }
        if (f.alone) plan.members.push_back(*f.alone);
        plan.members.insert(plan.members.end(), f.members.begin(), f.members.end());
        plan.root.push_back(std::move(f));
    }
    std::sort(plan.members.begin(), plan.members.end());
    std::sort(plan.zygote.begin(), plan.zygote.end());
    std::sort(alone.begin(), alone.end());
    return plan;
}

RunStream branch_view(const RunStream& run) {
    RunStream out;
    for (const auto& ev : run.events)  // what plan_forks reads to place its forks (phases, the first callback)
        if (ev.kind == EvKind::SliceBegin && (ev.category == "phase" || ev.category == "callback"))
            out.events.push_back(ev);
    out.persistence = run.persistence;
    return out;
}

namespace {
bool has_device(const Scenario& s, const char* type) {
    return std::any_of(s.platform.devices.begin(), s.platform.devices.end(),
                       [type](const DeviceSpec& d) { return d.type == type; });
}
}  // namespace

const std::vector<WorkloadTask>& workload_tasks() {
    static const std::vector<WorkloadTask> tasks = {
        {"the writer", "writer_blocks", "0", [](const Scenario& s) { return s.storage.writer_blocks > 0; },
         [](Scenario& s) { s.storage.writer_blocks = 0; }},
        {"the toucher", "toucher_pages", "0", [](const Scenario& s) { return s.storage.toucher_pages > 0; },
         [](Scenario& s) { s.storage.toucher_pages = 0; }},
        {"the updater", "updater", "false", [](const Scenario& s) { return s.storage.updater; },
         [](Scenario& s) { s.storage.updater = false; }},
        {"the DMA streamer", "dma_streamer", "false", [](const Scenario& s) { return s.storage.dma_streamer; },
         [](Scenario& s) { s.storage.dma_streamer = false; }},
        {"the stuck task", "stuck_task", "false", [](const Scenario& s) { return s.storage.stuck_task; },
         [](Scenario& s) { s.storage.stuck_task = false; }},
        {"the poller", "skip_sleeper", "\"none\"", [](const Scenario& s) { return s.storage.skip_sleeper != "none"; },
         [](Scenario& s) { s.storage.skip_sleeper = "none"; }},
        {"hdparm", "hdparm_burst", "0", [](const Scenario& s) { return s.storage.hdparm_burst > 0; },
         [](Scenario& s) { s.storage.hdparm_burst = 0; }},
        {"the DMA copies", "dma_copies", "0",
         [](const Scenario& s) { return s.dma_copies > 0 && has_device(s, "dma-engine"); },
         [](Scenario& s) { s.dma_copies = 0; }},
        {"the USB commands", "usb_commands", "0",
         [](const Scenario& s) { return s.usb_commands > 0 && has_device(s, "xhci"); },
         [](Scenario& s) { s.usb_commands = 0; }},
    };
    return tasks;
}

std::vector<size_t> pick_variants(size_t points, const ExploreOptions& o) {
    std::vector<size_t> order(points);
    for (size_t i = 0; i < points; ++i) order[i] = i;
    if (o.strategy == "random") {
        Rng rng(o.seed);
        for (size_t i = points; i > 1; --i) std::swap(order[i - 1], order[rng.uniform(0, i - 1)]);
    }
    if (o.budget && order.size() > o.budget) order.resize(o.budget);
    std::vector<size_t> mine;
    for (size_t pos = 0; pos < order.size(); ++pos)
        if (pos % std::max(1u, o.shards) == o.shard) mine.push_back(order[pos]);
    return mine;
}

Scenario variant_of(const Scenario& s, const FaultPoint& p) {
    Scenario v = s;
    add_cli_faults(v, decision_rules(p));
    v.expect = Expectation{};
    v.expect.outcome = "";  // a fault may abort the transition: that alone is no finding
    return v;
}

}  // namespace quiesce
