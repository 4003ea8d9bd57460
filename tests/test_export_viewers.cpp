// The exports as the viewers read them (issue 20): Perfetto / chrome://tracing
// / speedscope for the Chrome JSON, GTKWave for the VCD and its save file.
#include "cli.h"
#include "files.h"

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

namespace {

// A VCD read back: each variable's full name ("run1.pci0.rp0.dma0.callback")
// with its type, and the values it took in order.
struct Vcd {
    std::map<std::string, std::string> type;                // full name -> type
    std::map<std::string, std::vector<std::string>> values;  // full name -> values after $dumpvars
};

Vcd read_vcd(const std::string& text) {
    Vcd v;
    std::map<std::string, std::string> name_of;  // code -> full name
    std::vector<std::string> scope;
    std::istringstream in(text);
    bool dumping = false;
    for (std::string line; std::getline(in, line);) {
        std::istringstream w(line);
        std::string first;
        w >> first;
        if (first == "$scope") {
            std::string kind, name;
            w >> kind >> name;
            scope.push_back(name);
        } else if (first == "$upscope") {
            scope.pop_back();
        } else if (first == "$var") {
            std::string type, width, code, name, range;
            w >> type >> width >> code >> name >> range;
            std::string full;
            for (const auto& s : scope) full += s + ".";
            full += name + (range == "$end" ? "" : range);
            v.type[full] = type;
            name_of[code] = full;
        } else if (first == "$end") {
            dumping = true;  // the end of $dumpvars
        } else if (dumping && !first.empty() && first[0] != '#') {
            if (first[0] == 's' || first[0] == 'b') {
                std::string code;
                w >> code;
                v.values[name_of.at(code)].push_back(first.substr(1));
            } else {
                v.values[name_of.at(first.substr(1))].push_back(first.substr(0, 1));
            }
        }
    }
    return v;
}

std::string sanitised(std::string s) {
    for (char& c : s)
        if (c == ' ') c = '_';
    return s;
}

}  // namespace

TEST_CASE("viewers: the VCD has every track's slices, zero-length phases and USB power, vcd2fst reads it, the .gtkw "
          "names every signal",
          "[trace][vcd]") {
    Runs runs;
    quiesce::TraceReader reader(runs.db);
    for (int run : {1, 3}) {
        INFO("run " << run);
        const std::string vcd = tmp_path("run.vcd"), gtkw = tmp_path("run.gtkw"), fst = tmp_path("run.fst");
        auto r = sh("trace export " + runs.db + " " + std::to_string(run) + " --format vcd -o " + vcd);
        INFO(r.out);
        REQUIRE(r.status == 0);
        const Vcd v = read_vcd(quiesce::test::read_text(vcd));
        // Each track's scope, as the device tree nests them ("dma0.core" is
        // "core" in "dma0").
        std::map<int64_t, std::pair<std::string, int64_t>> tracks;  // id -> (name, parent)
        reader.each("SELECT id, name, coalesce(parent_id, 0) FROM track WHERE run_id = ?", {run},
                    [&](const std::vector<std::string>& c) {
                        tracks[std::stoll(c[0])] = {c[1], std::stoll(c[2])};
                    });
        auto vcd_name = [](std::string s) {  // "restore-kernel" is "restore_kernel"
            for (char& c : s)
                if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
            return s;
        };
        std::function<std::string(int64_t)> scope = [&](int64_t id) {
            auto [name, parent] = tracks.at(id);
            if (!parent) return "run" + std::to_string(run) + "." + vcd_name(name);
            const std::string& up = tracks.at(parent).first;
            return scope(parent) + "." + vcd_name(name.rfind(up + ".", 0) == 0 ? name.substr(up.size() + 1) : name);
        };
        // Every slice of a duration on its track's <category> signal; every
        // zero-length one a pulse of its own on <category>_mark.
        std::map<std::string, std::set<std::string>> want;
        std::map<std::string, size_t> marks;
        reader.each("SELECT track_id, category, name, dur FROM slice WHERE run_id = ?", {run},
                    [&](const std::vector<std::string>& c) {
                        std::string var = scope(std::stoll(c[0])) + "." + c[1];
                        if (c[3] == "0") ++marks[var + "_mark"];
                        else want[var].insert(sanitised(c[2]));
                    });
        REQUIRE(want.size() > 10);
        for (const auto& [var, names] : want) {
            INFO(var);
            REQUIRE(v.type.count(var));
            REQUIRE(v.type.at(var) == "string");
            const auto& seen = v.values.at(var);
            for (const auto& n : names) REQUIRE(std::find(seen.begin(), seen.end(), n) != seen.end());
        }
        for (const auto& [var, n] : marks) {
            INFO(var);
            const auto& seen = v.values.at(var);
            REQUIRE(size_t(std::count_if(seen.begin(), seen.end(), [](const std::string& s) { return s != "-"; })) ==
                    n);
        }
        if (run == 3) {
            REQUIRE(marks.count("run3.kernel.phase_mark"));
            for (const char* busy : {"run3.cpu0.irq", "run3.cpu1.hotplug", "run3.firmware.firmware",
                                     "run3.pci0.rp0.dma0.core.dma", "run3.pci0.ahci0.core.disk"})
                REQUIRE(want.count(busy));
            REQUIRE(v.type.count("run3.cpu0.task"));
        }
        if (run == 1) {  // the USB stick: addressed, suspended, resumed
            std::string usb;
            for (const auto& [name, t] : v.type)
                if (name.size() > 17 && name.compare(name.size() - 17, 17, ".usb0.power_state") == 0) usb = name;
            REQUIRE(!usb.empty());
            const auto& states = v.values.at(usb);
            REQUIRE(std::find(states.begin(), states.end(), "suspended") != states.end());
            REQUIRE(states.back() == "active");
            REQUIRE(want.count("run1.pci0.xhci0.core.usb"));
        }
        // GTKWave's converter reads it without a word.
        r = quiesce::test::shell("vcd2fst " + vcd + " " + fst);
        REQUIRE(r.status == 0);
        REQUIRE(r.out.find("arning") == std::string::npos);
        REQUIRE(r.out.find("rror") == std::string::npos);
        REQUIRE(std::filesystem::file_size(fst) > 0);
        // The save file beside it: the dump file, a group per track, every
        // signal once with an alias that says whose it is.
        std::istringstream save(quiesce::test::read_text(gtkw));
        std::vector<std::string> groups;
        std::set<std::string> traced;
        bool dumpfile = false;
        std::string flags;
        for (std::string line; std::getline(save, line);) {
            if (line.rfind("[dumpfile] ", 0) == 0) {
                dumpfile = line == "[dumpfile] \"" + std::filesystem::absolute(vcd).string() + "\"";
            } else if (line[0] == '@') {
                flags = line;
            } else if (line[0] == '-') {
                if (flags == "@800200") groups.push_back(line.substr(1));
                else {
                    REQUIRE(flags == "@1000200");
                    REQUIRE(!groups.empty());
                    REQUIRE(groups.back() == line.substr(1));
                    groups.back() = "";  // closed
                }
            } else if (line[0] == '+') {
                auto close = line.find("} ");
                REQUIRE(close != std::string::npos);
                const std::string alias = line.substr(2, close - 2), name = line.substr(close + 2);
                INFO(line);
                REQUIRE(v.type.count(name));
                REQUIRE(traced.insert(name).second);
                REQUIRE(!groups.empty());
                // Within the track's group, aliased "<track> <signal>".
                REQUIRE(alias.find(' ') != std::string::npos);
                REQUIRE(name.find("." + alias.substr(alias.rfind(' ') + 1)) != std::string::npos);
                REQUIRE(flags == (v.type.at(name) == "integer" ? "@24" : v.type.at(name) == "wire" ? "@28" : "@20"));
            }
        }
        REQUIRE(dumpfile);
        for (const auto& g : groups) REQUIRE(g.empty());
        REQUIRE(traced.size() == v.type.size());
        for (const auto& p : {vcd, gtkw, fst}) std::filesystem::remove(p);
    }
    // --gtkw names the save file; with another format it is bad input.
    const std::string save = tmp_path("elsewhere.gtkw");
    REQUIRE(sh("trace export " + runs.db + " 1 --format vcd --gtkw " + save + " > /dev/null").status == 0);
    REQUIRE(quiesce::test::read_text(save).find("+{kernel phase} run1.kernel.phase\n") != std::string::npos);
    auto bad = sh("trace export " + runs.db + " 1 --gtkw " + save);
    REQUIRE(bad.status == 2);
    REQUIRE(bad.out == "quiesce: --gtkw: a save file for --format vcd only\n");
    std::filesystem::remove(save);
    // A save file that cannot be written leaves no VCD either: an input error
    // (exit 2, as -o in a missing directory is), the two files all or none.
    const std::string vcd = tmp_path("unpaired.vcd"), dir = tmp_path("unpaired.dir");
    std::filesystem::create_directories(dir);
    for (const std::string& where : {tmp_path("nonexistent") + "/x.gtkw", dir}) {
        INFO(where);
        bad = sh("trace export " + runs.db + " 1 --format vcd -o " + vcd + " --gtkw " + where);
        REQUIRE(bad.status == 2);
        REQUIRE(bad.out.rfind("quiesce: " + where + ": cannot write file: ", 0) == 0);
        REQUIRE(std::count(bad.out.begin(), bad.out.end(), '\n') == 1);
        REQUIRE_FALSE(std::filesystem::exists(vcd));
        REQUIRE_FALSE(std::filesystem::exists(vcd + ".tmp"));
        REQUIRE_FALSE(std::filesystem::exists(where + ".tmp"));
    }
    // The save file where the VCD goes would overwrite it: refused, nothing written.
    bad = sh("trace export " + runs.db + " 1 --format vcd -o " + vcd + " --gtkw " + vcd);
    REQUIRE(bad.status == 2);
    REQUIRE(bad.out == "quiesce: " + vcd + ": --gtkw: the same file as -o\n");
    REQUIRE_FALSE(std::filesystem::exists(vcd));
    // As -o in a missing directory.
    bad = sh("trace export " + runs.db + " 1 --format vcd -o " + tmp_path("nonexistent") + "/x.vcd");
    REQUIRE(bad.status == 2);
    REQUIRE(bad.out.rfind("quiesce: " + tmp_path("nonexistent") + "/x.vcd: cannot write file: ", 0) == 0);
    std::filesystem::remove(dir);
}

// A viewer computes a complete event's end as ts + dur in doubles (speedscope
// after subtracting the thread's earliest ts from every ts); where one
// slice ends as the next on its thread starts, that sum must not pass the
// next one's ts, or speedscope (and Perfetto's importer) see the first
// still open when the second begins and nest them - a row of `busy` steps
// stacked for the rest of the run.
TEST_CASE("viewers: a Chrome slice that ends where the next begins does not overlap it in doubles", "[trace][chrome]") {
    Runs runs;
    quiesce::TraceReader reader(runs.db);
    size_t touching = 0;
    for (int run = 1; run <= 3; ++run) {
        const json doc = json::parse(quiesce::export_chrome(reader, run));
        std::map<std::pair<int64_t, int64_t>, double> starts;  // (tid, start in ps) -> ts as written
        std::map<int64_t, double> first;  // tid -> its earliest complete event's ts (speedscope's origin)
        for (const auto& e : doc.at("traceEvents"))
            if (e.at("ph") == "X") {
                starts[{e.at("tid"), ps(e.at("ts"))}] = e.at("ts").get<double>();
                auto [it, fresh] = first.emplace(e.at("tid"), e.at("ts").get<double>());
                if (!fresh) it->second = std::min(it->second, e.at("ts").get<double>());
            }
        for (const auto& e : doc.at("traceEvents")) {
            if (e.at("ph") != "X") continue;
            const double end = e.at("ts").get<double>() + e.at("dur").get<double>();
            auto next = starts.find({e.at("tid"), std::llround(end * 1e6)});
            if (next == starts.end()) continue;
            ++touching;
            INFO(e.dump());
            REQUIRE(end <= next->second);
            // speedscope subtracts the thread's earliest ts first, then adds.
            const double o = first.at(e.at("tid"));
            REQUIRE((e.at("ts").get<double>() - o) + e.at("dur").get<double>() <= next->second - o);
        }
    }
    REQUIRE(touching > 100);
}
