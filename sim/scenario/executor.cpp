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
// The prefix process reports to the parent in frames: its own stream since
// the last branch point ('P', before that branch's children), and each
// variant's child ('C': how it ended, and its stream from the branch on).
void put_raw(std::string& out, const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
void put_bytes(std::string& out, const std::string& bytes) {
    uint64_t n = bytes.size();
    put_raw(out, &n, 8);
    out += bytes;
}

std::string encode_prefix(size_t branch, const std::string& bytes) {
    std::string out = "P";
    uint64_t b = branch;
    put_raw(out, &b, 8);
    put_bytes(out, bytes);
    return out;
}

std::string encode_child(size_t index, const ChildResult& r) {
    std::string out = "C";
    uint64_t idx = index;
    int32_t st = int32_t(r.status), code = r.exit_code, sig = r.signal;
    put_raw(out, &idx, 8);
    put_raw(out, &st, 4);
    put_raw(out, &code, 4);
    put_raw(out, &sig, 4);
    put_raw(out, &r.wall_s, 8);
    put_bytes(out, r.output);
    put_bytes(out, r.error_tail);
    return out;
}

// Takes the complete frames from the front of `in` (a frame may still be
// coming in): prefix pieces to `prefix(branch, bytes)`, children to
// `child(variant, result)`. False when `in` holds a frame that makes no sense.
bool take_frames(std::string& in, const std::function<void(size_t, std::string)>& prefix,
                 const std::function<void(size_t, ChildResult)>& child) {
    size_t pos = 0;
    for (;;) {
        size_t at = pos;
        auto get = [&](void* p, size_t n) {
            if (at + n > in.size()) return false;
            std::memcpy(p, in.data() + at, n);
            at += n;
            return true;
        };
        auto bytes = [&](std::string& into) {
            uint64_t n = 0;
            if (!get(&n, 8) || n > in.size() - at) return false;
            into = in.substr(at, n);
            at += n;
            return true;
        };
        if (at >= in.size()) break;
        char type = in[at++];
        if (type != 'P' && type != 'C') return false;
        uint64_t idx = 0;
        if (!get(&idx, 8)) break;
        if (type == 'P') {
            std::string chunk;
            if (!bytes(chunk)) break;
            pos = at;
            prefix(idx, std::move(chunk));
            continue;
        }
        int32_t st = 0, code = 0, sig = 0;
        ChildResult r;
        if (!get(&st, 4) || !get(&code, 4) || !get(&sig, 4) || !get(&r.wall_s, 8) || !bytes(r.output) ||
            !bytes(r.error_tail))
            break;
        r.status = ChildResult::Status(st);
        r.exit_code = code;
        r.signal = sig;
        pos = at;
        child(idx, std::move(r));
    }
    in.erase(0, pos);
    return true;
}

// What a variant changes from the shared prefix at its branch point: its
// own suspend order, or its one more fault rule.
void diverge(BranchSite& site, const Scenario& base, const Scenario& variant) {
    if (variant.order != base.order) site.set_suspend_order(variant.order);
    if (variant.faults.faults.size() > base.faults.faults.size())
        site.ctx.faults.add_rule(variant.faults.faults.back(), variant.seed);
}
}  // namespace

void execute_branched(const Scenario& base, const std::vector<Branch>& branches, const std::vector<Scenario>& variants,
                      unsigned jobs, const std::function<void(size_t, RunResult)>& done) {
    if (variants.empty()) return;
    std::vector<Picos> points;
    for (const auto& b : branches) points.push_back(b.at);
    double limit = base.wall_limit_s;
    for (const auto& v : variants) limit += v.wall_limit_s / std::max(1u, jobs);
    // The parent judges and hands on each variant while the others run,
    // in the order they were forked (a function of the branches, not of
    // which child ends first).
    std::vector<size_t> fork_order, branch_of(variants.size(), 0);
    for (size_t i = 0; i < branches.size(); ++i)
        for (size_t k : branches[i].variants) {
            fork_order.push_back(k);
            branch_of[k] = i;
        }
    std::vector<StreamDecoder> at_branch(branches.size());  // the shared prefix decoded once, up to each branch
    std::map<size_t, ChildResult> finished;
    size_t next = 0;
    auto hand_on = [&](size_t k) {  // a finished variant, judged after its shared prefix
        done(k, judge_child(variants[k], std::move(finished[k]), &at_branch[branch_of[k]]));
        finished.erase(k);
    };
    auto release = [&] {
        for (; next < fork_order.size() && finished.count(fork_order[next]); ++next) hand_on(fork_order[next]);
    };
    bool garbled = false;
    auto consume = [&](std::string& out) {
        garbled = garbled || !take_frames(
            out,
            [&](size_t i, std::string chunk) {
                if (i >= branches.size()) return;
                if (i) at_branch[i] = at_branch[i - 1];
                at_branch[i].feed(chunk);
            },
            [&](size_t k, ChildResult r) {
                if (k >= variants.size()) return;
                finished[k] = std::move(r);
                release();
            });
    };
    ChildResult prefix = run_forked(
        [&](int fd) {
            WireWriter w(-1);  // the prefix stays in memory until it is handed on at a branch point
            ForkPool pool(jobs, [fd](size_t i, ChildResult r) { write_all(fd, encode_child(i, r)); });
            int mine = -1;  // in a variant child: its stream
            RunSummary sum = simulate(base, [&w](const Event& ev) { w.event(ev); }, points, [&](BranchSite& site, size_t i) {
                if (mine >= 0) return;  // a variant runs on past the later branch points
                // The parent gets the shared part once; each child sends only what follows.
                write_all(fd, encode_prefix(i, w.take()));
                for (size_t k : branches[i].variants)
                    if (std::optional<int> child_fd = pool.fork_child(k, variants[k].wall_limit_s)) {
                        ::close(fd);  // the prefix process's stream is not the variant's
                        mine = *child_fd;
                        diverge(site, base, variants[k]);
                        w.attach(mine);
                        return;
                    }
                if (i + 1 < branches.size()) return;
                pool.wait_all();  // the prefix process, past its last branch point: done
                ::close(fd);
                ::_exit(0);
            });
            if (mine < 0) return;  // not reached: the last branch point ends the prefix process
            w.summary(sum);
            w.flush();
            ::close(mine);
        },
        limit, consume);
    release();
    for (; next < fork_order.size(); ++next) {
        size_t k = fork_order[next];
        if (finished.count(k)) {  // after one that was lost
            hand_on(k);
            continue;
        }
        // The shared prefix died (or garbled its report) before this variant could run.
        ChildResult lost;
        lost.status = ChildResult::Status::Crashed;
        lost.signal = prefix.signal;
        lost.exit_code = prefix.exit_code ? prefix.exit_code : 1;
        lost.error_tail = std::string(garbled ? "the shared prefix run sent a garbled report: "
                                              : "the shared prefix run failed: ") + prefix.error_tail;
        done(k, judge_child(variants[k], std::move(lost)));
    }
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
