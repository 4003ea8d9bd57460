// Which interleavings of the software's concurrent contexts an exploration tried: pairs of callbacks of one
// phase that ran at the same time, which started first in each variant, and on which cores they ran; and the
// same for a callback with a task, kernel thread or interrupt handler, or two of those (RunStream::contexts).
#pragma once

#include "sim/trace/wire.h"

#include <map>
#include <string>
#include <tuple>
#include <utility>

namespace quiesce {

// The core each device callback ran on in a run, by (phase, device) ->
// "cpu1": the `cpu` arg of its `callback` slice, which the PM core records
// (docs/trace-schema.md). A phase that ran more than once (several cycles,
// a rollback) counts its last time.
std::map<std::pair<std::string, std::string>, std::string> callback_cores(const RunStream& stream);

// What explore's coverage says about concurrency, over every variant added.
class Interleavings {
public:
    // One variant's run.
    void add(const RunStream& stream);
    // "interleavings: ..." and "cross-core: ..." lines ("" when no two callbacks overlapped), then
    // "contexts: ..." and "cross-core contexts: ..." ("" when no other context overlapped one).
    std::string text() const;
    // Pairs of callbacks on two cores whose start order differed across the variants.
    size_t cross_core_varied() const;

private:
    std::string callbacks_text() const;
    std::string contexts_text() const;
    // Two callbacks of one phase that overlapped in time in some run (the
    // async ones), by (phase, a, b) with a < b: bit 1 a started first in
    // some run, bit 2 b did, bit 4 together.
    std::map<std::tuple<std::string, std::string, std::string>, unsigned> overlaps_;
    // The same for two that ran on different cores, keyed by where each
    // ran: (phase, a, a's core, b, b's core).
    std::map<std::tuple<std::string, std::string, std::string, std::string, std::string>, unsigned> cross_;
    // A callback with a task, kernel thread or interrupt handler, or two of
    // those, by (phase, a's kind, a, b's kind, b): the bits as above, over
    // every time they overlapped in every variant.
    std::map<std::tuple<std::string, int, std::string, int, std::string>, unsigned> contexts_;
    // The same on two cores: (phase, a's kind, a, a's core, b's kind, b, b's core).
    std::map<std::tuple<std::string, int, std::string, std::string, int, std::string, std::string>, unsigned> contexts_cross_;
};

}  // namespace quiesce
