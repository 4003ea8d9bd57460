// One run of a scenario in this process, for a profiler: `simulate()` with
// its events encoded as a forked run's child encodes them (WireWriter, into
// a temporary file), and the stream decoded at the end for its digest - no
// fork, no pool, no database, so callgrind or perf sees the simulation
// alone (issue 18 item 3).
//   bench_run SCENARIO [--fault RULE]... [--trace LEVEL] [--events FILE] [--wait-all]
// RULE as `quiesce run --fault` takes it ("kind=power-loss,phase=restore");
// LEVEL one of the trace levels (summary: as explore's variants record).
// --events writes the stream as text, an event a line (event_line), to
// compare two runs with diff; --wait-all runs with no thread going ahead (sim/core/sync.h).
// Prints the outcome, the events and the digest of the stream (the same a
// forked run of the same scenario records) and the CPU time of the run.
#include "bench/bench_util.h"
#include "sim/core/sync.h"
#include "sim/scenario/run.h"
#include "sim/scenario/scenario.h"
#include "sim/trace/wire.h"

#include <fmt/format.h>
#include <systemc>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace quiesce;

int sc_main(int, char**) { return 2; }

static int bench_main(int argc, char** argv) {
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s SCENARIO [--fault RULE]... [--trace LEVEL] [--events FILE] [--wait-all]\n",
                     argv[0]);
        return 2;
    }
    Scenario s = load_scenario(argv[1]);
    std::vector<std::string> faults;
    std::string events_file;
    for (int i = 2; i < argc; ++i) {
        const std::string opt = argv[i];
        if (opt == "--wait-all") {
            going_ahead = false;
            continue;
        }
        if (i + 1 == argc) {
            std::fprintf(stderr, "%s: needs a value\n", opt.c_str());
            return 2;
        }
        const std::string value = argv[++i];
        if (opt == "--fault") faults.push_back(value);
        else if (opt == "--events") events_file = value;
        else if (opt == "--trace" && parse_trace_level(value, s.trace)) continue;
        else {
            std::fprintf(stderr, "bad option %s %s\n", opt.c_str(), value.c_str());
            return 2;
        }
    }
    add_cli_faults(s, faults);

    char path[] = "/tmp/bench_run_XXXXXX";
    const int fd = mkstemp(path);
    if (fd < 0) return 1;
    unlink(path);
    uint64_t events = 0;
    const double t0 = bench::Usage::now().self_cpu;
    RunSummary sum;
    {
        WireWriter w(fd);
        FILE* text = events_file.empty() ? nullptr : std::fopen(events_file.c_str(), "w");
        if (!events_file.empty() && !text) {
            std::fprintf(stderr, "%s: cannot write\n", events_file.c_str());
            return 2;
        }
        sum = simulate(s, [&](const Event& ev) {
            ++events;
            if (text) fmt::print(text, "{}\n", event_line(ev));
            w.event(ev);
        });
        w.summary(sum);
        if (text) std::fclose(text);
    }
    const double cpu = bench::Usage::now().self_cpu - t0;
    std::string bytes(size_t(lseek(fd, 0, SEEK_END)), '\0');
    if (pread(fd, bytes.data(), bytes.size(), 0) != ssize_t(bytes.size())) return 1;
    close(fd);
    const RunStream stream = decode_stream(bytes);
    fmt::print("{}: outcome {}, workload {}, simulated {}, {} events streamed, digest {:016x}, CPU {:.3f}s\n",
               argv[1], sum.outcome, sum.workload, format_ps(sum.sim_end), events, stream.digest, cpu);
    return 0;
}

int main(int argc, char** argv) {
    return quiesce::bench::guarded_main(argc, argv, "SCENARIO [--fault RULE]... [--trace LEVEL]", bench_main);
}
