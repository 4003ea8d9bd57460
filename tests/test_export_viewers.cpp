// The exports as the viewers read them (issue 20): Perfetto / chrome://tracing
// / speedscope for the Chrome JSON, GTKWave for the VCD and its save file.
#include "cli.h"

#include "sim/trace/export.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <set>
#include <string>
#include <vector>

using json = nlohmann::json;
using quiesce::test::regression;
using quiesce::test::sh;
using quiesce::test::tmp_path;

namespace {

// A database of the runs these tests look at: xHCI commands in flight at
// boot, where no slice of the controller is open (s3-usb-storage); a
// callback-fail fault and the violation it leads to, both at the edge of a
// slice (s3-callback-fail-resume); DMA and a bit flip in a hibernation
// image (s4-image-bit-flip-no-crc).
struct Runs {
    std::string db = tmp_path("viewers.db");
    Runs() {
        auto r = sh("run " + regression("s3-usb-storage") + " " + regression("s3-callback-fail-resume") + " " +
                    regression("s4-image-bit-flip-no-crc") + " --db " + db);
        INFO(r.out);
        REQUIRE(r.status == 0);
    }
    ~Runs() { std::filesystem::remove(db); }
};

// A Trace Event time (microseconds) in picoseconds, as the database had it:
// the sum of two doubles may round below the end it stands for.
int64_t ps(const json& us) { return std::llround(us.get<double>() * 1e6); }

struct Chrome {
    std::map<int64_t, std::string> threads;
    // Per thread, the complete events: [start, end] in picoseconds.
    std::map<int64_t, std::vector<std::pair<int64_t, int64_t>>> slices;
    std::vector<json> flows, counters, instants, complete;
};

Chrome read_chrome(const std::string& text) {
    Chrome c;
    const json doc = json::parse(text);
    for (const auto& e : doc.at("traceEvents")) {
        const std::string ph = e.at("ph");
        if (ph == "M" && e.at("name") == "thread_name") c.threads[e.at("tid")] = e.at("args").at("name");
        if (ph == "X") {
            c.slices[e.at("tid")].emplace_back(ps(e.at("ts")), ps(e.at("ts")) + ps(e.at("dur")));
            c.complete.push_back(e);
        }
        if (ph == "s" || ph == "f") c.flows.push_back(e);
        if (ph == "C") c.counters.push_back(e);
        if (ph == "i") c.instants.push_back(e);
    }
    return c;
}

}  // namespace

TEST_CASE("viewers: every Chrome flow binds to a slice, a counter per device, no zero-length slices",
          "[trace][chrome]") {
    Runs runs;
    quiesce::TraceReader reader(runs.db);
    for (int run = 1; run <= 3; ++run) {
        INFO("run " << run);
        const std::string text = quiesce::export_chrome(reader, run);
        Chrome c = read_chrome(text);
        // Flows: "s" and "f" (with bp "e", the enclosing slice) each inside a
        // complete event on their own thread, which chrome://tracing and
        // Perfetto bind them to; none left out.
        REQUIRE(!c.flows.empty());
        std::map<int64_t, int> starts, ends;
        for (const auto& f : c.flows) {
            INFO(f.dump());
            const int64_t ts = ps(f.at("ts"));
            bool enclosed = false;
            for (const auto& [a, b] : c.slices[f.at("tid")]) enclosed |= a <= ts && ts <= b;
            REQUIRE(enclosed);
            if (f.at("ph") == "f") REQUIRE(f.at("bp") == "e");
            (f.at("ph") == "s" ? starts : ends)[f.at("id")]++;
        }
        REQUIRE(starts == ends);
        REQUIRE(json::parse(text).at("otherData").at("flows_unbound") == 0);
        // The flows the database has, all of them drawn.
        size_t ledger = 0, faulty = 0;
        reader.each("SELECT count(*) FROM flow WHERE run_id = ?", {run},
                    [&](const std::vector<std::string>& r) { ledger = std::stoul(r[0]); });
        reader.each("SELECT count(*) FROM fault f JOIN violation v ON v.run_id = f.run_id AND v.ts >= f.ts"
                    " WHERE f.run_id = ?",
                    {run}, [&](const std::vector<std::string>& r) { faulty = std::stoul(r[0]); });
        REQUIRE(starts.size() == ledger + faulty);
        if (run == 2) REQUIRE(faulty == 1);  // callback-fail -> hwstate.not-restored
        // Counters: each named after its device, one series each.
        std::map<std::string, std::set<std::string>> series;
        for (const auto& e : c.counters) {
            REQUIRE(e.at("args").size() == 1);
            REQUIRE(e.at("name") == c.threads.at(e.at("tid")));
            series[e.at("name")].insert(e.at("args").begin().key());
        }
        REQUIRE(series.size() > 1);
        REQUIRE(series.count("dma0"));
        REQUIRE(series["dma0"] == std::set<std::string>{"dstate"});
        // No zero-length complete events: those are instants with a scope.
        for (const auto& e : c.complete) REQUIRE(e.at("dur").get<double>() > 0);
        for (const auto& e : c.instants) REQUIRE(e.contains("s"));
        // Lean args: no picoseconds or cycles copied onto every slice.
        for (const auto& e : c.complete)
            if (e.contains("args"))
                for (const char* k : {"ts_ps", "dur_ps", "ts_cycles", "dur_cycles"}) REQUIRE_FALSE(e.at("args").contains(k));
    }
    // The zero-length phases are there as instants on the kernel's thread.
    Chrome c = read_chrome(quiesce::export_chrome(reader, 2));
    std::set<std::string> kernel_instants;
    for (const auto& e : c.instants)
        if (c.threads[e.at("tid")] == "kernel" && e.at("cat") == "phase") kernel_instants.insert(e.at("name"));
    REQUIRE(kernel_instants.count("thaw-tasks"));
}
