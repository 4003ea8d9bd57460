// Benchmark of the default S3 scenario, as ratios against floors measured in
// the same process (tests never assert on wall time; this prints numbers):
//   - SystemC floor: one SC_THREAD doing wait(1ns), the cheapest model event;
//     compared with the S3 run's kernel events (delta cycles) per second;
//   - simulated time per wall-clock second of simulate() in one process
//     (elaboration included), with the SystemC threads the run created and
//     the minor page faults it took;
//   - fork floor: fork + exit + wait of an empty child, against one whole
//     isolated run (fork, simulate, stream back, decode), and against the
//     run's fixed cost: all of it but simulating (elaboration, fork,
//     streaming, decoding, exit), with the minor page faults of each; in
//     wall time and in CPU time (parent and child), the steadier of the two
//     on a loaded machine;
//   - marginal cost per delta: the CPU time of simulate() after elaboration
//     per delta cycle, against the CPU time of one bare SC_THREAD activation;
//   - fault floor: the CPU of a minor page fault on this machine, a fresh
//     4 KiB page and a whole 2 MiB transparent huge page touched first (in a
//     child of its own), and what the isolated run's faults cost at that
//     price: ratios above move with it from machine to machine;
//   - SQLite floor: the rows recording one run's trace leaves, inserted raw
//     (one transaction, prepared statements, the same schema and indexes),
//     against recording the run (bench/record_floor.h); medians of 9.
#include "bench/bench_util.h"
#include "bench/record_floor.h"
#include "bench/stack_probe.h"
#include "sim/core/sync.h"
#include "sim/scenario/fork_runner.h"
#include "sim/scenario/executor.h"
#include "sim/scenario/run.h"
#include "sim/trace/trace_db.h"

#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <systemc>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
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

// One child at a time, `n` times: wall and CPU (parent and child) per child,
// and the child's minor faults. Under load the CPU time is the steadier.
struct PerChild {
    double wall, cpu, faults;
};
template <class F>
PerChild per_child(int n, F&& f) {
    Usage u = Usage::now();
    auto t = Clock::now();
    for (int i = 0; i < n; ++i) f();
    double wall = seconds_since(t);
    Usage v = Usage::now();
    return {wall / n, (v.cpu - u.cpu) / n, double(v.child_faults - u.child_faults) / n};
}

// The CPU of first touching `bytes` of fresh anonymous memory a 4 KiB page at
// a time, 2 MiB aligned, advised to take huge pages or not, in this process:
// seconds and minor faults.
std::pair<double, double> touch_fresh(size_t bytes, bool huge) {
    const size_t align = size_t(2) << 20;
    void* raw = ::mmap(nullptr, bytes + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return {0, 0};
    char* p = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(raw) + align - 1) / align * align);
    if (huge) ::madvise(p, bytes, MADV_HUGEPAGE);
    Usage u = Usage::now();
    for (size_t i = 0; i < bytes; i += 4096) static_cast<volatile char*>(p)[i] = 1;
    Usage v = Usage::now();
    ::munmap(raw, bytes + align);
    return {v.self_cpu - u.self_cpu, double(v.faults - u.faults)};
}

}  // namespace

static int bench_main(int argc, char** argv) {
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
    std::string scenario_path = argc > 1 ? argv[1] : std::string(QUIESCE_DATA_DIR) + "/regression/s3-basic.toml";
    Scenario s = load_scenario(scenario_path);

    // Floor 1: bare SystemC thread activations.
    const uint64_t n = 2'000'000;
    auto floor = measure([&] {
        Spinner sp("spinner", n);
        Usage u = Usage::now();
        auto t = Clock::now();
        sc_core::sc_start();
        double wall = seconds_since(t);
        return std::vector<double>{wall, double(sc_core::sc_delta_count()), Usage::now().cpu - u.cpu};
    });
    double floor_eps = floor[1] / floor[0];
    double floor_cpu_each = floor[2] / floor[1];

    // The S3 scenario in one process: wall time, simulated time, kernel
    // events, trace events; elaboration (the platform built, paused at time
    // zero before the first delta), minor faults, threads (stacks) created.
    auto simulate_in_process = [&](bool ahead_on) {
        going_ahead = ahead_on;
        uint64_t trace_events = 0;
        double elaborated = 0, elaborated_cpu = 0;
        bool paused = false;
        Usage u = Usage::now();
        auto t = Clock::now();
        RunSummary sum = simulate(
            s, [&](const Event&) { ++trace_events; },
            [&]() -> std::optional<Picos> {
                if (paused) return std::nullopt;
                paused = true;
                return Picos(0);
            },
            [&](BranchSite&) {
                elaborated = seconds_since(t);
                elaborated_cpu = Usage::now().cpu - u.cpu;
            });
        double wall = seconds_since(t);
        Usage v = Usage::now();
        StackStats st = stack_stats(false);
        std::vector<double> out{wall, double(sum.sim_end), double(sc_core::sc_delta_count()), double(trace_events),
                                elaborated, double(v.faults - u.faults), double(st.created), v.cpu - u.cpu,
                                elaborated_cpu, double(ahead.waits), double(ahead.gone)};
        for (size_t i = 0; i < st.classes; ++i) {
            out.push_back(double(st.by_len[i].len));
            out.push_back(double(st.by_len[i].created));
        }
        return out;
    };
    auto run = measure([&] { return simulate_in_process(true); });
    // The same with every timed wait waited (no thread going ahead), each
    // way 7 times in turn: the CPU of simulate() after elaboration, medians
    // (the delta cycles, the same every time, from the last run waited).
    std::vector<double> ahead_cpu, waited_cpu, whole_wall, whole_cpu, waited;
    for (int i = 0; i < 7; ++i) {
        auto a = measure([&] { return simulate_in_process(true); });
        waited = measure([&] { return simulate_in_process(false); });
        ahead_cpu.push_back(a[7] - a[8]);
        whole_wall.push_back(a[0]);
        whole_cpu.push_back(a[7]);
        waited_cpu.push_back(waited[7] - waited[8]);
    }
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    double run_eps = run[2] / run[0];
    double sim_s = run[1] / 1e12;

    // Floor 2: bare fork against a whole isolated run.
    const int forks = 100, runs = 40;
    PerChild fork = per_child(forks, [] { run_forked([](int) {}, 10); });
    RunResult last;
    PerChild iso = per_child(runs, [&] { last = execute(s); });
    // What a run costs besides simulating: the isolated run less the
    // in-process simulation after elaboration.
    double fixed_wall = iso.wall - (run[0] - run[4]), fixed_cpu = iso.cpu - (run[7] - run[8]);

    // Floor 4: a page fault's CPU, 64 MiB touched fresh each way (the second
    // of two rounds, the first warming what the kernel keeps), in a child.
    auto faults = measure([] {
        std::vector<double> out;
        for (int round = 0; round < 2; ++round) {
            out.clear();
            for (bool huge : {false, true}) {
                auto [cpu, n] = touch_fresh(size_t(64) << 20, huge);
                out.push_back(cpu);
                out.push_back(n);
            }
        }
        return out;
    });
    const double small_fault = faults[1] > 0 ? faults[0] / faults[1] : 0;
    const double huge_fault = faults[3] > 0 ? faults[2] / faults[3] : 0;

    // Floor 3: the same rows inserted raw, against recording the run.
    RecordBench rec = bench_recording(s, last, 9);

    std::printf("scenario: %s (%s simulated, %.0f trace events)\n", s.name.c_str(), format_ps(Picos(run[1])).c_str(),
                run[3]);
    std::printf("systemc floor:   %10.0f thread activations/s (%.1f ns each)\n", floor_eps, 1e9 / floor_eps);
    std::printf("s3 run:          %10.0f kernel events/s   ratio to floor %.3f\n", run_eps, run_eps / floor_eps);
    const double ahead_med = median(ahead_cpu), waited_med = median(waited_cpu);
    const double delta_cpu = ahead_med / run[2];
    std::printf("per delta:       %10.1f ns CPU per delta cycle after elaboration (%.0f deltas), %.1f ns per bare "
                "SC_THREAD activation: ratio %.1f\n",
                delta_cpu * 1e9, run[2], floor_cpu_each * 1e9, delta_cpu / floor_cpu_each);
    // A timed wait gone ahead is a step a delta cycle would have been: per
    // step, the two ways compare.
    const double step_cpu = ahead_med / (run[2] + run[10]);
    const double waited_delta_cpu = waited_med / waited[2];
    std::printf("going ahead:     %10.0f of %.0f timed waits gone ahead (%.0f%%); %.1f ns CPU per step (delta or wait "
                "gone ahead): ratio %.1f to a bare activation; every wait waited: %.0f deltas, %.1f ns per delta "
                "(ratio %.1f); simulate() after elaboration %.2f ms CPU against %.2f ms: ratio %.2f (medians of 7 "
                "in turn)\n",
                run[10], run[9], 100 * run[10] / run[9], step_cpu * 1e9, step_cpu / floor_cpu_each, waited[2],
                waited_delta_cpu * 1e9, waited_delta_cpu / floor_cpu_each, ahead_med * 1e3, waited_med * 1e3,
                ahead_med / waited_med);
    // The first child measured ran 1.1-1.6x slower than the later ones in
    // this session's runs: the medians of the 7 runs going ahead.
    const double wall_med = median(whole_wall), cpu_med = median(whole_cpu);
    std::printf("simulated/wall:  %10.1f x real time in-process, %.1f x by CPU time (%.2f ms wall, %.2f ms CPU for "
                "%.1f ms simulated, medians of 7; the first run %.2f ms wall, %.2f ms CPU, elaboration %.2f ms "
                "wall, %.2f ms CPU of it)\n",
                sim_s / wall_med, sim_s / cpu_med, wall_med * 1e3, cpu_med * 1e3, sim_s * 1e3, run[0] * 1e3,
                run[7] * 1e3, run[4] * 1e3, run[8] * 1e3);
    std::string classes;
    for (size_t i = 11; i + 1 < run.size(); i += 2)
        classes += fmt::format("{}{:.0f} of {:.0f} KiB", classes.empty() ? "" : ", ", run[i + 1], run[i] / 1024);
    std::printf("threads:         %10.0f SystemC threads created per run (stacks: %s)\n", run[6], classes.c_str());
    std::printf("fork floor:      %10.3f ms wall, %.3f ms CPU per empty child (parent and child)\n", fork.wall * 1e3,
                fork.cpu * 1e3);
    std::printf("isolated run:    %10.3f ms wall, %.3f ms CPU: ratio %.2f wall, %.2f CPU to the fork floor\n",
                iso.wall * 1e3, iso.cpu * 1e3, iso.wall / fork.wall, iso.cpu / fork.cpu);
    std::printf("fixed cost:      %10.3f ms wall, %.3f ms CPU per run besides simulating: ratio %.2f wall, %.2f CPU\n",
                fixed_wall * 1e3, fixed_cpu * 1e3, fixed_wall / fork.wall, fixed_cpu / fork.cpu);
    std::printf("minor faults:    %10.0f per empty child; %.0f per isolated run (ratio %.1f), %.0f in-process\n",
                fork.faults, iso.faults, iso.faults / fork.faults, run[5]);
    std::printf("fault floor:     %10.2f us CPU per fresh 4 KiB page (%.0f faults), %.1f us per 2 MiB advised "
                "(%.0f faults for 64 MiB: %s); the isolated run's faults at the 4 KiB price: %.2f ms, %.0f%% of its CPU\n",
                small_fault * 1e6, faults[1], huge_fault * 1e6, faults[3],
                faults[3] <= 64 ? "huge pages given" : "small pages", iso.faults * small_fault * 1e3,
                100 * iso.faults * small_fault / iso.cpu);
    std::printf("sqlite floor:    %10.3f ms for the %zu rows of the run inserted raw; recording the run %.3f ms: "
                "%.0f%% of the raw rate (ratio %.2f, %.2f-%.2f; medians of 9)\n",
                rec.raw_s * 1e3, rec.rows, rec.record_s * 1e3, 100 * rec.raw_s / rec.record_s,
                rec.record_s / rec.raw_s, rec.ratio_lo, rec.ratio_hi);
    return 0;
}

int main(int argc, char** argv) {
    return quiesce::bench::guarded_main(argc, argv, "[SCENARIO]", bench_main);
}
