// Benchmark of the default S3 scenario, as ratios against floors measured in
// the same process (tests never assert on wall time; this prints numbers):
//   - SystemC floor: one SC_THREAD doing wait(1ns), the cheapest model event;
//     compared with the S3 run's kernel events (delta cycles) per second;
//   - simulated time per wall-clock second of the S3 run;
//   - fork floor: fork + exit + wait of an empty child, against one whole
//     isolated run (fork, simulate, stream back, decode);
//   - SQLite floor: raw prepared inserts in one transaction, against
//     recording one run's trace.
#include "bench/bench_util.h"
#include "sim/explore/fork_runner.h"
#include "sim/scenario/executor.h"
#include "sim/scenario/run.h"
#include "sim/trace/trace_db.h"

#include <sqlite3.h>
#include <systemc>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

using namespace quiesce;
using namespace quiesce::bench;

int sc_main(int, char**) { return 2; }

namespace {

struct Spinner : sc_core::sc_module {
    SC_HAS_PROCESS(Spinner);
    Spinner(sc_core::sc_module_name n, uint64_t count) : sc_module(n), count_(count) { SC_THREAD(run); }
    void run() {
        for (uint64_t i = 0; i < count_; ++i) wait(1, sc_core::SC_NS);
    }
    uint64_t count_;
};

}  // namespace

int main(int argc, char** argv) {
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
    std::string scenario_path = argc > 1 ? argv[1] : std::string(QUIESCE_DATA_DIR) + "/regression/s3-basic.toml";
    Scenario s = load_scenario(scenario_path);

    // Floor 1: bare SystemC thread activations.
    const uint64_t n = 2'000'000;
    auto floor = measure([&] {
        Spinner sp("spinner", n);
        auto t = Clock::now();
        sc_core::sc_start();
        double wall = seconds_since(t);
        return std::vector<double>{wall, double(sc_core::sc_delta_count())};
    });
    double floor_eps = floor[1] / floor[0];

    // The S3 scenario in one process: wall time, simulated time, kernel events.
    auto run = measure([&] {
        uint64_t trace_events = 0;
        auto t = Clock::now();
        RunSummary sum = simulate(s, [&](const Event&) { ++trace_events; });
        double wall = seconds_since(t);
        return std::vector<double>{wall, double(sum.sim_end), double(sc_core::sc_delta_count()),
                                   double(trace_events)};
    });
    double run_eps = run[2] / run[0];
    double sim_s = run[1] / 1e12;

    // Floor 2: bare fork against a whole isolated run.
    const int forks = 50, runs = 20;
    auto t = Clock::now();
    for (int i = 0; i < forks; ++i) run_forked([](int) {}, 10);
    double fork_s = seconds_since(t) / forks;
    RunResult last;
    t = Clock::now();
    for (int i = 0; i < runs; ++i) last = execute(s);
    double run_s = seconds_since(t) / runs;

    // Floor 3: raw SQLite inserts against recording the run.
    std::string dir = std::filesystem::temp_directory_path() / ("quiesce-bench-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    size_t rows = last.stream.events.size();
    sqlite3* raw = nullptr;
    sqlite3_open((dir + "/raw.db").c_str(), &raw);
    sqlite3_exec(raw, "PRAGMA journal_mode=WAL; CREATE TABLE e(ts INTEGER, track TEXT, name TEXT, args TEXT)",
                 nullptr, nullptr, nullptr);
    t = Clock::now();
    sqlite3_exec(raw, "BEGIN", nullptr, nullptr, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(raw, "INSERT INTO e VALUES (?,?,?,?)", -1, &st, nullptr);
    for (const Event& ev : last.stream.events) {
        sqlite3_bind_int64(st, 1, int64_t(ev.ts));
        sqlite3_bind_text(st, 2, ev.track.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, ev.name.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, "{}", -1, SQLITE_STATIC);
        sqlite3_step(st);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_exec(raw, "COMMIT", nullptr, nullptr, nullptr);
    double raw_s = seconds_since(t);
    sqlite3_close(raw);
    TraceDb db(dir + "/trace.db");
    RunMeta meta = run_meta(s, last);
    t = Clock::now();
    db.record(meta, last.stream);
    double rec_s = seconds_since(t);
    std::filesystem::remove_all(dir);

    std::printf("scenario: %s (%s simulated, %.0f trace events)\n", s.name.c_str(), format_ps(Picos(run[1])).c_str(),
                run[3]);
    std::printf("systemc floor:   %10.0f thread activations/s (%.1f ns each)\n", floor_eps, 1e9 / floor_eps);
    std::printf("s3 run:          %10.0f kernel events/s   ratio to floor %.3f\n", run_eps, run_eps / floor_eps);
    std::printf("simulated/wall:  %10.3f simulated seconds per wall second (%.2f ms wall for %.1f ms simulated)\n",
                sim_s / run[0], run[0] * 1e3, sim_s * 1e3);
    std::printf("fork floor:      %10.3f ms per empty child; isolated run %.3f ms: ratio %.1f\n", fork_s * 1e3,
                run_s * 1e3, run_s / fork_s);
    std::printf("sqlite floor:    %10.3f ms for %zu raw inserts; recording the run %.3f ms: ratio %.1f\n",
                raw_s * 1e3, rows, rec_s * 1e3, rec_s / raw_s);
    return 0;
}
