#include "sim/trace/export.h"

#include "sim/core/errors.h"
#include "sim/core/time.h"
#include "sim/trace/json_args.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>
#include <cctype>
#include <functional>
#include <tuple>
#include <cstdlib>
#include <map>

namespace quiesce {

using json = nlohmann::json;

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
    db.each(
        "SELECT r.id, r.scenario, r.seed, r.protocol, r.status, r.sim_time, r.wall_ms,"
        " (SELECT group_concat(DISTINCT invariant) FROM violation v WHERE v.run_id = r.id),"
        " (SELECT clock_hz FROM track t WHERE t.run_id = r.id AND t.kind = 'cpu' ORDER BY t.id LIMIT 1), r.faults"
        " FROM run r ORDER BY r.id",
        {}, [&](const std::vector<std::string>& c) {
            uint64_t sim = c[5].empty() ? 0 : std::stoull(c[5]);
            // The boot CPU's cycles over the simulated time (cycles = ps * Hz / 10^12).
            std::string cycles = c[8].empty() ? "-"
                                              : std::to_string(uint64_t(static_cast<unsigned __int128>(sim) *
                                                                        std::stoull(c[8]) / 1000000000000ULL));
            std::string decisions = decisions_text(c[9]);
            out += fmt::format("{:>4}  {:<36} {:>6}  {:<10} {:<8} {:>12} {:>12} {:>7.1f}ms  {}{}\n", c[0], c[1], c[2],
                               c[3], c[4], cycles, format_ps(sim), c[6].empty() ? 0.0 : std::stod(c[6]), c[7],
                               decisions.empty() ? "" : (c[7].empty() ? "" : "  ") + ("(" + decisions + ")"));
        });
    return out;
}

namespace {

std::string run_title(const TraceReader& db, int64_t run_id) {
    std::string title;
    db.each("SELECT scenario, seed, protocol, status, outcome, sim_time, message, faults FROM run WHERE id = ?",
            {run_id}, [&](const std::vector<std::string>& c) {
                std::string decisions = decisions_text(c[7]);
                title = fmt::format("run {}: {} (seed {}, {}): {}, outcome {}, {} simulated{}{}", run_id, c[0], c[1],
                                    c[2], c[3], c[4].empty() ? "-" : c[4],
                                    format_ps(c[5].empty() ? 0 : std::stoull(c[5])),
                                    c[6].empty() ? "" : "\n  " + c[6],
                                    decisions.empty() ? "" : "\n  decisions: " + decisions);
            });
    if (title.empty()) throw InputError(db.path(), 0, 0, "", fmt::format("no run {}", run_id));
    return title;
}

Picos ps(const std::string& v) { return v.empty() ? 0 : Picos(std::stoull(v)); }

}  // namespace

std::string trace_show(const TraceReader& db, int64_t run_id) {
    std::string out = run_title(db, run_id) + "\n\nphases\n";
    struct Phase {
        Picos ts, dur;
        std::string name;
    };
    std::vector<Phase> phases;
    db.each("SELECT s.ts, s.dur, s.name FROM slice s JOIN track t ON t.id = s.track_id"
            " WHERE s.run_id = ? AND s.category = 'phase' AND t.name = 'kernel' ORDER BY s.ts",
            {run_id}, [&](const std::vector<std::string>& c) { phases.push_back({ps(c[0]), ps(c[1]), c[2]}); });
    struct Callback {
        Picos ts, dur;
        std::string device, name, cycles;
    };
    std::vector<Callback> callbacks;
    db.each("SELECT s.ts, s.dur, t.name, s.name, s.dur_cycles FROM slice s JOIN track t ON t.id = s.track_id"
            " WHERE s.run_id = ? AND s.category = 'callback' ORDER BY s.ts",
            {run_id}, [&](const std::vector<std::string>& c) {
                callbacks.push_back({ps(c[0]), ps(c[1]), c[2], c[3], c[4]});
            });
    size_t next_cb = 0;
    for (const Phase& p : phases) {
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
    db.each("SELECT f.ts, f.kind, t.name, f.phase, f.args, f.ts_cycles FROM fault f JOIN track t ON t.id = f.track_id"
            " WHERE f.run_id = ? ORDER BY f.ts",
            {run_id}, [&](const std::vector<std::string>& c) {
                any = true;
                out += fmt::format("  {:>12}{}  {} on {} in {} {}\n", format_ps(ps(c[0])), at_cycle(c[5]), c[1], c[2],
                                   c[3].empty() ? "-" : c[3], c[4]);
            });
    if (!any) out += "  none\n";
    out += "\nviolations\n";
    any = false;
    db.each("SELECT ts, ts_cycles, invariant, component, phase, message FROM violation WHERE run_id = ? ORDER BY ts",
            {run_id}, [&](const std::vector<std::string>& c) {
                any = true;
                out += fmt::format("  {:>12}{}  {}  {} in {}: {}\n", format_ps(ps(c[0])), at_cycle(c[1]), c[2], c[3],
                                   c[4].empty() ? "-" : c[4], c[5]);
            });
    if (!any) out += "  none\n";
    return out;
}

namespace {

std::string vcd_name(std::string s) {
    for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
    return s.empty() ? "_" : s;
}
std::string vcd_code(size_t n) {  // identifiers from the printable range
    std::string id;
    do {
        id += char(33 + n % 94);
        n /= 94;
    } while (n);
    return id;
}
std::string vcd_string(const std::string& v) {  // GTKWave string values: no spaces
    std::string out = v.empty() ? "-" : v;
    for (char& c : out)
        if (c == ' ') c = '_';
    return out;
}
}  // namespace

std::string export_vcd(const TraceReader& db, int64_t run_id) {
    std::string title = run_title(db, run_id);
    struct Track {
        std::string name;
        int64_t parent;
        std::vector<int64_t> children;
    };
    std::map<int64_t, Track> tracks;
    db.each("SELECT id, name, parent_id FROM track WHERE run_id = ? ORDER BY id", {run_id},
            [&](const std::vector<std::string>& c) {
                tracks[std::stoll(c[0])] = {c[1], c[2].empty() ? 0 : std::stoll(c[2]), {}};
            });
    for (auto& [id, t] : tracks)
        if (t.parent && tracks.count(t.parent)) tracks[t.parent].children.push_back(id);
    struct Var {
        std::string code, type, name;
        int width;
    };
    std::map<int64_t, std::vector<Var>> vars;  // track -> its signals
    std::map<std::pair<int64_t, std::string>, std::string> code_of;
    size_t next = 0;
    auto add = [&](int64_t track, const std::string& name, const std::string& type, int width) {
        auto key = std::make_pair(track, name);
        if (!code_of.count(key)) {
            code_of[key] = vcd_code(next++);
            vars[track].push_back({code_of[key], type, name, width});
        }
        return code_of[key];
    };
    // Value changes: (ts, order, code, value text in VCD syntax).
    std::vector<std::tuple<Picos, size_t, std::string, std::string>> changes;
    auto change = [&](Picos ts, const std::string& code, const std::string& value) {
        changes.emplace_back(ts, changes.size(), code, value);
    };
    auto integer = [](int64_t v) {
        std::string bits;
        for (int b = 31; b >= 0; --b) bits += ((uint64_t(v) >> b) & 1) ? '1' : '0';
        size_t first = bits.find('1');
        return "b" + (first == std::string::npos ? std::string("0") : bits.substr(first)) + " ";
    };
    db.each("SELECT track_id, ts, name, value FROM counter WHERE run_id = ? ORDER BY ts", {run_id},
            [&](const std::vector<std::string>& c) {
                std::string code = add(std::stoll(c[0]), vcd_name(c[2]), "integer", 32);
                change(ps(c[1]), code, integer(int64_t(std::stod(c[3]))));
            });
    // Strings: the slice in progress per track and category (phase, callback, power).
    db.each("SELECT s.track_id, s.ts, s.dur, s.name, s.category FROM slice s WHERE s.run_id = ?"
            " AND s.category IN ('phase', 'callback', 'power') ORDER BY s.ts",
            {run_id}, [&](const std::vector<std::string>& c) {
                std::string var = c[4] == "phase" ? "phase" : c[4] == "callback" ? "callback" : "power_state";
                std::string code = add(std::stoll(c[0]), var, "string", 1);
                change(ps(c[1]), code, "s" + vcd_string(c[3]) + " ");
                change(ps(c[1]) + ps(c[2]), code, "s- ");
            });
    db.each("SELECT track_id, ts, name, args FROM instant WHERE run_id = ? AND category = 'irq' ORDER BY ts", {run_id},
            [&](const std::vector<std::string>& c) {
                json a = parse_args(c[3]);
                if (!a.contains("irq") || !a["irq"].is_string()) return;
                std::string code = add(std::stoll(c[0]), "irq" + a["irq"].get<std::string>(), "wire", 1);
                change(ps(c[1]), code, c[2] == "assert" ? "1" : "0");
            });
    std::string out = "$comment " + title + " $end\n$version quiesce " QUIESCE_VERSION " $end\n$timescale 1ps $end\n";
    std::function<void(int64_t)> scope = [&](int64_t id) {
        const Track& t = tracks[id];
        std::string name = t.name;
        if (t.parent && tracks.count(t.parent) && name.rfind(tracks[t.parent].name + ".", 0) == 0)
            name = name.substr(tracks[t.parent].name.size() + 1);
        out += "$scope module " + vcd_name(name) + " $end\n";
        for (const Var& v : vars[id])
            out += fmt::format("$var {} {} {} {} $end\n", v.type, v.width, v.code, v.name);
        for (int64_t child : t.children) scope(child);
        out += "$upscope $end\n";
    };
    out += "$scope module " + vcd_name(fmt::format("run{}", run_id)) + " $end\n";
    for (const auto& [id, t] : tracks)
        if (!t.parent || !tracks.count(t.parent)) scope(id);
    out += "$upscope $end\n$enddefinitions $end\n#0\n$dumpvars\n";
    for (const auto& [track, list] : vars)
        for (const Var& v : list)
            out += (v.type == "string" ? "s- " : v.type == "wire" ? "0" : "b0 ") + v.code + "\n";
    out += "$end\n";
    std::sort(changes.begin(), changes.end());
    Picos now = 0;
    for (const auto& [ts, order, code, value] : changes) {
        if (ts != now) {
            out += fmt::format("#{}\n", ts);
            now = ts;
        }
        out += value + code + "\n";
    }
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
        db->each("SELECT r.protocol, s.name, s.dur FROM slice s JOIN track t ON t.id = s.track_id"
                 " JOIN run r ON r.id = s.run_id WHERE s.category = 'phase' AND t.name = 'kernel'"
                 " ORDER BY s.run_id, s.ts",
                 {}, [&](const std::vector<std::string>& c) {
                     auto key = std::make_pair(c[0], c[1]);
                     if (!phase_durs.count(key)) phase_order.push_back(c[0] + "\t" + c[1]);
                     phase_durs[key].push_back(ps(c[2]));
                 });
        db->each("SELECT t.name, s.name, s.dur FROM slice s JOIN track t ON t.id = s.track_id"
                 " WHERE s.category = 'callback'",
                 {},
                 [&](const std::vector<std::string>& c) { callback_durs[{c[0], c[1]}].push_back(ps(c[2])); });
        db->each("SELECT invariant, count(DISTINCT run_id), count(*) FROM violation GROUP BY invariant", {},
                 [&](const std::vector<std::string>& c) {
                     invariants[c[0]].first += std::stoi(c[1]);
                     invariants[c[0]].second += std::stoi(c[2]);
                 });
    }
    auto stats = [](std::vector<Picos> v) {
        std::sort(v.begin(), v.end());
        Picos median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
        return fmt::format("{:>5} {:>12} {:>12} {:>12}", v.size(), format_ps(v.front()), format_ps(median),
                           format_ps(v.back()));
    };
    std::string out = fmt::format("{} runs: {} passed, {} not\n\n", runs, passed, runs - passed);
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

std::string trace_diff(const TraceReader& db, int64_t a, int64_t b) {
    std::string out = "A " + run_title(db, a) + "\nB " + run_title(db, b) + "\n\n";
    auto events = [&](int64_t run) {
        std::vector<std::pair<Picos, std::string>> ev;
        const char* sql =
            "SELECT s.ts, t.name || ' ' || s.category || ' ' || s.name FROM slice s JOIN track t ON t.id = s.track_id"
            " WHERE s.run_id = ?1"
            " UNION ALL SELECT i.ts, t.name || ' ' || i.category || ' ' || i.name FROM instant i"
            " JOIN track t ON t.id = i.track_id WHERE i.run_id = ?1 AND i.category NOT IN ('ledger')"
            " UNION ALL SELECT v.ts, v.component || ' violation ' || v.invariant FROM violation v WHERE v.run_id = ?1"
            " UNION ALL SELECT f.ts, 'fault ' || f.kind FROM fault f WHERE f.run_id = ?1"
            " ORDER BY 1, 2";
        db.each(sql, {run}, [&](const std::vector<std::string>& c) { ev.emplace_back(ps(c[0]), c[1]); });
        return ev;
    };
    auto ea = events(a), eb = events(b);
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
    for (int64_t run : {a, b})
        db.each("SELECT s.name, s.dur FROM slice s JOIN track t ON t.id = s.track_id"
                " WHERE s.run_id = ? AND s.category = 'phase' AND t.name = 'kernel' ORDER BY s.ts",
                {run}, [&](const std::vector<std::string>& c) {
                    auto [it, fresh] = phases.emplace(c[0], std::make_pair(int64_t(-1), int64_t(-1)));
                    if (fresh) order.push_back(c[0]);
                    (run == a ? it->second.first : it->second.second) = std::stoll(c[1]);
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

namespace {
// Trace Event timestamps are microseconds; ours are picoseconds.
double us(const std::string& ps) { return ps.empty() ? 0.0 : double(std::stoull(ps)) / 1e6; }
}  // namespace

namespace {
// The Chrome export is written as text, one event per line: building a JSON
// tree of a million events first costs more than reading them.
class TraceEventWriter {
public:
    TraceEventWriter() : out_("{\"traceEvents\":[\n") {}
    void add(const std::string& event) {
        if (!first_) out_ += ",\n";
        out_ += event;
        first_ = false;
    }
    std::string finish(const std::string& tail) { return out_ + "\n]," + tail + "}\n"; }

private:
    std::string out_;
    bool first_ = true;
};

std::string q(const std::string& s) { return "\"" + json_escape(s) + "\""; }

// The stored args (a JSON object) with `extra` members in front; text that is
// not a JSON object is kept as {"raw": text}.
std::string args_with(const std::string& text, const std::string& extra = "") {
    std::string body;
    if (text.empty()) body = "{}";
    else if (text.front() == '{' && json::accept(text)) body = text;
    else body = "{\"raw\":" + q(text) + "}";
    if (extra.empty()) return body;
    return "{" + extra + (body == "{}" ? "}" : "," + body.substr(1));
}
}  // namespace

std::string export_chrome(const TraceReader& db, int64_t run_id) {
    std::string scenario;
    db.each("SELECT scenario, seed, status FROM run WHERE id = ?", {run_id}, [&](const std::vector<std::string>& c) {
        scenario = fmt::format("{} (seed {}, {})", c[0], c[1], c[2]);
    });
    if (scenario.empty()) throw InputError(db.path(), 0, 0, "", fmt::format("no run {}", run_id));
    TraceEventWriter w;
    const int64_t pid = run_id;
    w.add(fmt::format("{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{},\"tid\":0,\"args\":{{\"name\":{}}}}}", pid,
                      q(fmt::format("run {}: {}", run_id, scenario))));
    db.each("SELECT id, name FROM track WHERE run_id = ? ORDER BY id", {run_id}, [&](const std::vector<std::string>& c) {
        w.add(fmt::format("{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":{},\"tid\":{},\"args\":{{\"name\":{}}}}}",
                          pid, c[0], q(c[1])));
        w.add(fmt::format(
            "{{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":{},\"tid\":{},\"args\":{{\"sort_index\":{}}}}}", pid,
            c[0], c[0]));
    });
    db.each("SELECT track_id, ts, dur, name, category, args, ts_cycles, dur_cycles FROM slice WHERE run_id = ?"
            " ORDER BY track_id, ts, depth",
            {run_id}, [&](const std::vector<std::string>& c) {
                // Exact picoseconds and cycles in args: the microsecond doubles may round.
                std::string extra = fmt::format("\"ts_ps\":{},\"dur_ps\":{}", c[1], c[2]);
                if (!c[6].empty()) extra += ",\"ts_cycles\":" + c[6];
                if (!c[7].empty()) extra += ",\"dur_cycles\":" + c[7];
                w.add(fmt::format("{{\"ph\":\"X\",\"pid\":{},\"tid\":{},\"ts\":{},\"dur\":{},\"name\":{},\"cat\":{},"
                                  "\"args\":{}}}",
                                  pid, c[0], us(c[1]), us(c[2]), q(c[3]), q(c[4]), args_with(c[5], extra)));
            });
    db.each("SELECT track_id, ts, name, category, args FROM instant WHERE run_id = ?", {run_id},
            [&](const std::vector<std::string>& c) {
                w.add(fmt::format("{{\"ph\":\"i\",\"s\":\"t\",\"pid\":{},\"tid\":{},\"ts\":{},\"name\":{},\"cat\":{},"
                                  "\"args\":{}}}",
                                  pid, c[0], us(c[1]), q(c[2]), q(c[3]), args_with(c[4])));
            });
    db.each("SELECT track_id, ts, kind, args FROM fault WHERE run_id = ?", {run_id}, [&](const std::vector<std::string>& c) {
        w.add(fmt::format("{{\"ph\":\"i\",\"s\":\"p\",\"pid\":{},\"tid\":{},\"ts\":{},\"name\":{},\"cat\":\"fault\","
                          "\"args\":{}}}",
                          pid, c[0], us(c[1]), q("fault: " + c[2]), args_with(c[3])));
    });
    std::map<std::string, int64_t> track_ids;
    db.each("SELECT name, id FROM track WHERE run_id = ?", {run_id},
            [&](const std::vector<std::string>& c) { track_ids[c[0]] = std::stoll(c[1]); });
    auto tid_of = [&](const std::string& component) {
        auto it = track_ids.find(component);
        return it == track_ids.end() ? int64_t(0) : it->second;
    };
    db.each("SELECT component, ts, invariant, message, evidence FROM violation WHERE run_id = ?", {run_id},
            [&](const std::vector<std::string>& c) {
                w.add(fmt::format("{{\"ph\":\"i\",\"s\":\"g\",\"pid\":{},\"tid\":{},\"ts\":{},\"name\":{},"
                                  "\"cat\":\"violation\",\"args\":{{\"message\":{},\"evidence\":{}}}}}",
                                  pid, tid_of(c[0]), us(c[1]), q("violation: " + c[2]), q(c[3]), args_with(c[4])));
            });
    db.each("SELECT track_id, ts, name, value FROM counter WHERE run_id = ?", {run_id},
            [&](const std::vector<std::string>& c) {
                w.add(fmt::format("{{\"ph\":\"C\",\"pid\":{},\"tid\":{},\"ts\":{},\"name\":{},\"args\":{{{}:{}}}}}",
                                  pid, c[0], us(c[1]), q(c[2]), q(c[2]), std::stod(c[3])));
            });
    auto flow = [&](int64_t id, const std::string& name, const char* cat, const std::string& from_tid,
                    const std::string& from_ts, int64_t to_tid, const std::string& to_ts) {
        w.add(fmt::format("{{\"ph\":\"s\",\"id\":{},\"pid\":{},\"tid\":{},\"ts\":{},\"name\":{},\"cat\":\"{}\"}}", id,
                          pid, from_tid, us(from_ts), q(name), cat));
        w.add(fmt::format(
            "{{\"ph\":\"f\",\"bp\":\"e\",\"id\":{},\"pid\":{},\"tid\":{},\"ts\":{},\"name\":{},\"cat\":\"{}\"}}", id,
            pid, to_tid, us(to_ts), q(name), cat));
    };
    // Ledger flows: issue -> retire of one in-flight entry.
    db.each("SELECT f.id, a.track_id, a.ts, b.track_id, b.ts FROM flow f"
            " JOIN instant a ON a.id = f.from_id JOIN instant b ON b.id = f.to_id"
            " WHERE f.run_id = ? AND f.from_table = 'instant' AND f.to_table = 'instant'",
            {run_id}, [&](const std::vector<std::string>& c) {
                flow(std::stoll(c[0]), "in flight", "ledger", c[1], c[2], std::stoll(c[3]), c[4]);
            });
    // Fault -> violation flows: each violation from every fault injected before it.
    int64_t flow_id = int64_t(1) << 40;  // above the ledger flow ids
    db.each("SELECT f.track_id, f.ts, v.component, v.ts, v.invariant FROM fault f JOIN violation v"
            " ON v.run_id = f.run_id AND v.ts >= f.ts WHERE f.run_id = ?",
            {run_id}, [&](const std::vector<std::string>& c) {
                flow(flow_id++, "fault -> " + c[4], "fault", c[0], c[1], tid_of(c[2]), c[3]);
            });
    return w.finish(fmt::format("\"displayTimeUnit\":\"ns\",\"otherData\":{{\"quiesce_run\":{},"
                                "\"time_unit_in_db\":\"ps\"}}",
                                run_id));
}

}  // namespace quiesce
