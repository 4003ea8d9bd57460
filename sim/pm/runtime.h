// Runtime power management (docs/runtime-pm.md), as drivers/base/power/
// runtime.c does it: per device a runtime status, a usage count and a child
// count; get/put (sync and async), idle, autosuspend with a delay counted
// from the last busy mark, parents resumed before their children and
// suspended after them (unless they ignore their children), suppliers of
// DL_FLAG_PM_RUNTIME device links held active while a consumer is, and
// pm_runtime_force_suspend / force_resume. Callbacks run as timed code
// (PmDevice::callback "runtime_suspend", "runtime_resume", "runtime_idle")
// on the caller's CPU, or on the device's pm_wq worker for async requests.
// The workqueue is freezable: it stops while the freezer holds kernel threads
// and while the CPUs are halted.
#pragma once

#include "sim/core/interned.h"
#include "sim/core/time.h"
#include "sim/pm/device.h"

#include <systemc>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace quiesce {

class Cpu;
class Kernel;
class EventHub;

// DPM_FLAG_* a driver sets (dev_pm_set_driver_flags).
enum DpmFlags : unsigned {
    kDpmNoDirectComplete = 1,
    kDpmSmartSuspend = 2,
    kDpmMaySkipResume = 4,
};

class RuntimePm {
public:
    // rpmflags of runtime.c.
    enum Flags : int { kAsync = 1, kGetPut = 4, kAuto = 8 };
    enum class Status { Active, Resuming, Suspended, Suspending };

    // What /sys/devices/.../power/ and the driver set up.
    struct Settings {
        bool allow = false;            // power/control = "auto" (pm_runtime_allow); "on" holds a usage count
        bool use_autosuspend = false;  // pm_runtime_use_autosuspend
        Picos autosuspend_delay = 0;   // power/autosuspend_delay_ms
        bool ignore_children = false;  // pm_suspend_ignore_children
        unsigned dpm_flags = 0;        // DpmFlags
    };

    // A device's entry: what a caller that asks about one device again and
    // again (the PM core around each callback, a driver's runner, the PCI
    // bus type) finds once and holds instead of its name. Entries are never
    // removed. Each helper and query below takes one, or a name it finds.
    struct Dev;

    RuntimePm(Kernel& kernel, EventHub& hub);
    ~RuntimePm();

    // Probe time: the device starts active and enabled, its parent's child
    // count counts it; `parent` is "" for a root.
    void add(const std::string& name, PmDevice* dev, const std::string& parent, const Settings& s);
    // device_link_add(consumer, supplier, DL_FLAG_PM_RUNTIME).
    void add_link(const std::string& supplier, const std::string& consumer);
    // After every probe: pm_runtime_allow for the devices whose control is auto.
    void start(Cpu& cpu);
    bool has(const std::string& name) const { return devs_.count(name) > 0; }
    // The device's entry, nullptr if runtime PM does not know it.
    Dev* find(const std::string& name) const;

    // The helpers of include/linux/pm_runtime.h. Results as in Linux: 1 =
    // already in the state, 0, -EINPROGRESS (async, queued or running),
    // -EAGAIN/-EBUSY/-EACCES/-EINVAL/-EPERM or the callback's errno.
    int resume(Dev& d, Cpu& cpu, int flags) { return rpm_resume(d, cpu, flags); }
    int suspend(Dev& d, Cpu& cpu, int flags) { return rpm_suspend(d, cpu, flags); }
    int idle(Dev& d, Cpu& cpu, int flags) { return rpm_idle(d, cpu, flags); }
    int get(Dev& d, Cpu& cpu, int flags);  // usage++, then resume(flags)
    int put(Dev& d, Cpu& cpu, int flags);  // usage--, at 0 idle (or autosuspend with kAuto)
    void get_noresume(Dev& d);
    void put_noidle(Dev& d);
    void mark_last_busy(Dev& d);
    void enable(Dev& d);
    void disable(Dev& d);  // __pm_runtime_disable(dev, true)
    // pm_runtime_barrier: waits for a transition in progress; a pending
    // resume request is carried out.
    void barrier(Dev& d, Cpu& cpu);
    int force_suspend(Dev& d, Cpu& cpu);
    int force_resume(Dev& d, Cpu& cpu);
    // pm_runtime_set_active / pm_runtime_set_suspended (runtime PM disabled).
    int set_active(Dev& d);
    void set_suspended(Dev& d);

    Status status(const Dev& d) const;
    bool suspended(const Dev& d) const { return status(d) == Status::Suspended; }
    bool enabled(const Dev& d) const;
    // pm_runtime_active(): active, or runtime PM disabled (system sleep owns it).
    bool active(const Dev& d) const;
    int usage(const Dev& d) const;
    int children(const Dev& d) const;  // active children it counts
    unsigned dpm_flags(const Dev& d) const;

    // The same by name: the device must be known, except to the queries
    // (suspended, enabled: false; active: true; dpm_flags: 0).
    int resume(const std::string& name, Cpu& cpu, int flags) { return resume(dev(name), cpu, flags); }
    int suspend(const std::string& name, Cpu& cpu, int flags) { return suspend(dev(name), cpu, flags); }
    int idle(const std::string& name, Cpu& cpu, int flags) { return idle(dev(name), cpu, flags); }
    int get(const std::string& name, Cpu& cpu, int flags) { return get(dev(name), cpu, flags); }
    int put(const std::string& name, Cpu& cpu, int flags) { return put(dev(name), cpu, flags); }
    void get_noresume(const std::string& name) { get_noresume(dev(name)); }
    void put_noidle(const std::string& name) { put_noidle(dev(name)); }
    void mark_last_busy(const std::string& name) { mark_last_busy(dev(name)); }
    void enable(const std::string& name) { enable(dev(name)); }
    void disable(const std::string& name) { disable(dev(name)); }
    void barrier(const std::string& name, Cpu& cpu) { barrier(dev(name), cpu); }
    int force_suspend(const std::string& name, Cpu& cpu) { return force_suspend(dev(name), cpu); }
    int force_resume(const std::string& name, Cpu& cpu) { return force_resume(dev(name), cpu); }
    int set_active(const std::string& name) { return set_active(dev(name)); }
    void set_suspended(const std::string& name) { set_suspended(dev(name)); }
    Status status(const std::string& name) const { return status(dev(name)); }
    bool suspended(const std::string& name) const {
        const Dev* d = find(name);
        return d && suspended(*d);
    }
    bool enabled(const std::string& name) const {
        const Dev* d = find(name);
        return d && enabled(*d);
    }
    bool active(const std::string& name) const {
        const Dev* d = find(name);
        return !d || active(*d);
    }
    int usage(const std::string& name) const { return usage(dev(name)); }
    int children(const std::string& name) const { return children(dev(name)); }
    unsigned dpm_flags(const std::string& name) const {
        const Dev* d = find(name);
        return d ? dpm_flags(*d) : 0;
    }

    // pm_wq is freezable: freeze_workqueues_begin / thaw_workqueues.
    void freeze_workqueue(bool frozen);

    // Usage counts that do not balance when the run ends: each device's
    // count against what its control setting holds ("on": 1, "auto": 0).
    std::vector<std::string> unbalanced() const;

private:
    Dev& dev(const std::string& name);
    const Dev& dev(const std::string& name) const;
    int rpm_resume(Dev& d, Cpu& cpu, int flags);
    int rpm_suspend(Dev& d, Cpu& cpu, int flags);
    int rpm_idle(Dev& d, Cpu& cpu, int flags);
    static const EventWord kRuntimeSuspend, kRuntimeResume;  // the callbacks, interned for their slices
    int callback(Dev& d, const EventWord& cb, Cpu& cpu);
    void set_status(Dev& d, Status s);
    void wait_settled(Dev& d);
    void queue(Dev& d, int request, Cpu& cpu);
    void cancel_pending(Dev& d);
    void worker(Dev& d);
    int check_suspend_allowed(const Dev& d) const;
    void usage_underflow(Dev& d);

    Kernel& kernel_;
    EventHub& hub_;
    std::map<std::string, std::unique_ptr<Dev>> devs_;
    bool wq_frozen_ = false;
    sc_core::sc_event wq_thawed_;
};

const char* to_string(RuntimePm::Status s);

}  // namespace quiesce
