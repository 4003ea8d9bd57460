// Prefix sharing (execute_branched): one run forked at its branch points,
// the processes below it - the shared prefix, stems and their scouts, the
// variants - reporting to the parent in frames, and the parent putting each
// variant's stream together and judging it.
#include "sim/scenario/executor.h"

#include "sim/core/context.h"
#include "sim/fault/injector.h"
#include "sim/scenario/run.h"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>

namespace quiesce {

namespace {
// A branched run's processes report to their parents in frames: a piece of
// their own stream since their last pause ('P': what they forked there -
// variants, and stems by token - and the piece), and each child as it
// ended ('C': how, and what it wrote: a variant its stream from its fork
// on, a stem its own frames).
void put_raw(std::string& out, const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
void put_u64(std::string& out, uint64_t v) { put_raw(out, &v, 8); }
void put_bytes(std::string& out, const std::string& bytes) {
    put_u64(out, bytes.size());
    out += bytes;
}

std::string encode_piece(const std::vector<size_t>& forked, const std::string& bytes) {
    std::string out = "P";
    put_u64(out, forked.size());
    for (size_t i : forked) put_u64(out, i);
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
bool take_frames(std::string& in, const std::function<void(std::vector<size_t>, std::string)>& piece,
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
            if (n > (in.size() - at) / 8) break;
            std::vector<size_t> forked(n);
            for (auto& i : forked) {
                uint64_t v = 0;
                get(&v, 8);
                i = size_t(v);
            }
            std::string chunk;
            if (!bytes(chunk)) break;
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

// What a variant changes from the shared prefix at its branch point: its
// own suspend order, or its one more fault rule, or both.
void diverge(BranchSite& site, const Scenario& base, const Scenario& variant) {
    if (variant.order != base.order) site.set_suspend_order(variant.order);
    if (variant.faults.faults.size() > base.faults.faults.size())
        site.ctx.faults.add_rule(variant.faults.faults.back(), variant.seed);
}

// When a stem's follower forks: 1 ps before its mark in the scout's run
// (`seen`, from `now` on), or at once when the scout never got there (a
// rule that waits for a phase or a persistence point cannot fire early).
Picos fork_time(const RunStream& seen, const Mark& m, Picos now) {
    Picos t = 0;
    if (m.nth) {
        size_t n = 0;
        for (const auto& [drive, ts] : seen.persistence)
            if (drive == m.drive && ++n == m.nth) {
                t = ts;
                break;
            }
    } else {
        for (const auto& ev : seen.events)
            if (ev.kind == EvKind::SliceBegin && ev.category == "phase" && ev.name == m.phase) {
                t = ev.ts;
                break;
            }
    }
    return t > now + 1 ? t - 1 : now;
}

// The processes of a branched run below the parent: the shared prefix, its
// stems and the variants that leave either. Each pauses where its own plan
// says, forks there, and reports in frames to its parent.
class Brancher {
public:
    Brancher(const Scenario& base, const std::vector<Branch>& branches, const std::vector<Scenario>& variants,
             unsigned jobs)
        : base_(base), branches_(branches), variants_(variants), jobs_(jobs) {
        for (const auto& b : branches)
            for (const auto& st : b.stems) stems_.push_back(&st);
    }
    // A stem's token in the frames: after the variants' indices.
    size_t token(const Stem* st) const {
        return variants_.size() + size_t(std::find(stems_.begin(), stems_.end(), st) - stems_.begin());
    }
    double stem_limit(const Stem& st) const {
        double limit = 2 * base_.wall_limit_s;
        for (const auto& f : st.followers) limit += variants_[f.first].wall_limit_s / std::max(1u, jobs_);
        return limit;
    }

    // The prefix process, reporting to `fd`; a variant's process ends
    // where its run does.
    void run(int fd) {
        out_ = fd;
        pool_ = make_pool();
        for (const Branch& b : branches_) {
            std::vector<const Stem*> stems;
            for (const auto& st : b.stems) stems.push_back(&st);
            stops_.push_back({b.at, [this, &b, stems](BranchSite& site) { fork_here(site, b.at, b.variants, stems); }});
        }
        simulate(
            base_, [this](const Event& ev) { w_.event(ev); },
            [this]() -> std::optional<Picos> {
                if (stops_.empty()) return std::nullopt;
                return stops_.front().at;
            },
            [this](BranchSite& site) {
                Stop stop = std::move(stops_.front());
                stops_.pop_front();
                stop.act(site);
            },
            [this](const RunSummary& sum) { send_and_end(w_, out_, sum); });  // a variant: the rest of its stream
    }

private:
    struct Stop {
        Picos at;
        std::function<void(BranchSite&)> act;
    };

    std::unique_ptr<ForkPool> make_pool() {
        return std::make_unique<ForkPool>(jobs_, [this](size_t i, ChildResult r) {
            if (i == scout_) {  // a stem learns its order's times from it
                scout_output_ = r.output;
                if (i >= variants_.size()) return;  // a scout that is no variant of its own
            }
            write_all(out_, encode_child(i, r));
        });
    }

    // The parent gets this process's stream since its last pause once; each
    // child sends only what follows.
    void fork_here(BranchSite& site, Picos now, const std::vector<size_t>& variants,
                   const std::vector<const Stem*>& stems) {
        std::vector<size_t> forked = variants;
        for (const Stem* st : stems) forked.push_back(token(st));
        write_all(out_, encode_piece(forked, w_.take()));
        for (size_t k : variants)
            if (std::optional<int> fd = pool_->fork_child(k, variants_[k].wall_limit_s)) {
                become_variant(*fd);
                diverge(site, base_, variants_[k]);
                return;
            }
        for (const Stem* st : stems)
            if (std::optional<int> fd = pool_->fork_child(token(st), stem_limit(*st))) {
                become_stem(site, now, *st, *fd);
                return;
            }
        if (!stops_.empty()) return;
        pool_->wait_all();  // past this process's last pause: done
        ::close(out_);
        ::_exit(0);
    }

    void become_variant(int fd) {
        stops_.clear();  // a variant runs on past the later pauses
        ::close(out_);   // its parent's report is not its stream
        out_ = fd;
        w_.attach(fd);
    }

    // Takes the stem's order (and schedule and timing), runs it to the end
    // once in the scout, and plans the followers' forks at their marks in
    // the scout's run.
    void become_stem(BranchSite& site, Picos now, const Stem& st, int fd) {
        stops_.clear();
        ::close(out_);
        out_ = fd;
        pool_ = make_pool();  // its parent's children are not the stem's
        if (!st.order.empty()) site.set_suspend_order(st.order);
        if (!st.rules.empty()) {  // before the first event: as if the run had started with them
            Scenario whole = base_;
            add_cli_faults(whole, st.rules);
            set_timing_and_schedule(site.ctx, whole);
        }
        scout_ = st.alone ? *st.alone : token(&st);
        if (st.alone) write_all(out_, encode_piece({*st.alone}, ""));
        if (std::optional<int> scout = pool_->fork_child(scout_, st.alone ? variants_[*st.alone].wall_limit_s
                                                                          : base_.wall_limit_s)) {
            become_variant(*scout);
            return;
        }
        pool_->wait_all();
        RunStream seen = decode_stream(scout_output_);
        std::map<Picos, std::vector<size_t>> at;
        for (const auto& [k, mark] : st.followers) at[fork_time(seen, mark, now)].push_back(k);
        for (auto& [t, ks] : at)
            stops_.push_back({t, [this, t = t, ks = ks](BranchSite& s) { fork_here(s, t, ks, {}); }});
        if (stops_.empty()) {
            ::close(out_);
            ::_exit(0);
        }
    }

    const Scenario& base_;
    const std::vector<Branch>& branches_;
    const std::vector<Scenario>& variants_;
    const unsigned jobs_;
    std::vector<const Stem*> stems_;
    std::deque<Stop> stops_;  // this process's pauses, ascending
    WireWriter w_{-1};        // the stream since the last pause, until a variant attaches its pipe
    std::unique_ptr<ForkPool> pool_;
    int out_ = -1;  // where this process reports: frames (prefix, stem), or its stream (variant)
    size_t scout_ = SIZE_MAX;
    std::string scout_output_;
};

// The parent's side: decodes each process's pieces once and hands on each
// variant, judged after its shared part, in the order they were forked.
class Assembly {
public:
    Assembly(const std::vector<Branch>& branches, const std::vector<Scenario>& variants,
             const std::function<void(size_t, RunResult)>& done)
        : variants_(variants), done_(done), handed_(variants.size(), false) {
        for (const auto& b : branches) {
            forked_.insert(forked_.end(), b.variants.begin(), b.variants.end());
            for (const auto& st : b.stems) {
                std::vector<size_t> members;
                if (st.alone) members.push_back(*st.alone);
                for (const auto& f : st.followers) members.push_back(f.first);
                forked_.insert(forked_.end(), members.begin(), members.end());
                stems_.push_back(std::move(members));
            }
        }
        decoder_of_.assign(variants.size() + stems_.size(), nullptr);
    }

    // The prefix process's frames, as they come in.
    void take(std::string& out) {
        garbled_ = garbled_ || !frames(out, top_, order_, true);
        release();
    }

    // After the prefix process ended: what never came is lost with it.
    void finish(const ChildResult& prefix) {
        release();
        ChildResult lost = lost_result(prefix, garbled_ ? "the shared prefix run sent a garbled report: "
                                                        : "the shared prefix run failed: ");
        for (; next_ < order_.size(); ++next_)
            if (order_[next_] >= variants_.size())
                for (size_t j : stems_[order_[next_] - variants_.size()]) hand_on(j, lost);
            else
                hand_on(order_[next_], lost);
        for (size_t k : forked_) hand_on(k, lost);
    }

private:
    bool frames(std::string& in, const StreamDecoder*& last, std::vector<size_t>& order, bool top) {
        return take_frames(
            in,
            [&](std::vector<size_t> forked, std::string chunk) {
                decoders_.push_back(last ? *last : StreamDecoder());
                decoders_.back().feed(chunk);
                last = &decoders_.back();
                for (size_t i : forked)
                    if (i < decoder_of_.size() && (top || i < variants_.size())) {
                        decoder_of_[i] = last;
                        order.push_back(i);
                    }
            },
            [&](size_t i, ChildResult r) {
                if (i < variants_.size()) finished_[i] = std::move(r);
                else if (top && i < decoder_of_.size()) stem_ended(i, std::move(r));
            });
    }

    // A stem's report: its own pieces and children, in its place in the order.
    void stem_ended(size_t token, ChildResult r) {
        std::vector<size_t> inner;
        const StreamDecoder* last = decoder_of_[token];
        bool garbled = !frames(r.output, last, inner, false);
        ChildResult lost = lost_result(r, garbled ? "the shared run of its order sent a garbled report: "
                                                  : "the shared run of its order failed: ");
        for (size_t j : stems_[token - variants_.size()]) {
            if (std::find(inner.begin(), inner.end(), j) == inner.end()) inner.push_back(j);
            if (!finished_.count(j)) {
                finished_[j] = lost;
                decoder_of_[j] = nullptr;
            }
        }
        auto it = std::find(order_.begin() + long(next_), order_.end(), token);
        if (it == order_.end()) it = order_.insert(order_.end(), token);
        it = order_.erase(it);
        order_.insert(it, inner.begin(), inner.end());
    }

    static ChildResult lost_result(const ChildResult& why, const char* what) {
        ChildResult lost;
        lost.status = ChildResult::Status::Crashed;
        lost.signal = why.signal;
        lost.exit_code = why.exit_code ? why.exit_code : 1;
        lost.error_tail = std::string(what) +
                          (why.status == ChildResult::Status::TimedOut ? "killed after its wall-clock limit" : why.error_tail);
        return lost;
    }

    void release() {
        for (; next_ < order_.size(); ++next_) {
            size_t i = order_[next_];
            if (i >= variants_.size() || !finished_.count(i)) break;  // a stem not back yet, or a variant running
            hand_on(i, finished_[i]);
        }
    }

    void hand_on(size_t k, const ChildResult& otherwise) {
        if (handed_[k]) return;
        handed_[k] = true;
        auto it = finished_.find(k);
        ChildResult r = it != finished_.end() ? std::move(it->second) : otherwise;
        const StreamDecoder* prefix = it != finished_.end() ? decoder_of_[k] : nullptr;
        if (it != finished_.end()) finished_.erase(it);
        done_(k, judge_child(variants_[k], std::move(r), prefix));
    }

    const std::vector<Scenario>& variants_;
    const std::function<void(size_t, RunResult)>& done_;
    std::vector<size_t> forked_;               // every variant, in the order they fork
    std::vector<std::vector<size_t>> stems_;   // each stem's variants (its scout's first)
    std::deque<StreamDecoder> decoders_;       // each process's stream decoded once, up to each of its pauses
    std::vector<const StreamDecoder*> decoder_of_;  // the shared part a variant (or stem) follows
    const StreamDecoder* top_ = nullptr;
    std::vector<size_t> order_;  // the order to hand on in: as forked, a stem's members in its place
    size_t next_ = 0;
    std::map<size_t, ChildResult> finished_;
    std::vector<bool> handed_;
    bool garbled_ = false;
};
}  // namespace

void execute_branched(const Scenario& base, const std::vector<Branch>& branches, const std::vector<Scenario>& variants,
                      unsigned jobs, const std::function<void(size_t, RunResult)>& done) {
    if (variants.empty()) return;
    Scenario prefix = base;  // a stem finds its followers' persistence points in its scout's run
    double limit = base.wall_limit_s;
    for (const auto& b : branches) {
        for (size_t k : b.variants) limit += variants[k].wall_limit_s / std::max(1u, jobs);
        for (const auto& st : b.stems) {
            limit += (st.alone ? variants[*st.alone].wall_limit_s : base.wall_limit_s) / std::max(1u, jobs);
            for (const auto& [k, mark] : st.followers) {
                limit += variants[k].wall_limit_s / std::max(1u, jobs);
                prefix.note_persistence = prefix.note_persistence || mark.nth;
            }
        }
    }
    Brancher brancher(prefix, branches, variants, jobs);
    Assembly assembly(branches, variants, done);
    ChildResult ended = run_forked([&brancher](int fd) { brancher.run(fd); }, limit,
                                   [&assembly](std::string& out) { assembly.take(out); });
    assembly.finish(ended);
}

}  // namespace quiesce
