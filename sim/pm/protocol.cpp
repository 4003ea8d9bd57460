// Protocol files read and checked: phases, their actions and callbacks, and the built-in protocols.
#include "sim/pm/protocol.h"

#include "sim/core/time.h"

#include "sim/core/errors.h"
#include "sim/core/toml_reader.h"

#include <algorithm>
#include <map>

namespace quiesce {

const std::vector<std::string>& known_actions() {
    static const std::vector<std::string> a = {
        "callbacks",   "firmware",        "platform-begin",      "platform-prepare", "platform-enter",
        "platform-finish", "platform-end", "suspend-device-irqs", "resume-device-irqs", "cpus-offline",
        "cpus-online", "irqs-off",        "irqs-on",             "syscore-suspend",  "syscore-resume",
        "sync",        "freeze-tasks",    "thaw-tasks",          "preallocate",      "snapshot",
        "write-image", "freeze-user-tasks", "freeze-kernel-threads", "restrict-gfp", "restore-gfp",
        "run",         "revoke",          "kexec-save",
        // ACPI NVS (drivers/acpi/nvs.c)
        "nvs-alloc", "nvs-save", "nvs-restore", "nvs-free",
        // suspend-to-idle (sim/pm/s2idle.cpp)
        "s2idle-prepare", "s2idle-restore", "lps0", "s2idle"};
    return a;
}

const std::vector<std::string>& lps0_functions() {
    static const std::vector<std::string> f = {"display-off", "display-on", "entry", "exit"};
    return f;
}

const std::vector<std::string>& pm_test_levels() {
    static const std::vector<std::string> l = {"none", "core", "processors", "platform", "devices", "freezer"};
    return l;
}

const std::vector<std::string>& known_callbacks() {
    static const std::vector<std::string> c = {
        "save_state", "prepare", "suspend", "suspend_late", "suspend_noirq", "resume_noirq", "resume_early", "resume",
        "complete", "freeze", "freeze_late", "freeze_noirq", "thaw_noirq", "thaw_early", "thaw",
        "poweroff", "poweroff_late", "poweroff_noirq", "restore_noirq", "restore_early", "restore",
        "save_explicit", "restore_explicit"};
    return c;
}

bool callback_children_first(const std::string& cb) {
    static const std::vector<std::string> down = {"suspend", "suspend_late", "suspend_noirq", "freeze",
                                                  "freeze_late", "freeze_noirq", "poweroff", "poweroff_late",
                                                  "poweroff_noirq", "complete", "save_explicit"};
    return std::find(down.begin(), down.end(), cb) != down.end();
}

const Phase* Protocol::find_resume(const std::string& n) const {
    for (const auto& p : resume)
        if (p.name == n) return &p;
    return nullptr;
}

const Phase* Protocol::find_undo(const std::string& n) const {
    for (const auto& p : suspend)
        if (p.name == n) return &p;
    return find_resume(n);
}

Phase* Protocol::find(const std::string& n) {
    for (auto* list : {&suspend, &resume})
        for (auto& p : *list)
            if (p.name == n) return &p;
    return nullptr;
}

namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

std::vector<Phase> read_phases(TableReader& top, const std::string& key) {
    std::vector<Phase> out;
    bool present = top.tables(key, [&](TableReader& r, const toml::node& node) {
        Phase p;
        p.file = r.file();
        p.line = int(node.source().begin.line);
        p.column = int(node.source().begin.column);
        p.name = r.required_str("name");
        p.action = r.required_str("action");
        p.callback = r.str("callback", "");
        p.order = r.str("order", "");
        p.undo = r.str("undo", "");
        p.method = r.str("method", "");
        p.function = r.str("function", "");
        if (auto a = r.integer("arg")) p.arg = int(*a);
        if (auto a = r.boolean("async")) p.async = *a;
        p.test_level = r.str("test_level", "");
        p.test_undo = r.str("test_undo", "");
        if (auto d = r.duration("duration")) p.duration = *d;
        r.done();
        p.at = r.positions();
        out.push_back(p);
    });
    if (!present) top.fail(key, "is required: a list of [[" + key + "]] phases");
    if (out.empty()) top.fail(key, "needs at least one phase");
    return out;
}

[[noreturn]] void phase_error(const Protocol& pr, const Phase& p, const std::string& key, const std::string& msg) {
    const auto at = p.at.find(key);  // the value's place where the file wrote the key, else the table's
    throw InputError(p.file.empty() ? pr.file : p.file, at == p.at.end() ? p.line : at->second.first,
                     at == p.at.end() ? p.column : at->second.second,
                     "phase '" + p.name + "'" + (key.empty() ? "" : "." + key), msg);
}

// A fault of a whole list (`key`: suspend or resume), shown at its last phase.
[[noreturn]] void list_error(const Protocol& pr, const std::vector<Phase>& list, const std::string& key,
                             const std::string& msg) {
    if (list.empty()) throw InputError(pr.file, 0, 0, key, msg);
    const Phase& last = list.back();
    throw InputError(last.file.empty() ? pr.file : last.file, last.line, last.column, key, msg);
}

}  // namespace

Protocol load_protocol(const std::string& path) {
    toml::table root = parse_toml_file(path);
    TableReader r(path, root, "");
    Protocol p;
    p.file = path;
    p.name = r.required_str("name");
    p.description = r.str("description", "");
    std::string target = r.str("target", "S3");
    if (target != "S3" && target != "S4" && target != "s2idle")
        r.fail("target", "must be \"S3\", \"S4\" or \"s2idle\"");
    p.target = target == "S4" ? 4 : target == "s2idle" ? 0 : 3;
    p.suspend = read_phases(r, "suspend");
    p.resume = read_phases(r, "resume");
    r.done();
    validate_protocol(p);
    return p;
}

void validate_protocol(const Protocol& pr) {
    // A phase is found by its name (undo, [[protocol.override]], the trace,
    // fault rules): a second one of a name could never be found.
    std::map<std::string, const Phase*> named;
    for (const auto* list : {&pr.suspend, &pr.resume})
        for (const Phase& p : *list)
            if (auto [it, fresh] = named.emplace(p.name, &p); !fresh)
                phase_error(pr, p, "name",
                            fmt::format("another phase has this name (line {}): phase names are unique", it->second->line));
    bool cpu_irqs_off = false, dev_irqs_off = false, cpus_off = false, entered = false;
    int snapshots = 0;
    auto walk = [&](const std::vector<Phase>& list, bool suspend_side) {
        for (size_t i = 0; i < list.size(); ++i) {
            const Phase& p = list[i];
            if (!contains(known_actions(), p.action)) phase_error(pr, p, "action", "unknown action '" + p.action + "'");
            if (p.action == "callbacks") {
                if (!contains(known_callbacks(), p.callback))
                    phase_error(pr, p, "callback", "unknown callback '" + p.callback + "'");
                if (p.order != "top-down" && p.order != "bottom-up")
                    phase_error(pr, p, "order", "order must be \"top-down\" or \"bottom-up\"");
                if (cpu_irqs_off) phase_error(pr, p, "", "callbacks may sleep: they cannot run with interrupts off");
                bool noirq = p.callback.size() > 6 && p.callback.compare(p.callback.size() - 6, 6, "_noirq") == 0;
                if (noirq && !dev_irqs_off)
                    phase_error(pr, p, "callback", "a _noirq callback runs while device interrupts are enabled (outside suspend-device-irqs .. resume-device-irqs)");
                if (!noirq && dev_irqs_off)
                    phase_error(pr, p, "callback", "'" + p.callback +
                                "' runs while device interrupts are suspended (only _noirq callbacks may)");
            } else if (!p.callback.empty() || !p.order.empty()) {
                phase_error(pr, p, "callback", "only 'callbacks' phases take a callback and an order");
            }
            if (p.action == "firmware" && p.method != "_TTS" && p.method != "_PTS" && p.method != "_WAK")
                phase_error(pr, p, "method", "firmware method must be _TTS, _PTS or _WAK");
            if (p.action == "lps0" && !contains(lps0_functions(), p.function))
                phase_error(pr, p, "function", "LPS0 function must be display-off, entry, exit or display-on");
            if (p.action != "lps0" && !p.function.empty())
                phase_error(pr, p, "function", "only lps0 phases take a function");
            // Suspend-to-idle (kernel/power/suspend.c): the platform is never
            // entered, the CPUs stay online in the idle loop with interrupts
            // on, and device interrupts stay suspended around the loop.
            if (pr.target == 0) {
                if (p.action == "platform-enter" || p.action == "platform-prepare" || p.action == "platform-finish" ||
                    p.action == "firmware" || p.action == "snapshot" || p.action == "kexec-save" ||
                    p.action == "write-image" || p.action == "preallocate")
                    phase_error(pr, p, "action", "'" + p.action + "' has no place in suspend-to-idle (no firmware sleep entry)");
                if (p.test_level == "processors" || p.test_level == "core")
                    phase_error(pr, p, "test_level", "suspend-to-idle accepts only the freezer, devices and platform levels");
            } else if (p.action == "s2idle" || p.action == "lps0" || p.action == "s2idle-prepare" ||
                       p.action == "s2idle-restore") {
                phase_error(pr, p, "action", "'" + p.action + "' belongs to a suspend-to-idle protocol (target = \"s2idle\")");
            }
            if (p.action == "s2idle") {
                if (!suspend_side || i + 1 != list.size())
                    phase_error(pr, p, "action", "s2idle must be the last suspend phase");
                if (cpu_irqs_off || cpus_off)
                    phase_error(pr, p, "", "s2idle runs with every CPU online and interrupts on (the idle loop)");
                if (!dev_irqs_off)
                    phase_error(pr, p, "", "s2idle runs with device interrupts suspended (after suspend-device-irqs)");
                entered = true;
            }
            if (p.async && p.action != "callbacks") phase_error(pr, p, "async", "only callback phases run async");
            if (!p.test_level.empty()) {
                if (!suspend_side) phase_error(pr, p, "test_level", "only suspend phases are pm_test points");
                if (!contains(pm_test_levels(), p.test_level) || p.test_level == "none")
                    phase_error(pr, p, "test_level", "must be freezer, devices, platform, processors or core");
                for (size_t k = 0; k < i; ++k)
                    if (list[k].test_level == p.test_level)
                        phase_error(pr, p, "test_level", "phase '" + list[k].name + "' is already the " +
                                                             p.test_level + " test point");
            }
            if (!p.test_undo.empty()) {
                if (!suspend_side || p.action != "callbacks" || p.undo.empty())
                    phase_error(pr, p, "test_undo", "only a suspend callbacks phase with an undo names a test_undo");
                if (!contains(known_callbacks(), p.test_undo))
                    phase_error(pr, p, "test_undo", "unknown callback '" + p.test_undo + "'");
            }
            if (p.action == "run") {
                if (p.duration == 0) phase_error(pr, p, "duration", "a run phase needs a duration above 0");
                if (cpu_irqs_off || dev_irqs_off || cpus_off)
                    phase_error(pr, p, "action", "the system only keeps running with interrupts on and every CPU online");
            } else if (p.duration) {
                phase_error(pr, p, "duration", "only a run phase has a duration");
            }
            if (p.action == "irqs-off") cpu_irqs_off = true;
            if (p.action == "irqs-on") {
                if (!cpu_irqs_off) phase_error(pr, p, "", "irqs-on without irqs-off");
                cpu_irqs_off = false;
            }
            if (p.action == "suspend-device-irqs") dev_irqs_off = true;
            if (p.action == "resume-device-irqs") dev_irqs_off = false;
            if (p.action == "cpus-offline") cpus_off = true;
            if (p.action == "cpus-online") cpus_off = false;
            if ((p.action == "syscore-suspend" || p.action == "syscore-resume") && !cpu_irqs_off)
                phase_error(pr, p, "", "syscore runs with interrupts off on one CPU");
            if (p.action == "snapshot" || p.action == "kexec-save") {
                if (!cpu_irqs_off || !cpus_off)
                    phase_error(pr, p, "", "the snapshot is atomic: interrupts off, nonboot CPUs offline");
                if (!suspend_side) phase_error(pr, p, "action", "the snapshot belongs to the suspend list");
                snapshots++;
            }
            if (p.action == "write-image" && !snapshots)
                phase_error(pr, p, "action", "write-image before any snapshot");
            if (p.action == "platform-enter") {
                if (!suspend_side || i + 1 != list.size())
                    phase_error(pr, p, "action", "platform-enter must be the last suspend phase");
                if (!cpu_irqs_off || !cpus_off)
                    phase_error(pr, p, "", "platform-enter needs interrupts off and nonboot CPUs offline");
                entered = true;
            }
            if (!p.undo.empty()) {
                if (!suspend_side) phase_error(pr, p, "undo", "only suspend phases name an undo");
                bool later = false;  // a later suspend phase (S4: thaw after the snapshot) or a resume phase
                for (size_t k = i + 1; k < list.size(); ++k) later |= list[k].name == p.undo;
                if (!later && !pr.find_resume(p.undo))
                    phase_error(pr, p, "undo", "no later or resume phase named '" + p.undo + "'");
            }
        }
    };
    walk(pr.suspend, true);
    if (!entered)
        list_error(pr, pr.suspend, "suspend",
                   pr.target == 0 ? "the suspend list never reaches s2idle" : "the suspend list never reaches platform-enter");
    if (pr.target == 4 && !snapshots)
        list_error(pr, pr.suspend, "suspend", "an S4 protocol needs a snapshot (or kexec-save) phase");
    walk(pr.resume, false);
    if (cpu_irqs_off || dev_irqs_off || cpus_off)
        list_error(pr, pr.resume, "resume",
                   "the resume list leaves interrupts off, device interrupts suspended or CPUs offline");
}

}  // namespace quiesce
