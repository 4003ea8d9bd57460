// Per-run services shared by every model of one simulation: the event hub,
// the seeded generator, the in-flight ledger. One run lives in one (forked)
// process, so one RunContext exists at a time.
#pragma once

#include "sim/core/events.h"
#include "sim/core/ledger.h"
#include "sim/core/rng.h"
#include "sim/fault/injector.h"

#include <map>
#include <string>

namespace quiesce {

struct RunContext {
    explicit RunContext(uint64_t seed) : rng(seed), ledger(&hub), faults(hub) {}
    EventHub hub;
    Rng rng;
    Ledger ledger;
    FaultInjector faults;  // the scenario's fault plan, asked at every fault site
    // Every module of the run by hierarchical path (for property overrides).
    std::map<std::string, class Module*> modules;
};

}  // namespace quiesce
