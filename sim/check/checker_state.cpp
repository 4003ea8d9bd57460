// The checker's state invariants: what a resume gives back (hwstate.not-restored, drvstate.stale, revoke.stale-handle).
#include "sim/check/checker.h"
#include "sim/check/checker_detail.h"

#include <fmt/format.h>

namespace quiesce {

using check_detail::json_object;
using check_detail::EventWords;
using check_detail::split;
using check_detail::Word;

// What a resume must give back: the state now, or for a device that is
// runtime-suspended, the state it had when it runtime-suspended (`only`:
// that device's banks).
void Checker::snapshot_before(const std::string& only) {
    for (size_t i = 0; i < banks_.size(); ++i) {
        if (!only.empty() && banks_[i].component != only) continue;
        auto rb = rpm_before_.find(i);
        if (rpm_suspended_.count(banks_[i].component) && rb != rpm_before_.end()) banks_[i].before = rb->second;
        else banks_[i].bank->snapshot(StateClass::Hardware, banks_[i].before);
    }
}

// `only`: that device alone; `runtime`: against its state when its runtime
// suspend began. Without `only`, a device runtime-suspended now (left so by
// direct-complete or MAY_SKIP_RESUME) waits for its next runtime resume, and
// one already judged when it runtime-suspended after its complete is done.
void Checker::compare_state(const std::string* only, const char* when, bool runtime) {
    auto skip = [&](const std::string& c) {
        return only ? c != *only : rpm_suspended_.count(c) > 0 || checked_early_.count(c) > 0;
    };
    for (const auto& m : mirrors_) {
        if (skip(m.component)) continue;
        auto [device, memory] = m.values();
        if (device == memory) continue;
        report({"drvstate.stale", now_ps(), m.component, hub_.phase(),
                fmt::format("{}: driver-state register {} does not match the driver's state in memory {} "
                            "(the device uses {:#x}, memory says {:#x})",
                            m.component, m.reg, when, device, memory),
                json_object({{"register", m.reg},
                             {"device", fmt::format("{:#x}", device)},
                             {"memory", fmt::format("{:#x}", memory)}})});
    }
    for (size_t i = 0; i < banks_.size(); ++i) {
        Watched& w = banks_[i];
        if (skip(w.component)) continue;
        if (runtime && !rpm_before_.count(i)) continue;
        // A device the protocol declared not restored (its handles were
        // revoked, galibert-explicit) comes back reset by design.
        if (!runtime && revoked_devices_.count(w.component)) continue;
        // A transition that aborted before a device's suspend-side callback
        // never stopped it: it went on working, and what tasks set on it
        // meanwhile is not a state to give back.
        if (!runtime && !slept_ && graph_.has(w.component) && !stopped_devices_.count(w.component)) continue;
        auto diffs = w.bank->compare(runtime ? rpm_before_.at(i) : w.before);
        if (diffs.empty()) continue;
        std::vector<std::pair<std::string, std::string>> ev;
        std::string names;
        for (const auto& d : diffs) {
            ev.emplace_back(d.reg, fmt::format("before {:#x}, after {:#x}", d.expected, d.actual));
            names += (names.empty() ? "" : ", ") + d.reg;
        }
        report({"hwstate.not-restored", now_ps(), w.component, hub_.phase(),
                fmt::format("{}: hardware-state register{} {} not restored {}", w.bank->owner(),
                            diffs.size() > 1 ? "s" : "", names, when),
                json_object(ev)});
    }
}

// Runtime PM: what a device's banks held when its runtime_suspend began is
// what its runtime resume must give back (hwstate.not-restored,
// drvstate.stale, "after runtime resume").
void Checker::on_runtime_pm(const Event& ev, const EventWords& ew) {
    const std::string& dev = arg_value(ev, "device");
    if (ev.kind == EvKind::Instant && ew.name == Word::RpmStatus) {
        if (arg_value(ev, "status") == "suspended") rpm_suspended_.insert(dev);
        else rpm_suspended_.erase(dev);
        return;
    }
    if (ev.kind == EvKind::SliceBegin && ew.name == Word::RuntimeSuspend) {
        // Runtime-suspending right after its complete, before the resume
        // is judged: judge it now, before the suspend changes it.
        if (resume_pending_ && completed_.count(dev) && !checked_early_.count(dev) && !rpm_suspended_.count(dev)) {
            compare_state(&dev, "after resume", false);
            checked_early_.insert(dev);
        }
        rpm_suspended_.insert(dev);  // from here its state is runtime PM's to give back
        for (size_t i = 0; i < banks_.size(); ++i)
            if (banks_[i].component == dev) banks_[i].bank->snapshot(StateClass::Hardware, rpm_before_[i]);
        return;
    }
    if (ev.kind == EvKind::SliceEnd && ew.name == Word::RuntimeResume && arg_value(ev, "rc") == "0")
        compare_state(&dev, "after runtime resume", true);
}

// revoke.stale-handle: a process uses a handle that was not revoked, and
// the device no longer holds what the process set through it - the device
// resumed without its state (reference: seeds/002, Galibert's "either its
// environment could be restored correctly or the incorrect parts can not be
// accessed anymore").
void Checker::on_handle_use(const Event& ev) {
    if (arg_value(ev, "result") != "ok") return;
    if (!arg_value(ev, "path").empty()) return on_file_handle_use(ev);
    const std::string handle = arg_value(ev, "handle"), bank = arg_value(ev, "bank");
    if (stale_handles_.count(handle)) return;
    for (const auto& setting : split(arg_value(ev, "settings"), ';')) {
        const size_t eq = setting.find('=');
        if (eq == std::string::npos) continue;
        const std::string reg = setting.substr(0, eq);
        const uint64_t want = std::stoull(setting.substr(eq + 1), nullptr, 0);
        for (const auto& w : banks_) {
            if (w.component != bank) continue;
            const Register* r = w.bank->find(reg);
            if (!r || r->value() == want) continue;
            stale_handles_.insert(handle);
            report({"revoke.stale-handle", ev.ts, arg_value(ev, "device"), ev.phase,
                    fmt::format("{} used its handle to {} (handle {}), which was not revoked, but {} no longer holds "
                                "what it set through it: {} is {:#x}, the process set {:#x}",
                                arg_value(ev, "task"), arg_value(ev, "device"), handle, arg_value(ev, "device"), reg,
                                r->value(), want),
                    json_object({{"task", arg_value(ev, "task")},
                                 {"handle", handle},
                                 {"register", reg},
                                 {"expected", fmt::format("{:#x}", want)},
                                 {"actual", fmt::format("{:#x}", r->value())}})});
            return;
        }
    }
}

// revoke.stale-handle for paths: a process uses a file handle that was not
// revoked, opened before another OS changed or deleted the file on the disk
// while this machine was off. What the handle knows of the file (its size,
// its change counter, the page cache behind it) is from before that change:
// writing on through it puts the old view back over the other OS's work.
void Checker::on_file_handle_use(const Event& ev) {
    const std::string handle = arg_value(ev, "handle");
    if (stale_handles_.count(handle)) return;
    const std::string ino_s = arg_value(ev, "ino"), opened_s = arg_value(ev, "opened_ps");
    if (ino_s.empty() || opened_s.empty()) return;
    auto it = offline_changes_.find(std::stoull(ino_s));
    if (it == offline_changes_.end()) return;
    const Picos opened = std::stoull(opened_s), changed = it->second.first;
    if (opened >= changed || ev.ts < changed) return;
    stale_handles_.insert(handle);
    report({"revoke.stale-handle", ev.ts, arg_value(ev, "task"), ev.phase,
            fmt::format("{} used its handle to {} (handle {}, inode {}), which was not revoked, but another OS {} the "
                        "file while the machine was off (at {}): the handle still knows change counter {} and size {} "
                        "from before",
                        arg_value(ev, "task"), arg_value(ev, "path"), handle, ino_s, it->second.second,
                        format_ps(changed), arg_value(ev, "version"), arg_value(ev, "size")),
            json_object({{"task", arg_value(ev, "task")},
                         {"handle", handle},
                         {"path", arg_value(ev, "path")},
                         {"ino", ino_s},
                         {"changed_ps", std::to_string(changed)},
                         {"change", it->second.second},
                         {"opened_ps", opened_s}})});
}

}  // namespace quiesce
