// Runtime PM as drivers/base/power/runtime.c: usage and child counts, autosuspend, links, the pm_wq.
#include "sim/pm/runtime.h"
#include "sim/core/sync.h"

#include "models/cpu/cpu.h"
#include "sim/core/events.h"
#include "sim/core/errors.h"
#include "sim/kernel/kernel.h"

#include <fmt/format.h>

namespace quiesce {

namespace {
constexpr int kEINVAL = -22, kEAGAIN = -11, kEBUSY = -16, kEACCES = -13, kEINPROGRESS = -115;
enum Request { kReqNone, kReqIdle, kReqSuspend, kReqAutosuspend, kReqResume };
// The worker runs driver callbacks as the PM core's async workers do (sim/pm/engine.cpp).
constexpr size_t kWorkerStack = 128 * 1024;
constexpr Picos kHaltedPoll = 1'000'000'000ULL;  // a halted machine's pm_wq looks again after 1 ms
// The words of its events, interned once.
const EventWord kRpm("rpm"), kRpmStatus("rpm-status"), kRpmError("rpm-error");
}  // namespace
const EventWord RuntimePm::kRuntimeSuspend("runtime_suspend"), RuntimePm::kRuntimeResume("runtime_resume");

const char* to_string(RuntimePm::Status s) {
    switch (s) {
        case RuntimePm::Status::Active: return "active";
        case RuntimePm::Status::Resuming: return "resuming";
        case RuntimePm::Status::Suspended: return "suspended";
        case RuntimePm::Status::Suspending: return "suspending";
    }
    return "?";
}

struct RuntimePm::Dev {
    std::string name, track;
    PmDevice* pm = nullptr;
    Dev* parent = nullptr;
    std::vector<Dev*> suppliers;  // DL_FLAG_PM_RUNTIME links of this consumer
    bool suppliers_held = false;  // rpm_get_suppliers done (link->rpm_active)
    unsigned held_by_consumers = 0;
    Settings s;
    Status status = Status::Active;
    int usage = 0;
    int child_count = 0;
    int disable_depth = 0;
    int runtime_error = 0;
    Picos last_busy = 0;
    int request = kReqNone;
    bool request_pending = false;
    bool deferred_resume = false;
    bool needs_force_resume = false;
    Picos timer_expires = 0;  // 0: the autosuspend timer is not armed
    sc_core::sc_event changed, wake, timer;
    Cpu* wq_cpu = nullptr;
    bool worker = false;
};

RuntimePm::RuntimePm(Kernel& kernel, EventHub& hub) : kernel_(kernel), hub_(hub) {}
RuntimePm::~RuntimePm() = default;

RuntimePm::Dev& RuntimePm::dev(const std::string& name) {
    auto it = devs_.find(name);
    SIM_ASSERT(it != devs_.end(), "runtime PM knows no device {}", name);
    return *it->second;
}

const RuntimePm::Dev& RuntimePm::dev(const std::string& name) const {
    auto it = devs_.find(name);
    SIM_ASSERT(it != devs_.end(), "runtime PM knows no device {}", name);
    return *it->second;
}

RuntimePm::Dev* RuntimePm::find(const std::string& name) const {
    auto it = devs_.find(name);
    return it == devs_.end() ? nullptr : it->second.get();
}

void RuntimePm::add(const std::string& name, PmDevice* pm, const std::string& parent, const Settings& s) {
    auto d = std::make_unique<Dev>();
    d->name = name;
    d->track = pm ? pm->track() : name;
    d->pm = pm;
    d->s = s;
    d->usage = 1;  // pm_runtime_forbid until start() allows it (power/control = "on")
    if (!parent.empty() && devs_.count(parent)) {
        d->parent = devs_.at(parent).get();
        d->parent->child_count++;  // pm_runtime_set_active under an active parent
    }
    devs_[name] = std::move(d);
}

void RuntimePm::add_link(const std::string& supplier, const std::string& consumer) {
    if (!has(supplier) || !has(consumer)) return;
    Dev& c = dev(consumer);
    Dev& sup = dev(supplier);
    c.suppliers.push_back(&sup);
    // DL_FLAG_RPM_ACTIVE: the consumer is active, so the link holds the supplier.
    sup.usage++;
    sup.held_by_consumers++;
    c.suppliers_held = true;
}

void RuntimePm::start(Cpu& cpu) {
    for (auto& [name, d] : devs_)
        if (d->s.allow) {
            d->wq_cpu = &cpu;
            d->last_busy = now_ps();
            put(*d, cpu, kAsync);  // pm_runtime_allow: drop the count "on" held, idle
        }
}

RuntimePm::Status RuntimePm::status(const Dev& d) const { return d.status; }
bool RuntimePm::enabled(const Dev& d) const { return d.disable_depth == 0; }
bool RuntimePm::active(const Dev& d) const { return d.status == Status::Active || d.disable_depth > 0; }
int RuntimePm::usage(const Dev& d) const { return d.usage; }
int RuntimePm::children(const Dev& d) const { return d.child_count; }
unsigned RuntimePm::dpm_flags(const Dev& d) const { return d.s.dpm_flags; }

void RuntimePm::set_status(Dev& d, Status s) {
    if (d.status == s) return;
    d.status = s;
    if (s == Status::Active || s == Status::Suspended)
        hub_.instant(d.track, kRpmStatus, kRpm,
                     {{"device", d.name}, {"status", to_string(s)}, {"usage", std::to_string(d.usage)}});
    quiesce::notify(d.changed, sc_core::SC_ZERO_TIME);
}

void RuntimePm::wait_settled(Dev& d) {
    while (d.status == Status::Resuming || d.status == Status::Suspending)
        kernel_.wait_event(d.changed, Kernel::kNoTimeout, "the runtime PM transition of " + d.name);
}

int RuntimePm::callback(Dev& d, const EventWord& cb, Cpu& cpu) {
    if (!d.pm) return 0;
    hub_.slice_begin(d.track, cb, kRpm, {{"device", d.name}});
    cpu.compute(Cycles(300));  // rpm bookkeeping: the lock, tracing
    const int rc = d.pm->callback(std::string(cb.text()), cpu);
    hub_.slice_end(d.track, cb, kRpm, {{"device", d.name}, {"rc", std::to_string(rc)}});
    return rc;
}

void RuntimePm::cancel_pending(Dev& d) {
    d.request = kReqNone;
    d.request_pending = false;
    d.timer_expires = 0;
    quiesce::cancel(d.timer);
}

// The device's work item on pm_wq: one request at a time, and the autosuspend timer's expiry.
void RuntimePm::queue(Dev& d, int request, Cpu& cpu) {
    d.request = request;
    d.request_pending = request != kReqNone;
    d.wq_cpu = &cpu;
    if (!d.worker) {
        d.worker = true;
        Dev* dp = &d;
        sc_core::sc_spawn_options opts;
        opts.set_stack_size(kWorkerStack);
        sc_core::sc_process_handle h =
            quiesce::spawn([this, dp] { worker(*dp); }, ("pm_wq_" + d.name).c_str(), &opts);
        kernel_.adopt_context(h);
    }
    quiesce::notify(d.wake, sc_core::SC_ZERO_TIME);
}

void RuntimePm::worker(Dev& d) {
    for (;;) {
        const bool due = d.timer_expires && d.timer_expires <= now_ps();
        if (!d.request_pending && !due) {
            quiesce::wait(d.wake | d.timer);
            continue;
        }
        while (wq_frozen_ || kernel_.halted()) {
            if (kernel_.halted()) quiesce::wait(from_ps(kHaltedPoll), wq_thawed_);
            else quiesce::wait(wq_thawed_);
        }
        Cpu* cpu = d.wq_cpu && d.wq_cpu->online() ? d.wq_cpu : &kernel_.boot_cpu();
        if (d.timer_expires && d.timer_expires <= now_ps() && !d.request_pending) {
            // pm_suspend_timer_fn: the autosuspend delay ran out.
            d.timer_expires = 0;
            rpm_suspend(d, *cpu, kAsync | kAuto);
            continue;
        }
        if (!d.request_pending) continue;
        const int req = d.request;
        d.request = kReqNone;
        d.request_pending = false;
        switch (req) {  // pm_runtime_work
            case kReqIdle: rpm_idle(d, *cpu, 0); break;
            case kReqSuspend: rpm_suspend(d, *cpu, 0); break;
            case kReqAutosuspend: rpm_suspend(d, *cpu, kAuto); break;
            case kReqResume: rpm_resume(d, *cpu, 0); break;
            default: break;
        }
    }
}

void RuntimePm::freeze_workqueue(bool frozen) {
    wq_frozen_ = frozen;
    if (!frozen) quiesce::notify(wq_thawed_, sc_core::SC_ZERO_TIME);
}

int RuntimePm::check_suspend_allowed(const Dev& d) const {
    if (d.runtime_error) return kEINVAL;
    if (d.disable_depth > 0) return kEACCES;
    if (d.usage > 0) return kEAGAIN;
    if (!d.s.ignore_children && d.child_count > 0) return kEBUSY;
    if (d.status == Status::Suspended) return 1;
    return 0;
}

int RuntimePm::rpm_idle(Dev& d, Cpu& cpu, int flags) {
    int rc = check_suspend_allowed(d);
    if (rc == 0 && d.status != Status::Active) rc = kEAGAIN;
    if (rc == 0 && d.request_pending && d.request > kReqIdle) rc = kEAGAIN;  // a suspend or resume is queued
    if (rc != 0) return rc;
    if (flags & kAsync) {
        queue(d, kReqIdle, cpu);
        return 0;
    }
    // The bus's runtime_idle (the driver's, if it has one) says whether to go on.
    rc = d.pm ? d.pm->callback("runtime_idle", cpu) : 0;
    return rc ? rc : rpm_suspend(d, cpu, flags | kAuto);
}

int RuntimePm::rpm_suspend(Dev& d, Cpu& cpu, int flags) {
    for (;;) {
        int rc = check_suspend_allowed(d);
        if (rc == 0 && d.status == Status::Resuming && !(flags & kAsync)) rc = kEAGAIN;
        if (rc != 0) return rc;
        if ((flags & kAuto) && d.s.use_autosuspend) {
            const Picos expires = d.last_busy + d.s.autosuspend_delay;
            if (expires > now_ps()) {
                // Too early: the timer does it when the delay has passed.
                if (!d.timer_expires || d.timer_expires > expires) {
                    d.timer_expires = expires;
                    quiesce::cancel(d.timer);
                    quiesce::notify(d.timer, from_ps(expires - now_ps()));
                    if (!d.worker) queue(d, kReqNone, cpu);  // the worker waits for the timer
                }
                return 0;
            }
        }
        cancel_pending(d);
        if (d.status == Status::Suspending) {
            if (flags & kAsync) return kEINPROGRESS;
            wait_settled(d);
            continue;
        }
        if (flags & kAsync) {
            queue(d, (flags & kAuto) ? kReqAutosuspend : kReqSuspend, cpu);
            return 0;
        }
        set_status(d, Status::Suspending);
        rc = callback(d, kRuntimeSuspend, cpu);
        if (rc != 0) {
            set_status(d, Status::Active);
            if (rc == kEAGAIN || rc == kEBUSY) {
                d.runtime_error = 0;
                if ((flags & kAuto) && d.s.use_autosuspend && d.last_busy + d.s.autosuspend_delay > now_ps())
                    continue;  // busy again: the timer tries later
            } else {
                d.runtime_error = rc;
                hub_.instant(d.track, kRpmError, kRpm,
                             {{"device", d.name}, {"callback", "runtime_suspend"}, {"rc", std::to_string(rc)}});
            }
            if (d.deferred_resume) {
                d.deferred_resume = false;
                rpm_resume(d, cpu, 0);
            }
            return rc;
        }
        set_status(d, Status::Suspended);
        if (d.suppliers_held) {  // rpm_put_suppliers
            d.suppliers_held = false;
            for (Dev* s : d.suppliers) {
                s->held_by_consumers--;
                put(*s, cpu, kAsync);
            }
        }
        if (d.parent && d.parent->child_count > 0) d.parent->child_count--;
        if (d.deferred_resume) {
            d.deferred_resume = false;
            rpm_resume(d, cpu, 0);
            return kEAGAIN;
        }
        if (d.parent && !d.parent->s.ignore_children) rpm_idle(*d.parent, cpu, kAsync);
        return 0;
    }
}

int RuntimePm::rpm_resume(Dev& d, Cpu& cpu, int flags) {
    bool parent_held = false;
    int rc = 0;
    for (;;) {
        if (d.runtime_error) {
            rc = kEINVAL;
            break;
        }
        if (d.disable_depth > 0) {
            rc = d.status == Status::Active ? 1 : kEACCES;
            break;
        }
        // Other requests are cancelled; an autosuspend timer runs on.
        d.request = kReqNone;
        d.request_pending = false;
        if (d.status == Status::Active) {
            rc = 1;
            break;
        }
        if (d.status == Status::Resuming || d.status == Status::Suspending) {
            if (flags & kAsync) {
                if (d.status == Status::Suspending) d.deferred_resume = true;
                rc = kEINPROGRESS;
                break;
            }
            wait_settled(d);
            continue;
        }
        if (flags & kAsync) {
            queue(d, kReqResume, cpu);
            rc = 0;
            break;
        }
        if (d.parent && !parent_held) {
            // The parent first, unless it ignores its children.
            parent_held = true;
            d.parent->usage++;
            if (d.parent->disable_depth == 0 && !d.parent->s.ignore_children) {
                rpm_resume(*d.parent, cpu, 0);
                if (d.parent->status != Status::Active) {
                    rc = kEBUSY;
                    break;
                }
            }
            continue;  // the device may have changed meanwhile
        }
        set_status(d, Status::Resuming);
        if (!d.suppliers_held && !d.suppliers.empty()) {  // rpm_get_suppliers
            d.suppliers_held = true;
            for (Dev* s : d.suppliers) {
                s->held_by_consumers++;
                get(*s, cpu, 0);
            }
        }
        rc = callback(d, kRuntimeResume, cpu);
        if (rc != 0) {
            set_status(d, Status::Suspended);
            d.runtime_error = rc;
            hub_.instant(d.track, kRpmError, kRpm,
                         {{"device", d.name}, {"callback", "runtime_resume"}, {"rc", std::to_string(rc)}});
            if (d.suppliers_held) {
                d.suppliers_held = false;
                for (Dev* s : d.suppliers) {
                    s->held_by_consumers--;
                    put(*s, cpu, kAsync);
                }
            }
            cancel_pending(d);
            break;
        }
        set_status(d, Status::Active);
        if (d.parent) d.parent->child_count++;
        rpm_idle(d, cpu, kAsync);
        break;
    }
    if (parent_held) {  // pm_runtime_put(parent)
        if (--d.parent->usage == 0) rpm_idle(*d.parent, cpu, kAsync);
    }
    return rc;
}

void RuntimePm::usage_underflow(Dev& d) {
    hub_.guest_error(d.track, "rpm.usage-unbalanced",
                     fmt::format("a put on {} with its usage count already 0 (Runtime PM usage count underflow!)",
                                 d.name),
                     {{"device", d.name}, {"kind", "underflow"}});
}

int RuntimePm::get(Dev& d, Cpu& cpu, int flags) {
    d.usage++;
    return rpm_resume(d, cpu, flags);
}

int RuntimePm::put(Dev& d, Cpu& cpu, int flags) {
    if (d.usage <= 0) {
        usage_underflow(d);
        return kEINVAL;
    }
    if (--d.usage > 0) return 0;
    return (flags & kAuto) ? rpm_suspend(d, cpu, flags) : rpm_idle(d, cpu, flags);
}

void RuntimePm::get_noresume(Dev& d) { d.usage++; }

void RuntimePm::put_noidle(Dev& d) {
    if (d.usage <= 0) usage_underflow(d);
    else d.usage--;
}

void RuntimePm::mark_last_busy(Dev& d) { d.last_busy = now_ps(); }

void RuntimePm::enable(Dev& d) {
    if (d.disable_depth > 0) d.disable_depth--;
}

void RuntimePm::disable(Dev& d) {
    if (d.disable_depth++ > 0) return;
    cancel_pending(d);  // __pm_runtime_barrier
    wait_settled(d);
}

void RuntimePm::barrier(Dev& d, Cpu& cpu) {
    d.usage++;
    if (d.request_pending && d.request == kReqResume) rpm_resume(d, cpu, 0);
    cancel_pending(d);
    wait_settled(d);
    d.usage--;
}

int RuntimePm::set_active(Dev& d) {
    if (d.disable_depth == 0) return kEAGAIN;
    if (d.status == Status::Active) return 0;
    if (d.parent && d.parent->status != Status::Active && !d.parent->s.ignore_children) return kEBUSY;
    if (d.parent) d.parent->child_count++;
    d.runtime_error = 0;
    set_status(d, Status::Active);
    return 0;
}

void RuntimePm::set_suspended(Dev& d) {
    d.runtime_error = 0;
    if (d.status == Status::Suspended) return;
    if (d.parent && d.parent->child_count > 0) d.parent->child_count--;
    set_status(d, Status::Suspended);
}

// pm_runtime_force_suspend: runtime PM off, and the runtime suspend callback
// unless the device is runtime-suspended already.
int RuntimePm::force_suspend(Dev& d, Cpu& cpu) {
    disable(d);
    if (d.status == Status::Suspended) return 0;
    const int rc = callback(d, kRuntimeSuspend, cpu);
    if (rc != 0) {
        enable(d);
        return rc;
    }
    // pm_runtime_need_not_resume: nobody else uses it, no child needs it.
    if (d.usage <= 1 && (d.s.ignore_children || d.child_count == 0)) {
        set_suspended(d);
    } else {
        d.status = Status::Suspended;
        d.needs_force_resume = true;
        hub_.instant(d.track, kRpmStatus, kRpm,
                     {{"device", d.name}, {"status", "suspended"}, {"usage", std::to_string(d.usage)}});
    }
    return 0;
}

int RuntimePm::force_resume(Dev& d, Cpu& cpu) {
    int rc = 0;
    if (d.status == Status::Suspended && d.needs_force_resume) {
        d.status = Status::Active;  // the parent's child count never dropped
        rc = callback(d, kRuntimeResume, cpu);
        if (rc != 0) {
            d.status = Status::Active;
            set_suspended(d);
        } else {
            hub_.instant(d.track, kRpmStatus, kRpm,
                         {{"device", d.name}, {"status", "active"}, {"usage", std::to_string(d.usage)}});
            d.last_busy = now_ps();
        }
    }
    d.needs_force_resume = false;
    enable(d);
    return rc;
}

std::vector<std::string> RuntimePm::unbalanced() const {
    std::vector<std::string> out;
    for (const auto& [name, d] : devs_) {
        const int expect = (d->s.allow ? 0 : 1) + int(d->held_by_consumers);
        if (d->usage != expect)
            out.push_back(fmt::format("{}'s runtime PM usage count is {} when the run ends, {} expected ({})", name,
                                      d->usage, expect,
                                      d->usage > expect ? "a get without its put: it can never runtime-suspend"
                                                        : "a put without its get"));
    }
    return out;
}

}  // namespace quiesce
