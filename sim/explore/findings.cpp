#include "sim/explore/findings.h"

#include "sim/core/errors.h"
#include "sim/core/toml_reader.h"
#include "sim/drivers/device_file.h"
#include "sim/drivers/mutate.h"
#include "sim/drivers/program.h"
#include "sim/scenario/scenario.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

namespace fs = std::filesystem;

namespace quiesce {

namespace {

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

std::string file_part(std::string s) {
    for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '_';
    return s;
}

void settle_explore_options(ExploreOptions& o, const Scenario& s) {
    if (o.strategy != "exhaustive" && o.strategy != "random" && o.strategy != "pct")
        throw InputError("--strategy: must be exhaustive, random or pct, got '" + o.strategy + "'");
    // pct: PCT schedules of the simulated software are what varies - as many
    // as --pct or a run budget says (100 by default), in seed order.
    if (o.strategy == "pct" && !o.pct) o.pct = o.budget ? o.budget : 100;
    // Faults by default; with --orders / --break-order only orders unless
    // --kinds asks for faults too.
    // --cross combines the axes asked for; with one besides faults, faults
    // are the other (the default kinds unless --kinds).
    const int whole = (o.orders || o.break_order) + (o.pct > 0) + (o.timing > 0) + !o.mutate.empty();
    if (o.cross && whole == 0)
        throw InputError("--cross: needs --orders, --break-order, --pct, --timing or --mutate (what to combine the "
                         "faults with)");
    if (o.kinds.empty() && (whole == 0 || (o.cross && whole == 1))) o.kinds = default_explore_kinds();
    for (const auto& k : o.kinds) {
        const FaultKindInfo* info = find_fault_kind(k);
        if (!info) throw InputError("--kinds: unknown fault kind '" + k + "'");
        if (k == "image-bit-flip" && s.protocol.target != 4)
            throw InputError("--kinds: image-bit-flip needs a hibernation protocol");
    }
    if (o.shards == 0 || o.shard >= o.shards) throw InputError("--shard: must be I/N with 0 <= I < N");
}

ExplorePlan plan_exploration(const RunStream& baseline, const ExploreOptions& o, const Scenario& s) {
    ExplorePlan plan;
    plan.graph = build_graph(s.platform);
    if (!s.order.empty()) plan.graph.set_suspend_order(s.order);
    const DeviceGraph& graph = plan.graph;
    std::vector<std::string> drives;
    for (const auto& d : s.platform.devices)
        if (d.has_disk()) drives.push_back(d.disk);
    plan.points = fault_points(baseline, o.kinds, drives, o.persistence);
    plan.fault_count = plan.points.size();
    std::vector<FaultPoint> orders;
    if (o.orders || o.break_order) orders = order_points(graph, o.orders, o.break_order, o.orders_limit, o.seed);
    std::vector<FaultPoint> schedules = pct_points(o.pct, o.pct_depth, o.pct_steps);
    std::vector<FaultPoint> timings = timing_points(o.timing, o.jitter);
    std::vector<FaultPoint> mutants;
    if (!o.mutate.empty()) mutants = mutation_points(baseline, s, o.mutate);
    plan.order_count = orders.size();
    plan.schedule_count = schedules.size();
    plan.timing_count = timings.size();
    plan.mutation_count = mutants.size();
    for (const auto* axis : {&orders, &schedules, &timings, &mutants})
        plan.points.insert(plan.points.end(), axis->begin(), axis->end());
    plan.single_count = plan.points.size();  // then the combinations (--cross)
    if (o.cross) {
        std::vector<FaultPoint> faults(plan.points.begin(), plan.points.begin() + long(plan.fault_count));
        for (auto& p : cross_points(faults, orders, schedules, timings, &plan.products, mutants))
            plan.points.push_back(std::move(p));
    }
    return plan;
}

std::string decisions_of(const FaultPoint& p) {
    std::string out;
    for (const auto& r : decision_rules(p)) out += (out.empty() ? "" : "\n") + r;
    return out;
}

void FindingSet::note(const Signature& sig, int64_t run_id, size_t point, const std::set<std::string>& ids) {
    Finding& f = findings[sig];
    if (f.count++ == 0 || point < f.found_variant) {
        f.sig = sig;
        f.first_run = run_id;
        f.first_variant = f.found_variant = point;
        f.violations = ids;
    }
}

bool FindingSet::add(const std::vector<FaultPoint>& points, size_t point, int64_t run_id,
                     const std::vector<Seen>& violations, const std::set<std::string>& ids) {
    const FaultPoint& p = points[point];
    const bool whole_run = whole_run_kind(p.kind);
    const bool many = combined(p);
    bool violating = false;
    if (many) pairs_.push_back({point, run_id, {}, ids});
    std::set<Seen>& shown = shown_[decisions_of(p)];
    for (const Seen& v : violations) {
        if (known_.count(v)) continue;
        violating = true;
        const auto& [invariant, phase, component] = v;
        shown.insert(v);
        if (many) pairs_.back().seen.push_back(v);
        else {
            note({invariant, whole_run ? "" : phase, component, p.kind}, run_id, point, ids);
            fresh.emplace(point, v);
        }
    }
    return violating;
}

std::map<std::string, size_t> FindingSet::judge_pairs(const std::vector<FaultPoint>& points) {
    std::map<std::string, size_t> per_product;
    for (const PairRun& c : pairs_) {
        const FaultPoint& p = points[c.point];
        std::vector<std::string> parts;  // what each smaller part of it decides
        for (const FaultPoint& part : smaller_parts(p)) parts.push_back(decisions_of(part));
        bool any = false;
        for (const Seen& seen : c.seen) {
            if (std::any_of(parts.begin(), parts.end(), [&](const std::string& part) {
                    auto it = shown_.find(part);
                    return it != shown_.end() && it->second.count(seen);
                }))
                continue;
            any = true;
            fresh.emplace(c.point, seen);
            note({std::get<0>(seen), whole_run_kind(p.kind) ? "" : std::get<1>(seen), std::get<2>(seen),
                  combined_kind(p)},
                 c.run_id, c.point, c.ids);
        }
        per_product[axes_of(p)] += any;
    }
    return per_product;
}

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

std::string decision_text(const FaultPoint& p) {
    std::vector<std::string> under;
    for (const std::string* r : {&p.mutation, &p.order, &p.schedule, &p.timing})
        if (!r->empty()) under.push_back(*r);
    std::string out = p.rule;
    for (size_t i = 0; i < under.size(); ++i) out += (i == 0 ? " under " : " and ") + under[i];
    return out;
}

std::string findings_text(const std::vector<FaultPoint>& points, const std::map<Signature, Finding>& findings,
                          const std::function<std::string(const Finding&)>& first) {
    if (findings.empty()) return "no violation beyond the baseline's\n";
    std::string out = fmt::format("{} distinct violation(s) beyond the baseline's:\n", findings.size());
    for (const auto& [sig, f] : findings) {
        const FaultPoint& p = points[f.first_variant];
        out += fmt::format("  {:<24} {:<22} {:<14} fault {:<18} {:>3} run(s), {} ({})\n", sig.invariant,
                           sig.phase.empty() ? "-" : sig.phase, sig.component, sig.kind, f.count, first(f),
                           decision_text(p));
        if (sig.kind.find('+') != std::string::npos && !combined(p))
            out += fmt::format("      not a pair: the {} alone shows it (its own run was not among these)\n",
                               p.kind == "order"      ? "order"
                               : p.kind == "pct"      ? "schedule"
                               : p.kind == "timing"   ? "timing"
                               : p.kind == "mutation" ? "mutation"
                                                      : "fault");
        else if (sig.kind.find('+') != std::string::npos && combined_kind(p) != sig.kind)
            out += fmt::format("      fewer decisions show it: {} (their own run was not among these)\n", combined_kind(p));
        if (!f.reproducer.empty()) out += "      reproducer: " + f.reproducer + "\n";
    }
    return out;
}

std::string mutation_score_text(const std::vector<FaultPoint>& points, size_t explored,
                                const std::map<size_t, Seen>& fresh, const std::set<size_t>& ran) {
    struct Mutant {
        std::string rule, text, driver, callback;
        size_t runs = 0;                     // its variants that ran: alone and in products
        bool alone_ran = false, alone = false;
        std::optional<size_t> product;       // the first combination with it that killed it
        size_t products_killing = 0;
        Seen by;
    };
    std::vector<Mutant> mutants;
    std::map<std::string, size_t> of_rule;
    for (size_t i = 0; i < explored && i < points.size(); ++i)
        if (points[i].kind == "mutation" && !combined(points[i])) {
            const std::string& r = points[i].rule;
            Mutant m{r, mutation_text(r)};
            const size_t colon = r.find(':');
            m.driver = r.substr(7, colon - 7);
            Mutation parsed;
            if (parse_mutation(r.substr(colon + 1), parsed)) m.callback = parsed.callback;
            of_rule[r] = mutants.size();
            mutants.push_back(std::move(m));
        }
    if (mutants.empty()) return "";
    for (size_t i = 0; i < explored && i < points.size(); ++i) {
        const std::string rule = decisions(points[i]).mutation;
        auto it = of_rule.find(rule);
        if (rule.empty() || it == of_rule.end() || !ran.count(i)) continue;
        Mutant& m = mutants[it->second];
        ++m.runs;
        auto f = fresh.find(i);
        if (!combined(points[i])) {
            m.alone_ran = true;
            if (f != fresh.end()) {
                m.alone = true;
                m.by = f->second;
            }
        } else if (f != fresh.end()) {
            ++m.products_killing;
            if (!m.product) {
                m.product = i;
                if (!m.alone) m.by = f->second;
            }
        }
    }
    auto seen_text = [](const Seen& v) {
        return std::get<0>(v) + (std::get<1>(v).empty() ? "" : " in " + std::get<1>(v)) + " at " + std::get<2>(v);
    };
    std::string out = "\nmutants (killed: a run with it showed a violation none of its smaller parts showed)\n";
    for (const Mutant& m : mutants) {
        if (!m.runs) continue;
        if (m.alone)
            out += fmt::format("  KILLED    {:<44} alone, by {}\n", m.text, seen_text(m.by));
        else if (m.product) {
            const FaultPoint& p = points[*m.product];
            std::string rest;  // the product's other decisions
            for (const std::string& r : decision_rules(p))
                if (r != m.rule) rest += (rest.empty() ? "" : " and ") + r;
            out += fmt::format("  KILLED    {:<44} only in {} ({} of them), by {} under {}{}\n", m.text, axes_of(p),
                               m.products_killing, seen_text(m.by), rest, m.alone_ran ? "" : " (its own run was not among these)");
        } else
            out += fmt::format("  SURVIVED  {:<44} {} run(s){}\n", m.text, m.runs, m.alone_ran ? "" : ", not alone");
    }
    std::map<std::string, std::map<std::string, std::array<size_t, 3>>> score;  // driver -> callback -> killed, of them in products only, tried
    for (const Mutant& m : mutants) {
        if (!m.runs) continue;
        for (const std::string& cb : {std::string(), m.callback}) {
            auto& c = score[m.driver][cb];
            c[0] += m.alone || m.product;
            c[1] += !m.alone && m.product;
            c[2] += 1;
        }
    }
    for (const auto& [driver, cbs] : score) {
        const auto& all = cbs.at("");
        out += fmt::format("{}: {} of {} mutants killed ({:.0f}%), {} of them only in a product\n", driver, all[0],
                           all[2], all[2] ? 100.0 * double(all[0]) / double(all[2]) : 0.0, all[1]);
        for (const auto& [cb, c] : cbs)
            if (!cb.empty())
                out += fmt::format("  {:<18} {}/{}{}\n", cb, c[0], c[2],
                                   c[1] ? fmt::format(" ({} only in a product)", c[1]) : "");
    }
    return out;
}

namespace {

bool same_file(const std::string& a, const std::string& b) {
    if (a.empty() || b.empty()) return false;
    std::error_code ec;
    bool same = fs::equivalent(a, b, ec);
    return same && !ec;
}

// The files a reproducer folder needs, walked from the scenario: each
// reference is resolved from the original file (`near`) and from where its
// copy in the folder sits (`placed_near`); a file the folder would not find
// as the same file is copied to `dest`, and what refers on from it is
// resolved from the copy.
class LocalFiles {
public:
    LocalFiles(const Scenario& s, const std::string& out_dir) : out_(out_dir) {
        const std::string here = (fs::path(out_dir) / "reproducer.toml").string();  // where a reproducer looks from
        const toml::table top = parse_toml_file(s.file);
        if (auto name = top["platform"]["name"].value<std::string>()) {
            auto [from, to] = place(resolve_data_file(s.file, "platforms", *name),
                                    resolve_data_file(here, "platforms", *name), "platforms", *name);
            if (!from.empty() && !same_file(from, to)) {
                // Device files a copied platform describes devices with.
                const toml::table pt = parse_toml_file(from);
                if (const toml::array* devs = pt["device"].as_array())
                    for (const toml::node& d : *devs)
                        if (auto model = d.as_table() ? (*d.as_table())["model"].value<std::string>() : std::nullopt)
                            place(find_device_file(from, *model), find_device_file(to, *model), "devices", *model);
            }
        }
        if (auto name = top["protocol"]["name"].value<std::string>())
            place(resolve_data_file(s.file, "protocols", *name), resolve_data_file(here, "protocols", *name),
                  "protocols", *name);
        // Every driver file a device of the scenario runs, named in the
        // scenario or built in for its type, and the ones each derives from.
        std::set<std::string> drivers;
        for (const auto& [dev, program] : s.drivers)
            if (program && !program->file.empty()) drivers.insert(program->file);
        for (const auto& file : drivers) driver(s.file, here, fs::path(file).stem().string());
    }
    std::vector<OutFile> files;

private:
    // `name` from the original's `near` and from the folder's `placed_near`.
    void driver(const std::string& near, const std::string& placed_near, const std::string& name) {
        auto [from, to] = place(find_driver_file(near, name), find_driver_file(placed_near, name), "drivers", name);
        if (from.empty() || same_file(from, to) || !walked_.insert(from).second) return;
        const toml::table t = parse_toml_file(from);
        if (auto base = t["driver"]["base"].value<std::string>()) driver(from, to, *base);
        if (auto binds = t["driver"]["binds"].value<std::string>())
            place(find_device_file(from, *binds), find_device_file(to, *binds), "devices", *binds);
    }
    // The original `from` and the file a reproducer would find, `to`: a copy
    // goes to out_dir/KIND/NAME.toml unless they are the same file. Returns
    // the original and where the reproducer finds it then.
    std::pair<std::string, std::string> place(const std::string& from, const std::string& to, const std::string& kind,
                                              const std::string& name) {
        if (from.empty() || same_file(from, to)) return {from, to};
        const std::string dest = (fs::path(out_) / kind / (name + ".toml")).string();
        if (std::none_of(files.begin(), files.end(), [&](const OutFile& f) { return f.path == dest; }))
            files.push_back({dest, read_text(from)});
        return {from, dest};
    }
    std::string out_;
    std::set<std::string> walked_;
};

}  // namespace

std::vector<OutFile> local_files(const Scenario& s, const std::string& out_dir) {
    return LocalFiles(s, out_dir).files;
}

std::vector<OutFile> reproducer_files(const std::string& out_dir, const Scenario& s,
                                      const std::vector<FaultPoint>& points, size_t explored,
                                      std::map<Signature, Finding>& findings, size_t& numbered) {
    std::vector<OutFile> out;
    if (findings.empty()) return out;
    const std::string original = read_text(s.file);
    for (auto& [sig, f] : findings) {
        const FaultPoint& p = points[f.first_variant];
        std::string under = std::string(p.mutation.empty() ? "" : "-under-mutation") +
                            (p.order.empty() ? "" : "-under-order") + (p.schedule.empty() ? "" : "-under-pct") +
                            (p.timing.empty() ? "" : "-under-timing");
        std::string name = fmt::format("{:02}-{}-{}{}-{}{}.toml", ++numbered, file_part(sig.invariant),
                                       file_part(p.kind), under, file_part(p.phase),
                                       p.device.empty() ? "" : "-" + file_part(p.device));
        f.reproducer = (fs::path(out_dir) / name).string();
        out.push_back({f.reproducer, reproducer_text(original, s.file, p, f, f.found_variant, explored, s.seed,
                                                     mutation_patches(s, decisions(p).mutation))});
    }
    for (auto& file : local_files(s, out_dir)) out.push_back(std::move(file));
    return out;
}

}  // namespace quiesce
