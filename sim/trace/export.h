// Views and exports of a trace database (read-only).
//   runs    one line per run: id, scenario, seed, protocol, verdict, simulated
//           time and CPU cycles, wall time, violations
//   show    a text timeline of one run
//   diff    where a failing run departs from a passing one
//   chrome  Chrome Trace Event JSON that Perfetto UI, chrome://tracing and
//           speedscope open: one process per run, one named thread per track
//           (named like the device tree), complete ("X") events for slices,
//           instants for zero-length slices, events, faults and violations, a
//           counter per device, flows bound to slices (ledger issue ->
//           retire, fault -> violation)
//   vcd     GTKWave, with a .gtkw save file
//   html    a sleepgraph-style timeline page
#pragma once

#include "sim/trace/trace_db.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace quiesce {

std::string trace_runs(const TraceReader& db);
// "run N: scenario (seed S, protocol): verdict, outcome O, T simulated" and
// the run's message and explored decisions on lines below. Throws
// InputError if the run does not exist.
std::string run_title(const TraceReader& db, int64_t run_id);
// A text timeline of one run: its phases in order with the device callbacks
// inside each, the slowest callbacks, the faults and the violations.
std::string trace_show(const TraceReader& db, int64_t run_id);
// Where run `b` first departs from run `a` (the first differing event, by
// track, kind and name, in time order), then the phases side by side.
std::string trace_diff(const TraceReader& db, int64_t a, int64_t b);
// The events trace diff compares, in time order: (time in ps, "track
// category name", or "component violation id", "fault kind"). With
// `summary_only`, those trace level summary records (the slices but the
// per-operation ones, the task-result instants, violations and faults; as
// sim/scenario/run.cpp's in_summary).
std::vector<std::pair<uint64_t, std::string>> diff_events(const TraceReader& db, int64_t run,
                                                          bool summary_only = false);
// Runs `a` and `b` recorded at different trace levels (a baseline at
// `events`, an explore variant at `summary`): the sentence that says so
// ("" when the levels are the same or either is unknown), and whether the
// diff compares only what summary records (one of them is at summary:
// what only the other level records would differ by the level, not by the
// run).
struct DiffLevels {
    std::string note;
    bool summary_only = false;
};
DiffLevels trace_levels_differ(const TraceReader& db, int64_t a, int64_t b);
// Many runs, like sleepgraph's multi-run summary: per protocol and phase, and
// per device callback, min/median/max durations; violation counts.
std::string trace_summary(const std::vector<const TraceReader*>& dbs);
// Throws InputError if the run does not exist.
std::string export_chrome(const TraceReader& db, int64_t run_id);
// IEEE 1364 VCD for GTKWave/Surfer: the device tree as scopes; per track its
// counters (D-state, drive power: integers), per slice category the slice in
// progress (a string: `phase` on the kernel, `callback` and `step` on
// devices, `dma`, `disk`, `usb` on device cores, `irq` on CPUs...), zero-length
// slices as 1-ps pulses on `<category>_mark`, a USB device's `power_state`,
// a core's running `task`, and the interrupt controller's input lines
// (wires). Timescale 1 ps.
std::string export_vcd(const TraceReader& db, int64_t run_id);
// A GTKWave save file for export_vcd's output (at `vcd_path`, "" if not
// known): every signal, a group per track, each with a readable alias
// ("dma0 callback"), zoomed to the whole run.
std::string export_gtkw(const TraceReader& db, int64_t run_id, const std::string& vcd_path);
// One self-contained HTML page in sleepgraph's layout: the suspend and resume
// blocks with the sleep between them compressed, the transition's phases as
// colour bands, one row per device (the device tree first), callbacks as
// bars, faults and violations as markers with their evidence on hover, zoom.
std::string export_html(const TraceReader& db, int64_t run_id);
// The sleepgraph phase (suspend_prepare .. resume_complete, or "other") a
// protocol phase is drawn as, from its action, callback, firmware method and
// direction ("suspend" or "resume").
std::string sleepgraph_phase(const std::string& action, const std::string& callback, const std::string& method,
                             const std::string& direction);

}  // namespace quiesce
