// Benchmark of `quiesce explore`'s execution, as ratios against a floor
// measured in the same run (tests never assert on wall time):
//   - the bare fork floor: empty children through the same pool, -j 2;
//   - re-running every variant from the start, -j 2;
//   - prefix sharing: one run forks each variant where it starts to differ
//     (a phase, a persistence point), each child sends only what follows,
//     and the parent decodes the shared part once, -j 2.
// Five sweeps: the default platform's S3 scenario with callback-fail and
// power-loss at every phase and device; a 100-point CrashMonkey sweep of
// the S4 scenario (a power loss after each of the first 100 persistence
// points of its drive); power loss at every phase and after each
// persistence point of a busy machine (s4-storage-busy: disk and DMA
// traffic before the transition - most of a run's cost, which every
// variant shares - 104 points); and orders x faults on the S3 storage
// scenario (callback-fail and power-loss at every phase and device under
// every other order the graph allows: each order's stem forks its faults
// again); and the same faults combined with those orders and 3 timings
// (every product of two or three axes, as explore --cross makes it: a
// timing's stem forks at time 0, each order's stem under it at the first
// callback phase of its run); and that composition on the busy machine
// (cpu-offline-failure, every other order, 3 timings: 71 variants), where
// what comes before the first callback phase is most of a run. Variants record at trace level summary and are judged, not
// written to a database. Each way also prints its CPU time (parent and
// children) and minor page faults per variant, against the empty child's.
// The two sweeps with timings run the prefix sharing way once more noting
// which contexts ran at the same time (Scenario::note_contexts, as
// explore's variants do with orders, schedules or timings).
// A seventh sweep runs 30 PCT schedules and 30 timings of s3-basic, each
// alone: whole runs from time 0, which prefix sharing forks from the
// zygote (the scenario's platform built once, paused at time 0).
// Sweeps 8 and 9 measure the shrinking `explore --out` does after the
// phase sweep of s3-basic and the busy power-loss sweep: re-running every
// trial against prefix sharing (shrink_sweep).
// Give a scenario file to measure the phase sweep of that one instead, or
// `--sweeps 1,3` to run only those sweeps (numbered from 1 as above).
// The prefix sharing way runs as explore does: the prefix run's forks, the
// zygote's, and the rest from the start.
#include "bench/bench_util.h"
#include "sim/core/heap_arena.h"
#include "sim/explore/explore.h"
#include "sim/explore/findings.h"
#include "sim/scenario/fork_runner.h"
#include "sim/scenario/executor.h"
#include "sim/scenario/platform.h"

#include <fmt/format.h>


#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <tuple>
#include <string>

using namespace quiesce;
using namespace quiesce::bench;

int sc_main(int, char**) { return 2; }

namespace {

// Runs the variants of `points` both ways; returns whether every digest
// agreed. With `persistence`, the points after each persistence point -
// alone, or with the phase points too (`phase_points`).
bool sweep(const std::string& what, const std::string& path, const std::vector<std::string>& kinds,
           size_t persistence, bool phase_points = true, bool cross = false, size_t timings = 0,
           size_t zero = 0) {
    const unsigned jobs = 2;
    Scenario s = load_scenario(path);
    s.trace = TraceLevel::Summary;
    Scenario noted = s;
    noted.note_persistence = persistence > 0;
    RunResult base = execute(noted);
    std::vector<std::string> drives;
    for (const auto& d : s.platform.devices)
        if (d.type == "ahci" || d.type == "usb-storage") drives.push_back(d.disk);
    std::vector<FaultPoint> points = fault_points(base.stream, kinds, drives, persistence);
    if (persistence && !phase_points) {  // the persistence points alone
        std::vector<FaultPoint> kept;
        for (auto& p : points)
            if (p.nth) kept.push_back(std::move(p));
        points = std::move(kept);
    }
    if (cross || timings) {
        std::vector<FaultPoint> orders;
        if (cross) orders = order_points(build_graph(s.platform), true, false, 10'000);
        points = cross_points(points, orders, {}, timing_points(timings, 20));
    }
    if (zero) {  // PCT schedules and timings alone: each a whole run of its own from time 0
        points = pct_points(zero, 3, 20'000);
        for (auto& p : timing_points(zero, 20)) points.push_back(std::move(p));
    }
    std::vector<Scenario> variants;
    for (const auto& p : points) {
        variants.push_back(variant_of(s, p));
        variants.back().trace = TraceLevel::Summary;
    }
    size_t n = variants.size();

    Usage u = Usage::now();
    auto t = Clock::now();
    run_forked_pool(n, jobs, [](size_t, int) {}, [](size_t) { return 10.0; }, [](size_t, ChildResult) {});
    double floor_s = seconds_since(t);
    auto [floor_cpu, floor_faults] = Usage::now().since(u, n);

    std::vector<std::string> digests_rerun(n), digests_prefix(n);
    u = Usage::now();
    t = Clock::now();
    execute_all(variants, jobs, [&](size_t i, RunResult r) { digests_rerun[i] = std::to_string(r.stream.digest); });
    double rerun_s = seconds_since(t);
    auto [rerun_cpu, rerun_faults] = Usage::now().since(u, n);

    std::vector<size_t> alone;
    PrefixPlan plan = prefix_plan(base.stream, points, alone);
    std::vector<size_t> rest_of;  // the variants no prefix is shared with: re-run
    for (size_t k : alone)
        if (!std::binary_search(plan.zygote.begin(), plan.zygote.end(), k)) rest_of.push_back(k);
    // The prefix sharing way from `stem` for `vs`: the branched variants,
    // those forked from the zygote (a pause's variants each forked, or run
    // in turn by workers that roll back: `way`), and the rest re-run; each
    // result to `got` by its index.
    auto prefix_way = [&](const Scenario& stem, const std::vector<Scenario>& vs,
                          const std::function<void(size_t, RunResult)>& got, Branching way) {
        execute_branched(stem, base.stream, plan.steps, plan.members, vs, jobs, got, way);
        execute_branched(stem, base.stream, plan.steps, plan.zygote, vs, jobs, got, way);
        std::vector<Scenario> rest;
        for (size_t k : rest_of) rest.push_back(vs[k]);
        execute_all(rest, jobs, [&](size_t j, RunResult r) { got(rest_of[j], std::move(r)); });
    };
    // Each prefix sharing way runs in a child of its own, so that none
    // inherits the heap the ways before it left in this process (a forked
    // variant's copy-on-write faults follow it); its digests, the
    // contexts noted and the first variant lost come back through its pipe.
    struct Way {
        std::vector<std::string> digests;
        size_t pairs = 0;
        std::string lost;
        double wall_s = 0, cpu = 0, faults = 0;
    };
    auto measured = [&](const Scenario& stem, const std::vector<Scenario>& vs, Branching way) {
        Way w;
        const Usage u0 = Usage::now();
        const auto t0 = Clock::now();
        ChildResult c = run_forked(
            [&](int fd) {
                heap_arena::leave();  // a parent of runs, as explore's own process: glibc's heap
                std::vector<std::string> d(n);
                size_t pairs = 0;
                std::string lost;
                prefix_way(stem, vs,
                           [&](size_t i, RunResult r) {
                               d[i] = std::to_string(r.stream.digest);
                               pairs += r.stream.contexts.size();
                               if (r.status != "passed" && r.status != "failed" && lost.empty())
                                   lost = r.status + ": " + r.message;
                           },
                           way);
                std::string out;
                for (const auto& x : d) out += x + "\n";
                out += std::to_string(pairs) + "\n" + lost;
                write_all(fd, out);
            },
            RunLimits(1e6));
        w.wall_s = seconds_since(t0);
        std::tie(w.cpu, w.faults) = Usage::now().since(u0, n);
        size_t at = 0;
        for (size_t i = 0; i <= n; ++i) {
            const size_t nl = c.output.find('\n', at);
            if (nl == std::string::npos) break;
            if (i < n) w.digests.push_back(c.output.substr(at, nl - at));
            else w.pairs = std::stoul(c.output.substr(at, nl - at));
            at = nl + 1;
        }
        if (w.digests.size() != n) w.lost = "the measuring child failed: " + c.error_tail;
        else if (at < c.output.size()) w.lost = c.output.substr(at);
        w.digests.resize(n);
        return w;
    };
    const Way forked = measured(s, variants, Branching::Fork);
    digests_prefix = forked.digests;
    const double prefix_s = forked.wall_s, prefix_cpu = forked.cpu, prefix_faults = forked.faults;

    // With timings (orders, schedules or timings are explored), explore's
    // variants also note which contexts ran at the same time: the prefix
    // sharing way again with that on, its digests the same.
    double noted_s = 0, noted_cpu = 0;
    size_t noted_same = 0, noted_pairs = 0;
    if (timings) {
        Scenario stem = s;
        stem.note_contexts = true;
        std::vector<Scenario> noted_variants = variants;
        for (auto& v : noted_variants) v.note_contexts = true;
        const Way noted = measured(stem, noted_variants, Branching::Fork);
        noted_s = noted.wall_s;
        noted_cpu = noted.cpu;
        noted_pairs = noted.pairs;
        for (size_t i = 0; i < n; ++i) noted_same += noted.digests[i] == digests_prefix[i];
    }

    // Explore's way: the same prefix sharing with a pause's variants run in
    // turn by workers that roll back instead of forked each.
    const Way in_turn = measured(s, variants, Branching::Rollback);
    const double inproc_s = in_turn.wall_s, inproc_cpu = in_turn.cpu, inproc_faults = in_turn.faults;
    size_t inproc_same = 0;
    if (!forked.lost.empty()) std::printf("  prefix sharing: a variant lost: %s\n", forked.lost.c_str());
    if (!in_turn.lost.empty()) std::printf("  in turn: a variant lost: %s\n", in_turn.lost.c_str());
    for (size_t i = 0; i < n; ++i) inproc_same += in_turn.digests[i] == digests_prefix[i];

    size_t same = 0, stems = 0, again = 0;
    std::set<Picos> at;
    for (size_t i = 0; i < n; ++i) same += digests_rerun[i] == digests_prefix[i];
    for (const Fork& f : plan.root) {
        at.insert(f.at);
        if (f.stem) {
            ++stems;
            again += f.members.size();
        }
    }
    std::printf("%s: %s, %zu variants, %u jobs, %zu branch points%s, %zu from the start%s\n", what.c_str(),
                s.name.c_str(), n, jobs, at.size(),
                stems ? fmt::format(" ({} forked again from {} stems)", again, stems).c_str() : "", alone.size(),
                plan.zygote.empty() ? "" : fmt::format(" ({} forked from the zygote)", plan.zygote.size()).c_str());
    std::printf("  fork floor:      %8.1f children/s (empty children through the pool)\n", double(n) / floor_s);
    std::printf("  re-running:      %8.1f variants/s   %.1f%% of the floor\n", double(n) / rerun_s,
                100.0 * floor_s / rerun_s);
    std::printf("  prefix sharing:  %8.1f variants/s   %.1f%% of the floor, %.2fx re-running (each forked)\n",
                double(n) / prefix_s, 100.0 * floor_s / prefix_s, rerun_s / prefix_s);
    std::printf("  in turn:         %8.1f variants/s   %.1f%% of the floor, %.2fx re-running, %.2fx forked each "
                "(a pause's variants run in turn, rolled back: explore's way)\n",
                double(n) / inproc_s, 100.0 * floor_s / inproc_s, rerun_s / inproc_s, prefix_s / inproc_s);
    std::printf("  CPU per variant: %8.3f ms per empty child, %.3f ms re-running (%.1fx), %.3f ms with prefix sharing "
                "(%.1fx)\n",
                floor_cpu, rerun_cpu, rerun_cpu / floor_cpu, prefix_cpu, prefix_cpu / floor_cpu);
    std::printf("  CPU in turn:     %8.3f ms per variant (%.1fx the empty child, %.2fx forked each)\n", inproc_cpu,
                inproc_cpu / floor_cpu, inproc_cpu / prefix_cpu);
    std::printf("  minor faults:    %8.0f per empty child, %.0f per variant re-running, %.0f with prefix sharing, %.0f in "
                "turn\n",
                floor_faults, rerun_faults, prefix_faults, inproc_faults);
    std::printf("  digests equal:   %zu of %zu re-running, %zu of %zu in turn\n", same, n, inproc_same, n);
    if (timings)
        std::printf("  contexts noted:  %8.1f variants/s   %.3f ms CPU per variant (%+.1f%% against prefix sharing), "
                    "%.1f pairs per variant, digests equal %zu of %zu\n",
                    double(n) / noted_s, noted_cpu, 100.0 * (noted_cpu / prefix_cpu - 1.0), double(noted_pairs) / double(n),
                    noted_same, n);
    return same == n && (!timings || noted_same == n) && inproc_same == n;
}

// The shrinking `explore --out` does after a sweep: the sweep's variants
// run with prefix sharing (as explore runs them) and their findings
// deduplicated; then every finding shrunk (its decisions, then the file's
// faults, the workload, the devices) - re-running every trial from the
// start, and with prefix sharing - twice each, interleaved, against empty
// children through the same pool, as many as the trials the re-running way
// ran. The reproducers must be the same text both ways.
bool shrink_sweep(const std::string& what, const std::string& path, const std::vector<std::string>& kinds,
                  size_t persistence) {
    const unsigned jobs = 2;
    auto t = Clock::now();
    Scenario s = load_scenario(path);
    ExploreOptions o;
    o.kinds = kinds;
    o.persistence = persistence;
    o.jobs = jobs;
    settle_explore_options(o, s);
    Scenario noted = s;
    noted.note_persistence = persistence > 0;
    RunResult base = execute(noted);
    const double base_s = seconds_since(t);
    ExplorePlan plan = plan_exploration(base.stream, o, s);
    std::vector<FaultPoint>& points = plan.points;
    std::vector<Scenario> variants;
    for (const auto& p : points) {
        variants.push_back(variant_of(s, p));
        variants.back().trace = TraceLevel::Summary;
    }
    const std::vector<Seen> base_seen = violations_seen(base.stream);
    std::set<Seen> known(base_seen.begin(), base_seen.end());
    FindingSet found(known);
    std::vector<RunResult> results(variants.size());
    t = Clock::now();
    std::vector<size_t> alone;
    const RunStream view = branch_view(base.stream);
    PrefixPlan pp = prefix_plan(view, points, alone);
    Scenario stem = s;
    stem.trace = TraceLevel::Summary;
    auto got = [&](size_t i, RunResult r) { results[i] = std::move(r); };
    execute_branched(stem, view, pp.steps, pp.members, variants, jobs, got);
    execute_branched(stem, view, pp.steps, pp.zygote, variants, jobs, got);
    std::vector<Scenario> rest;
    std::vector<size_t> rest_of;
    for (size_t k : alone)
        if (!std::binary_search(pp.zygote.begin(), pp.zygote.end(), k)) {
            rest.push_back(variants[k]);
            rest_of.push_back(k);
        }
    execute_all(rest, jobs, [&](size_t j, RunResult r) { got(rest_of[j], std::move(r)); });
    const double sweep_s = seconds_since(t);
    for (size_t k = 0; k < results.size(); ++k) {
        found.add(points, k, int64_t(k + 2), violations_seen(results[k].stream), results[k].violations);
    }
    found.judge_pairs(points);
    results.clear();

    struct Way {
        double s = 0, cpu = 0;
        ShrinkRuns::Stats stats;
        std::string text;
    };
    auto shrink = [&](bool prefix) {
        Way w;
        std::vector<FaultPoint> pts = points;
        std::map<Signature, Finding> findings = found.findings;
        ShrinkRuns how{jobs, prefix, view, {}};
        Usage u = Usage::now();
        auto t0 = Clock::now();
        shrink_decisions(s, plan.graph, pts, findings, how);
        shrink_for_reproducers(s, pts, findings, how);
        w.s = seconds_since(t0);
        w.cpu = Usage::now().since(u, 1).first / 1e3;
        w.stats = how.stats;
        size_t numbered = 0;
        for (const auto& f : reproducer_files("/tmp/bench-shrink", s, pts, points.size(), findings, numbered))
            w.text += f.path + "\n" + f.content;
        return w;
    };
    std::vector<Way> rerun, shared;
    for (int rep = 0; rep < 2; ++rep) {
        rerun.push_back(shrink(false));
        shared.push_back(shrink(true));
    }
    const size_t trials = rerun[0].stats.runs;
    t = Clock::now();
    run_forked_pool(trials, jobs, [](size_t, int) {}, [](size_t) { return 10.0; }, [](size_t, ChildResult) {});
    const double floor_s = seconds_since(t);
    bool same = true;
    for (const Way& w : rerun) same = same && w.text == rerun[0].text;
    for (const Way& w : shared) same = same && w.text == rerun[0].text;
    std::printf("%s: %s, %zu variants, %zu findings, %u jobs\n", what.c_str(), s.name.c_str(), points.size(),
                found.findings.size(), jobs);
    std::printf("  baseline %.2fs, sweep (prefix sharing) %.2fs: %.1f variants/s\n", base_s, sweep_s,
                double(points.size()) / sweep_s);
    std::printf("  fork floor:      %8.1f children/s (%zu empty children through the pool)\n", double(trials) / floor_s,
                trials);
    for (size_t r = 0; r < rerun.size(); ++r) {
        const Way& a = rerun[r];
        const Way& b = shared[r];
        std::printf("  shrink, re-running:      %7.2fs  %6.1f trials/s  %5.1f%% of the floor  CPU %.2fs  (%zu trials "
                    "in %zu rounds)\n",
                    a.s, double(a.stats.runs) / a.s, 100.0 * (double(a.stats.runs) / a.s) / (double(trials) / floor_s),
                    a.cpu, a.stats.runs, a.stats.batches);
        std::printf("  shrink, prefix sharing:  %7.2fs  %6.1f trials/s  %5.1f%% of the floor  CPU %.2fs  (%zu forked, "
                    "%zu from the start), %.2fx re-running\n",
                    b.s, double(b.stats.runs) / b.s, 100.0 * (double(b.stats.runs) / b.s) / (double(trials) / floor_s),
                    b.cpu, b.stats.forked, b.stats.from_start, a.s / b.s);
    }
    std::printf("  reproducers equal: %s (%zu bytes)\n", same ? "yes" : "NO", rerun[0].text.size());
    return same;
}

}  // namespace

static int bench_main(int argc, char** argv) {
    // Starts as `quiesce explore` does: bound now, without glibc's tcache
    // (LD_BIND_NOW= in the environment measures without).
    quiesce::prepare_for_forks(argv);
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
    const std::string data = QUIESCE_DATA_DIR;
    // --sweeps 1,3: only those sweeps (numbered as below, from 1).
    std::set<int> only;
    if (argc > 2 && std::string(argv[1]) == "--sweeps") {
        for (const char* p = argv[2]; *p;) {
            char* end = nullptr;
            only.insert(int(std::strtol(p, &end, 10)));
            p = *end ? end + 1 : end;
        }
    } else if (argc > 1) {
        return sweep("phase sweep", argv[1], {"callback-fail", "power-loss"}, 0) ? 0 : 1;
    }
    bool ok = true;
    auto on = [&](int k) { return only.empty() || only.count(k); };
    if (on(1))
        ok = sweep("phase sweep (callback-fail, power-loss)", data + "/regression/s3-basic.toml",
                   {"callback-fail", "power-loss"}, 0) && ok;
    if (on(2))
        ok = sweep("persistence sweep (power loss after each of the first 100 points)",
                   data + "/regression/s4-storage.toml", {"power-loss"}, 100, false) && ok;
    if (on(3))
        ok = sweep("power-loss sweep of a busy machine (every phase and persistence point)",
                   data + "/regression/s4-storage-busy.toml", {"power-loss"}, 100) && ok;
    if (on(4))
        ok = sweep("orders x faults sweep (callback-fail, power-loss under every other order)",
                   data + "/regression/s3-storage.toml", {"callback-fail", "power-loss"}, 0, true, true) && ok;
    if (on(5))
        ok = sweep("faults x orders x timings sweep (callback-fail, power-loss; every other order; 3 timings)",
                   data + "/regression/s3-storage.toml", {"callback-fail", "power-loss"}, 0, true, true, 3) && ok;
    if (on(6))
        ok = sweep("orders x timings x faults sweep of a busy machine (cpu-offline-failure; every other order; 3 "
                   "timings)",
                   data + "/regression/s4-storage-busy.toml", {"cpu-offline-failure"}, 0, true, true, 3) && ok;
    if (on(7))
        ok = sweep("time-zero sweep (30 PCT schedules, 30 timings, each alone: forked from the zygote)",
                   data + "/regression/s3-basic.toml", {}, 0, true, false, 0, 30) && ok;
    if (on(8))
        ok = shrink_sweep("shrinking the findings of the phase sweep (callback-fail, power-loss)",
                          data + "/regression/s3-basic.toml", {"callback-fail", "power-loss"}, 0) && ok;
    if (on(9))
        ok = shrink_sweep("shrinking the findings of the busy power-loss sweep (every phase and persistence point)",
                          data + "/regression/s4-storage-busy.toml", {"power-loss"}, 100) && ok;
    return ok ? 0 : 1;
}

int main(int argc, char** argv) {
    return quiesce::bench::guarded_main(argc, argv, "[SCENARIO | --sweeps N[,N...]]", bench_main);
}
