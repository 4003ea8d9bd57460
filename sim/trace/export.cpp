#include "sim/trace/export.h"

#include "sim/core/errors.h"
#include "sim/core/time.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>

namespace quiesce {

using json = nlohmann::json;

std::string trace_runs(const TraceReader& db) {
    std::string out = fmt::format("{:>4}  {:<36} {:>6}  {:<10} {:<8} {:>12} {:>9}  {}\n", "run", "scenario", "seed",
                                  "protocol", "verdict", "simulated", "wall", "violations");
    db.each(
        "SELECT r.id, r.scenario, r.seed, r.protocol, r.status, r.sim_time, r.wall_ms,"
        " (SELECT group_concat(DISTINCT invariant) FROM violation v WHERE v.run_id = r.id)"
        " FROM run r ORDER BY r.id",
        {}, [&](const std::vector<std::string>& c) {
            out += fmt::format("{:>4}  {:<36} {:>6}  {:<10} {:<8} {:>12} {:>7.1f}ms  {}\n", c[0], c[1], c[2], c[3], c[4],
                               format_ps(c[5].empty() ? 0 : std::stoull(c[5])),
                               c[6].empty() ? 0.0 : std::stod(c[6]), c[7]);
        });
    return out;
}

namespace {
// Trace Event timestamps are microseconds; ours are picoseconds.
double us(const std::string& ps) { return ps.empty() ? 0.0 : double(std::stoull(ps)) / 1e6; }

json args_of(const std::string& text) {
    if (text.empty()) return json::object();
    json j = json::parse(text, nullptr, false);
    return j.is_discarded() ? json{{"raw", text}} : j;
}
}  // namespace

std::string export_chrome(const TraceReader& db, int64_t run_id) {
    std::string scenario;
    db.each("SELECT scenario, seed, status FROM run WHERE id = ?", {run_id}, [&](const std::vector<std::string>& c) {
        scenario = fmt::format("{} (seed {}, {})", c[0], c[1], c[2]);
    });
    if (scenario.empty()) throw InputError(db.path(), 0, 0, "", fmt::format("no run {}", run_id));
    json events = json::array();
    const int64_t pid = run_id;
    events.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", pid}, {"tid", 0},
                      {"args", {{"name", fmt::format("run {}: {}", run_id, scenario)}}}});
    db.each("SELECT id, name FROM track WHERE run_id = ? ORDER BY id", {run_id}, [&](const std::vector<std::string>& c) {
        int64_t tid = std::stoll(c[0]);
        events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", pid}, {"tid", tid}, {"args", {{"name", c[1]}}}});
        events.push_back({{"ph", "M"}, {"name", "thread_sort_index"}, {"pid", pid}, {"tid", tid},
                          {"args", {{"sort_index", tid}}}});
    });
    db.each("SELECT track_id, ts, dur, name, category, args, ts_cycles, dur_cycles FROM slice WHERE run_id = ?"
            " ORDER BY track_id, ts, depth",
            {run_id}, [&](const std::vector<std::string>& c) {
                json a = args_of(c[5]);
                a["ts_ps"] = std::stoll(c[1]);  // exact: the microsecond doubles may round
                a["dur_ps"] = std::stoll(c[2]);
                if (!c[6].empty()) a["ts_cycles"] = std::stoll(c[6]);
                if (!c[7].empty()) a["dur_cycles"] = std::stoll(c[7]);
                events.push_back({{"ph", "X"}, {"pid", pid}, {"tid", std::stoll(c[0])}, {"ts", us(c[1])},
                                  {"dur", us(c[2])}, {"name", c[3]}, {"cat", c[4]}, {"args", a}});
            });
    db.each("SELECT track_id, ts, name, category, args, id FROM instant WHERE run_id = ?", {run_id},
            [&](const std::vector<std::string>& c) {
                events.push_back({{"ph", "i"}, {"s", "t"}, {"pid", pid}, {"tid", std::stoll(c[0])}, {"ts", us(c[1])},
                                  {"name", c[2]}, {"cat", c[3]}, {"args", args_of(c[4])}});
            });
    db.each("SELECT track_id, ts, kind, args FROM fault WHERE run_id = ?", {run_id}, [&](const std::vector<std::string>& c) {
        events.push_back({{"ph", "i"}, {"s", "p"}, {"pid", pid}, {"tid", std::stoll(c[0])}, {"ts", us(c[1])},
                          {"name", "fault: " + c[2]}, {"cat", "fault"}, {"args", args_of(c[3])}});
    });
    std::map<std::string, int64_t> track_ids;
    db.each("SELECT name, id FROM track WHERE run_id = ?", {run_id},
            [&](const std::vector<std::string>& c) { track_ids[c[0]] = std::stoll(c[1]); });
    db.each("SELECT component, ts, invariant, message, evidence FROM violation WHERE run_id = ?", {run_id},
            [&](const std::vector<std::string>& c) {
                int64_t tid = track_ids.count(c[0]) ? track_ids[c[0]] : 0;
                events.push_back({{"ph", "i"}, {"s", "g"}, {"pid", pid}, {"tid", tid}, {"ts", us(c[1])},
                                  {"name", "violation: " + c[2]}, {"cat", "violation"},
                                  {"args", {{"message", c[3]}, {"evidence", args_of(c[4])}}}});
            });
    db.each("SELECT track_id, ts, name, value FROM counter WHERE run_id = ?", {run_id},
            [&](const std::vector<std::string>& c) {
                events.push_back({{"ph", "C"}, {"pid", pid}, {"tid", std::stoll(c[0])}, {"ts", us(c[1])},
                                  {"name", c[2]}, {"args", {{c[2], std::stod(c[3])}}}});
            });
    // Ledger flows: issue -> retire of one in-flight entry.
    db.each("SELECT f.id, a.track_id, a.ts, b.track_id, b.ts FROM flow f"
            " JOIN instant a ON a.id = f.from_id JOIN instant b ON b.id = f.to_id"
            " WHERE f.run_id = ? AND f.from_table = 'instant' AND f.to_table = 'instant'",
            {run_id}, [&](const std::vector<std::string>& c) {
                int64_t id = std::stoll(c[0]);
                events.push_back({{"ph", "s"}, {"id", id}, {"pid", pid}, {"tid", std::stoll(c[1])}, {"ts", us(c[2])},
                                  {"name", "in flight"}, {"cat", "ledger"}});
                events.push_back({{"ph", "f"}, {"bp", "e"}, {"id", id}, {"pid", pid}, {"tid", std::stoll(c[3])},
                                  {"ts", us(c[4])}, {"name", "in flight"}, {"cat", "ledger"}});
            });
    json doc = {{"traceEvents", events}, {"displayTimeUnit", "ns"},
                {"otherData", {{"quiesce_run", run_id}, {"time_unit_in_db", "ps"}}}};
    return doc.dump() + "\n";
}

}  // namespace quiesce
