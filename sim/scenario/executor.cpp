#include "sim/scenario/executor.h"

#include "sim/explore/fork_runner.h"
#include "sim/scenario/platform.h"
#include "sim/scenario/run.h"

#include <fmt/format.h>

#include <algorithm>
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
                   join_lines(s.extra_faults)};
}

std::string expected_text(const Expectation& e) {
    if (e.pass) return "pass";
    std::string out;
    for (const auto& v : e.violations) out += (out.empty() ? "" : ",") + v;
    return out;
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
        } else if (sum.workload != "ok") {
            r.status = "failed";
            r.message = "expected pass, but the workload failed: " + sum.workload;
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
    if (missing.empty() && extra.empty()) {
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

void preflight(const Scenario& s) {
    ChildResult child = run_forked(
        [&s](int fd) {
            std::string out;
            try {
                RunContext ctx(s.seed);
                Platform p(s, ctx);
            } catch (const InputError& e) {
                out = e.what();
            }
            write_all(fd, out);
        },
        s.wall_limit_s);
    // A crash while building is a model bug: the run itself will record it.
    if (child.status == ChildResult::Status::Exited && !child.output.empty()) throw InputError(child.output);
}

namespace {

// One run in a forked child, streaming its events back.
void simulate_into(const Scenario& s, int fd) {
    WireWriter w(fd);
    RunSummary sum = simulate(s, [&w](const Event& ev) { w.event(ev); });
    w.summary(sum);
}

ChildResult simulate_forked(const Scenario& s) {
    return run_forked([&s](int fd) { simulate_into(s, fd); }, s.wall_limit_s);
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
void compare_with_control(const Scenario& s, RunResult& r) {
    Scenario control = s;
    control.control = true;
    RunStream cs = decode_stream(simulate_forked(control).output);
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

}  // namespace

RunResult execute(const Scenario& s) { return judge_child(s, simulate_forked(s)); }

void execute_all(const std::vector<Scenario>& scenarios, unsigned jobs,
                 const std::function<void(size_t, RunResult)>& done) {
    // Children finish in any order; results go out in scenario order.
    std::map<size_t, RunResult> finished;
    size_t next = 0;
    run_forked_pool(
        scenarios.size(), jobs, [&scenarios](size_t i, int fd) { simulate_into(scenarios[i], fd); },
        [&scenarios](size_t i) { return scenarios[i].wall_limit_s; },
        [&](size_t i, ChildResult child) {
            finished.emplace(i, judge_child(scenarios[i], std::move(child)));
            for (auto it = finished.find(next); it != finished.end(); it = finished.find(next)) {
                done(next++, std::move(it->second));
                finished.erase(it);
            }
        });
}

namespace {
// The prefix process reports each variant's child in one frame.
void put_raw(std::string& out, const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
std::string encode_child(size_t index, const ChildResult& r) {
    std::string out;
    uint64_t idx = index, olen = r.output.size(), elen = r.error_tail.size();
    int32_t st = int32_t(r.status), code = r.exit_code, sig = r.signal;
    put_raw(out, &idx, 8);
    put_raw(out, &st, 4);
    put_raw(out, &code, 4);
    put_raw(out, &sig, 4);
    put_raw(out, &r.wall_s, 8);
    put_raw(out, &olen, 8);
    out += r.output;
    put_raw(out, &elen, 8);
    out += r.error_tail;
    return out;
}

std::map<size_t, ChildResult> decode_children(const std::string& in) {
    std::map<size_t, ChildResult> out;
    size_t pos = 0;
    auto get = [&](void* p, size_t n) {
        if (pos + n > in.size()) return false;
        std::memcpy(p, in.data() + pos, n);
        pos += n;
        return true;
    };
    for (;;) {
        uint64_t idx = 0, olen = 0, elen = 0;
        int32_t st = 0, code = 0, sig = 0;
        ChildResult r;
        if (!get(&idx, 8) || !get(&st, 4) || !get(&code, 4) || !get(&sig, 4) || !get(&r.wall_s, 8) || !get(&olen, 8) ||
            pos + olen > in.size())
            break;
        r.output = in.substr(pos, olen);
        pos += olen;
        if (!get(&elen, 8) || pos + elen > in.size()) break;
        r.error_tail = in.substr(pos, elen);
        pos += elen;
        r.status = ChildResult::Status(st);
        r.exit_code = code;
        r.signal = sig;
        out[idx] = std::move(r);
    }
    return out;
}
}  // namespace

void execute_branched(const Scenario& base, const std::vector<Branch>& branches, const std::vector<Scenario>& variants,
                      unsigned jobs, const std::function<void(size_t, RunResult)>& done) {
    if (variants.empty()) return;
    std::vector<Picos> points;
    for (const auto& b : branches) points.push_back(b.at);
    double limit = base.wall_limit_s;
    for (const auto& v : variants) limit += v.wall_limit_s / std::max(1u, jobs);
    ChildResult prefix = run_forked(
        [&](int fd) {
            WireWriter w(-1);  // the prefix stays in memory: every variant child sends it
            std::string frames;
            ForkPool pool(jobs, [&](size_t i, ChildResult r) { frames += encode_child(i, r); });
            int mine = -1;  // in a variant child: its stream
            RunSummary sum = simulate(base, [&w](const Event& ev) { w.event(ev); }, points, [&](RunContext& ctx, size_t i) {
                if (mine >= 0) return;  // a variant runs on past the later branch points
                for (size_t k : branches[i].variants)
                    if (std::optional<int> child_fd = pool.fork_child(k, variants[k].wall_limit_s)) {
                        mine = *child_fd;
                        ctx.faults.add_rule(variants[k].faults.faults.back(), variants[k].seed);
                        w.attach(mine);
                        return;
                    }
                if (i + 1 < branches.size()) return;
                pool.wait_all();  // the prefix process, past its last branch point: report and go
                write_all(fd, frames);
                ::close(fd);
                ::_exit(0);
            });
            if (mine < 0) return;  // not reached: the last branch point ends the prefix process
            w.summary(sum);
            w.flush();
            ::close(mine);
        },
        limit);
    std::map<size_t, ChildResult> children = decode_children(prefix.output);
    std::set<size_t> members;
    for (const auto& b : branches) members.insert(b.variants.begin(), b.variants.end());
    for (size_t i : members) {
        auto it = children.find(i);
        if (it != children.end()) {
            done(i, judge_child(variants[i], std::move(it->second)));
            continue;
        }
        // The shared prefix died before this variant could run.
        ChildResult lost;
        lost.status = ChildResult::Status::Crashed;
        lost.signal = prefix.signal;
        lost.exit_code = prefix.exit_code ? prefix.exit_code : 1;
        lost.error_tail = "the shared prefix run failed: " + prefix.error_tail;
        done(i, judge_child(variants[i], std::move(lost)));
    }
}

RunResult judge_child(const Scenario& s, ChildResult child) {
    RunResult r;
    r.wall_s = child.wall_s;
    r.stream = decode_stream(child.output);
    // What it showed, even when it died before the end.
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::Violation) r.violations.insert(ev.name);
    if (child.status == ChildResult::Status::TimedOut) {
        r.status = "timeout";
        r.message = fmt::format("killed after the wall-clock limit of {}s", s.wall_limit_s);
        return r;
    }
    if (child.status == ChildResult::Status::Crashed || !r.stream.has_summary) {
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
        return r;
    }
    if (s.storage.control_run && r.stream.summary.outcome == "resumed") compare_with_control(s, r);
    judge(s, r);
    return r;
}

}  // namespace quiesce
