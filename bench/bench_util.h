// Shared by the benchmarks: each measurement that elaborates SystemC runs in
// a forked child (SystemC elaborates once per process) and sends back doubles.
#pragma once

#include "sim/scenario/fork_runner.h"

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace quiesce::bench {

// A bench's entry: -h or --help prints `usage` (its command line) and
// exits 0; an error out of `body` (a scenario that does not load, a file
// that cannot be written) is one line on stderr and status 2, not an
// abort.
inline int guarded_main(int argc, char** argv, const char* usage, int (*body)(int, char**)) {
    const char* name = std::strrchr(argv[0], '/') ? std::strrchr(argv[0], '/') + 1 : argv[0];
    for (int i = 1; i < argc; ++i)
        if (std::string(argv[i]) == "-h" || std::string(argv[i]) == "--help") {
            std::printf("usage: %s %s\n", name, usage);
            return 0;
        }
    try {
        return body(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", name, e.what());
        return 2;
    }
}

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}

// CPU seconds (user and system) and minor faults since process start: of
// this process alone, and with its children waited for.
struct Usage {
    double cpu = 0;       // this process and its children waited for
    double self_cpu = 0;  // this process alone
    long faults = 0, child_faults = 0;
    static Usage now() {
        rusage self{}, kids{};
        getrusage(RUSAGE_SELF, &self);
        getrusage(RUSAGE_CHILDREN, &kids);
        auto sec = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
        const double mine = sec(self.ru_utime) + sec(self.ru_stime);
        return {mine + sec(kids.ru_utime) + sec(kids.ru_stime), mine, self.ru_minflt, kids.ru_minflt};
    }
    // Per run over `n` runs since `u`: CPU milliseconds (with the children)
    // and the children's minor faults.
    std::pair<double, double> since(const Usage& u, size_t n) const {
        return {(cpu - u.cpu) * 1e3 / double(n), double(child_faults - u.child_faults) / double(n)};
    }
};

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
