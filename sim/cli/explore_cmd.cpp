// quiesce explore (its options too), quiesce findings and quiesce replay.
#include "sim/cli/commands.h"
#include "sim/cli/junit.h"

#include "sim/core/errors.h"
#include "sim/core/paths.h"
#include "sim/explore/findings.h"
#include "sim/scenario/executor.h"
#include "sim/scenario/platform.h"
#include "sim/trace/rows.h"
#include "sim/trace/trace_db.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

namespace fs = std::filesystem;

namespace quiesce {

namespace {

// --budget: a number of variants ("500") or a wall-clock time ("90s",
// "5m", "1h", "500ms").
void parse_budget(const std::string& text, ExploreOptions& o) {
    const auto bad = [&text] {
        return InputError("--budget: expected a number of variants (500) or a wall time (90s, 5m, 1h), got '" + text +
                          "'");
    };
    size_t digits = text.find_first_not_of("0123456789.");
    if (digits == 0) throw bad();
    std::string number = text.substr(0, digits), unit = digits == std::string::npos ? "" : text.substr(digits);
    char* end = nullptr;
    double v = std::strtod(number.c_str(), &end);
    if (*end || !(v > 0)) throw bad();
    if (unit.empty()) {
        if (number.find('.') != std::string::npos) throw bad();
        o.budget = size_t(v);
    } else if (unit == "ms") o.budget_s = v / 1000;
    else if (unit == "s") o.budget_s = v;
    else if (unit == "m") o.budget_s = v * 60;
    else if (unit == "h") o.budget_s = v * 3600;
    else throw bad();
}

}  // namespace

const CLI::Validator& seed_validator() {
    // --seed: what a scenario file's seed may be, 0 to 2^63-1 (the trace
    // database keeps it as a signed 64-bit integer); no sign, no blank.
    static const CLI::Validator v(
        [](std::string& text) -> std::string {
            errno = 0;
            char* end = nullptr;
            unsigned long long value = std::strtoull(text.c_str(), &end, 10);
            if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || *end || errno == ERANGE ||
                value > uint64_t(INT64_MAX))
                return "a seed is a whole number from 0 to 9223372036854775807, got '" + text + "'";
            return "";
        },
        "SEED", "seed");
    return v;
}

void add_explore_options(CLI::App& explore, ExploreArgs& a) {
    ExploreOptions& o = a.opts;
    explore.add_option("scenario", a.files, "Scenario file (with --mutate: files or directories)")->required();
    explore.add_option("--mutate", a.mutate,
                       "Mutate this driver's PM callbacks (a driver file's name, or \"all\"): drop, swap, move a "
                       "step to the neighbouring phase, shorten a timeout; each mutant killed or survived");
    explore.add_option("--kinds", a.kinds, "Fault kinds to place, comma separated (default: " +
                                               fmt::format("{}", fmt::join(default_explore_kinds(), ",")) + ")");
    explore.add_option("--strategy", o.strategy,
                       "exhaustive (in order, default), random (seeded), or pct (PCT schedules: as many as --pct or "
                       "a run budget, 100 by default)");
    explore.add_option("--budget", a.budget,
                       "At most this many variants (\"500\"), or this much wall time (\"90s\", \"5m\", \"1h\"): "
                       "the runs still going then are stopped (default: all)");
    explore.add_option("--seed", o.seed, "The random strategy's and the order sample's seed (default 1)")
        ->check(seed_validator());
    explore.add_option("-j,--jobs", o.jobs, "Variants run in parallel (default 1)")->check(CLI::Range(1, 256));
    explore.add_option("--shard", a.shard, "I/N: run every Nth variant from the Ith (default 0/1)");
    explore.add_option("--db", a.db, "Trace database (default quiesce-explore.db)");
    explore.add_option("--junit", a.junit,
                       "Write JUnit XML to this file: a testcase per variant, failed when it showed a violation "
                       "beyond the baseline's");
    explore.add_option("--out", a.out, "Write a reproducer scenario per distinct violation here");
    explore.add_flag("--orders", o.orders, "Also every other suspend order the device graph allows");
    explore.add_option("--orders-limit", o.orders_limit,
                       "With --orders: all of them when at most this many, else this many drawn at random with "
                       "--seed (default 1000)")
        ->check(CLI::Range(1, 1'000'000));
    explore.add_option("--persistence", o.persistence,
                       "With power-loss: also after each drive's first N persistence points of the transition (those the baseline reached)");
    explore.add_option("--pct", o.pct, "Also N PCT schedules of the simulated software (seeds 1..N)");
    explore.add_option("--pct-depth", o.pct_depth, "The bug depth PCT aims at (default 3)")->check(CLI::Range(1, 10));
    explore.add_option("--pct-steps", o.pct_steps, "Operations PCT spreads its change points over (default 20000)");
    explore.add_option("--timing", o.timing, "Also N runs with every varied latency jittered (seeds 1..N; docs/exploring.md)");
    explore.add_option("--jitter", o.jitter, "How much --timing varies each latency, in percent (default 20)")
        ->check(CLI::Range(1, 90));
    explore.add_option("--trace", o.trace, "What each variant records: summary (default), events or bus");
    explore.add_flag("--no-prefix", a.no_prefix, "Run every variant from the start (no fork at the shared prefix)");
    explore.add_flag("--break-order", o.break_order, "Also, per graph edge, the default order with that edge broken");
    explore.add_flag("--cross", o.cross,
                     "Also every combination of the axes asked for: faults, orders, --pct schedules, --timing timings");
}

void settle_explore_args(ExploreArgs& a) {
    std::istringstream kinds(a.kinds);
    for (std::string k; std::getline(kinds, k, ',');)
        if (!k.empty()) a.opts.kinds.push_back(k);
    unsigned i = 0, n = 0;
    char slash = 0;
    std::istringstream shard(a.shard);
    if (!(shard >> i >> slash >> n) || slash != '/' || !shard.eof())
        throw InputError("--shard: expected I/N, got '" + a.shard + "'");
    if (!a.budget.empty()) parse_budget(a.budget, a.opts);
    a.opts.prefix = !a.no_prefix;
    a.opts.shard = i;
    a.opts.shards = n;
}

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
};

void print_report(const ExploreOptions& o, const ExplorePlan& plan, const std::vector<FaultPoint>& points,
                  size_t fault_count, const std::map<Signature, Finding>& findings, Coverage& coverage,
                  const std::vector<std::string>& phase_order, size_t done, size_t crashed, double secs) {
    std::printf("\n%zu variants in %.2fs (%.1f runs/s)%s\n", done, secs, secs > 0 ? double(done) / secs : 0.0,
                crashed ? fmt::format(", {} crashed or timed out", crashed).c_str() : "");
    std::fputs(findings_text(points, findings, [](const Finding& f) { return fmt::format("first run {}", f.first_run); })
                   .c_str(),
               stdout);
    if (points.size() > fault_count) {
        size_t tried = 0, broke = 0;
        for (const auto& [ph, kinds] : coverage.cells)
            for (const auto& [k, cell] : kinds)
                if (whole_run_kind(k)) {
                    tried += cell.tried;
                    broke += cell.violating;
                }
        std::printf("\norders, schedules and timings: %zu tried, %zu with a new violation\n", tried, broke);
    }
    const size_t shown = 20;
    for (size_t i = 0; i < coverage.orders.size() && i < shown; ++i)
        std::printf("  order: %s%s\n", coverage.orders[i].first.c_str(), coverage.orders[i].second ? "  !" : "");
    if (coverage.orders.size() > shown) std::printf("  ... and %zu more orders\n", coverage.orders.size() - shown);
    if (plan.timing_count)
        std::printf("timings: %zu seeds, every varied latency within +-%u%% (minimum delays only longer), kworker "
                    "wake-ups 0 to each core's idle_exit_us (docs/exploring.md)\n",
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
    settle_explore_options(o, s);
    TraceLevel variant_trace;
    if (!parse_trace_level(o.trace, variant_trace))
        throw InputError("--trace: must be summary, events or bus, got '" + o.trace + "'");
    if (db_path.empty()) db_path = "quiesce-explore.db";
    TraceDb db(db_path);
    db.begin_campaign(command_line(), {file}, -1);  // its size is known once the variants are
    std::printf("trace database: %s\n", db_path.c_str());

    // The baseline: what the scenario goes through without a new fault (and,
    // outside its trace, when the drives' persistence points come).
    Scenario noted = s;
    noted.note_persistence = o.persistence > 0;
    RunResult base = execute(noted);
    int64_t base_id = db.record(run_meta(s, base), base.stream);
    std::set<Seen> known;
    for (const auto& ev : base.stream.events)
        if (ev.kind == EvKind::Violation) known.insert({ev.name, ev.phase, ev.track});
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
    std::vector<Scenario> variants;
    for (size_t i : picks) {
        variants.push_back(variant_of(s, points[i]));
        variants.back().trace = variant_trace;  // replay reads it back from the run
    }
    // Prefix sharing: variants that only differ from a point on (a phase, a
    // persistence point, the first callback phase for an order) share the
    // run up to there and fork; the others run from the start.
    std::vector<FaultPoint> vpoints;
    for (size_t i : picks) vpoints.push_back(points[i]);
    std::vector<size_t> alone;
    std::vector<Branch> branches;
    if (o.prefix) branches = prefix_branches(base.stream, vpoints, alone);
    else for (size_t k = 0; k < variants.size(); ++k) alone.push_back(k);
    size_t stems = 0, followers = 0;
    for (const auto& b : branches)
        for (const auto& st : b.stems) {
            ++stems;
            followers += st.followers.size();
        }
    std::string budget_text = o.budget     ? fmt::format(", budget {}", o.budget)
                              : o.budget_s ? fmt::format(", budget {}s", o.budget_s)
                                           : "";
    std::string sharing;
    if (o.prefix) {
        sharing = fmt::format(", prefix sharing ({} forked at {} branch point{}", variants.size() - alone.size(),
                              branches.size(), branches.size() == 1 ? "" : "s");
        if (stems)
            sharing += fmt::format(", {} of them again from {} stem{}", followers, stems, stems == 1 ? "" : "s");
        sharing += fmt::format(", {} from the start)", alone.size());
    }
    std::string products;
    for (const auto& [axes, size] : plan.products) products += fmt::format("{}{} {}", products.empty() ? "" : ", ", axes, size);
    std::printf("fault points: %zu (%zu kinds), orders, schedules and timings: %zu%s; this run: %zu variants (%s%s, shard %u/%u), %u %s%s\n",
                fault_count, o.kinds.size(), points.size() - fault_count - cross_count,
                o.cross ? fmt::format(", combinations: {} ({})", cross_count, products).c_str() : "", picks.size(),
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
    std::vector<JunitCase> cases;            // --junit: a testcase per variant, as recorded
    std::map<size_t, size_t> case_of_point;  // point -> its testcase
    auto on_result = [&](size_t k, RunResult r) {
        const Scenario& v = variants[k];
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
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::string line = fmt::format("[{}/{}] {:.1f} runs/s, {} distinct violation(s)", done, variants.size(),
                                       secs > 0 ? double(done) / secs : 0.0, findings.size());
        if (tty) {
            std::printf("\r\033[K%s", line.c_str());
            std::fflush(stdout);
        } else if (done == variants.size() || done % std::max<size_t>(1, variants.size() / 10) == 0) {
            std::printf("%s\n", line.c_str());
            std::fflush(stdout);
        }
        // Out of wall time: the runs still going are stopped (the pool kills
        // its children, and theirs die with them), the rest never start.
        const double spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
        if (o.budget_s > 0 && spent >= o.budget_s) throw OutOfTime{};
    };
    bool out_of_time = false;
    try {
        if (!branches.empty()) {
            Scenario prefix = s;  // records what the variants record
            prefix.trace = variant_trace;
            execute_branched(prefix, branches, variants, o.jobs, on_result);
        }
        std::vector<Scenario> rest;
        for (size_t k : alone) rest.push_back(variants[k]);
        execute_all(rest, o.jobs, [&](size_t j, RunResult r) { on_result(alone[j], std::move(r)); });
    } catch (const OutOfTime&) {
        out_of_time = true;
    }
    if (tty) std::printf("\r\033[K");
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    coverage.products_new = found.judge_pairs(points);

    const size_t explored_points = points.size();
    // Shrinking would run on past the budget: then the reproducers are the runs found.
    if (!out_of_time) shrink_decisions(s, graph, points, findings, o.jobs);
    // Only a reproducer shows the shrunk workload and platform.
    if (!out_dir.empty() && !out_of_time) shrink_for_reproducers(s, points, findings, o.jobs);
    if (!out_dir.empty()) {
        size_t numbered = 0;
        write_out_files(reproducer_files(out_dir, s, points, explored_points, findings, numbered));
    }
    if (out_of_time)
        std::printf("\nstopped at the wall-time budget of %gs: %zu of %zu variants ran (the first in their order; findings "
                    "not shrunk)\n",
                    o.budget_s, done, variants.size());
    print_report(o, plan, points, fault_count, findings, coverage, phase_order, done, crashed, secs);
    if (!junit.empty()) {
        for (const auto& [sig, f] : findings)  // where each finding's reproducer went
            if (auto it = case_of_point.find(f.found_variant); it != case_of_point.end() && !f.reproducer.empty())
                cases[it->second].properties.push_back({"reproducer", f.reproducer});
        write_file_atomically(junit, junit_xml("quiesce explore " + s.name, cases));
    }
    db.end_campaign("finished");
    return findings.empty() ? 0 : 1;
}

namespace {

// A recorded command line (set_command_line) back into its arguments: an
// argument a shell would need quoted is in '...', a ' in it as '\''.
std::vector<std::string> split_command_line(const std::string& line) {
    std::vector<std::string> out;
    std::string cur;
    bool in_arg = false, quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '\'') quoted = false;
            else cur += c;
        } else if (c == '\'') {
            quoted = in_arg = true;
        } else if (c == '\\' && i + 1 < line.size()) {
            cur += line[++i];
            in_arg = true;
        } else if (c == ' ') {
            if (in_arg) out.push_back(cur);
            cur.clear();
            in_arg = false;
        } else {
            cur += c;
            in_arg = true;
        }
    }
    if (in_arg) out.push_back(cur);
    return out;
}

// The options of a recorded `quiesce explore` command line, or nothing
// when it is another command (run, explore --mutate).
std::optional<ExploreArgs> explore_args_of(const std::string& command) {
    std::vector<std::string> args = split_command_line(command);
    if (args.size() < 2 || args[1] != "explore") return std::nullopt;
    CLI::App app;
    ExploreArgs a;
    add_explore_options(*app.add_subcommand("explore", ""), a);
    std::vector<std::string> reversed(args.rbegin(), args.rend() - 1);  // CLI11 takes them last first, no program
    try {
        app.parse(reversed);
    } catch (const CLI::Error&) {
        return std::nullopt;
    }
    if (!a.mutate.empty() || a.files.size() != 1) return std::nullopt;
    settle_explore_args(a);
    return a;
}

// One exploration: a scenario file and the options that decide its
// variants, and the campaigns (database, id) that ran some of them.
struct Exploration {
    std::string file;
    ExploreOptions o;
    std::vector<std::pair<size_t, int64_t>> campaigns;
};

// What decides an exploration's variants and which of them run (not how:
// jobs, shard, prefix sharing, trace level, a wall-time budget).
std::string plan_key(const std::string& file, const ExploreOptions& o) {
    return fmt::format("{}\n{}\n{} {} {} {} {} {} {} {} {} {} {} {} {}", file, fmt::join(o.kinds, ","), o.strategy,
                       o.budget, o.seed, o.orders, o.orders_limit, o.break_order, o.cross, o.persistence, o.pct,
                       o.pct_depth, o.pct_steps, o.timing, o.jitter);
}

}  // namespace

void write_out_files(const std::vector<OutFile>& files) {
    for (const OutFile& f : files) {
        const fs::path dir = fs::path(f.path).parent_path();
        if (!dir.empty()) fs::create_directories(dir);
        write_file_atomically(f.path, f.content);
    }
}

namespace {

// findings_report without writing: the text, and the files to write.
std::string findings_of(const std::vector<std::string>& dbs, const std::string& out_dir, unsigned jobs, bool& any,
                        std::vector<OutFile>& files, bool require_explorations) {
    std::vector<std::unique_ptr<TraceReader>> readers;
    for (const auto& p : dbs) readers.push_back(std::make_unique<TraceReader>(p));
    // Every exploration the databases hold, in the order first met.
    std::map<std::string, Scenario> scenarios;  // file -> loaded once
    std::vector<Exploration> explorations;
    std::map<std::string, size_t> by_key;
    for (size_t d = 0; d < readers.size(); ++d) {
        size_t found = 0;
        each_cells(*readers[d],
                   "SELECT c.id, c.command FROM campaign c WHERE EXISTS (SELECT 1 FROM run r WHERE r.campaign_id = "
                   "c.id) ORDER BY c.id",
                   {}, [&](const std::vector<std::string>& row) {
                       std::optional<ExploreArgs> a = explore_args_of(row[1]);
                       if (!a) return;
                       ++found;
                       const std::string& file = a->files[0];
                       auto it = scenarios.find(file);
                       if (it == scenarios.end()) {
                           Scenario s = load_scenario(file);
                           preflight(s);
                           it = scenarios.emplace(file, std::move(s)).first;
                       }
                       settle_explore_options(a->opts, it->second);
                       const std::string key = plan_key(file, a->opts);
                       auto [slot, fresh] = by_key.emplace(key, explorations.size());
                       if (fresh) explorations.push_back({file, a->opts, {}});
                       explorations[slot->second].campaigns.push_back({d, std::stoll(row[0])});
                   });
        if (!found && require_explorations)
            throw InputError(dbs[d], 0, 0, "",
                             "not an explore database: no run of 'quiesce explore' (without --mutate) in it");
    }
    std::string text;
    size_t numbered = 0;
    for (const Exploration& e : explorations) {
        const Scenario& s = scenarios.at(e.file);
        const ExploreOptions& o = e.o;
        // The baseline again (explore's plan follows what it went through):
        // the scenario must be the one explored.
        Scenario noted = s;
        noted.note_persistence = o.persistence > 0;
        RunResult base = execute(noted);
        const std::string digest = fmt::format("{:016x}", base.stream.digest);
        for (const auto& [d, campaign] : e.campaigns)
            each_cells(*readers[d],
                       "SELECT digest FROM run WHERE campaign_id = ? AND (faults IS NULL OR faults = '') ORDER BY id "
                       "LIMIT 1",
                       {campaign}, [&](const std::vector<std::string>& row) {
                           if (row[0] != digest)
                               throw InputError(e.file, 0, 0, "",
                                                fmt::format("not the scenario {} explored: its baseline's digest was "
                                                            "{}, is {} now (the file, a file it names or the build "
                                                            "changed)",
                                                            dbs[d], row[0], digest));
                       });
        std::set<Seen> known;
        for (const auto& ev : base.stream.events)
            if (ev.kind == EvKind::Violation) known.insert({ev.name, ev.phase, ev.track});
        ExplorePlan plan = plan_exploration(base.stream, o, s);
        const DeviceGraph& graph = plan.graph;
        std::vector<FaultPoint>& points = plan.points;
        std::map<std::string, size_t> point_of;  // recorded decisions -> place in the plan
        for (size_t i = 0; i < points.size(); ++i) point_of.emplace(decisions_of(points[i]), i);
        ExploreOptions whole = o;
        whole.shard = 0;
        whole.shards = 1;
        const size_t planned = pick_variants(points.size(), whole).size();

        // Every variant once, whichever database (or shard) ran it.
        FindingSet found(known);
        std::set<size_t> added;
        for (const auto& [d, campaign] : e.campaigns) {
            std::map<int64_t, std::vector<Seen>> seen;
            std::map<int64_t, std::set<std::string>> ids;
            each_cells(*readers[d],
                       "SELECT v.run_id, v.invariant, v.phase, v.component FROM violation v JOIN run r ON r.id = "
                       "v.run_id WHERE r.campaign_id = ? ORDER BY v.run_id, v.id",
                       {campaign}, [&](const std::vector<std::string>& row) {
                           const int64_t run = std::stoll(row[0]);
                           seen[run].push_back({row[1], row[2], row[3]});
                           ids[run].insert(row[1]);
                       });
            each_cells(*readers[d],
                       "SELECT id, faults FROM run WHERE campaign_id = ? AND faults IS NOT NULL AND faults != '' "
                       "ORDER BY id",
                       {campaign}, [&](const std::vector<std::string>& row) {
                           const int64_t run = std::stoll(row[0]);
                           auto it = point_of.find(row[1]);
                           if (it == point_of.end())
                               throw InputError(dbs[d], 0, 0, "",
                                                fmt::format("run {}: its decisions ({}) are not among the variants "
                                                            "of its exploration of {}",
                                                            run, row[1], e.file));
                           if (added.insert(it->second).second)
                               found.add(points, it->second, run, seen[run], ids[run]);
                       });
        }
        found.judge_pairs(points);
        std::map<Signature, Finding>& findings = found.findings;
        const size_t explored = points.size();
        shrink_decisions(s, graph, points, findings, jobs);
        if (!out_dir.empty()) {
            shrink_for_reproducers(s, points, findings, jobs);
            for (auto& f : reproducer_files(out_dir, s, points, explored, findings, numbered))
                files.push_back(std::move(f));
        }
        any = any || !findings.empty();
        std::string base_ids;
        for (const auto& v : base.violations) base_ids += (base_ids.empty() ? "" : ", ") + v;
        text += fmt::format("{}findings of {} (seed {}): {} of {} variants recorded; baseline: outcome {}, {}\n",
                            text.empty() ? "" : "\n", e.file, s.seed, added.size(), planned,
                            base.stream.summary.outcome, base_ids.empty() ? "no violation" : "violations: " + base_ids);
        text += findings_text(points, findings,
                              [](const Finding& f) { return fmt::format("first variant {}", f.found_variant + 1); });
    }
    return text;
}

}  // namespace

std::string findings_report(const std::vector<std::string>& dbs, const std::string& out_dir, unsigned jobs,
                            bool& any) {
    std::vector<OutFile> files;
    std::string text = findings_of(dbs, out_dir, jobs, any, files, false);
    write_out_files(files);
    return text;
}

int cmd_findings(const std::vector<std::string>& dbs, const std::string& out_dir, unsigned jobs) {
    check_output_dir(out_dir, "--out");  // before anything runs
    bool any = false;
    std::vector<OutFile> files;
    std::string text = findings_of(dbs, out_dir, jobs, any, files, true);
    write_out_files(files);  // only once every input has been read
    std::fputs(text.c_str(), stdout);
    return any ? 1 : 0;
}

int cmd_replay(const std::string& db_path, int64_t run_id) {
    std::string file, faults, digest, scenario, level;
    uint64_t seed = 0;
    bool found = false;
    {
        TraceReader db(db_path);
        each_row(db, "SELECT file, seed, faults, digest, scenario, trace_level, id FROM run WHERE id = ?", {run_id},
                 {"run.file", "run.seed", "run.faults", "run.digest", "run.scenario", "run.trace_level", "run.id"},
                 [&](const Row& row) {
                     file = row[0];
                     seed = row.natural(1);
                     faults = row[2];
                     digest = row[3];
                     scenario = row[4];
                     level = row[5];
                     found = true;
                 });
    }
    if (!found) throw InputError(db_path, 0, 0, "", fmt::format("no run {}", run_id));
    if (!fs::exists(file)) throw InputError(file, 0, 0, "", fmt::format("run {} came from this file, which is gone", run_id));
    Scenario s = load_scenario(file);
    s.seed = seed;
    parse_trace_level(level, s.trace);  // the digest covers what the run recorded
    std::vector<std::string> rules;
    std::istringstream in(faults);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) rules.push_back(line);
    add_cli_faults(s, rules);
    RunResult r = execute(s);
    std::string now = fmt::format("{:016x}", r.stream.digest);
    std::printf("replay of run %lld (%s, seed %llu%s): ", static_cast<long long>(run_id), scenario.c_str(),
                static_cast<unsigned long long>(seed), rules.empty() ? "" : fmt::format(", {} recorded decision(s)", rules.size()).c_str());
    if (now == digest) {
        std::printf("digest %s identical\n", now.c_str());
        return 0;
    }
    std::printf("digest differs: recorded %s, replayed %s\n", digest.c_str(), now.c_str());
    return 1;
}

}  // namespace quiesce
