// Run isolation by fork (DESIGN.md §4): SystemC elaborates once per process,
// so every run happens in a forked child. The parent collects the child's
// stream through a pipe, enforces a CPU-time and a wall-clock limit, and turns
// a crash into a `crashed` result instead of dying with it. Each child
// allocates from a heap of its own (sim/core/heap_arena.h); the parent keeps
// glibc's.
#pragma once

#include "sim/core/paths.h"  // write_all

#include <csignal>
#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>

namespace quiesce {

// What a child may use before the parent kills it: wall-clock seconds, and
// seconds of its own CPU time (user + system, counted from its fork). A run
// is one thread, so the CPU limit is what stops a runaway model whatever the
// machine's load; the wall limit stops a child that blocks instead.
struct RunLimits {
    RunLimits(double wall) : wall_s(wall) {}  // NOLINT: a wall limit alone
    RunLimits(double wall, double cpu) : wall_s(wall), cpu_s(cpu) {}
    double wall_s;
    double cpu_s = std::numeric_limits<double>::infinity();
};

struct ChildResult {
    enum class Status { Exited, Crashed, TimedOut };
    Status status = Status::Exited;
    int exit_code = 0;
    int signal = 0;
    std::string output;       // what the child wrote to its stream fd
    std::string error_tail;   // last lines of the child's stderr
    double wall_s = 0;
    bool cpu_limit = false;   // TimedOut by its CPU-time limit (else by the wall clock)
    int file = -1;            // ForkPool::streams_in_files: the stream, in an in-memory file not yet read
};

// Called first thing in main(): makes the process cheaper to fork by
// executing itself again, once, with the same arguments and two more
// variables in its environment - LD_BIND_NOW=1 (every shared library's
// symbols bound at start, so no child writes a library's symbol table when
// it first calls a function the parent never did) and
// GLIBC_TUNABLES=glibc.malloc.tcache_count=0 (no per-thread cache of freed
// chunks: a child's first allocations do not take the parent's cached chunks
// spread over the heap). Minor faults per forked child, docs/performance.md.
// Does nothing when LD_BIND_NOW is already in the environment (set empty
// to keep lazy binding and glibc's defaults), when LD_PRELOAD is (a
// preloaded tool such as valgrind's would not follow the exec), or when
// the exec fails (then the environment is left as it was).
void prepare_for_forks(char** argv);

// Forks; the child runs `body(fd)` writing its stream to fd, then exits 0.
// With `consume`, the parent sees the output as it comes in and may take
// what it has used from the front; the result holds what it left.
ChildResult run_forked(const std::function<void(int fd)>& body, RunLimits limits,
                       const std::function<void(std::string& output)>& consume = {});

// Runs `count` bodies in forked children, at most `jobs` at a time; `done`
// gets each child's result (index, result) as it finishes - not in index
// order. Each child has its own limits. `output`, if given, hears
// of each child's output as it comes in (ForkPool::on_output).
void run_forked_pool(size_t count, unsigned jobs, const std::function<void(size_t index, int fd)>& body,
                     const std::function<RunLimits(size_t index)>& limits,
                     const std::function<void(size_t index, ChildResult)>& done,
                     const std::function<void(size_t index, std::string& output)>& output = {});

// A stop asked for by a signal: set (to the signal's number) by the
// handlers StopOnSignals installs; 0 otherwise. run_served_pool, waiting
// for its runs, sees it within a quarter of a second and throws
// Interrupted: the runs in flight end with the runner (killed), those
// reported before are the caller's as ever.
inline volatile std::sig_atomic_t stop_signal = 0;
struct Interrupted {
    int signal;
};
// While it lives, SIGTERM, SIGINT and SIGHUP set stop_signal instead of
// ending the process (installed without SA_RESTART), so that a campaign a
// CI job's timeout or Ctrl-C stops can still say what it recorded; a
// forked runner or run takes the default actions back. Restores the
// handlers it found.
class StopOnSignals {
public:
    StopOnSignals();
    ~StopOnSignals();
    StopOnSignals(const StopOnSignals&) = delete;
    StopOnSignals& operator=(const StopOnSignals&) = delete;

private:
    struct sigaction old_[3];
};
// The default actions of the signals StopOnSignals catches, back: in a
// process forked from one that installed it.
void default_stop_signals();

// As run_forked_pool without `output`, but the children are forked by a
// process of their own (the runner), forked once first: the caller - which
// goes on decoding and recording runs while its children run, growing and
// writing its heap - never forks, so no fork makes its pages shared again
// and it pays no copy-on-write fault for them (docs/performance.md, "A
// runner process forks the runs"). Each child writes its stream into an
// in-memory file; the runner passes the file to the caller over a socket
// with how the child ended, and the caller reads it whole. `done` is
// called in the caller, as each child's report arrives. Where the runner
// cannot be set up (no memfd_create), or QUIESCE_RUNNER=0 is in the
// environment, run_forked_pool itself. When the runner dies, the runs it
// did not report run again by run_forked_pool, with a line on stderr that
// says so. The runner
// starts a run only while the streams of the runs reported and not yet
// taken in by `done` hold no more than `streams_ahead` bytes: what waits in
// memory stays bounded when `done` is slower than the runs.
void run_served_pool(size_t count, unsigned jobs, const std::function<void(size_t index, int fd)>& body,
                     const std::function<RunLimits(size_t index)>& limits,
                     const std::function<void(size_t index, ChildResult)>& done,
                     size_t streams_ahead = size_t(256) << 20);

// A pool of forked children kept by the caller: fork_child() first waits
// while `jobs` children run, then forks; the child *returns* from it with
// the fd of its stream and carries on with whatever the caller was doing
// (a simulation paused at a branch point goes on in every child), the
// parent gets std::nullopt. `done` hears of each child as it ends, from
// fork_child() or wait_all() in the parent.
class ForkPool {
public:
    ForkPool(unsigned jobs, std::function<void(size_t index, ChildResult)> done);
    ~ForkPool();
    std::optional<int> fork_child(size_t index, RunLimits limits);
    void wait_all();
    // Hears of each child's output as it comes in (may take from its front).
    void on_output(std::function<void(size_t index, std::string& output)> f) { output_ = std::move(f); }
    // Each child's stream goes into an in-memory file, handed over unread
    // in its result (ChildResult::file, the receiver's to close), not read
    // into ChildResult::output. Not with on_output.
    void streams_in_files() { files_ = true; }
    // Waits for output or an end (and hears of it), kills what ran out of
    // time; returns after one wait, or once `wake_fd` (if any) can be read.
    void pump(int wake_fd = -1);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    unsigned jobs_;
    std::function<void(size_t, ChildResult)> done_;
    std::function<void(size_t, std::string&)> output_;
    bool files_ = false;
};

}  // namespace quiesce
