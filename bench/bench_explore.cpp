// Benchmark of `quiesce explore`'s execution, as ratios against a floor
// measured in the same run (tests never assert on wall time):
//   - the bare fork floor: empty children through the same pool, -j 2;
//   - re-running every variant from the start, -j 2;
//   - prefix sharing: one run forks each phase's variants where they
//     start to differ, -j 2.
// Variants are the default S4 scenario's callback-fail and power-loss
// points (or those of the scenario given), recorded at trace level summary,
// judged but not written to a database.
#include "bench/bench_util.h"
#include "sim/explore/explore.h"
#include "sim/explore/fork_runner.h"
#include "sim/scenario/executor.h"
#include "sim/scenario/platform.h"

#include <cstdio>
#include <string>

using namespace quiesce;
using namespace quiesce::bench;

int sc_main(int, char**) { return 2; }

int main(int argc, char** argv) {
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
    std::string path = argc > 1 ? argv[1] : std::string(QUIESCE_DATA_DIR) + "/regression/s4-storage.toml";
    const unsigned jobs = 2;
    Scenario s = load_scenario(path);
    s.trace = TraceLevel::Summary;
    RunResult base = execute(s);
    std::vector<FaultPoint> points = fault_points(base.stream, {"callback-fail", "power-loss"});
    std::vector<Scenario> variants;
    for (const auto& p : points) {
        variants.push_back(variant_of(s, p));
        variants.back().trace = TraceLevel::Summary;
    }
    size_t n = variants.size();

    auto t = Clock::now();
    run_forked_pool(n, jobs, [](size_t, int) {}, [](size_t) { return 10.0; }, [](size_t, ChildResult) {});
    double floor_s = seconds_since(t);

    std::vector<std::string> digests_rerun(n), digests_prefix(n);
    t = Clock::now();
    execute_all(variants, jobs, [&](size_t i, RunResult r) { digests_rerun[i] = std::to_string(r.stream.digest); });
    double rerun_s = seconds_since(t);

    std::vector<size_t> alone;
    std::vector<Branch> branches = prefix_branches(base.stream, points, alone);
    t = Clock::now();
    execute_branched(s, branches, variants, jobs,
                     [&](size_t i, RunResult r) { digests_prefix[i] = std::to_string(r.stream.digest); });
    std::vector<Scenario> rest;
    for (size_t k : alone) rest.push_back(variants[k]);
    execute_all(rest, jobs, [&](size_t j, RunResult r) { digests_prefix[alone[j]] = std::to_string(r.stream.digest); });
    double prefix_s = seconds_since(t);

    size_t same = 0;
    for (size_t i = 0; i < n; ++i) same += digests_rerun[i] == digests_prefix[i];
    std::printf("scenario: %s, %zu variants (callback-fail, power-loss), %u jobs, %zu branch points\n",
                s.name.c_str(), n, jobs, branches.size());
    std::printf("fork floor:      %8.1f children/s (empty children through the pool)\n", double(n) / floor_s);
    std::printf("re-running:      %8.1f variants/s   %.1f%% of the floor\n", double(n) / rerun_s,
                100.0 * floor_s / rerun_s);
    std::printf("prefix sharing:  %8.1f variants/s   %.1f%% of the floor, %.2fx re-running\n", double(n) / prefix_s,
                100.0 * floor_s / prefix_s, rerun_s / prefix_s);
    std::printf("digests equal:   %zu of %zu\n", same, n);
    return same == n ? 0 : 1;
}
