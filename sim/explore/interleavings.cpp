// Interleavings an exploration tried: callbacks of one phase that overlapped in time, and the cores they ran on.
#include "sim/explore/interleavings.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <vector>

namespace quiesce {

namespace {

using Span = std::pair<Picos, Picos>;

// One run of a callbacks phase: each device's callback span, the cores
// online when the phase began.
struct PhaseRun {
    std::string name;
    std::map<std::string, Span> spans;
    std::vector<std::string> online;
};

std::vector<PhaseRun> phase_runs(const RunStream& stream) {
    std::vector<std::string> cpus;
    for (const auto& t : stream.tracks)
        if (t.kind == "cpu") cpus.push_back(t.name);
    std::set<std::string> offline;
    std::vector<PhaseRun> runs;
    std::map<std::string, size_t> phase_at;  // phase -> its latest run
    std::map<std::string, size_t> open;      // device -> the run its callback running now belongs to
    for (const auto& ev : stream.events) {
        if (ev.category == "hotplug" && ev.kind == EvKind::SliceEnd) {
            const std::string rc = arg_value(ev, "rc");
            if (ev.name == "offline" && (rc.empty() || rc == "0")) offline.insert(ev.track);
            else if (ev.name == "online") offline.erase(ev.track);
        } else if (ev.category == "phase" && ev.kind == EvKind::SliceBegin && arg_value(ev, "action") == "callbacks") {
            PhaseRun r{ev.name, {}, {}};
            for (const auto& c : cpus)
                if (!offline.count(c)) r.online.push_back(c);
            phase_at[ev.name] = runs.size();
            runs.push_back(std::move(r));
        } else if (ev.category == "callback") {
            const std::string device = arg_value(ev, "device");
            if (ev.kind == EvKind::SliceBegin) {
                auto it = phase_at.find(arg_value(ev, "phase"));
                if (it == phase_at.end()) continue;
                open[device] = it->second;
                runs[it->second].spans[device] = {ev.ts, ev.ts};
            } else if (ev.kind == EvKind::SliceEnd && open.count(device)) {
                runs[open[device]].spans[device].second = ev.ts;
                open.erase(device);
            }
        }
    }
    return runs;
}

const Phase* find_phase(const Protocol& p, const std::string& name) {
    for (const auto* list : {&p.suspend, &p.resume})
        for (const Phase& ph : *list)
            if (ph.name == name) return &ph;
    return nullptr;
}

}  // namespace

std::map<std::pair<std::string, std::string>, std::string> callback_cores(const RunStream& stream, const Scenario& s) {
    DeviceGraph graph = build_graph(s.platform);
    if (!s.order.empty()) graph.set_suspend_order(s.order);
    std::map<std::pair<std::string, std::string>, std::string> out;
    for (const PhaseRun& r : phase_runs(stream)) {
        for (auto it = out.begin(); it != out.end();) it = it->first.first == r.name ? out.erase(it) : std::next(it);
        const Phase* p = find_phase(s.protocol, r.name);
        if (!p || !p->async || r.online.empty()) continue;
        const std::vector<std::string> order = p->order == "top-down" ? graph.resume_order() : graph.suspend_order();
        if (order.size() != r.spans.size() ||
            std::any_of(order.begin(), order.end(), [&](const std::string& d) { return !r.spans.count(d); }))
            continue;  // a device skipped or left out: the list its cores came from is not known
        for (size_t i = 0; i < order.size(); ++i) out[{r.name, order[i]}] = r.online[i % r.online.size()];
    }
    return out;
}

void Interleavings::add(const RunStream& stream, const Scenario& s) {
    std::map<std::string, std::map<std::string, Span>> spans;  // phase -> device -> span
    std::map<std::string, std::string> open;  // device -> the phase of its callback running now
    for (const auto& ev : stream.events) {
        if (ev.category != "callback") continue;
        const std::string device = arg_value(ev, "device");
        if (ev.kind == EvKind::SliceBegin) {
            open[device] = arg_value(ev, "phase");
            spans[open[device]][device] = {ev.ts, ev.ts};
        } else if (ev.kind == EvKind::SliceEnd && open.count(device)) {
            spans[open[device]][device].second = ev.ts;
            open.erase(device);
        }
    }
    const auto cores = callback_cores(stream, s);
    for (const auto& [phase, devs] : spans)
        for (auto a = devs.begin(); a != devs.end(); ++a)
            for (auto b = std::next(a); b != devs.end(); ++b) {
                const auto& [ab, ae] = a->second;
                const auto& [bb, be] = b->second;
                if (!(ab < be && bb < ae)) continue;  // one ended before the other began
                const unsigned seen = ab < bb ? 1u : bb < ab ? 2u : 4u;
                overlaps_[{phase, a->first, b->first}] |= seen;
                auto ca = cores.find({phase, a->first}), cb = cores.find({phase, b->first});
                if (ca != cores.end() && cb != cores.end() && ca->second != cb->second)
                    cross_[{phase, a->first, ca->second, b->first, cb->second}] |= seen;
            }
}

size_t Interleavings::cross_core_varied() const {
    return size_t(std::count_if(cross_.begin(), cross_.end(), [](const auto& c) { return c.second != 1u && c.second != 2u && c.second != 4u; }));
}

std::string Interleavings::text() const {
    if (overlaps_.empty()) return "";
    size_t both = 0, together = 0;
    for (const auto& [key, seen] : overlaps_) {
        both += (seen & 3u) == 3u;
        together += seen == 4u;
    }
    std::string out = fmt::format("interleavings: {} pairs of callbacks of one phase ran at the same time in some "
                                  "variant; {} of them started in either order, {} only at the same instant\n",
                                  overlaps_.size(), both, together);
    if (cross_.empty()) return out;
    const size_t varied = cross_core_varied();
    out += fmt::format("cross-core: {} pairs of callbacks on two cores (device@core) ran at the same time in some "
                       "variant; {} of them started in more than one order across the variants{}\n",
                       cross_.size(), varied, varied ? ":" : "");
    size_t listed = 0;
    const size_t shown = 10;
    for (const auto& [key, seen] : cross_) {
        if (seen == 1u || seen == 2u || seen == 4u) continue;
        if (listed++ == shown) {
            out += fmt::format("  ... and {} more\n", varied - shown);
            break;
        }
        const auto& [phase, a, ca, b, cb] = key;
        std::vector<std::string> orders;
        if (seen & 1u) orders.push_back(a + " first");
        if (seen & 2u) orders.push_back(b + " first");
        if (seen & 4u) orders.push_back("at the same instant");
        std::string how;
        for (size_t i = 0; i < orders.size(); ++i) how += (i ? ", " : "") + orders[i];
        out += fmt::format("  {:<16} {}@{} {}@{}: {}\n", phase, a, ca, b, cb, how);
    }
    return out;
}

}  // namespace quiesce
