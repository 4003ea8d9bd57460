// Loading a scenario file: [scenario], [platform], [protocol] and its overrides, [properties], the decisions
// ([[fault]], [order], [timing], [schedule]), [wake], [initiator], [limits], [trace] and [expect]; the per-device
// tables are scenario_devices.cpp's, what runs scenario_run.cpp's.
#include "sim/scenario/scenario.h"

#include "sim/check/checker.h"
#include "sim/scenario/scenario_read.h"
#include "sim/core/paths.h"
#include "sim/core/toml_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <stdexcept>

namespace fs = std::filesystem;

namespace quiesce {

using scenario_detail::read_device_tables;
using scenario_detail::read_run_tables;

std::string to_string(TraceLevel l) {
    switch (l) {
        case TraceLevel::Summary: return "summary";
        case TraceLevel::Events: return "events";
        case TraceLevel::Bus: return "bus";
    }
    return "?";
}

bool parse_trace_level(const std::string& text, TraceLevel& out) {
    if (text == "summary") out = TraceLevel::Summary;
    else if (text == "events") out = TraceLevel::Events;
    else if (text == "bus") out = TraceLevel::Bus;
    else return false;
    return true;
}

std::string other_file_kind(const toml::table& doc, std::string& key) {
    if (doc.contains("expect") || doc.contains("platform")) return "";
    for (const auto& [k, kind] : {std::pair<const char*, const char*>{"driver", "driver"}, {"suspend", "protocol"},
                                  {"target", "protocol"}, {"cpus", "platform"}, {"memory", "platform"}}) {
        if (doc.contains(k)) {
            key = k;
            return kind;
        }
    }
    if (doc["device"].is_table() || doc["device"].is_array_of_tables()) {  // [device], or a platform's [[device]]s
        key = "device";
        return doc["device"].is_table() ? "device" : "platform";
    }
    return "";
}

std::string resolve_data_file(const std::string& scenario_file, const std::string& kind, const std::string& name) {
    fs::path dir = fs::path(scenario_file).parent_path();
    std::vector<fs::path> candidates = {dir / kind / (name + ".toml"), dir / ".." / kind / (name + ".toml"),
                                        fs::path(QUIESCE_DATA_DIR) / kind / (name + ".toml")};
    for (const auto& c : candidates) {
        std::error_code ec;
        // A name too long for a file cannot name one; any other error
        // stat'ing a candidate (a directory without search permission) is
        // the user's to hear of.
        bool there = fs::exists(c, ec);
        if (ec && ec != std::errc::filename_too_long) throw os_input_error(c.string(), ec);
        if (there) return fs::weakly_canonical(c).string();
    }
    return "";
}

namespace {

void read_protocol(TableReader& top, Scenario& s) {
    const toml::table* t = top.table("protocol");
    if (!t) top.fail("protocol", "is required: [protocol] name = \"linux-s3\"");
    TableReader r(s.file, *t, "protocol");
    std::string name = r.required_str("name");
    std::string path = resolve_data_file(s.file, "protocols", name);
    if (path.empty()) r.fail("name", "no protocol named '" + name + "' (looked in protocols/ and the built-ins)");
    s.protocol = load_protocol(path);
    // Where the last override is: a phase it left alone may no longer hold.
    int override_line = 0, override_column = 0;
    size_t overrides = 0;
    bool overridden = r.tables("override", [&](TableReader& o, const toml::node& node) {
        override_line = int(node.source().begin.line);
        override_column = int(node.source().begin.column);
        ++overrides;
        std::string phase = o.required_str("phase");
        Phase* p = s.protocol.find(phase);
        if (!p) o.fail("phase", "protocol '" + name + "' has no phase '" + phase + "'");
        if (auto order = o.str("order")) p->order = *order;
        if (auto undo = o.str("undo")) p->undo = *undo;
        if (auto d = o.duration("duration")) p->duration = *d;
        if (auto a = o.boolean("async")) p->async = *a;
        bool skip = o.boolean("skip").value_or(false);
        o.done();
        p->file = s.file;  // errors in overridden phases point at the scenario
        p->line = int(node.source().begin.line);
        p->column = int(node.source().begin.column);
        p->at = o.positions();  // the override's own keys, not the protocol file's places
        p->at.erase("phase");
        p->at.erase("skip");
        if (skip) {
            // Drop the phase, and every undo that pointed at it.
            for (auto* list : {&s.protocol.suspend, &s.protocol.resume}) {
                list->erase(std::remove_if(list->begin(), list->end(),
                                           [&](const Phase& ph) { return ph.name == phase; }),
                            list->end());
                for (auto& ph : *list)
                    if (ph.undo == phase) ph.undo.clear();
            }
        }
    });
    if (overridden) {
        try {
            validate_protocol(s.protocol);
        } catch (const InputError& e) {
            if (e.file() == s.file) throw;  // at an override
            // A phase of the protocol file that held before the overrides.
            throw InputError(s.file, override_line, override_column,
                             "protocol.override[" + std::to_string(overrides - 1) + "]",
                             std::string("the protocol no longer holds: ") + e.what());
        }
    }
    r.done();
}

// /sys/power/pm_test: a level Linux knows, at a phase the protocol marks.
void check_pm_test(const Scenario& s, const PropertyOverride& o) {
    const std::string& level = std::get<std::string>(o.value);
    const auto& levels = pm_test_levels();
    if (std::find(levels.begin(), levels.end(), level) == levels.end())
        throw InputError(s.file, o.line, o.column, "properties." + o.key,
                         "'" + level + "' is no pm_test level (none, freezer, devices, platform, processors, core)");
    if (level == "none") return;
    for (const Phase& p : s.protocol.suspend)
        if (p.test_level == level) return;
    throw InputError(s.file, o.line, o.column, "properties." + o.key,
                     "protocol " + s.protocol.name + " marks no phase as the '" + level + "' test point (test_level)");
}

// "aborted:<phase>" names a suspend phase of the run's protocols (the
// scenario's, and those of [cycles] protocols) or wakeup-count (the alarm's
// abort between cycles); "pm-test:<level>" a level one of their phases
// marks as its test point: anything else is an outcome no run can have, a
// typo that would make every run of the file fail. "" if it is fine.
std::string check_outcome_phase(const Scenario& s, const std::string& outcome) {
    std::vector<const Protocol*> protocols{&s.protocol};
    for (const Protocol& p : s.cycles.protocols) protocols.push_back(&p);
    auto names = [&](bool levels) {
        std::vector<std::string> out;
        for (const Protocol* p : protocols)
            for (const Phase& ph : p->suspend) {
                const std::string& n = levels ? ph.test_level : ph.name;
                if (!n.empty() && std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
            }
        return out;
    };
    auto join = [](const std::vector<std::string>& v) {
        return v.empty() ? std::string("none") : fmt::format("{}", fmt::join(v, ", "));
    };
    if (outcome.rfind("aborted:", 0) == 0) {
        const std::string phase = outcome.substr(8);
        const auto phases = names(false);
        if (phase == "wakeup-count" || std::find(phases.begin(), phases.end(), phase) != phases.end()) return "";
        return "'" + outcome + "': '" + phase + "' is no suspend phase of " + s.protocol.name + " (" + join(phases) +
               "; or wakeup-count)";
    }
    if (outcome.rfind("pm-test:", 0) == 0) {
        const std::string level = outcome.substr(8);
        const auto levels = names(true);
        if (std::find(levels.begin(), levels.end(), level) != levels.end()) return "";
        return "'" + outcome + "': '" + level + "' is no pm_test level a phase of " + s.protocol.name +
               " marks as its test point (" + join(levels) + ")";
    }
    return "";
}

void read_expect(TableReader& top, Scenario& s) {
    const toml::table* t = top.table("expect");
    if (!t) top.fail("expect", "is required: [expect] result = \"pass\" or violations = [...]");
    TableReader r(s.file, *t, "expect");
    auto result = r.str("result");
    if (auto o = r.str("outcome")) {
        if (*o != "resumed" && *o != "no-resume" && *o != "sim-time-limit" && *o != "power-cut" &&
            o->rfind("aborted:", 0) != 0 && o->rfind("pm-test:", 0) != 0)
            r.fail("outcome", "must be \"resumed\", \"no-resume\", \"power-cut\", \"sim-time-limit\", "
                              "\"aborted:<phase>\" or \"pm-test:<level>\"");
        if (std::string why = check_outcome_phase(s, *o); !why.empty()) r.fail("outcome", why);
        s.expect.outcome = *o;
        s.expect.outcome_given = true;
    }
    if (auto w = r.str("workload")) {
        if (*w != "ok" && *w != "failed") r.fail("workload", "must be \"ok\" or \"failed\"");
        s.expect.workload_fails = *w == "failed";
        s.expect.workload_given = true;
    }
    s.expect.violations = r.str_list("violations");
    for (const auto& v : s.expect.violations) {
        const auto& cat = Checker::catalogue();
        if (std::find(cat.begin(), cat.end(), v) == cat.end()) r.fail("violations", "unknown invariant id '" + v + "'");
    }
    if (result && *result != "pass" && *result != "fail")
        r.fail("result", "must be \"pass\", or \"fail\" with violations = [...]");
    s.expect.pass = s.expect.violations.empty();
    if (result && *result == "pass" && !s.expect.pass) r.fail("result", "\"pass\" cannot list violations");
    if (result && *result == "fail" && s.expect.pass)
        r.fail("violations", "an expected failure must list the violation ids that must appear");
    if (!result && s.expect.pass) r.fail("result", "say result = \"pass\" or list violations");
    r.done();
}

}  // namespace

namespace {
Scenario load_scenario_files(const std::string& path);
}

Scenario load_scenario(const std::string& path) {
    InputLog log;
    Scenario s = load_scenario_files(path);
    s.inputs = log.files();
    return s;
}

namespace {

Scenario load_scenario_files(const std::string& path) {
    toml::table root = parse_toml_file(path);
    std::string key;
    if (const std::string kind = other_file_kind(root, key); !kind.empty()) {
        const auto& src = root.get(key)->source();
        throw InputError(path, int(src.begin.line), int(src.begin.column), key,
                         "this is a " + kind + " file, not a scenario (a scenario names its [platform] and [protocol]; "
                         "quiesce validate checks " + kind + " files)");
    }
    TableReader top(path, root, "");
    Scenario s;
    s.file = path;
    s.name = fs::path(path).stem().string();
    if (const toml::table* t = top.table("scenario")) {
        TableReader r(path, *t, "scenario");
        s.name = r.str("name", s.name);
        s.description = r.str("description", "");
        if (auto seed = r.integer("seed", 0, INT64_MAX)) s.seed = uint64_t(*seed);
        r.done();
    }
    const toml::table* pt = top.table("platform");
    if (!pt) top.fail("platform", "is required: [platform] name = \"pc-basic\"");
    {
        TableReader r(path, *pt, "platform");
        std::string name = r.required_str("name");
        std::string file = resolve_data_file(path, "platforms", name);
        if (file.empty()) r.fail("name", "no platform named '" + name + "'");
        s.platform = load_platform(file);
        if (auto c = r.integer("cpus", 1, 8)) s.platform.cpus = unsigned(*c);
        r.done();
    }
    read_protocol(top, s);
    read_device_tables(top, s, path);
    if (const toml::table* t = top.table("properties")) {
        for (const auto& [k, v] : *t) {
            PropertyOverride o;
            o.key = std::string(k.str());
            o.line = int(k.source().begin.line);
            o.column = int(k.source().begin.column);
            if (o.key.find('.') == std::string::npos)
                fail_at(path, v, "properties." + o.key, "expected \"component.property\"");
            if (v.is_integer()) o.value = int64_t(*v.as_integer());
            else if (v.is_boolean()) o.value = bool(*v.as_boolean());
            else if (v.is_string()) o.value = std::string(*v.as_string());
            else fail_at(path, v, "properties." + o.key, "expected an integer, a boolean or a string");
            if (o.key == "kernel.pm_test" && v.is_string()) check_pm_test(s, o);
            s.properties.push_back(std::move(o));
        }
    }
    read_run_tables(top, s, path);
    // A rule's origin (the `rule` of the faults it fires) names the file
    // without its folder: the run, its digest with it, is the same wherever
    // the scenario lies and however the command line named it.
    const std::string file_name = fs::path(path).filename().string();
    top.tables("fault", [&](TableReader& r, const toml::node& node) {
        s.faults.faults.push_back(parse_fault(r, s, file_name + ":" + std::to_string(node.source().begin.line)));
        s.faults.faults.back().line = int(node.source().begin.line);
    });
    if (const toml::table* t = top.table("order")) {
        TableReader r(path, *t, "order");
        std::vector<std::string> order = r.str_list("suspend");
        if (std::string why = check_order(s, order); !why.empty()) r.fail("suspend", why);
        s.order = order;
        r.done();
    }
    if (const toml::table* t = top.table("timing")) {
        TableReader r(path, *t, "timing");
        if (auto j = r.integer("jitter", 0, 90)) s.timing.jitter = unsigned(*j);
        if (auto t = r.boolean("ties")) s.timing.ties = *t;
        if (auto n = r.integer("seed", 0, INT64_MAX)) s.timing.seed = uint64_t(*n);
        r.done();
    }
    if (const toml::table* t = top.table("schedule")) {
        TableReader r(path, *t, "schedule");
        std::string policy = r.str("policy", "fifo");
        if (policy != "fifo" && policy != "pct") r.fail("policy", "must be \"fifo\" or \"pct\"");
        s.schedule.pct = policy == "pct";
        if (auto d = r.integer("depth", 1, 10)) s.schedule.depth = unsigned(*d);
        if (auto k = r.integer("steps", 1, 1'000'000'000)) s.schedule.steps = uint64_t(*k);
        if (auto n = r.integer("seed", 0, INT64_MAX)) s.schedule.seed = uint64_t(*n);
        r.done();
    }
    if (const toml::table* t = top.table("wake")) {
        TableReader r(path, *t, "wake");
        if (auto a = r.duration("after")) s.wake_after = *a;
        if (auto a = r.duration("power_button")) {
            s.button_after = *a;
            if (s.button_after == 0) r.fail("power_button", "must be above 0");
        }
        if (auto a = r.duration("usb_key")) {
            s.key_after = *a;
            if (s.key_after == 0) r.fail("usb_key", "must be above 0");
            if (std::none_of(s.platform.devices.begin(), s.platform.devices.end(),
                             [](const DeviceSpec& d) { return d.usb(); }))
                r.fail("usb_key", "the platform has no usb-keyboard");
        }
        r.done();
    }
    if (const toml::table* t = top.table("initiator")) {
        TableReader r(path, *t, "initiator");
        if (auto b = r.boolean("wakeup_count")) s.wakeup_count = *b;
        if (auto a = r.duration("think")) s.think = *a;
        r.done();
    }
    if (const toml::table* t = top.table("limits")) {
        TableReader r(path, *t, "limits");
        if (auto a = r.duration("sim_time")) {
            s.sim_limit = *a;
            if (s.sim_limit == 0) r.fail("sim_time", "must be above 0");  // else every run ends at once
        }
        if (auto a = r.duration("callback")) {
            s.callback_budget = *a;
            if (s.callback_budget == 0) r.fail("callback", "must be above 0");
        }
        if (auto a = r.duration("cpu_time")) {
            s.cpu_limit_s = double(*a) / 1e12;
            if (s.cpu_limit_s <= 0) r.fail("cpu_time", "must be above 0");
        }
        if (auto a = r.duration("wall_time")) {
            s.wall_limit_s = double(*a) / 1e12;
            if (s.wall_limit_s <= 0) r.fail("wall_time", "must be above 0");
        }
        r.done();
    }
    if (const toml::table* t = top.table("trace")) {
        TableReader r(path, *t, "trace");
        std::string level = r.str("level", "events");
        if (!parse_trace_level(level, s.trace)) r.fail("level", "must be \"summary\", \"events\" or \"bus\"");
        r.done();
    }
    read_expect(top, s);
    top.done();
    return s;
}

}  // namespace

}  // namespace quiesce
