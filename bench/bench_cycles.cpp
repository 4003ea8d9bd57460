// Benchmark of many transitions in one run ([cycles], issue 16 item 3): the
// s3-cycles-20 scenario with 1, 10 and 100 cycles, each run in a forked
// child (SystemC elaborates once per process). Prints the wall time of each,
// the cost of one more cycle between 1 and 10 and between 10 and 100, and
// their ratio: near 1 when the cost grows linearly with the cycles (a
// cycle that costs more the more cycles went before - a list that grows, a
// thread per cycle - shows as a ratio well above 1). Nothing asserts on it;
// tests never assert on wall time.
#include "bench/bench_util.h"
#include "sim/scenario/run.h"
#include "sim/scenario/scenario.h"

#include <fmt/format.h>
#include <systemc>

#include <algorithm>
#include <cstdlib>
#include <string>

using namespace quiesce;
using namespace quiesce::bench;

int sc_main(int, char**) { return 2; }

static int bench_main(int argc, char** argv) {
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
    const std::string path = argc > 1 ? argv[1] : std::string(QUIESCE_DATA_DIR) + "/regression/s3-cycles-20.toml";
    const int repeats = argc > 2 ? std::max(1, std::atoi(argv[2])) : 3;
    const Scenario base = load_scenario(path);
    fmt::print("{}: {} between cycles, the best of {} runs each\n", path, format_ps(base.cycles.between), repeats);
    fmt::print("{:>7} {:>10} {:>12} {:>10} {:>12} {:>9}\n", "cycles", "completed", "simulated", "wall", "wall/cycle",
               "events");
    std::vector<double> wall;
    const std::vector<unsigned> counts = {1, 10, 100};
    for (unsigned n : counts) {
        Scenario s = base;
        s.cycles.count = n;
        s.faults.faults.clear();
        s.sim_limit = Picos(n) * 1'000'000'000'000ULL + 10'000'000'000'000ULL;  // 1 s a cycle, and 10 s
        double best = 0;
        std::vector<double> got;
        for (int i = 0; i < repeats; ++i) {
            got = measure([&] {
                uint64_t events = 0;
                std::string completed = "1";
                auto t = Clock::now();
                RunSummary sum = simulate(s, [&](const Event& ev) {
                    ++events;
                    if (ev.name == "cycles") completed = arg_value(ev, "completed");
                });
                double w = seconds_since(t);
                return std::vector<double>{w, double(sum.sim_end), double(events), std::stod(completed),
                                           sum.outcome == "resumed" ? 1.0 : 0.0};
            });
            if (got.size() < 5) {
                fmt::print("the run with {} cycles failed\n", n);
                return 1;
            }
            if (i == 0 || got[0] < best) best = got[0];
        }
        wall.push_back(best);
        fmt::print("{:>7} {:>10} {:>12} {:>9.3f}s {:>11.2f}ms {:>9}\n", n, unsigned(got[3]), format_ps(Picos(got[1])),
                   best, best / n * 1e3, uint64_t(got[2]));
        if (got[4] != 1.0 || unsigned(got[3]) != n) fmt::print("  (did not end resumed after {} cycles)\n", n);
    }
    const double c1 = (wall[1] - wall[0]) / 9, c2 = (wall[2] - wall[1]) / 90;
    fmt::print("one more cycle: {:.2f}ms (1 to 10), {:.2f}ms (10 to 100); ratio {:.2f} (1.00: linear)\n", c1 * 1e3,
               c2 * 1e3, c2 / c1);
    fmt::print("wall(10)/wall(1) = {:.2f}, wall(100)/wall(10) = {:.2f}\n", wall[1] / wall[0], wall[2] / wall[1]);
    return 0;
}

int main(int argc, char** argv) {
    return quiesce::bench::guarded_main(argc, argv, "[SCENARIO]", bench_main);
}
