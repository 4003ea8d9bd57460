// Fires the rules of a fault plan (fault_plan.h) during one run. Models and
// the kernel ask at their operations (`fire`), the PM engine at phase
// boundaries (`boundary`); point faults with only a time fire from a timer
// thread (`start_timers`). Every fault that fires is a Fault event of its
// own (a row of the trace's `fault` table) with the rule's origin and the
// site.
#pragma once

#include "sim/core/events.h"
#include "sim/core/rng.h"
#include "sim/fault/fault_plan.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace quiesce {

class FaultInjector {
public:
    using Handler = std::function<void(const FaultSpec&)>;

    explicit FaultInjector(EventHub& hub) : hub_(hub) {}

    // The rules of this run; each draws from its own stream of `seed`.
    void load(const FaultPlan& plan, uint64_t seed);
    // One more rule, mid-run (a variant forked from a shared prefix): it
    // draws from the stream it would have had in the plan at this index,
    // and a rule at a drive's persistence points has seen the points that
    // went by, as it would have from the start.
    void add_rule(const FaultSpec& rule, uint64_t seed);
    // A drive completed a write or flush (CrashMonkey's persistence point)
    // while the transition runs: counted, and its time kept when noted.
    void persistence_point(const std::string& drive);
    void note_persistence(bool on) { note_persistence_ = on; }
    const std::vector<std::pair<std::string, Picos>>& persistence_times() const { return persistence_times_; }
    // Whether a rule of this kind may still fire (a cheap test for sites).
    bool armed(const std::string& kind) const;

    // An operation of `kind` at `device` (its trace track `track`) is about
    // to happen: the rule that makes it fail, or nullptr.
    const FaultSpec* fire(const std::string& kind, const std::string& device, const std::string& track,
                          std::vector<Arg> site = {});

    // What a point fault does when it fires (registered by the platform).
    void on_point(const std::string& kind, Handler handler) { handlers_[kind] = std::move(handler); }
    // A phase boundary (`when` = "before" or "after"): the point faults that
    // fire now, in plan order; each one's handler has run.
    std::vector<const FaultSpec*> boundary(const std::string& phase, const std::string& when);
    // Point faults triggered by time alone fire from timer threads.
    void start_timers();

    // Asynchronous power loss (a power-loss rule with a time and no phase,
    // or at a drive's persistence points; a torn write) strikes only while
    // the transition runs: the run opens and closes that window.
    void set_async_power(bool open) { async_power_ = open; }
    bool async_power() const { return async_power_; }
    // A power-loss rule with a time and no phase also strikes while the
    // machine runs outside any transition (after boot, between cycles,
    // after the last resume): the run opens and closes that window too.
    void set_outside_transition(bool open) { outside_transition_ = open; }
    // Runs the handler of `kind` for a rule that fired at an operation (a
    // drive's persistence point cuts the power through power-loss's).
    void run_handler(const std::string& kind, const FaultSpec& rule);

    // The cycle of a [cycles] run now going on (1-based): a rule with a
    // `cycle` trigger fires only in that one.
    void set_cycle(uint64_t cycle) { cycle_ = cycle; }
    uint64_t cycle() const { return cycle_; }

    // How many faults fired in this run, and the last one.
    size_t fired() const { return fired_; }
    const FaultSpec* last_fired() const { return last_; }

private:
    struct Rule {
        FaultSpec spec;
        Rng rng;
        uint64_t seen = 0;  // opportunities that met the other conditions
        bool spent = false;
    };
    bool take(Rule& r, const std::string& phase, const std::string& device);
    void record(const Rule& r, const std::string& track, std::vector<Arg> site);
    void fire_point(Rule& r, const std::string& track, bool run_handler);

    EventHub& hub_;
    std::vector<Rule> rules_;
    std::map<std::string, Handler> handlers_;
    size_t fired_ = 0;
    const FaultSpec* last_ = nullptr;
    bool async_power_ = false;
    bool outside_transition_ = false;
    uint64_t cycle_ = 1;
    std::map<std::string, uint64_t> persistence_seen_;  // drive -> points so far
    bool note_persistence_ = false;
    std::vector<std::pair<std::string, Picos>> persistence_times_;
};

}  // namespace quiesce
