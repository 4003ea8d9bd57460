// Prefix sharing (execute_branched): one run forked at its branch points,
// the processes below it - the shared prefix, stems and their scouts, the
// variants - reporting to the parent in frames, and the parent putting each
// variant's stream together and judging it.
#include "sim/scenario/executor.h"

#include "sim/core/checkpoint.h"
#include "sim/core/turns.h"
#include "sim/core/context.h"
#include "sim/fault/injector.h"
#include "sim/scenario/run.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <csignal>
#include <cstring>
#include <deque>
#include <limits>
#include <tuple>
#include <map>
#include <memory>
#include <optional>
#include <set>

namespace quiesce {

namespace {
// A branched run's processes report to their parents in frames: a piece of
// their own stream since their last pause ('P': what they forked there -
// variants, and stems by token with their variants - and the piece), and
// each child as it ended ('C': how, and what it wrote: a variant its stream
// from its fork on, a stem its own frames).
void put_raw(std::string& out, const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
void put_u64(std::string& out, uint64_t v) { put_raw(out, &v, 8); }
void put_bytes(std::string& out, const std::string& bytes) {
    put_u64(out, bytes.size());
    out += bytes;
}

struct Forked {
    size_t id;                    // a variant, or a stem's token
    std::vector<size_t> members;  // a stem's variants (its scout's first)
};

std::string encode_piece(const std::vector<Forked>& forked, const std::string& bytes) {
    std::string out = "P";
    put_u64(out, forked.size());
    for (const Forked& f : forked) {
        put_u64(out, f.id);
        put_u64(out, f.members.size());
        for (size_t m : f.members) put_u64(out, m);
    }
    put_bytes(out, bytes);
    return out;
}

std::string encode_child(size_t index, const ChildResult& r) {
    std::string out = "C";
    int32_t st = int32_t(r.status), code = r.exit_code, sig = r.signal;
    put_u64(out, index);
    put_raw(out, &st, 4);
    put_raw(out, &code, 4);
    put_raw(out, &sig, 4);
    put_raw(out, &r.wall_s, 8);
    put_bytes(out, r.output);
    put_bytes(out, r.error_tail);
    return out;
}

// Takes the complete frames from the front of `in` (a frame may still be
// coming in): pieces to `piece(forked, bytes)`, children to
// `child(index, result)`. False when `in` holds a frame that makes no sense.
bool take_frames(std::string& in, const std::function<void(std::vector<Forked>, std::string)>& piece,
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
        uint64_t n = 0;
        if (!get(&n, 8)) break;
        if (type == 'P') {
            if (n > (in.size() - at) / 16) break;
            std::vector<Forked> forked(n);
            bool whole = true;
            for (auto& f : forked) {
                uint64_t id = 0, m = 0;
                if (!get(&id, 8) || !get(&m, 8) || m > (in.size() - at) / 8) {
                    whole = false;
                    break;
                }
                f.id = size_t(id);
                f.members.resize(m);
                for (auto& v : f.members) {
                    uint64_t x = 0;
                    get(&x, 8);
                    v = size_t(x);
                }
            }
            std::string chunk;
            if (!whole || !bytes(chunk)) break;
            pos = at;
            piece(std::move(forked), std::move(chunk));
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
        child(size_t(n), std::move(r));
    }
    in.erase(0, pos);
    return true;
}

}  // namespace

// The start of the phase `run`'s first device callback ran in (its latest
// start before that callback); kNever when no callback ran.
Picos first_callback_phase(const RunStream& run) {
    std::map<std::string, Picos> latest;
    for (const auto& ev : run.events) {
        if (ev.kind != EvKind::SliceBegin) continue;
        if (ev.category == "phase") latest[ev.name] = ev.ts;
        else if (ev.category == "callback") {
            auto it = latest.find(arg_value(ev, "phase"));
            return it != latest.end() && it->second ? it->second : kNever;
        }
    }
    return kNever;
}

// When `m` comes in `run`: its phase's first start, or its drive's nth
// persistence point; kNever when it never comes.
Picos mark_time(const RunStream& run, const Mark& m) {
    if (m.nth) {
        size_t n = 0;
        for (const auto& [drive, ts] : run.persistence)
            if (drive == m.drive && ++n == m.nth) return ts;
    } else {
        for (const auto& ev : run.events)
            if (ev.kind == EvKind::SliceBegin && ev.category == "phase" && ev.name == m.phase) return ev.ts;
    }
    return kNever;
}
std::vector<Fork> plan_forks(const RunStream& run, Picos now, bool at_start, const std::set<std::string>& taken,
                             const std::vector<size_t>& members, const std::vector<std::vector<Choice>>& steps) {
    std::optional<Picos> first_cb;
    // Each variant leaves by its earliest decision still to take (and those
    // at the same site; at one time the order before a fault, which reads
    // no order): the group of that site and those decisions.
    struct Group {
        std::vector<size_t> ks;
        std::vector<size_t> left;  // how many decisions each has still to take
    };
    std::map<std::tuple<Picos, int, std::vector<std::string>>, Group> groups;
    for (size_t k : members) {
        Picos best = kNever;
        int rank = 3;
        std::vector<std::string> first, all;
        for (const Choice& s : steps[k]) {
            if (taken.count(s.key)) continue;
            all.push_back(s.key);
            Picos t = kNever;
            if (s.where == Choice::Where::Start || s.where == Choice::Where::Begin) t = 0;
            else if (s.where == Choice::Where::FirstCallback) t = first_cb ? *first_cb : *(first_cb = first_callback_phase(run));
            else t = mark_time(run, s.mark);
            const int r = int(s.where);
            if (std::tie(t, r) < std::tie(best, rank)) {
                best = t;
                rank = r;
                first = {s.key};
            } else if (t == best && r == rank) {
                first.push_back(s.key);
            }
        }
        if (all.empty()) continue;  // nothing left: the process's own run
        if (best == kNever) first = all;  // nothing of it comes: taken at once, it changes nothing before
        Picos at = best == kNever ? now : best == 0 && at_start ? 0 : best > now + 1 ? best - 1 : now;
        std::sort(first.begin(), first.end());
        Group& g = groups[{at, rank, first}];
        g.ks.push_back(k);
        g.left.push_back(all.size() - first.size());
    }
    std::vector<Fork> out;
    for (auto& [where, g] : groups) {
        const auto& [at, rank, keys] = where;
        Fork stem{at, keys, std::nullopt, {}, true};
        for (size_t i = 0; i < g.ks.size(); ++i)
            if (!g.left[i] && !stem.alone) stem.alone = g.ks[i];
            else stem.members.push_back(g.ks[i]);
        // A stem runs its decisions to the end once: its own variant's run,
        // else a scout more - worth it for a schedule, a timing or an order
        // two or more follow, not for a fault (its run is mostly its own).
        if (!stem.members.empty() &&
            (stem.alone || (stem.members.size() >= 2 && rank < int(Choice::Where::At)))) {
            out.push_back(std::move(stem));
            continue;
        }
        for (size_t k : g.ks) {  // one by one, each taking all its decisions
            Fork f{at, {}, std::nullopt, {k}, false};
            for (const Choice& s : steps[k])
                if (!taken.count(s.key)) f.keys.push_back(s.key);
            out.push_back(std::move(f));
        }
    }
    auto first_of = [](const Fork& f) {
        size_t m = f.alone ? *f.alone : SIZE_MAX;
        for (size_t k : f.members) m = std::min(m, k);
        return m;
    };
    std::sort(out.begin(), out.end(), [&](const Fork& a, const Fork& b) {
        return std::make_pair(a.at, first_of(a)) < std::make_pair(b.at, first_of(b));
    });
    return out;
}

namespace {
// The processes of a branched run below the parent: the shared prefix, its
// stems and the variants that leave them. Each pauses where its own plan
// says, forks there, and reports in frames to its parent.
class Brancher {
public:
    Brancher(const Scenario& base, const RunStream& run, const std::vector<std::vector<Choice>>& steps,
             const std::vector<size_t>& members, const ScenarioSource& variants, unsigned jobs, Branching way)
        : base_(base), run_(run), steps_(steps), members_(members), variants_(variants), jobs_(jobs),
          rollback_(way == Branching::Rollback) {}

    // A stem's budget: its scout's and its own run, and its variants'
    // (with a scout each, should they be stems too).
    double stem_limit(const Fork& f) const {
        double limit = 2 * base_.wall_limit_s;
        if (f.alone) limit += variants_.limits(*f.alone).wall_s / std::max(1u, jobs_);
        for (size_t k : f.members) limit += (variants_.limits(k).wall_s + base_.wall_limit_s) / std::max(1u, jobs_);
        return limit;
    }

    // The prefix process, reporting to `fd`; a variant's process ends
    // where its run does.
    void run(int fd) {
        out_ = fd;
        std::string why;
        rollback_ = rollback_ && Checkpoint::available(why);  // else each variant forked
        pool_ = make_pool();
        plan(run_, 0, true, members_);
        simulate(
            base_, [this](const Event& ev) { w_.event(ev); },
            [this]() -> std::optional<Picos> {
                if (stops_.empty()) return std::nullopt;
                return stops_.front().at;
            },
            [this](BranchSite& site) {
                Stop stop = std::move(stops_.front());
                stops_.pop_front();
                fork_here(site, stop.at, stop.forks);
            },
            [this](const RunSummary& sum) {
                if (in_variant_ != SIZE_MAX) end_in_turn(sum);
                send_and_end(w_, out_, sum);  // a variant: the rest of its stream
            });
    }

private:
    struct Stop {
        Picos at;
        std::vector<Fork> forks;
    };

    void plan(const RunStream& seen, Picos now, bool at_start, const std::vector<size_t>& members) {
        stops_.clear();
        for (Fork& f : plan_forks(seen, now, at_start, taken_, members, steps_)) {
            if (stops_.empty() || stops_.back().at != f.at) stops_.push_back({f.at, {}});
            stops_.back().forks.push_back(std::move(f));
        }
    }

    // A process that runs variants of a pause in turn (a worker): the
    // variants it has, and those it has reported.
    struct Worker {
        std::vector<size_t> variants;
        size_t reported = 0;
    };

    std::unique_ptr<ForkPool> make_pool() {
        workers_.clear();
        auto pool = std::make_unique<ForkPool>(jobs_, [this](size_t i, ChildResult r) {
            if (auto w = workers_.find(i); w != workers_.end()) {
                worker_ended(w->second, std::move(r));
                workers_.erase(w);
                return;
            }
            if (i == scout_) {  // a stem learns its decisions' times from it
                scout_output_ = r.output;
                if (i >= variants_.size()) return;  // a scout that is no variant of its own
            }
            write_all(out_, encode_child(i, r));
        });
        // A worker's variants are handed on as each ends.
        pool->on_output([this](size_t i, std::string& out) {
            if (auto w = workers_.find(i); w != workers_.end()) pass_on(w->second, out);
        });
        return pool;
    }

    // A worker's reports ('C' frames, one a variant) as they come in.
    void pass_on(Worker& w, std::string& out) {
        take_frames(
            out, [](std::vector<Forked>, std::string) {},
            [&](size_t k, ChildResult r) {
                ++w.reported;
                write_all(out_, encode_child(k, r));
            });
    }

    // A worker ended. Its variants report their own crashes and timeouts
    // (a signal rolls it back); those it never reported died with it - the
    // one it ran by what it died of, the rest not run.
    void worker_ended(Worker& w, ChildResult r) {
        pass_on(w, r.output);
        const std::string how =
            r.status == ChildResult::Status::TimedOut ? (r.cpu_limit ? "was killed after its CPU-time limit"
                                                                     : "was killed after its wall-clock limit")
            : r.signal ? fmt::format("died of signal {}", r.signal)
                       : fmt::format("exited with status {}", r.exit_code);
        for (size_t j = w.reported; j < w.variants.size(); ++j) {
            ChildResult lost;
            lost.status = j == w.reported ? r.status : ChildResult::Status::Crashed;
            lost.signal = r.signal;
            lost.cpu_limit = r.cpu_limit;
            lost.exit_code = r.exit_code ? r.exit_code : 1;
            lost.error_tail = fmt::format("{}the process running this pause's variants in turn {}: {}",
                                          j == w.reported ? "" : "not run: ", how, r.error_tail);
            write_all(out_, encode_child(w.variants[j], lost));
        }
    }

    // Takes variant `k`'s decisions named in `keys` at `site`.
    void take(BranchSite& site, size_t k, const std::vector<std::string>& keys) {
        bool timed = false;
        std::optional<Scenario> made;  // variant k, made once it is needed
        auto variant = [&]() -> const Scenario& {
            if (!made) made = variants_[k];
            return *made;
        };
        for (const Choice& s : steps_[k]) {
            if (std::find(keys.begin(), keys.end(), s.key) == keys.end()) continue;
            taken_.insert(s.key);
            if (s.where == Choice::Where::Start) {  // before the first event: as if the run had started with them
                if (!timed) set_timing_and_schedule(site.ctx, variant());
                timed = true;
            } else if (s.where == Choice::Where::FirstCallback) {
                site.set_suspend_order(variant().order);
            } else {  // At, Begin
                site.ctx.faults.add_rule(variant().faults.faults.back(), variant().seed);
            }
        }
    }

    // The variants alone at this pause (no stem), in runs of consecutive
    // ones a worker each runs in turn: up to one worker per job, at least
    // kInTurn variants each (a worker costs two forks and a take(), about
    // what forking six variants more would: docs/performance.md); none
    // with fewer, or when rolling back is off.
    std::vector<std::vector<size_t>> in_turn(const std::vector<Fork>& forks) const {
        static constexpr size_t kInTurn = 8;
        std::vector<size_t> alone;
        for (size_t i = 0; i < forks.size(); ++i)
            if (!forks[i].stem) alone.push_back(i);
        std::vector<std::vector<size_t>> out;
        if (!rollback_ || alone.size() < kInTurn) return out;
        const size_t n = std::clamp<size_t>(alone.size() / kInTurn, 1, std::max(1u, jobs_));
        for (size_t w = 0, at = 0; w < n; ++w) {
            const size_t take = (alone.size() - at) / (n - w);
            out.emplace_back(alone.begin() + long(at), alone.begin() + long(at + take));
            at += take;
        }
        return out;
    }

    // The parent gets this process's stream since its last pause once; each
    // child sends only what follows.
    void fork_here(BranchSite& site, Picos now, const std::vector<Fork>& forks) {
        std::vector<Forked> forked;
        for (const Fork& f : forks) {
            if (!f.stem) {
                forked.push_back({f.members[0], {}});
                continue;
            }
            Forked st{variants_.size() + 1 + tokens_++, {}};  // variants_.size(): a scout's
            if (f.alone) st.members.push_back(*f.alone);
            st.members.insert(st.members.end(), f.members.begin(), f.members.end());
            forked.push_back(std::move(st));
        }
        write_all(out_, encode_piece(forked, w_.take()));
        const std::vector<std::vector<size_t>> turns = in_turn(forks);
        std::vector<size_t> turn_of(forks.size(), SIZE_MAX);
        for (size_t t = 0; t < turns.size(); ++t)
            for (size_t i : turns[t]) turn_of[i] = t;
        for (size_t i = 0; i < forks.size(); ++i) {
            const Fork& f = forks[i];
            if (turn_of[i] != SIZE_MAX) {
                const std::vector<size_t>& turn = turns[turn_of[i]];
                if (turn[0] != i) continue;  // forked with its turn's first
                std::vector<Fork> mine;
                Worker w;
                double wall = base_.wall_limit_s, cpu = base_.cpu_limit_s;
                for (size_t j : turn) {
                    mine.push_back(forks[j]);
                    const RunLimits v = variants_.limits(forks[j].members[0]);
                    w.variants.push_back(forks[j].members[0]);
                    wall += v.wall_s;
                    cpu += v.cpu_s;
                }
                const size_t token = variants_.size() + 1 + tokens_++;
                workers_[token] = std::move(w);
                if (std::optional<int> fd = pool_->fork_child(token, RunLimits(wall, cpu))) {
                    become_worker(site, std::move(mine), *fd);
                    return;
                }
                continue;
            }
            if (!f.stem) {
                if (fork_alone(site, f)) return;
                continue;
            }
            if (std::optional<int> fd = pool_->fork_child(forked[i].id, RunLimits(stem_limit(f)))) {
                become_stem(site, now, f, *fd);
                return;
            }
        }
        if (stops_.empty()) end_here();  // past this process's last pause
    }

    // Forks variant `f` alone, taking all its decisions: true in the child,
    // which runs it on from here.
    bool fork_alone(BranchSite& site, const Fork& f) {
        std::optional<int> fd = pool_->fork_child(f.members[0], variants_.limits(f.members[0]));
        if (!fd) return false;
        become_variant(*fd);
        take(site, f.members[0], f.keys);
        return true;
    }

    // This process is done: its children waited for, its report closed.
    [[noreturn]] void end_here() {
        pool_->wait_all();
        ::close(out_);
        ::_exit(0);
    }

    // A stem or a worker forked here: it reports to `fd`, past its parent's
    // later pauses, and has children of its own.
    void become_parent(int fd) {
        stops_.clear();
        ::close(out_);
        out_ = fd;
        pool_ = make_pool();  // its parent's children are not its own
        tokens_ = 0;
    }

    // A worker: runs its variants of the pause one after another, memory
    // rolled back to the pause after each (sim/core/turns.h), and reports
    // each as a forked variant would ('C'), its crash or limit too. Where
    // no turns can be run here, forks each.
    void become_worker(BranchSite& site, std::vector<Fork> turn, int fd) {
        become_parent(fd);
        turn_ = std::move(turn);
        turns_ = std::make_unique<Turns>(turn_.size());
        std::string why;
        if (!turns_->ready(why)) {
            for (const Fork& f : turn_)
                if (fork_alone(site, f)) return;
            end_here();
        }
        next_in_turn(site);
    }

    // Returns once a variant of the worker's turn runs on from the pause.
    void next_in_turn(BranchSite& site) {
        const size_t done = turns_->next();  // returns again after each variant, memory as here
        if (done && turns_->died())
            write_all(out_, encode_child(turn_[done - 1].members[0], in_turn_result(turns_->died())));
        if (done >= turn_.size()) end_here();
        const Fork& f = turn_[done];
        in_variant_ = f.members[0];
        last_in_turn_ = done + 1 == turn_.size();
        w_.attach(turns_->stream_fd());
        take(site, f.members[0], f.keys);
        turns_->start(variants_.limits(f.members[0]).cpu_s, variants_.limits(f.members[0]).wall_s);
    }

    // What the variant run in turn wrote, and how it ended (`sig`: the
    // signal that ended it, 0: its end), as a forked child's result.
    ChildResult in_turn_result(int sig) const {
        ChildResult r;
        r.output = turns_->output();
        r.error_tail = turns_->error_tail();
        r.wall_s = turns_->wall_s();
        if (sig == SIGPROF || sig == SIGALRM) {
            r.status = ChildResult::Status::TimedOut;
            r.cpu_limit = sig == SIGPROF;
        } else if (sig) {
            r.status = ChildResult::Status::Crashed;
            r.signal = sig;
        }
        return r;
    }

    // A variant run in turn ended: its stream leaves as a child's would,
    // then memory goes back to the pause (the last of the turn just ends).
    [[noreturn]] void end_in_turn(const RunSummary& sum) {
        turns_->stop();
        w_.summary(sum);
        w_.flush();
        write_all(out_, encode_child(in_variant_, in_turn_result(0)));
        if (last_in_turn_) end_here();
        turns_->end();
    }

    void become_variant(int fd) {
        stops_.clear();  // a variant runs on past the later pauses
        ::close(out_);   // its parent's report is not its stream
        out_ = fd;
        w_.attach(fd);
    }

    // Takes the stem's decisions, runs them to the end once in the scout,
    // and plans its variants from the scout's run.
    void become_stem(BranchSite& site, Picos now, const Fork& f, int fd) {
        become_parent(fd);
        take(site, f.alone ? *f.alone : f.members[0], f.keys);
        scout_ = f.alone ? *f.alone : variants_.size();
        if (f.alone) write_all(out_, encode_piece({{*f.alone, {}}}, ""));
        if (std::optional<int> scout =
                pool_->fork_child(scout_, f.alone ? variants_.limits(*f.alone) : run_limits(base_))) {
            become_variant(*scout);
            return;
        }
        pool_->wait_all();
        plan(decode_stream(scout_output_), now, false, f.members);
        if (stops_.empty()) end_here();
    }

    const Scenario& base_;
    const RunStream& run_;
    const std::vector<std::vector<Choice>>& steps_;
    const std::vector<size_t>& members_;
    const ScenarioSource& variants_;
    const unsigned jobs_;
    std::set<std::string> taken_;  // the decisions this process took
    std::deque<Stop> stops_;       // this process's pauses, ascending
    WireWriter w_{-1};             // the stream since the last pause, until a variant attaches its pipe
    std::unique_ptr<ForkPool> pool_;
    int out_ = -1;  // where this process reports: frames (prefix, stem), or its stream (variant)
    size_t tokens_ = 0;
    size_t scout_ = SIZE_MAX;
    std::string scout_output_;
    bool rollback_;                // a pause's variants run in turn by workers, not forked each
    std::map<size_t, Worker> workers_;  // this process's workers, by token
    // A worker's: its variants, run in turn.
    std::vector<Fork> turn_;
    std::unique_ptr<Turns> turns_;
    size_t in_variant_ = SIZE_MAX;  // the variant running in turn
    bool last_in_turn_ = false;
};

// The parent's side: decodes each process's pieces once and hands on each
// variant, judged after its shared part, in the order they were forked.
class Assembly {
public:
    Assembly(const std::vector<size_t>& members, const ScenarioSource& variants,
             const std::function<void(size_t, RunResult)>& done)
        : variants_(variants), done_(done), forked_(members), handed_(variants.size(), false),
          decoder_of_(variants.size(), nullptr) {}

    // The prefix process's frames, as they come in.
    void take(std::string& out) {
        garbled_ = garbled_ || !frames(out, top_);
        release();
    }

    // After the prefix process ended: what never came is lost with it.
    void finish(const ChildResult& prefix) {
        release();
        ChildResult lost = lost_result(prefix, garbled_ ? "the shared prefix run sent a garbled report: "
                                                        : "the shared prefix run failed: ");
        for (; top_.next < top_.order.size(); ++top_.next) {
            size_t i = top_.order[top_.next];
            if (i < variants_.size()) hand_on(i, lost);
            else if (auto it = top_.stems.find(i); it != top_.stems.end())
                for (size_t j : it->second.members) hand_on(j, lost);
        }
        for (size_t k : forked_) hand_on(k, lost);
    }

private:
    // One process's report: its stream's pieces, its stems (by their token
    // in this report), and the order to hand on in.
    struct Report {
        const StreamDecoder* last = nullptr;
        struct StemAt {
            std::vector<size_t> members;
            const StreamDecoder* from;
        };
        std::map<size_t, StemAt> stems;
        std::vector<size_t> order;  // variants and stems' tokens, as forked; a stem's variants in its place once in
        size_t next = 0;            // what is handed on before it (the top report)
    };

    bool frames(std::string& in, Report& rep) {
        return take_frames(
            in,
            [&](std::vector<Forked> forked, std::string chunk) {
                decoders_.push_back(rep.last ? *rep.last : StreamDecoder());
                decoders_.back().feed(chunk);
                rep.last = &decoders_.back();
                for (Forked& f : forked) {
                    if (f.id < variants_.size()) decoder_of_[f.id] = rep.last;
                    else rep.stems[f.id] = {std::move(f.members), rep.last};
                    rep.order.push_back(f.id);
                }
            },
            [&](size_t i, ChildResult r) {
                if (i < variants_.size()) finished_[i] = std::move(r);
                else if (rep.stems.count(i)) stem_ended(rep, i, std::move(r));
            });
    }

    // A stem's report: its own pieces and children (its stems' reports
    // within), in its place in the order.
    void stem_ended(Report& parent, size_t token, ChildResult r) {
        const Report::StemAt& at = parent.stems[token];
        Report inner;
        inner.last = at.from;
        bool garbled = !frames(r.output, inner);
        ChildResult lost = lost_result(r, garbled ? "the shared run of its decisions sent a garbled report: "
                                                  : "the shared run of its decisions failed: ");
        std::vector<size_t> flat;  // a stem within that never reported: its variants are lost with it
        for (size_t i : inner.order)
            if (i < variants_.size()) flat.push_back(i);
            else if (auto it = inner.stems.find(i); it != inner.stems.end())
                flat.insert(flat.end(), it->second.members.begin(), it->second.members.end());
        for (size_t j : at.members) {
            if (std::find(flat.begin(), flat.end(), j) == flat.end()) flat.push_back(j);
            if (!finished_.count(j)) {
                finished_[j] = lost;
                decoder_of_[j] = nullptr;
            }
        }
        auto it = std::find(parent.order.begin() + long(parent.next), parent.order.end(), token);
        if (it == parent.order.end()) it = parent.order.insert(parent.order.end(), token);
        it = parent.order.erase(it);
        parent.order.insert(it, flat.begin(), flat.end());
    }

    static ChildResult lost_result(const ChildResult& why, const char* what) {
        ChildResult lost;
        lost.status = ChildResult::Status::Crashed;
        lost.signal = why.signal;
        lost.exit_code = why.exit_code ? why.exit_code : 1;
        lost.error_tail = std::string(what) +
                          (why.status == ChildResult::Status::TimedOut
                               ? (why.cpu_limit ? "killed after its CPU-time limit" : "killed after its wall-clock limit")
                               : why.error_tail);
        return lost;
    }

    void release() {
        for (; top_.next < top_.order.size(); ++top_.next) {
            size_t i = top_.order[top_.next];
            if (i >= variants_.size() || !finished_.count(i)) break;  // a stem not back yet, or a variant running
            hand_on(i, finished_[i]);
        }
    }

    void hand_on(size_t k, const ChildResult& otherwise) {
        if (k >= handed_.size() || handed_[k]) return;
        handed_[k] = true;
        auto it = finished_.find(k);
        ChildResult r = it != finished_.end() ? std::move(it->second) : otherwise;
        const StreamDecoder* prefix = it != finished_.end() ? decoder_of_[k] : nullptr;
        if (it != finished_.end()) finished_.erase(it);
        done_(k, judge_child(variants_[k], std::move(r), prefix));
    }

    const ScenarioSource& variants_;
    const std::function<void(size_t, RunResult)>& done_;
    std::vector<size_t> forked_;  // every variant of the branched run
    std::vector<bool> handed_;
    std::deque<StreamDecoder> decoders_;            // each process's stream decoded once, up to each of its pauses
    std::vector<const StreamDecoder*> decoder_of_;  // the shared part a variant follows
    Report top_;
    std::map<size_t, ChildResult> finished_;
    bool garbled_ = false;
};
}  // namespace

void execute_branched(const Scenario& base, const RunStream& run, const std::vector<std::vector<Choice>>& steps,
                      const std::vector<size_t>& members, const ScenarioSource& variants, unsigned jobs,
                      const std::function<void(size_t, RunResult)>& done, Branching way) {
    if (members.empty()) return;
    Scenario prefix = base;  // a stem finds its followers' persistence points in its scout's run
    double limit = base.wall_limit_s;
    for (size_t k : members) {
        limit += (variants.limits(k).wall_s + base.wall_limit_s) / std::max(1u, jobs);
        for (const Choice& s : steps[k]) prefix.note_persistence = prefix.note_persistence || s.mark.nth;
    }
    Brancher brancher(prefix, run, steps, members, variants, jobs, way);
    Assembly assembly(members, variants, done);
    ChildResult ended = run_forked([&brancher](int fd) { brancher.run(fd); }, limit,
                                   [&assembly](std::string& out) { assembly.take(out); });
    assembly.finish(ended);
}

}  // namespace quiesce
