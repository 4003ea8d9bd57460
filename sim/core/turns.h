// Turns: a number of runs made one after another from one point of this
// process, its memory rolled back to that point after each
// (sim/core/checkpoint.h) - what a forked child per run would give, with one
// process. Each run (a turn) writes its stream to a file of its own and its
// stderr to another, has its own CPU-time and wall-clock limits (timers), and
// a fatal signal in it (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) or a limit
// reached ends it as a forked child's death would: memory goes back to the
// point, and the next turn learns how the one before died. At most one
// Turns per process; its constructor installs the signal handlers.
//
//     Turns turns(n);
//     const size_t i = turns.next();  // returns again after each turn
//     if (turns.died()) ...           // turn i - 1 died of that signal
//     if (i == n) ...                 // all have run
//     turns.start(cpu_s, wall_s);     // turn i runs on from here ...
//     ... turns.stop(); turns.output() ...; turns.end();  // ... and ends
#pragma once

#include "sim/core/checkpoint.h"

#include <cstddef>
#include <memory>
#include <string>

namespace quiesce {

class Turns {
public:
    explicit Turns(size_t count);
    ~Turns();
    Turns(const Turns&) = delete;
    Turns& operator=(const Turns&) = delete;

    // False (and why) when turns cannot be run here (the kernel's support,
    // Checkpoint::available; a file).
    bool ready(std::string& why) const;
    // The turn to run now: 0 the first time, then (returning again, memory
    // as at the first call) the one after the turn that ended; `count` when
    // every turn has run. Not inlined: the checkpoint's frame is below it.
    size_t next();
    // The signal that ended the turn before the one next() returned (SIGPROF:
    // its CPU-time limit; SIGALRM: its wall-clock limit; else a crash), 0 when
    // it ended by end().
    int died() const;
    // Where the turn writes its stream (emptied at start()).
    int stream_fd() const { return stream_; }
    // The turn starts: its stderr to a file of its own, its limits armed
    // (in seconds; 0 or infinite: none).
    void start(double cpu_s, double wall_s);
    // Its limits and crash handling off (before it writes its last words).
    void stop();
    // What the turn wrote to its stream and the tail of its stderr (at most
    // 8 KiB), and its wall time since start().
    std::string output() const;
    std::string error_tail() const;
    double wall_s() const;
    // The turn ended: memory back to next()'s first call, which returns the
    // turn after it. Never returns.
    [[noreturn]] void end();

private:
    size_t count_;
    std::unique_ptr<Checkpoint> checkpoint_;
    int stream_ = -1, err_ = -1, stderr_ = -1;
    std::string why_;
};

}  // namespace quiesce
