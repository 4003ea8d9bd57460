// Per-run services shared by every model of one simulation: the event hub,
// the seeded generator, the in-flight ledger. One run lives in one (forked)
// process, so one RunContext exists at a time.
#pragma once

#include "sim/core/events.h"
#include "sim/core/ledger.h"
#include "sim/core/rng.h"
#include "sim/core/sync.h"

#include <systemc>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace quiesce {

// Thrown in a kernel's main thread at its first operation after the power
// failed under it (an asynchronous power loss): its PM engine catches it
// and waits for the machine to come back.
struct PowerLost {};

// The software of a kernel whose machine lost power: none of its threads
// may run another operation on a CPU (models/cpu/cpu.cpp checks).
struct DeadSoftware {
    sc_core::sc_process_handle main;                  // learns it by PowerLost
    std::vector<sc_core::sc_process_handle> others;   // stop where they are
    sc_core::sc_event died;                           // the PM thread's waits include it
    bool any() const { return main.valid() || !others.empty(); }
    // Called by a thread that may be the dead kernel's main thread: it
    // learns of the power loss once, by PowerLost.
    void throw_if_main(const sc_core::sc_process_handle& me) {
        if (!(me == main)) return;
        main = sc_core::sc_process_handle();
        throw PowerLost{};
    }
};

// PCT (Burckhardt et al., ASPLOS 2010): every software context gets a
// random priority above `depth` when it first asks for a core; the
// highest-priority ready context runs (preempting at operation
// boundaries); at depth-1 random steps (operations) out of `steps` the
// running context drops to priority depth-1, depth-2, ... A bug of depth d
// shows with probability at least 1/(n * steps^(d-1)) per run. Across
// cores (Cpu::pct_hold): a context that has just taken its priority or
// lost it at a change point waits while a context of higher priority runs
// on another core, at most one time slice.
struct PctSchedule {
    bool on = false;
    unsigned depth = 3;
    uint64_t steps = 20'000;
    Rng rng{1};
    uint64_t step = 0;
    std::vector<uint64_t> change_points;  // ascending
    std::vector<std::pair<sc_core::sc_process_handle, int64_t>> priority;
    int64_t priority_of(const sc_core::sc_process_handle& p) {
        for (auto& [h, v] : priority)
            if (h == p) return v;
        priority.push_back({p, int64_t(depth) + int64_t(rng.uniform(0, 1'000'000'000))});
        return priority.back().second;
    }
    // Whether `p` has its priority yet (it asked for a core before).
    bool known(const sc_core::sc_process_handle& p) const {
        for (const auto& e : priority)
            if (e.first == p) return true;
        return false;
    }
    // One step of `p` (an operation it is about to run); true when a change
    // point lowered its priority.
    bool step_of(const sc_core::sc_process_handle& p) {
        ++step;
        bool lowered = false;
        for (size_t i = 0; i < change_points.size(); ++i)
            if (change_points[i] == step) {
                priority_of(p);
                for (auto& [h, v] : priority)
                    if (h == p) v = int64_t(depth) - 1 - int64_t(i);
                lowered = true;
            }
        return lowered;
    }
};

// Latencies within their ranges (exploration of timing): with `percent` >
// 0 each varied latency - software's CPU cost, firmware methods, DMA beats,
// interrupt entry, xHCI and USB, drive commands - takes its nominal value
// plus or minus up to that percentage (a spec's minimum delay only upward:
// vary_up), drawn from its own seeded stream. docs/exploring.md lists them.
//
// With `ties`, every timed wait of a model (a component's cycles, a CPU's
// bus access) ends with 0 to 2 extra delta cycles drawn from another seeded
// stream: the processes that become ready at the same picosecond run in a
// seeded order instead of the one SystemC's scheduler always picks.
struct TimingJitter {
    unsigned percent = 0;
    Rng rng{1};
    bool ties = false;
    Rng tie_rng{2};
    uint64_t vary(uint64_t nominal) {
        if (!percent || !nominal) return nominal;
        uint64_t span = nominal * percent / 100;
        return nominal - span + rng.uniform(0, 2 * span);
    }
    // A wait with a floor (a spec's minimum delay, udelay/mdelay): never
    // shorter than `nominal`, up to `percent` longer.
    uint64_t vary_up(uint64_t nominal) {
        if (!percent || !nominal) return nominal;
        return nominal + rng.uniform(0, nominal * percent / 100);
    }
    // Extra delta cycles after a timed wait (0 unless `ties`).
    void break_tie() {
        if (!ties) return;
        for (uint64_t k = tie_rng.uniform(0, 2); k; --k) quiesce::wait(sc_core::SC_ZERO_TIME);
    }
};

class FaultInjector;  // sim/fault/injector.h
struct FaultSpec;     // sim/fault/fault_plan.h

struct RunContext {
    // The core declares the run's context; the fault layer, above it, builds
    // its injector (both defined in sim/fault/injector.cpp).
    explicit RunContext(uint64_t seed);
    ~RunContext();
    RunContext(const RunContext&) = delete;
    RunContext& operator=(const RunContext&) = delete;
    EventHub hub;
    Rng rng;
    Ledger ledger;

private:
    std::unique_ptr<FaultInjector> injector_;

public:
    FaultInjector& faults;  // the scenario's fault plan, asked at every fault site
    DeadSoftware dead;
    // Power removed from the machine (S3, S4, S5 or a cut), counted: a bus
    // transaction in flight across one never completes and has no effect
    // (Component::complete).
    uint64_t power_downs = 0;
    PctSchedule pct;  // off unless the scenario asks ([schedule] policy = "pct")
    TimingJitter timing;  // off unless the scenario asks ([timing] jitter)
    // Every module of the run by hierarchical path (for property overrides).
    std::map<std::string, class Module*> modules;
    // The SystemC name of the module the platform is built in, and a dot
    // ("" at the top, as a run builds it): a module's path leaves it out
    // (preflight_errors builds many platforms in one process, each in a
    // module of its own).
    std::string scope;
};

}  // namespace quiesce
