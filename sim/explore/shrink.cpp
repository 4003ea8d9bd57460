// Shrinking a finding: its decisions to the fewest (or the order nearest the default) that still show it,
// then what its reproducer leaves out - the scenario file's faults, workload tasks, leaf devices.
#include "sim/explore/findings.h"

#include "sim/core/paths.h"

#include <algorithm>
#include <fstream>
#include <memory>
#include <optional>

namespace quiesce {


bool shows_finding(const RunResult& r, const Finding& f) {
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::Violation && ev.name == f.sig.invariant && ev.track == f.sig.component) return true;
    return false;
}

namespace {

// One run shrinking asks for: `base` - the scenario with what shrinking
// left out so far, named by `key` ("" for the scenario itself) - with the
// decisions of `point`.
struct Trial {
    std::string key;
    const Scenario* base;
    FaultPoint point;
};

// A decision taken 1 ps before its mark (or the first callback phase)
// forks from a run of its base only when that run is the base's until
// then. Whether `steps`' marks come in `view` before `until`.
bool before(const RunStream& view, const std::vector<Choice>& steps, Picos until) {
    for (const Choice& c : steps) {
        Picos t = c.where == Choice::Where::At              ? mark_time(view, c.mark)
                  : c.where == Choice::Where::FirstCallback ? first_callback_phase(view)
                                                            : 0;
        if (t == kNever ? until != kNever : t >= until) return false;
    }
    return true;
}

// Runs trials, each a function of its base and decisions, `jobs` at a
// time: each distinct trial once; with prefix sharing, the trials of one
// base through explore's branched runs (execute_branched) - planned over
// the baseline's run for the scenario itself, else over the run of one of
// them (the scout: the one whose decision comes last in the baseline), as
// far as that run is the base's: up to its own decision's mark (or its
// fault firing, if that comes first). Whatever cannot fork runs from the
// start. The results are those of runs from the start either way.
class Trials {
public:
    explicit Trials(const ShrinkRuns& how) : how_(how) {}

    std::vector<RunResult> run(const std::vector<Trial>& trials) {
        std::vector<size_t> of(trials.size());
        std::map<std::string, size_t> seen;
        std::vector<const Trial*> unique;
        for (size_t i = 0; i < trials.size(); ++i) {
            auto [it, fresh] = seen.emplace(trials[i].key + "\n" + decisions_of(trials[i].point), unique.size());
            if (fresh) unique.push_back(&trials[i]);
            of[i] = it->second;
        }
        std::vector<Scenario> variants;
        for (const Trial* t : unique) {
            variants.push_back(variant_of(*t->base, t->point));
            variants.back().trace = TraceLevel::Summary;  // violations are recorded at every level
        }
        std::vector<RunResult> results(unique.size());
        std::vector<size_t> from_start;
        auto put = [&results](size_t k, RunResult r) { results[k] = std::move(r); };
        ++how_.stats.batches;
        if (!how_.prefix) {
            for (size_t k = 0; k < unique.size(); ++k) from_start.push_back(k);
        } else {
            share(unique, variants, results, from_start);
        }
        std::vector<Scenario> rest;
        for (size_t k : from_start) rest.push_back(variants[k]);
        execute_all(rest, how_.jobs, [&](size_t j, RunResult r) { put(from_start[j], std::move(r)); });
        how_.stats.from_start += from_start.size();
        how_.stats.runs += unique.size();
        std::vector<RunResult> out;
        for (size_t i = 0; i < trials.size(); ++i) out.push_back(results[of[i]]);
        return out;
    }

private:
    // Runs what shares a prefix; the rest goes to `from_start`.
    void share(const std::vector<const Trial*>& unique, const std::vector<Scenario>& variants,
               std::vector<RunResult>& results, std::vector<size_t>& from_start) {
        std::map<std::string, std::vector<size_t>> by_base;
        for (size_t k = 0; k < unique.size(); ++k) {
            if (!decisions(unique[k]->point).mutation.empty()) from_start.push_back(k);  // another platform's run
            else by_base[unique[k]->key].push_back(k);
        }
        // Each base's trials' steps, as explore's prefix plan makes them.
        std::vector<std::vector<Choice>> steps(unique.size());
        for (const auto& [key, ks] : by_base) {
            std::vector<FaultPoint> pts;
            for (size_t k : ks) pts.push_back(unique[k]->point);
            std::vector<size_t> alone;
            PrefixPlan pl = prefix_plan(how_.baseline, pts, alone);
            for (size_t l = 0; l < ks.size(); ++l) steps[ks[l]] = std::move(pl.steps[l]);
        }
        auto nth = [&](size_t k) {
            return std::any_of(steps[k].begin(), steps[k].end(), [](const Choice& c) { return c.mark.nth > 0; });
        };
        // A base other than the scenario: its scout first, with what runs alone.
        struct Group {
            std::vector<size_t> ks;
            std::optional<size_t> scout;
        };
        std::vector<Group> groups;
        std::vector<size_t> first;  // scouts and trials without company, from the start
        for (const auto& [key, ks] : by_base) {
            if (key.empty()) {
                groups.push_back({ks, std::nullopt});
                continue;
            }
            std::optional<size_t> scout;
            Picos latest = 0;
            for (size_t k : ks) {
                if (steps[k].size() != 1 || steps[k][0].where != Choice::Where::At) continue;
                Picos t = mark_time(how_.baseline, steps[k][0].mark);
                if (!scout || (t != kNever && (latest == kNever || t > latest))) {
                    scout = k;
                    latest = t;
                }
            }
            // A scout and one trial forking from its base's run cost two
            // runs, as the two from the start do: shared from three on.
            if (ks.size() < 3 || !scout) {
                first.insert(first.end(), ks.begin(), ks.end());
                continue;
            }
            first.push_back(*scout);
            groups.push_back({ks, scout});
        }
        std::sort(first.begin(), first.end());
        std::vector<Scenario> firsts;
        for (size_t k : first) {
            firsts.push_back(variants[k]);
            auto g = std::find_if(groups.begin(), groups.end(), [k](const Group& g) { return g.scout == k; });
            if (g != groups.end())  // its run plans its base's forks: persistence points too if they need them
                firsts.back().note_persistence = std::any_of(g->ks.begin(), g->ks.end(), nth);
        }
        execute_all(firsts, how_.jobs, [&](size_t j, RunResult r) { results[first[j]] = std::move(r); });
        how_.stats.from_start += first.size();
        for (const Group& g : groups) {
            RunStream view;
            Picos until = kNever;
            if (!g.scout) {
                view = how_.baseline;
            } else {
                const RunResult& sr = results[*g.scout];
                view = branch_view(sr.stream);
                until = mark_time(view, steps[*g.scout][0].mark);
                const std::string origin = "--fault " + std::to_string(variants[*g.scout].extra_faults.size());
                for (const auto& ev : sr.stream.events)
                    if (ev.kind == EvKind::Fault && arg_value(ev, "rule") == origin) {
                        until = std::min(until, ev.ts);
                        break;
                    }
                if (sr.status == "crashed" || sr.status == "timeout") until = 0;  // nothing known of its base
            }
            std::vector<size_t> ks;
            std::vector<FaultPoint> pts;
            for (size_t k : g.ks) {
                if (g.scout && k == *g.scout) continue;
                if (!before(view, steps[k], until) || (nth(k) && view.persistence.empty() && !g.scout)) {
                    from_start.push_back(k);
                    continue;
                }
                ks.push_back(k);
                pts.push_back(unique[k]->point);
            }
            if (ks.empty()) continue;
            std::vector<size_t> alone;
            PrefixPlan pl = prefix_plan(view, pts, alone);
            std::vector<Scenario> vs;
            for (size_t k : ks) vs.push_back(variants[k]);
            Scenario stem = *unique[ks[0]]->base;
            stem.trace = TraceLevel::Summary;
            auto got = [&](size_t l, RunResult r) { results[ks[l]] = std::move(r); };
            execute_branched(stem, view, pl.steps, pl.members, vs, how_.jobs, got, how_.way);
            execute_branched(stem, view, pl.steps, pl.zygote, vs, how_.jobs, got, how_.way);
            how_.stats.forked += pl.members.size() + pl.zygote.size();
            for (size_t l : alone)
                if (!std::binary_search(pl.zygote.begin(), pl.zygote.end(), l)) from_start.push_back(ks[l]);
        }
        std::sort(from_start.begin(), from_start.end());
    }

    const ShrinkRuns& how_;
};

// Runs every candidate: the first that still shows the finding, with
// what its run showed (what its reproducer expects).
std::optional<size_t> first_showing(const std::vector<RunResult>& runs, size_t from, size_t n, Finding& f) {
    for (size_t k = 0; k < n; ++k)
        if (shows_finding(runs[from + k], f)) {
            f.violations = runs[from + k].violations;
            return k;
        }
    return std::nullopt;
}

// An order finding shrinks to the order nearest the default (one device
// moved) that still shows the same violation - one the graph allows when
// the finding came from one.
std::vector<FaultPoint> order_candidates(const DeviceGraph& graph, const FaultPoint& found) {
    std::vector<FaultPoint> cands;
    for (auto& c : one_move_orders(graph))
        if (c.graph_allows || !found.graph_allows) cands.push_back(std::move(c));
    return cands;
}

// A combination of decisions shrinks to the smallest part of it that still
// shows the finding - each decision alone (fault, order, schedule, timing),
// then two of them together, ... (then it did not need the rest) - else,
// with an order among them, to the order nearest the default (one device
// moved) that still shows it with the others. `parts`: how many of the
// candidates are smaller parts.
std::vector<FaultPoint> cross_candidates(const DeviceGraph& graph, const FaultPoint& found, size_t& parts) {
    const Decisions d = decisions(found);
    std::vector<FaultPoint> cands = smaller_parts(found);
    parts = cands.size();
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
    return cands;
}

// One finding's reproducer shrinking, a trial at a time, so that every
// finding's next trial runs together with the others' (Trials):
// - the scenario file's own fault rules (the first `file_faults` of the
//   variant's plan; the variant's rule comes after): each is left out in
//   turn, from the last, and stays out when the finding still shows without
//   it (the same invariant at the same component);
// - then the workload: each task the scenario runs is left out in turn, and
//   stays out when the finding still shows without it;
// - then the platform's devices: a leaf device the finding does not name
//   (nor the scenario file, nor the fault, nor a mutation among the
//   decisions) is left out in turn, from the last, and stays out when the
//   finding still shows without it; after each removal the list is looked
//   at again from its end.
// What the smaller run showed is what the reproducer expects.
class Shrinking {
public:
    Shrinking(const Scenario& s, const std::string& original, const FaultPoint& found, Finding& f)
        : original_(original), found_(found), f_(f), current_(s), fault_(s.faults.faults.size()) {
        const std::string mutation = decisions(found).mutation;
        if (!mutation.empty()) mutated_ = devices_running(s, mutation.substr(7, mutation.find(':') - 7));
        devices_ = current_.platform.devices.size();
    }

    // The next trial (its scenario held until the result), or none: done.
    std::optional<Trial> next() {
        trial_ = current_;
        if (stage_ == 0) {
            if (fault_ > 0) {
                --fault_;
                trial_.faults.faults.erase(trial_.faults.faults.begin() + long(fault_));
                return Trial{key_ + "f" + std::to_string(fault_) + ",", &trial_, found_};
            }
            stage_ = 1;
        }
        if (stage_ == 1) {
            const auto& tasks = workload_tasks();
            for (; task_ < tasks.size(); ++task_)
                if (tasks[task_].present(current_)) {
                    tasks[task_].remove(trial_);
                    return Trial{key_ + "w" + std::to_string(task_) + ",", &trial_, found_};
                }
            stage_ = 2;
        }
        if (stage_ == 2 && pass_ < devices_) {
            const auto& devs = current_.platform.devices;
            for (; from_end_ < devs.size(); ++from_end_) {
                const size_t i = devs.size() - 1 - from_end_;
                if (!removable(devs[i])) continue;
                trial_.platform.devices.erase(trial_.platform.devices.begin() + long(i));
                return Trial{key_ + "d" + devs[i].name + ",", &trial_, found_};
            }
        }
        stage_ = 3;
        return std::nullopt;
    }

    void result(const Trial& t, const RunResult& r) {
        const bool shows = shows_finding(r, f_);
        if (stage_ == 0) {
            if (shows) f_.faults_removed.insert(f_.faults_removed.begin(), fault_);
        } else if (stage_ == 1) {
            const WorkloadTask& w = workload_tasks()[task_++];
            if (shows) f_.workload_removed.push_back({w.task, w.key, w.value});
        } else {
            const auto& devs = current_.platform.devices;
            if (shows) {
                f_.devices_removed.push_back(devs[devs.size() - 1 - from_end_].name);
                ++pass_;  // the list changed: look again from its end
                from_end_ = 0;
            } else {
                ++from_end_;
            }
        }
        if (!shows) return;
        f_.violations = r.violations;
        current_ = std::move(trial_);
        key_ = t.key;
    }

private:
    bool mentioned(const std::string& name) const {
        return original_.find(name) != std::string::npos || found_.rule.find(name) != std::string::npos ||
               std::find(mutated_.begin(), mutated_.end(), name) != mutated_.end() || f_.sig.component == name ||
               f_.sig.component.rfind(name + ".", 0) == 0;
    }
    bool removable(const DeviceSpec& d) const {
        const auto& devs = current_.platform.devices;
        bool leaf = std::none_of(devs.begin(), devs.end(), [&](const DeviceSpec& o) { return o.parent == d.name; });
        bool linked = std::any_of(current_.platform.links.begin(), current_.platform.links.end(),
                                  [&](const LinkSpec& l) { return l.supplier == d.name || l.consumer == d.name; });
        return d.type != "pci-host" && leaf && !linked && !mentioned(d.name) && !(d.has_disk() && mentioned(d.disk));
    }

    const std::string& original_;
    FaultPoint found_;
    Finding& f_;
    std::vector<std::string> mutated_;
    Scenario current_, trial_;  // what is left (without the variant's decisions), and the trial from it
    std::string key_;           // what shrinking left out of the scenario to make `current_`
    int stage_ = 0;             // the file's faults, the workload, the devices, done
    size_t fault_, task_ = 0;
    size_t devices_ = 0, pass_ = 0, from_end_ = 0;
};

}  // namespace

void shrink_decisions(const Scenario& s, const DeviceGraph& graph, std::vector<FaultPoint>& points,
                      std::map<Signature, Finding>& findings, const ShrinkRuns& how) {
    // Every finding's candidates run together.
    struct Asked {
        Finding* f;
        size_t from, n, parts;
        std::vector<FaultPoint> cands;
        bool order;
    };
    std::vector<Asked> asked;
    std::vector<Trial> trials;
    for (auto& [sig, f] : findings) {
        const FaultPoint& found = points[f.first_variant];
        Asked a{&f, trials.size(), 0, 0, {}, sig.kind == "order"};
        if (a.order) a.cands = order_candidates(graph, found);
        else if (combined(found)) a.cands = cross_candidates(graph, found, a.parts);
        else continue;
        a.n = a.cands.size();
        for (const auto& c : a.cands) trials.push_back({"", &s, c});
        asked.push_back(std::move(a));
    }
    if (asked.empty()) return;
    const std::vector<RunResult> runs = Trials(how).run(trials);
    for (Asked& a : asked) {
        std::optional<size_t> k = first_showing(runs, a.from, a.n, *a.f);
        if (!k) continue;
        if (a.order) a.f->shrunk = a.cands[*k].rule;
        else if (*k >= a.parts) a.f->shrunk = decisions(a.cands[*k]).order;
        points.push_back(a.cands[*k]);
        a.f->first_variant = points.size() - 1;
    }
}

void shrink_for_reproducers(const Scenario& s, const std::vector<FaultPoint>& points,
                            std::map<Signature, Finding>& findings, const ShrinkRuns& how) {
    const std::string original = read_text(s.file);
    std::vector<std::unique_ptr<Shrinking>> all;
    for (auto& [sig, f] : findings) all.push_back(std::make_unique<Shrinking>(s, original, points[f.first_variant], f));
    Trials runner(how);
    // A round: each finding still shrinking asks its next trial, all run together.
    for (;;) {
        std::vector<Trial> trials;
        std::vector<Shrinking*> asking;
        for (auto& sh : all)
            if (std::optional<Trial> t = sh->next()) {
                trials.push_back(std::move(*t));
                asking.push_back(sh.get());
            }
        if (trials.empty()) break;
        const std::vector<RunResult> runs = runner.run(trials);
        for (size_t i = 0; i < trials.size(); ++i) asking[i]->result(trials[i], runs[i]);
    }
}

}  // namespace quiesce
