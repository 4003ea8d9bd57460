// Runs scenarios in forked children and judges them: a run against its
// expectation, a child that died, a run against its control run, and
// the build of a platform before any run (preflight). Prefix sharing is in
// branched.cpp.
#include "sim/scenario/executor.h"

#include "sim/scenario/fork_runner.h"
#include "sim/scenario/platform.h"
#include "sim/scenario/run.h"

#include <fmt/format.h>
#include <systemc>

#include <algorithm>
#include <deque>
#include <exception>
#include <memory>
#include <map>
#include <unistd.h>
#include <optional>
#include <set>
#include <csignal>
#include <cstring>

namespace quiesce {

std::string join_lines(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += (out.empty() ? "" : "\n") + l;
    return out;
}

RunMeta run_meta(const Scenario& s, const RunResult& r) {
    return RunMeta{s.name,    s.file,           s.seed,       s.protocol.name, s.platform.name,
                   r.status,  expected_text(s.expect), r.message, to_string(s.trace), r.wall_s * 1000,
                   join_lines(s.extra_faults), s.inputs};
}

std::string expected_text(const Expectation& e) {
    std::string out = e.pass ? "pass" : "";
    for (const auto& v : e.violations) out += (out.empty() ? "" : ",") + v;
    return e.workload_fails ? out + "; workload=failed" : out;
}

// "id in PHASE at COMPONENT: message": what a CI log needs to find the spot.
std::string describe(const Event& v) {
    std::string where = v.phase.empty() ? "" : " in " + v.phase;
    if (!v.track.empty()) where += " at " + v.track;
    return v.name + where + (v.args.empty() ? "" : ": " + v.args[0].value);
}

const Event* first_violation(const RunStream& stream, const std::function<bool(const Event&)>& which) {
    for (const auto& ev : stream.events)
        if (ev.kind == EvKind::Violation && which(ev)) return &ev;
    return nullptr;
}

void judge(const Scenario& s, RunResult& r) {
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::Violation) r.violations.insert(ev.name);
    const WireSummary& sum = r.stream.summary;
    if (s.expect.pass) {
        if (!r.violations.empty()) {
            const Event* first = first_violation(r.stream, [](const Event&) { return true; });
            r.status = "failed";
            r.message = fmt::format("expected pass, got {} violation(s); first: {}", r.violations.size(), describe(*first));
        } else if (!s.expect.outcome.empty() && sum.outcome != s.expect.outcome) {
            r.status = "failed";
            r.message = "expected outcome '" + s.expect.outcome + "', but the transition ended with '" + sum.outcome + "'";
        } else if (sum.workload != "ok" && !s.expect.workload_fails) {
            r.status = "failed";
            r.message = "expected pass, but the workload failed: " + sum.workload;
        } else if (sum.workload == "ok" && s.expect.workload_fails) {
            r.status = "failed";
            r.message = "expected the workload to fail, but it completed";
        } else {
            r.status = "passed";
        }
        return;
    }
    std::string missing, extra;
    for (const auto& v : s.expect.violations)
        if (!r.violations.count(v)) missing += (missing.empty() ? "" : ", ") + v;
    for (const auto& v : r.violations)
        if (std::find(s.expect.violations.begin(), s.expect.violations.end(), v) == s.expect.violations.end())
            extra += (extra.empty() ? "" : ", ") + v;
    if (missing.empty() && extra.empty() && s.expect.outcome_given && sum.outcome != s.expect.outcome) {
        r.status = "failed";
        r.message = "found the expected violations, but the transition ended with '" + sum.outcome +
                    "', not the expected '" + s.expect.outcome + "'";
    } else if (missing.empty() && extra.empty() && s.expect.workload_given &&
               (sum.workload != "ok") != s.expect.workload_fails) {
        r.status = "failed";
        r.message = s.expect.workload_fails ? "found the expected violations, but the workload completed"
                                            : "found the expected violations, but the workload failed: " + sum.workload;
    } else if (missing.empty() && extra.empty()) {
        r.status = "passed";
        std::string found;
        for (const auto& v : r.violations) found += (found.empty() ? "" : ", ") + v;
        r.message = "found the expected " + found;
    } else {
        r.status = "failed";
        r.message = missing.empty() ? "" : "expected violation(s) missing: " + missing;
        if (!extra.empty()) {
            const Event* first = first_violation(r.stream, [&s](const Event& ev) {
                return std::find(s.expect.violations.begin(), s.expect.violations.end(), ev.name) == s.expect.violations.end();
            });
            r.message += (r.message.empty() ? "" : "; ") + std::string("unexpected: ") + extra + " (first: " +
                         describe(*first) + ")";
        }
    }
}

namespace {
// Builds the scenario's platform (inside the module named `scope`, if any)
// and takes it down: its input error, or "".
std::string build_platform(const Scenario& s, const std::string& scope = "") {
    try {
        RunContext ctx(s.seed);
        if (!scope.empty()) ctx.scope = scope + ".";
        Platform p(s, ctx);
    } catch (const InputError& e) {
        return e.what();
    }
    return "";
}
// A module whose construction builds a platform inside it.
struct PlatformScope : sc_core::sc_module {
    PlatformScope(sc_core::sc_module_name name, const Scenario& s, std::string& error) : sc_core::sc_module(name) {
        error = build_platform(s, basename());
    }
};
}  // namespace

void preflight(const Scenario& s) {
    ChildResult child = run_forked(
        [&s](int fd) { write_all(fd, build_platform(s)); },
        run_limits(s));
    // A crash while building is a model bug: the run itself will record it.
    if (child.status == ChildResult::Status::Exited && !child.output.empty()) throw InputError(child.output);
}

std::vector<std::string> preflight_errors(const std::vector<const Scenario*>& all) {
    std::vector<std::string> errors(all.size());
    std::vector<bool> shared(all.size(), false);  // built after another platform in the same process
    for (size_t next = 0; next < all.size();) {
        const size_t first = next;
        RunLimits limits(0, 0);
        for (size_t i = first; i < all.size(); ++i) {
            limits.wall_s += all[i]->wall_limit_s;
            limits.cpu_s += all[i]->cpu_limit_s;
        }
        // One child builds them in turn, a line each: its index, a tab, its
        // error (one line) or nothing.
        ChildResult child = run_forked(
            [&](int fd) {
                for (size_t i = first; i < all.size(); ++i) {
                    std::string out;
                    // The first as preflight() builds it; the others each in
                    // a module of their own (a platform's processes outlive
                    // its modules until SystemC's end, names and all: a
                    // second "cpu0" would be renamed with a warning).
                    if (i == first) {
                        out = build_platform(*all[i]);
                    } else {
                        PlatformScope scope(sc_core::sc_module_name(("preflight" + std::to_string(i)).c_str()),
                                            *all[i], out);
                    }
                    std::replace(out.begin(), out.end(), '\n', ' ');
                    write_all(fd, std::to_string(i) + '\t' + out + '\n');
                }
            },
            limits);
        size_t at = 0;
        for (size_t end; (end = child.output.find('\n', at)) != std::string::npos; at = end + 1) {
            const size_t tab = child.output.find('\t', at);
            const size_t i = std::stoul(child.output.substr(at, tab - at));
            errors[i] = child.output.substr(tab + 1, end - tab - 1);
            shared[i] = i != first;
            next = i + 1;
        }
        // The child died building `next`: a new child builds it first, as
        // preflight() would; one that dies on its first is a model bug's
        // (a crash while building: the run itself will record it), on after it.
        if ((child.status != ChildResult::Status::Exited || child.exit_code != 0) && next == first) ++next;
    }
    // An error found in a process that had built another platform before is
    // checked again in one of its own.
    for (size_t i = 0; i < all.size(); ++i)
        if (!errors[i].empty() && shared[i]) {
            errors[i].clear();
            try {
                preflight(*all[i]);
            } catch (const InputError& e) {
                errors[i] = e.what();
            }
        }
    return errors;
}

void preflight_all(const std::vector<const Scenario*>& all) {
    for (const std::string& e : preflight_errors(all))
        if (!e.empty()) throw InputError(e);
}

std::vector<Scenario> load_preflighted(const std::vector<std::string>& files,
                                       const std::function<void(Scenario&)>& adjust) {
    std::vector<Scenario> scenarios;
    std::exception_ptr unloadable;
    for (const auto& f : files) {
        try {
            scenarios.push_back(load_scenario(f));
            if (adjust) adjust(scenarios.back());
        } catch (const InputError&) {
            unloadable = std::current_exception();
            break;
        }
    }
    std::vector<const Scenario*> all;
    for (const auto& s : scenarios) all.push_back(&s);
    preflight_all(all);
    if (unloadable) std::rethrow_exception(unloadable);
    return scenarios;
}

void send_and_end(WireWriter& w, int fd, const RunSummary& sum) {
    w.summary(sum);
    w.flush();
    ::close(fd);
    std::fflush(stderr);
    ::_exit(0);
}

namespace {

// One run in a forked child, streaming its events back.
void simulate_into(const Scenario& s, int fd) {
    WireWriter w(fd);
    simulate(s, [&w](const Event& ev) { w.event(ev); }, {}, {},
             [&w, fd](const RunSummary& sum) { send_and_end(w, fd, sum); });
}

ChildResult simulate_forked(const Scenario& s) {
    return run_forked([&s](int fd) { simulate_into(s, fd); }, run_limits(s));
}

// The tasks' result digests in a stream: task -> digest.
std::map<std::string, std::string> task_results(const RunStream& stream) {
    std::map<std::string, std::string> out;
    for (const auto& ev : stream.events)
        if (ev.kind == EvKind::Instant && ev.name == "task-result") out[arg_value(ev, "task")] = arg_value(ev, "digest");
    return out;
}

// transparency.diverged against the control run: the same scenario and seed
// without the transition. Every task that reported a result must report the
// same one; a task that finished in one run and not in the other diverged too.
void compare_with_control(const Scenario& s, RunResult& r, const RunStream& cs) {
    auto with = task_results(r.stream), without = task_results(cs);
    std::set<std::string> tasks;
    for (const auto& [t, d] : with) tasks.insert(t);
    for (const auto& [t, d] : without) tasks.insert(t);
    for (const auto& task : tasks) {
        std::string a = with.count(task) ? with[task] : "none", b = without.count(task) ? without[task] : "none";
        if (a == b) continue;
        Event ev;
        ev.kind = EvKind::Violation;
        ev.ts = r.stream.summary.sim_end;
        ev.track = "kernel";
        ev.name = "transparency.diverged";
        ev.category = "violation";
        ev.args = {{"message", fmt::format("task {} saw {} after {} operations with the transition, {} without it",
                                           task, a, s.storage.ops, b)},
                   {"evidence", fmt::format("{{\"task\":\"{}\",\"with_transition\":\"{}\",\"without\":\"{}\","
                                            "\"ops\":\"{}\"}}",
                                            task, a, b, s.storage.ops)}};
        r.stream.events.push_back(std::move(ev));
    }
}

// A child that timed out, crashed or ended without its summary: `r` says
// so (what it showed before stays in r.violations). False for a child
// that ran to its end.
bool judge_death(const Scenario& s, const ChildResult& child, bool has_summary, RunResult& r) {
    if (child.status == ChildResult::Status::TimedOut) {
        r.status = "timeout";
        r.message = child.cpu_limit ? fmt::format("killed after {}s of CPU time (limits.cpu_time)", s.cpu_limit_s)
                                    : fmt::format("killed after the wall-clock limit of {}s (limits.wall_time)",
                                                  s.wall_limit_s);
        return true;
    }
    if (child.status == ChildResult::Status::Crashed || !has_summary) {
        r.status = "crashed";
        std::string why = child.signal ? std::string("signal ") + strsignal(child.signal)
                                       : fmt::format("exit status {}", child.exit_code);
        std::string last;
        for (size_t end = child.error_tail.size(); end > 0 && last.empty();) {
            size_t start = child.error_tail.rfind('\n', end - 1);
            start = start == std::string::npos ? 0 : start + 1;
            last = child.error_tail.substr(start, end - start);
            end = start ? start - 1 : 0;
            if (start == 0) break;
        }
        r.message = "simulation crashed (" + why + ")" + (last.empty() ? "" : ": " + last);
        return true;
    }
    return false;
}

}  // namespace

RunResult execute(const Scenario& s) { return judge_child(s, simulate_forked(s)); }

void execute_all(const ScenarioSource& scenarios, unsigned jobs,
                 const std::function<void(size_t, RunResult)>& done) {
    // Children finish in any order; results go out in scenario order.
    std::map<size_t, RunResult> finished;
    size_t next = 0;
    run_served_pool(
        scenarios.size(), jobs, [&scenarios](size_t i, int fd) { simulate_into(scenarios[i], fd); },
        [&scenarios](size_t i) { return scenarios.limits(i); },
        [&](size_t i, ChildResult child) {
            finished.emplace(i, judge_child(scenarios[i], std::move(child)));
            for (auto it = finished.find(next); it != finished.end(); it = finished.find(next)) {
                done(next++, std::move(it->second));
                finished.erase(it);
            }
        });
}

RunResult judge_child(const Scenario& s, ChildResult child, const StreamDecoder* prefix) {
    RunResult r;
    r.wall_s = child.wall_s;
    if (prefix) {
        StreamDecoder d = *prefix;
        d.feed(child.output);
        r.stream = std::move(d).finish();
    } else {
        r.stream = decode_stream(child.output);
    }
    // What it showed, even when it died before the end.
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::Violation) r.violations.insert(ev.name);
    if (judge_death(s, child, r.stream.has_summary, r)) return r;
    if (s.storage.control_run && r.stream.summary.outcome == "resumed") {
        Scenario control = s;
        control.control = true;
        judge_with_control(s, r, simulate_forked(control));
    } else {
        judge(s, r);
    }
    return r;
}

void judge_with_control(const Scenario& s, RunResult& r, ChildResult control) {
    RunStream cs = decode_stream(control.output);
    // A control run that died compared nothing: the run is judged by how
    // it died, as any run that died is.
    if (judge_death(s, control, cs.has_summary, r)) {
        for (const auto& ev : r.stream.events)
            if (ev.kind == EvKind::Violation) r.violations.insert(ev.name);
        r.message = "the control run (no transition): " + r.message;
        return;
    }
    compare_with_control(s, r, cs);
    judge(s, r);
}

}  // namespace quiesce
