// Benchmark of the trace viewer on a database of about one million events
// (slice, instant, counter, fault and violation rows), as ratios against a
// bare SQLite scan of the same rows measured in the same run. Tests never
// assert on wall time; this prints numbers.
//
// The database: one real S4 run with violations (s4-dma-during-snapshot),
// recorded through TraceDb::record as many runs (one per seed, as a campaign
// writes them), plus one long run that repeats the same transition back to
// back (a suspend/resume loop, as sleepgraph's -multi), so that one run alone
// holds a quarter of the events.
//   trace runs          the whole database
//   trace show          one ordinary run, and the long run
//   export              chrome, vcd and html of the long run, in events per
//                       second (the run's event rows over the export's wall
//                       time), against scanning all those rows bare; vcd
//                       reads only the rows it draws, so it can beat the floor
#include "bench/bench_util.h"
#include "sim/scenario/executor.h"
#include "sim/trace/export.h"
#include "sim/trace/trace_db.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

using namespace quiesce;
using namespace quiesce::bench;

int sc_main(int, char**) { return 2; }

namespace {

// Rows a run leaves in the event tables.
int64_t event_rows(const TraceReader& db, int64_t run) {
    int64_t n = 0;
    db.each("SELECT (SELECT count(*) FROM slice WHERE run_id = ?1) + (SELECT count(*) FROM instant WHERE run_id = ?1)"
            " + (SELECT count(*) FROM counter WHERE run_id = ?1) + (SELECT count(*) FROM fault WHERE run_id = ?1)"
            " + (SELECT count(*) FROM violation WHERE run_id = ?1)",
            {run}, [&](const std::vector<std::string>& c) { n = std::stoll(c[0]); });
    return n;
}

volatile size_t scanned_bytes = 0;  // what the bare scan read, so that it is not optimised away

// The floor: every column of every event row of one run, stepped through with
// the bare C API (no formatting, no JSON).
double bare_scan(const std::string& path, int64_t run, int64_t* rows) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    auto t = Clock::now();
    *rows = 0;
    for (const char* table : {"slice", "instant", "counter", "fault", "violation"}) {
        sqlite3_stmt* st = nullptr;
        std::string sql = std::string("SELECT * FROM ") + table + " WHERE run_id = ?";
        sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
        sqlite3_bind_int64(st, 1, run);
        while (sqlite3_step(st) == SQLITE_ROW) {
            ++*rows;
            for (int i = 0; i < sqlite3_column_count(st); ++i) scanned_bytes += size_t(sqlite3_column_bytes(st, i));
        }
        sqlite3_finalize(st);
    }
    double s = seconds_since(t);
    sqlite3_close(db);
    return s;
}

template <class F>
double timed(F&& f, size_t* out_bytes = nullptr) {
    auto t = Clock::now();
    std::string out = f();
    double s = seconds_since(t);
    if (out_bytes) *out_bytes = out.size();
    return s;
}

}  // namespace

static int bench_main(int argc, char** argv) {
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
    std::string scenario_path =
        argc > 1 ? argv[1] : std::string(QUIESCE_DATA_DIR) + "/regression/s4-dma-during-snapshot.toml";
    const int64_t target = argc > 2 ? std::stoll(argv[2]) : 1'000'000;
    Scenario s = load_scenario(scenario_path);
    RunResult r = execute(s);
    if (r.stream.events.empty()) {
        std::fprintf(stderr, "bench_trace: the run produced no events (%s)\n", r.message.c_str());
        return 1;
    }

    std::string dir = std::filesystem::temp_directory_path() / ("quiesce-bench-trace-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    std::string path = dir + "/trace.db";
    RunMeta meta = run_meta(s, r);
    int64_t per_run = 0, runs = 0, total = 0, long_run = 0;
    auto t = Clock::now();
    {
        TraceDb db(path);
        int64_t first = db.record(meta, r.stream);
        ++runs;
        {
            TraceReader reader(path);
            per_run = event_rows(reader, first);
        }
        total = per_run;
        // The long run: the transition repeated back to back.
        RunStream loop = r.stream;
        loop.events.clear();
        const int64_t repeats = std::max<int64_t>(1, target / 4 / per_run);
        const Picos period = r.stream.summary.sim_end + 1;
        for (int64_t i = 0; i < repeats; ++i)
            for (Event ev : r.stream.events) {
                ev.ts += Picos(i) * period;
                loop.events.push_back(std::move(ev));
            }
        loop.summary.sim_end = Picos(repeats) * period;
        RunMeta lm = meta;
        lm.scenario = s.name + "-loop";
        long_run = db.record(lm, loop);
        ++runs;
        total += per_run * repeats;
        while (total < target) {
            ++meta.seed;
            db.record(meta, r.stream);
            ++runs;
            total += per_run;
        }
    }
    double build_s = seconds_since(t);
    TraceReader db(path);
    int64_t long_rows = event_rows(db, long_run);
    int64_t ordinary = runs;  // the last run recorded

    size_t bytes = 0;
    double runs_s = timed([&] { return trace_runs(db); }, &bytes);
    double show_s = timed([&] { return trace_show(db, ordinary); });
    double show_long_s = timed([&] { return trace_show(db, long_run); });
    int64_t scanned = 0;
    double scan_s = bare_scan(path, long_run, &scanned);
    size_t chrome_bytes = 0, vcd_bytes = 0, html_bytes = 0;
    double chrome_s = timed([&] { return export_chrome(db, long_run); }, &chrome_bytes);
    double vcd_s = timed([&] { return export_vcd(db, long_run); }, &vcd_bytes);
    double html_s = timed([&] { return export_html(db, long_run); }, &html_bytes);
    std::filesystem::remove_all(dir);

    std::printf("database:     %lld event rows in %lld runs (%lld per run; the long run %lld), built in %.1f s\n",
                (long long)total, (long long)runs, (long long)per_run, (long long)long_rows, build_s);
    std::printf("trace runs:   %8.1f ms (%zu bytes out)\n", runs_s * 1e3, bytes);
    std::printf("trace show:   %8.1f ms for one run of %lld events; %.1f ms for the long run\n", show_s * 1e3,
                (long long)per_run, show_long_s * 1e3);
    double floor_eps = double(scanned) / scan_s;
    std::printf("bare scan:    %10.0f rows/s (%lld rows of the long run in %.1f ms)\n", floor_eps,
                (long long)scanned, scan_s * 1e3);
    auto rate = [&](const char* name, double secs, size_t out) {
        double eps = double(long_rows) / secs;
        std::printf("export %-6s %10.0f events/s (%.1f ms, %.1f MiB): ratio to the bare scan %.3f\n", name, eps,
                    secs * 1e3, double(out) / (1 << 20), eps / floor_eps);
    };
    rate("chrome", chrome_s, chrome_bytes);
    rate("vcd", vcd_s, vcd_bytes);
    rate("html", html_s, html_bytes);
    return 0;
}

int main(int argc, char** argv) {
    return quiesce::bench::guarded_main(argc, argv, "[SCENARIO]", bench_main);
}
