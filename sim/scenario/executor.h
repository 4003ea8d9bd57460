// Runs one scenario in a forked child and judges it against its expectation.
#pragma once

#include "sim/scenario/scenario.h"
#include "sim/scenario/fork_runner.h"
#include "sim/trace/trace_db.h"
#include "sim/trace/wire.h"

#include <functional>
#include <limits>
#include <optional>
#include <vector>

#include <set>
#include <string>

namespace quiesce {

struct RunResult {
    std::string status;     // passed | failed | crashed | timeout
    std::string message;    // one line: why it failed, or what it found
    RunStream stream;
    std::set<std::string> violations;  // distinct ids seen (also in a run that crashed or timed out)
    double wall_s = 0;
};

RunResult execute(const Scenario& s);
// A run's limits ([limits] cpu_time and wall_time) for the fork runner.
inline RunLimits run_limits(const Scenario& s) { return {s.wall_limit_s, s.cpu_limit_s}; }
// Scenarios by index: those of a vector, or each made when asked for - an
// exploration's variants, its scenario with each one's decisions. Held, the
// 20,000 variants of `--timing 20000` took 387 MB, and every process forked
// from the one holding them copied their page tables (docs/performance.md,
// "Variants made when run").
class ScenarioSource {
public:
    ScenarioSource(const std::vector<Scenario>& held) : held_(&held) {}  // NOLINT: a vector is one
    // `count` scenarios, `make(k)` the k-th; every one has `limits`.
    ScenarioSource(size_t count, std::function<Scenario(size_t)> make, RunLimits limits)
        : count_(count), make_(std::move(make)), limits_(limits) {}
    size_t size() const { return held_ ? held_->size() : count_; }
    Scenario operator[](size_t k) const { return held_ ? (*held_)[k] : make_(k); }
    RunLimits limits(size_t k) const { return held_ ? run_limits((*held_)[k]) : limits_; }

private:
    const std::vector<Scenario>* held_ = nullptr;
    size_t count_ = 0;
    std::function<Scenario(size_t)> make_;
    RunLimits limits_{0, 0};
};
// Runs every scenario, `jobs` forked children at a time, and hands each
// result to `done` in scenario order as soon as it and all before it are in.
void execute_all(const ScenarioSource& scenarios, unsigned jobs,
                 const std::function<void(size_t index, RunResult)>& done);
// Prefix sharing, as deep as the decisions go. Each variant is `base` plus
// its decisions (`steps[k]`): PCT schedule and timing rules, taken before the
// first event (Start); a suspend order, taken 1 ps before the first callback
// phase, where the engine starts reading it (FirstCallback); a fault rule,
// taken 1 ps before its mark (a phase's first start, a drive's nth
// persistence point), which it cannot fire before (At); a fault that waits
// for neither, taken at time 0 (Begin). A taken decision counts as if the
// run had had it from the start. Decisions taken at time 0 fork from the
// prefix run paused at time 0, its platform built: the zygote, elaborated
// once for every variant that differs from the first event on.
//
// Every process of a branched run - the prefix run first - knows a run of
// its own decisions to the end (the prefix run: `run`, the baseline), and
// plans its variants from it (plan_forks): each variant's earliest decision
// still to take, and those at the same site, name the group it leaves by.
// A group with one variant forks it there, taking all its decisions; a group
// of several is a *stem*: forked there, it takes the group's decisions, runs
// them to the end once in a child of its own (its scout: the group's own
// variant when one is just those decisions, else a run whose result is not
// recorded) and plans the rest of its group from the scout's run, as the
// prefix run did from the baseline - and so on down. A variant thus shares
// the run of every other up to their last common decision.
//
// Each process hands its parent its own stream once, piece by piece at its
// pauses; a child sends only what follows its fork, and the parent decodes
// it after the prefix's: its stream and digest are those of a run from the
// start. `done` gets the results of the `members` (indices into `variants`)
// while the others run, in the order they were forked, a stem's where it
// forked: the same every time. A process that dies loses its own subtree.
struct Mark {  // 1 ps before `phase` first starts, or before `drive`'s `nth` persistence point
    std::string phase, drive;
    size_t nth = 0;
};
// A fault that waits for no phase (one that fires at the boot after S4,
// say) is taken at time 0 (Begin): as if the scenario had had it from the
// start, after the elaboration every variant shares (the zygote).
struct Choice {
    enum class Where { Start, FirstCallback, At, Begin };
    Where where = Where::At;
    Mark mark;        // At
    std::string key;  // the decision (its rule): equal keys, the same decision
};
// When the mark or the first callback phase comes in `run` (the start of
// the phase its first device callback ran in): kNever when it never does.
constexpr Picos kNever = std::numeric_limits<Picos>::max();
Picos mark_time(const RunStream& run, const Mark& m);
Picos first_callback_phase(const RunStream& run);
// Where a process forks the variants below it, in the order it forks them.
struct Fork {
    Picos at = 0;
    std::vector<std::string> keys;  // the decisions taken there (a stem's; a single variant takes all its own)
    std::optional<size_t> alone;    // a stem's variant that is just its decisions (its scout)
    std::vector<size_t> members;    // a stem's followers (everything below it); else the one variant
    bool stem = false;
};
// The forks of a process that took the decisions `taken` (`at_start`: none
// yet, before the first event; else forked at `now`), over `run`, a run of
// those decisions to its end, for the variants `members`.
std::vector<Fork> plan_forks(const RunStream& run, Picos now, bool at_start, const std::set<std::string>& taken,
                             const std::vector<size_t>& members, const std::vector<std::vector<Choice>>& steps);
// How the variants alone at a pause leave it (`way`): with Rollback (where
// the kernel allows it: Checkpoint::available), a pause's two or more are
// run in turn by one forked worker per job (at least 4 variants each), its
// memory rolled back to the pause after each (sim/core/checkpoint.h); a
// variant's crash (a fatal signal) and its limits (timers) roll the worker
// back too and are the variant's own result, as a forked child's death
// would be. With Fork, or without the kernel's support, each is forked.
// The results are the same either way (docs/performance.md).
enum class Branching { Fork, Rollback };
void execute_branched(const Scenario& base, const RunStream& run, const std::vector<std::vector<Choice>>& steps,
                      const std::vector<size_t>& members, const ScenarioSource& variants, unsigned jobs,
                      const std::function<void(size_t index, RunResult)>& done,
                      Branching way = Branching::Rollback);
// Judges what one child wrote (its stream, or how it died); a child forked
// at a branch point wrote what follows `prefix`.
RunResult judge_child(const Scenario& s, ChildResult child, const StreamDecoder* prefix = nullptr);
// A forked run's last words: its summary on `w`, then the end of its
// process, writing to `fd` (the models are not torn down: see simulate()).
void send_and_end(WireWriter& w, int fd, const RunSummary& sum);
// A control_run scenario's run `r` (it ran to its end and resumed) against
// its control run's child (the same scenario and seed, no transition):
// transparency.diverged where their tasks' results differ, then judge().
// A control child that crashed or timed out makes `r` crashed or timeout,
// as its own death would: nothing was compared.
void judge_with_control(const Scenario& s, RunResult& r, ChildResult control);
// Builds the scenario's platform in a forked child without running it, so
// that errors only the built platform can see (slots, property overrides)
// are input errors before anything runs. Throws InputError.
void preflight(const Scenario& s);
// preflight() of many scenarios, in one forked child that builds their
// platforms in turn (a fork each cost more than the building): each one's
// error, or "" when it has none. An error found after another platform was
// built in the same process is checked again by preflight() alone; a child
// that dies building one is followed by a new child that builds that one
// first (and goes on after it if it dies there too).
std::vector<std::string> preflight_errors(const std::vector<const Scenario*>& all);
// preflight_errors(), the first error thrown as preflight() would (in the
// scenarios' order).
void preflight_all(const std::vector<const Scenario*>& all);
// The scenarios of `files`, loaded in turn (each then changed by `adjust`:
// the command line's faults...) up to the first that cannot be, and their
// platforms built together (preflight_all): the first error in the files'
// order is thrown.
std::vector<Scenario> load_preflighted(const std::vector<std::string>& files,
                                       const std::function<void(Scenario&)>& adjust = {});
// Judges a finished stream against the scenario's expectation.
void judge(const Scenario& s, RunResult& r);
std::string expected_text(const Expectation& e);
// What the trace database records of one run of `s`.
RunMeta run_meta(const Scenario& s, const RunResult& r);
std::string join_lines(const std::vector<std::string>& lines);

}  // namespace quiesce
