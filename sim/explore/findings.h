// What an exploration found, as `quiesce explore` reports it and `quiesce
// findings` rebuilds it from one or more databases: the list of variants
// an exploration makes (its plan), the findings deduplicated by signature
// against the baseline's violations, their shrinking, the report's lines,
// and the files of a reproducer folder - each finding's scenario file and
// the local platform, protocol, driver and device files it needs.
#pragma once

#include "sim/explore/explore.h"

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace quiesce {

// Checks `o` against scenario `s` and fills in what explore derives from
// it (the pct strategy's schedule count, the default kinds): an InputError
// names the option at fault. What every exploration of `s` with `o` does.
void settle_explore_options(ExploreOptions& o, const Scenario& s);

// The variants an exploration of `s` can make, in the order `--strategy
// exhaustive` runs them: fault points over what `baseline` went through,
// orders, PCT schedules, timings, then (--cross) their combinations.
// pick_variants chooses among them.
struct ExplorePlan {
    DeviceGraph graph;        // the scenario's device graph, in its suspend order
    std::vector<FaultPoint> points;
    size_t fault_count = 0;   // points[0, fault_count): fault points
    size_t order_count = 0, schedule_count = 0, timing_count = 0, mutation_count = 0;  // then each axis's single decisions
    size_t single_count = 0;  // ... up to here; then the combinations
    std::vector<std::pair<std::string, size_t>> products;  // each product of axes (--cross) and its size
};
ExplorePlan plan_exploration(const RunStream& baseline, const ExploreOptions& o, const Scenario& s);
// What a variant at point `p` records as its decisions (run.faults).
std::string decisions_of(const FaultPoint& p);

// A violation as findings compare them: invariant, phase, component.
using Seen = std::tuple<std::string, std::string, std::string>;
// A run's violations as findings compare them, in the order they fired.
std::vector<Seen> violations_seen(const RunStream& run);

// Findings deduplicated by signature (invariant, phase, component, fault
// kind), beyond the baseline's violations. Each variant is added once; a
// finding's representative - the run it names, its reproducer's decision -
// is the variant earliest in the plan that showed it, so the findings do
// not depend on the order runs were recorded in, nor on how a sharded
// exploration split them.
class FindingSet {
public:
    explicit FindingSet(std::set<Seen> known) : known_(std::move(known)) {}
    // One variant's run: its place in `points`, its violations in the order
    // they fired, every id it showed. Whether it showed one beyond the
    // baseline's.
    bool add(const std::vector<FaultPoint>& points, size_t point, int64_t run_id, const std::vector<Seen>& violations,
             const std::set<std::string>& ids);
    // Once every run is in: a combination of decisions (--cross) is a
    // finding where no part of it - each decision alone, or fewer of them
    // together - showed the violation in a run of this exploration. How
    // many runs of each product of axes showed one.
    std::map<std::string, size_t> judge_pairs(const std::vector<FaultPoint>& points);
    std::map<Signature, Finding> findings;
    // Each variant (by point) that showed a violation of its own - for a
    // single decision one beyond the baseline's, for a combination one no
    // smaller part of it showed (once judge_pairs ran): the first such.
    std::map<size_t, Seen> fresh;

private:
    void note(const Signature& sig, int64_t run_id, size_t point, const std::set<std::string>& ids);
    std::set<Seen> known_;
    std::map<std::string, std::set<Seen>> shown_;  // a variant's decisions (decisions_of) -> what it showed
    struct PairRun {
        size_t point;
        int64_t run_id;
        std::vector<Seen> seen;
        std::set<std::string> ids;
    };
    std::vector<PairRun> pairs_;
};

// Whether a run shows the finding: its invariant fired at its component.
bool shows_finding(const RunResult& r, const Finding& f);
// How shrinking runs its trials - each the scenario with what shrinking
// has left out so far, plus the finding's decisions: `jobs` at a time,
// every finding's next trial together, each distinct trial once, at trace
// level summary (violations are recorded at every level). With `prefix`,
// trials that share a run up to their decisions fork from it, as explore's
// variants do: from the baseline's run for the scenario itself, else from
// the run of the trial of that same scenario whose decision comes last
// (docs/exploring.md, "Shrinking"). The results are those of runs from the
// start either way. `baseline`: the branch view of the scenario's baseline
// run (branch_view; persistence points noted when the exploration asked).
struct ShrinkRuns {
    unsigned jobs = 1;
    bool prefix = true;
    RunStream baseline;
    struct Stats {
        size_t batches = 0;     // rounds of trials run together
        size_t runs = 0;        // distinct trials run
        size_t forked = 0;      // of them, forked from a shared run
        size_t from_start = 0;  // run from the start (scouts included)
    };
    mutable Stats stats;
    Branching way = Branching::Rollback;  // a pause's variants run in turn, rolled back, or forked each
};
// Order findings shrink to the order nearest the default (one device
// moved) that still shows them; combinations to the smallest part of them
// that still shows it (each decision alone, then two together, ...), or
// else, with an order among them, to the order nearest the default: the
// shrunk decision is appended to `points` and becomes the finding's
// first_variant.
void shrink_decisions(const Scenario& s, const DeviceGraph& graph, std::vector<FaultPoint>& points,
                      std::map<Signature, Finding>& findings, const ShrinkRuns& how);
// What a reproducer leaves out: the scenario file's own faults, workload
// tasks and leaf devices each finding shows without.
void shrink_for_reproducers(const Scenario& s, const std::vector<FaultPoint>& points,
                            std::map<Signature, Finding>& findings, const ShrinkRuns& how);

// `s` fit for a file name: what is not a letter, digit, '-' or '.' becomes '_'.
std::string file_part(std::string s);
// What a variant decided: its fault rule, order, schedule or timing, or
// one of them under the others ("RULE under ORDER and TIMING").
std::string decision_text(const FaultPoint& p);
// The report's lines for the findings: a count, then one line each
// (invariant, phase, component, kind, how many runs, `first(f)`, the
// decision), its reproducer if written. "no violation ..." when none.
std::string findings_text(const std::vector<FaultPoint>& points, const std::map<Signature, Finding>& findings,
                          const std::function<std::string(const Finding&)>& first);

// The mutation score (--mutate as an axis): each mutant the plan's first
// `explored` points hold, killed alone (its own run showed a violation
// beyond the baseline's), killed only in a product (a combination with it
// showed a violation no smaller part - the mutation alone, the rest
// without it - showed), or survived every run of it in `ran`; then killed
// of tried per driver and per callback. "" without mutations.
std::string mutation_score_text(const std::vector<FaultPoint>& points, size_t explored,
                                const std::map<size_t, Seen>& fresh, const std::set<size_t>& ran);

// A file of a reproducer folder.
struct OutFile {
    std::string path, content;
    std::string from;  // a copy of a scenario's local file (local_files): the original
};
// The files a scenario file in `out_dir` needs to load as `s` does: each
// local platform, protocol, driver (and the driver it derives from) and
// device file `s` resolved that a file in `out_dir` would not resolve to
// the same file, as a copy where a file in `out_dir` looks first
// (out_dir/platforms/NAME.toml, protocols/, drivers/, devices/). Built-in
// files (QUIESCE_DATA_DIR) are found from anywhere and not copied.
std::vector<OutFile> local_files(const Scenario& s, const std::string& out_dir);
// One scenario file per finding in `out_dir`, numbered from `numbered` + 1
// (which counts on), each finding's `reproducer` set; then local_files.
// `explored`: how many points the plan had (the comment's "variant K of N").
std::vector<OutFile> reproducer_files(const std::string& out_dir, const Scenario& s,
                                      const std::vector<FaultPoint>& points, size_t explored,
                                      std::map<Signature, Finding>& findings, size_t& numbered);
// The reproducers an earlier explore (or explore --mutate) left in
// `out_dir` - NN-*.toml files that say "# Found by quiesce explore" - by
// name, sorted; none when the folder is not there yet. This explore's are
// numbered from 01 beside them, and `quiesce run OUT` would run both.
std::vector<std::string> earlier_reproducers(const std::string& out_dir);
// The one-line warning about them ("" when there are none).
std::string earlier_reproducers_warning(const std::string& out_dir);

}  // namespace quiesce
