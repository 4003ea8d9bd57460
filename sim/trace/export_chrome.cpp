// The Chrome Trace Event export (docs/trace-schema.md, "Viewer commands"):
// what the Perfetto UI, chrome://tracing and speedscope draw.
#include "sim/trace/export.h"

#include "sim/core/errors.h"
#include "sim/trace/rows.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <optional>

namespace quiesce {

namespace {

using json = nlohmann::json;

// Trace Event timestamps are microseconds; ours are picoseconds.
double us(uint64_t ps) { return double(ps) / 1e6; }

// A complete event's duration as viewers add it. speedscope first
// subtracts the earliest ts of the event's thread from every ts (`first`,
// the thread's first complete event) and then adds dur: in that frame
// (ts - first) + dur is (end - first), or the largest sum below it where no
// dur gives it exactly, so a slice that ends where the next on its thread
// begins does not pass it by an ulp (which would nest the next slice in
// it). Perfetto and chrome://tracing add ts + dur as written: there the sum
// never passes us(end) either.
double us_dur(uint64_t ts, uint64_t dur, uint64_t first) {
    const double t = us(ts), end = us(ts + dur);
    const double t0 = t - us(first), end0 = end - us(first);
    double d = end0 - t0;
    while (t0 + d < end0) d = std::nextafter(d, end0);
    while (t0 + d > end0) d = std::nextafter(d, 0.0);  // no sum lands on end0 exactly: the one below
    while (t + d > end) d = std::nextafter(d, 0.0);
    return d;
}

// One event a line, each built and escaped by nlohmann::json (bytes that are
// not UTF-8 become U+FFFD): the document is never held as one JSON tree,
// which for a million events costs more than reading them.
class TraceEventWriter {
public:
    TraceEventWriter() : out_("{\"traceEvents\":[\n") {}
    void add(const json& event) {
        if (!first_) out_ += ",\n";
        out_ += text(event);
        first_ = false;
    }
    std::string finish(const json& other) {
        json tail = other;
        return out_ + "\n]," + text(tail).substr(1) + "\n";
    }

private:
    static std::string text(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
    std::string out_;
    bool first_ = true;
};

// A stored args or evidence cell as an object: {"raw": text} when it is
// JSON of another kind; nothing when it is empty.
json args_of(const Row& c, size_t i) {
    json a = c.json(i);
    if (a.is_object()) return a;
    return json{{"raw", c[i]}};
}

// The slices of each track, in order of start (then depth): where a flow
// event may bind.
class Slices {
public:
    void add(int64_t track, uint64_t start, uint64_t end, int64_t depth) {
        by_track_[track].push_back({start, end, depth});
    }
    // Whether a slice of `track` encloses `ts` (start <= ts <= end).
    bool encloses(int64_t track, uint64_t ts) const {
        auto it = by_track_.find(track);
        if (it == by_track_.end()) return false;
        const auto& v = it->second;
        auto after = std::upper_bound(v.begin(), v.end(), ts, [](uint64_t t, const Span& s) { return t < s.start; });
        // Backwards from the last slice that starts by `ts`: slices on one
        // track nest, so past a top-level slice that ended, none encloses.
        for (auto s = after; s != v.begin();) {
            --s;
            if (s->end >= ts) return true;
            if (s->depth == 0) return false;
        }
        return false;
    }

private:
    struct Span {
        uint64_t start, end;
        int64_t depth;
    };
    std::map<int64_t, std::vector<Span>> by_track_;
};

}  // namespace

std::string export_chrome(const TraceReader& db, int64_t run_id) {
    std::string scenario;
    uint64_t end = 0;
    each_row(db, "SELECT scenario, seed, status, sim_time, id FROM run WHERE id = ?", {run_id},
             {"run.scenario", "run.seed", "run.status", "run.sim_time", "run.id"}, [&](const Row& c) {
                 scenario = fmt::format("run {}: {} (seed {}, {})", run_id, c[0], c[1], c[2]);
                 end = c.natural(3);
             });
    if (scenario.empty()) throw InputError(db.path(), 0, 0, "", fmt::format("no run {}", run_id));
    TraceEventWriter w;
    const int64_t pid = run_id;
    w.add({{"ph", "M"}, {"name", "process_name"}, {"pid", pid}, {"tid", 0}, {"args", {{"name", scenario}}}});
    // Thread 0 holds the run itself, start to end: the slice a flow binds
    // to when nothing else is open then (a violation the final checks found).
    Slices slices;
    w.add({{"ph", "M"}, {"name", "thread_name"}, {"pid", pid}, {"tid", 0}, {"args", {{"name", "run"}}}});
    if (end) {
        w.add({{"ph", "X"}, {"pid", pid}, {"tid", 0}, {"ts", 0.0}, {"dur", us(end)}, {"name", scenario}, {"cat", "run"}});
        slices.add(0, 0, end, 0);
    }
    std::map<std::string, int64_t> track_ids;
    std::map<int64_t, int64_t> parent_of;
    std::map<int64_t, std::string> name_of;
    each_row(db, "SELECT id, name, parent_id FROM track WHERE run_id = ? ORDER BY id", {run_id},
             {"track.id", "track.name", "track.parent_id"}, [&](const Row& c) {
                 const int64_t tid = c.integer(0);
                 track_ids[c[1]] = tid;
                 name_of[tid] = c[1];
                 if (!c[2].empty()) parent_of[tid] = c.integer(2);
                 w.add({{"ph", "M"}, {"name", "thread_name"}, {"pid", pid}, {"tid", tid}, {"args", {{"name", c[1]}}}});
                 w.add({{"ph", "M"},
                        {"name", "thread_sort_index"},
                        {"pid", pid},
                        {"tid", tid},
                        {"args", {{"sort_index", tid}}}});
             });
    // Slices with a duration are complete events; a zero-length one (a
    // phase with nothing to do) is an instant: a 0-duration "X" breaks
    // speedscope's stacks.
    each_row(db,
             "SELECT track_id, ts, dur, name, category, args, depth, id FROM slice WHERE run_id = ?"
             " ORDER BY track_id, ts, depth",
             {run_id},
             {"slice.track_id", "slice.ts", "slice.dur", "slice.name", "slice.category", "slice.args", "slice.depth",
              "slice.id"},
             [&, track = int64_t(-1), first = uint64_t(0)](const Row& c) mutable {
                 const uint64_t ts = c.natural(1), dur = c.natural(2);
                 json e = {{"pid", pid}, {"tid", c.integer(0)}, {"ts", us(ts)}, {"name", c[3]}, {"cat", c[4]}};
                 if (dur) {
                     // Rows come by track, then time: a track's first complete event is its earliest.
                     if (c.integer(0) != track) {
                         track = c.integer(0);
                         first = c.integer(0) == 0 ? 0 : ts;  // thread 0 holds the run, from 0
                     }
                     e["ph"] = "X";
                     e["dur"] = us_dur(ts, dur, first);
                     slices.add(c.integer(0), ts, ts + dur, c.integer(6));
                 } else {
                     e["ph"] = "i";
                     e["s"] = "t";
                 }
                 if (!c[5].empty() && c[5] != "{}") e["args"] = args_of(c, 5);
                 w.add(e);
             });
    auto instant = [&](int64_t tid, uint64_t ts, const std::string& name, const std::string& cat, const char* scope,
                       json args) {
        json e = {{"ph", "i"}, {"s", scope}, {"pid", pid}, {"tid", tid}, {"ts", us(ts)}, {"name", name}, {"cat", cat}};
        if (!args.empty()) e["args"] = std::move(args);
        w.add(e);
    };
    each_row(db, "SELECT track_id, ts, name, category, args, id FROM instant WHERE run_id = ?", {run_id},
             {"instant.track_id", "instant.ts", "instant.name", "instant.category", "instant.args", "instant.id"},
             [&](const Row& c) { instant(c.integer(0), c.natural(1), c[2], c[3], "t", args_of(c, 4)); });
    each_row(db, "SELECT track_id, ts, kind, args, id FROM fault WHERE run_id = ?", {run_id},
             {"fault.track_id", "fault.ts", "fault.kind", "fault.args", "fault.id"},
             [&](const Row& c) { instant(c.integer(0), c.natural(1), "fault: " + c[2], "fault", "p", args_of(c, 3)); });
    auto tid_of = [&](const std::string& component) {
        auto it = track_ids.find(component);
        return it == track_ids.end() ? int64_t(0) : it->second;
    };
    each_row(db, "SELECT component, ts, invariant, message, evidence, id FROM violation WHERE run_id = ?", {run_id},
             {"violation.component", "violation.ts", "violation.invariant", "violation.message", "violation.evidence",
              "violation.id"},
             [&](const Row& c) {
                 instant(tid_of(c[0]), c.natural(1), "violation: " + c[2], "violation", "g",
                         {{"message", c[3]}, {"evidence", args_of(c, 4)}});
             });
    // A counter per device: named after its track, the series after what
    // it counts (Perfetto shows "dma0 dstate"); counters are per process,
    // so one name for every device would draw them as one series.
    each_row(db, "SELECT track_id, ts, name, value, id FROM counter WHERE run_id = ?", {run_id},
             {"counter.track_id", "counter.ts", "counter.name", "counter.value", "counter.id"}, [&](const Row& c) {
                 const int64_t tid = c.integer(0);
                 auto name = name_of.find(tid);
                 w.add({{"ph", "C"},
                        {"pid", pid},
                        {"tid", tid},
                        {"ts", us(c.natural(1))},
                        {"name", name == name_of.end() ? "track " + std::to_string(tid) : name->second},
                        {"args", {{c[2], c.real(3)}}}});
             });
    // A flow event binds to the slice enclosing it on its thread; one at an
    // instant goes to the nearest track that has a slice then: the
    // instant's own, its parents' in the device tree, the kernel's, the run's.
    const int64_t kernel = tid_of("kernel");
    auto bind = [&](int64_t track, uint64_t ts) -> std::optional<int64_t> {
        for (int hops = 0; hops < 1000 && track; ++hops) {  // a damaged parent chain ends
            if (slices.encloses(track, ts)) return track;
            auto up = parent_of.find(track);
            track = up == parent_of.end() ? 0 : up->second;
        }
        for (int64_t last : {kernel, int64_t(0)})
            if (slices.encloses(last, ts)) return last;
        return std::nullopt;
    };
    int64_t unbound = 0;
    auto flow = [&](int64_t id, const std::string& name, const char* cat, int64_t from_track, uint64_t from_ts,
                    int64_t to_track, uint64_t to_ts) {
        auto from = bind(from_track, from_ts), to = bind(to_track, to_ts);
        if (!from || !to) {
            ++unbound;
            return;
        }
        w.add({{"ph", "s"}, {"id", id}, {"pid", pid}, {"tid", *from}, {"ts", us(from_ts)}, {"name", name}, {"cat", cat}});
        w.add({{"ph", "f"},
               {"bp", "e"},
               {"id", id},
               {"pid", pid},
               {"tid", *to},
               {"ts", us(to_ts)},
               {"name", name},
               {"cat", cat}});
    };
    // Ledger flows: issue -> retire of one in-flight entry.
    each_row(db,
             "SELECT f.id, a.track_id, a.ts, b.track_id, b.ts FROM flow f"
             " JOIN instant a ON a.id = f.from_id JOIN instant b ON b.id = f.to_id"
             " WHERE f.run_id = ? AND f.from_table = 'instant' AND f.to_table = 'instant'",
             {run_id}, {"flow.id", "instant.track_id", "instant.ts", "instant.track_id", "instant.ts"},
             [&](const Row& c) {
                 flow(c.integer(0), "in flight", "ledger", c.integer(1), c.natural(2), c.integer(3), c.natural(4));
             });
    // Fault -> violation flows: each violation from every fault injected before it.
    int64_t flow_id = int64_t(1) << 40;  // above the ledger flow ids
    each_row(db,
             "SELECT f.track_id, f.ts, v.component, v.ts, v.invariant, f.id FROM fault f JOIN violation v"
             " ON v.run_id = f.run_id AND v.ts >= f.ts WHERE f.run_id = ?",
             {run_id},
             {"fault.track_id", "fault.ts", "violation.component", "violation.ts", "violation.invariant", "fault.id"},
             [&](const Row& c) {
                 flow(flow_id++, "fault -> " + c[4], "fault", c.integer(0), c.natural(1), tid_of(c[2]), c.natural(3));
             });
    return w.finish({{"displayTimeUnit", "ns"},
                     {"otherData", {{"quiesce_run", run_id}, {"time_unit_in_db", "ps"}, {"flows_unbound", unbound}}}});
}

}  // namespace quiesce
