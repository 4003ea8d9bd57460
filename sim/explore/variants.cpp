// Variants as runs: which this shard runs, the scenario each is, the workload shrinking may drop, shared prefixes.
#include "sim/explore/explore.h"

#include "sim/core/rng.h"

#include <algorithm>
#include <map>
#include <sstream>

namespace quiesce {

std::vector<Branch> prefix_branches(const RunStream& baseline, const std::vector<FaultPoint>& variant_points,
                                    std::vector<size_t>& alone) {
    std::map<std::string, Picos> phase_start;
    Picos first_callback = 0;  // the start of the first phase that runs device callbacks
    for (const auto& ev : baseline.events) {
        if (ev.kind == EvKind::SliceBegin && ev.category == "phase" && !phase_start.count(ev.name))
            phase_start[ev.name] = ev.ts;
        if (ev.kind == EvKind::SliceBegin && ev.category == "callback" && !first_callback)
            first_callback = phase_start[arg_value(ev, "phase")];
    }
    std::map<std::string, std::vector<Picos>> points_of;  // drive -> its persistence points' times
    for (const auto& [drive, ts] : baseline.persistence) points_of[drive].push_back(ts);
    // An order's stem (--cross): its order, and the variants that follow it.
    std::map<std::string, Stem> stems;
    auto order_of = [](const std::string& rule) {  // "order=a,b" -> {a, b}
        std::vector<std::string> order;
        std::istringstream in(rule.substr(6));
        for (std::string d; std::getline(in, d, ',');) order.push_back(d);
        return order;
    };
    std::map<Picos, std::vector<size_t>> groups;
    std::map<std::string, Stem> whole;  // stems from time 0: by their order, schedule and timing
    std::vector<size_t> orders;  // order variants: forked by their stem if they have one
    for (size_t k = 0; k < variant_points.size(); ++k) {
        const FaultPoint& p = variant_points[k];
        Picos at = 0;  // when the fault's site comes in the baseline
        if (const Decisions d = decisions(p); !d.schedule.empty() || !d.timing.empty()) {
            // Another run from its first event: the variants that share its
            // schedule, timing and order share a stem forked at time 0.
            Stem& st = whole[d.order + "\n" + d.schedule + "\n" + d.timing];
            if (!d.order.empty()) st.order = order_of(d.order);
            st.rules.clear();
            for (const std::string* r : {&d.schedule, &d.timing})
                if (!r->empty()) st.rules.push_back(*r);
            if (d.fault.empty()) st.alone = k;
            else if (p.nth || !p.phase.empty())
                st.followers.push_back({k, Mark{p.nth ? "" : p.phase, p.nth ? p.device : "", p.nth}});
            else
                alone.push_back(k);  // a fault that waits for no phase: its own run
            continue;
        }
        if (p.kind == "order") {
            orders.push_back(k);
            continue;
        } else if (p.nth) {
            const auto& times = points_of[p.device];
            if (p.nth <= times.size()) at = times[p.nth - 1];
        } else if (auto it = phase_start.find(p.phase); it != phase_start.end() && !whole_run_kind(p.kind)) {
            at = it->second;
        }
        if (!p.order.empty() && first_callback > 1 && (at >= first_callback || (!at && (p.nth || !p.phase.empty())))) {
            // Under another order it comes when that order's run says.
            Stem& st = stems[p.order];
            st.order = order_of(p.order);
            st.followers.push_back({k, Mark{p.nth ? "" : p.phase, p.nth ? p.device : "", p.nth}});
            continue;
        }
        if (at > 1) groups[at - 1].push_back(k);  // an order changes nothing before the first callback phase
        else alone.push_back(k);
    }
    for (size_t k : orders) {
        if (first_callback <= 1) alone.push_back(k);
        else if (auto it = stems.find(variant_points[k].rule); it != stems.end()) it->second.alone = k;
        else groups[first_callback - 1].push_back(k);
    }
    std::vector<Branch> out;
    for (auto& [at, members] : groups) out.push_back(Branch{at, std::move(members), {}});
    if (!stems.empty()) {
        auto it = std::find_if(out.begin(), out.end(), [&](const Branch& b) { return b.at == first_callback - 1; });
        if (it == out.end())
            it = out.insert(std::upper_bound(out.begin(), out.end(), first_callback - 1,
                                             [](Picos t, const Branch& b) { return t < b.at; }),
                            Branch{first_callback - 1, {}, {}});
        for (auto& [rule, st] : stems) it->stems.push_back(std::move(st));
    }
    // A stem from time 0 pays when faults follow it; one alone is its own run.
    Branch start{0, {}, {}};
    for (auto& [key, st] : whole)
        if (st.followers.empty()) {
            if (st.alone) alone.push_back(*st.alone);
        } else {
            start.stems.push_back(std::move(st));
        }
    if (!start.stems.empty()) out.insert(out.begin(), std::move(start));
    std::sort(alone.begin(), alone.end());
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
