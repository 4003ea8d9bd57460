#include "sim/explore/explore.h"

#include "sim/core/rng.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

namespace quiesce {

const std::vector<std::string>& default_explore_kinds() {
    // callback-hang is left out: every such run lasts the whole simulated
    // time budget. Ask for it with --kinds.
    static const std::vector<std::string> k = {"callback-fail", "power-loss", "wake-event", "alloc-failure",
                                               "disk-write-error", "cpu-offline-failure", "spurious-irq"};
    return k;
}

namespace {
// The kind's own keys a variant needs to do anything.
std::string kind_params(const std::string& kind) {
    if (kind == "dma-delay" || kind == "slow-spin-up") return ",duration=20ms";
    return "";
}
}  // namespace

std::vector<FaultPoint> fault_points(const RunStream& baseline, const std::vector<std::string>& kinds,
                                     const std::vector<std::string>& drives, size_t persistence) {
    // What the baseline went through, in time order.
    std::vector<std::string> phases, offline_phases;
    std::vector<std::pair<std::string, std::string>> callbacks;  // (phase, device)
    for (const auto& ev : baseline.events) {
        if (ev.kind != EvKind::SliceBegin) continue;
        if (ev.category == "phase" && std::find(phases.begin(), phases.end(), ev.name) == phases.end()) {
            phases.push_back(ev.name);
            if (arg_value(ev, "action") == "cpus-offline") offline_phases.push_back(ev.name);
        }
        if (ev.category == "callback") {
            std::pair<std::string, std::string> cb{arg_value(ev, "phase"), arg_value(ev, "device")};
            if (std::find(callbacks.begin(), callbacks.end(), cb) == callbacks.end()) callbacks.push_back(cb);
        }
    }
    std::vector<FaultPoint> out;
    for (const auto& kind : kinds) {
        const FaultKindInfo* k = find_fault_kind(kind);
        if (!k) continue;
        auto add = [&](const std::string& phase, const std::string& device) {
            FaultPoint p{"kind=" + kind + ",phase=" + phase + (device.empty() ? "" : ",device=" + device) +
                             kind_params(kind),
                         kind, phase, device};
            out.push_back(std::move(p));
        };
        if (kind == "callback-fail" || kind == "callback-hang") {
            for (const auto& [phase, device] : callbacks) add(phase, device);
        } else if (kind == "cpu-offline-failure") {
            for (const auto& phase : offline_phases) add(phase, "");
        } else if (kind == "image-bit-flip") {
            out.push_back({"kind=image-bit-flip", kind, "", ""});
        } else {
            for (const auto& phase : phases) add(phase, "");
        }
        if (kind == "power-loss")
            for (const auto& drive : drives) {
                // A point the baseline never reached never comes: the run would be the baseline's.
                size_t reached = size_t(std::count_if(baseline.persistence.begin(), baseline.persistence.end(),
                                                      [&drive](const auto& p) { return p.first == drive; }));
                for (size_t n = 1; n <= std::min(persistence, reached); ++n)
                    out.push_back({"kind=power-loss,device=" + drive + ",nth=" + std::to_string(n), kind, "", drive,
                                   true, n});
            }
    }
    return out;
}

namespace {
std::string join(const std::vector<std::string>& v, const char* sep) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : sep) + x;
    return out;
}

FaultPoint order_point(const DeviceGraph& g, const std::vector<std::string>& def,
                       const std::vector<std::string>& order) {
    auto pos = [&](const std::string& x) { return std::find(order.begin(), order.end(), x) - order.begin(); };
    bool allows = true;
    for (const auto& e : g.edges()) allows = allows && pos(e.to) < pos(e.from);  // subordinates first
    return {"order=" + join(order, ","), "order", "", order_change(def, order), allows};
}
}  // namespace

std::string order_change(const std::vector<std::string>& def, const std::vector<std::string>& order) {
    auto pos = [](const std::vector<std::string>& v, const std::string& x) {
        return std::find(v.begin(), v.end(), x) - v.begin();
    };
    for (size_t i = 0; i < order.size(); ++i)
        for (size_t j = i + 1; j < order.size(); ++j)
            if (pos(def, order[i]) > pos(def, order[j])) return order[i] + " before " + order[j];
    return "default";
}

std::vector<FaultPoint> order_points(const DeviceGraph& g, bool extensions, bool break_order, size_t limit,
                                     uint64_t seed) {
    std::vector<std::string> def = g.default_suspend_order();
    std::vector<FaultPoint> out;
    std::set<std::vector<std::string>> seen{def};
    if (extensions) {
        // All of them when they are few (the default among them), else a sample.
        std::vector<std::vector<std::string>> orders = g.suspend_orders(limit + 2);
        if (orders.size() > limit + 1) orders = g.sample_suspend_orders(limit + 1, seed);
        for (const auto& o : orders)
            if (seen.insert(o).second && out.size() < limit) out.push_back(order_point(g, def, o));
    }
    if (break_order)
        for (const auto& e : g.edges()) {
            // The superior (e.from) suspends right before its subordinate.
            std::vector<std::string> o = def;
            o.erase(std::find(o.begin(), o.end(), e.from));
            o.insert(std::find(o.begin(), o.end(), e.to), e.from);
            if (seen.insert(o).second) out.push_back(order_point(g, def, o));
        }
    return out;
}

Decisions decisions(const FaultPoint& p) {
    Decisions d;
    d.fault = whole_run_kind(p.kind) ? "" : p.rule;
    d.order = p.kind == "order" ? p.rule : p.order;
    d.schedule = p.kind == "pct" ? p.rule : p.schedule;
    d.timing = p.kind == "timing" ? p.rule : p.timing;
    return d;
}

bool combined(const FaultPoint& p) {
    Decisions d = decisions(p);
    return (!d.fault.empty()) + (!d.order.empty()) + (!d.schedule.empty()) + (!d.timing.empty()) > 1;
}

std::string axes_of(const FaultPoint& p) {
    Decisions d = decisions(p);
    std::vector<std::string> axes;
    if (!d.fault.empty()) axes.push_back("faults");
    if (!d.order.empty()) axes.push_back("orders");
    if (!d.schedule.empty()) axes.push_back("schedules");
    if (!d.timing.empty()) axes.push_back("timings");
    return join(axes, " x ");
}

std::string combined_kind(const FaultPoint& p) {
    std::string k = p.kind;
    if (p.kind != "order" && !p.order.empty()) k += "+order";
    if (p.kind != "pct" && !p.schedule.empty()) k += "+pct";
    if (p.kind != "timing" && !p.timing.empty()) k += "+timing";
    return k;
}

std::vector<std::string> decision_rules(const FaultPoint& p) {
    Decisions d = decisions(p);
    std::vector<std::string> out;
    for (const std::string* r : {&d.order, &d.schedule, &d.timing, &d.fault})
        if (!r->empty()) out.push_back(*r);
    return out;
}

namespace {
// "seed 3" from a schedule or timing rule: what its single variant shows.
std::string seed_text(const std::string& rule) {
    size_t at = rule.find("seed=");
    if (at == std::string::npos) return "";
    return "seed " + rule.substr(at + 5, rule.find(',', at) == std::string::npos ? std::string::npos
                                                                                 : rule.find(',', at) - at - 5);
}

void put_under(FaultPoint& p, const FaultPoint& m) {
    if (m.kind == "order") {
        p.order = m.rule;
        p.order_change = m.device;
        p.graph_allows = m.graph_allows;
    } else if (m.kind == "pct") {
        p.schedule = m.rule;
    } else {
        p.timing = m.rule;
    }
}
}  // namespace

FaultPoint part_of(const FaultPoint& p, const std::set<std::string>& keep) {
    const Decisions d = decisions(p);
    const std::string change = p.kind == "order" ? p.device : p.order_change;
    std::vector<FaultPoint> parts;  // the primary first
    if (keep.count("fault") && !d.fault.empty()) {
        FaultPoint f = p;
        f.order.clear();
        f.order_change.clear();
        f.schedule.clear();
        f.timing.clear();
        f.graph_allows = true;
        parts.push_back(f);
    }
    if (keep.count("order") && !d.order.empty()) parts.push_back({d.order, "order", "", change, p.graph_allows});
    if (keep.count("schedule") && !d.schedule.empty()) parts.push_back({d.schedule, "pct", "", seed_text(d.schedule)});
    if (keep.count("timing") && !d.timing.empty()) parts.push_back({d.timing, "timing", "", seed_text(d.timing)});
    if (parts.empty()) return FaultPoint{};
    FaultPoint out = parts[0];
    for (size_t i = 1; i < parts.size(); ++i) put_under(out, parts[i]);
    return out;
}

std::vector<FaultPoint> cross_points(const std::vector<FaultPoint>& faults, const std::vector<FaultPoint>& orders,
                                     const std::vector<FaultPoint>& schedules, const std::vector<FaultPoint>& timings,
                                     std::vector<std::pair<std::string, size_t>>* products) {
    const std::vector<const std::vector<FaultPoint>*> axes = {&faults, &orders, &schedules, &timings};
    std::vector<unsigned> sets;  // every set of two or more non-empty axes, as a bit mask
    for (unsigned mask = 1; mask < 16; ++mask) {
        bool ok = __builtin_popcount(mask) >= 2;
        for (unsigned a = 0; a < 4; ++a) ok = ok && (!(mask & (1u << a)) || !axes[a]->empty());
        if (ok) sets.push_back(mask);
    }
    std::stable_sort(sets.begin(), sets.end(),
                     [](unsigned a, unsigned b) { return __builtin_popcount(a) < __builtin_popcount(b); });
    std::vector<FaultPoint> out;
    for (unsigned mask : sets) {
        std::vector<FaultPoint> made;
        for (unsigned a = 0; a < 4; ++a) {
            if (!(mask & (1u << a))) continue;
            if (made.empty()) {
                made = *axes[a];  // the primary: its kind, phase and device
                continue;
            }
            std::vector<FaultPoint> next;
            for (const FaultPoint& m : *axes[a])
                for (FaultPoint p : made) {
                    put_under(p, m);
                    next.push_back(std::move(p));
                }
            made = std::move(next);
        }
        if (products && !made.empty()) products->push_back({axes_of(made.front()), made.size()});
        for (auto& p : made) out.push_back(std::move(p));
    }
    return out;
}

std::vector<FaultPoint> one_move_orders(const DeviceGraph& g) {
    std::vector<std::string> def = g.default_suspend_order();
    std::vector<std::pair<size_t, std::vector<std::string>>> cand;
    std::set<std::vector<std::string>> seen{def};
    for (size_t from = 0; from < def.size(); ++from)
        for (size_t to = 0; to < def.size(); ++to) {
            if (from == to) continue;
            std::vector<std::string> o = def;
            std::string d = o[from];
            o.erase(o.begin() + long(from));
            o.insert(o.begin() + long(to), d);
            if (seen.insert(o).second) cand.push_back({from > to ? from - to : to - from, o});
        }
    std::stable_sort(cand.begin(), cand.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<FaultPoint> out;
    for (const auto& [dist, o] : cand) out.push_back(order_point(g, def, o));
    return out;
}

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

std::vector<FaultPoint> pct_points(size_t n, unsigned depth, uint64_t steps) {
    std::vector<FaultPoint> out;
    for (size_t i = 1; i <= n; ++i)
        out.push_back({fmt::format("schedule=pct,seed={},depth={},steps={}", i, depth, steps), "pct", "",
                       fmt::format("seed {}", i)});
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

std::vector<FaultPoint> timing_points(size_t n, unsigned percent) {
    std::vector<FaultPoint> out;
    for (size_t i = 1; i <= n; ++i)
        out.push_back(
            {fmt::format("timing=jitter={},ties=1,seed={}", percent, i), "timing", "", fmt::format("seed {}", i)});
    return out;
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

std::string reproducer_text(const std::string& original, const std::string& scenario_file, const FaultPoint& p,
                            const Finding& f, size_t variant, size_t variants, uint64_t seed) {
    // The original without its [expect] table; the workload settings that
    // shrinking changed replace the file's own in its [workload] table.
    const Decisions d = decisions(p);
    std::string kept, overrides;
    for (const auto& r : f.workload_removed) overrides += r.key + " = " + r.value + "\n";
    std::istringstream in(original);
    std::string line;
    bool skipping = false, in_workload = false, workload_seen = false;
    size_t fault_tables = 0;  // the file's [[fault]] tables so far
    auto overridden = [&](const std::string& t) {
        for (const auto& r : f.workload_removed)
            if (t.rfind(r.key, 0) == 0 && t.find_first_not_of(" \t", r.key.size()) != std::string::npos &&
                t[t.find_first_not_of(" \t", r.key.size())] == '=')
                return true;
        return false;
    };
    while (std::getline(in, line)) {
        std::string t = line.substr(line.find_first_not_of(" \t") == std::string::npos ? line.size()
                                                                                        : line.find_first_not_of(" \t"));
        if (!t.empty() && t[0] == '[') {
            if (in_workload) kept += overrides;
            in_workload = t.rfind("[workload]", 0) == 0;
            workload_seen = workload_seen || in_workload;
            const bool fault_table = t.rfind("[[fault]]", 0) == 0;
            const bool fault_removed =
                fault_table && std::count(f.faults_removed.begin(), f.faults_removed.end(), fault_tables++) > 0;
            skipping = t.rfind("[expect]", 0) == 0 || fault_removed ||
                       (!d.order.empty() && t.rfind("[order]", 0) == 0) ||
                       (!d.schedule.empty() && t.rfind("[schedule]", 0) == 0) ||
                       (!d.timing.empty() && t.rfind("[timing]", 0) == 0);
        }
        if (in_workload && overridden(t)) continue;
        if (!skipping) kept += line + "\n";
    }
    if (in_workload) kept += overrides;
    if (!workload_seen && !overrides.empty()) kept += "\n[workload]\n" + overrides;
    while (kept.size() >= 2 && kept[kept.size() - 1] == '\n' && kept[kept.size() - 2] == '\n') kept.pop_back();
    std::string out = kept + "\n";
    out += fmt::format("# Found by quiesce explore on {} (seed {}), variant {} of {}:\n", scenario_file, seed,
                       variant + 1, variants);
    // What made it: the primary decision, under the others.
    std::vector<std::string> under;
    if (!p.order.empty()) under.push_back("the order");
    if (!p.schedule.empty()) under.push_back("the schedule");
    if (!p.timing.empty()) under.push_back("the timing");
    const char* noun = p.kind == "order" ? "order" : p.kind == "pct" ? "schedule" : p.kind == "timing" ? "timing" : "fault";
    std::string what = noun;
    if (!under.empty()) {
        what += ", under ";
        for (size_t i = 0; i < under.size(); ++i)
            what += (i == 0 ? "" : i + 1 == under.size() ? " and " : ", ") + under[i];
        what += " below,";
    }
    out += fmt::format("# this {} makes {} fire{} at {}; the scenario without {}\n", what, f.sig.invariant,
                       f.sig.phase.empty() ? "" : " in " + f.sig.phase, f.sig.component, under.empty() ? "it" : "them");
    out += "# shows none of that. `quiesce run` on this file reproduces it.\n";
    if (under.size() == 1 && !p.order.empty())
        out += "# Neither the fault under the default order nor the order without the fault showed it.\n";
    else if (!under.empty())
        out += "# None of these decisions alone, nor fewer of them together, showed it.\n";
    if (!d.order.empty() && f.first_variant != f.found_variant && !f.shrunk.empty())
        out += "# Shrunk: the order nearest the default (one device moved) that still shows it.\n";
    if (!f.workload_removed.empty()) {
        std::string tasks;
        for (const auto& r : f.workload_removed) tasks += (tasks.empty() ? "" : ", ") + r.task;
        out += "# Shrunk: it shows without " + tasks + " ([workload] above).\n";
    }
    if (!f.faults_removed.empty()) {
        std::string which;
        for (size_t i : f.faults_removed) which += (which.empty() ? "" : ", ") + std::to_string(i + 1);
        out += "# Shrunk: it shows without the file's own [[fault]] table(s) " + which + " (left out above).\n";
    }
    if (!f.devices_removed.empty()) {
        std::string devs;
        for (const auto& d : f.devices_removed) devs += (devs.empty() ? "" : ", ") + d;
        out += "# Shrunk: it shows without the platform's " + devs + " (left out below).\n";
        for (const auto& d : f.devices_removed) out += "[devices." + d + "]\npresent = false\n";
    }
    if (!d.timing.empty()) {
        std::map<std::string, std::string> kv;
        for (const KeyValue& item : split_key_values(d.timing.substr(7))) kv[item.key] = item.value;  // after "timing="
        out += "# The latencies (software costs, PCI and firmware delays, kworker wake-ups, DMA,\n";
        out += "# interrupts, xHCI/USB, drive commands) and the order of same-time events this\n";
        out += "# seed drew.\n";
        out += "[timing]\njitter = " + kv["jitter"] + "\nties = " + (kv["ties"] == "1" ? "true" : "false") +
               "\nseed = " + kv["seed"] + "\n";
    }
    if (!d.schedule.empty()) {
        // The schedule: PCT with this seed gives the same interleaving again.
        std::map<std::string, std::string> kv;
        for (const KeyValue& item : split_key_values(d.schedule.substr(13))) kv[item.key] = item.value;  // after "schedule=pct,"
        out += "# The interleaving of the simulated software that PCT picked with this seed.\n";
        out += "[schedule]\npolicy = \"pct\"\n";
        for (const char* key : {"depth", "steps", "seed"}) out += std::string(key) + " = " + kv[key] + "\n";
    }
    {
        if (!d.order.empty()) {
            // The order: its change from the default names the two devices.
            const std::string& change = p.kind == "order" ? p.device : p.order_change;
            const std::string& rule = d.order;
            out += "# The order below puts " + change + ", the other way round from the\n# default order";
            if (p.graph_allows)
                out += ". The device graph allows it: nothing says " + change.substr(change.rfind(' ') + 1) +
                       "\n# must suspend first (a missing device link?).\n";
            else
                out += ", against an edge of the device graph (--break-order).\n";
            out += "[order]\nsuspend = [";
            std::istringstream devs(rule.substr(6));
            bool first_dev = true;
            for (std::string d; std::getline(devs, d, ',');) {
                out += (first_dev ? "\"" : ", \"") + d + "\"";
                first_dev = false;
            }
            out += "]\n";
        }
        if (!d.fault.empty()) {
            out += "[[fault]]\n";
            for (const KeyValue& kv : split_key_values(p.rule)) {
                bool number = !kv.value.empty() && kv.value.find_first_not_of("-0123456789") == std::string::npos;
                out += kv.key + " = " + (number ? kv.value : "\"" + kv.value + "\"") + "\n";
            }
        }
    }
    out += "\n[expect]\nviolations = [";
    bool first = true;
    for (const auto& v : f.violations) {
        out += (first ? "\"" : ", \"") + v + "\"";
        first = false;
    }
    out += "]\n";
    return out;
}

}  // namespace quiesce
