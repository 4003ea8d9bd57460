#include "sim/pm/engine.h"

#include "models/acpi/acpi_os.h"
#include "models/cpu/cpu.h"
#include "sim/core/errors.h"
#include "sim/kernel/kernel.h"
#include "sim/pm/runtime.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

namespace quiesce {

namespace {
constexpr uint64_t kContextMagic = 0x51554945534345ULL;  // "QUIESCE"
constexpr int kResumedFromImage = 1;  // a phase hit by power loss, after which the image came back
constexpr int kEBUSY = -16;
// An async callback worker's stack: any driver callback may run on one. The
// deepest of the regression suite and the examples uses 6.6 KiB, the deepest
// thread of all 21.7 KiB (docs/performance.md has the measure).
constexpr size_t kWorkerStack = 128 * 1024;

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
    : s_(std::move(services)), protocol_(protocol), hub_(hub), track_(s_.kernel->path()) {}

int PmEngine::run_callbacks(const Phase& p, Cpu& cpu, std::set<std::string>* succeeded,
                            const std::set<std::string>* only, bool stop_on_error) {
    std::vector<std::string> order = p.order == "top-down" ? s_.graph->resume_order() : s_.graph->suspend_order();
    std::vector<std::string> parts;
    std::string participants;
    for (const auto& n : order)
        if (s_.devices.count(n) && (!only || only->count(n))) {
            parts.push_back(n);
            participants += (participants.empty() ? "" : ",") + n;
        }
    hub_.instant(track_, "participants", "phase", {{"callback", p.callback}, {"devices", participants}});
    // One device's callback, on `c`.
    auto one = [&](const std::string& name, Cpu& c) {
        PmDevice* d = s_.devices.at(name);
        if (s_.runtime) {
            const std::string why = dpm_skip(name, p.callback, c);
            if (!why.empty()) {
                hub_.instant(d->track(), "callback-skipped", "pm",
                             {{"device", name}, {"callback", p.callback}, {"reason", why}});
                return 0;
            }
        }
        hub_.slice_begin(d->track(), p.callback, "callback", {{"device", name}, {"phase", p.name}});
        c.compute(Cycles(500));  // dpm bookkeeping: lists, locks, tracing
        dpm_before(name, p.callback);
        int rc = injected_callback_fault(name, p.callback, d->track());
        if (rc == 0) rc = explicit_callback(*d, p.callback, c);
        rc = dpm_after(name, p.callback, rc, c);
        if (rc != 0 && p.callback == "restore_explicit") not_restored_.insert(name);
        hub_.slice_end(d->track(), p.callback, "callback", {{"device", name}, {"rc", std::to_string(rc)}});
        if (rc != 0)
            hub_.instant(track_, "callback-failed", "pm",
                         {{"device", name}, {"callback", p.callback}, {"rc", std::to_string(rc)}});
        return rc;
    };
    if (p.async && s_.kernel->props().get<bool>("pm_async")) return run_callbacks_async(p, cpu, parts, one, succeeded, stop_on_error);
    int first_error = 0;
    for (const auto& name : parts) {
        int rc = one(name, cpu);
        if (rc != 0) {
            // Suspend-side errors stop the phase; resume-side errors are only
            // logged (reference/linux-pm.md §1.4), the others still resume.
            if (!stop_on_error) {
                first_error = first_error ? first_error : rc;
                continue;
            }
            if (!result_.error) result_.failed_device = name;
            return rc;
        }
        if (succeeded) succeeded->insert(name);
    }
    return first_error;
}

struct PmEngine::Worker {
    sc_core::sc_process_handle thread;
    sc_core::sc_event go;
    std::function<void()> job;  // the next one to run
    bool busy = false;          // from dispatch until its job returned
};

// An idle worker of this kernel, or a new one. A worker of a kernel that
// lost power stops where it is (Kernel::adopt_context): never again.
PmEngine::Worker& PmEngine::idle_worker() {
    const std::vector<sc_core::sc_process_handle>& dead = s_.kernel->ctx().dead.others;
    for (auto& w : workers_)
        if (!w->busy && std::find(dead.begin(), dead.end(), w->thread) == dead.end()) return *w;
    auto w = std::make_shared<Worker>();
    sc_core::sc_spawn_options opts;
    opts.set_stack_size(kWorkerStack);
    w->thread = sc_core::sc_spawn(
        [w] {
            for (;;) {
                while (!w->job) sc_core::wait(w->go);
                std::function<void()> job = std::move(w->job);
                w->job = nullptr;
                job();
                Cpu::job_end(w->thread);
                w->busy = false;
            }
        },
        sc_core::sc_gen_unique_name("dpm_worker"), &opts);
    s_.kernel->adopt_context(w->thread);  // it stops with the kernel if the power fails
    workers_.push_back(w);
    return *w;
}

// dpm_async_fn: every device's callback a job of its own on a worker
// thread, started in list order on the online CPUs in turn; each first
// waits (dpm_wait) for the devices it depends on in this direction -
// children and consumers when suspending, parents and suppliers when
// resuming - that take part. A core other than the PM thread's is idle:
// its jobs start once it has left its idle state (Cpu::wake_latency, drawn
// once per phase and core; 0 in nominal runs).
// After a suspend-side error (async_error) the devices not started yet do
// not run; the PM thread waits for every started one.
int PmEngine::run_callbacks_async(const Phase& p, Cpu& cpu, const std::vector<std::string>& parts,
                                  const std::function<int(const std::string&, Cpu&)>& one,
                                  std::set<std::string>* succeeded, bool stop_on_error) {
    // What the callback jobs share lives on the heap: if the power fails
    // (PowerLost unwinds this frame) workers still waiting must not be left
    // with dangling references.
    struct State {
        std::function<int(const std::string&, Cpu&)> one;
        std::set<std::string> taking_part, done, ok;
        sc_core::sc_event changed;
        bool stop = false;
        int first_error = 0;
    };
    auto st = std::make_shared<State>();
    st->one = one;
    st->taking_part = std::set<std::string>(parts.begin(), parts.end());
    const bool children_first = callback_children_first(p.callback);
    std::vector<Cpu*> online;
    for (Cpu* c : s_.kernel->cpus())
        if (c->online()) online.push_back(c);
    std::map<Cpu*, Cycles> woken;
    for (size_t i = 0; i < parts.size(); ++i) {
        std::string name = parts[i];
        Cpu* c = online[i % online.size()];
        std::vector<std::string> deps = children_first ? s_.graph->subordinates(name) : s_.graph->superiors(name);
        Worker& w = idle_worker();
        w.busy = true;
        // To the cores (and PCT's priorities) each job is a context of its own.
        Cpu::job_begin(w.thread, "dpm_" + p.callback + "_" + name + "_" + std::to_string(++async_threads_));
        auto& priority = s_.kernel->ctx().pct.priority;
        priority.erase(
            std::remove_if(priority.begin(), priority.end(), [&w](const auto& e) { return e.first == w.thread; }),
            priority.end());
        // Another core is idle: it leaves its idle state once this phase,
        // then runs its jobs.
        Cycles late(0);
        if (c != &cpu) {
            auto it = woken.find(c);
            if (it == woken.end()) it = woken.emplace(c, c->wake_latency()).first;
            late = it->second;
        }
        w.job = [this, st, name, c, deps, stop_on_error, late] {
            if (late.n) c->wait_cycles(late);
            for (;;) {
                bool ready = true;
                for (const auto& d : deps) ready = ready && (!st->taking_part.count(d) || st->done.count(d));
                if (ready) break;
                sc_core::wait(st->changed);
            }
            if (!st->stop) {
                int rc = st->one(name, *c);
                if (rc != 0) {
                    st->first_error = st->first_error ? st->first_error : rc;
                    if (stop_on_error) {
                        st->stop = true;
                        if (!result_.error && result_.failed_device.empty()) result_.failed_device = name;
                    }
                } else {
                    st->ok.insert(name);
                }
            }
            st->done.insert(name);
            st->changed.notify(sc_core::SC_ZERO_TIME);
        };
        w.go.notify();  // it runs in this evaluation phase, as a thread spawned now would
    }
    // device_pm_wait_for_dev inside a callback of this phase.
    s_.kernel->set_dpm_waiter([st](const std::string& other) {
        while (st->taking_part.count(other) && !st->done.count(other)) sc_core::wait(st->changed);
    });
    struct Unset {
        Kernel* k;
        ~Unset() { k->set_dpm_waiter(nullptr); }  // also when a power loss unwinds this frame
    } unset{s_.kernel};
    DeadSoftware& dead = s_.kernel->ctx().dead;
    while (st->done.size() < parts.size()) {
        sc_core::wait(st->changed | dead.died);
        s_.kernel->check_power();
    }
    if (succeeded) succeeded->insert(st->ok.begin(), st->ok.end());
    return st->first_error;
}

// galibert-explicit: a device that keeps no explicit state is quiesced by
// its suspend and brought back by its resume, re-initialized from what its
// driver has in memory - its state is not restored (-EOPNOTSUPP), and the
// revoke action takes away the processes' handles to it.
int PmEngine::explicit_callback(PmDevice& d, const std::string& cb, Cpu& c) {
    const bool save = cb == "save_explicit", restore = cb == "restore_explicit";
    if ((save || restore) && !d.explicit_state()) {
        int rc = d.callback(save ? "suspend" : "resume", c);
        return restore && rc == 0 ? -95 : rc;  // -EOPNOTSUPP: nothing to restore it from
    }
    return d.callback(cb, c);
}

namespace {
// The pm_message event of a callback: 'S'USPEND, 'F'REEZE, 'H'IBERNATE,
// 'R'ESUME, 'T'HAW, 'E' RESTORE; 0 for prepare, complete and the others.
char event_of(const std::string& cb) {
    const std::string base = cb.substr(0, cb.find('_'));
    if (base == "suspend") return 'S';
    if (base == "freeze") return 'F';
    if (base == "poweroff") return 'H';
    if (base == "resume") return 'R';
    if (base == "thaw") return 'T';
    if (base == "restore" && cb != "restore_explicit") return 'E';
    return 0;
}
const char* level_of(const std::string& cb) {
    if (cb.size() > 6 && cb.compare(cb.size() - 6, 6, "_noirq") == 0) return "noirq";
    if (cb.find("_late") != std::string::npos || cb.find("_early") != std::string::npos) return "late";
    return "main";
}
}  // namespace

// device_suspend / _late / _noirq and device_resume / _early / _noirq of
// drivers/base/power/main.c, as far as runtime PM changes what runs.
std::string PmEngine::dpm_skip(const std::string& name, const std::string& cb, Cpu& c) {
    RuntimePm& rpm = *s_.runtime;
    if (!rpm.has(name)) return "";
    DpmState& st = dpm_[name];
    const char ev = event_of(cb);
    if (!ev) return "";
    const std::string level = level_of(cb);
    const bool suspending = ev == 'S' || ev == 'F' || ev == 'H';
    const unsigned flags = rpm.dpm_flags(name);
    if (suspending && level == "main") {
        rpm.barrier(name, c);  // a runtime transition in progress ends; a queued resume happens
        if (st.direct_complete && rpm.suspended(name)) {
            rpm.disable(name);
            if (rpm.suspended(name)) {
                st.direct_completed = true;
                return "direct-complete";
            }
            rpm.enable(name);
        }
        st.direct_complete = false;
        for (const auto& sup : s_.graph->superiors(name)) dpm_[sup].direct_complete = false;
        return "";
    }
    if (st.direct_completed) {
        if (ev == 'R' && level == "main") rpm.enable(name);  // matches the disable at suspend
        return "direct-complete";
    }
    if (suspending && level == "late") {
        rpm.disable(name);  // __pm_runtime_disable(dev, false)
        st.skip_suspend = (flags & kDpmSmartSuspend) && rpm.suspended(name);
        return st.skip_suspend ? "smart-suspend" : "";
    }
    if (suspending && level == "noirq") {
        // Devices in use right before the sleep, or not allowed to, resume.
        st.noirq_done = true;
        st.must_resume = !(flags & kDpmMaySkipResume) || rpm.usage(name) > 1 || rpm.children(name) > 0 ||
                         st.must_resume;
        if (st.must_resume)
            for (const auto& sup : s_.graph->superiors(name)) dpm_[sup].must_resume = true;
        return st.skip_suspend ? "smart-suspend" : "";
    }
    // Resuming: dev_pm_skip_resume.
    const bool skip_resume = ev == 'E' ? false
                             : ev == 'T' ? (st.skip_suspend && rpm.suspended(name))
                                         : st.noirq_done && !st.must_resume;
    if (level == "noirq") {
        if (skip_resume) rpm.set_suspended(name);
        else if (flags & kDpmSmartSuspend) rpm.set_active(name);
        return skip_resume ? "may-skip-resume" : "";
    }
    if (level == "late" && skip_resume) {
        rpm.enable(name);  // (dpm_after enables it after a callback that runs)
        return "may-skip-resume";
    }
    return "";
}

void PmEngine::dpm_before(const std::string& name, const std::string& cb) {
    if (!s_.runtime || !s_.runtime->has(name) || cb != "prepare") return;
    s_.runtime->get_noresume(name);  // device_prepare: no runtime suspend until complete
    dpm_[name] = DpmState{};
}

// After the callback, whatever it returned (an injected fault included):
// `rc` as the PM core goes on with it.
int PmEngine::dpm_after(const std::string& name, const std::string& cb, int rc, Cpu& c) {
    if (!s_.runtime || !s_.runtime->has(name)) return rc;
    RuntimePm& rpm = *s_.runtime;
    if (cb == "prepare") {
        if (rc < 0) {
            rpm.put(name, c, RuntimePm::kAsync);  // device_prepare's error path
            return rc;
        }
        // Only a suspend (not hibernation) may leave a device as it is.
        bool suspend_event = false;
        for (const auto& ph : protocol_.suspend) suspend_event = suspend_event || ph.callback == "suspend";
        dpm_[name].direct_complete = rc > 0 && suspend_event && !(rpm.dpm_flags(name) & kDpmNoDirectComplete);
        return 0;
    }
    const char ev = event_of(cb);
    if ((ev == 'R' || ev == 'T' || ev == 'E') && std::string(level_of(cb)) == "late") rpm.enable(name);
    if (cb == "complete") {
        dpm_.erase(name);
        rpm.put(name, c, RuntimePm::kAsync);  // pm_runtime_put: the reference prepare took
    }
    return rc;
}

// A fault rule may make this callback fail (its errno) or never return (the
// driver waits on something that never comes: liveness.hang reports it).
int PmEngine::injected_callback_fault(const std::string& device, const std::string& callback,
                                      const std::string& track) {
    if (!s_.faults) return 0;
    if (s_.faults->armed("callback-hang") && s_.faults->fire("callback-hang", device, track, {{"callback", callback}}))
        for (sc_core::sc_event never;;) {
            if (s_.kernel) s_.kernel->wait_event(never, ~0ULL >> 1, "a completion that never comes (callback-hang)");
            else sc_core::wait(sc_core::sc_time(1, sc_core::SC_SEC));
        }
    if (s_.faults->armed("callback-fail"))
        if (const FaultSpec* f = s_.faults->fire("callback-fail", device, track, {{"callback", callback}}))
            return int(f->err);
    return 0;
}

// The machine loses power in the middle of the transition. This kernel stops
// where it is; whatever boots next decides: a restore kernel that finds an
// image jumps back into it (as after S4), otherwise the machine boots afresh.
int PmEngine::power_lost(Cpu& cpu, const FaultSpec& cut) {
    hub_.instant(track_, "power-lost", "pm");
    s_.kernel->halt();
    s_.power_cut(cut);
    return wait_for_power(cpu);
}

// After a power loss: firmware starts the boot CPU again. A restore kernel
// that finds the image jumps back into it (as after S4): 0; otherwise the
// machine booted afresh: -1.
int PmEngine::wait_for_power(Cpu& cpu) {
    result_.slept = true;
    result_.power_lost = true;
    uint64_t vector = cpu.wait_for_start();
    if (protocol_.target == 4 && vector == s_.image_restore_point && cpu.read64(s_.context_area) == kContextMagic) {
        if (s_.image_restored) s_.image_restored();
        s_.kernel->unhalt();
        result_.resumed = true;
        return 0;
    }
    hub_.instant(track_, "resume-failed", "pm", {{"reason", "power was lost; the machine booted without the image"}});
    return -1;
}

int PmEngine::freeze_stage(Task::Kind kind) {
    std::string refused;
    int rc = s_.kernel->freeze(kind, s_.freeze_timeout, refused);
    if (rc != 0) {  // the freezer has thawed everything again
        hub_.instant(track_, "freeze-failed", "pm", {{"refused", refused}});
        result_.failed_device = refused;
    }
    return rc;
}

void PmEngine::save_processor_state(Cpu& cpu) {
    cpu.write64(s_.context_area, kContextMagic);
    cpu.write64(s_.context_area + 8, cpu.index());
}

int PmEngine::platform_enter(Cpu& cpu) {
    // acpi_enter_sleep_state: no SLP_TYP from the DSDT's _Sx, no sleep
    // (AE_AML_OPERAND_VALUE; acpi_suspend_enter returns -EFAULT).
    if (!s_.acpi->can_enter(protocol_.target)) {
        hub_.instant(track_, "sleep-values-invalid", "pm", {{"state", std::to_string(protocol_.target)}});
        return -14;
    }
    // S3: the context the trampoline will check and reload. S4: it was saved
    // before the snapshot and comes back with the image.
    if (protocol_.target == 3) save_processor_state(cpu);
    result_.slept = true;
    s_.kernel->halt();  // the CPUs stop: no task runs while the platform sleeps
    if (s_.sleep_entered) s_.sleep_entered();
    // The start firmware gave this CPU when it last woke is not this sleep's:
    // from SLP_EN it waits for the next one (a second cycle would otherwise
    // run on at once, while the platform powers down under it).
    cpu.forget_start();
    uint64_t vector = s_.acpi->enter(cpu, protocol_.target, s_.kernel->props().get<bool>("acpi_flush_cpu_cache"),
                                     s_.kernel->props().get<bool>("acpi_gts_bfs"));
    uint64_t expected = protocol_.target == 4 ? s_.image_restore_point : s_.trampoline;
    if (protocol_.target == 4 && vector != expected) {
        hub_.instant(track_, "resume-failed", "pm", {{"reason", "the restore kernel did not restore the image"}});
        return -1;
    }
    if (vector != expected) {
        hub_.instant(track_, "resume-failed", "pm",
                     {{"reason", vector == 0 ? "firmware cold-booted (no waking vector)"
                                             : fmt::format("CPU started at {:#x}, not at the kernel's trampoline", vector)}});
        return -1;
    }
    if (cpu.read64(s_.context_area) != kContextMagic) {
        hub_.instant(track_, "resume-failed", "pm", {{"reason", "saved processor context is corrupt"}});
        return -1;
    }
    if (protocol_.target == 4 && s_.image_restored) s_.image_restored();
    // Still one CPU, interrupts off: acpi_leave_sleep_state_prep.
    s_.acpi->leave_prep(cpu, protocol_.target, s_.kernel->props().get<bool>("acpi_gts_bfs"));
    s_.kernel->unhalt();
    result_.resumed = true;
    return 0;
}

int PmEngine::run_phase(const Phase& p, Cpu& cpu, std::set<std::string>* succeeded,
                        const std::set<std::string>* only, bool stop_on_error) {
    const std::string& a = p.action;
    unsigned target = protocol_.target;
    if (a == "callbacks") return run_callbacks(p, cpu, succeeded, only, stop_on_error);
    if (a == "s2idle" || a == "s2idle-prepare" || a == "s2idle-restore" || a == "lps0") return s2idle_action(p, cpu);
    if (a == "firmware") {
        unsigned arg = p.arg < 0 ? target : unsigned(p.arg);
        if (p.method == "_TTS") s_.acpi->begin(cpu, arg);
        else if (p.method == "_PTS") s_.acpi->prepare(cpu, arg, s_.trampoline);
        else s_.acpi->finish(cpu, arg);
        return 0;
    }
    if (a == "platform-begin") s_.acpi->begin(cpu, target);
    else if (a == "platform-prepare") s_.acpi->prepare(cpu, target, s_.trampoline);
    else if (a == "platform-enter") {
        // From SLP_EN on the machine is the firmware's: a power failure then
        // is the sleep itself (S4, S5) or wakes nothing different (S3).
        bool async = s_.faults && s_.faults->async_power();
        if (async) s_.faults->set_async_power(false);
        int rc = platform_enter(cpu);
        if (async) s_.faults->set_async_power(true);
        return rc;
    }
    else if (a == "platform-finish") s_.acpi->finish(cpu, target);
    else if (a == "platform-end") s_.acpi->end(cpu);
    // ACPI NVS (drivers/acpi/nvs.c): kernel pages for a copy, the copy after
    // _PTS, the copy back right after the wake, the pages freed.
    else if (a == "nvs-alloc") return s_.acpi->nvs_alloc(cpu, *s_.kernel, target);
    else if (a == "nvs-save") s_.acpi->nvs_save(cpu, *s_.kernel);
    else if (a == "nvs-restore") s_.acpi->nvs_restore(cpu, *s_.kernel);
    else if (a == "nvs-free") s_.acpi->nvs_free(*s_.kernel);
    else if (a == "revoke") {
        // galibert-explicit: the devices that could not restore their state
        // lose every process handle (revoke()): their users get EBADF.
        for (const auto& name : not_restored_) s_.kernel->revoke_handles(name);
        not_restored_.clear();
        return 0;
    }
    else if (a == "run") {
        // The system keeps running (tasks, I/O, a user running hdparm) while
        // the PM thread waits: the time between Linus's save_state and suspend.
        sc_core::wait(from_ps(p.duration));
        return 0;
    }
    else if (a == "sync") {
        // ksys_sync_helper returns nothing: a write error is the page's (it
        // stays dirty, fsync reports it) and never stops the suspend.
        int rc = s_.sync ? s_.sync(cpu) : 0;
        if (rc) hub_.instant(track_, "sync-error", "pm", {{"rc", std::to_string(rc)}});
        return 0;
    }
    else if (a == "preallocate") return s_.preallocate ? s_.preallocate(cpu) : -22;
    else if (a == "snapshot") {
        if (!s_.snapshot) return -22;
        save_processor_state(cpu);  // swsusp_arch_suspend saves it into the image
        return s_.snapshot(cpu);
    }
    else if (a == "kexec-save") {
        // kexec-s4: the processor context goes into the image with the
        // rest; the save kernel writes it and returns here (resume point A).
        if (!s_.kexec_save) return -22;
        save_processor_state(cpu);
        return s_.kexec_save(cpu);
    }
    else if (a == "write-image") {
        if (!s_.write_image) return -22;
        int rc = s_.write_image(cpu);
        if (rc == kPowerLost) return power_lost(cpu, *s_.faults->last_fired()) == 0 ? kResumedFromImage : -1;
        return rc;
    }
    else if (a == "freeze-tasks" || a == "freeze-user-tasks") {
        // suspend_prepare / hibernate: the PM notifiers, then the freezer -
        // user tasks, then (suspend) freezable kernel threads. A freezer
        // failure thaws and sends POST itself (the phase undid what it did).
        if (int rc = notify_prepare(cpu)) return rc;
        int rc = freeze_stage(Task::Kind::User);
        if (!rc && a == "freeze-tasks") rc = freeze_stage(Task::Kind::KThread);
        if (!rc && a == "freeze-tasks" && s_.runtime) s_.runtime->freeze_workqueue(true);  // freezable pm_wq
        if (rc) notify_post(cpu, s_.notifiers.size());
        return rc;
    }
    else if (a == "freeze-kernel-threads") {
        int rc = freeze_stage(Task::Kind::KThread);
        if (!rc && s_.runtime) s_.runtime->freeze_workqueue(true);
        return rc;
    }
    else if (a == "thaw-tasks") {
        s_.kernel->thaw_all();
        if (s_.runtime) s_.runtime->freeze_workqueue(false);  // thaw_workqueues
        notify_post(cpu, s_.notifiers.size());  // suspend_finish / hibernate's Exit: after the thaw
    }
    else if (a == "suspend-device-irqs") s_.kernel->suspend_device_irqs();
    else if (a == "resume-device-irqs") s_.kernel->resume_device_irqs(cpu);
    else if (a == "restrict-gfp") s_.kernel->restrict_gfp(true);   // pm_restrict_gfp_mask
    else if (a == "restore-gfp") s_.kernel->restrict_gfp(false);   // pm_restore_gfp_mask
    else if (a == "irqs-off") {
        cpu.local_irq_disable();
        // The only online CPU with interrupts off runs nothing else: no task
        // is scheduled until interrupts come back on.
        bool alone = true;
        for (Cpu* c : s_.kernel->cpus()) alone = alone && (c == &cpu || !c->online());
        if (alone) s_.kernel->halt();
    } else if (a == "irqs-on") {
        cpu.local_irq_enable();
        s_.kernel->unhalt();
    }
    else if (a == "syscore-suspend") { if (s_.syscore_suspend) s_.syscore_suspend(cpu); }
    else if (a == "syscore-resume") { if (s_.syscore_resume) s_.syscore_resume(cpu); }
    else if (a == "cpus-offline") {
        // freeze_secondary_cpus: on a failure the ones already down come back.
        std::vector<Cpu*> down;
        for (Cpu* c : s_.kernel->cpus()) {
            if (c->index() == 0 || !c->online()) continue;
            if (int rc = c->go_offline()) {
                hub_.instant(track_, "cpu-offline-failed", "pm", {{"cpu", c->path()}, {"rc", std::to_string(rc)}});
                for (Cpu* d : down) d->go_online();
                return rc;
            }
            down.push_back(c);
        }
    } else if (a == "cpus-online") {
        for (Cpu* c : s_.kernel->cpus())
            if (c->index() != 0 && !c->online()) c->go_online();
    } else {
        SIM_PANIC("unvalidated action {}", a);
    }
    return 0;
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
    if (cycle) hub_.slice_begin(track_, protocol_.name, "transition", {{"cycle", std::to_string(cycle)}});
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
        hub_.slice_begin(track_, p.name, "phase", phase_args(p, "suspend"));
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
        hub_.slice_end(track_, p.name, "phase", {{"rc", std::to_string(rc)}});
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
        hub_.slice_begin(track_, p.name, "phase", phase_args(p, "resume"));
        int rc = run_phase(p, cpu, nullptr, nullptr, false);  // resume errors are logged, not unwound
        hub_.slice_end(track_, p.name, "phase", {{"rc", std::to_string(rc)}});
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
