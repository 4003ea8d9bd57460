// A suspend/resume protocol as data (DESIGN.md §5): an ordered list of suspend
// phases and of resume phases. Each phase names an action; callback phases
// name the callback family and the device order; a suspend phase may name the
// resume phase that undoes it when a later phase fails.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace quiesce {

struct Phase {
    std::string name;
    std::string action;    // see known_actions()
    std::string callback;  // for action "callbacks"
    std::string order;     // "top-down" or "bottom-up" for callbacks
    std::string undo;      // the phase that undoes this one: a resume phase, or a later
                           // suspend phase (S4 thaws after the snapshot), which then
                           // runs for the devices this one succeeded on
    std::string method;    // for action "firmware": _TTS, _PTS, _WAK
    std::string function;  // for action "lps0": the LPS0 _DSM function (display-off, entry, exit, display-on)
    int arg = -1;          // firmware method argument (-1: the target state)
    uint64_t duration = 0; // for action "run": how long the system keeps running (ps)
    bool async = false;    // callbacks: one thread per device, each waiting for its
                           // subordinates (suspend side) or superiors (resume side)
    // /sys/power/pm_test: the level whose test stops the transition right
    // after this suspend phase (suspend_test / hibernation_test), and the
    // callback the undo of this callbacks phase runs instead of its own when
    // a test unwinds it (hibernation: PMSG_RESTORE, not PMSG_THAW).
    std::string test_level;
    std::string test_undo;
    std::string file;      // where it was declared (a scenario's file once it overrides it)
    int line = 0;
    int column = 0;
    // Where each key's value was written in `file` (line, column), so that
    // an error in a value points at it, not at its table; a key not here
    // is shown at the table.
    std::map<std::string, std::pair<int, int>> at;
};

struct Protocol {
    std::string name;
    std::string description;
    std::string file;
    unsigned target = 3;   // ACPI S-state; 0: suspend-to-idle (S0 with devices suspended, target "s2idle")
    std::vector<Phase> suspend;
    std::vector<Phase> resume;

    const Phase* find_resume(const std::string& name) const;
    // The phase an undo names: a later suspend phase, else a resume phase.
    const Phase* find_undo(const std::string& name) const;
    Phase* find(const std::string& name);
    const Phase* find(const std::string& name) const { return const_cast<Protocol*>(this)->find(name); }
};

const std::vector<std::string>& known_actions();
const std::vector<std::string>& known_callbacks();
// The LPS0 device's _DSM functions a protocol may call (drivers/acpi/x86/s2idle.c).
const std::vector<std::string>& lps0_functions();
// /sys/power/pm_test's levels, "none" first (kernel/power/main.c pm_tests[]).
const std::vector<std::string>& pm_test_levels();
// Whether a callback family must run subordinates first (suspend direction)
// or superiors first (resume direction), whatever a protocol says.
bool callback_children_first(const std::string& callback);

// Loads and validates a protocol file. Throws InputError (file:line:col: key).
Protocol load_protocol(const std::string& path);
// Checks the rules below; throws InputError naming the offending phase.
//  - actions, callbacks and orders are known; undo names a resume phase;
//  - callback phases never run with CPU interrupts off;
//  - *_noirq callbacks run only while device interrupts are suspended, and
//    other callbacks only while they are not;
//  - the suspend list ends with platform-enter, reached with interrupts off
//    and the nonboot CPUs offline; the resume list undoes both.
void validate_protocol(const Protocol& p);

}  // namespace quiesce
