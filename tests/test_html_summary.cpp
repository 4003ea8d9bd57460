// The multi-run summary page (trace export --format html over several runs)
// and the diff page (trace diff --format html): their statistics as units,
// and the pages built from a real database, opened in headless Chromium.
#include "cli.h"
#include "files.h"

#include "sim/core/errors.h"
#include "sim/trace/summary.h"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

using quiesce::test::regression;
using quiesce::test::sh;

namespace {

size_t occurrences(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = 0; (at = text.find(what, at)) != std::string::npos; at += what.size()) ++n;
    return n;
}

// The element that starts with `open` (up to its end tag `close`).
std::string element(const std::string& text, const std::string& open, const std::string& close = "</tr>") {
    size_t a = text.find(open);
    if (a == std::string::npos) return "";
    return text.substr(a, text.find(close, a) - a);
}

std::string ps_cell(const std::string& cls, uint64_t ps) {
    return "class=\"t " + cls + "\" data-ps=\"" + std::to_string(ps) + "\"";
}

quiesce::PhaseSpan phase(const std::string& name, const std::string& action, const std::string& direction,
                         quiesce::Picos ts, quiesce::Picos dur) {
    return {name, action, direction, ts, dur};
}

}  // namespace

TEST_CASE("summary: min, median and max of durations", "[trace][html][summary]") {
    using quiesce::duration_stats;
    auto s = duration_stats({5, 1, 9});
    REQUIRE(s.n == 3);
    REQUIRE(s.min == 1);
    REQUIRE(s.median == 5);
    REQUIRE(s.max == 9);
    s = duration_stats({4, 1, 10, 3});  // even: the mean of the middle two
    REQUIRE(s.median == 3);             // (3 + 4) / 2, rounded down
    REQUIRE(duration_stats({2, 8}).median == 5);
    s = duration_stats({});
    REQUIRE(s.n == 0);
    REQUIRE(s.max == 0);
    // Near the top of the range the mean of two does not overflow.
    const quiesce::Picos big = ~quiesce::Picos(0) - 10;
    REQUIRE(duration_stats({big, big + 10}).median == big + 5);
}

TEST_CASE("summary: suspend and resume times of a transition from its phases", "[trace][html][summary]") {
    using quiesce::transition_times;
    // S3: the sleep is platform-enter; suspend until it, resume after it.
    std::vector<quiesce::PhaseSpan> s3 = {phase("prepare", "callbacks", "suspend", 100, 20),
                                          phase("platform-enter", "platform-enter", "suspend", 150, 1000),
                                          phase("resume", "callbacks", "resume", 1150, 30)};
    auto t = transition_times(100, 1100, s3);
    REQUIRE(t.suspend == 50);
    REQUIRE(t.resume);
    REQUIRE(*t.resume == 50);
    REQUIRE(t.sleep);
    REQUIRE(*t.sleep == 1000);
    // Suspend-to-idle sleeps in its s2idle phase.
    auto s2 = transition_times(0, 100, {phase("s2idle", "s2idle", "suspend", 40, 50)});
    REQUIRE(s2.suspend == 40);
    REQUIRE(*s2.resume == 10);
    // Aborted: no sleep, the whole transition is suspend, no resume.
    auto aborted = transition_times(10, 500, {phase("suspend_noirq", "callbacks", "suspend", 20, 100),
                                              phase("resume_noirq", "callbacks", "resume", 120, 100)});
    REQUIRE(aborted.suspend == 500);
    REQUIRE(!aborted.resume);
    REQUIRE(!aborted.sleep);
    // Slept and never came back: the transition ends with its sleep.
    auto gone = transition_times(0, 100, {phase("platform-enter", "platform-enter", "suspend", 60, 40)});
    REQUIRE(gone.suspend == 60);
    REQUIRE(!gone.resume);
    // A sleep phase outside the transition is not its sleep.
    REQUIRE(!transition_times(0, 100, {phase("s2idle", "s2idle", "suspend", 200, 5)}).sleep);
}

TEST_CASE("summary: a callback counts in the half of the phase around it", "[trace][html][summary]") {
    using quiesce::callback_direction;
    // S4: thaw runs before the sleep in a phase of direction suspend.
    std::vector<quiesce::PhaseSpan> s4 = {phase("freeze", "callbacks", "suspend", 0, 10),
                                          phase("irqs-on-thaw", "irqs-on", "suspend", 10, 0),
                                          phase("thaw", "callbacks", "suspend", 10, 10),
                                          phase("platform-enter", "platform-enter", "suspend", 20, 100),
                                          phase("restore", "callbacks", "resume", 120, 10)};
    REQUIRE(callback_direction(12, s4) == "suspend");
    REQUIRE(callback_direction(125, s4) == "resume");
    // An aborted transition's unwinding is resume.
    std::vector<quiesce::PhaseSpan> aborted = {phase("suspend_noirq", "callbacks", "suspend", 0, 10),
                                               phase("resume_noirq", "callbacks", "resume", 10, 10)};
    REQUIRE(callback_direction(5, aborted) == "suspend");
    REQUIRE(callback_direction(15, aborted) == "resume");
    // Between phases: by the sleep.
    std::vector<quiesce::PhaseSpan> gaps = {phase("a", "callbacks", "suspend", 0, 5),
                                            phase("s2idle", "s2idle", "suspend", 10, 10),
                                            phase("b", "callbacks", "resume", 30, 5)};
    REQUIRE(callback_direction(7, gaps) == "suspend");
    REQUIRE(callback_direction(25, gaps) == "resume");
}

TEST_CASE("summary: run lists on the command line", "[trace][html][summary]") {
    using quiesce::parse_run_list;
    REQUIRE(parse_run_list({"5", "1-3", "2"}) == std::vector<int64_t>{1, 2, 3, 5});
    REQUIRE(parse_run_list({"7,2-3"}) == std::vector<int64_t>{2, 3, 7});
    REQUIRE(parse_run_list({}).empty());
    for (const char* bad : {"0", "x", "3-1", "-", "1-", "1,", "2-x", "99999999999999999999"}) {
        INFO(bad);
        REQUIRE_THROWS_AS(parse_run_list({bad}), quiesce::InputError);
    }
}

namespace {
// Three runs of the regression scenarios with different outcomes (resumed,
// aborted by a failed callback, resumed with violations) and one of twenty
// cycles.
struct FourRuns {
    std::string base, db;
    FourRuns() {
        base = (std::filesystem::temp_directory_path() / ("quiesce-summary-" + std::to_string(getpid()))).string();
        db = base + ".db";
        std::filesystem::remove(db);
        auto r = sh("run " + regression("s3-basic") + " " + regression("s3-callback-fail-noirq") + " " +
                    regression("pci-bar-restore-legacy") + " " + regression("s3-cycles-20") + " --db " + db);
        INFO(r.out);
        REQUIRE(r.status == 0);
    }
    ~FourRuns() {
        std::filesystem::remove(db);
        std::filesystem::remove_all(base + ".d");
    }
    // One number the test asks the database for itself.
    uint64_t number(const std::string& sql) const {
        auto r = sh("query " + db + " \"" + sql + "\" --format csv");
        REQUIRE(r.status == 0);
        std::istringstream lines(r.out);
        std::string header, value;
        std::getline(lines, header);
        std::getline(lines, value);
        INFO(sql << " -> " << r.out);
        REQUIRE(!value.empty());
        return std::stoull(value);
    }
};

// Where run `run`'s (first) transition sleeps: platform-enter's start and end, the transition's start and end.
std::string sleep_sql(int run, const char* what) {
    return std::string("SELECT ") + what +
           " FROM slice p JOIN slice tr ON tr.run_id = p.run_id AND tr.category = 'transition'"
           " WHERE p.run_id = " +
           std::to_string(run) +
           " AND p.category = 'phase' AND p.name = 'platform-enter' ORDER BY tr.ts, p.ts LIMIT 1";
}
}  // namespace

TEST_CASE("summary: the numbers of a real database", "[trace][html][summary]") {
    FourRuns f;
    quiesce::TraceReader reader(f.db);
    quiesce::MultiRunSummary s = quiesce::summarize_runs(reader, {});
    REQUIRE(s.runs.size() == 4);
    REQUIRE(s.runs[0].outcome == "resumed");
    REQUIRE(s.runs[1].outcome.rfind("aborted", 0) == 0);
    REQUIRE(s.runs[2].violations == f.number("SELECT count(*) FROM violation WHERE run_id = 3"));
    REQUIRE(s.runs[2].violations > 0);
    // Suspend and resume against the phases, as the test reads them.
    REQUIRE(s.runs[0].cycles.size() == 1);
    REQUIRE(s.runs[0].cycles[0].times.suspend == f.number(sleep_sql(1, "p.ts - tr.ts")));
    REQUIRE(*s.runs[0].cycles[0].times.resume == f.number(sleep_sql(1, "tr.ts + tr.dur - p.ts - p.dur")));
    REQUIRE(s.runs[1].cycles[0].times.suspend ==
            f.number("SELECT dur FROM slice WHERE run_id = 2 AND category = 'transition'"));
    REQUIRE(!s.runs[1].cycles[0].times.resume);
    REQUIRE(s.runs[3].cycles.size() == 20);
    REQUIRE(s.runs[3].cycles_line == "20 of 20");
    REQUIRE(s.runs[3].cycles[19].cycle == 20);
    // The device statistics: dma0 suspends once per transition (1 + 1 + 1 + 20) and its
    // largest suspend-half sum is one of the sums the database holds.
    const quiesce::DeviceSummary* dma0 = nullptr;
    for (const auto& d : s.devices)
        if (d.device == "dma0") dma0 = &d;
    REQUIRE(dma0);
    REQUIRE(dma0->suspend.n == 23);
    REQUIRE(dma0->resume.n == 23);
    REQUIRE(dma0->suspend.min <= dma0->suspend.median);
    REQUIRE(dma0->suspend.median <= dma0->suspend.max);
    // Run 1 has one transition: its dma0 suspend-half sum is its callbacks before the sleep.
    uint64_t run1 = f.number("SELECT sum(s.dur) FROM slice s JOIN track t ON t.id = s.track_id WHERE s.run_id = 1"
                             " AND t.name = 'dma0' AND s.category = 'callback' AND s.ts < (" +
                             sleep_sql(1, "p.ts") + ")");
    REQUIRE(dma0->suspend.min <= run1);
    REQUIRE(run1 <= dma0->suspend.max);
    // The failed callback of run 2 is counted.
    size_t failed = 0;
    for (const auto& c : s.callbacks) failed += c.failed;
    REQUIRE(failed == f.number("SELECT count(*) FROM slice WHERE category = 'callback' AND"
                               " coalesce(json_extract(args, '$.rc'), 0) <> 0"));
    REQUIRE(failed > 0);
    REQUIRE(s.invariants.size() >= 1);
    REQUIRE(s.invariants[0].invariant == "hwstate.not-restored");
    REQUIRE(s.invariants[0].runs == std::vector<int64_t>{3});
    // A subset, and a run that is not there.
    REQUIRE(quiesce::summarize_runs(reader, {2, 3}).runs.size() == 2);
    REQUIRE_THROWS_AS(quiesce::summarize_runs(reader, {2, 9}), quiesce::InputError);
}

TEST_CASE("summary: bad run selections write nothing", "[trace][html][summary]") {
    FourRuns f;
    std::string dir = f.base + ".d";
    auto r = sh("trace export " + f.db + " 1-2 --format chrome -o " + dir);
    REQUIRE(r.status == 2);
    REQUIRE(r.out.find("--format chrome writes one run") != std::string::npos);
    r = sh("trace export " + f.db + " 2 9 --format html -o " + dir);
    REQUIRE(r.status == 2);
    REQUIRE(r.out.find("no run 9") != std::string::npos);
    r = sh("trace export " + f.db + " --format html");
    REQUIRE(r.status == 2);
    REQUIRE(r.out.find("needs -o DIR") != std::string::npos);
    REQUIRE(!std::filesystem::exists(dir));
    r = sh("trace diff " + f.db + " 1 9 --format html -o " + dir + ".html");
    REQUIRE(r.status == 2);
    REQUIRE(!std::filesystem::exists(dir + ".html"));
}

namespace {
// Opens `page` in Debian's Chromium, headless; returns its DOM after the
// scripts ran, and requires that the page logged nothing.
std::string chromium_dom(const std::string& page, const std::string& base) {
    REQUIRE(std::system("command -v chromium > /dev/null") == 0);  // scripts/install-deps.sh installs it
    std::string dom = base + ".dom", log = base + ".log", profile = base + ".profile";
    std::string cmd = "timeout 120 chromium --headless --no-sandbox --disable-gpu --user-data-dir=" + profile +
                      " --enable-logging=stderr --v=0 --window-size=1600,1000 --dump-dom file://" + page + " > " +
                      dom + " 2> " + log;
    REQUIRE(std::system(cmd.c_str()) == 0);
    std::string tree = quiesce::test::read_text(dom), messages = quiesce::test::read_text(log);
    INFO(messages);
    REQUIRE(messages.find("CONSOLE") == std::string::npos);  // no error, no warning, no log
    std::filesystem::remove_all(profile);
    std::filesystem::remove(dom);
    std::filesystem::remove(log);
    return tree;
}
}  // namespace

TEST_CASE("summary: the multi-run page renders in headless Chromium", "[trace][html][summary][chromium]") {
    FourRuns f;
    std::string dir = f.base + ".d";
    auto r = sh("trace export " + f.db + " --format html -o " + dir);
    INFO(r.out);
    REQUIRE(r.status == 0);
    std::string page = quiesce::test::read_text(dir + "/index.html");
    REQUIRE(page.find("http") == std::string::npos);  // self-contained
    REQUIRE(page.find(" src=") == std::string::npos);
    REQUIRE(page.find("<link") == std::string::npos);
    for (int run = 1; run <= 4; ++run) REQUIRE(std::filesystem::exists(dir + "/run-" + std::to_string(run) + ".html"));

    std::string tree = chromium_dom(dir + "/index.html", f.base);
    REQUIRE(tree.find("data-runs=\"4\" data-passed=\"4\"") != std::string::npos);
    // A row per run, linking its timeline, with the times the test computes from the phases.
    for (int run = 1; run <= 4; ++run)
        REQUIRE(tree.find("<a href=\"run-" + std::to_string(run) + ".html\">" + std::to_string(run) + "</a>") !=
                std::string::npos);
    std::string row1 = element(tree, "<tr id=\"run-1\"");
    REQUIRE(row1.find(ps_cell("suspend", f.number(sleep_sql(1, "p.ts - tr.ts")))) != std::string::npos);
    REQUIRE(row1.find(ps_cell("resume", f.number(sleep_sql(1, "tr.ts + tr.dur - p.ts - p.dur")))) !=
            std::string::npos);
    std::string row2 = element(tree, "<tr id=\"run-2\"");
    REQUIRE(row2.find("aborted") != std::string::npos);
    REQUIRE(row2.find("<td class=\"t resume\">-</td>") != std::string::npos);
    std::string row3 = element(tree, "<tr id=\"run-3\"");
    REQUIRE(row3.find("has-violations") != std::string::npos);
    REQUIRE(row3.find("<td class=\"n violations\">" +
                      std::to_string(f.number("SELECT count(*) FROM violation WHERE run_id = 3")) + "</td>") !=
            std::string::npos);
    // Twenty cycles, each with its own times; cycle 20's suspend from its phases.
    REQUIRE(occurrences(tree, "<tr class=\"cycle\" data-run=\"4\"") == 20);
    std::string c20 = element(tree, "<tr class=\"cycle\" data-run=\"4\" data-cycle=\"20\"");
    REQUIRE(c20.find(ps_cell("suspend", f.number("SELECT p.ts - tr.ts FROM slice p JOIN slice tr ON tr.run_id = 4"
                                                 " AND tr.category = 'transition'"
                                                 " AND json_extract(tr.args, '$.cycle') = 20"
                                                 " WHERE p.run_id = 4 AND p.name = 'platform-enter'"
                                                 " AND p.ts BETWEEN tr.ts AND tr.ts + tr.dur"))) != std::string::npos);
    // Per device, and violations across runs with the runs they hit.
    REQUIRE(tree.find("<tr data-device=\"dma0\"><td>dma0</td><td class=\"n suspend-n\">23</td>") != std::string::npos);
    std::string vio = element(tree, "<tr data-invariant=\"hwstate.not-restored\"");
    REQUIRE(vio.find("<td class=\"n runs\">1</td>") != std::string::npos);
    REQUIRE(vio.find("<a href=\"run-3.html\">3</a>") != std::string::npos);

    // A run page written beside it renders too.
    std::string run2 = chromium_dom(dir + "/run-2.html", f.base);
    REQUIRE(run2.find("data-rendered=\"true\"") != std::string::npos);

    // A list of runs: only those.
    r = sh("trace export " + f.db + " 1 3 --format html -o " + dir + "/two");
    REQUIRE(r.status == 0);
    std::string two = quiesce::test::read_text(dir + "/two/index.html");
    REQUIRE(occurrences(two, "<tr id=\"run-") == 2);
    REQUIRE(!std::filesystem::exists(dir + "/two/run-2.html"));
}

TEST_CASE("summary: the diff page renders in headless Chromium", "[trace][html][summary][chromium]") {
    FourRuns f;
    std::string page = f.base + ".d/diff.html";
    std::filesystem::create_directories(f.base + ".d");
    // s3-basic against the run whose dma0 suspend_noirq fails.
    auto r = sh("trace diff " + f.db + " 1 2 --format html -o " + page);
    INFO(r.out);
    REQUIRE(r.status == 0);
    std::string tree = chromium_dom(page, f.base);
    REQUIRE(tree.find("id=\"first-difference\" data-event=\"") != std::string::npos);
    REQUIRE(tree.find("data-event=\"none\"") == std::string::npos);
    // The failed callback, highlighted; run 1's sleep is only in A.
    std::string failed = element(tree, "data-key=\"dma0 suspend_noirq#0\"");
    REQUIRE(!failed.empty());
    REQUIRE(tree.find("rc-changed\" data-key=\"dma0 suspend_noirq#0\"") != std::string::npos);
    REQUIRE(failed.find("<td class=\"rc\">-5</td>") != std::string::npos);
    REQUIRE(tree.find("<tr class=\"only-a\" data-key=\"platform-enter#0\">") != std::string::npos);
    // Both durations of a phase, exact in data-ps.
    std::string noirq = element(tree, "data-key=\"suspend_noirq#0\"");
    REQUIRE(noirq.find("data-ps=\"" +
                       std::to_string(f.number("SELECT dur FROM slice WHERE run_id = 1 AND category = 'phase'"
                                               " AND name = 'suspend_noirq'")) +
                       "\"") != std::string::npos);
    REQUIRE(noirq.find("data-ps=\"" +
                       std::to_string(f.number("SELECT dur FROM slice WHERE run_id = 2 AND category = 'phase'"
                                               " AND name = 'suspend_noirq'")) +
                       "\"") != std::string::npos);
    // A run against itself: no difference anywhere.
    r = sh("trace diff " + f.db + " 3 3 --format html -o " + page);
    REQUIRE(r.status == 0);
    std::string same = quiesce::test::read_text(page);
    REQUIRE(same.find("data-event=\"none\"") != std::string::npos);
    REQUIRE(same.find("data-only-a=\"0\" data-only-b=\"0\" data-changed=\"0\" data-rc-changed=\"0\"") !=
            std::string::npos);
    REQUIRE(same.find("class=\"only-") == std::string::npos);
}

// The timeline page draws only what is on screen, and slices thinner than a
// pixel as "dense" bars: a run of twenty cycles (the fault in cycle 17
// stretches the page over all of them) makes far fewer bars than slices.
TEST_CASE("summary: the timeline of many cycles draws dense bars, not every slice", "[trace][html][chromium]") {
    std::string base =
        (std::filesystem::temp_directory_path() / ("quiesce-dense-" + std::to_string(getpid()))).string();
    std::string db = base + ".db", page = base + ".html";
    std::filesystem::remove(db);
    REQUIRE(sh("run " + regression("s3-cycles-fault-on-cycle-17") + " --db " + db).status == 0);
    REQUIRE(sh("trace export " + db + " 1 --format html -o " + page).status == 0);
    auto slices = sh("query " + db + " \"SELECT count(*) FROM slice WHERE category NOT IN ('phase', 'transition')\""
                     " --format csv");
    REQUIRE(slices.status == 0);
    size_t n = std::stoul(slices.out.substr(slices.out.find('\n') + 1));
    REQUIRE(n > 2000);
    std::string tree = chromium_dom(page, base);
    REQUIRE(tree.find("data-rendered=\"true\"") != std::string::npos);
    size_t bars = occurrences(tree, "class=\"bar "), dense = occurrences(tree, "class=\"bar dense");
    INFO(bars << " bars, " << dense << " dense, " << n << " slices");
    REQUIRE(dense > 0);
    REQUIRE(bars * 4 < n);
    REQUIRE(tree.find("slices on dma0 (zoom in to tell them apart)") != std::string::npos);
    REQUIRE(tree.find("<span id=\"onscreen\">on screen: ") != std::string::npos);
    std::filesystem::remove(db);
    std::filesystem::remove(page);
}

// A run of several cycles ([cycles]) is framed whole: a block per cycle
// (its suspend, its sleep, its resume) with the time between cycles
// squeezed between them - not the first transition with the rest off the
// page.
TEST_CASE("summary: the timeline of a multi-cycle run frames every cycle", "[trace][html][chromium]") {
    std::string base =
        (std::filesystem::temp_directory_path() / ("quiesce-cycles-" + std::to_string(getpid()))).string();
    std::string db = base + ".db", page = base + ".html";
    std::filesystem::remove(db);
    REQUIRE(sh("run " + regression("cycles-s2idle-then-s3") + " --db " + db).status == 0);
    REQUIRE(sh("trace export " + db + " 1 --format html -o " + page).status == 0);
    std::string tree = chromium_dom(page, base);
    REQUIRE(tree.find("data-rendered=\"true\"") != std::string::npos);
    CHECK(tree.find("id=\"cycle-count\">2 cycles<") != std::string::npos);
    for (const char* block : {"suspend 1", "resume 1", "between 1\u20132", "suspend 2", "resume 2"})
        CHECK(tree.find(std::string("data-block=\"") + block + "\"") != std::string::npos);
    CHECK(occurrences(tree, "data-block=\"sleep\"") == 2);  // s2idle, then S3
    CHECK(tree.find(">s2idle \u00b7 ") != std::string::npos);
    CHECK(tree.find(">S3 \u00b7 ") != std::string::npos);
    std::filesystem::remove(db);
    std::filesystem::remove(page);
}

// The header's suspend time is the transition's, as the summary page has it:
// a violation reported after an aborted transition widens the view to show
// its marker, not the suspend (s3-gpu-evict-timeout-free-in-flight with
// each command held up 400 ms instead of 60: the late DMA lands after the
// abort's resume - 311 ms, ahci0's HBA and link reset - has ended).
TEST_CASE("summary: the timeline's suspend time is the transition's, not the view's", "[trace][html][chromium]") {
    std::string base = (std::filesystem::temp_directory_path() / ("quiesce-late-" + std::to_string(getpid()))).string();
    std::string db = base + ".db", page = base + ".html", dir = base + "-summary", late = base + ".toml";
    std::filesystem::remove(db);
    std::string text = quiesce::test::read_text(regression("s3-gpu-evict-timeout-free-in-flight"));
    const std::string delay = "duration = \"60ms\"";
    REQUIRE(text.find(delay) != std::string::npos);
    text.replace(text.find(delay), delay.size(), "duration = \"400ms\"");
    std::ofstream(late) << text;
    REQUIRE(sh("run " + late + " --db " + db).status == 0);
    REQUIRE(sh("trace export " + db + " 1 --format html -o " + page).status == 0);
    REQUIRE(sh("trace export " + db + " --format html -o " + dir).status == 0);
    const std::string timeline = chromium_dom(page, base), summary = quiesce::test::read_text(dir + "/run-1.html"),
                      index = quiesce::test::read_text(dir + "/index.html");
    const size_t at = timeline.find("id=\"suspend-time\">suspend ");
    REQUIRE(at != std::string::npos);
    const std::string shown = timeline.substr(at + 26, timeline.find('<', at) - at - 26);
    // The summary's suspend cell of run 1 holds the same text.
    const size_t row = index.find("<tr id=\"run-1\"");
    REQUIRE(row != std::string::npos);
    CHECK(index.substr(row, index.find("</tr>", row) - row).find(">" + shown + "<") != std::string::npos);
    CHECK(shown == "1.862 s");  // with sd's resume waiting 1.5 s for the drive to spin up (START STOP UNIT)
    std::filesystem::remove(db);
    std::filesystem::remove(page);
    std::filesystem::remove(late);
    std::filesystem::remove_all(dir);
}
