// The phase runner: a transition's suspend list then its resume list, the phase boundaries where power may be
// cut, a wakeup that aborts, /sys/power/pm_test, the PM notifiers, and the rollback of a failed suspend (unwind).
// Each phase's action is engine_actions.cpp's, its device callbacks engine_callbacks.cpp's.
#include "sim/pm/engine.h"

#include "models/cpu/cpu.h"
#include "sim/kernel/kernel.h"
#include "sim/pm/engine_detail.h"

#include <algorithm>

namespace quiesce {

using engine_detail::kPhaseWord;
using engine_detail::kResumedFromImage;

namespace {
constexpr int kEBUSY = -16;

// What a phase slice records of its declaration, for viewers (the HTML
// timeline colours phases by action and callback).
std::vector<Arg> phase_args(const Phase& p, const char* direction) {
    std::vector<Arg> a{{"action", p.action}, {"direction", direction}};
    if (!p.callback.empty()) a.push_back({"callback", p.callback});
    if (!p.method.empty()) a.push_back({"method", p.method});
    return a;
}
}  // namespace

PmEngine::Result PmEngine::finish_without_resume() {
    hub_.set_phase("");
    hub_.slice_end(track_, protocol_.name, "transition", {{"result", "no-resume"}});
    return result_;
}

PmEngine::PmEngine(PmServices services, const Protocol& protocol, EventHub& hub)
    : s_(std::move(services)), protocol_(protocol), hub_(hub), track_(s_.kernel->path()) {
    // Every phase's name and callback interned now, with the platform: a
    // forked variant that reaches a phase its stem had not would otherwise
    // intern the word itself, writing the stem's pages (copy-on-write
    // faults, about 4 a variant of s3-basic's phase sweep by perf).
    for (const auto* list : {&protocol_.suspend, &protocol_.resume})
        for (const Phase& p : *list)
            for (const std::string* word : {&p.name, &p.callback, &p.test_undo})
                if (!word->empty()) intern_word(*word);
}

// Linux rollback (reference/linux-pm.md §1.8): phases unwind in reverse; each
// device gets the undo of exactly the phases it completed.
void PmEngine::unwind(size_t failed_index, Cpu& cpu, const std::set<std::string>& failed_phase_ok, bool test) {
    succeeded_[failed_index] = failed_phase_ok;
    for (size_t i = failed_index + 1; i-- > 0;) {
        const Phase& p = protocol_.suspend[i];
        if (p.undo.empty()) continue;
        if (closed_.count(i)) continue;  // already undone by a later suspend phase
        const Phase* u = protocol_.find_undo(p.undo);
        if (p.action == "callbacks" && succeeded_[i].empty()) continue;
        if (p.action != "callbacks" && i == failed_index && !test) continue;  // a failed action undid nothing
        // A resume-list phase run to undo `p`, for the devices that completed it.
        auto undo_with = [&](const Phase& u, const std::set<std::string>* only) {
            hub_.set_phase(u.name);
            std::vector<Arg> args = phase_args(u, "resume");
            args.push_back({"unwind", p.name});
            hub_.slice_begin(track_, u.name, "phase", std::move(args));
            run_phase(u, cpu, nullptr, only, false);
            hub_.slice_end(track_, u.name, "phase");
        };
        if (test && !p.test_undo.empty()) {
            Phase instead = *u;  // hibernation after a test: PMSG_RESTORE, not PMSG_THAW
            instead.name = instead.callback = p.test_undo;
            undo_with(instead, &succeeded_[i]);
        } else {
            undo_with(*u, p.action == "callbacks" ? &succeeded_[i] : nullptr);
        }
        // galibert-explicit: a device the undo could not restore loses its
        // handles before anything else runs, as the resume list's revoke
        // phase does right after restore_explicit.
        if (!not_restored_.empty())
            for (const Phase& r : protocol_.resume)
                if (r.action == "revoke") {
                    undo_with(r, nullptr);
                    break;
                }
    }
}

int PmEngine::notify_prepare(Cpu& cpu) {
    if (s_.pm_prepare) s_.pm_prepare(cpu);  // the kernel's own (the firmware cache), registered first
    const std::string event = protocol_.target == 4 ? "pm_hibernation_prepare" : "pm_suspend_prepare";
    for (size_t i = 0; i < s_.notifiers.size(); ++i) {
        const std::string& dev = s_.notifiers[i];
        auto it = s_.devices.find(dev);
        if (it == s_.devices.end()) continue;
        if (const int rc = notify_one(dev, *it->second, event, cpu)) {  // NOTIFY_BAD: the ones before it are told POST
            result_.failed_device = dev;
            notified_ = true;
            notify_post(cpu, i);
            return rc;
        }
    }
    notified_ = true;
    return 0;
}

void PmEngine::notify_post(Cpu& cpu, size_t upto) {
    if (!notified_) return;
    notified_ = false;
    const std::string event = protocol_.target == 4 ? "pm_post_hibernation" : "pm_post_suspend";
    for (size_t i = 0; i < upto && i < s_.notifiers.size(); ++i) {
        auto it = s_.devices.find(s_.notifiers[i]);
        if (it == s_.devices.end()) continue;
        notify_one(it->first, *it->second, event, cpu);
    }
}

int PmEngine::notify_one(const std::string& dev, PmDevice& d, const std::string& event, Cpu& cpu) {
    hub_.slice_begin(d.track(), event, "notifier", {{"device", dev}});
    const int rc = d.callback(event, cpu);
    hub_.slice_end(d.track(), event, "notifier", {{"device", dev}, {"rc", std::to_string(rc)}});
    return rc;
}

// /sys/power/pm_test (kernel/power/suspend.c suspend_test, hibernate.c
// hibernation_test): at its level the transition waits pm_test_delay in
// busy 1 s steps - suspend stops waiting once a wakeup event is pending,
// hibernation waits it all - and unwinds from there as after an error, but
// with no error: the system never sleeps.
void PmEngine::pm_test(const Phase& p, size_t index, Cpu& cpu) {
    const int64_t delay_ms = s_.kernel->props().get<int64_t>("pm_test_delay_ms");
    hub_.instant(track_, "pm-test", "pm", {{"level", p.test_level}, {"phase", p.name}, {"delay_ms", std::to_string(delay_ms)}});
    const bool suspend = protocol_.target != 4;
    for (int64_t left = delay_ms; left > 0; left -= 1000) {
        if (suspend && s_.kernel->props().get<bool>("pm_wakeup_checks") && s_.kernel->wakeup_count() != wakeups_at_start_)
            break;
        cpu.delay(cpu.clock().cycles_in(Picos(std::min<int64_t>(left, 1000)) * 1'000'000'000ULL));  // mdelay(1000)
    }
    result_.test_level = p.test_level;
    unwind(index, cpu, succeeded_[index], true);
    hub_.set_phase("");
    hub_.slice_end(track_, protocol_.name, "transition", {{"result", "pm-test"}, {"level", p.test_level}});
}

// pm_wakeup_pending(): a wakeup event since the transition began aborts it
// before device callbacks, syscore and the platform's sleep entry (as
// __device_suspend, __device_suspend_noirq and suspend_enter check).
bool PmEngine::wakeup_pending(const Phase& p) {
    if (p.action != "callbacks" && p.action != "syscore-suspend" && p.action != "platform-enter") return false;
    if (!s_.kernel->props().get<bool>("pm_wakeup_checks")) return false;
    if (s_.kernel->wakeup_count() == wakeups_at_start_) return false;
    hub_.instant(track_, "wakeup-pending", "pm",
                 {{"phase", p.name}, {"events", std::to_string(s_.kernel->wakeup_count() - wakeups_at_start_)}});
    return true;
}

const FaultSpec* PmEngine::point_faults(const std::string& phase, const char* when) {
    if (!s_.faults) return nullptr;
    const FaultSpec* cut = nullptr;
    for (const FaultSpec* f : s_.faults->boundary(phase, when))
        if (f->kind == "power-loss" && !cut) cut = f;
    return cut;
}

// The machine lost power asynchronously (a timer, a disk persistence point,
// a torn write): this kernel stopped where it was, the cut already happened.
int PmEngine::after_async_power_loss(Cpu& cpu) {
    hub_.instant(track_, "power-lost", "pm", {{"asynchronous", "yes"}});
    return wait_for_power(cpu);
}

PmEngine::Result PmEngine::run(Cpu& cpu, unsigned cycle) {
    // What one transition knew of its devices and phases is not the next's.
    result_ = Result{};
    succeeded_.clear();
    closed_.clear();
    dpm_.clear();
    not_restored_.clear();
    notified_ = false;
    // With the wakeup_count handshake, against the count user space saved:
    // an event between that write and now aborts too.
    wakeups_at_start_ = s_.kernel->events_check_enabled() ? s_.kernel->saved_wakeup_count() : s_.kernel->wakeup_count();
    if (cycle) hub_.slice_begin(track_, protocol_.name, "transition", {{"cycle", cycle}});
    else hub_.slice_begin(track_, protocol_.name, "transition");
    try {
        if (!run_suspend(cpu)) return result_;
    } catch (const PowerLost&) {
        if (after_async_power_loss(cpu) != 0) return finish_without_resume();
    }
    try {
        return run_resume(cpu);
    } catch (const PowerLost&) {
        // The image, if any, was consumed by the restore: a fresh boot.
        after_async_power_loss(cpu);
        result_.resumed = false;
        return finish_without_resume();
    }
}

// The suspend list. False when the transition ended there (aborted, or no
// resume): result_ is final.
bool PmEngine::run_suspend(Cpu& cpu) {
    for (size_t i = 0; i < protocol_.suspend.size(); ++i) {
        const Phase& p = protocol_.suspend[i];
        hub_.set_phase(p.name);
        if (const FaultSpec* cut = point_faults(p.name, "before")) {
            if (power_lost(cpu, *cut) != 0) {
                finish_without_resume();
                return false;
            }
            break;  // the image came back: the image kernel's resume path
        }
        const EventWord phase_name(p.name);  // interned once for its two slice events
        hub_.slice_begin(track_, phase_name, kPhaseWord, phase_args(p, "suspend"));
        // A phase that undoes an earlier suspend phase (thaw after the
        // snapshot) runs for that phase's devices, and only logs errors.
        int closes = -1;
        for (size_t j = 0; j < i; ++j)
            if (protocol_.suspend[j].undo == p.name && !closed_.count(j)) closes = int(j);
        const std::set<std::string>* only =
            closes >= 0 && protocol_.suspend[size_t(closes)].action == "callbacks" ? &succeeded_[size_t(closes)] : nullptr;
        std::set<std::string> ok;
        int rc = closes < 0 && wakeup_pending(p) ? kEBUSY : run_phase(p, cpu, &ok, only, closes < 0);
        if (closes >= 0) {
            closed_.insert(size_t(closes));
            rc = 0;
        }
        hub_.slice_end(track_, phase_name, kPhaseWord, {{"rc", rc}});
        if (!result_.power_lost && !(p.action == "platform-enter" && result_.slept && !result_.resumed))
            if (const FaultSpec* cut = point_faults(p.name, "after")) {
                if (power_lost(cpu, *cut) != 0) {
                    finish_without_resume();
                    return false;
                }
                break;
            }
        if (result_.power_lost) {
            if (rc == kResumedFromImage) break;
            finish_without_resume();
            return false;
        }
        if (rc != 0 && !(p.action == "platform-enter" && result_.slept)) {
            result_.error = rc;
            result_.failed_phase = p.name;
            unwind(i, cpu, ok);
            hub_.set_phase("");
            hub_.slice_end(track_, protocol_.name, "transition", {{"result", "aborted"}});
            return false;
        }
        succeeded_[i] = std::move(ok);
        if (!p.test_level.empty() && p.test_level == s_.kernel->props().get<std::string>("pm_test")) {
            pm_test(p, i, cpu);
            return false;
        }
        if (p.action == "platform-enter" && !result_.resumed) {
            finish_without_resume();
            return false;
        }
    }
    return true;
}

PmEngine::Result PmEngine::run_resume(Cpu& cpu) {
    for (const Phase& p : protocol_.resume) {
        hub_.set_phase(p.name);
        // Power lost while resuming: whatever boots next boots afresh (the
        // image, if any, was consumed by the restore).
        const FaultSpec* cut = point_faults(p.name, "before");
        if (cut) {
            power_lost(cpu, *cut);
            result_.resumed = false;
            return finish_without_resume();
        }
        const EventWord phase_name(p.name);
        hub_.slice_begin(track_, phase_name, kPhaseWord, phase_args(p, "resume"));
        int rc = run_phase(p, cpu, nullptr, nullptr, false);  // resume errors are logged, not unwound
        hub_.slice_end(track_, phase_name, kPhaseWord, {{"rc", rc}});
        if ((cut = point_faults(p.name, "after"))) {
            power_lost(cpu, *cut);
            result_.resumed = false;
            return finish_without_resume();
        }
    }
    hub_.set_phase("");
    hub_.slice_end(track_, protocol_.name, "transition", {{"result", "resumed"}});
    return result_;
}

}  // namespace quiesce
