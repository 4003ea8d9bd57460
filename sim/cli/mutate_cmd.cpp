// quiesce explore --mutate: which steps of a driver are load-bearing? Every
// mutation of the driver's callbacks (sim/drivers/mutate.h) runs against
// each scenario in turn until one of them fails its expectation - the
// mutant is killed, and the scenario names what caught it - or none does:
// it survived, and the scenarios cannot tell that step from a mistake.
#include "sim/cli/commands.h"
#include "sim/cli/junit.h"

#include "sim/core/errors.h"
#include "sim/core/paths.h"
#include "sim/drivers/mutate.h"
#include "sim/explore/explore.h"
#include "sim/scenario/executor.h"
#include "sim/scenario/platform.h"
#include "sim/trace/trace_db.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;

namespace quiesce {

namespace {

struct Mutant {
    std::string driver;
    Mutation m;
    bool killed = false;
    std::string by_scenario, by;  // the first scenario that failed with it, and how
    std::set<std::string> violations;
    std::string outcome;
    bool workload_failed = false;
    int64_t run_id = 0;
    std::string reproducer;
};

// The driver as the first scenario that runs it unpatched has it.
const DriverProgram* program_of(const std::vector<Scenario>& scenarios, const std::string& driver) {
    for (const auto& s : scenarios)
        for (const auto& dev : devices_running(s, driver)) return s.drivers.at(dev).get();
    return nullptr;
}

std::string without_expect(const std::string& text) {
    std::istringstream in(text);
    std::string out, line;
    bool skipping = false;
    while (std::getline(in, line)) {
        const size_t at = line.find_first_not_of(" \t");
        if (at != std::string::npos && line[at] == '[') skipping = line.compare(at, 8, "[expect]") == 0;
        if (!skipping) out += line + "\n";
    }
    while (out.size() >= 2 && out[out.size() - 1] == '\n' && out[out.size() - 2] == '\n') out.pop_back();
    return out;
}

// A scenario file that reproduces a killed mutant: the scenario, the
// mutation as a patch to each device's driver, and what the mutant showed.
std::string reproducer(const Mutant& k, const Scenario& s, const std::vector<std::string>& devices) {
    std::string out = without_expect(read_text(s.file)) + "\n";
    out += fmt::format("# Found by quiesce explore --mutate {} on {}: the mutation\n#   {}\n", k.driver, s.file,
                       k.m.text());
    out += "# makes this scenario fail where the driver as written passes. The patch\n";
    out += "# below is the mutation; `quiesce run` on this file reproduces it.\n";
    const std::string patch = mutation_patch(*s.drivers.at(devices.front()), k.m);
    for (const auto& d : devices) out += fmt::format("\n[[drivers.{}.patch]]\n{}", d, patch);
    out += "\n[expect]\n";
    if (!k.violations.empty()) {
        std::string ids;
        for (const auto& v : k.violations) ids += (ids.empty() ? "" : ", ") + fmt::format("\"{}\"", v);
        out += fmt::format("violations = [{}]\n", ids);
    } else {
        out += fmt::format("result = \"pass\"\noutcome = \"{}\"\n", k.outcome);
    }
    // No invariant saw it, the workload did: its data came back wrong.
    if (k.workload_failed) out += "workload = \"failed\"\n";
    return out;
}

}  // namespace

int cmd_mutate(const std::vector<std::string>& files, const std::string& which, const ExploreOptions& o,
               std::string db_path, const std::string& out_dir, const std::string& junit) {
    std::vector<Scenario> scenarios = load_preflighted(files);
    if (o.shards == 0 || o.shard >= o.shards) throw InputError("--shard: must be I/N with 0 <= I < N");
    // With another axis, the mutations are one more axis of an exploration
    // of one scenario (docs/exploring.md).
    if (mutate_composes(o)) {
        if (scenarios.size() != 1)
            throw InputError("--mutate: with --kinds, --orders, --break-order, --cross, --pct, --timing, "
                             "--persistence or --strategy it explores one scenario file, got " +
                             std::to_string(scenarios.size()));
        ExploreOptions e = o;
        e.mutate = which;
        return cmd_explore(files[0], e, db_path, out_dir, junit);
    }
    if (o.budget_s > 0) throw InputError("--mutate: a time --budget needs another axis (--kinds, --orders, ...)");
    const MutationTarget target = parse_mutation_target(which);
    std::vector<const DriverProgram*> programs;
    for (const auto& s : scenarios)
        for (const auto& [dev, p] : s.drivers) programs.push_back(p.get());
    const std::set<std::string> drivers = target_drivers(target, programs, "no scenario runs an");
    check_output_dir(out_dir, "--out");
    if (!out_dir.empty()) {  // the local files the reproducers need, as they will be copied
        std::vector<OutFile> copies;
        for (const auto& s : scenarios)
            for (auto& f : local_files(s, out_dir)) copies.push_back(std::move(f));
        check_out_files(copies);
        if (std::string w = earlier_reproducers_warning(out_dir); !w.empty()) std::fprintf(stderr, "%s\n", w.c_str());
    }
    check_output_file(junit, "--junit");  // before any run
    if (db_path.empty()) db_path = default_db_name();
    TraceDb db(db_path);
    db.begin_campaign(command_line(), files, -1);  // the mutants are counted scenario by scenario
    std::printf("trace database: %s\n", db_path.c_str());
    JunitReport report(junit, "quiesce explore --mutate " + which);
    report.update({}, "the baselines and the mutants", true);

    // Baselines: what each scenario's driver callbacks are, as written.
    std::vector<RunResult> bases;
    std::map<std::string, std::set<std::string>> reached;  // driver -> callbacks some scenario ran
    for (const auto& s : scenarios) {
        bases.push_back(execute(s));
        db.record(run_meta(s, bases.back()), bases.back().stream);
        if (bases.back().status != "passed")
            std::printf("warning: %s does not meet its expectation as written (%s): a mutant it fails is not "
                        "counted as killed there\n",
                        s.name.c_str(), bases.back().message.c_str());
        for (const auto& d : drivers) {
            auto r = reached_callbacks(bases.back().stream, devices_running(s, d));
            reached[d].insert(r.begin(), r.end());
        }
    }
    std::vector<Mutant> mutants;
    // Those a --budget leaves out, per driver and callback: the score says
    // it is not the whole driver's.
    std::map<std::string, std::map<std::string, size_t>> not_run;
    size_t left_out = 0;
    for (const auto& d : drivers) {
        const DriverProgram* p = program_of(scenarios, d);
        size_t i = 0;
        for (auto& m : mutations(*p, reached[d])) {
            if (!target.keeps(m)) continue;  // --mutate DRIVER:CALLBACK[:STEP]
            if (i++ % o.shards != o.shard) continue;
            if (o.budget && mutants.size() >= o.budget) {
                ++not_run[d][m.callback];
                ++left_out;
                continue;
            }
            mutants.push_back({d, std::move(m)});
        }
    }
    std::printf("%zu mutant(s) of %zu driver(s) over %zu scenario(s)%s, %u job(s)\n", mutants.size(), drivers.size(),
                scenarios.size(), o.shards > 1 ? fmt::format(" (shard {}/{})", o.shard, o.shards).c_str() : "",
                o.jobs);
    if (left_out)
        std::printf("--budget %zu: %zu more mutant(s) not run; the scores below are of those run only\n", o.budget,
                    left_out);

    // Scenario by scenario, the mutants still alive.
    for (size_t si = 0; si < scenarios.size(); ++si) {
        const Scenario& s = scenarios[si];
        if (bases[si].status != "passed") continue;
        std::vector<size_t> which_mutants;
        std::vector<Scenario> variants;
        for (size_t k = 0; k < mutants.size(); ++k) {
            if (mutants[k].killed) continue;
            const auto devices = devices_running(s, mutants[k].driver);
            if (devices.empty()) continue;
            Scenario v = s;
            try {
                mutate_devices(v.drivers, devices, mutants[k].m);
            } catch (const InputError&) {
                continue;
            }
            v.extra_faults.push_back("mutate=" + mutants[k].driver + ":" + mutants[k].m.spec());
            // (At the scenario's own trace level: its expectation is judged
            // on what that level records - a control run's comparison, too.)
            which_mutants.push_back(k);
            variants.push_back(std::move(v));
        }
        execute_all(variants, o.jobs, [&](size_t j, RunResult r) {
            Mutant& mu = mutants[which_mutants[j]];
            const int64_t id = db.record(run_meta(variants[j], r), r.stream);
            if (r.status == "passed") return;
            mu.killed = true;
            mu.by_scenario = s.name;
            mu.run_id = id;
            mu.violations = r.violations;
            mu.outcome = r.stream.summary.outcome;
            mu.workload_failed = r.stream.summary.workload != "ok";
            std::string fresh;
            for (const auto& v : r.violations)
                if (!bases[si].violations.count(v)) fresh += (fresh.empty() ? "" : ", ") + v;
            mu.by = !fresh.empty() ? fresh : r.status != "failed" ? r.status : r.message;
            if (!out_dir.empty() && (!r.violations.empty() || r.stream.summary.outcome != "resumed" ||
                                     mu.workload_failed)) {
                std::error_code ec;
                fs::create_directories(out_dir, ec);  // (checked before the first run)
                mu.reproducer = (fs::path(out_dir) / fmt::format("{:02}-{}-{}-{}-{}.toml", which_mutants[j] + 1,
                                                                 file_part(mu.driver), mu.m.op, mu.m.callback,
                                                                 file_part(mu.m.step)))
                                    .string();
                write_file_atomically(mu.reproducer, reproducer(mu, s, devices_running(s, mu.driver)));
                write_out_files(local_files(s, out_dir));  // the local files it names, so it runs from there
            }
        });
    }

    // The report: each mutant, then a score per driver and per callback.
    size_t survivors = 0;
    for (const auto& mu : mutants) {
        if (mu.killed)
            std::printf("KILLED    %-50s by %s in %s (run %lld)\n", mu.m.text().c_str(), mu.by.c_str(),
                        mu.by_scenario.c_str(), static_cast<long long>(mu.run_id));
        else
            std::printf("SURVIVED  %s\n", mu.m.text().c_str());
        if (!mu.reproducer.empty()) std::printf("          reproducer: %s\n", mu.reproducer.c_str());
        survivors += !mu.killed;
    }
    for (const auto& d : drivers) {
        std::map<std::string, std::pair<size_t, size_t>> per_cb;  // callback -> killed, total
        size_t killed = 0, total = 0;
        for (const auto& mu : mutants)
            if (mu.driver == d) {
                ++total;
                killed += mu.killed;
                per_cb[mu.m.callback].first += mu.killed;
                per_cb[mu.m.callback].second++;
            }
        size_t skipped = 0;
        for (const auto& [cb, n] : not_run[d]) skipped += n;
        std::printf("\n%s: %zu of %zu mutants killed (%.0f%%)%s\n", d.c_str(), killed, total,
                    total ? 100.0 * double(killed) / double(total) : 0.0,
                    skipped ? fmt::format("; {} more not run (--budget)", skipped).c_str() : "");
        for (const auto& [cb, kt] : per_cb) std::printf("  %-18s %zu/%zu\n", cb.c_str(), kt.first, kt.second);
        if (skipped) {
            std::string list;
            for (const auto& [cb, n] : not_run[d]) list += fmt::format("{}{} {}", list.empty() ? "" : ", ", cb, n);
            std::printf("  not run (--budget): %s\n", list.c_str());
        }
        const DriverProgram* p = program_of(scenarios, d);
        // A function counts as reached under any of its names (suspend run
        // as freeze).
        auto function_of = [&](const std::string& cb) {
            auto a = p->aliases.find(cb);
            return a == p->aliases.end() ? cb : a->second;
        };
        std::set<std::string> ran;
        for (const auto& cb : reached[d]) ran.insert(function_of(cb));
        std::string unreached;
        for (const auto& cb : p->defined())
            if (!ran.count(function_of(cb))) unreached += (unreached.empty() ? "" : ", ") + cb;
        if (!unreached.empty()) std::printf("  not reached by these scenarios: %s\n", unreached.c_str());
    }
    if (survivors)
        std::printf("\n%zu survivor(s): steps these scenarios cannot tell from a mistake - each is a step the\n"
                    "oracle does not need (explain it) or a gap a better scenario or check closes (docs/drivers.md)\n",
                    survivors);
    if (!junit.empty()) {
        // Mutation testing's convention: the suite fails on a mutant it
        // cannot tell from the fixed driver.
        std::vector<JunitCase> cases;
        for (const auto& mu : mutants) {
            JunitCase c;
            c.classname = "mutate." + mu.driver;
            c.name = mu.m.text();
            c.status = mu.killed ? "passed" : "failed";
            if (!mu.killed) c.message = "survived: no scenario tells this mutant from the fixed driver";
            c.properties = {{"mutation", mu.driver + ":" + mu.m.spec()}};
            if (mu.killed) {
                c.properties.push_back({"killed_by", mu.by});
                c.properties.push_back({"scenario", mu.by_scenario});
                c.properties.push_back({"run_id", std::to_string(mu.run_id)});
            }
            if (!mu.reproducer.empty()) c.properties.push_back({"reproducer", mu.reproducer});
            cases.push_back(std::move(c));
        }
        report.finish(cases);
    }
    db.end_campaign("finished");
    return survivors ? 1 : 0;
}

}  // namespace quiesce
