// quiesce explore (issue 6, first part): which faults, at which phase and
// device, break a scenario? A baseline run shows the phases the protocol
// really goes through and the devices that take part in each callback
// phase; every (fault kind, phase, device) point becomes a variant of the
// scenario with that one fault rule added. Variants run in forked children
// (-j), violations are deduplicated by signature (invariant, phase,
// component, fault kind) against the baseline's, and each distinct one is
// written as a scenario file that reproduces it.
#pragma once

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
    uint64_t seed = 1;                   // the random strategy's shuffle
    unsigned jobs = 1;
    unsigned shard = 0, shards = 1;      // this process runs the variants i with i % shards == shard
};

const std::vector<std::string>& default_explore_kinds();

// One place to put one fault: a --fault rule and what it names.
struct FaultPoint {
    std::string rule;  // "kind=callback-fail,phase=suspend,device=dma0"
    std::string kind, phase, device;
};

// The fault points of `kinds` over what the baseline run went through:
// callback faults at every (callback phase, device that took part), point
// faults at the start of every suspend and resume phase, other operation
// faults in every phase, cpu-offline-failure at each cpus-offline phase.
std::vector<FaultPoint> fault_points(const RunStream& baseline, const std::vector<std::string>& kinds);

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
    size_t first_variant = 0;  // index into the points
    std::set<std::string> violations;  // every id that first run showed
    std::string reproducer;    // file written, if any
};

// The scenario `s` with one more fault rule, expecting only "no violation"
// (any outcome): what a variant runs.
Scenario variant_of(const Scenario& s, const FaultPoint& p);

// The text of a scenario file that reproduces a finding: the original file
// without its [expect] table, a comment saying how it was found, the fault
// rule, and an [expect] naming the violations the variant showed.
std::string reproducer_text(const std::string& original, const std::string& scenario_file, const FaultPoint& p,
                            const Finding& f, size_t variant, size_t variants, uint64_t seed);

}  // namespace quiesce
