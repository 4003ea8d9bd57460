// In-process branching (issue 18 item 6; docs/performance.md, "In-process
// branching"): this process's writable memory saved at a branch
// point and rolled back to it after each variant, instead of a fork per
// variant. take() notes which pages of every writable private mapping are
// present, forks a holder - a child that only waits, whose memory is the
// copy - and write-protects the mappings (sim/core/written_pages.h: the
// kernel marks a page written on its first write, with no handler);
// rollback() then, on a stack of its own, puts back the program break,
// closes the descriptors opened since, unmaps what was mapped since and maps
// again what was unmapped, reads the pages written back from the holder (or
// drops those not present at the branch), protects them again and jumps back
// into take(), which returns once more - as fork() returns in each child.
// Registers are those take() saved; kernel state besides the mappings, the
// break and the descriptors (signal handlers, timers, file offsets) is not
// rolled back. What must outlive a rollback leaves the process first (a
// pipe) or is written to a descriptor opened before take() (a memfd), never
// to memory. sim/core/turns.h runs variants in turn on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace quiesce {

class Checkpoint {
public:
    Checkpoint();
    ~Checkpoint();
    Checkpoint(const Checkpoint&) = delete;
    Checkpoint& operator=(const Checkpoint&) = delete;

    // False (and why) when the kernel lacks what it needs.
    bool ready(std::string& why) const;
    // Whether a Checkpoint would be ready in this process (and why not),
    // without making one.
    static bool available(std::string& why);
    // Saves this process's memory here. Returns 0 now, and n after the nth
    // rollback() (each returns here, with memory as it was at this call).
    // Not inlined: its frame is where rollback() lands.
    size_t take();
    // Back into take() with memory as it was there; never returns. A
    // rollback with no take() before it, or one while rolling back (a
    // signal handler's, say), ends the process. `cause` is what cause()
    // says after it: a signal handler that rolls back passes its signal.
    // Safe in a signal handler (it allocates nothing and takes no lock).
    [[noreturn]] void rollback(int cause = 0);
    // The cause the last rollback was given (0 before any).
    int cause() const;
    // Eight words a rollback leaves as they are: what a variant run after
    // take() must hand on past its rollback (its start time, say).
    uint64_t* kept() const;
    // Stops tracking and frees the copy (after the last rollback to it).
    void release();

    // What the last take() and rollback() saw (pages and mappings), for
    // benchmarks.
    struct Stats {
        size_t tracked_pages = 0, present_pages = 0;  // at take()
        size_t written_pages = 0, dropped_pages = 0;  // at the last rollback
        size_t unmapped = 0, remapped = 0, closed = 0;
        double take_cpu_s = 0;     // the last take(): reading the mappings, the holder forked, the protection
        double restore_cpu_s = 0;  // the last rollback, from its call to take()'s return
        long restore_faults = 0;   // minor faults in it
    };
    Stats stats() const;

    struct Keep;  // the state that lives outside what is rolled back

private:
    Keep* keep_ = nullptr;
};

}  // namespace quiesce
