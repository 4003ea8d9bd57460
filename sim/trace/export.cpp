// Views of a trace database: the runs in it, trace show, summary and diff.
#include "sim/trace/export.h"

#include "sim/core/errors.h"
#include "sim/core/time.h"
#include "sim/trace/rows.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <utility>
#include <cctype>
#include <cstdlib>
#include <map>

namespace quiesce {

namespace {
// What an explored variant decided (its order, fault rule, schedule), as
// run.faults holds them a line each: what replay re-applies. "; " between.
std::string decisions_text(const std::string& faults) {
    std::string out;
    std::istringstream lines(faults);
    for (std::string l; std::getline(lines, l);) out += (out.empty() ? "" : "; ") + l;
    return out;
}
}  // namespace

std::string trace_runs(const TraceReader& db) {
    std::string out = fmt::format("{:>4}  {:<36} {:>6}  {:<10} {:<8} {:>12} {:>12} {:>9}  {}\n", "run", "scenario",
                                  "seed", "protocol", "verdict", "cpu cycles", "simulated", "wall", "violations");
    each_row(
        db,
        "SELECT r.id, r.scenario, r.seed, r.protocol, r.status, r.sim_time, r.wall_ms,"
        " (SELECT group_concat(DISTINCT invariant) FROM violation v WHERE v.run_id = r.id),"
        " (SELECT clock_hz FROM track t WHERE t.run_id = r.id AND t.kind = 'cpu' ORDER BY t.id LIMIT 1), r.faults"
        " FROM run r ORDER BY r.id",
        {},
        {"run.id", "run.scenario", "run.seed", "run.protocol", "run.status", "run.sim_time", "run.wall_ms",
         "violation.invariant", "track.clock_hz", "run.faults"},
        [&](const Row& c) {
            uint64_t sim = c.natural(5);
            // The boot CPU's cycles over the simulated time (cycles = ps * Hz / 10^12).
            std::string cycles = c[8].empty() ? "-"
                                              : std::to_string(uint64_t(static_cast<unsigned __int128>(sim) *
                                                                        c.natural(8) / 1000000000000ULL));
            std::string decisions = decisions_text(c[9]);
            out += fmt::format("{:>4}  {:<36} {:>6}  {:<10} {:<8} {:>12} {:>12} {:>7.1f}ms  {}{}\n", c[0], c[1], c.natural(2),
                               c[3], c[4], cycles, format_ps(sim), c.real(6), c[7],
                               decisions.empty() ? "" : (c[7].empty() ? "" : "  ") + ("(" + decisions + ")"));
        });
    return out;
}

std::string run_title(const TraceReader& db, int64_t run_id) {
    std::string title;
    each_row(db, "SELECT scenario, seed, protocol, status, outcome, sim_time, message, faults, id FROM run WHERE id = ?",
             {run_id},
             {"run.scenario", "run.seed", "run.protocol", "run.status", "run.outcome", "run.sim_time", "run.message",
              "run.faults", "run.id"},
             [&](const Row& c) {
                std::string decisions = decisions_text(c[7]);
                title = fmt::format("run {}: {} (seed {}, {}): {}, outcome {}, {} simulated{}{}", run_id, c[0], c.natural(1),
                                    c[2], c[3], c[4].empty() ? "-" : c[4],
                                    format_ps(c.natural(5)),
                                    c[6].empty() ? "" : "\n  " + c[6],
                                    decisions.empty() ? "" : "\n  decisions: " + decisions);
            });
    if (title.empty()) throw InputError(db.path(), 0, 0, "", fmt::format("no run {}", run_id));
    return title;
}


std::string trace_show(const TraceReader& db, int64_t run_id) {
    std::string out = run_title(db, run_id) + "\n\nphases\n";
    struct Phase {
        Picos ts, dur;
        std::string name;
    };
    std::vector<Phase> phases;
    each_row(db,
             "SELECT s.ts, s.dur, s.name, s.id FROM slice s JOIN track t ON t.id = s.track_id"
             " WHERE s.run_id = ? AND s.category = 'phase' AND t.name = 'kernel' ORDER BY s.ts",
             {run_id}, {"slice.ts", "slice.dur", "slice.name", "slice.id"},
             [&](const Row& c) { phases.push_back({c.natural(0), c.natural(1), c[2]}); });
    struct Callback {
        Picos ts, dur;
        std::string device, name, cycles;
    };
    std::vector<Callback> callbacks;
    each_row(db,
             "SELECT s.ts, s.dur, t.name, s.name, s.dur_cycles, s.id FROM slice s JOIN track t ON t.id = s.track_id"
             " WHERE s.run_id = ? AND s.category = 'callback' ORDER BY s.ts",
             {run_id}, {"slice.ts", "slice.dur", "track.name", "slice.name", "slice.dur_cycles", "slice.id"},
             [&](const Row& c) {
                 callbacks.push_back({c.natural(0), c.natural(1), c[2], c[3], c[4]});
             });
    // A run of several cycles ([cycles]): each transition slice carries its
    // cycle, and the phases are printed under the cycle they belong to.
    struct Transition {
        Picos ts, dur;
        std::string cycle, result;
    };
    std::vector<Transition> transitions;
    each_row(db,
             "SELECT s.ts, s.dur, s.args, s.id FROM slice s JOIN track t ON t.id = s.track_id"
             " WHERE s.run_id = ? AND s.category = 'transition' AND t.name = 'kernel' ORDER BY s.ts",
             {run_id}, {"slice.ts", "slice.dur", "slice.args", "slice.id"}, [&](const Row& c) {
                 nlohmann::json a = c.json(2);
                 auto text = [&](const char* key) { return arg_text(a, key); };
                 if (!text("cycle").empty())
                     transitions.push_back({c.natural(0), c.natural(1), text("cycle"), text("result")});
             });
    std::string cycles_line;
    each_row(db,
             "SELECT i.args, i.id FROM instant i WHERE i.run_id = ? AND i.category = 'run' AND i.name = 'cycles'",
             {run_id}, {"instant.args", "instant.id"}, [&](const Row& c) {
                 nlohmann::json a = c.json(0);
                 auto text = [&](const char* key) {
                     std::string t = arg_text(a, key);
                     return t.empty() ? std::string("?") : t;
                 };
                 // (a run that went on after fresh boots says how many boots it had)
                 const std::string boots = arg_text(a, "boots");
                 cycles_line = fmt::format("cycles: {} of {} completed{}\n", text("completed"), text("count"),
                                           boots.empty() ? "" : ", " + boots + " boots");
             });
    if (!cycles_line.empty()) out = run_title(db, run_id) + "\n" + cycles_line + "\nphases\n";
    size_t next_cb = 0, next_tr = 0;
    for (const Phase& p : phases) {
        while (next_tr < transitions.size() && transitions[next_tr].ts <= p.ts) {
            const Transition& t = transitions[next_tr++];
            out += fmt::format(" cycle {}: {} at {}, +{}\n", t.cycle, t.result.empty() ? "-" : t.result,
                               format_ps(t.ts), format_ps(t.dur));
        }
        out += fmt::format("  {:>12}  {:>12}  {}\n", format_ps(p.ts), "+" + format_ps(p.dur), p.name);
        while (next_cb < callbacks.size() && callbacks[next_cb].ts < p.ts) ++next_cb;
        for (size_t i = next_cb; i < callbacks.size() && callbacks[i].ts < p.ts + p.dur; ++i)
            out += fmt::format("  {:>12}  {:>12}      {} {} ({} cycles)\n", format_ps(callbacks[i].ts),
                               "+" + format_ps(callbacks[i].dur), callbacks[i].device, callbacks[i].name,
                               callbacks[i].cycles.empty() ? "-" : callbacks[i].cycles);
    }
    std::vector<Callback> slow = callbacks;
    std::sort(slow.begin(), slow.end(), [](const Callback& a, const Callback& b) { return a.dur > b.dur; });
    out += "\nslowest callbacks\n";
    for (size_t i = 0; i < slow.size() && i < 5; ++i)
        out += fmt::format("  {:>12}  {} {}\n", format_ps(slow[i].dur), slow[i].device, slow[i].name);
    out += "\nfaults\n";
    bool any = false;
    // Cycles count in the clock domain of the component that reported.
    auto at_cycle = [](const std::string& cycles) { return cycles.empty() ? std::string() : " cycle " + cycles; };
    each_row(db,
             "SELECT f.ts, f.kind, t.name, f.phase, f.args, f.ts_cycles, f.id FROM fault f"
             " JOIN track t ON t.id = f.track_id WHERE f.run_id = ? ORDER BY f.ts",
             {run_id}, {"fault.ts", "fault.kind", "track.name", "fault.phase", "fault.args", "fault.ts_cycles", "fault.id"},
             [&](const Row& c) {
                 any = true;
                 out += fmt::format("  {:>12}{}  {} on {} in {} {}\n", format_ps(c.natural(0)), at_cycle(c[5]), c[1],
                                    c[2], c[3].empty() ? "-" : c[3], c[4]);
             });
    if (!any) out += "  none\n";
    out += "\nviolations\n";
    any = false;
    each_row(db,
             "SELECT ts, ts_cycles, invariant, component, phase, message, id FROM violation WHERE run_id = ? ORDER BY ts",
             {run_id},
             {"violation.ts", "violation.ts_cycles", "violation.invariant", "violation.component", "violation.phase",
              "violation.message", "violation.id"},
             [&](const Row& c) {
                 any = true;
                 out += fmt::format("  {:>12}{}  {}  {} in {}: {}\n", format_ps(c.natural(0)), at_cycle(c[1]), c[2],
                                    c[3], c[4].empty() ? "-" : c[4], c[5]);
             });
    if (!any) out += "  none\n";
    return out;
}

std::string trace_summary(const std::vector<const TraceReader*>& dbs) {
    std::map<std::pair<std::string, std::string>, std::vector<Picos>> phase_durs, callback_durs;
    std::vector<std::string> phase_order;
    std::map<std::string, std::pair<int, int>> invariants;  // id -> (runs, violations)
    int runs = 0, passed = 0;
    for (const TraceReader* db : dbs) {
        db->each("SELECT status FROM run", {}, [&](const std::vector<std::string>& c) {
            ++runs;
            passed += c[0] == "passed";
        });
        each_row(*db,
                 "SELECT r.protocol, s.name, s.dur, s.id FROM slice s JOIN track t ON t.id = s.track_id"
                 " JOIN run r ON r.id = s.run_id WHERE s.category = 'phase' AND t.name = 'kernel'"
                 " ORDER BY s.run_id, s.ts",
                 {}, {"run.protocol", "slice.name", "slice.dur", "slice.id"}, [&](const Row& c) {
                     auto key = std::make_pair(c[0], c[1]);
                     if (!phase_durs.count(key)) phase_order.push_back(c[0] + "\t" + c[1]);
                     phase_durs[key].push_back(c.natural(2));
                 });
        each_row(*db,
                 "SELECT t.name, s.name, s.dur, s.id FROM slice s JOIN track t ON t.id = s.track_id"
                 " WHERE s.category = 'callback'",
                 {}, {"track.name", "slice.name", "slice.dur", "slice.id"},
                 [&](const Row& c) { callback_durs[{c[0], c[1]}].push_back(c.natural(2)); });
        each_row(*db, "SELECT invariant, count(DISTINCT run_id), count(*) FROM violation GROUP BY invariant", {},
                 {"violation.invariant", "violation.run_id", "violation.id"}, [&](const Row& c) {
                     invariants[c[0]].first += int(c.natural(1));
                     invariants[c[0]].second += int(c.natural(2));
                 });
    }
    // Runs of several cycles: how many cycles they asked for and completed.
    uint64_t cycle_runs = 0, cycles_asked = 0, cycles_done = 0, fresh_boots = 0;
    for (const TraceReader* db : dbs)
        each_row(*db, "SELECT i.args, i.id FROM instant i WHERE i.category = 'run' AND i.name = 'cycles'", {},
                 {"instant.args", "instant.id"}, [&](const Row& c) {
                     nlohmann::json a = c.json(0);
                     auto number = [&](const char* key) -> uint64_t {
                         return std::strtoull(arg_text(a, key).c_str(), nullptr, 10);
                     };
                     ++cycle_runs;
                     cycles_asked += number("count");
                     cycles_done += number("completed");
                     if (uint64_t boots = number("boots")) fresh_boots += boots - 1;
                 });
    auto stats = [](std::vector<Picos> v) {
        std::sort(v.begin(), v.end());
        Picos median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
        return fmt::format("{:>5} {:>12} {:>12} {:>12}", v.size(), format_ps(v.front()), format_ps(median),
                           format_ps(v.back()));
    };
    std::string out = fmt::format("{} run{}: {} passed, {} not passed\n", runs, runs == 1 ? "" : "s", passed,
                                  runs - passed);
    if (cycle_runs)
        out += fmt::format("{} run{} of several cycles: {} of {} cycles completed{}\n", cycle_runs,
                           cycle_runs == 1 ? "" : "s", cycles_done, cycles_asked,
                           fresh_boots ? fmt::format(", {} fresh boots", fresh_boots) : "");
    out += "\n";
    out += fmt::format("{:<10} {:<30} {:>5} {:>12} {:>12} {:>12}\n", "protocol", "phase", "n", "min", "median", "max");
    for (const auto& key : phase_order) {
        auto tab = key.find('\t');
        std::string protocol = key.substr(0, tab), phase = key.substr(tab + 1);
        out += fmt::format("{:<10} {:<30} {}\n", protocol, phase, stats(phase_durs[{protocol, phase}]));
    }
    out += fmt::format("\n{:<14} {:<26} {:>5} {:>12} {:>12} {:>12}\n", "device", "callback", "n", "min", "median",
                       "max");
    for (const auto& [key, durs] : callback_durs)
        out += fmt::format("{:<14} {:<26} {}\n", key.first, key.second, stats(durs));
    out += fmt::format("\n{:<28} {:>6} {:>10}\n", "violation", "runs", "reports");
    for (const auto& [id, c] : invariants) out += fmt::format("{:<28} {:>6} {:>10}\n", id, c.first, c.second);
    if (invariants.empty()) out += "none\n";
    return out;
}

std::vector<std::pair<uint64_t, std::string>> diff_events(const TraceReader& db, int64_t run, bool summary_only) {
    std::vector<std::pair<Picos, std::string>> ev;
    const std::string sql =
        std::string("SELECT s.ts, t.name || ' ' || s.category || ' ' || s.name, 'slice', s.id FROM slice s"
                    " JOIN track t ON t.id = s.track_id WHERE s.run_id = ?1") +
        (summary_only ? " AND s.category NOT IN ('irq', 'dma', 'step') AND NOT (s.category = 'disk' AND s.name = "
                        "'command')"
                      : "") +
        " UNION ALL SELECT i.ts, t.name || ' ' || i.category || ' ' || i.name, 'instant', i.id FROM instant i"
        " JOIN track t ON t.id = i.track_id WHERE i.run_id = ?1 AND i.category NOT IN ('ledger')" +
        (summary_only ? " AND i.name = 'task-result'" : "") +
        " UNION ALL SELECT v.ts, v.component || ' violation ' || v.invariant, 'violation', v.id FROM violation v"
        " WHERE v.run_id = ?1"
        " UNION ALL SELECT f.ts, 'fault ' || f.kind, 'fault', f.id FROM fault f WHERE f.run_id = ?1"
        " ORDER BY 1, 2";
    // An event's columns as its own table names them.
    static const std::map<std::string, std::vector<const char*>> columns = {
        {"slice", {"slice.ts", "slice.name", "", "slice.id"}},
        {"instant", {"instant.ts", "instant.name", "", "instant.id"}},
        {"violation", {"violation.ts", "violation.invariant", "", "violation.id"}},
        {"fault", {"fault.ts", "fault.kind", "", "fault.id"}}};
    each_cells(db, sql, {run}, [&](const std::vector<std::string>& cells) {
        Row c(db, columns.at(cells[2]), cells);
        ev.emplace_back(c.natural(0), c[1]);
    });
    return ev;
}

// The input files (run_input) two runs did not read alike, one line each;
// nothing when they read the same bytes or either recorded none.
std::string input_differences(const TraceReader& db, int64_t a, int64_t b) {
    std::map<std::string, std::pair<std::string, std::string>> files;  // path -> hash in A, in B
    // By side, not by id: A and B may be the same run.
    for (bool side_a : {true, false})
        each_row(db, "SELECT path, hash, id FROM run_input WHERE run_id = ? ORDER BY id", {side_a ? a : b},
                 {"run_input.path", "run_input.hash", "run_input.id"}, [&](const Row& c) {
                     (side_a ? files[c[0]].first : files[c[0]].second) = c[1];
                 });
    bool in_a = false, in_b = false;
    for (const auto& [path, h] : files) {
        in_a = in_a || !h.first.empty();
        in_b = in_b || !h.second.empty();
    }
    std::string out;
    if (!in_a || !in_b) return out;
    // One file named two ways (relative to another working directory, or
    // absolute): a path only A read and one only B read with the same file
    // name and the same bytes are the same input.
    for (auto& [path, h] : files) {
        if (h.first.empty() || !h.second.empty()) continue;
        const std::string name = std::filesystem::path(path).filename().string();
        for (auto& [other, g] : files)
            if (g.first.empty() && g.second == h.first && std::filesystem::path(other).filename().string() == name) {
                h.second = h.first;
                g.first = g.second;
                break;
            }
    }
    for (const auto& [path, h] : files) {
        if (h.first == h.second) continue;
        if (h.first.empty()) out += "  input only B read: " + path + "\n";
        else if (h.second.empty()) out += "  input only A read: " + path + "\n";
        else out += "  input read with other bytes: " + path + " (hash " + h.first + " in A, " + h.second + " in B)\n";
    }
    return out.empty() ? out : "the runs' input files differ (run_input):\n" + out + "\n";
}

DiffLevels trace_levels_differ(const TraceReader& db, int64_t a, int64_t b) {
    std::string level[2];
    for (int side : {0, 1})
        each_row(db, "SELECT trace_level, id FROM run WHERE id = ?", {side == 0 ? a : b}, {"run.trace_level", "run.id"},
                 [&](const Row& c) { level[side] = c[0]; });
    if (level[0].empty() || level[1].empty() || level[0] == level[1]) return {};
    const bool summary_only = level[0] == "summary" || level[1] == "summary";
    return {fmt::format("A was recorded at trace level {} and B at {}: {} (explore --trace {} records variants as the "
                        "baseline)",
                        level[0], level[1],
                        summary_only ? "only the events both record are compared (summary's: no per-operation "
                                       "slices, no instants but task results)"
                                     : "events only one level records make differences that are not the runs'",
                        level[0] == "summary" ? level[1] : level[0]),
            summary_only};
}

std::string trace_diff(const TraceReader& db, int64_t a, int64_t b) {
    std::string out = "A " + run_title(db, a) + "\nB " + run_title(db, b) + "\n\n" + input_differences(db, a, b);
    const DiffLevels levels = trace_levels_differ(db, a, b);
    if (!levels.note.empty()) out += "note: " + levels.note + "\n\n";
    auto ea = diff_events(db, a, levels.summary_only), eb = diff_events(db, b, levels.summary_only);
    size_t i = 0;
    while (i < ea.size() && i < eb.size() && ea[i].second == eb[i].second) ++i;
    if (i == ea.size() && i == eb.size()) {
        out += fmt::format("the runs have the same {} events in the same order\n", ea.size());
    } else {
        out += fmt::format("first difference at event {}:\n", i);
        out += "  A: " + (i < ea.size() ? format_ps(ea[i].first) + "  " + ea[i].second : "(no more events)") + "\n";
        out += "  B: " + (i < eb.size() ? format_ps(eb[i].first) + "  " + eb[i].second : "(no more events)") + "\n";
    }
    out += fmt::format("\n{:<32} {:>12} {:>12} {:>12}\n", "phase", "A", "B", "B - A");
    std::map<std::string, std::pair<int64_t, int64_t>> phases;
    std::vector<std::string> order;
    for (bool side_a : {true, false})  // by side: `trace diff DB 3 3` has both columns
        each_row(db,
                 "SELECT s.name, s.dur, s.id FROM slice s JOIN track t ON t.id = s.track_id"
                 " WHERE s.run_id = ? AND s.category = 'phase' AND t.name = 'kernel' ORDER BY s.ts",
                 {side_a ? a : b}, {"slice.name", "slice.dur", "slice.id"}, [&](const Row& c) {
                     auto [it, fresh] = phases.emplace(c[0], std::make_pair(int64_t(-1), int64_t(-1)));
                     if (fresh) order.push_back(c[0]);
                     (side_a ? it->second.first : it->second.second) = int64_t(c.natural(1));
                 });
    for (const auto& name : order) {
        auto [da, dbb] = phases[name];
        auto cell = [](int64_t v) { return v < 0 ? std::string("-") : format_ps(Picos(v)); };
        std::string delta = da < 0 || dbb < 0 ? "only in " + std::string(da < 0 ? "B" : "A")
                                              : (dbb >= da ? "+" : "-") + format_ps(Picos(std::llabs(dbb - da)));
        out += fmt::format("{:<32} {:>12} {:>12} {:>12}\n", name, cell(da), cell(dbb), delta);
    }
    return out;
}

}  // namespace quiesce
