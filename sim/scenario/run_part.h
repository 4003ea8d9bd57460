// The parts a run is assembled from. Each subsystem a scenario section turns
// on - the storage workload and its oracle, hibernation and the image
// oracle, the DMA workload, the tasks that use a device, the wake inputs,
// the syscore ops - is a RunPart: it attaches itself when the run is built
// and is called at the fixed points of the machine's life below, in the
// order of the parts list (run_parts.cpp). simulate() and the machine
// (run_machine.cpp) know only these points; adding a part adds a line to the
// list, not to them.
#pragma once

#include "sim/check/checker.h"
#include "sim/pm/engine.h"
#include "sim/scenario/platform.h"
#include "sim/scenario/scenario.h"
#include "sim/trace/wire.h"

#include <memory>
#include <vector>

namespace quiesce {

class RunPart;

// What a part may use: the scenario, the run's context, the platform, the
// checker, and the other parts.
struct Run {
    const Scenario& s;
    RunContext& ctx;
    Platform& platform;
    Checker& checker;
    std::vector<std::unique_ptr<RunPart>> parts;

    Kernel& kernel() const { return platform.kernel(); }
    // Another part of this run, if it has one of that type.
    template <class P>
    P* find() const {
        for (const auto& p : parts)
            if (auto* q = dynamic_cast<P*>(p.get())) return q;
        return nullptr;
    }
    // Calls `f` on every part, in order.
    template <class F>
    void each(F&& f) const {
        for (const auto& p : parts) f(*p);
    }
};

class RunPart {
public:
    virtual ~RunPart() = default;
    // The machine booted and its drivers bound: start what runs beside it.
    virtual void boot(Run&, Cpu&) {}
    // Before the first transition: what the PM engine calls of this part.
    virtual void services(Run&, Cpu&, PmServices&) {}
    // Cycle k > 1 begins, after the time between cycles.
    virtual void cycle_begin(Run&, Cpu&, unsigned /*cycle*/) {}
    // The wake alarm is armed: what may wake the machine or press a key.
    virtual void arm(Run&, unsigned /*cycle*/) {}
    // The initiator wrote the state: the transition starts.
    virtual void transition_started(Run&, unsigned /*cycle*/) {}
    // The transition ended; `back`: the system runs on (resumed, aborted,
    // a pm_test stop), else it slept and did not resume.
    virtual void transition_ended(Run&, const PmEngine::Result&, bool /*back*/) {}
    // The machine came back from cycle k and idled.
    virtual void resumed(Run&, Cpu&, unsigned /*cycle*/) {}
    // The machine's work ends: wait for what the tasks report (`after_resume`:
    // after a transition the system came back from, not a control run or an
    // aborted start).
    virtual void drain(Run&, bool /*after_resume*/) {}
    // The tasks stopped at the end of the cycles (`back` as above).
    virtual void stopped(Run&, bool /*back*/) {}
    // Power was lost outside a transition; firmware boots the machine afresh.
    virtual void booted_afresh(Run&) {}
    // The run goes on after a fresh boot ([cycles] after_fresh_boot): the
    // old kernel and all it had in memory are gone; boot() and services()
    // follow, as at the run's start.
    virtual void fresh_boot(Run&) {}
    // The run ended: what the part adds to the summary.
    virtual void summary(Run&, RunSummary&) {}
};

// The parts the scenario turns on, in the order they are called.
std::vector<std::unique_ptr<RunPart>> assemble_parts(Run& run);

// The machine's program on the boot CPU: boot, the parts started, the PM
// services, then the control run or the cycles. Fills `out.outcome`; sets
// `finished` when the machine's work ended before the time limit.
struct MachineResult {
    bool finished = false;
    unsigned cycles_completed = 0;  // cycles that came back resumed
    unsigned boots = 1;             // the first, and each fresh boot the run went on after
};
void run_machine(Run& run, Cpu& cpu, RunSummary& out, MachineResult& result);

}  // namespace quiesce
