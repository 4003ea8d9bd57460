// `quiesce trace export --format html`: one self-contained page in
// sleepgraph's layout. The data of the run goes into the page as JSON; the
// page's own script (sim/trace/timeline.html, embedded at build time) draws
// the suspend and resume blocks, the phase bands, one row per device and the
// markers. Nothing is loaded from the network.
#include "sim/trace/export.h"

#include "sim/core/errors.h"
#include "sim/trace/rows.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>

namespace quiesce {

extern const char* const kTimelineHtml;  // generated from sim/trace/timeline.html

namespace {

using json = nlohmann::json;

std::string str(const json& args, const char* key) { return arg_text(args, key); }

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

// The ten phases sleepgraph colours (suspend_prepare .. resume_complete), for
// a protocol phase given its action, callback, firmware method and direction;
// "other" when none fits.
std::string sleepgraph_phase(const std::string& action, const std::string& callback, const std::string& method,
                             const std::string& direction) {
    if (action == "callbacks") {
        if (callback == "prepare") return "suspend_prepare";
        if (callback == "complete") return "resume_complete";
        if (callback == "suspend" || callback == "freeze" || callback == "poweroff") return "suspend";
        if (callback == "resume" || callback == "thaw" || callback == "restore") return "resume";
        if (ends_with(callback, "_late")) return "suspend_late";
        if (ends_with(callback, "_early")) return "resume_early";
        if (ends_with(callback, "_noirq"))
            return callback == "suspend_noirq" || callback == "freeze_noirq" || callback == "poweroff_noirq"
                       ? "suspend_noirq"
                       : "resume_noirq";
        return "other";
    }
    if (action == "firmware") {
        if (method == "_PTS") return "suspend_machine";
        if (method == "_WAK") return "resume_machine";
        return direction == "resume" ? "resume_complete" : "suspend_prepare";  // _TTS
    }
    static const std::map<std::string, std::string> by_action = {
        {"sync", "suspend_prepare"},           {"freeze-tasks", "suspend_prepare"},
        {"freeze-user-tasks", "suspend_prepare"}, {"freeze-kernel-threads", "suspend_prepare"},
        {"platform-begin", "suspend_prepare"}, {"preallocate", "suspend_prepare"},
        {"restrict-gfp", "suspend_prepare"},   {"restore-gfp", "resume_complete"},
        {"suspend-device-irqs", "suspend_noirq"}, {"platform-prepare", "suspend_machine"},
        {"cpus-offline", "suspend_machine"},   {"irqs-off", "suspend_machine"},
        {"syscore-suspend", "suspend_machine"}, {"snapshot", "suspend_machine"},
        {"write-image", "suspend_machine"},    {"platform-enter", "suspend_machine"},
        {"syscore-resume", "resume_machine"},  {"irqs-on", "resume_machine"},
        {"cpus-online", "resume_machine"},     {"platform-finish", "resume_machine"},
        {"resume-device-irqs", "resume_noirq"}, {"platform-end", "resume_complete"},
        {"thaw-tasks", "resume_complete"}};
    auto it = by_action.find(action);
    return it == by_action.end() ? "other" : it->second;
}

namespace {

// The run's data for the page. Times stay integer picoseconds (exact in a
// JavaScript number below 2^53 ps, about 2.5 simulated hours).
json html_data(const TraceReader& db, int64_t run_id) {
    json run;
    each_row(db,
             "SELECT scenario, seed, protocol, platform, status, outcome, expected, message, sim_time, id FROM run"
             " WHERE id = ?",
             {run_id},
             {"run.scenario", "run.seed", "run.protocol", "run.platform", "run.status", "run.outcome", "run.expected",
              "run.message", "run.sim_time", "run.id"},
             [&](const Row& c) {
                 run = {{"id", run_id},      {"scenario", c[0]}, {"seed", c[1]},    {"protocol", c[2]},
                        {"platform", c[3]},  {"status", c[4]},   {"outcome", c[5]}, {"expected", c[6]},
                        {"message", c[7]},   {"sim_time", c.natural(8)}};
             });
    if (run.is_null()) throw InputError(db.path(), 0, 0, "", fmt::format("no run {}", run_id));

    json tracks = json::array();
    each_row(db, "SELECT id, name, parent_id, kind FROM track WHERE run_id = ? ORDER BY id", {run_id},
             {"track.id", "track.name", "track.parent_id", "track.kind"}, [&](const Row& c) {
                 tracks.push_back({{"id", c.integer(0)},
                                   {"name", c[1]},
                                   {"parent", c[2].empty() ? json(nullptr) : json(c.integer(2))},
                                   {"kind", c[3]}});
             });

    json phases = json::array(), slices = json::array();
    json transition = nullptr, transitions = json::array();
    each_row(db,
             "SELECT s.track_id, s.ts, s.dur, s.name, s.category, s.depth, s.args, s.dur_cycles, t.name, s.id"
             " FROM slice s JOIN track t ON t.id = s.track_id WHERE s.run_id = ? ORDER BY s.ts, s.depth",
             {run_id},
             {"slice.track_id", "slice.ts", "slice.dur", "slice.name", "slice.category", "slice.depth", "slice.args",
              "slice.dur_cycles", "track.name", "slice.id"},
             [&](const Row& c) {
                 json args = c.json(6);
                 int64_t ts = int64_t(c.natural(1)), dur = int64_t(c.natural(2));
                 const std::string& category = c[4];
                 if (category == "transition") {  // one per cycle ([cycles]); the first is the run's
                     json tr = {{"name", c[3]}, {"ts", ts}, {"dur", dur}, {"result", str(args, "result")}};
                     if (transition.is_null()) transition = tr;
                     transitions.push_back(std::move(tr));
                     return;
                 }
                 if (category == "phase" && c[8] == "kernel" && c[5] == "1") {
                     phases.push_back({{"name", c[3]},
                                       {"ts", ts},
                                       {"dur", dur},
                                       {"action", str(args, "action")},
                                       {"class", sleepgraph_phase(str(args, "action"), str(args, "callback"),
                                                                  str(args, "method"), str(args, "direction"))},
                                       {"rc", str(args, "rc")}});
                     return;
                 }
                 if (category == "phase") return;  // the transition's phases are the bands
                 slices.push_back({{"track", c.integer(0)},
                                   {"ts", ts},
                                   {"dur", dur},
                                   {"name", c[3]},
                                   {"cat", category},
                                   {"depth", c.natural(5)},
                                   {"cycles", c[7].empty() ? json(nullptr) : json(c.natural(7))},
                                   {"args", args}});
             });

    json wakes = json::array();  // wake sources: the events a sleep must not lose
    each_row(db, "SELECT track_id, ts, name, phase, id FROM instant WHERE run_id = ? AND category = 'wake' ORDER BY ts",
             {run_id}, {"instant.track_id", "instant.ts", "instant.name", "instant.phase", "instant.id"},
             [&](const Row& c) {
                 wakes.push_back({{"track", c.integer(0)}, {"ts", c.natural(1)}, {"name", c[2]}, {"phase", c[3]}});
             });
    json faults = json::array(), violations = json::array();
    each_row(db, "SELECT track_id, ts, ts_cycles, kind, phase, args, id FROM fault WHERE run_id = ? ORDER BY ts",
             {run_id},
             {"fault.track_id", "fault.ts", "fault.ts_cycles", "fault.kind", "fault.phase", "fault.args", "fault.id"},
             [&](const Row& c) {
                 faults.push_back({{"track", c.integer(0)}, {"ts", c.natural(1)}, {"cycles", c[2]},
                                   {"kind", c[3]}, {"phase", c[4]}, {"args", c.json(5)}});
             });
    each_row(db,
             "SELECT ts, ts_cycles, invariant, component, phase, message, evidence, faults_before, run_id"
             " FROM violations WHERE run_id = ? ORDER BY ts",
             {run_id},
             {"violation.ts", "violation.ts_cycles", "violation.invariant", "violation.component", "violation.phase",
              "violation.message", "violation.evidence", "fault.kind", "violation.run_id"},
             [&](const Row& c) {
                 violations.push_back({{"ts", c.natural(0)}, {"cycles", c[1]}, {"invariant", c[2]},
                                       {"component", c[3]}, {"phase", c[4]}, {"message", c[5]},
                                       {"evidence", c.json(6)}, {"faults_before", c[7]}});
             });
    return {{"run", run},       {"transition", transition}, {"transitions", transitions}, {"phases", phases},
            {"tracks", tracks}, {"slices", slices},         {"faults", faults},           {"violations", violations},
            {"wakes", wakes}};
}

void replace_once(std::string& text, const std::string& what, const std::string& with) {
    size_t at = text.find(what);
    if (at == std::string::npos) SIM_PANIC("timeline template lacks {}", what);
    text.replace(at, what.size(), with);
}

}  // namespace

std::string export_html(const TraceReader& db, int64_t run_id) {
    json data = html_data(db, run_id);
    // Inside <script>, "</" could end the element early; "<\/" is the same JSON string.
    std::string payload = data.dump(-1, ' ', false, json::error_handler_t::replace);
    for (size_t at = 0; (at = payload.find("</", at)) != std::string::npos; at += 3) payload.replace(at, 2, "<\\/");
    std::string page = kTimelineHtml;
    replace_once(page, "<!--QUIESCE_TITLE-->",
                 markup_escape(fmt::format("quiesce run {}: {}", run_id, data["run"]["scenario"].get<std::string>())));
    replace_once(page, "/*QUIESCE_DATA*/null", payload);
    return page;
}

}  // namespace quiesce
