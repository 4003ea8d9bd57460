// Which of the software's concurrent contexts ran at the same time during a transition: a callback with a task,
// kernel thread or interrupt handler, or two of those, by where each ran and which began first. A run works it
// out from its own events as they come, whatever its trace level keeps, and sends it outside its digest.
#pragma once

#include "sim/core/events.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace quiesce {

// One pair of contexts that overlapped in time in a run. A context is a
// callback (named by its device), a task or kernel thread (its name, as
// `sched_switch` gives it), or an interrupt handler ("irq N"); `a` is the
// lesser of the two (callbacks before handlers before tasks, then by name
// and core). Never two callbacks: Interleavings counts those from the
// callback slices themselves.
struct ContextPair {
    enum Kind : uint8_t { Callback = 0, Irq = 1, Task = 2 };
    std::string phase;  // the callback's phase; for two others, the phase when the later one began
    Kind a_kind = Callback, b_kind = Task;
    std::string a, a_core, b, b_core;
    unsigned seen = 0;  // bit 1: a began first (at some overlap), bit 2: b did, bit 4: both at the same instant
};

// Fed a run's events (slices and instants), gives the pairs at its end.
// Tasks and kernel threads are the spans between a core's `sched_switch`
// records; the PM thread (`*.main_thread`) and the async callbacks'
// kworkers (`dpm_*`) are left out (their work is the phases and the
// callbacks), and so is `idle`. Only spans during a PM phase count (the
// phase active when they began or ended).
class ContextTracker {
public:
    void on(const Event& ev);
    // The events on() reads (an EventHub interest): callback and irq
    // slices, sched_switch instants.
    static bool reads(EvKind kind, std::string_view category, std::string_view name);
    // The pairs, the spans still open ended at `end`.
    std::vector<ContextPair> pairs(Picos end);

private:
    struct Span {
        ContextPair::Kind kind;
        uint32_t name, core, phase;  // into names_
        Picos begin, end;
    };
    struct Open {
        uint32_t name = 0, core = 0, phase = 0;
        Picos begin = 0;
        bool on = false;
    };
    uint32_t id(const std::string& s);
    void close(ContextPair::Kind kind, Open& o, Picos ts, const std::string& phase_now);
    std::vector<std::string> names_{""};
    std::map<std::string, uint32_t> ids_{{"", 0}};
    std::vector<Span> spans_;
    std::map<std::string, Open> callbacks_;  // device -> its callback running now
    std::map<std::string, Open> irqs_;       // core + handler -> the handler running now
    std::map<std::string, Open> tasks_;      // core -> the task on it
};

}  // namespace quiesce
