// quiesce findings and quiesce replay: explorations and runs read back from their trace databases.
#include "sim/cli/commands.h"

#include "sim/core/errors.h"
#include "sim/core/paths.h"
#include "sim/explore/findings.h"
#include "sim/scenario/executor.h"
#include "sim/trace/rows.h"
#include "sim/trace/trace_db.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace quiesce {

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
// when it is another command (run, explore --mutate alone over scenarios).
std::optional<ExploreArgs> explore_args_of(const std::string& command) {
    std::vector<std::string> args = split_command_line(command);
    if (args.size() < 2 || args[1] != "explore") return std::nullopt;
    CLI::App app;
    ExploreArgs a;
    add_explore_options(*app.add_subcommand("explore", ""), a);
    decimal_whole_numbers(app);
    std::vector<std::string> reversed(args.rbegin(), args.rend() - 1);  // CLI11 takes them last first, no program
    try {
        app.parse(reversed);
    } catch (const CLI::Error&) {
        return std::nullopt;
    }
    if (a.files.size() != 1) return std::nullopt;
    settle_explore_args(a);
    if (!a.mutate.empty() && !mutate_composes(a.opts)) return std::nullopt;  // cmd_mutate's campaign
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
    return fmt::format("{}\n{}\n{} {} {} {} {} {} {} {} {} {} {} {} {}\n{}", file, fmt::join(o.kinds, ","), o.strategy,
                       o.budget, o.seed, o.orders, o.orders_limit, o.break_order, o.cross, o.persistence, o.pct,
                       o.pct_depth, o.pct_steps, o.timing, o.jitter, o.mutate);
}

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
                             "not an explore database: no run of 'quiesce explore' in it (explore --mutate alone over "
                             "scenarios is none)");
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
        const std::vector<Seen> base_seen = violations_seen(base.stream);
        std::set<Seen> known(base_seen.begin(), base_seen.end());
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
        const std::string score = mutation_score_text(points, explored, found.fresh, added);
        const ShrinkRuns shrink_runs{jobs, o.prefix, branch_view(base.stream), {}, o.way};
        shrink_decisions(s, graph, points, findings, shrink_runs);
        if (!out_dir.empty()) {
            shrink_for_reproducers(s, points, findings, shrink_runs);
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
        text += score;
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
    std::string file, faults, digest, scenario, level, version;
    uint64_t seed = 0;
    bool found = false;
    std::vector<std::pair<std::string, std::string>> inputs;  // path, hash as recorded
    {
        TraceReader db(db_path);
        each_row(db, "SELECT file, seed, faults, digest, scenario, trace_level, id, quiesce_version FROM run WHERE id = ?",
                 {run_id},
                 {"run.file", "run.seed", "run.faults", "run.digest", "run.scenario", "run.trace_level", "run.id",
                  "run.quiesce_version"},
                 [&](const Row& row) {
                     file = row[0];
                     seed = row.natural(1);
                     faults = row[2];
                     digest = row[3];
                     scenario = row[4];
                     level = row[5];
                     version = row[7];
                     found = true;
                 });
        if (found)
            each_row(db, "SELECT path, hash FROM run_input WHERE run_id = ? ORDER BY id", {run_id},
                     {"run_input.path", "run_input.hash"},
                     [&](const Row& row) { inputs.emplace_back(row[0], row[1]); });
    }
    if (!found) throw InputError(db_path, 0, 0, "", fmt::format("no run {}", run_id));
    if (!fs::exists(file)) {
        // A relative path is relative to where the run was made, which the
        // database does not hold.
        if (fs::path(file).is_relative())
            throw InputError(file, 0, 0, "",
                             fmt::format("run {} came from this file, a path relative to the directory it ran in, and "
                                         "{} has none: replay from that directory (or the file is gone)",
                                         run_id, fs::current_path().string()));
        throw InputError(file, 0, 0, "", fmt::format("run {} came from this file, which is gone", run_id));
    }
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
    // What the run depended on that is not what it was: a file read then
    // and not now, or now and not then, or read both times with other bytes.
    if (version != QUIESCE_VERSION)
        std::printf("  recorded by quiesce %s, replayed by quiesce %s\n", version.empty() ? "?" : version.c_str(),
                    QUIESCE_VERSION);
    if (inputs.empty()) {
        std::printf("  the run recorded no input files (a database written before run_input)\n");
        return 1;
    }
    auto same_file = [](const std::string& a, const std::string& b) {
        std::error_code ec1, ec2;
        return a == b || fs::weakly_canonical(a, ec1) == fs::weakly_canonical(b, ec2);
    };
    size_t changed = 0;
    for (const auto& [path, hash] : inputs) {
        const InputFile* f = nullptr;
        for (const InputFile& cand : s.inputs)
            if (!f && same_file(cand.path, path)) f = &cand;
        if (!f) std::printf("  input not read now: %s\n", path.c_str());
        else if (fmt::format("{:016x}", f->hash) != hash)
            std::printf("  input changed since the run: %s (hash %s then, %016llx now)\n", path.c_str(), hash.c_str(),
                        static_cast<unsigned long long>(f->hash));
        else continue;
        ++changed;
    }
    for (const InputFile& f : s.inputs) {
        bool then = false;
        for (const auto& in : inputs) then = then || same_file(f.path, in.first);
        if (!then) {
            std::printf("  input read now, not by the run: %s\n", f.path.c_str());
            ++changed;
        }
    }
    if (!changed) std::printf("  every input file is as the run read it\n");
    return 1;
}

}  // namespace quiesce
