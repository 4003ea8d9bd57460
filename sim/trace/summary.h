// `quiesce trace export DB [RUNS] --format html -o DIR`: sleepgraph's
// multi-run summary page (index.html) over several runs of one database, and
// `quiesce trace diff DB A B --format html`: two runs side by side. Both are
// static, self-contained HTML (no script, no network); the numbers are read
// from the database through TraceReader and computed here, where the unit
// tests check them (tests/test_html_summary.cpp).
#pragma once

#include "sim/core/time.h"
#include "sim/trace/trace_db.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace quiesce {

// n, min, median (the mean of the middle two for an even n) and max of
// durations; all zero for none.
struct DurationStats {
    size_t n = 0;
    Picos min = 0, median = 0, max = 0;
};
DurationStats duration_stats(std::vector<Picos> values);

// One phase of a transition as the summary needs it.
struct PhaseSpan {
    std::string name, action, direction;  // direction: "suspend" or "resume" (the phase's args)
    Picos ts = 0, dur = 0;
};
// One transition's times, sleepgraph's way: suspend from the transition's
// start to the start of its sleep (the first phase whose action is
// `platform-enter` or `s2idle`), resume from the end of the sleep to the end
// of the transition. Without a sleep (an aborted transition) suspend is the
// whole transition and there is no resume; a transition that ends with its
// sleep (never resumed) has no resume either.
struct TransitionTimes {
    Picos suspend = 0;
    std::optional<Picos> resume;
    std::optional<Picos> sleep;  // the sleep phase's length
};
TransitionTimes transition_times(Picos ts, Picos dur, const std::vector<PhaseSpan>& phases);

// Whether a callback at time `ts` counts toward suspend or resume: the
// direction of the phase that encloses it (S4's thaw callbacks belong to the
// suspend half, an aborted transition's unwinding to the resume half); else
// before the sleep is suspend and after it resume. `phases` sorted by ts.
std::string callback_direction(Picos ts, const std::vector<PhaseSpan>& phases);
// A duration to read on the HTML pages: three decimals in its unit
// (s, ms, us, ns), or whole picoseconds.
std::string short_time(Picos ps);

struct SummaryCycle {
    int cycle = 0;          // 1.. (the transition's `cycle`), 0 for a run of one transition
    std::string result;     // resumed | aborted | ...
    Picos ts = 0, dur = 0;
    TransitionTimes times;
};

struct SummaryRun {
    int64_t id = 0;
    std::string scenario, protocol, platform, status, outcome, expected, message;
    uint64_t seed = 0;
    Picos sim_time = 0;
    size_t violations = 0;
    std::vector<SummaryCycle> cycles;  // one per transition slice, in time order
    std::string cycles_line;           // "16 of 20" for a run of several cycles ([cycles]), else ""
};

// A device's suspend and resume callback time: per transition, the sum of
// its callbacks in that half; worst_run is the run of the max.
struct DeviceSummary {
    std::string device;
    DurationStats suspend, resume;
    int64_t worst_suspend_run = 0, worst_resume_run = 0;
};

struct CallbackSummary {
    std::string device, callback;
    DurationStats durations;
    size_t failed = 0;  // with rc != 0
};

struct InvariantSummary {
    std::string invariant;
    size_t reports = 0;
    std::vector<int64_t> runs;  // the runs it fired in, ascending
    std::string first_message;
};

struct ProtocolSummary {
    std::string protocol;
    size_t runs = 0;
    DurationStats suspend, resume;  // over every transition of its runs
};

struct MultiRunSummary {
    std::string db_path;
    std::vector<SummaryRun> runs;
    std::vector<ProtocolSummary> protocols;
    std::vector<DeviceSummary> devices;      // by name
    std::vector<CallbackSummary> callbacks;  // by device, then callback
    std::vector<InvariantSummary> invariants;  // by runs hit, most first, then id
};

// The runs of `db` named in `runs` (all of them when empty), ascending.
// Throws InputError naming the database for a run that does not exist.
MultiRunSummary summarize_runs(const TraceReader& db, const std::vector<int64_t>& runs);
// The page: a row per run (linking `run-N.html`), per-cycle times for runs
// of several cycles, per-protocol times, per-device statistics, violations
// by invariant with links to the runs they hit.
std::string summary_html(const MultiRunSummary& summary);

// `trace diff --format html`: runs `a` and `b` side by side - the first event
// where they part, each phase and each device callback with both durations
// and the difference, rows that differ highlighted - and their violations.
std::string diff_html(const TraceReader& db, int64_t a, int64_t b);

// "1-3,7" style run lists for the command line: each item N or A-B (A <= B).
// Throws InputError naming the item.
std::vector<int64_t> parse_run_list(const std::vector<std::string>& items);

// The style sheet both pages share.
extern const char* const kSummaryCss;

}  // namespace quiesce
