// Views and exports of a trace database (read-only).
//   runs    one line per run: id, scenario, seed, protocol, verdict, simulated
//           time and CPU cycles, wall time, violations
//   chrome  Chrome Trace Event JSON that Perfetto UI and chrome://tracing
//           open: one process per run, one named thread per track (named like
//           the device tree), complete ("X") events for slices, instants for
//           events, faults and violations, counters for power states, flows
//           for ledger issue -> retire
#pragma once

#include "sim/trace/trace_db.h"

#include <cstdint>
#include <string>

namespace quiesce {

std::string trace_runs(const TraceReader& db);
// Throws InputError if the run does not exist.
std::string export_chrome(const TraceReader& db, int64_t run_id);

}  // namespace quiesce
