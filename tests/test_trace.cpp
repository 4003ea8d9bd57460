// Reading traces back: quiesce trace runs, and the Chrome Trace Event export
// that Perfetto and chrome://tracing open, parsed back as JSON.
#include "tmpfile.h"

#include "sim/core/errors.h"
#include "sim/trace/export.h"
#include "sim/scenario/run.h"
#include "sim/trace/wire.h"

#include <nlohmann/json.hpp>
#include <sqlite3.h>
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <filesystem>
#include <map>
#include <sstream>

using json = nlohmann::json;

namespace {
int run_cli(const std::string& args, std::string* out = nullptr) {
    std::string cmd = std::string(QUIESCE_BIN) + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string text;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) text.append(buf.data(), n);
    int st = pclose(p);
    if (out) *out = text;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string scenario(const std::string& name) {
    return std::string(QUIESCE_DATA_DIR) + "/regression/" + name + ".toml";
}

struct Db {
    std::string path;
    Db() {
        path = (std::filesystem::temp_directory_path() / ("quiesce-trace-" + std::to_string(getpid()) + ".db")).string();
        std::filesystem::remove(path);
        REQUIRE(run_cli("run " + scenario("s4-storage") + " " + scenario("s4-dma-during-snapshot") + " --db " + path) == 0);
    }
    ~Db() { std::filesystem::remove(path); }
};
}  // namespace

TEST_CASE("trace: runs lists every run with its verdict and violations", "[trace]") {
    Db db;
    std::string out;
    REQUIRE(run_cli("trace runs " + db.path, &out) == 0);
    REQUIRE(out.find("s4-storage") != std::string::npos);
    REQUIRE(out.find("dma.after-quiesce,image.atomicity") != std::string::npos);
    REQUIRE(out.find("passed") != std::string::npos);
    // The boot CPU's cycles, as `quiesce run` prints them: simulated ps * Hz / 10^12.
    {
        quiesce::TraceReader reader(db.path);
        std::string cycles;
        reader.each("SELECT r.sim_time, t.clock_hz FROM run r JOIN track t ON t.run_id = r.id"
                    " WHERE r.id = 1 AND t.name = 'cpu0'",
                    {}, [&](const std::vector<std::string>& c) {
                        cycles = std::to_string(uint64_t(static_cast<unsigned __int128>(std::stoull(c[0])) *
                                                         std::stoull(c[1]) / 1000000000000ULL));
                    });
        REQUIRE(cycles.size() >= 9);
        REQUIRE(out.find(" " + cycles + " ") != std::string::npos);
    }
    REQUIRE(run_cli("trace runs /no/such.db", &out) == 2);
}

TEST_CASE("trace: the Chrome export is valid JSON with threads, nested slices, flows and violations", "[trace]") {
    Db db;
    quiesce::TraceReader reader(db.path);
    json doc = json::parse(quiesce::export_chrome(reader, 2));
    const json& ev = doc.at("traceEvents");
    std::map<int64_t, std::string> threads;
    std::map<int64_t, std::vector<std::pair<int64_t, int64_t>>> spans;  // exact picoseconds
    std::map<int64_t, int> flow_starts, flow_ends;
    int violations = 0;
    bool process_named = false;
    for (const auto& e : ev) {
        std::string ph = e.at("ph");
        if (ph == "M" && e.at("name") == "process_name") process_named = true;
        if (ph == "M" && e.at("name") == "thread_name") threads[e.at("tid")] = e.at("args").at("name");
        if (ph == "X") {
            REQUIRE(e.at("dur").get<double>() > 0);
            // Microseconds back to picoseconds: a sum of the doubles may round.
            int64_t ts = std::llround(e.at("ts").get<double>() * 1e6);
            int64_t dur = std::llround(e.at("dur").get<double>() * 1e6);
            spans[e.at("tid")].emplace_back(ts, ts + dur);
        }
        if (ph == "s") flow_starts[e.at("id")]++;
        if (ph == "f") flow_ends[e.at("id")]++;
        if (ph == "i" && e.at("cat") == "violation") ++violations;
    }
    REQUIRE(process_named);
    std::set<std::string> names;
    for (const auto& [tid, n] : threads) names.insert(n);
    for (const char* want : {"kernel", "sda", "ahci0", "dma0.core", "restore-kernel", "acpi"}) REQUIRE(names.count(want));
    // Slices on one thread are disjoint or nested, never crossing.
    std::string crossing;
    for (const auto& [tid, list] : spans)
        for (size_t i = 0; i < list.size(); ++i)
            for (size_t j = i + 1; j < list.size(); ++j) {
                auto [a0, a1] = list[i];
                auto [b0, b1] = list[j];
                bool disjoint = a1 <= b0 || b1 <= a0;
                bool nested = (a0 <= b0 && b1 <= a1) || (b0 <= a0 && a1 <= b1);
                if (!disjoint && !nested) crossing += threads[tid] + " ";
            }
    REQUIRE(crossing.empty());
    REQUIRE(!flow_starts.empty());
    REQUIRE(flow_starts == flow_ends);
    REQUIRE(violations == 3);  // dma.after-quiesce twice, image.atomicity
    REQUIRE_THROWS_AS(quiesce::export_chrome(reader, 99), quiesce::InputError);
}

TEST_CASE("trace: export writes a file, and refuses unknown formats", "[trace]") {
    Db db;
    std::string out = db.path + ".json";
    REQUIRE(run_cli("trace export " + db.path + " 1 -o " + out) == 0);
    std::ifstream in(out);
    json doc = json::parse(in);
    REQUIRE(doc.at("otherData").at("quiesce_run") == 1);
    std::filesystem::remove(out);
    REQUIRE(run_cli("trace export " + db.path + " 1 --format pdf") == 2);
}

TEST_CASE("trace: show is a timeline, diff finds where a failing run departs", "[trace]") {
    std::string path =
        (std::filesystem::temp_directory_path() / ("quiesce-diff-" + std::to_string(getpid()) + ".db")).string();
    std::filesystem::remove(path);
    REQUIRE(run_cli("run " + scenario("pci-bar-restore-fixed") + " " + scenario("pci-bar-restore-legacy") + " --db " +
                    path) == 0);
    std::string show;
    REQUIRE(run_cli("trace show " + path + " 2", &show) == 0);
    REQUIRE(show.find("run 2: pci-bar-restore-legacy (seed 2, linux-s3): passed, outcome resumed") == 0);
    REQUIRE(show.find("  suspend_noirq\n") != std::string::npos);
    REQUIRE(show.find("dma0 suspend_noirq (") != std::string::npos);
    REQUIRE(show.find("slowest callbacks") != std::string::npos);
    REQUIRE(show.find(" cycle ") != std::string::npos);  // the violation's cycle beside its time
    REQUIRE(show.find("hwstate.not-restored  dma0 in -: dma0.config: hardware-state registers COMMAND, BAR0, INT_LINE") !=
            std::string::npos);
    std::string diff;
    REQUIRE(run_cli("trace diff " + path + " 1 2", &diff) == 0);
    REQUIRE(diff.find("first difference at event ") != std::string::npos);
    REQUIRE(diff.find("  B: ") != std::string::npos);
    REQUIRE(diff.find("suspend_noirq ") != std::string::npos);
    std::string same;
    REQUIRE(run_cli("trace diff " + path + " 1 1", &same) == 0);
    REQUIRE(same.find("the runs have the same") != std::string::npos);
    // A run against itself has every phase in both columns, +0ps apart, as two identical runs do.
    REQUIRE(same.find("only in") == std::string::npos);
    std::istringstream rows(same.substr(same.find("\nphase ")));
    int phase_rows = 0;
    for (std::string line; std::getline(rows, line);) {
        if (line.empty() || line.rfind("phase ", 0) == 0) continue;
        INFO(line);
        REQUIRE(line.size() > 5);
        REQUIRE(line.substr(line.size() - 5) == " +0ps");
        ++phase_rows;
    }
    REQUIRE(phase_rows > 5);
    REQUIRE(run_cli("trace show " + path + " 7") == 2);
    std::filesystem::remove(path);
}

TEST_CASE("trace: diff says when the two runs were recorded at different trace levels", "[trace]") {
    // explore's baseline records at the scenario's level, its variants at
    // summary: the first difference between them is the level's.
    std::string path =
        (std::filesystem::temp_directory_path() / ("quiesce-levels-" + std::to_string(getpid()) + ".db")).string();
    std::filesystem::remove(path);
    REQUIRE(run_cli("explore " + scenario("s3-basic") + " --kinds callback-fail -j 2 --db " + path) == 1);
    std::string mixed, same, html;
    REQUIRE(run_cli("trace diff " + path + " 1 2", &mixed) == 0);
    CHECK(mixed.find("note: A was recorded at trace level events and B at summary: only the events both record are "
                     "compared (summary's: no per-operation slices, no instants but task results) (explore --trace "
                     "events records variants as the baseline)\n") != std::string::npos);
    REQUIRE(run_cli("trace diff " + path + " 2 3", &same) == 0);
    CHECK(same.find("note: ") == std::string::npos);
    const std::string page = path + ".html";
    REQUIRE(run_cli("trace diff " + path + " 1 2 --format html -o " + page) == 0);
    std::ifstream in(page);
    html.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(html.find("<p class=\"note\" id=\"levels\">A was recorded at trace level events and B at summary") !=
          std::string::npos);
    // One run recorded at both levels: no difference but the level's.
    const std::string summary_level = path + ".toml";
    {
        std::ifstream base(scenario("s3-basic"));
        std::string text((std::istreambuf_iterator<char>(base)), std::istreambuf_iterator<char>());
        std::ofstream(summary_level) << text << "\n[trace]\nlevel = \"summary\"\n";
    }
    const std::string two = path + "-two.db";
    REQUIRE(run_cli("run " + scenario("s3-basic") + " " + summary_level + " --db " + two) == 0);
    std::string both;
    REQUIRE(run_cli("trace diff " + two + " 1 2", &both) == 0);
    INFO(both);
    CHECK(both.find("note: A was recorded at trace level events and B at summary") != std::string::npos);
    CHECK(both.find("\nthe runs have the same ") != std::string::npos);
    for (const std::string& f : {path, path + "-wal", path + "-shm", page, summary_level, two}) std::filesystem::remove(f);
}

TEST_CASE("trace: summary gathers many runs across databases", "[trace]") {
    auto make = [](const std::string& name, const std::string& file) {
        std::string path = (std::filesystem::temp_directory_path() /
                            ("quiesce-sum-" + std::to_string(getpid()) + "-" + file)).string();
        std::filesystem::remove(path);
        REQUIRE(run_cli("run " + scenario(name) + " --db " + path) == 0);
        return path;
    };
    std::string a = make("s3-basic", "a.db"), b = make("pci-bar-restore-legacy", "b.db");
    std::string out;
    REQUIRE(run_cli("trace summary " + a + " " + b, &out) == 0);
    REQUIRE(out.find("2 runs: 2 passed, 0 not passed") == 0);
    REQUIRE(out.find("linux-s3   suspend_noirq                      2") != std::string::npos);
    REQUIRE(out.find("dma0           suspend_noirq                  2") != std::string::npos);
    REQUIRE(out.find("hwstate.not-restored              1          2") != std::string::npos);
    std::filesystem::remove(a);
    std::filesystem::remove(b);
}

TEST_CASE("trace: the export links each violation to the faults before it", "[trace]") {
    std::string path =
        (std::filesystem::temp_directory_path() / ("quiesce-flt-" + std::to_string(getpid()) + ".db")).string();
    std::filesystem::remove(path);
    REQUIRE(run_cli("run " + scenario("s4-image-bit-flip-no-crc") + " --db " + path) == 0);
    quiesce::TraceReader reader(path);
    json doc = json::parse(quiesce::export_chrome(reader, 1));
    int starts = 0, ends = 0;
    for (const auto& e : doc.at("traceEvents")) {
        if (e.value("cat", "") != "fault" || !e.contains("id")) continue;
        REQUIRE(e.at("name").get<std::string>().rfind("fault -> ", 0) == 0);
        (e.at("ph") == "s" ? starts : ends)++;
    }
    REQUIRE(starts == 3);  // one bit flip, three violations after it
    REQUIRE(ends == 3);
    std::filesystem::remove(path);
}

TEST_CASE("trace: the VCD export has the device tree as scopes and GTKWave's vcd2fst reads it", "[trace][vcd]") {
    std::string path =
        (std::filesystem::temp_directory_path() / ("quiesce-vcd-" + std::to_string(getpid()) + ".db")).string();
    std::filesystem::remove(path);
    REQUIRE(run_cli("run " + scenario("pci-bar-restore-legacy") + " --db " + path) == 0);
    std::string vcd = path + ".vcd", fst = path + ".fst";
    REQUIRE(run_cli("trace export " + path + " 1 --format vcd -o " + vcd) == 0);
    std::ifstream in(vcd);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(text.find("$timescale 1ps $end") != std::string::npos);
    // pci0 > rp0 > dma0: the device tree as nested scopes.
    size_t pci0 = text.find("$scope module pci0 $end"), rp0 = text.find("$scope module rp0 $end"),
           dma0 = text.find("$scope module dma0 $end");
    REQUIRE(pci0 != std::string::npos);
    REQUIRE((pci0 < rp0 && rp0 < dma0));
    REQUIRE(text.find("dstate [31:0] $end") != std::string::npos);
    REQUIRE(text.find("phase $end") != std::string::npos);
    REQUIRE(text.find("irq10 $end") != std::string::npos);
    REQUIRE(text.find("ssuspend_noirq ") != std::string::npos);  // a phase value change
    std::string cmd = "vcd2fst " + vcd + " " + fst + " > /dev/null 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
    REQUIRE(std::filesystem::file_size(fst) > 0);
    for (const auto& p : {path, vcd, fst, path + ".gtkw"}) std::filesystem::remove(p);
}

namespace {
std::string read_text(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

size_t count_of(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = 0; (at = text.find(what, at)) != std::string::npos; at += what.size()) ++n;
    return n;
}
}  // namespace

TEST_CASE("trace: the sleepgraph phase of a protocol phase", "[trace][html]") {
    using quiesce::sleepgraph_phase;
    REQUIRE(sleepgraph_phase("callbacks", "prepare", "", "suspend") == "suspend_prepare");
    REQUIRE(sleepgraph_phase("callbacks", "freeze", "", "suspend") == "suspend");
    REQUIRE(sleepgraph_phase("callbacks", "poweroff_late", "", "suspend") == "suspend_late");
    REQUIRE(sleepgraph_phase("callbacks", "freeze_noirq", "", "suspend") == "suspend_noirq");
    REQUIRE(sleepgraph_phase("callbacks", "thaw_noirq", "", "suspend") == "resume_noirq");
    REQUIRE(sleepgraph_phase("callbacks", "restore_early", "", "resume") == "resume_early");
    REQUIRE(sleepgraph_phase("callbacks", "complete", "", "resume") == "resume_complete");
    REQUIRE(sleepgraph_phase("snapshot", "", "", "suspend") == "suspend_machine");
    REQUIRE(sleepgraph_phase("cpus-online", "", "", "resume") == "resume_machine");
    REQUIRE(sleepgraph_phase("restrict-gfp", "", "", "suspend") == "suspend_prepare");
    REQUIRE(sleepgraph_phase("firmware", "", "_TTS", "suspend") == "suspend_prepare");
    REQUIRE(sleepgraph_phase("firmware", "", "_TTS", "resume") == "resume_complete");
    REQUIRE(sleepgraph_phase("firmware", "", "_WAK", "resume") == "resume_machine");
}

// The page is opened in Debian's Chromium, headless: its script must run
// without a console message, and the DOM it builds must hold a row for every
// device of the run and a marker, with the evidence, for every violation.
TEST_CASE("trace: the HTML timeline renders in headless Chromium", "[trace][html][chromium]") {
    REQUIRE(std::system("command -v chromium > /dev/null") == 0);  // scripts/install-deps.sh installs it
    std::string base =
        (std::filesystem::temp_directory_path() / ("quiesce-html-" + std::to_string(getpid()))).string();
    std::string db = base + ".db", html = base + ".html", dom = base + ".dom", log = base + ".log";
    std::filesystem::remove(db);
    REQUIRE(run_cli("run " + scenario("s3-basic") + " " + scenario("s4-dma-during-snapshot") + " --db " + db) == 0);
    REQUIRE(run_cli("trace export " + db + " 2 --format html -o " + html) == 0);
    std::string page = read_text(html);
    // Self-contained: nothing to fetch.
    REQUIRE(page.find("http") == std::string::npos);
    REQUIRE(page.find(" src=") == std::string::npos);
    REQUIRE(page.find("<link") == std::string::npos);
    REQUIRE(count_of(page, "</script>") == 2);  // the data cannot close its element early

    std::vector<std::string> devices;
    std::vector<std::pair<std::string, std::string>> violations;  // invariant, evidence
    {
        quiesce::TraceReader reader(db);
        reader.each("SELECT name FROM track WHERE run_id = 2 AND kind = 'device'", {},
                    [&](const std::vector<std::string>& c) { devices.push_back(c[0]); });
        reader.each("SELECT invariant, evidence FROM violation WHERE run_id = 2", {},
                    [&](const std::vector<std::string>& c) { violations.emplace_back(c[0], c[1]); });
    }
    REQUIRE(devices.size() >= 5);
    REQUIRE(violations.size() >= 2);

    std::string profile = base + ".profile", shot = std::string(QUIESCE_ARTEFACT_DIR) + "/html-timeline.png";
    std::filesystem::remove(shot);
    std::string chromium = "timeout 120 chromium --headless --no-sandbox --disable-gpu --user-data-dir=" + profile +
                           " --enable-logging=stderr --v=0 --window-size=1600,1000 ";
    REQUIRE(std::system((chromium + "--dump-dom file://" + html + " > " + dom + " 2> " + log).c_str()) == 0);
    std::string tree = read_text(dom), messages = read_text(log);
    INFO(messages);
    REQUIRE(messages.find("CONSOLE") == std::string::npos);  // no error, no warning, no log from the page
    REQUIRE(tree.find("data-rendered=\"true\"") != std::string::npos);
    for (const auto& d : devices) {
        INFO(d);
        REQUIRE(count_of(tree, "class=\"row\" data-track=\"" + d + "\" data-kind=\"device\"") == 1);
    }
    REQUIRE(count_of(tree, "class=\"marker violation\"") == violations.size());
    for (const auto& [invariant, evidence] : violations) {
        INFO(invariant);
        REQUIRE(tree.find("data-invariant=\"" + invariant + "\"") != std::string::npos);
        // The evidence is in the marker's label, which the hover box shows.
        json ev = json::parse(evidence);
        REQUIRE(!ev.empty());
        REQUIRE(tree.find("&quot;" + ev.begin().key() + "&quot;: ") != std::string::npos);  // in an attribute
    }
    REQUIRE(tree.find("class=\"band ph-suspend_noirq\"") != std::string::npos);  // the phases as colour bands
    REQUIRE(tree.find("data-block=\"resume\"") != std::string::npos);           // the sleepgraph blocks
    REQUIRE(tree.find("data-block=\"suspend\"") != std::string::npos);

    // The screenshot stays in the build tree for a person to look at.
    REQUIRE(std::system((chromium + "--screenshot=" + shot + " file://" + html + " > /dev/null 2>&1").c_str()) == 0);
    std::string png = read_text(shot);
    REQUIRE(png.size() > 1000);
    REQUIRE(png.compare(1, 3, "PNG") == 0);
    std::filesystem::remove_all(profile);
    for (const auto& p : {db, html, dom, log}) std::filesystem::remove(p);
}

// A database edited by hand (or by another tool) still exports: names with
// quotes, backslashes, control characters, "</script>" and bytes that are
// not UTF-8, args that are not a JSON object.
TEST_CASE("trace: exports stay valid on a database with hostile strings", "[trace][html]") {
    std::string path =
        (std::filesystem::temp_directory_path() / ("quiesce-hostile-" + std::to_string(getpid()) + ".db")).string();
    std::filesystem::remove(path);
    REQUIRE(run_cli("run " + scenario("s4-dma-during-snapshot") + " --db " + path) == 0);
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    const char* edits =
        "UPDATE run SET scenario = 'a \"quoted\" </script><b> \\ name' || char(1);"
        "UPDATE track SET name = name || ' </script>' || char(9) || cast(x'ff' AS TEXT) WHERE name = 'dma0';"
        "UPDATE slice SET args = 'not json {' WHERE category = 'callback' AND id % 2 = 0;"
        "UPDATE slice SET args = '[1,2]' WHERE category = 'callback' AND id % 3 = 0;"
        "UPDATE violation SET message = message || ' </script> \"' || cast(x'c3' AS TEXT), evidence = '{';";
    REQUIRE(sqlite3_exec(db, edits, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);

    std::string out;
    REQUIRE(run_cli("trace export " + path + " 1 --format chrome -o " + path + ".json") == 0);
    json doc = json::parse(read_text(path + ".json"));  // throws if not valid JSON
    size_t raw_args = 0;
    for (const auto& e : doc.at("traceEvents")) {
        if (!e.contains("args")) continue;  // flows
        REQUIRE(e.at("args").is_object());
        raw_args += e.at("args").contains("raw");
    }
    REQUIRE(raw_args > 0);

    REQUIRE(run_cli("trace export " + path + " 1 --format html -o " + path + ".html") == 0);
    std::string page = read_text(path + ".html");
    REQUIRE(count_of(page, "</script>") == 2);
    size_t open = page.find("id=\"quiesce-data\">");
    REQUIRE(open != std::string::npos);
    open = page.find('>', open) + 1;
    json data = json::parse(page.substr(open, page.find("</script>", open) - open));
    REQUIRE(data.at("run").at("scenario").get<std::string>().find("</script>") != std::string::npos);
    REQUIRE(data.at("violations").size() >= 2);
    REQUIRE(run_cli("trace export " + path + " 1 --format vcd -o " + path + ".vcd") == 0);
    for (const char* ext : {"", ".json", ".html", ".vcd", ".gtkw"}) std::filesystem::remove(path + ext);
}

TEST_CASE("wire: a stream decoded in pieces (a shared prefix, then a suffix) is the stream decoded whole", "[trace]") {
    using namespace quiesce;
    WireWriter w(-1);
    auto ev = [](Picos ts, const char* name) {
        Event e;
        e.kind = EvKind::Instant;
        e.ts = ts;
        e.track = "kernel";
        e.name = name;
        e.category = "pm";
        e.args = {{"device", "dma0"}};
        return e;
    };
    w.event(ev(1, "a"));
    w.event(ev(2, "b"));
    const std::string prefix = w.take();
    w.event(ev(3, "c"));
    RunSummary sum;
    sum.outcome = "resumed";
    sum.memory_digest = 42;
    sum.persistence = {{"sda", 7}};
    w.summary(sum);
    const std::string suffix = w.take();
    REQUIRE(!prefix.empty());
    REQUIRE(!suffix.empty());

    RunStream whole = decode_stream(prefix + suffix);
    StreamDecoder shared;
    shared.feed(prefix);
    StreamDecoder d = shared;  // what the parent does for each variant
    d.feed(suffix);
    RunStream pieces = std::move(d).finish();
    CHECK(!whole.truncated);
    CHECK(pieces.events.size() == 3);
    CHECK(pieces.digest == whole.digest);
    CHECK(pieces.events[2].name == "c");
    CHECK(pieces.summary.outcome == "resumed");
    // The persistence points travel outside the digest.
    CHECK(pieces.persistence == std::vector<std::pair<std::string, Picos>>{{"sda", 7}});
    // The shared decoder is untouched, and the suffix alone is another stream.
    CHECK(shared.finish().events.size() == 2);
    CHECK(decode_stream(suffix).digest != whole.digest);
    // A suffix cut short (a crashed child) is a truncated stream.
    StreamDecoder cut = shared;
    cut.feed(suffix.substr(0, suffix.size() / 2));
    CHECK(cut.finish().truncated);
}

TEST_CASE("wire: a stream cut at any byte decodes its whole records only", "[trace]") {
    using namespace quiesce;
    WireWriter w(-1);
    for (int i = 0; i < 12; ++i) {
        Event e;
        e.kind = i % 2 ? EvKind::SliceBegin : EvKind::Instant;
        e.ts = Picos(i) * 7;
        e.track = i % 3 ? "pci0.rp0.dma0.io" : "cpu0";
        e.name = "a name longer than the short-string room " + std::to_string(i);
        e.category = "step";
        e.phase = i % 2 ? "suspend" : "";
        e.initiator = i % 4 ? "" : "dma0";
        e.data = uint64_t(i) * 0x123456789ULL;
        for (int a = 0; a < i % 4; ++a) e.args.push_back({"key" + std::to_string(a), std::string(size_t(a) * 9, 'v')});
        w.event(e);
    }
    const std::string bytes = w.take();
    const RunStream whole = decode_stream(bytes);
    REQUIRE(whole.events.size() == 12);
    size_t last = 0;
    for (size_t cut = 0; cut <= bytes.size(); ++cut) {
        const RunStream part = decode_stream(bytes.substr(0, cut));
        INFO("cut at byte " << cut << " of " << bytes.size());
        CHECK(part.truncated);  // no summary: never whole
        // Never fewer than at a shorter cut, never more than one more.
        CHECK(part.events.size() >= last);
        CHECK(part.events.size() <= last + 1);
        last = part.events.size();
        for (size_t i = 0; i < part.events.size(); ++i) {
            const Event& a = part.events[i];
            const Event& b = whole.events[i];
            CHECK(a.name == b.name);
            CHECK(a.ts == b.ts);
            CHECK(a.initiator == b.initiator);
            CHECK(a.data == b.data);
            REQUIRE(a.args.size() == b.args.size());
            for (size_t k = 0; k < a.args.size(); ++k) {
                CHECK(a.args[k].key == b.args[k].key);
                CHECK(a.args[k].value == b.args[k].value);
            }
        }
    }
    CHECK(last == 12);
}

TEST_CASE("wire: a decoder takes room for a whole stream's events at once, and decodes it as before", "[trace]") {
    using namespace quiesce;
    WireWriter w(-1);
    std::string first;  // the first 400 events: a piece as a prefix process sends at a pause
    for (int i = 0; i < 1000; ++i) {  // not a power of two: a vector grown one by one would hold 1024
        if (i == 400) first = w.take();
        Event e;
        e.kind = i % 3 ? EvKind::SliceBegin : EvKind::Instant;
        e.ts = Picos(i) * 1000;
        e.track = i % 2 ? "pci0.rp0.dma0.io" : "cpu0";
        e.name = "step-" + std::to_string(i);
        e.category = "step";
        e.phase = "suspend";
        e.initiator = i % 5 ? "" : "dma0";
        e.addr = uint64_t(i) << 20;
        for (int a = 0; a < i % 4; ++a) e.args.push_back({"arg" + std::to_string(a), std::to_string(i * a)});
        w.event(e);
    }
    RunSummary sum;
    sum.outcome = "resumed";
    sum.memory_digest = 7;
    sum.persistence = {{"sda", 5}, {"sda", 9}};
    ContextPair c;
    c.phase = "suspend";
    c.a = "dma0";
    c.b = "ahci0";
    sum.contexts = {c};
    w.summary(sum);
    const std::string bytes = first + w.take();

    RunStream whole = decode_stream(bytes);
    CHECK(!whole.truncated);
    REQUIRE(whole.events.size() == 1000);
    CHECK(whole.events.capacity() == 1000);  // one allocation, no growth
    CHECK(whole.persistence.size() == 2);
    CHECK(whole.contexts.size() == 1);
    CHECK(whole.events[999].name == "step-999");
    CHECK(whole.events[7].args.size() == 3);
    // Fed in pieces (as a prefix process sends them), it is the same stream.
    StreamDecoder d;
    d.feed(first);
    StreamDecoder copy = d;  // what the parent does for each variant
    copy.feed(bytes.substr(first.size()));
    RunStream pieces = std::move(copy).finish();
    CHECK(!pieces.truncated);
    CHECK(pieces.digest == whole.digest);
    CHECK(pieces.events.size() == 1000);
    CHECK(pieces.events[999].args.size() == 3);
    CHECK(d.finish().events.size() == 400);
    // Cut short (a crashed child), what came whole is decoded, and marked truncated.
    RunStream cut_short = decode_stream(bytes.substr(0, bytes.size() / 2));
    CHECK(cut_short.truncated);
    CHECK(cut_short.events.size() > 400);
    CHECK(cut_short.events.size() < 600);
    for (size_t i = 0; i < cut_short.events.size(); ++i) CHECK(cut_short.events[i].name == whole.events[i].name);
}
