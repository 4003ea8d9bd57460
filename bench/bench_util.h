// Shared by the benchmarks: each measurement that elaborates SystemC runs in
// a forked child (SystemC elaborates once per process) and sends back doubles.
#pragma once

#include "sim/scenario/fork_runner.h"

#include <chrono>
#include <cstring>
#include <functional>
#include <vector>

namespace quiesce::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

inline std::vector<double> measure(const std::function<std::vector<double>()>& body) {
    ChildResult r = run_forked(
        [&](int fd) {
            std::vector<double> v = body();
            write_all(fd, v.data(), v.size() * sizeof(double));
        },
        600);
    std::vector<double> out(r.output.size() / sizeof(double));
    std::memcpy(out.data(), r.output.data(), out.size() * sizeof(double));
    return out;
}

}  // namespace quiesce::bench
