// The checks of a device's DMA against what the kernel did under it:
// dma.use-after-free (qgpu's eviction command outlives its timeout while
// the error path frees its buffer; the driver that waits for its engine
// first) and power.busy-device (the DMA engine put in D3hot under a
// descriptor in flight; the drained twin).
#include "files.h"

#include "sim/scenario/executor.h"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace quiesce;

namespace {
// The first four things from the eviction's start, in time order: the
// eviction's end with its rc, the wait for the engine, a command the engine
// finishes (its ledger retire), the free of the eviction buffer, a violation.
std::string story(const RunResult& r) {
    std::vector<std::pair<Picos, std::string>> words;  // step slices are emitted when they end: sort by time
    Picos from = 0;
    for (const auto& ev : r.stream.events) {
        if (ev.kind == EvKind::SliceBegin && ev.name == "evict-vram" && !from) from = ev.ts;
        if (ev.kind == EvKind::SliceEnd && ev.name == "evict-vram") words.emplace_back(ev.ts, "evict:" + arg_value(ev, "rc"));
        else if (ev.kind == EvKind::SliceBegin && ev.name == "unreserve-vram") words.emplace_back(ev.ts, "free");
        else if (ev.kind == EvKind::SliceBegin && ev.name == "wait-engine" && ev.track == "gpu0") words.emplace_back(ev.ts, "wait");
        else if (ev.kind == EvKind::Instant && ev.name == "retire" && ev.track == "gpu0.core") words.emplace_back(ev.ts, "retire");
        else if (ev.kind == EvKind::Violation)
            words.emplace_back(ev.ts, "violation:" + ev.name + "@" + ev.track + "/" + ev.phase);
    }
    std::stable_sort(words.begin(), words.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string out;
    unsigned n = 0;
    for (const auto& [ts, w] : words)
        if (ts >= from && n++ < 4) out += (out.empty() ? "" : " ") + w;
    return out;
}
}  // namespace

TEST_CASE("dma.use-after-free: the engine's late write lands in the buffer the timeout path freed", "[dma][uaf]") {
    RunResult r = execute(test::load_regression("s3-gpu-evict-timeout-free-in-flight"));
    CHECK(r.status == "passed");  // its [expect] names the violation and the abort
    CHECK(r.violations.count("dma.use-after-free"));
    // The first command times out, the buffer goes, then the engine
    // finishes the command into it: the violation comes with that write,
    // while the aborted suspend's resume phase is still running (ahci0's
    // resume resets the HBA and the SATA link: about 311 ms).
    CHECK(story(r) == "evict:-110 free violation:dma.use-after-free@gpu0/resume retire");
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::Violation && ev.name == "dma.use-after-free") {
            CHECK(arg_value(ev, "message").find("page frame 0x") != std::string::npos);
            CHECK(arg_value(ev, "evidence").find("\"initiator\":\"gpu0\"") != std::string::npos);
        }
}

TEST_CASE("dma.use-after-free: a driver that waits for its engine frees the buffer after the last write", "[dma][uaf]") {
    RunResult r = execute(test::load_regression("s3-gpu-evict-timeout"));
    CHECK(r.status == "passed");
    CHECK(r.violations.empty());
    CHECK(r.stream.summary.outcome == "aborted:suspend");
    CHECK(story(r) == "evict:-110 wait retire free");
}

// power.busy-device in a run: the streamer's last descriptor is issued,
// dma0 enters D3hot while it is open (the violation at that instant), and
// the descriptor never completes (its next beat is refused by the function
// in D3hot).
TEST_CASE("power.busy-device: D3hot under a descriptor in flight, and the drained twin", "[dma][power]") {
    RunResult r = execute(test::load_regression("s3-dma-busy-no-drain"));
    CHECK(r.status == "passed");
    Picos d3 = 0, issued = 0, retired = 0, violation = 0;
    std::string what;
    for (const auto& ev : r.stream.events) {
        if (ev.kind == EvKind::Instant && ev.name == "pci.D0->D3hot" && ev.track == "dma0" && !d3) d3 = ev.ts;
        if (ev.kind == EvKind::Violation && ev.name == "power.busy-device") {
            violation = ev.ts;
            const std::string m = arg_value(ev, "message");
            what = m.substr(m.find("descriptor "), m.find(')') - m.find("descriptor "));
        }
    }
    REQUIRE(!what.empty());
    for (const auto& ev : r.stream.events) {
        if (ev.kind == EvKind::Instant && ev.name == "issue" && arg_value(ev, "what") == what) issued = ev.ts;
        if (ev.kind == EvKind::Instant && ev.name == "retire" && arg_value(ev, "what") == what) retired = ev.ts;
    }
    CHECK(violation == d3);
    CHECK(issued < d3);
    CHECK(retired == 0);
    // Drained: the last descriptor retires before dma0 leaves D0, nothing reported.
    RunResult fixed = execute(test::load_regression("s3-dma-busy-drained"));
    CHECK(fixed.violations.empty());
    Picos last_retire = 0, fixed_d3 = 0;
    for (const auto& ev : fixed.stream.events) {
        if (ev.kind == EvKind::Instant && ev.name == "retire" && ev.track == "dma0.core" && !fixed_d3) last_retire = ev.ts;
        if (ev.kind == EvKind::Instant && ev.name == "pci.D0->D3hot" && ev.track == "dma0" && !fixed_d3) fixed_d3 = ev.ts;
    }
    CHECK(last_retire > 0);
    CHECK(last_retire < fixed_d3);
}
