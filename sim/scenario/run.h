// The scenario engine for one run, inside the (forked) process that owns the
// SystemC kernel: builds the platform, runs the boot program, the workload,
// the protocol and the workload again, and reports every event to `sink`.
#pragma once

#include "sim/check/checker.h"
#include "sim/core/events.h"
#include "sim/scenario/scenario.h"
#include "sim/trace/wire.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace quiesce {

// The kinds of events recorded at a trace level (the checker sees all).
uint32_t trace_mask(TraceLevel level);
// A slice of one operation - an interrupt handled, a DMA descriptor, a disk
// command - that the summary level leaves out (thousands in a busy run).
bool per_operation(EvKind kind, std::string_view category, std::string_view name);
// What the summary level records: the kinds of its mask less the
// per-operation slices, and of the instants the tasks' results
// (`task-result`, which the control run's comparison reads:
// transparency.diverged).
bool in_summary(EvKind kind, std::string_view category, std::string_view name);

// Runs `s` to completion in this process. Call at most once per process.
struct RunContext;
// The run's latency jitter and tie-breaking ([timing]) and its PCT schedule
// ([schedule]) from `s`: at its start, or - a stem of explore's prefix
// sharing - before its first event.
void set_timing_and_schedule(RunContext& ctx, const Scenario& s);
RunSummary simulate(const Scenario& s, const std::function<void(const Event&)>& sink);
// What a variant forked at a branch point may change from there on: the
// run's context (its fault plan) and the suspend order, which the engine
// reads at each callback phase.
struct BranchSite {
    RunContext& ctx;
    std::function<void(std::vector<std::string>)> set_suspend_order;
};
// The same, paused with no process running at each simulated time `next()`
// names (ascending; std::nullopt: no more pauses): `branch(site)` runs there
// - it may fork, change the run in each child through `site`, and change
// what `next()` names from then on - and the run goes on in whichever
// process returns. A pause past the run's end comes after it.
// `end`, if given, gets the summary while the run's models still exist: a
// forked run's process sends it and ends there (_exit), sparing the
// teardown, which would only make the kernel copy the pages the
// destructors touch (copy-on-write after the fork).
RunSummary simulate(const Scenario& s, const std::function<void(const Event&)>& sink,
                    const std::function<std::optional<Picos>()>& next, const std::function<void(BranchSite&)>& branch,
                    const std::function<void(const RunSummary&)>& end = {});

}  // namespace quiesce
