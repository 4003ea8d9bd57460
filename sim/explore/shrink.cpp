// Shrinking a finding: its decisions to the fewest (or the order nearest the default) that still show it,
// then what its reproducer leaves out - the scenario file's faults, workload tasks, leaf devices.
#include "sim/explore/findings.h"

#include "sim/core/paths.h"

#include <algorithm>
#include <fstream>
#include <optional>

namespace quiesce {


bool shows_finding(const RunResult& r, const Finding& f) {
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::Violation && ev.name == f.sig.invariant && ev.track == f.sig.component) return true;
    return false;
}

namespace {

// Runs `trial`: whether it still shows the finding, and every id it showed.
bool still_shows(const Scenario& trial, const Finding& f, unsigned jobs, std::set<std::string>& ids) {
    bool shows = false;
    execute_all({trial}, jobs, [&](size_t, RunResult r) {
        ids = r.violations;
        shows = shows_finding(r, f);
    });
    return shows;
}

// Runs every candidate (-j at a time): the first that still shows the
// finding, with what its run showed (what its reproducer expects).
std::optional<size_t> first_showing(const Scenario& s, const std::vector<FaultPoint>& cands, Finding& f,
                                    unsigned jobs) {
    std::vector<Scenario> cv;
    for (const auto& c : cands) cv.push_back(variant_of(s, c));
    std::vector<bool> shows(cands.size(), false);
    std::vector<std::set<std::string>> ids(cands.size());
    execute_all(cv, jobs, [&](size_t k, RunResult r) {
        ids[k] = r.violations;
        shows[k] = shows_finding(r, f);
    });
    for (size_t k = 0; k < cands.size(); ++k)
        if (shows[k]) {
            f.violations = ids[k];
            return k;
        }
    return std::nullopt;
}

// An order finding shrinks to the order nearest the default (one device
// moved) that still shows the same violation - one the graph allows when
// the finding came from one. Sets what its run showed.
std::optional<FaultPoint> shrink_order(const Scenario& s, const DeviceGraph& graph, const FaultPoint& found,
                                       Finding& f, unsigned jobs) {
    std::vector<FaultPoint> cands;
    for (auto& c : one_move_orders(graph))
        if (c.graph_allows || !found.graph_allows) cands.push_back(std::move(c));
    std::optional<size_t> k = first_showing(s, cands, f, jobs);
    if (!k) return std::nullopt;
    f.shrunk = cands[*k].rule;
    return cands[*k];
}

// A combination of decisions shrinks to the smallest part of it that still
// shows the finding - each decision alone (fault, order, schedule, timing),
// then two of them together, ... (then it did not need the rest) - else,
// with an order among them, to the order nearest the default (one device
// moved) that still shows it with the others. Sets what the shrunk run
// showed.
std::optional<FaultPoint> shrink_cross(const Scenario& s, const DeviceGraph& graph, const FaultPoint& found,
                                       Finding& f, unsigned jobs) {
    const Decisions d = decisions(found);
    std::vector<FaultPoint> cands = smaller_parts(found);
    const size_t parts = cands.size();
    if (!d.order.empty())
        for (const auto& c : one_move_orders(graph))
            if ((c.graph_allows || !found.graph_allows) && c.rule != d.order) {
                FaultPoint moved = found;
                if (moved.kind == "order") {
                    moved.rule = c.rule;
                    moved.device = c.device;
                } else {
                    moved.order = c.rule;
                    moved.order_change = c.device;
                }
                moved.graph_allows = c.graph_allows;
                cands.push_back(std::move(moved));
            }
    std::optional<size_t> k = first_showing(s, cands, f, jobs);
    if (!k) return std::nullopt;
    if (*k >= parts) f.shrunk = decisions(cands[*k]).order;
    return cands[*k];
}

// Delta debugging over the scenario file's own fault rules (the first
// `file_faults` of the variant's plan; the variant's rule comes after):
// each is left out in turn, from the last, and stays out when the finding
// still shows without it (same invariant at the same component).
Scenario shrink_faults(Scenario current, size_t file_faults, Finding& f, unsigned jobs) {
    for (size_t i = file_faults; i-- > 0;) {
        Scenario trial = current;
        trial.faults.faults.erase(trial.faults.faults.begin() + long(i));
        std::set<std::string> ids;
        if (!still_shows(trial, f, jobs, ids)) continue;
        current = std::move(trial);
        f.faults_removed.insert(f.faults_removed.begin(), i);
        f.violations = ids;  // what the smaller run showed is what its reproducer expects
    }
    return current;
}

// Then over the workload: each task the scenario runs is left out in turn,
// and stays out when the finding still shows without it. What is left is
// what it needs: the variant without the rest, returned.
Scenario shrink_workload(Scenario current, Finding& f, unsigned jobs) {
    for (const WorkloadTask& t : workload_tasks()) {
        if (!t.present(current)) continue;
        Scenario trial = current;
        t.remove(trial);
        std::set<std::string> ids;
        if (!still_shows(trial, f, jobs, ids)) continue;
        current = std::move(trial);
        f.workload_removed.push_back({t.task, t.key, t.value});
        f.violations = ids;  // what the smaller run showed is what its reproducer expects
    }
    return current;
}

// Then over the platform's devices: a leaf device the finding does not name
// (nor the scenario file, nor the fault) is left out in turn, and stays out
// when the finding still shows without it. `current` is the variant as the
// workload shrinking left it.
// (`mutated`: the devices a mutation among the decisions patches.)
void shrink_devices(const std::string& original, Scenario current, const FaultPoint& found, Finding& f,
                    unsigned jobs, const std::vector<std::string>& mutated) {
    auto mentioned = [&](const std::string& name) {
        return original.find(name) != std::string::npos || found.rule.find(name) != std::string::npos ||
               std::find(mutated.begin(), mutated.end(), name) != mutated.end() ||
               f.sig.component == name || f.sig.component.rfind(name + ".", 0) == 0;
    };
    for (size_t guard = 0, n = current.platform.devices.size(); guard < n; ++guard) {
        bool removed = false;
        auto& devs = current.platform.devices;
        for (auto it = devs.rbegin(); it != devs.rend(); ++it) {
            const DeviceSpec& d = *it;
            bool leaf = std::none_of(devs.begin(), devs.end(), [&](const DeviceSpec& o) { return o.parent == d.name; });
            bool linked = std::any_of(current.platform.links.begin(), current.platform.links.end(),
                                      [&](const LinkSpec& l) { return l.supplier == d.name || l.consumer == d.name; });
            if (d.type == "pci-host" || !leaf || linked || mentioned(d.name) ||
                (d.has_disk() && mentioned(d.disk)))
                continue;
            Scenario trial = current;
            trial.platform.devices.erase(trial.platform.devices.begin() + (devs.rend() - it - 1));
            std::set<std::string> ids;
            if (!still_shows(trial, f, jobs, ids)) continue;
            f.devices_removed.push_back(d.name);
            f.violations = ids;
            current = std::move(trial);
            removed = true;  // the list changed (`it` with it): look again from its end
            break;
        }
        if (!removed) break;
    }
}

}  // namespace

void shrink_decisions(const Scenario& s, const DeviceGraph& graph, std::vector<FaultPoint>& points,
                      std::map<Signature, Finding>& findings, unsigned jobs) {
    for (auto& [sig, f] : findings) {
        std::optional<FaultPoint> shrunk;
        if (sig.kind == "order") shrunk = shrink_order(s, graph, points[f.first_variant], f, jobs);
        else if (combined(points[f.first_variant])) shrunk = shrink_cross(s, graph, points[f.first_variant], f, jobs);
        if (shrunk) {
            points.push_back(*shrunk);
            f.first_variant = points.size() - 1;
        }
    }
}

void shrink_for_reproducers(const Scenario& s, const std::vector<FaultPoint>& points,
                            std::map<Signature, Finding>& findings, unsigned jobs) {
    const std::string original = read_text(s.file);
    for (auto& [sig, f] : findings) {
        Scenario shrunk = shrink_faults(variant_of(s, points[f.first_variant]), s.faults.faults.size(), f, jobs);
        shrunk = shrink_workload(std::move(shrunk), f, jobs);
        const std::string mutation = decisions(points[f.first_variant]).mutation;
        std::vector<std::string> mutated;
        if (!mutation.empty()) mutated = devices_running(s, mutation.substr(7, mutation.find(':') - 7));
        shrink_devices(original, std::move(shrunk), points[f.first_variant], f, jobs, mutated);
    }
}

}  // namespace quiesce
