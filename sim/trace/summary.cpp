// The multi-run summary page (sleepgraph's summary.html for quiesce runs):
// the numbers from the trace database, then static HTML. See summary.h.
#include "sim/trace/summary.h"

#include "sim/core/errors.h"
#include "sim/core/events.h"
#include "sim/trace/rows.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <set>

namespace quiesce {

DurationStats duration_stats(std::vector<Picos> v) {
    DurationStats s;
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    s.n = v.size();
    s.min = v.front();
    s.max = v.back();
    // The mean of the middle two without overflow: a + (b - a) / 2.
    s.median = v.size() % 2 ? v[v.size() / 2] : v[v.size() / 2 - 1] + (v[v.size() / 2] - v[v.size() / 2 - 1]) / 2;
    return s;
}

namespace {
bool is_sleep(const PhaseSpan& p) { return p.action == "platform-enter" || p.action == "s2idle"; }
}  // namespace

TransitionTimes transition_times(Picos ts, Picos dur, const std::vector<PhaseSpan>& phases) {
    TransitionTimes t;
    const Picos end = ts + dur;
    auto sleep = std::find_if(phases.begin(), phases.end(),
                              [&](const PhaseSpan& p) { return is_sleep(p) && p.ts >= ts && p.ts <= end; });
    if (sleep == phases.end()) {
        t.suspend = dur;
        return t;
    }
    t.suspend = sleep->ts - ts;
    t.sleep = sleep->dur;
    Picos woke = sleep->ts + sleep->dur;
    if (woke < end) t.resume = end - woke;
    return t;
}

std::string callback_direction(Picos ts, const std::vector<PhaseSpan>& phases) {
    const PhaseSpan* sleep = nullptr;
    for (const PhaseSpan& p : phases) {
        if (p.ts > ts) break;
        if (is_sleep(p)) sleep = &p;
        // A zero-length phase encloses nothing.
        if (ts < p.ts + p.dur && (p.direction == "suspend" || p.direction == "resume")) return p.direction;
    }
    for (const PhaseSpan& p : phases)
        if (is_sleep(p)) return ts < p.ts ? "suspend" : "resume";
    return sleep ? "resume" : "suspend";
}

std::vector<int64_t> parse_run_list(const std::vector<std::string>& items) {
    std::set<int64_t> runs;
    auto number = [](const std::string& item, const std::string& text) {
        size_t used = 0;
        long long v = -1;
        bool digits = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (digits && text.size() <= 18) v = std::stoll(text, &used);
        if (!digits || used != text.size() || v < 1)
            throw InputError(fmt::format("trace export: run '{}': a run id (1 or more) or a range A-B", item));
        return int64_t(v);
    };
    std::vector<std::string> parts;  // "1,3-5" is "1" "3-5"
    for (const std::string& item : items) {
        size_t from = 0;
        for (size_t comma; (comma = item.find(',', from)) != std::string::npos; from = comma + 1)
            parts.push_back(item.substr(from, comma - from));
        parts.push_back(item.substr(from));
    }
    for (const std::string& item : parts) {
        size_t dash = item.find('-');
        if (dash == std::string::npos) {
            runs.insert(number(item, item));
            continue;
        }
        int64_t a = number(item, item.substr(0, dash)), b = number(item, item.substr(dash + 1));
        if (b < a) throw InputError(fmt::format("trace export: run range '{}': its end is before its start", item));
        if (b - a > 1000000) throw InputError(fmt::format("trace export: run range '{}': over a million runs", item));
        for (int64_t r = a; r <= b; ++r) runs.insert(r);
    }
    return {runs.begin(), runs.end()};
}

MultiRunSummary summarize_runs(const TraceReader& db, const std::vector<int64_t>& wanted) {
    MultiRunSummary out;
    out.db_path = db.path();
    std::map<int64_t, SummaryRun> runs;
    each_row(db,
             "SELECT id, scenario, seed, protocol, platform, status, outcome, expected, message, sim_time FROM run"
             " ORDER BY id",
             {},
             {"run.id", "run.scenario", "run.seed", "run.protocol", "run.platform", "run.status", "run.outcome",
              "run.expected", "run.message", "run.sim_time"},
             [&](const Row& c) {
                 SummaryRun r;
                 r.id = c.integer(0);
                 r.scenario = c[1];
                 r.seed = c.natural(2);
                 r.protocol = c[3];
                 r.platform = c[4];
                 r.status = c[5];
                 r.outcome = c[6];
                 r.expected = c[7];
                 r.message = c[8];
                 r.sim_time = c.natural(9);
                 runs.emplace(r.id, r);
             });
    if (!wanted.empty()) {
        std::map<int64_t, SummaryRun> chosen;
        for (int64_t id : wanted) {
            auto it = runs.find(id);
            if (it == runs.end()) throw InputError(db.path(), 0, 0, "", fmt::format("no run {}", id));
            chosen.emplace(id, std::move(it->second));
        }
        runs.swap(chosen);
    }
    auto chosen = [&](int64_t id) { return runs.count(id) != 0; };

    // The kernel's transitions and phases, per run.
    std::map<int64_t, std::vector<PhaseSpan>> phases;
    struct Transition {
        Picos ts, dur;
        int cycle;
        std::string result;
    };
    std::map<int64_t, std::vector<Transition>> transitions;
    each_row(db,
             "SELECT s.run_id, s.ts, s.dur, s.name, s.category, s.args, s.id FROM slice s"
             " JOIN track t ON t.id = s.track_id WHERE t.name = 'kernel' AND s.category IN ('transition', 'phase')"
             " ORDER BY s.run_id, s.ts, s.depth, s.id",
             {}, {"slice.run_id", "slice.ts", "slice.dur", "slice.name", "slice.category", "slice.args", "slice.id"},
             [&](const Row& c) {
                 int64_t run = c.integer(0);
                 if (!chosen(run)) return;
                 nlohmann::json args = c.json(5);
                 if (c[4] == "transition") {
                     std::string cycle = arg_text(args, "cycle");
                     transitions[run].push_back({c.natural(1), c.natural(2),
                                                 cycle.empty() ? 0 : std::atoi(cycle.c_str()), arg_text(args, "result")});
                 } else {
                     phases[run].push_back({c[3], arg_text(args, "action"), arg_text(args, "direction"), c.natural(1),
                                            c.natural(2)});
                 }
             });
    for (auto& [id, r] : runs) {
        std::vector<Transition>& trs = transitions[id];
        const std::vector<PhaseSpan>& ph = phases[id];
        if (trs.empty() && !ph.empty()) {  // phases with no transition slice around them: one transition
            Picos a = ph.front().ts, b = a;
            for (const PhaseSpan& p : ph) b = std::max(b, p.ts + p.dur);
            trs.push_back({a, b - a, 0, ""});
        }
        for (const Transition& t : trs) {
            std::vector<PhaseSpan> inside;
            for (const PhaseSpan& p : ph)
                if (p.ts >= t.ts && p.ts <= t.ts + t.dur) inside.push_back(p);
            r.cycles.push_back({t.cycle, t.result, t.ts, t.dur, transition_times(t.ts, t.dur, inside)});
        }
    }
    each_row(db, "SELECT run_id, args, id FROM instant WHERE category = 'run' AND name = 'cycles'", {},
             {"instant.run_id", "instant.args", "instant.id"}, [&](const Row& c) {
                 auto it = runs.find(c.integer(0));
                 if (it == runs.end()) return;
                 nlohmann::json a = c.json(1);
                 it->second.cycles_line = fmt::format("{} of {}", arg_text(a, "completed"), arg_text(a, "count"));
             });

    // Device callbacks: per (device, callback), and per device and transition its suspend and resume sums.
    std::map<std::pair<std::string, std::string>, std::pair<std::vector<Picos>, size_t>> per_callback;
    struct Half {
        std::map<std::pair<int64_t, size_t>, Picos> sums;  // (run, transition index) -> time
    };
    std::map<std::string, std::pair<Half, Half>> per_device;
    each_row(db,
             "SELECT s.run_id, t.name, s.name, s.ts, s.dur, s.args, s.id FROM slice s JOIN track t ON t.id = s.track_id"
             " WHERE s.category = 'callback' ORDER BY s.run_id, s.ts, s.id",
             {}, {"slice.run_id", "track.name", "slice.name", "slice.ts", "slice.dur", "slice.args", "slice.id"},
             [&](const Row& c) {
                 int64_t run = c.integer(0);
                 auto it = runs.find(run);
                 if (it == runs.end()) return;
                 Picos ts = c.natural(3), dur = c.natural(4);
                 std::string rc = arg_text(c.json(5), "rc");
                 auto& pc = per_callback[{c[1], c[2]}];
                 pc.first.push_back(dur);
                 pc.second += !rc.empty() && rc != "0";
                 const std::vector<SummaryCycle>& cycles = it->second.cycles;
                 for (size_t k = 0; k < cycles.size(); ++k) {
                     if (ts < cycles[k].ts || ts > cycles[k].ts + cycles[k].dur) continue;
                     auto& halves = per_device[c[1]];
                     Half& h = callback_direction(ts, phases[run]) == "resume" ? halves.second : halves.first;
                     h.sums[{run, k}] += dur;
                     break;
                 }
             });
    for (auto& [key, v] : per_callback)
        out.callbacks.push_back({key.first, key.second, duration_stats(v.first), v.second});
    for (auto& [device, halves] : per_device) {
        DeviceSummary d;
        d.device = device;
        auto fill = [](const Half& h, DurationStats& s, int64_t& worst) {
            std::vector<Picos> v;
            Picos most = 0;
            for (const auto& [where, sum] : h.sums) {
                v.push_back(sum);
                if (v.size() == 1 || sum > most) most = sum, worst = where.first;
            }
            s = duration_stats(v);
        };
        fill(halves.first, d.suspend, d.worst_suspend_run);
        fill(halves.second, d.resume, d.worst_resume_run);
        out.devices.push_back(d);
    }

    // Violations, per run and per invariant.
    std::map<std::string, InvariantSummary> invariants;
    each_row(db, "SELECT run_id, invariant, message, id FROM violation ORDER BY run_id, ts, id", {},
             {"violation.run_id", "violation.invariant", "violation.message", "violation.id"}, [&](const Row& c) {
                 int64_t run = c.integer(0);
                 auto it = runs.find(run);
                 if (it == runs.end()) return;
                 ++it->second.violations;
                 InvariantSummary& inv = invariants[c[1]];
                 inv.invariant = c[1];
                 if (inv.reports++ == 0) inv.first_message = c[2];
                 if (inv.runs.empty() || inv.runs.back() != run) inv.runs.push_back(run);
             });
    for (auto& [id, inv] : invariants) out.invariants.push_back(inv);
    std::stable_sort(out.invariants.begin(), out.invariants.end(),
                     [](const InvariantSummary& a, const InvariantSummary& b) { return a.runs.size() > b.runs.size(); });

    std::map<std::string, std::pair<std::vector<Picos>, std::vector<Picos>>> by_protocol;
    std::map<std::string, size_t> protocol_runs;
    for (auto& [id, r] : runs) {
        ++protocol_runs[r.protocol];
        auto& p = by_protocol[r.protocol];
        for (const SummaryCycle& c : r.cycles) {
            p.first.push_back(c.times.suspend);
            if (c.times.resume) p.second.push_back(*c.times.resume);
        }
        out.runs.push_back(std::move(r));
    }
    for (auto& [name, p] : by_protocol)
        out.protocols.push_back({name, protocol_runs[name], duration_stats(p.first), duration_stats(p.second)});
    return out;
}

// ---- the page ----

std::string short_time(Picos ps) {
    double v = double(ps);
    if (ps >= 1000000000000ULL) return fmt::format("{:.3f} s", v / 1e12);
    if (ps >= 1000000000ULL) return fmt::format("{:.3f} ms", v / 1e9);
    if (ps >= 1000000ULL) return fmt::format("{:.3f} us", v / 1e6);
    if (ps >= 1000ULL) return fmt::format("{:.3f} ns", v / 1e3);
    return fmt::format("{} ps", ps);
}

namespace {

std::string esc(const std::string& s) { return markup_escape(s); }

std::string time_cell(const char* cls, std::optional<Picos> ps) {
    if (!ps) return fmt::format("<td class=\"t {}\">-</td>", cls);
    return fmt::format("<td class=\"t {}\" data-ps=\"{}\" title=\"{}\">{}</td>", cls, *ps, format_ps(*ps),
                       short_time(*ps));
}

std::string stats_cells(const char* prefix, const DurationStats& s) {
    if (!s.n) return fmt::format("<td class=\"n {0}-n\">0</td><td>-</td><td>-</td><td>-</td>", prefix);
    return fmt::format("<td class=\"n {}-n\">{}</td>", prefix, s.n) +
           time_cell((std::string(prefix) + "-min").c_str(), s.min) +
           time_cell((std::string(prefix) + "-median").c_str(), s.median) +
           time_cell((std::string(prefix) + "-max").c_str(), s.max);
}

std::string run_link(int64_t run) { return fmt::format("<a href=\"run-{0}.html\">{0}</a>", run); }

}  // namespace

// Shared by the summary and the diff page.
const char* const kSummaryCss = R"CSS(
  body { font: 13px/1.4 system-ui, sans-serif; margin: 0 16px 24px 16px; color: #222; background: #fafafa; }
  h1 { font-size: 18px; margin: 12px 0 4px 0; }
  h2 { font-size: 15px; margin: 18px 0 6px 0; }
  p.note { color: #555; margin: 2px 0 8px 0; }
  table { border-collapse: collapse; background: #fff; margin-bottom: 6px; }
  th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: left; white-space: nowrap; }
  th { background: #eee; position: sticky; top: 0; }
  td.t, td.n { text-align: right; font-variant-numeric: tabular-nums; }
  tr.passed td.verdict { color: #087f23; font-weight: bold; }
  tr.failed td.verdict, tr.crashed td.verdict, tr.timeout td.verdict { color: #b00020; font-weight: bold; }
  tr.has-violations td.violations { color: #b00020; font-weight: bold; }
  tr.cycle td { background: #f6f6f6; color: #444; }
  tr.cycle td.cycle-name { padding-left: 24px; }
  tr.stat td { background: #f0f4fa; }
  td.msg { white-space: normal; max-width: 520px; }
  tr.only-a td { background: #ffe0e0; }
  tr.only-b td { background: #e0f0ff; }
  tr.changed td.delta { background: #fff3c4; font-weight: bold; }
  tr.rc-changed td.rc { background: #ffd0d0; font-weight: bold; }
  .bars { width: 220px; }
  .bar { height: 6px; margin: 1px 0; }
  .bar.a { background: #7fa7e0; } .bar.b { background: #e0a060; }
)CSS";

std::string summary_html(const MultiRunSummary& s) {
    std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
                    esc(fmt::format("quiesce summary: {} runs of {}", s.runs.size(), s.db_path)) +
                    "</title>\n<style>" + kSummaryCss + "</style>\n</head>\n<body>\n";
    size_t passed = 0, with_violations = 0;
    for (const SummaryRun& r : s.runs) {
        passed += r.status == "passed";
        with_violations += r.violations > 0;
    }
    h += "<h1>" + esc(fmt::format("quiesce summary: {} runs of {}", s.runs.size(), s.db_path)) + "</h1>\n";
    h += fmt::format("<p class=\"note\" id=\"totals\" data-runs=\"{0}\" data-passed=\"{1}\">{0} runs: {1} passed, {2} "
                     "not; {3} with violations. Suspend: from the transition's start to its sleep (the "
                     "<code>platform-enter</code> or <code>s2idle</code> phase); resume: from the end of the sleep "
                     "to the transition's end. Each run's timeline is its page <code>run-N.html</code>.</p>\n",
                     s.runs.size(), passed, s.runs.size() - passed, with_violations);

    h += "<h2>Runs</h2>\n<table id=\"runs\">\n<tr><th>run</th><th>scenario</th><th>seed</th><th>protocol</th>"
         "<th>verdict</th><th>outcome</th><th>expected</th><th>suspend</th><th>resume</th><th>cycles</th>"
         "<th>violations</th><th>message</th></tr>\n";
    for (const SummaryRun& r : s.runs) {
        // The run's own times: its one transition's, or for several the first's (each cycle has a row below).
        std::optional<Picos> sus, res;
        if (!r.cycles.empty()) {
            sus = r.cycles.front().times.suspend;
            res = r.cycles.front().times.resume;
        }
        h += fmt::format("<tr id=\"run-{0}\" class=\"run {1}{2}\" data-run=\"{0}\">", r.id, esc(r.status),
                         r.violations ? " has-violations" : "");
        h += "<td>" + run_link(r.id) + "</td><td>" + esc(r.scenario) + "</td><td class=\"n\">" +
             std::to_string(r.seed) + "</td><td>" + esc(r.protocol) + "</td><td class=\"verdict\">" + esc(r.status) +
             "</td><td class=\"outcome\">" + esc(r.outcome.empty() ? "-" : r.outcome) + "</td><td>" +
             esc(r.expected) + "</td>";
        h += time_cell("suspend", sus) + time_cell("resume", res);
        h += "<td class=\"cycles\">" +
             esc(r.cycles_line.empty() ? std::to_string(r.cycles.size()) : r.cycles_line + " completed") + "</td>";
        h += fmt::format("<td class=\"n violations\">{}</td><td class=\"msg\">{}</td></tr>\n", r.violations,
                         esc(r.message));
        if (r.cycles.size() > 1)
            for (const SummaryCycle& c : r.cycles)
                h += fmt::format("<tr class=\"cycle\" data-run=\"{}\" data-cycle=\"{}\"><td></td>"
                                 "<td class=\"cycle-name\" colspan=\"4\">cycle {}</td><td class=\"outcome\">{}</td>"
                                 "<td></td>{}{}<td></td><td></td><td></td></tr>\n",
                                 r.id, c.cycle, c.cycle, esc(c.result.empty() ? "-" : c.result),
                                 time_cell("suspend", c.times.suspend), time_cell("resume", c.times.resume));
    }
    h += "</table>\n";

    h += "<h2>Per protocol</h2>\n<p class=\"note\">Over every transition (every cycle) of the runs.</p>\n"
         "<table id=\"protocols\">\n<tr><th>protocol</th><th>runs</th><th>transitions</th><th>suspend min</th>"
         "<th>median</th><th>max</th><th>resumes</th><th>resume min</th><th>median</th><th>max</th></tr>\n";
    for (const ProtocolSummary& p : s.protocols)
        h += "<tr data-protocol=\"" + esc(p.protocol) + "\"><td>" + esc(p.protocol) + "</td><td class=\"n\">" +
             std::to_string(p.runs) + "</td>" + stats_cells("suspend", p.suspend) + stats_cells("resume", p.resume) +
             "</tr>\n";
    h += "</table>\n";

    h += "<h2>Devices</h2>\n<p class=\"note\">Per transition, the sum of the device's callbacks in the suspend half "
         "(before the sleep, or in a phase of direction suspend) and in the resume half; the run of the "
         "worst.</p>\n<table id=\"devices\">\n<tr><th>device</th><th>n</th><th>suspend min</th><th>median</th>"
         "<th>max</th><th>worst</th><th>n</th><th>resume min</th><th>median</th><th>max</th><th>worst</th></tr>\n";
    for (const DeviceSummary& d : s.devices) {
        h += "<tr data-device=\"" + esc(d.device) + "\"><td>" + esc(d.device) + "</td>";
        h += stats_cells("suspend", d.suspend) + "<td>" + (d.suspend.n ? run_link(d.worst_suspend_run) : "-") + "</td>";
        h += stats_cells("resume", d.resume) + "<td>" + (d.resume.n ? run_link(d.worst_resume_run) : "-") +
             "</td></tr>\n";
    }
    h += "</table>\n";

    h += "<h2>Device callbacks</h2>\n<table id=\"callbacks\">\n<tr><th>device</th><th>callback</th><th>n</th>"
         "<th>min</th><th>median</th><th>max</th><th>failed</th></tr>\n";
    for (const CallbackSummary& c : s.callbacks)
        h += "<tr data-device=\"" + esc(c.device) + "\" data-callback=\"" + esc(c.callback) + "\"><td>" +
             esc(c.device) + "</td><td>" + esc(c.callback) + "</td>" + stats_cells("cb", c.durations) +
             fmt::format("<td class=\"n failed\">{}</td></tr>\n", c.failed);
    h += "</table>\n";

    h += "<h2>Violations</h2>\n<table id=\"violations\">\n<tr><th>invariant</th><th>runs</th><th>reports</th>"
         "<th>in runs</th><th>first message</th></tr>\n";
    for (const InvariantSummary& v : s.invariants) {
        std::string links;
        for (int64_t r : v.runs) links += (links.empty() ? "" : " ") + run_link(r);
        h += fmt::format("<tr data-invariant=\"{0}\"><td>{0}</td><td class=\"n runs\">{1}</td>"
                         "<td class=\"n reports\">{2}</td><td class=\"links\">{3}</td><td class=\"msg\">{4}</td></tr>\n",
                         esc(v.invariant), v.runs.size(), v.reports, links, esc(v.first_message));
    }
    if (s.invariants.empty()) h += "<tr><td colspan=\"5\">none</td></tr>\n";
    h += "</table>\n</body>\n</html>\n";
    return h;
}

}  // namespace quiesce
