// Benchmark of hibernation, as ratios against floors measured in the same run:
//   - the default S4 scenario: simulated seconds per wall second;
//   - image write and restore: simulated image pages per wall second, against
//     memcpy and LZ4 compression of the same number of bytes;
//   - sparse memory: peak RSS of a child holding a 1 GiB simulated RAM of
//     which 64 MiB is touched, against the same child touching nothing.
#include "sim/core/memory.h"
#include "bench/bench_util.h"
#include "sim/scenario/fork_runner.h"
#include "sim/scenario/run.h"

#include <lz4.h>
#include <sys/resource.h>
#include <systemc>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

using namespace quiesce;
using namespace quiesce::bench;

int sc_main(int, char**) { return 2; }

namespace {

double max_rss_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_maxrss) / 1024.0;
}

}  // namespace

static int bench_main(int argc, char** argv) {
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
    std::string path = argc > 1 ? argv[1] : std::string(QUIESCE_DATA_DIR) + "/regression/s4-storage.toml";
    Scenario s = load_scenario(path);

    // The S4 run, with wall-clock stamps of the image slices as they happen.
    auto run = measure([&] {
        std::map<std::string, Clock::time_point> begun;
        std::map<std::string, double> took;
        double pages = 0;
        auto t = Clock::now();
        RunSummary sum = simulate(s, [&](const Event& ev) {
            if (ev.category != "hibernation") return;
            if (ev.kind == EvKind::SliceBegin) begun[ev.name] = Clock::now();
            if (ev.kind == EvKind::SliceEnd) {
                took[ev.name] += seconds_since(begun[ev.name]);
                for (const auto& a : ev.args)
                    if (ev.name == "snapshot" && a.key == "pages") pages = std::stod(a.value);
            }
        });
        double wall = seconds_since(t);
        return std::vector<double>{wall, double(sum.sim_end), pages, took["write-image"], took["load-image"]};
    });
    double pages = run[2];
    size_t bytes = size_t(pages) * 4096;

    // Floors over the same bytes.
    std::vector<char> src(bytes), dst(bytes), lz(LZ4_compressBound(int(bytes)));
    for (size_t i = 0; i < bytes; ++i) src[i] = char((i * 2654435761u) >> 13);
    const int reps = 200;
    auto t = Clock::now();
    for (int i = 0; i < reps; ++i) {
        std::memcpy(dst.data(), src.data(), bytes);
        src[size_t(i) % bytes] ^= dst[size_t(i * 7) % bytes];
    }
    double memcpy_s = seconds_since(t) / reps;
    t = Clock::now();
    int packed = 0;
    for (int i = 0; i < reps; ++i) packed = LZ4_compress_default(src.data(), lz.data(), int(bytes), int(lz.size()));
    double lz4_s = seconds_since(t) / reps;

    // Sparse memory: 1 GiB simulated, 64 MiB touched.
    auto rss = [](uint64_t touch) {
        return measure([touch] {
            RunContext ctx(1);
            ClockDomain clk("dram", 800'000'000);
            PhysicalMemory mem("memory", ctx, clk, 1ULL << 30);
            std::vector<uint8_t> page(4096, 0x5a);
            for (uint64_t a = 0; a < touch; a += 4096) mem.poke(a * 16 % (1ULL << 30), page.data(), 4096, "bench");
            return std::vector<double>{max_rss_mib(), double(mem.resident_pages())};
        });
    };
    auto idle = rss(0), touched = rss(64ULL << 20);

    double write_pps = pages / run[3], load_pps = pages / run[4];
    std::printf("scenario: %s (%.0f image pages, %s simulated)\n", s.name.c_str(), pages,
                format_ps(Picos(run[1])).c_str());
    std::printf("simulated/wall:   %10.3f simulated seconds per wall second (%.1f ms wall)\n", run[1] / 1e12 / run[0],
                run[0] * 1e3);
    std::printf("image write:      %10.0f pages/s wall; memcpy of the same bytes %.0f pages/s: ratio %.4f\n",
                write_pps, pages / memcpy_s, write_pps / (pages / memcpy_s));
    std::printf("image restore:    %10.0f pages/s wall; LZ4 of the same bytes %.0f pages/s: ratio %.4f (%d bytes packed)\n",
                load_pps, pages / lz4_s, load_pps / (pages / lz4_s), packed);
    std::printf("sparse memory:    1 GiB simulated, %.0f pages touched: peak RSS %.1f MiB vs %.1f MiB idle "
                "(%.2f MiB per touched MiB)\n",
                touched[1], touched[0], idle[0], (touched[0] - idle[0]) / 64.0);
    return 0;
}

int main(int argc, char** argv) {
    return quiesce::bench::guarded_main(argc, argv, "[SCENARIO]", bench_main);
}
