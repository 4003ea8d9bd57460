// quiesce explore (issue 6, first part): which faults, at which phase and
// device, break a scenario? A baseline run shows the phases the protocol
// really goes through and the devices that take part in each callback
// phase; every (fault kind, phase, device) point becomes a variant of the
// scenario with that one fault rule added. Variants run in forked children
// (-j), violations are deduplicated by signature (invariant, phase,
// component, fault kind) against the baseline's, and each distinct one is
// written as a scenario file that reproduces it.
#pragma once

#include "sim/pm/device_graph.h"
#include "sim/scenario/executor.h"
#include "sim/scenario/scenario.h"

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <tuple>
#include <string>
#include <vector>

namespace quiesce {

struct ExploreOptions {
    std::vector<std::string> kinds;      // fault kinds to place (empty: default_explore_kinds())
    std::string strategy = "exhaustive"; // exhaustive (in order) | random (seeded shuffle)
    size_t budget = 0;                   // at most this many variants (0: all)
    double budget_s = 0;                 // or: stop once this much wall time has passed (0: no limit)
    uint64_t seed = 1;                   // the random strategy's shuffle
    unsigned jobs = 1;
    unsigned shard = 0, shards = 1;      // this process runs the variants i with i % shards == shard
    bool orders = false;                 // also every other suspend order that keeps the graph's edges
    size_t orders_limit = 1000;          // ... all when at most this many, else this many sampled (seed)
    bool break_order = false;            // also, per edge, the default order with that one edge broken
    bool cross = false;                  // also every combination of the axes asked for (faults, orders, PCT, timings)
    bool prefix = true;                  // share the run up to each phase and fork the variants there
    Branching way = Branching::Rollback; // ... and run a pause's variants in turn, rolled back (or forked each)
    std::string trace = "summary";       // what each variant records (the baseline: its file's level)
    size_t persistence = 0;              // power-loss also at each drive's first N persistence points
    size_t pct = 0;                      // also N PCT schedules (seeds 1..N) of the simulated software
    unsigned pct_depth = 3;
    uint64_t pct_steps = 20'000;
    size_t timing = 0;                   // also N runs with latencies jittered (seeds 1..N)
    unsigned jitter = 20;                // ... by up to this percent
    // --mutate DRIVER[:CALLBACK[:STEP]] (or "all") with another axis: one more
    // axis, every mutation of that driver's reached callbacks (docs/drivers.md).
    std::string mutate{};
};

// Whether --mutate takes part in an exploration of one scenario as an axis
// (some other axis or option asked for too), rather than running each
// mutant alone over several scenarios (cmd_mutate).
bool mutate_composes(const ExploreOptions& o);

const std::vector<std::string>& default_explore_kinds();

// One place to put one fault: a --fault rule and what it names.
struct FaultPoint {
    std::string rule;  // "kind=callback-fail,phase=suspend,device=dma0"
    std::string kind, phase, device;
    bool graph_allows = true;  // orders: every edge of the device graph kept
    size_t nth = 0;            // a drive's persistence points: after the nth
    // --cross: the fault under another order - that order's rule
    // ("order=a,b,...") and what it changes from the default (graph_allows
    // is then the order's).
    std::string order{}, order_change{};
    // --cross: a fault or order (or schedule) under a PCT schedule
    // ("schedule=pct,...") or a timing ("timing=..."): their rules.
    std::string schedule{}, timing{};
    // --mutate: a driver mutation ("mutate=DRIVER:OP:CALLBACK:STEP") under
    // which the rest runs (a mutation's own point has it as its rule).
    std::string mutation{};
};

// A variant's decisions, one slot per axis (an empty slot: the scenario's
// own): the fault rule, the order, the PCT schedule, the timing, the
// driver mutation.
struct Decisions {
    std::string fault, order, schedule, timing, mutation;
};
Decisions decisions(const FaultPoint& p);
// Whether `p` combines decisions of two or more axes (--cross).
bool combined(const FaultPoint& p);
// Its axes as the report names them: "faults x orders x timings".
std::string axes_of(const FaultPoint& p);
// Its kind with the axes it is combined with: "callback-fail+order+timing".
std::string combined_kind(const FaultPoint& p);
// Its rules in the order a variant applies them (order, schedule, timing,
// mutation, then the fault: the fault's rule comes last).
std::vector<std::string> decision_rules(const FaultPoint& p);
// Every smaller part of a combination: the points that make each proper,
// non-empty subset of its decisions - fewest decisions first, and among as
// many the fault's before the mutation's, the order's, the schedule's, the
// timing's.
std::vector<FaultPoint> smaller_parts(const FaultPoint& p);
// The point that makes `p`'s decisions but its mutation (the part that
// forks from the mutant's own run; `p` unchanged when it has none).
FaultPoint without_mutation(const FaultPoint& p);

// The fault points of `kinds` over what the baseline run went through:
// callback faults at every (callback phase, device that took part), point
// faults at the start of every suspend and resume phase, other operation
// faults in every phase, cpu-offline-failure at each cpus-offline phase.
// With `persistence` > 0 and power-loss among the kinds, also a power loss
// after each of the first `persistence` persistence points of each drive
// in `drives` during the transition (CrashMonkey) that the baseline reached
// (it must have noted them: Scenario::note_persistence).
// offline-fs-write, like image-bit-flip a fault of the time the machine is
// off after S4 (no phase): the other OS deletes the file, or writes file
// block 0 (one the writer wrote before the snapshot), or the file's last
// block `file_blocks` - 1 (a hole, unless the writer went round the file).
std::vector<FaultPoint> fault_points(const RunStream& baseline, const std::vector<std::string>& kinds,
                                     const std::vector<std::string>& drives = {}, size_t persistence = 0,
                                     uint64_t file_blocks = 0);

// Device orders as variants (rule "order=a,b,..."; kind "order"): the
// linear extensions of the graph other than the default - all of them when
// there are at most `limit`, else `limit` drawn at random with `seed`,
// and with `break_order` for every edge the default order with the
// superior moved just before its subordinate.
std::vector<FaultPoint> order_points(const DeviceGraph& g, bool extensions, bool break_order, size_t limit,
                                     uint64_t seed = 1);
// Every combination (--cross) of one decision from each of two or more
// axes: faults, orders, PCT schedules, timings - for every set of at
// least two non-empty axes, their product, the smaller sets first (faults
// x orders first of all), the first axis varying fastest. Each product's
// name (axes_of) and size go to `products`. Mutations are a fifth axis:
// its products come after those of the other four with as many axes, and
// a mutation is the primary decision of a product without a fault.
std::vector<FaultPoint> cross_points(const std::vector<FaultPoint>& faults, const std::vector<FaultPoint>& orders,
                                     const std::vector<FaultPoint>& schedules, const std::vector<FaultPoint>& timings,
                                     std::vector<std::pair<std::string, size_t>>* products = nullptr,
                                     const std::vector<FaultPoint>& mutations = {});
// The orders one move away from the default (one device taken out and put
// elsewhere), nearest first: the candidates for shrinking an order finding.
std::vector<FaultPoint> one_move_orders(const DeviceGraph& g);
// "dma0 before dma1": the first pair the order puts the other way round
// from the default.
std::string order_change(const std::vector<std::string>& def, const std::vector<std::string>& order);

// Prefix sharing (execute_branched): each variant's decisions as steps - a
// PCT schedule and a timing before the first event, an order before the
// first callback phase, a fault 1 ps before its phase first starts or
// before a drive's nth persistence point (the baseline must have noted
// them: Scenario::note_persistence) - and where the prefix run, a run as
// the baseline, forks them (`root`, in its order; stems plan the rest from
// their own runs). The rest go to `alone`: they start from time 0 and are
// recorded after the prefix run's, in their order. Of them, `zygote` fork
// from a run of the baseline's scenario paused at time 0 with its platform
// built (execute_branched of those alone: elaborated once, not once each):
// what would fork at time 0 one by one (a schedule, a timing, their pair,
// with no variant following it) and every variant with a fault that waits
// for no phase (taken at time 0, Choice::Where::Begin; with what follows
// it). The others alone have no decision to take and run from the start.
struct PrefixPlan {
    std::vector<std::vector<Choice>> steps;  // per variant; empty for those that run from the start
    std::vector<size_t> members;           // the variants the prefix run forks, ascending
    std::vector<Fork> root;                // where it forks them
    std::vector<size_t> zygote;            // those of `alone` forked from the zygote, ascending
};
PrefixPlan prefix_plan(const RunStream& baseline, const std::vector<FaultPoint>& variant_points,
                       std::vector<size_t>& alone);
// What plan_forks reads of a run - its phases' and callbacks' starts, its
// persistence points - and nothing else: the forks it plans over the view
// are those over the run. A prefix run holds its baseline for the whole
// branched run and each of its forks inherits it: a view of a run recorded
// at the level `events` (a million events on a busy machine) is a few
// hundred.
RunStream branch_view(const RunStream& run);

// PCT schedules as variants (rule "schedule=pct,seed=i,depth=d,steps=k";
// kind "pct"): seeds 1..n.
std::vector<FaultPoint> pct_points(size_t n, unsigned depth, uint64_t steps);
// Latency jitter as variants (rule "timing=jitter=P,seed=i"; kind "timing"): seeds 1..n.
std::vector<FaultPoint> timing_points(size_t n, unsigned percent);

// Driver mutations as variants (rule "mutate=DRIVER:OP:CALLBACK:STEP";
// kind "mutation"; device: the mutation in words): every mutation of the
// callbacks `baseline` saw run of each driver `which` names - a driver
// file's name, "all", "DRIVER:CALLBACK" for one callback's, or
// "DRIVER:CALLBACK:STEP" for one step's - that a
// device of `s` runs unpatched. Throws InputError when `which` names none.
std::vector<FaultPoint> mutation_points(const RunStream& baseline, const Scenario& s, const std::string& which);
// The callbacks `devices` ran in `stream` (device callbacks, syscore ops,
// runtime PM callbacks, and the request path's hooks: steps on DEVICE.io).
std::set<std::string> reached_callbacks(const RunStream& stream, const std::vector<std::string>& devices);
// The devices of `s` that run `driver` as its file defines it (unpatched).
std::vector<std::string> devices_running(const Scenario& s, const std::string& driver);
// "mutate=dma-engine:drop:suspend:fail" -> "drop suspend/fail" ("" if it is none).
std::string mutation_text(const std::string& rule);

// Orders, schedules, timings and mutations change the whole run, not one
// site: they always "fire", and their findings are per invariant and
// component.
inline bool whole_run_kind(const std::string& kind) {
    return kind == "order" || kind == "pct" || kind == "timing" || kind == "mutation";
}

// Which variants of `points` this shard runs under the strategy and budget.
std::vector<size_t> pick_variants(size_t points, const ExploreOptions& o);

struct Signature {
    std::string invariant, phase, component, kind;
    bool operator<(const Signature& o) const {
        return std::tie(invariant, phase, component, kind) < std::tie(o.invariant, o.phase, o.component, o.kind);
    }
};

struct Finding {
    Signature sig;
    size_t count = 0;          // variants that showed it
    int64_t first_run = 0;     // run id of the first
    size_t first_variant = 0;  // index into the points (after shrinking: the shrunk one)
    size_t found_variant = 0;  // the variant that first showed it
    std::set<std::string> violations;  // every id that first run showed
    std::string reproducer;    // file written, if any
    std::string shrunk;        // order findings: the order rule one move from the default that shows it
    // Workload tasks the finding does not need: [workload] key = value that
    // leaves each out (writer_blocks = 0...), with the task's name.
    struct Removed {
        std::string task, key, value;
    };
    std::vector<Removed> workload_removed;
    std::vector<std::string> devices_removed;  // platform devices it shows without ([devices.X] present = false)
    std::vector<size_t> faults_removed;        // the scenario file's own [[fault]] tables it shows without (0-based)
};

// The workload tasks of `s` that shrinking may leave out, each as the
// [workload] setting that removes it and what it does to a Scenario.
struct WorkloadTask {
    std::string task, key, value;
    std::function<bool(const Scenario&)> present;
    std::function<void(Scenario&)> remove;
};
const std::vector<WorkloadTask>& workload_tasks();

// The scenario `s` with one more fault rule, expecting only "no violation"
// (any outcome): what a variant runs.
Scenario variant_of(const Scenario& s, const FaultPoint& p);

// The text of a scenario file that reproduces a finding: the original file
// without its [expect] table, a comment saying how it was found, the fault
// rule, and an [expect] naming the violations the variant showed.
// `patches`: a driver mutation's [[drivers.DEVICE.patch]] tables
// (mutation_patches), when the finding's decisions have one.
std::string reproducer_text(const std::string& original, const std::string& scenario_file, const FaultPoint& p,
                            const Finding& f, size_t variant, size_t variants, uint64_t seed,
                            const std::string& patches = "");
// A mutation (rule "mutate=DRIVER:...") as the [[drivers.DEVICE.patch]]
// table of every device of `s` that runs DRIVER unpatched.
std::string mutation_patches(const Scenario& s, const std::string& rule);

}  // namespace quiesce
