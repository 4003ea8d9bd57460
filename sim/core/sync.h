// Waiting and notifying, for every model and every piece of modelled
// software: the only place that calls SystemC's wait() and sc_event's
// notify() and cancel() (the unit test "going ahead: sim/ and models/ wait,
// notify and spawn only through sim/core/sync.h" checks that).
//
// A timed wait that nobody else could notice is not waited: when no other
// process has anything to do at or before the time the wait would end, the
// thread goes on at once with its own time ahead of SystemC's (`ahead`,
// sim/core/time.h; now_ps() reads it), and waits the difference out only
// before it does something another process could see when: any other wait,
// a notification, a cancellation, a spawn, a process suspended, resumed or
// killed, sc_stop(). Nothing else can run meanwhile, so every process sees
// the same states at the same times as with every wait waited, in the same
// order (docs/models.md, "Going ahead of SystemC's time"); what is saved is SystemC's own work for a
// timed wait: the timeout scheduled, the thread switched out and back, a
// delta cycle (issue 18 item 3, docs/performance.md).
#pragma once

#include "sim/core/time.h"

#include <systemc>

#include <utility>

namespace quiesce {

// Whether runs let threads go ahead (simulate() sets the horizon): on,
// unless a bench or a test measures or compares without.
inline bool going_ahead = true;

// Where going ahead stops: strictly before `end`, the time the sc_start
// about to run ends at, so that what runs at a pause (explore's branches)
// sees every thread where SystemC has it. 0 turns going ahead off (the
// default: a test driving sc_start itself waits every wait). Between two
// sc_start nothing runs: what a thread that ended ahead left is cleared.
// With `resume` (an event of the caller's, for the whole run), a thread
// whose wait would end at or past `end` (SystemC runs what is due at the
// end of an sc_start in the next one) with nothing else due first waits on it
// instead of SystemC's timed queue, and set_horizon wakes it for the next
// sc_start: SystemC's queue of timed events - whose order for events at
// the same time depends on what it held before - is then the same whether
// the run paused or not.
inline void set_horizon(Picos end, sc_core::sc_event* resume = nullptr) {
    ahead.horizon = end;
    ahead.ps = 0;
    ahead.resume = resume;
    if (resume && ahead.parked) resume->notify(sc_core::SC_ZERO_TIME);
}

// Waits out how far the running thread went ahead: SystemC's time is its
// own again. A thread that ended ahead left nothing anyone reads (only the
// owner reads `ahead`); it is cleared here.
inline void sync() {
    if (!ahead.ps) return;
    const Picos d = ahead.ps;
    ahead.ps = 0;
    if (ahead.owner == sc_core::sc_get_current_process_b()) sc_core::wait(from_ps(d));
}

// A timed wait of `d` picoseconds: goes ahead when nothing else is due
// before it ends (and it ends before the horizon); otherwise waits, what it
// went ahead included. When SystemC next has something to do is asked once,
// as the thread goes ahead from SystemC's time: while it is ahead nothing
// else runs and nothing it does that could change that is done ahead.
inline void wait_ps(Picos d) {
    if (d == 0) {
        sync();
        sc_core::wait(sc_core::SC_ZERO_TIME);
        return;
    }
    ++ahead.waits;
    const sc_core::sc_process_b* me = sc_core::sc_get_current_process_b();
    const bool mine = ahead.ps && ahead.owner == me;
    const Picos now = kernel_now_ps();
    const Picos total = (mine ? ahead.ps : 0) + d;
    if (ahead.horizon) {
        if (!mine) {
            const Picos next = to_ps(sc_core::sc_time_to_pending_activity());
            ahead.due = next > ~Picos(0) - now ? ~Picos(0) : now + next;
        }
        if (now + total < ahead.due) {
            if (now + total < ahead.horizon) {
                ahead.ps = total;
                ahead.owner = me;
                ++ahead.gone;
                return;
            }
            if (ahead.resume) {  // parked past the pause: see set_horizon
                ahead.ps = 0;
                ahead.parked = now + total;
                sc_core::wait(*ahead.resume);
                const Picos left = ahead.parked - kernel_now_ps();
                ahead.parked = 0;
                if (left) wait_ps(left);  // what is left, as a wait of its own
                return;
            }
        }
    }
    ahead.ps = 0;
    sc_core::wait(from_ps(total));
}
inline void wait(const sc_core::sc_time& t) { wait_ps(to_ps(t)); }
inline void wait(const sc_core::sc_event& e) {
    sync();
    sc_core::wait(e);
}
inline void wait(const sc_core::sc_event_or_list& el) {
    sync();
    sc_core::wait(el);
}
inline void wait(const sc_core::sc_time& t, const sc_core::sc_event& e) {
    sync();
    sc_core::wait(t, e);
}
inline void wait(const sc_core::sc_time& t, const sc_core::sc_event_or_list& el) {
    sync();
    sc_core::wait(t, el);
}

inline void notify(sc_core::sc_event& e) {
    sync();
    e.notify();
}
inline void notify(sc_core::sc_event& e, const sc_core::sc_time& t) {
    sync();
    e.notify(t);
}
inline void cancel(sc_core::sc_event& e) {
    sync();
    e.cancel();
}

// A process started, ended or held: from the time the caller is at.
template <typename... A>
sc_core::sc_process_handle spawn(A&&... a) {
    sync();
    return sc_core::sc_spawn(std::forward<A>(a)...);
}
inline void suspend(sc_core::sc_process_handle& h) {
    sync();
    h.suspend();
}
inline void resume(sc_core::sc_process_handle& h) {
    sync();
    h.resume();
}
inline void kill(sc_core::sc_process_handle& h) {
    sync();
    h.kill();
}
inline void stop() {
    sync();
    sc_core::sc_stop();
}

}  // namespace quiesce
