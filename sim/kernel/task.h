// Tasks of the modelled OS: user tasks and kernel threads, each a SystemC
// thread whose body runs as timed code on a CPU (its own while that CPU is
// online, else the boot CPU: migration). The freezer (reference/linux-pm.md
// §1.2) stops tasks only at their freeze points: try_to_freeze(), and the
// freezable sleeps. A task inside an uninterruptible wait (I/O) cannot freeze
// until the wait ends.
#pragma once

#include <systemc>

#include <functional>
#include <string>

namespace quiesce {

class Cpu;
class Kernel;

class Task {
public:
    enum class Kind { User, KThread };
    using Body = std::function<void(Task&)>;

    Task(Kernel& kernel, std::string name, Kind kind, bool freezable, unsigned cpu, Body body);

    const std::string& name() const { return name_; }
    Kind kind() const { return kind_; }
    bool freezable() const { return kind_ == Kind::User || freezable_; }
    bool frozen() const { return frozen_; }
    bool exited() const { return exited_; }
    Kernel& kernel() { return kernel_; }

    // The CPU the task runs on now.
    Cpu& cpu();
    // A freeze point: parks the task while the freezer wants it frozen.
    void try_to_freeze();
    // Sleeps `duration`, waking early to freeze when asked (wait_event_freezable).
    void sleep_freezable(uint64_t duration_ps);
    // freezer_do_not_count / freezer_count: around a sleep the freezer may
    // count as frozen. freezer_count must come first thing after waking: it
    // freezes the task if the freezer wants it. Work done in between, while
    // the freezer believes the task frozen, escapes the freezer.
    void freezer_do_not_count() { skip_ = true; }
    void freezer_count();
    bool counted_frozen() const { return frozen_ || (skip_ && freezable()); }
    // A multi-step update whose halves must never be separated (the
    // task.torn-update invariant): no freeze point may lie inside one.
    void begin_update(std::string what) { update_ = std::move(what); }
    void end_update() { update_.clear(); }
    const std::string& update_in_progress() const { return update_; }
    // A task asked to stop returns from its body at its next check.
    bool should_stop() const { return stop_; }
    void request_stop();

    // Freezer side.
    void set_freezing(bool f);
    // This freezing round the task sleeps uninterruptibly at its freeze
    // point instead of freezing (the freezer-refusal fault); thawing ends it.
    void refuse_freezing() { refusing_ = true; }
    bool freezing() const { return freezing_; }

private:
    friend class Kernel;  // run(); abandon() marks a killed task exited
    void run();

    Kernel& kernel_;
    std::string name_;
    Kind kind_;
    bool freezable_;
    unsigned cpu_;
    Body body_;
    bool freezing_ = false;
    bool frozen_ = false;
    bool exited_ = false;
    bool stop_ = false;
    bool skip_ = false;
    bool refusing_ = false;
    std::string update_;
    sc_core::sc_event wake_;
};

}  // namespace quiesce
