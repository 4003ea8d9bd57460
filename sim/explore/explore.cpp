// The variants' decisions: fault points, orders, PCT schedules, timings, and their combinations (--cross).
#include "sim/explore/explore.h"

#include "sim/core/errors.h"
#include "sim/drivers/mutate.h"

#include <fmt/format.h>

#include <algorithm>

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
                                     const std::vector<std::string>& drives, size_t persistence,
                                     uint64_t file_blocks) {
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
        } else if (kind == "image-bit-flip" || kind == "resume-device-late") {  // one point: the boot after S4
            out.push_back({"kind=" + kind, kind, "", ""});
        } else if (kind == "offline-fs-write") {  // the machine off after S4: what the other OS does
            out.push_back({"kind=offline-fs-write,op=delete", kind, "", ""});
            out.push_back({"kind=offline-fs-write,op=write,file_block=0", kind, "", ""});
            if (file_blocks > 1)
                out.push_back({"kind=offline-fs-write,op=write,file_block=" + std::to_string(file_blocks - 1), kind,
                               "", ""});
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
    d.mutation = p.kind == "mutation" ? p.rule : p.mutation;
    return d;
}

bool combined(const FaultPoint& p) {
    Decisions d = decisions(p);
    return (!d.fault.empty()) + (!d.order.empty()) + (!d.schedule.empty()) + (!d.timing.empty()) +
               (!d.mutation.empty()) >
           1;
}

std::string axes_of(const FaultPoint& p) {
    Decisions d = decisions(p);
    std::vector<std::string> axes;
    if (!d.fault.empty()) axes.push_back("faults");
    if (!d.mutation.empty()) axes.push_back("mutations");
    if (!d.order.empty()) axes.push_back("orders");
    if (!d.schedule.empty()) axes.push_back("schedules");
    if (!d.timing.empty()) axes.push_back("timings");
    return join(axes, " x ");
}

std::string combined_kind(const FaultPoint& p) {
    std::string k = p.kind;
    if (p.kind != "mutation" && !p.mutation.empty()) k += "+mutation";
    if (p.kind != "order" && !p.order.empty()) k += "+order";
    if (p.kind != "pct" && !p.schedule.empty()) k += "+pct";
    if (p.kind != "timing" && !p.timing.empty()) k += "+timing";
    return k;
}

std::vector<std::string> decision_rules(const FaultPoint& p) {
    Decisions d = decisions(p);
    std::vector<std::string> out;
    for (const std::string* r : {&d.order, &d.schedule, &d.timing, &d.mutation, &d.fault})
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
    } else if (m.kind == "mutation") {
        p.mutation = m.rule;
    } else {
        p.timing = m.rule;
    }
}
}  // namespace

namespace {
// Bits of a subset of a point's decisions.
constexpr unsigned kFault = 1, kOrder = 2, kSchedule = 4, kTiming = 8, kMutation = 16;
// A subset's rank among as many: the fault's, the mutation's, the order's,
// the schedule's, the timing's first.
unsigned rank(unsigned mask) {
    return (mask & kFault) | ((mask & kMutation) ? 2u : 0u) | ((mask & (kOrder | kSchedule | kTiming)) << 1);
}

// The point that makes just the decisions of `p` in `keep`.
FaultPoint part_of(const FaultPoint& p, unsigned keep) {
    const Decisions d = decisions(p);
    const std::string change = p.kind == "order" ? p.device : p.order_change;
    std::vector<FaultPoint> parts;  // the primary first
    if ((keep & kFault) && !d.fault.empty()) {
        FaultPoint f = p;
        f.order.clear();
        f.order_change.clear();
        f.schedule.clear();
        f.timing.clear();
        f.mutation.clear();
        f.graph_allows = true;
        parts.push_back(f);
    }
    if ((keep & kMutation) && !d.mutation.empty())
        parts.push_back({d.mutation, "mutation", "", mutation_text(d.mutation)});
    if ((keep & kOrder) && !d.order.empty()) parts.push_back({d.order, "order", "", change, p.graph_allows});
    if ((keep & kSchedule) && !d.schedule.empty()) parts.push_back({d.schedule, "pct", "", seed_text(d.schedule)});
    if ((keep & kTiming) && !d.timing.empty()) parts.push_back({d.timing, "timing", "", seed_text(d.timing)});
    FaultPoint out = parts.at(0);
    for (size_t i = 1; i < parts.size(); ++i) put_under(out, parts[i]);
    return out;
}
}  // namespace

std::vector<FaultPoint> smaller_parts(const FaultPoint& p) {
    const Decisions d = decisions(p);
    const unsigned all = (d.fault.empty() ? 0 : kFault) | (d.order.empty() ? 0 : kOrder) |
                         (d.schedule.empty() ? 0 : kSchedule) | (d.timing.empty() ? 0 : kTiming) |
                         (d.mutation.empty() ? 0 : kMutation);
    std::vector<unsigned> masks;
    for (unsigned mask = (all - 1) & all; mask; mask = (mask - 1) & all) masks.push_back(mask);
    std::sort(masks.begin(), masks.end(), [](unsigned a, unsigned b) {
        return __builtin_popcount(a) != __builtin_popcount(b) ? __builtin_popcount(a) < __builtin_popcount(b)
                                                              : rank(a) < rank(b);
    });
    std::vector<FaultPoint> out;
    for (unsigned mask : masks) out.push_back(part_of(p, mask));
    return out;
}

FaultPoint without_mutation(const FaultPoint& p) {
    const Decisions d = decisions(p);
    if (d.mutation.empty()) return p;
    const unsigned rest = (d.fault.empty() ? 0 : kFault) | (d.order.empty() ? 0 : kOrder) |
                          (d.schedule.empty() ? 0 : kSchedule) | (d.timing.empty() ? 0 : kTiming);
    return rest ? part_of(p, rest) : FaultPoint{};
}

std::vector<FaultPoint> cross_points(const std::vector<FaultPoint>& faults, const std::vector<FaultPoint>& orders,
                                     const std::vector<FaultPoint>& schedules, const std::vector<FaultPoint>& timings,
                                     std::vector<std::pair<std::string, size_t>>* products,
                                     const std::vector<FaultPoint>& mutations) {
    const std::vector<const std::vector<FaultPoint>*> axes = {&faults, &orders, &schedules, &timings, &mutations};
    std::vector<unsigned> sets;  // every set of two or more non-empty axes, as a bit mask
    for (unsigned mask = 1; mask < 32; ++mask) {
        bool ok = __builtin_popcount(mask) >= 2;
        for (unsigned a = 0; a < 5; ++a) ok = ok && (!(mask & (1u << a)) || !axes[a]->empty());
        if (ok) sets.push_back(mask);
    }
    std::stable_sort(sets.begin(), sets.end(),
                     [](unsigned a, unsigned b) { return __builtin_popcount(a) < __builtin_popcount(b); });
    std::vector<FaultPoint> out;
    for (unsigned mask : sets) {
        std::vector<FaultPoint> made;
        // The primary first: a fault, else a mutation, else the first of the others.
        for (unsigned a : {0u, 4u, 1u, 2u, 3u}) {
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

std::vector<FaultPoint> pct_points(size_t n, unsigned depth, uint64_t steps) {
    std::vector<FaultPoint> out;
    for (size_t i = 1; i <= n; ++i)
        out.push_back({fmt::format("schedule=pct,seed={},depth={},steps={}", i, depth, steps), "pct", "",
                       fmt::format("seed {}", i)});
    return out;
}

std::vector<FaultPoint> timing_points(size_t n, unsigned percent) {
    std::vector<FaultPoint> out;
    for (size_t i = 1; i <= n; ++i)
        out.push_back(
            {fmt::format("timing=jitter={},ties=1,seed={}", percent, i), "timing", "", fmt::format("seed {}", i)});
    return out;
}

bool mutate_composes(const ExploreOptions& o) {
    return !o.mutate.empty() && (!o.kinds.empty() || o.orders || o.break_order || o.cross || o.pct || o.timing ||
                                 o.persistence || o.strategy != "exhaustive");
}

std::vector<std::string> devices_running(const Scenario& s, const std::string& driver) {
    std::vector<std::string> out;
    for (const auto& [dev, p] : s.drivers)
        if (p && p->name == driver && !p->patched) out.push_back(dev);
    return out;
}

std::set<std::string> reached_callbacks(const RunStream& stream, const std::vector<std::string>& devices) {
    std::set<std::string> out;
    auto ours = [&](const std::string& dev) { return std::find(devices.begin(), devices.end(), dev) != devices.end(); };
    for (const auto& ev : stream.events) {
        if (ev.kind != EvKind::SliceBegin) continue;
        if ((ev.category == "callback" || ev.category == "syscore" || ev.category == "rpm") &&
            ours(arg_value(ev, "device")))
            out.insert(ev.name);
        if (ev.category == "step" && ev.track.size() > 3 && ev.track.compare(ev.track.size() - 3, 3, ".io") == 0 &&
            ours(ev.track.substr(0, ev.track.size() - 3)))
            out.insert(arg_value(ev, "callback"));
    }
    return out;
}

std::string mutation_text(const std::string& rule) {
    const size_t colon = rule.find(':');
    Mutation m;
    if (rule.rfind("mutate=", 0) != 0 || colon == std::string::npos || !parse_mutation(rule.substr(colon + 1), m))
        return "";
    return m.text();
}

std::vector<FaultPoint> mutation_points(const RunStream& baseline, const Scenario& s, const std::string& which) {
    const MutationTarget target = parse_mutation_target(which);
    std::vector<const DriverProgram*> programs;
    for (const auto& [dev, p] : s.drivers) programs.push_back(p.get());
    std::vector<FaultPoint> out;
    for (const auto& d : target_drivers(target, programs, "the scenario runs no")) {
        const std::vector<std::string> devices = devices_running(s, d);
        const DriverProgram& program = *s.drivers.at(devices.front());
        for (const Mutation& m : mutations(program, reached_callbacks(baseline, devices)))
            if (target.keeps(m)) out.push_back({"mutate=" + d + ":" + m.spec(), "mutation", "", m.text()});
    }
    return out;
}

std::string mutation_patches(const Scenario& s, const std::string& rule) {
    const size_t colon = rule.find(':');
    Mutation m;
    if (rule.rfind("mutate=", 0) != 0 || colon == std::string::npos || !parse_mutation(rule.substr(colon + 1), m))
        return "";
    const std::string driver = rule.substr(7, colon - 7);
    std::string out;
    for (const auto& dev : devices_running(s, driver))
        out += fmt::format("[[drivers.{}.patch]]\n{}", dev, mutation_patch(*s.drivers.at(dev), m));
    return out;
}

}  // namespace quiesce
