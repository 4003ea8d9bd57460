// A finding's reproducer: the scenario file that shows it, with how it was found and what shrinking left out.
#include "sim/explore/explore.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <sstream>

namespace quiesce {

std::string reproducer_text(const std::string& original, const std::string& scenario_file, const FaultPoint& p,
                            const Finding& f, size_t variant, size_t variants, uint64_t seed,
                            const std::string& patches) {
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
    if (!p.mutation.empty()) under.push_back("the driver mutation");
    if (!p.order.empty()) under.push_back("the order");
    if (!p.schedule.empty()) under.push_back("the schedule");
    if (!p.timing.empty()) under.push_back("the timing");
    const char* noun = p.kind == "order"      ? "order"
                       : p.kind == "pct"      ? "schedule"
                       : p.kind == "timing"   ? "timing"
                       : p.kind == "mutation" ? "driver mutation"
                                              : "fault";
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
    if (under.size() == 1 && !p.order.empty() && p.kind != "mutation")
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
        if (!d.mutation.empty()) {
            // The mutation: a patch to each device that runs the driver.
            out += "# The driver mutation (" + mutation_text(d.mutation) + ") as a patch to every device\n";
            out += "# that runs " + d.mutation.substr(7, d.mutation.find(':') - 7) + " (docs/drivers.md).\n";
            out += patches;
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
