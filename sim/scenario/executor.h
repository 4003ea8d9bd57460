// Runs one scenario in a forked child and judges it against its expectation.
#pragma once

#include "sim/scenario/scenario.h"
#include "sim/scenario/fork_runner.h"
#include "sim/trace/trace_db.h"
#include "sim/trace/wire.h"

#include <functional>
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
// Runs every scenario, `jobs` forked children at a time, and hands each
// result to `done` in scenario order as soon as it and all before it are in.
void execute_all(const std::vector<Scenario>& scenarios, unsigned jobs,
                 const std::function<void(size_t index, RunResult)>& done);
// Prefix sharing: runs `base` once, pausing at each branch point (ascending
// times) to fork one child per variant of that branch (`jobs` at a time);
// a child adds its variant's last fault rule or takes its suspend order (or
// both), and runs on to the end. Each variant must be `base` plus one rule
// that cannot fire before its branch point, and/or `base` with an order no
// callback phase before its branch point used. The prefix process hands the
// parent its stream once, piece by piece at the branch points; a child
// sends only what follows its branch point, and the parent decodes it after
// the prefix's: its stream and digest are those of a run from the start.
//
// A second level: a stem forks at its branch point like a variant and takes
// its order; it runs that order to the end once in a child of its own (the
// scout: the variant `alone`, when one is just that order) to learn when
// the order's phases and persistence points come, then goes on as the
// shared prefix of its followers - variants of its order plus one fault
// rule - and forks each at its mark, measured in the scout's run.
//
// `done` gets the results of every variant named while the others run, in
// the order they were forked (branch by branch, a stem's where it forked).
struct Mark {  // 1 ps before `phase` first starts, or before `drive`'s `nth` persistence point
    std::string phase, drive;
    size_t nth = 0;
};
struct Stem {
    std::vector<std::string> order;  // its suspend order (empty: the run's own)
    std::vector<std::string> rules;  // ... and its schedule and timing rules: then it forks at time 0
    std::optional<size_t> alone;
    std::vector<std::pair<size_t, Mark>> followers;  // (variant, where it forks)
};
struct Branch {
    Picos at;
    std::vector<size_t> variants;  // indices into the variants
    std::vector<Stem> stems;
};
void execute_branched(const Scenario& base, const std::vector<Branch>& branches, const std::vector<Scenario>& variants,
                      unsigned jobs, const std::function<void(size_t index, RunResult)>& done);
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
// Judges a finished stream against the scenario's expectation.
void judge(const Scenario& s, RunResult& r);
std::string expected_text(const Expectation& e);
// What the trace database records of one run of `s`.
RunMeta run_meta(const Scenario& s, const RunResult& r);
std::string join_lines(const std::vector<std::string>& lines);

}  // namespace quiesce
