// Device callbacks in a phase: each device's callback in the graph's order, or each a job on an async worker
// (dpm_async_fn); what runtime PM changes of them (direct-complete, smart-suspend, may-skip-resume); the callback
// faults a rule injects.
#include "sim/pm/engine.h"
#include "sim/core/sync.h"

#include "models/cpu/cpu.h"
#include "sim/kernel/kernel.h"
#include "sim/pm/engine_detail.h"
#include "sim/pm/runtime.h"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>

namespace quiesce {

namespace {
// An async callback worker's stack: any driver callback may run on one. The
// deepest of the regression suite and the examples uses 6.6 KiB, the deepest
// thread of all 21.7 KiB (docs/performance.md has the measure).
constexpr size_t kWorkerStack = 128 * 1024;
const EventWord kCallback("callback");  // the category of each device callback's slice
const EventWord kParticipants("participants"), kCallbackSkipped("callback-skipped"), kCallbackFailed("callback-failed");
using engine_detail::kPhaseWord;
using engine_detail::kPmWord;
}  // namespace

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
    hub_.instant(track_, kParticipants, kPhaseWord, {{"callback", p.callback}, {"devices", participants}});
    // Once per phase, not per device: its id, and its name interned for its slices.
    const PmCallback cb = pm_callback_of(p.callback);
    const EventWord cb_word(p.callback);
    // One device's callback, on `c`.
    auto one = [&, cb, cb_word](const std::string& name, Cpu& c) {
        PmDevice* d = s_.devices.at(name);
        RuntimePm::Dev* rd = s_.runtime ? s_.runtime->find(name) : nullptr;  // once per device and phase
        if (rd) {
            const std::string why = dpm_skip(name, *rd, cb, c);
            if (!why.empty()) {
                hub_.instant(d->track(), kCallbackSkipped, kPmWord,
                             {{"device", name}, {"callback", p.callback}, {"reason", why}});
                return 0;
            }
        }
        hub_.slice_begin(d->track(), cb_word, kCallback, {{"device", name}, {"phase", p.name}, {"cpu", c.path()}});
        c.compute(Cycles(500));  // dpm bookkeeping: lists, locks, tracing
        dpm_before(name, rd, cb);
        int rc = injected_callback_fault(name, p.callback, d->track());
        if (rc == 0) rc = explicit_callback(*d, p.callback, cb, c);
        rc = dpm_after(name, rd, cb, rc, c);
        if (rc != 0 && cb == PmCallback::RestoreExplicit) not_restored_.insert(name);
        hub_.slice_end(d->track(), cb_word, kCallback, {{"device", name}, {"rc", rc}});
        if (rc != 0)
            hub_.instant(track_, kCallbackFailed, kPmWord,
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
    w->thread = quiesce::spawn(
        [w] {
            for (;;) {
                while (!w->job) quiesce::wait(w->go);
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
                quiesce::wait(st->changed);
            }
            if (!st->stop) {
                c->pct_start();  // under PCT, a hold behind higher-priority contexts on other cores comes first
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
            quiesce::notify(st->changed, sc_core::SC_ZERO_TIME);
        };
        quiesce::notify(w.go);  // it runs in this evaluation phase, as a thread spawned now would
    }
    // device_pm_wait_for_dev inside a callback of this phase.
    s_.kernel->set_dpm_waiter([st](const std::string& other) {
        while (st->taking_part.count(other) && !st->done.count(other)) quiesce::wait(st->changed);
    });
    struct Unset {
        Kernel* k;
        ~Unset() { k->set_dpm_waiter(nullptr); }  // also when a power loss unwinds this frame
    } unset{s_.kernel};
    DeadSoftware& dead = s_.kernel->ctx().dead;
    while (st->done.size() < parts.size()) {
        quiesce::wait(st->changed | dead.died);
        s_.kernel->check_power();
    }
    if (succeeded) succeeded->insert(st->ok.begin(), st->ok.end());
    return st->first_error;
}

// galibert-explicit: a device that keeps no explicit state is quiesced by
// its suspend and brought back by its resume, re-initialized from what its
// driver has in memory - its state is not restored (-EOPNOTSUPP), and the
// revoke action takes away the processes' handles to it.
int PmEngine::explicit_callback(PmDevice& d, const std::string& name, PmCallback cb, Cpu& c) {
    const bool save = cb == PmCallback::SaveExplicit, restore = cb == PmCallback::RestoreExplicit;
    if ((save || restore) && !d.explicit_state()) {
        int rc = d.callback(save ? "suspend" : "resume", c);
        return restore && rc == 0 ? -95 : rc;  // -EOPNOTSUPP: nothing to restore it from
    }
    return d.callback(name, c);
}

// device_suspend / _late / _noirq and device_resume / _early / _noirq of
// drivers/base/power/main.c, as far as runtime PM changes what runs.
std::string PmEngine::dpm_skip(const std::string& name, RuntimePm::Dev& rd, PmCallback cb, Cpu& c) {
    RuntimePm& rpm = *s_.runtime;
    DpmState& st = dpm_[name];
    const char ev = pm_event_of(cb);
    if (!ev) return "";
    const PmLevel level = pm_level_of(cb);
    const bool suspending = ev == 'S' || ev == 'F' || ev == 'H';
    const unsigned flags = rpm.dpm_flags(rd);
    if (suspending && level == PmLevel::Main) {
        rpm.barrier(rd, c);  // a runtime transition in progress ends; a queued resume happens
        if (st.direct_complete && rpm.suspended(rd)) {
            rpm.disable(rd);
            if (rpm.suspended(rd)) {
                st.direct_completed = true;
                return "direct-complete";
            }
            rpm.enable(rd);
        }
        st.direct_complete = false;
        for (const auto& sup : s_.graph->superiors(name)) dpm_[sup].direct_complete = false;
        return "";
    }
    if (st.direct_completed) {
        if (ev == 'R' && level == PmLevel::Main) rpm.enable(rd);  // matches the disable at suspend
        return "direct-complete";
    }
    if (suspending && level == PmLevel::Late) {
        rpm.disable(rd);  // __pm_runtime_disable(dev, false)
        st.skip_suspend = (flags & kDpmSmartSuspend) && rpm.suspended(rd);
        return st.skip_suspend ? "smart-suspend" : "";
    }
    if (suspending && level == PmLevel::Noirq) {
        // Devices in use right before the sleep, or not allowed to, resume.
        st.noirq_done = true;
        st.must_resume = !(flags & kDpmMaySkipResume) || rpm.usage(rd) > 1 || rpm.children(rd) > 0 ||
                         st.must_resume;
        if (st.must_resume)
            for (const auto& sup : s_.graph->superiors(name)) dpm_[sup].must_resume = true;
        return st.skip_suspend ? "smart-suspend" : "";
    }
    // Resuming: dev_pm_skip_resume.
    const bool skip_resume = ev == 'E' ? false
                             : ev == 'T' ? (st.skip_suspend && rpm.suspended(rd))
                                         : st.noirq_done && !st.must_resume;
    if (level == PmLevel::Noirq) {
        if (skip_resume) rpm.set_suspended(rd);
        else if (flags & kDpmSmartSuspend) rpm.set_active(rd);
        return skip_resume ? "may-skip-resume" : "";
    }
    if (level == PmLevel::Late && skip_resume) {
        rpm.enable(rd);  // (dpm_after enables it after a callback that runs)
        return "may-skip-resume";
    }
    return "";
}

void PmEngine::dpm_before(const std::string& name, RuntimePm::Dev* rd, PmCallback cb) {
    if (!rd || cb != PmCallback::Prepare) return;
    s_.runtime->get_noresume(*rd);  // device_prepare: no runtime suspend until complete
    dpm_[name] = DpmState{};
}

// After the callback, whatever it returned (an injected fault included):
// `rc` as the PM core goes on with it.
int PmEngine::dpm_after(const std::string& name, RuntimePm::Dev* rd, PmCallback cb, int rc, Cpu& c) {
    if (!rd) return rc;
    RuntimePm& rpm = *s_.runtime;
    if (cb == PmCallback::Prepare) {
        if (rc < 0) {
            rpm.put(*rd, c, RuntimePm::kAsync);  // device_prepare's error path
            return rc;
        }
        // Only a suspend (not hibernation) may leave a device as it is.
        bool suspend_event = false;
        for (const auto& ph : protocol_.suspend) suspend_event = suspend_event || ph.callback == "suspend";
        dpm_[name].direct_complete = rc > 0 && suspend_event && !(rpm.dpm_flags(*rd) & kDpmNoDirectComplete);
        return 0;
    }
    const char ev = pm_event_of(cb);
    if ((ev == 'R' || ev == 'T' || ev == 'E') && pm_level_of(cb) == PmLevel::Late) rpm.enable(*rd);
    if (cb == PmCallback::Complete) {
        dpm_.erase(name);
        rpm.put(*rd, c, RuntimePm::kAsync);  // pm_runtime_put: the reference prepare took
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
            if (s_.kernel) s_.kernel->wait_event(never, Kernel::kNoTimeout, "a completion that never comes (callback-hang)");
            else quiesce::wait(sc_core::sc_time(1, sc_core::SC_SEC));
        }
    if (s_.faults->armed("callback-fail"))
        if (const FaultSpec* f = s_.faults->fire("callback-fail", device, track, {{"callback", callback}}))
            return int(f->err);
    return 0;
}

}  // namespace quiesce
