// Which interleavings of the software's concurrent contexts an exploration tried: pairs of callbacks of one
// phase that ran at the same time, which started first in each variant, and on which cores they ran.
#pragma once

#include "sim/scenario/scenario.h"
#include "sim/trace/wire.h"

#include <map>
#include <string>
#include <tuple>
#include <utility>

namespace quiesce {

// The core each callback of an asynchronous callback phase ran on in a run
// of `s` (its protocol, suspend order and platform), by (phase, device) ->
// "cpu1". dpm_async_fn hands the phase's devices, in list order, to the
// online cores in turn (PmEngine::run_callbacks_async); the summary trace
// explore's variants record names neither the core nor the list, so a phase
// is placed only when every device of the graph ran its callback there
// (none skipped, none left out by an error path) and the run's hotplug
// slices say which cores were online. A phase that ran more than once
// (several cycles) counts its last time.
std::map<std::pair<std::string, std::string>, std::string> callback_cores(const RunStream& stream, const Scenario& s);

// What explore's coverage says about concurrency, over every variant added.
class Interleavings {
public:
    // One variant's run, of scenario `s` (the variant: its order).
    void add(const RunStream& stream, const Scenario& s);
    // "interleavings: ..." and "cross-core: ..." lines ("" when no two callbacks overlapped).
    std::string text() const;
    // Pairs of callbacks on two cores whose start order differed across the variants.
    size_t cross_core_varied() const;

private:
    // Two callbacks of one phase that overlapped in time in some run (the
    // async ones), by (phase, a, b) with a < b: bit 1 a started first in
    // some run, bit 2 b did, bit 4 together.
    std::map<std::tuple<std::string, std::string, std::string>, unsigned> overlaps_;
    // The same for two that ran on different cores, keyed by where each
    // ran: (phase, a, a's core, b, b's core).
    std::map<std::tuple<std::string, std::string, std::string, std::string, std::string>, unsigned> cross_;
};

}  // namespace quiesce
