// quiesce explore: the baseline, the variants run (shared prefixes forked), their findings, the report.
#include "sim/cli/commands.h"
#include "sim/cli/terminal.h"
#include "sim/cli/junit.h"

#include "sim/core/errors.h"
#include "sim/explore/findings.h"
#include "sim/explore/interleavings.h"
#include "sim/scenario/executor.h"
#include "sim/trace/trace_db.h"

#include <fmt/format.h>

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

namespace fs = std::filesystem;

namespace quiesce {

namespace {

struct OutOfTime {};  // thrown from a result handler when the wall-time budget is spent

struct Cell {
    size_t tried = 0, fired = 0, violating = 0;
    void add(bool f, bool v) {
        ++tried;
        fired += f;
        violating += v;
    }
    std::string text() const { return fmt::format("{}/{}{}", fired, tried, violating ? "!" : ""); }
};
// What was tried: per phase and kind; faults placed at a device, per kind,
// phase and device; power loss at persistence points, per drive; every
// order; faults under other orders.
struct Coverage {
    std::map<std::string, std::map<std::string, Cell>> cells;  // phase -> kind
    std::map<std::string, std::map<std::string, std::map<std::string, Cell>>> devices;  // kind -> phase -> device
    std::map<std::string, Cell> drives;
    std::vector<std::pair<std::string, bool>> orders;  // what the order changes, whether it broke something
    std::map<std::string, Cell> products;              // combinations, per product of axes (--cross)
    std::map<std::string, size_t> products_new;        // ... runs with a violation no part of them showed
    Interleavings interleavings;  // which callbacks ran at the same time, on which cores
};

void print_report(const ExploreOptions& o, const ExplorePlan& plan, const std::vector<FaultPoint>& points,
                  size_t fault_count, const std::map<Signature, Finding>& findings, Coverage& coverage,
                  const std::vector<std::string>& phase_order, size_t done, size_t crashed, double secs) {
    std::printf("\n%zu variants in %.2fs (%.1f runs/s)%s\n", done, secs, secs > 0 ? double(done) / secs : 0.0,
                crashed ? fmt::format(", {} crashed or timed out", crashed).c_str() : "");
    std::fputs(findings_text(points, findings, [](const Finding& f) { return fmt::format("first run {}", f.first_run); })
                   .c_str(),
               stdout);
    if (plan.order_count + plan.schedule_count + plan.timing_count > 0) {
        size_t tried = 0, broke = 0;
        for (const auto& [ph, kinds] : coverage.cells)
            for (const auto& [k, cell] : kinds)
                if (whole_run_kind(k) && k != "mutation") {
                    tried += cell.tried;
                    broke += cell.violating;
                }
        std::printf("\norders, schedules and timings: %zu tried, %zu with a new violation\n", tried, broke);
    }
    const size_t shown = 20;
    for (size_t i = 0; i < coverage.orders.size() && i < shown; ++i)
        std::printf("  order: %s%s\n", coverage.orders[i].first.c_str(), coverage.orders[i].second ? "  !" : "");
    if (coverage.orders.size() > shown) std::printf("  ... and %zu more orders\n", coverage.orders.size() - shown);
    // How much of the concurrency the orders, schedules and timings moved.
    if (points.size() > fault_count) std::fputs(coverage.interleavings.text().c_str(), stdout);
    if (plan.timing_count)
        std::printf("timings: %zu seeds, every varied latency within +-%u%% (minimum delays only longer), kworker "
                    "wake-ups 0 to each core's idle_exit_us (docs/exploring.md)\n"
                    "  varied: software steps' CPU cost, ACPI methods, DMA beats and commands, interrupt entry, xHCI "
                    "and USB, drive commands and spin-up; only longer: PCI power-state delays, config-restore retries, "
                    "driver poll intervals, firmware POST and S3 resume; same-time events in a seeded order\n",
                    plan.timing_count, o.jitter);
    // Each product of axes: how much of it ran (a budget or shard cuts it), fired, found something new.
    for (const auto& [axes, size] : plan.products) {
        const Cell& c = coverage.products[axes];
        std::printf("%s: %zu of %zu tried, %zu fired, %zu with a violation no part of them showed alone\n",
                    axes.c_str(), c.tried, size, c.fired, coverage.products_new[axes]);
    }
    if (o.kinds.empty()) return;
    // Coverage: fired/tried per phase and kind, "!" when a new violation showed.
    std::printf("\ncoverage (fired/tried per phase and fault kind; ! = a new violation)\n");
    std::printf("  %-24s", "phase");
    for (const auto& k : o.kinds) std::printf(" %-*s", int(std::max<size_t>(k.size(), 7)), k.c_str());
    std::printf("\n");
    for (const auto& ph : phase_order) {
        if (!coverage.cells.count(ph)) continue;
        std::printf("  %-24s", ph.c_str());
        for (const auto& k : o.kinds) {
            auto it = coverage.cells[ph].find(k);
            std::string cell = it == coverage.cells[ph].end() ? "-" : it->second.text();
            std::printf(" %-*s", int(std::max<size_t>(k.size(), 7)), cell.c_str());
        }
        std::printf("\n");
    }
    // The faults placed at a device, device by device.
    for (auto& [kind, phases] : coverage.devices) {
        std::vector<std::string> devices;
        for (const auto& [ph, cells] : phases)
            for (const auto& [dev, cell] : cells)
                if (std::find(devices.begin(), devices.end(), dev) == devices.end()) devices.push_back(dev);
        std::printf("\n%s by device (fired/tried; ! = a new violation)\n  %-24s", kind.c_str(), "phase");
        for (const auto& d : devices) std::printf(" %-7s", d.c_str());
        std::printf("\n");
        for (const auto& ph : phase_order) {
            if (!phases.count(ph)) continue;
            std::printf("  %-24s", ph.c_str());
            for (const auto& d : devices) {
                auto it = phases[ph].find(d);
                std::printf(" %-7s", it == phases[ph].end() ? "-" : it->second.text().c_str());
            }
            std::printf("\n");
        }
    }
    for (const auto& [drive, cell] : coverage.drives)
        std::printf("\npower loss after each persistence point of %s: %s (fired/tried; ! = a new violation)\n",
                    drive.c_str(), cell.text().c_str());
}

}  // namespace

int cmd_explore(const std::string& file, ExploreOptions o, std::string db_path, const std::string& out_dir,
                const std::string& junit) {
    const auto began = std::chrono::steady_clock::now();  // a wall-time budget counts from here
    Scenario s = load_scenario(file);
    preflight(s);
    if (!out_dir.empty()) check_out_files(local_files(s, out_dir));  // before anything runs
    if (std::string w = earlier_reproducers_warning(out_dir); !w.empty()) std::fprintf(stderr, "%s\n", w.c_str());
    settle_explore_options(o, s);
    TraceLevel variant_trace;
    if (!parse_trace_level(o.trace, variant_trace))
        throw InputError("--trace: must be summary, events or bus, got '" + o.trace + "'");
    if (db_path.empty()) db_path = default_db_name();
    TraceDb db(db_path);
    db.begin_campaign(command_line(), {file}, -1);  // its size is known once the variants are
    std::printf("trace database: %s\n", db_path.c_str());
    JunitReport report(junit, "quiesce explore " + s.name);
    report.update({}, "the baseline and the variants", true);

    // The baseline: what the scenario goes through without a new fault (and,
    // outside its trace, when the drives' persistence points come).
    Scenario noted = s;
    noted.note_persistence = o.persistence > 0;
    RunResult base = execute(noted);
    int64_t base_id = db.record(run_meta(s, base), base.stream);
    const std::vector<Seen> base_seen = violations_seen(base.stream);
    std::set<Seen> known(base_seen.begin(), base_seen.end());
    std::string base_ids;
    for (const auto& v : base.violations) base_ids += (base_ids.empty() ? "" : ", ") + v;
    std::printf("baseline: run %lld, outcome %s, %s\n", static_cast<long long>(base_id),
                base.stream.summary.outcome.c_str(), base_ids.empty() ? "no violation" : ("violations: " + base_ids).c_str());

    ExplorePlan plan = plan_exploration(base.stream, o, s);
    const DeviceGraph& graph = plan.graph;
    std::vector<FaultPoint>& points = plan.points;
    const size_t fault_count = plan.fault_count, cross_count = points.size() - plan.single_count;
    std::vector<size_t> picks = pick_variants(points.size(), o);
    db.set_planned(int64_t(1 + picks.size()));  // the baseline and the variants
    // Each variant made when it runs, not held (docs/performance.md,
    // "Variants made when run"); every one has the scenario's limits.
    const ScenarioSource variants(
        picks.size(),
        [&](size_t k) {
            Scenario v = variant_of(s, points[picks[k]]);
            v.trace = variant_trace;  // replay reads it back from the run
            // With orders, schedules or timings, the report says which contexts
            // ran at the same time (outside the digest: replay is unchanged).
            v.note_contexts = points.size() > fault_count;
            return v;
        },
        run_limits(s));
    // Prefix sharing: variants that only differ from a point on (a phase, a
    // persistence point, the first callback phase for an order) share the
    // run up to there and fork; the others run from the start.
    std::vector<FaultPoint> vpoints;
    for (size_t i : picks) vpoints.push_back(points[i]);
    std::vector<size_t> alone;
    // The prefix run's plan over the baseline (steps per variant: index
    // into `variants`), and the variants it forks.
    struct Group {
        Scenario stem;
        RunStream run;
        std::vector<size_t> members;
        std::vector<Fork> root;
        std::vector<size_t> zygote;  // of `alone`: forked at time 0 from its stem's platform, built once
    };
    std::vector<std::vector<Choice>> steps(variants.size());
    Group plain_group;
    // Variants under a driver mutation fork from the mutant's own run, which
    // differs from the baseline's wherever the mutated driver runs first:
    // a prefix run of the mutated scenario per mutation that two or more
    // variants follow, branched at their sites in a scout run of it (a run
    // of that same scenario from the start).
    std::vector<Group> groups;
    if (o.prefix) {
        std::vector<size_t> plain;
        std::map<std::string, std::vector<size_t>> by_mutation;
        for (size_t k = 0; k < vpoints.size(); ++k) {
            const std::string rule = decisions(vpoints[k]).mutation;
            if (rule.empty()) plain.push_back(k);
            else by_mutation[rule].push_back(k);
        }
        // A sub-list's plan, its indices back to the variants'.
        auto sub = [&](const std::vector<size_t>& ks, const RunStream& stream, bool strip, Group& g) {
            std::vector<FaultPoint> pts;
            for (size_t k : ks) pts.push_back(strip ? without_mutation(vpoints[k]) : vpoints[k]);
            std::vector<size_t> local;
            PrefixPlan pl = prefix_plan(stream, pts, local);
            for (size_t l : local) alone.push_back(ks[l]);
            for (size_t l : pl.zygote) g.zygote.push_back(ks[l]);
            for (size_t l = 0; l < ks.size(); ++l) steps[ks[l]] = std::move(pl.steps[l]);
            for (size_t l : pl.members) g.members.push_back(ks[l]);
            for (Fork& f : pl.root) {
                if (f.alone) f.alone = ks[*f.alone];
                for (size_t& m : f.members) m = ks[m];
                g.root.push_back(std::move(f));
            }
        };
        plain_group.stem = s;  // records what the variants record
        plain_group.stem.trace = variant_trace;
        plain_group.stem.note_contexts = points.size() > fault_count;  // the forked variants' runs go on from it
        // The prefix run plans from the baseline's branch view, not a copy of
        // the whole run recorded at the file's level (the forks are the same).
        plain_group.run = branch_view(base.stream);
        sub(plain, plain_group.run, false, plain_group);
        for (const auto& [rule, ks] : by_mutation) {
            std::vector<size_t> followers;  // the mutant's own variant runs from the start
            for (size_t k : ks)
                if (combined(vpoints[k])) followers.push_back(k);
                else alone.push_back(k);
            if (followers.size() < 2) {
                alone.insert(alone.end(), followers.begin(), followers.end());
                continue;
            }
            Group g{variant_of(s, FaultPoint{rule, "mutation", "", mutation_text(rule)}), {}, {}, {}, {}};
            g.stem.trace = variant_trace;
            g.stem.note_contexts = points.size() > fault_count;
            Scenario scout = g.stem;
            scout.note_persistence = o.persistence > 0;
            g.run = execute(scout).stream;
            sub(followers, g.run, true, g);
            if (!g.members.empty() || !g.zygote.empty()) groups.push_back(std::move(g));
        }
        std::sort(alone.begin(), alone.end());
    } else {
        for (size_t k = 0; k < variants.size(); ++k) alone.push_back(k);
    }
    // The baseline is recorded and planned from: every process forked from
    // here on (the prefix runs and theirs, the variants) would inherit its
    // events - a million on a busy machine - and copy their page tables at
    // each fork. Its memory goes back before they start.
    ShrinkRuns shrink_runs{o.jobs, o.prefix, branch_view(base.stream), {}, o.way};  // shrinking forks from it too
    base.stream = RunStream{};
    ::malloc_trim(0);
    // The header counts the prefix runs' own forks: where they branch, and
    // the variants that fork again from the stems they fork.
    size_t stems = 0, followers = 0, branch_points = 0, plain_points = 0;
    auto count = [&](const Group& g) {
        std::set<Picos> at;
        for (const Fork& f : g.root) {
            at.insert(f.at);
            if (f.stem) {
                ++stems;
                followers += f.members.size();
            }
        }
        branch_points += at.size();
        return at.size();
    };
    plain_points = count(plain_group);
    for (const auto& g : groups) count(g);
    size_t zygote_count = plain_group.zygote.size();
    for (const auto& g : groups) zygote_count += g.zygote.size();
    std::string budget_text = o.budget     ? fmt::format(", budget {}", o.budget)
                              : o.budget_s ? fmt::format(", budget {}s", o.budget_s)
                                           : "";
    std::string sharing;
    if (o.prefix) {
        sharing = fmt::format(", prefix sharing ({} forked at {} branch point{}", variants.size() - alone.size(),
                              branch_points, branch_points == 1 ? "" : "s");
        const size_t mutants_forking = size_t(
            std::count_if(groups.begin(), groups.end(), [](const Group& g) { return !g.members.empty(); }));
        if (mutants_forking)
            sharing += fmt::format(" ({} of them in the runs of {} mutant{})", branch_points - plain_points,
                                   mutants_forking, mutants_forking == 1 ? "" : "s");
        if (stems)
            sharing += fmt::format(", {} of them again from {} stem{}", followers, stems, stems == 1 ? "" : "s");
        sharing += fmt::format(", {} from the start", alone.size());
        if (zygote_count)
            sharing += fmt::format(" ({} of them forked at time 0 from a platform built once)", zygote_count);
        sharing += ")";
    }
    std::string products;
    for (const auto& [axes, size] : plan.products) products += fmt::format("{}{} {}", products.empty() ? "" : ", ", axes, size);
    std::string mutants;
    if (!o.mutate.empty()) mutants = fmt::format(", mutations: {} ({})", plan.mutation_count, o.mutate);
    std::printf("fault points: %zu (%zu kinds), orders, schedules and timings: %zu%s%s; this run: %zu variants (%s%s, shard %u/%u), %u %s%s\n",
                fault_count, o.kinds.size(), points.size() - fault_count - cross_count - plan.mutation_count,
                mutants.c_str(), o.cross ? fmt::format(", combinations: {} ({})", cross_count, products).c_str() : "", picks.size(),
                o.strategy.c_str(), budget_text.c_str(), o.shard, o.shards,
                o.jobs, o.jobs == 1 ? "job" : "jobs", sharing.c_str());
    std::fflush(stdout);

    FindingSet found(known);
    std::map<Signature, Finding>& findings = found.findings;
    Coverage coverage;
    std::vector<std::string> phase_order;
    for (const auto& p : points)
        if (!p.phase.empty() && std::find(phase_order.begin(), phase_order.end(), p.phase) == phase_order.end())
            phase_order.push_back(p.phase);
    const bool tty = ::isatty(STDOUT_FILENO);
    auto start = std::chrono::steady_clock::now();
    size_t done = 0, crashed = 0;
    std::set<size_t> ran_points;             // the points whose variants ran
    std::vector<JunitCase> cases;            // --junit: a testcase per variant, as recorded
    std::map<size_t, size_t> case_of_point;  // point -> its testcase
    auto on_result = [&](size_t k, RunResult r) {
        const Scenario v = variants[k];
        const FaultPoint& p = points[picks[k]];
        int64_t run_id = db.record(run_meta(v, r), r.stream);
        std::string origin = "--fault " + std::to_string(v.extra_faults.size());
        bool whole_run = whole_run_kind(p.kind);
        bool fired = whole_run;
        for (const auto& ev : r.stream.events)
            fired |= ev.kind == EvKind::Fault && arg_value(ev, "rule") == origin;
        std::string first_new;  // the first violation beyond the baseline's, in one line
        std::vector<Seen> seen;
        for (const auto& ev : r.stream.events) {
            if (ev.kind != EvKind::Violation) continue;
            seen.push_back({ev.name, ev.phase, ev.track});
            if (first_new.empty() && !known.count(seen.back()))
                first_new = fmt::format("{}{} at {}: {}", ev.name, ev.phase.empty() ? "" : " in " + ev.phase, ev.track,
                                        arg_value(ev, "message"));
        }
        const bool violating = found.add(points, picks[k], run_id, seen, r.violations);
        ran_points.insert(picks[k]);
        if (points.size() > fault_count) coverage.interleavings.add(r.stream);  // (only reported then)
        if (r.status == "crashed" || r.status == "timeout") ++crashed;
        const bool many = combined(p);
        if (many) coverage.products[axes_of(p)].add(fired, violating);
        else if (p.nth) coverage.drives[p.device].add(fired, violating);
        else coverage.cells[p.phase][p.kind].add(fired, violating);
        if (!many && !p.nth && !p.device.empty() && !whole_run)
            coverage.devices[p.kind][p.phase][p.device].add(fired, violating);
        if (p.kind == "order" && !many) coverage.orders.push_back({p.device + " (" + p.rule + ")", violating});
        if (!junit.empty()) {
            JunitCase c;
            c.classname = "explore." + s.name;
            c.name = decision_text(p);
            c.file = s.file;
            c.time_s = r.wall_s;
            bool died = r.status == "crashed" || r.status == "timeout";
            c.status = died ? r.status : violating ? "failed" : "passed";
            c.message = died ? r.message : violating ? "new violation: " + first_new : "";
            c.properties = {{"random_seed", std::to_string(s.seed)}, {"trace_db", db_path},
                            {"run_id", std::to_string(run_id)},     {"digest", fmt::format("{:016x}", r.stream.digest)},
                            {"kind", combined_kind(p)},             {"fired", fired ? "yes" : "no"}};
            if (!p.phase.empty()) c.properties.push_back({"phase", p.phase});
            if (!p.device.empty()) c.properties.push_back({"device", p.device});
            case_of_point[picks[k]] = cases.size();
            cases.push_back(std::move(c));
        }
        ++done;
        if (done < variants.size())
            report.update(cases, fmt::format("{} of {} variants", variants.size() - done, variants.size()));
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::string line = fmt::format("[{}/{}] {:.1f} runs/s, {} distinct violation(s)", done, variants.size(),
                                       secs > 0 ? double(done) / secs : 0.0, findings.size());
        if (tty) {  // a pipe gets no progress, as from `run`: the findings follow at the end
            std::printf("\r\033[K%s", fit_terminal(line).c_str());
            std::fflush(stdout);
        }
        // Out of wall time: the runs still going are stopped (the pool kills
        // its children, and theirs die with them), the rest never start.
        const double spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
        if (o.budget_s > 0 && spent >= o.budget_s) throw OutOfTime{};
    };
    // The variants from time 0 are recorded after the others, in their
    // order (`alone`), whether forked from a zygote or run from the start.
    std::map<size_t, RunResult> held;
    size_t next_alone = 0;
    auto hold = [&](size_t k, RunResult r) {
        held.emplace(k, std::move(r));
        for (auto it = held.end(); next_alone < alone.size() && (it = held.find(alone[next_alone])) != held.end();
             ++next_alone) {
            RunResult ready = std::move(it->second);
            held.erase(it);
            on_result(alone[next_alone], std::move(ready));
        }
    };
    bool out_of_time = false;
    try {
        if (!plain_group.members.empty())
            execute_branched(plain_group.stem, plain_group.run, steps, plain_group.members, variants, o.jobs, on_result, o.way);
        for (const Group& g : groups)
            if (!g.members.empty()) execute_branched(g.stem, g.run, steps, g.members, variants, o.jobs, on_result, o.way);
        // The zygotes: each group's scenario built once, paused at time 0,
        // forked there for each of its variants from time 0.
        std::set<size_t> forked;
        if (!plain_group.zygote.empty())
            execute_branched(plain_group.stem, plain_group.run, steps, plain_group.zygote, variants, o.jobs, hold, o.way);
        forked.insert(plain_group.zygote.begin(), plain_group.zygote.end());
        for (const Group& g : groups) {
            if (!g.zygote.empty()) execute_branched(g.stem, g.run, steps, g.zygote, variants, o.jobs, hold, o.way);
            forked.insert(g.zygote.begin(), g.zygote.end());
        }
        std::vector<size_t> rest_of;
        for (size_t k : alone)
            if (!forked.count(k)) rest_of.push_back(k);
        const ScenarioSource rest(
            rest_of.size(), [&](size_t j) { return variants[rest_of[j]]; }, run_limits(s));
        execute_all(rest, o.jobs, [&](size_t j, RunResult r) { hold(rest_of[j], std::move(r)); });
    } catch (const OutOfTime&) {
        out_of_time = true;
    }
    if (tty) std::printf("\r\033[K");
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    coverage.products_new = found.judge_pairs(points);

    const size_t explored_points = points.size();
    const std::string score = mutation_score_text(points, explored_points, found.fresh, ran_points);
    // Shrinking would run on past the budget: then the reproducers are the runs found.
    if (!out_of_time && !findings.empty()) report.update(cases, "the findings' shrinking", true);
    if (!out_of_time) shrink_decisions(s, graph, points, findings, shrink_runs);
    // Only a reproducer shows the shrunk workload and platform.
    if (!out_dir.empty() && !out_of_time) shrink_for_reproducers(s, points, findings, shrink_runs);
    if (!out_dir.empty()) {
        size_t numbered = 0;
        write_out_files(reproducer_files(out_dir, s, points, explored_points, findings, numbered));
    }
    if (out_of_time)
        std::printf("\nstopped at the wall-time budget of %gs: %zu of %zu variants ran (the first in their order; findings "
                    "not shrunk)\n",
                    o.budget_s, done, variants.size());
    print_report(o, plan, points, fault_count, findings, coverage, phase_order, done, crashed, secs);
    std::fputs(score.c_str(), stdout);
    if (!junit.empty()) {
        for (const auto& [sig, f] : findings)  // where each finding's reproducer went
            if (auto it = case_of_point.find(f.found_variant); it != case_of_point.end() && !f.reproducer.empty())
                cases[it->second].properties.push_back({"reproducer", f.reproducer});
        report.finish(cases);
    }
    db.end_campaign("finished");
    return findings.empty() ? 0 : 1;
}

void check_out_files(const std::vector<OutFile>& files) {
    std::map<std::string, const OutFile*> copies;
    for (const OutFile& f : files) {
        if (f.from.empty()) continue;
        const auto [at, fresh] = copies.emplace(f.path, &f);
        if (!fresh && at->second->content != f.content)
            throw InputError(f.path, 0, 0, "--out",
                             fmt::format("two scenarios' local files of one name, {} and {}, differ: explore them "
                                         "into separate --out folders",
                                         at->second->from, f.from));
        if (!fresh || path_kind(f.path) == PathKind::Missing) continue;
        bool same = false;  // an unreadable file is not the copy
        try {
            same = read_text(f.path) == f.content;
        } catch (const InputError&) {
        }
        if (!same)
            throw InputError(f.path, 0, 0, "--out",
                             fmt::format("already there, and not a copy of {}: the reproducers beside it would load it "
                                         "instead (give another --out)",
                                         f.from));
    }
}

void write_out_files(const std::vector<OutFile>& files) {
    check_out_files(files);
    for (const OutFile& f : files) {
        const fs::path dir = fs::path(f.path).parent_path();
        if (!dir.empty()) fs::create_directories(dir);
        write_file_atomically(f.path, f.content);
    }
}

}  // namespace quiesce
