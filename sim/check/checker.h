// The checker (DESIGN.md §5): observes the run through the event hub and the
// models' true state, and turns what it sees into violations with a stable id,
// time, component, phase, message and evidence. Invariants in this build:
//   order.dependency      a callback ran before a device it must wait for
//   io.suspended-device   MMIO/config/DMA reached a device (or a bridge on the
//                         way) that was not in D0
//   hwstate.not-restored  a hardware-state register differs after resume from
//                         its value before the transition
#pragma once

#include "sim/check/checker_detail.h"
#include "sim/core/events.h"
#include "sim/core/ledger.h"
#include "sim/core/registers.h"
#include "sim/pm/device_graph.h"

#include <systemc>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace quiesce {

struct Violation {
    std::string id;
    Picos ts = 0;
    std::string component;
    std::string phase;
    std::string message;
    std::string evidence;  // JSON object
};

class Checker {
public:
    Checker(EventHub& hub, const DeviceGraph& graph);

    // liveness.hang: a device callback may take at most `budget` (Linux's DPM
    // watchdog); `waits` tells what the PM thread is waiting for.
    void set_callback_budget(Picos budget, std::function<std::string()> waits) {
        budget_ = budget;
        waits_ = std::move(waits);
    }
    // freeze.escaped, second form: when device suspend begins (the first
    // callback phase after the freezer), every freezable task of the kinds
    // the freezer phases froze must be frozen. `unfrozen(user, kthreads)`
    // names those that are not, from the kernel's true task state.
    using UnfrozenProbe = std::function<std::vector<std::string>(bool user, bool kthreads)>;
    void set_freezer_probe(std::string kernel, UnfrozenProbe unfrozen) {
        kernel_track_ = std::move(kernel);
        unfrozen_ = std::move(unfrozen);
    }
    // At the end of the run: callbacks still running never finished.
    void run_ended();
    // The run's time budget ended with the machine awake and the run not
    // finished: every callback still running and every thread still blocked
    // (`blocked`: who, what it waits for) is a liveness.hang at `kernel`.
    void run_cut_short(const std::string& kernel, const std::vector<std::pair<std::string, std::string>>& blocked);

    // Registers a bank whose hardware-state registers must survive a transition.
    void watch_bank(const std::string& component, const RegisterBank& bank);
    // A driver-state register and the memory it mirrors: after resume the
    // device must use what memory says (drvstate.stale otherwise). `values`
    // returns (what the device uses, what memory holds), zero-time.
    using MirrorValues = std::function<std::pair<uint64_t, uint64_t>()>;
    void watch_mirror(const std::string& component, const std::string& reg, MirrorValues values);
    // A fresh boot: the banks and mirrors are registered again with the new
    // kernel's drivers.
    void unwatch_all() {
        banks_.clear();
        mirrors_.clear();
    }
    // The initiator decided to suspend: a wake event from now on, before
    // the platform sleeps, is wake.lost unless something aborts the sleep.
    void suspend_decided();
    void suspend_cancelled();    // it did not suspend after all
    // Suspend-to-idle's wake.lost: the devices allowed to wake the system
    // (device_may_wakeup: wake = true in the platform). A key pressed on
    // one while the machine idles must start a wake (its remote wakeup)
    // and end the idle loop.
    void set_wake_sources(std::set<std::string> names) { wake_sources_ = std::move(names); }
    void transition_started();   // snapshot hardware state
    void transition_resumed();   // compare hardware state

    // dma.use-after-free: `initiator`, a device, wrote [addr, addr + len)
    // and page frame `pfn` in it is free in the kernel's page allocator - its
    // driver freed the buffer while the device could still write it. The
    // first such write of each device is reported.
    void dma_into_free_page(const std::string& initiator, uint64_t addr, uint64_t len, uint64_t pfn);

    // power.busy-device: a device's power lowered (a PCI function leaving D0,
    // or the platform's S3/S4/S5 removing it) while the in-flight ledger
    // still holds one of its operations (a DMA descriptor, a command).
    void watch_in_flight(const Ledger* ledger) { ledger_ = ledger; }

    const std::vector<Violation>& violations() const { return violations_; }
    // Records a violation found by a check outside this class.
    void report(Violation v);
    // offline-fs-write: another OS changed file `ino` (`what`: written,
    // deleted) on the disk at `ts`, while the machine was off. A handle to
    // it opened before then and used after, not revoked, is stale
    // (revoke.stale-handle).
    void file_changed_offline(uint64_t ino, Picos ts, const std::string& what) { offline_changes_[ino] = {ts, what}; }
    static const std::vector<std::string>& catalogue();

private:
    void on_event(const Event& ev);
    check_detail::WordsById words_;
    void on_callback_begin(const Event& ev);
    void on_runtime_pm(const Event& ev, const check_detail::EventWords& ew);
    // hwstate.not-restored and drvstate.stale: every watched device, or
    // `only` against its state at runtime_suspend; `when` ends the message.
    void compare_state(const std::string* only, const char* when, bool runtime);
    void snapshot_before(const std::string& only);
    std::set<std::string> rpm_suspended_;                 // runtime-suspended (or suspending) devices
    bool resume_pending_ = false;                         // transition_started, transition_resumed not yet
    std::set<std::string> completed_;                     // complete ran in this transition
    std::set<std::string> checked_early_;                 // judged "after resume" before transition_resumed
    std::map<size_t, RegisterBank::Snapshot> rpm_before_;  // bank index -> its state at runtime_suspend

    EventHub& hub_;
    const DeviceGraph& graph_;
    struct Watched {
        std::string component;
        const RegisterBank* bank;
        RegisterBank::Snapshot before;
    };
    std::vector<Watched> banks_;
    // galibert-explicit: devices whose handles were revoked (declared not
    // restored), and handles already reported stale.
    std::set<std::string> revoked_devices_;
    std::set<std::string> stopped_devices_;  // devices whose suspend-side callback started
    bool slept_ = false;                     // the platform lost power during the transition
    std::set<std::string> stale_handles_;
    std::map<uint64_t, std::pair<Picos, std::string>> offline_changes_;  // ino -> (when, what)
    void on_handle_use(const Event& ev);
    void on_file_handle_use(const Event& ev);
    // Current callback phase: which devices take part, which finished.
    std::string phase_callback_;
    std::set<std::string> participants_;
    std::set<std::string> finished_;
    std::set<std::string> reported_;  // dedup key for io.* per phase
    Picos budget_ = 0;
    std::function<std::string()> waits_;
    struct Running {
        std::string device, callback, phase;
        Picos since;
        bool reported = false;
    };
    std::map<std::string, Running> running_;  // track -> callback in progress
    sc_core::sc_event budget_ev_;
    // `run_ended`: still running when the run's time ran out, under its budget.
    void hang(const Running& r, Picos elapsed, bool run_ended = false);
    std::vector<Violation> violations_;
    std::set<std::string> dma_uaf_reported_;  // devices reported for dma.use-after-free
    const Ledger* ledger_ = nullptr;
    std::set<std::string> busy_reported_;  // devices reported for power.busy-device
    void power_lowered(const Event& ev, const std::string& device, const std::string& how);
    struct Mirror {
        std::string component, reg;
        MirrorValues values;
    };
    std::vector<Mirror> mirrors_;
    bool in_transition_ = false;
    std::string kernel_track_;
    UnfrozenProbe unfrozen_;
    void check_frozen(Picos ts, const std::string& phase);
    bool froze_user_ = false, froze_kthreads_ = false, freezer_checked_ = false;
    Picos decided_at_ = 0, started_at_ = 0;
    bool decided_ = false;
    struct WakeEvent {
        std::string name;
        Picos ts;
        std::string phase;
    };
    std::vector<WakeEvent> wake_events_;
    // The last device wake signal (a USB remote wakeup, a PME), for naming
    // who was not heard when its GPE was not armed.
    std::string wake_signal_;
    Picos wake_signal_ts_ = 0;
    void on_acpi(const Event& ev);
    // Suspend-to-idle: from the first s2idle-enter until a confirmed wakeup.
    bool on_s2idle(const Event& ev, const check_detail::EventWords& ew);
    void s2idle_lost(Picos ts, const std::string& ended);
    std::set<std::string> wake_sources_;
    bool in_s2idle_ = false;
    struct Press {
        std::string device;
        Picos ts;
        bool signalled = false;
    };
    std::vector<Press> s2idle_presses_;
    std::vector<std::string> firmware_calls_;  // ACPI methods since the transition began
    std::string slept_state_;                  // the S-state of the last SLP_EN, until _TTS(0)
    void check_rollback(const Event& transition_end);
    std::vector<std::tuple<std::string, std::string, std::string>> callbacks_;  // device, callback, rc
    std::set<std::string> cpus_down_;  // CPUs the transition took offline and has not brought back
};

}  // namespace quiesce
