// Per-run services shared by every model of one simulation: the event hub,
// the seeded generator, the in-flight ledger. One run lives in one (forked)
// process, so one RunContext exists at a time.
#pragma once

#include "sim/core/events.h"
#include "sim/core/ledger.h"
#include "sim/core/rng.h"
#include "sim/fault/injector.h"

#include <systemc>

#include <map>
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
};

struct RunContext {
    explicit RunContext(uint64_t seed) : rng(seed), ledger(&hub), faults(hub) {}
    EventHub hub;
    Rng rng;
    Ledger ledger;
    FaultInjector faults;  // the scenario's fault plan, asked at every fault site
    DeadSoftware dead;
    // Every module of the run by hierarchical path (for property overrides).
    std::map<std::string, class Module*> modules;
};

}  // namespace quiesce
