// Many transitions in one run ([cycles], issue 16 item 3): a single cycle
// is the run as it was, N cycles are N transitions each checked on its own,
// a fault rule's `cycle` trigger strikes that cycle alone, nothing grows
// from cycle to cycle, and bad values are input errors.
#include "cli.h"
#include "files.h"
#include "tmpfile.h"

#include "sim/core/errors.h"
#include "sim/scenario/executor.h"

#include <fstream>
#include <map>
#include <sstream>

using namespace quiesce;
using quiesce::test::TempFile;

namespace {
std::string data_file(const std::string& name) { return std::string(QUIESCE_DATA_DIR) + "/regression/" + name + ".toml"; }

// The transition slices of a run: (cycle arg, result, begin, end), in order.
struct Transition {
    std::string cycle, result;
    Picos begin = 0, end = 0;
    std::vector<std::string> phases;  // the phases that began inside it
};
std::vector<Transition> transitions(const RunResult& r) {
    std::vector<Transition> out;
    bool open = false;
    for (const auto& ev : r.stream.events) {
        if (ev.category == "transition" && ev.kind == EvKind::SliceBegin) {
            out.push_back({arg_value(ev, "cycle"), "", ev.ts, 0, {}});
            open = true;
        } else if (ev.category == "transition" && ev.kind == EvKind::SliceEnd) {
            out.back().result = arg_value(ev, "result");
            out.back().end = ev.ts;
            open = false;
        } else if (open && ev.category == "phase" && ev.kind == EvKind::SliceBegin) {
            out.back().phases.push_back(ev.name);
        }
    }
    return out;
}

std::vector<const Event*> instants(const RunResult& r, const std::string& name) {
    std::vector<const Event*> out;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::Instant && ev.name == name) out.push_back(&ev);
    return out;
}

std::string error_of(const std::string& text) { return test::input_error(text, load_scenario); }
}  // namespace

TEST_CASE("cycles: count = 1 is the run as it was without the table, digest for digest", "[cycles]") {
    const std::string text = test::read_text(data_file("s3-basic"));
    TempFile without(text), with(text + "\n[cycles]\ncount = 1\n");
    RunResult a = execute(load_scenario(without.path())), b = execute(load_scenario(with.path()));
    RunResult c = execute(load_scenario(data_file("s3-basic")));
    CHECK(a.status == "passed");
    CHECK(b.status == "passed");
    CHECK(a.stream.digest == b.stream.digest);
    CHECK(a.stream.digest == c.stream.digest);
    CHECK(a.stream.events.size() == b.stream.events.size());
    // One transition, no cycle arg, no per-cycle instants.
    auto t = transitions(b);
    REQUIRE(t.size() == 1);
    CHECK(t[0].cycle.empty());
    CHECK(instants(b, "cycle-end").empty());
    CHECK(instants(b, "cycles").empty());
}

TEST_CASE("cycles: twenty transitions in one run, each resumed, the same phases, the alarm re-armed", "[cycles]") {
    Scenario s = load_scenario(data_file("s3-cycles-20"));
    REQUIRE(s.cycles.count == 20);
    RunResult r = execute(s);
    CHECK(r.status == "passed");
    CHECK(r.stream.summary.outcome == "resumed");
    CHECK(r.stream.summary.workload == "ok");
    auto t = transitions(r);
    REQUIRE(t.size() == 20);
    for (size_t i = 0; i < t.size(); ++i) {
        CHECK(t[i].cycle == std::to_string(i + 1));
        CHECK(t[i].result == "resumed");
        CHECK(t[i].phases == t[0].phases);  // every cycle runs the whole protocol
        if (i) CHECK(t[i].begin >= t[i - 1].end + s.cycles.between);  // the machine ran in between
    }
    CHECK(std::find(t[0].phases.begin(), t[0].phases.end(), "platform-enter") != t[0].phases.end());
    // Each cycle slept until its own alarm: the sleep-request of every cycle.
    CHECK(instants(r, "sleep-request").size() == 20);
    // The copies after every resume, and before every suspend.
    size_t after = 0, before = 0;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::SliceEnd && ev.category == "workload") {
            CHECK(arg_value(ev, "result") == "ok");
            (ev.name == "workload after" ? after : before) += 1;
        }
    CHECK(after == 20);
    CHECK(before == 20);
    auto summary = instants(r, "cycles");
    REQUIRE(summary.size() == 1);
    CHECK(arg_value(*summary[0], "count") == "20");
    CHECK(arg_value(*summary[0], "completed") == "20");
}

TEST_CASE("cycles: a fixed kernel's heap and free pages after each resume do not grow with the cycle", "[cycles]") {
    RunResult r = execute(load_scenario(data_file("s3-cycles-20")));
    auto ends = instants(r, "cycle-end");
    REQUIRE(ends.size() == 20);
    for (size_t i = 0; i < ends.size(); ++i) {
        CHECK(arg_value(*ends[i], "cycle") == std::to_string(i + 1));
        CHECK(arg_value(*ends[i], "heap_used") == arg_value(*ends[0], "heap_used"));
        CHECK(arg_value(*ends[i], "free_pages") == arg_value(*ends[0], "free_pages"));
    }
    CHECK(std::stoull(arg_value(*ends[0], "heap_used")) > 0);
}

TEST_CASE("cycles: a fault rule with cycle = 17 strikes cycle 17, after 16 clean cycles", "[cycles]") {
    Scenario s = load_scenario(data_file("s3-cycles-fault-on-cycle-17"));
    REQUIRE(s.faults.faults.size() == 1);
    CHECK(s.faults.faults[0].cycle == 17);
    RunResult r = execute(s);
    CHECK(r.status == "passed");
    CHECK(r.violations.empty());
    CHECK(r.stream.summary.outcome == "aborted:suspend_noirq");
    auto t = transitions(r);
    REQUIRE(t.size() == 17);  // the 17th did not come back resumed: the run ended there
    for (size_t i = 0; i < 16; ++i) CHECK(t[i].result == "resumed");
    CHECK(t[16].cycle == "17");
    CHECK(t[16].result == "aborted");
    std::vector<const Event*> faults;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::Fault) faults.push_back(&ev);
    REQUIRE(faults.size() == 1);
    CHECK(faults[0]->name == "callback-fail");
    CHECK(arg_value(*faults[0], "cycle") == "17");
    CHECK(faults[0]->ts > t[16].begin);  // inside the 17th transition, not before
    CHECK(faults[0]->ts < t[16].end);
    auto summary = instants(r, "cycles");
    REQUIRE(summary.size() == 1);
    CHECK(arg_value(*summary[0], "completed") == "16");
    CHECK(instants(r, "cycle-end").size() == 16);

    // The same rule on cycle 3: two clean cycles, the third aborts.
    s.faults.faults[0].cycle = 3;
    RunResult three = execute(s);
    auto t3 = transitions(three);
    REQUIRE(t3.size() == 3);
    CHECK(t3[1].result == "resumed");
    CHECK(t3[2].result == "aborted");
    // Without the trigger the rule strikes the first cycle.
    s.faults.faults[0].cycle = 0;
    CHECK(transitions(execute(s)).size() == 1);
}

TEST_CASE("cycles: trace show prints the phases per cycle, trace summary counts the cycles", "[cycles]") {
    const std::string db = quiesce::test::tmp_path("cycles.db");
    auto run = quiesce::test::sh("run " + data_file("s3-cycles-fault-on-cycle-17") + " --db " + db);
    REQUIRE(run.status == 0);
    auto show = quiesce::test::sh("trace show " + db + " 1");
    CHECK(show.status == 0);
    CHECK(show.out.find("cycles: 16 of 20 completed") != std::string::npos);
    CHECK(show.out.find(" cycle 1: resumed at ") != std::string::npos);
    CHECK(show.out.find(" cycle 16: resumed at ") != std::string::npos);
    CHECK(show.out.find(" cycle 17: aborted at ") != std::string::npos);
    CHECK(show.out.find(" cycle 18:") == std::string::npos);
    // cycle 1's phases come under its header, before cycle 2's
    const size_t phases = show.out.find("\nphases\n");
    REQUIRE(phases != std::string::npos);
    CHECK(show.out.find(" cycle 1: ") > phases);
    CHECK(show.out.find(" cycle 1: ") < show.out.find("suspend_noirq", phases));
    CHECK(show.out.find("suspend_noirq", phases) < show.out.find(" cycle 2: "));
    CHECK(show.out.find("callback-fail on dma0 in suspend_noirq") != std::string::npos);
    auto summary = quiesce::test::sh("trace summary " + db);
    CHECK(summary.status == 0);
    CHECK(summary.out.find("1 run of several cycles: 16 of 20 cycles completed") != std::string::npos);
    std::filesystem::remove_all(db);
}

TEST_CASE("cycles: bad values are input errors naming file, line, column and key", "[cycles]") {
    const std::string base = test::read_text(data_file("s3-basic"));
    auto with = [&](const std::string& extra) { return error_of(base + "\n" + extra); };
    CHECK(with("[cycles]\ncount = 0\n").find(":18:9: cycles.count: ") != std::string::npos);
    CHECK(with("[cycles]\ncount = 10001\n").find("cycles.count: ") != std::string::npos);
    CHECK(with("[cycles]\ncount = \"20\"\n").find("cycles.count: ") != std::string::npos);
    CHECK(with("[cycles]\ncount = 2\nbetween = \"50\"\n").find("cycles.between: ") != std::string::npos);
    CHECK(with("[cycles]\nbetween = \"50ms\"\n").find("cycles.between: separates cycles") != std::string::npos);
    CHECK(with("[cycles]\ncount = 2\nevery = \"1s\"\n").find("cycles.every") != std::string::npos);
    CHECK(with("[cycles]\ncount = 2\nbetween = \"50ms\"\n").find("no error") != std::string::npos);
    const std::string rule = "[[fault]]\nkind = \"callback-fail\"\nphase = \"suspend\"\n";
    CHECK(with("[cycles]\ncount = 20\n" + rule + "cycle = 21\n").find(":22:9: fault[0].cycle: the scenario runs 20 cycles ([cycles] count)") !=
          std::string::npos);
    CHECK(with(rule + "cycle = 2\n").find("cycle: the scenario runs 1 cycle ([cycles] count)") != std::string::npos);
    CHECK(with(rule + "cycle = 0\n").find("cycle: ") != std::string::npos);
    CHECK(with("[cycles]\ncount = 3\n" + rule + "cycle = 3\n").find("no error") != std::string::npos);
    // A hibernation protocol runs several cycles; a hibernation cycle needs a disk for its image.
    CHECK(error_of(test::read_text(data_file("s4-storage")) + "\n[cycles]\ncount = 2\n").find("no error") != std::string::npos);
    // [hibernation] is read when any cycle hibernates.
    CHECK(error_of(test::read_text(data_file("cycles-s3-s4-s2idle")) + "\n[hibernation]\ncompress = \"lz4\"\n")
              .find("no error") != std::string::npos);
    // --fault takes the key too, against the scenario's count.
    Scenario s = load_scenario(data_file("s3-cycles-20"));
    CHECK(parse_cli_fault("kind=callback-fail,phase=suspend,cycle=20", 1, s).cycle == 20);
    CHECK_THROWS_AS(parse_cli_fault("kind=callback-fail,phase=suspend,cycle=21", 1, s), InputError);
    // The command line: one line, exit status 2, nothing written.
    TempFile bad(base + "\n[cycles]\ncount = -1\n");
    const std::string db = quiesce::test::tmp_path("cycles-bad.db");
    auto cli = quiesce::test::sh("run " + bad.path() + " --db " + db);
    CHECK(cli.status == 2);
    CHECK(cli.out.find("cycles.count: ") != std::string::npos);
    CHECK(std::count(cli.out.begin(), cli.out.end(), '\n') == 1);
    CHECK(!std::filesystem::exists(db));
}

TEST_CASE("cycles: protocols mixes suspend-to-idle and suspend-to-RAM, a D3hot-only driver fails the S3 cycle only",
          "[cycles]") {
    RunResult fixed = execute(load_scenario(data_file("cycles-s2idle-then-s3")));
    REQUIRE(fixed.status == "passed");
    std::vector<std::string> names;
    for (const auto& ev : fixed.stream.events)
        if (ev.category == "transition" && ev.kind == EvKind::SliceBegin) names.push_back(ev.name);
    CHECK(names == std::vector<std::string>{"linux-s2idle", "linux-s3"});
    auto ts = transitions(fixed);
    REQUIRE(ts.size() == 2);
    // Each cycle ran its own protocol's phases: s2idle's idle loop, S3's firmware entry.
    auto has = [](const Transition& t, const std::string& p) {
        return std::find(t.phases.begin(), t.phases.end(), p) != t.phases.end();
    };
    CHECK(has(ts[0], "s2idle"));
    CHECK_FALSE(has(ts[0], "platform-enter"));
    CHECK(has(ts[1], "platform-enter"));
    CHECK_FALSE(has(ts[1], "s2idle"));

    RunResult broken = execute(load_scenario(data_file("cycles-s2idle-then-s3-no-evict")));
    REQUIRE(broken.status == "passed");  // it expects the violation
    auto bt = transitions(broken);
    REQUIRE(bt.size() == 2);
    Picos lost = 0;
    for (const auto& ev : broken.stream.events)
        if (ev.kind == EvKind::Violation && ev.name == "transparency.diverged") lost = lost ? lost : ev.ts;
    CHECK(lost > bt[1].end);  // after the S3 cycle's resume, not the s2idle one's
    // The same driver through two suspend-to-idle cycles keeps VRAM: no violation.
    Scenario idle_only = load_scenario(data_file("cycles-s2idle-then-s3-no-evict"));
    idle_only.cycles.protocols.pop_back();
    idle_only.expect = Expectation{};  // a pass: no violation, resumed
    CHECK(execute(idle_only).status == "passed");

    // Bad values: a hibernation on a platform without a disk, an unknown name, an empty list, one cycle.
    const std::string base = test::read_text(data_file("s3-basic"));
    auto with = [&](const std::string& extra) { return error_of(base + "\n" + extra); };
    CHECK(with("[cycles]\ncount = 2\nprotocols = [\"linux-s3\", \"linux-s4\"]\n")
              .find("'linux-s4' hibernates: platform 'pc-basic' needs a disk") != std::string::npos);
    CHECK(with("[cycles]\ncount = 2\nprotocols = [\"nope\"]\n").find("cycles.protocols: no protocol named 'nope'") !=
          std::string::npos);
    CHECK(with("[cycles]\ncount = 2\nprotocols = []\n").find("cycles.protocols: names no protocol") != std::string::npos);
    CHECK(with("[cycles]\nprotocols = [\"linux-s3\"]\n").find("cycles.protocols: mixes") != std::string::npos);
    CHECK(with("[cycles]\ncount = 2\nprotocols = [\"linux-s3\", \"linux-s2idle\"]\n").find("no error") != std::string::npos);
    // A fault's phase may be one of any cycle's protocol.
    CHECK(with("[cycles]\ncount = 2\nprotocols = [\"linux-s3\", \"linux-s2idle\"]\n[[fault]]\nkind = \"wake-event\"\nphase = \"s2idle\"\n")
              .find("no error") != std::string::npos);
    CHECK(with("[[fault]]\nkind = \"wake-event\"\nphase = \"s2idle\"\n").find("has no phase 's2idle'") != std::string::npos);
}

TEST_CASE("cycles: a timed power cut between cycles ends the run with a fresh boot, one during the sleep waits",
          "[cycles]") {
    Scenario s = load_scenario(data_file("s3-cycles-20"));
    s.expect = Expectation{};
    s.expect.outcome = "";  // any ending: the test looks at what happened
    Scenario cut = s;
    add_cli_faults(cut, {"kind=power-loss,at=360ms"});  // after cycle 1's copies, before cycle 2
    RunResult r = execute(cut);
    CHECK(r.stream.summary.outcome == "power-cut");
    CHECK(transitions(r).size() == 1);
    REQUIRE(instants(r, "booted-afresh").size() == 1);
    CHECK(instants(r, "booted-afresh")[0]->ts > 360'000'000'000ULL);
    auto ends = instants(r, "cycles");
    REQUIRE(ends.size() == 1);
    CHECK(arg_value(*ends[0], "completed") == "1");
    bool fired = false;
    for (const auto& ev : r.stream.events) fired = fired || (ev.kind == EvKind::Fault && ev.name == "power-loss");
    CHECK(fired);
    // From SLP_EN to the wake the machine is the firmware's: a cut timed
    // then does not strike (cycle 1 sleeps from about 41 ms to 320 ms).
    Scenario asleep = s;
    add_cli_faults(asleep, {"kind=power-loss,at=200ms"});
    RunResult a = execute(asleep);
    CHECK(a.stream.summary.outcome == "resumed");
    CHECK(transitions(a).size() == 20);

    // After a good resume, with the writer busy: the fresh boot finds what
    // was fsynced; the drive (spun up by sd's resume) goes off at the cut,
    // comes back in standby and does not spin up with the power off.
    RunResult w = execute(load_scenario(data_file("s3-power-cut-after-resume")));
    CHECK(w.status == "passed");
    CHECK(w.stream.summary.outcome == "power-cut");
    const Picos cut_at = 2'400'000'000'000ULL;
    Picos off = 0, on = 0;
    for (const auto& ev : w.stream.events) {
        if (ev.track != "sda" || ev.kind != EvKind::Instant || ev.ts < cut_at) continue;
        if (ev.name == "drive.off") off = ev.ts;
        else if (ev.name == "drive.standby" && off) on = on ? on : ev.ts;
        else if (ev.name == "drive.active" && off && !on) FAIL("sda spun up with the power off");
    }
    CHECK(off == cut_at);
    CHECK(on > off);
}

namespace {
// The restore kernel's story: what each of its boots did.
std::string restore_story(const RunResult& r) {
    std::string out;
    for (const auto& ev : r.stream.events) {
        if (ev.kind != EvKind::Instant || ev.track != "restore-kernel") continue;
        if (ev.name == "signature-consumed" || ev.name == "jump") out += (out.empty() ? "" : " ") + ev.name;
        if (ev.name == "normal-boot") out += (out.empty() ? "" : " ") + ("normal-boot(" + arg_value(ev, "reason") + ")");
    }
    return out;
}
bool has_phase(const Transition& t, const std::string& name) {
    return std::find(t.phases.begin(), t.phases.end(), name) != t.phases.end();
}
}  // namespace

TEST_CASE("cycles: three hibernations, each resumed by a restore kernel booted afresh that consumes the image",
          "[cycles][hibernation]") {
    RunResult r = execute(load_scenario(data_file("s4-cycles-3")));
    CHECK(r.status == "passed");
    CHECK(r.stream.summary.outcome == "resumed");
    auto t = transitions(r);
    REQUIRE(t.size() == 3);
    for (const auto& c : t) {
        CHECK(c.result == "resumed");
        CHECK(has_phase(c, "snapshot"));
        CHECK(has_phase(c, "write-image"));
    }
    CHECK(restore_story(r) == "signature-consumed jump signature-consumed jump signature-consumed jump");
    // Each boot came after its own cycle's image was written, and before the cycle ended.
    auto jumps = instants(r, "jump");
    REQUIRE(jumps.size() == 3);
    for (size_t i = 0; i < 3; ++i) CHECK((jumps[i]->ts > t[i].begin && jumps[i]->ts < t[i].end));
    CHECK(r.violations.empty());
}

TEST_CASE("cycles: suspend-to-RAM, hibernation and suspend-to-idle in one run, the restore kernel in cycle 2 only",
          "[cycles][hibernation]") {
    RunResult r = execute(load_scenario(data_file("cycles-s3-s4-s2idle")));
    CHECK(r.status == "passed");
    auto t = transitions(r);
    REQUIRE(t.size() == 3);
    CHECK(has_phase(t[0], "platform-enter"));
    CHECK_FALSE(has_phase(t[0], "snapshot"));
    CHECK(has_phase(t[1], "snapshot"));
    CHECK(has_phase(t[2], "s2idle"));
    CHECK_FALSE(has_phase(t[2], "platform-enter"));
    CHECK(restore_story(r) == "signature-consumed jump");
    auto jumps = instants(r, "jump");
    REQUIRE(jumps.size() == 1);
    CHECK((jumps[0]->ts > t[1].begin && jumps[0]->ts < t[1].end));
}

TEST_CASE("cycles: power lost writing the second image, the next boot finds no image - the first one was consumed",
          "[cycles][hibernation]") {
    RunResult r = execute(load_scenario(data_file("s4-cycles-power-loss-on-cycle-2")));
    CHECK(r.status == "passed");
    CHECK(r.stream.summary.outcome == "no-resume");
    CHECK(restore_story(r) == "signature-consumed jump normal-boot(no image)");
    auto t = transitions(r);
    REQUIRE(t.size() == 2);  // the run ends with the fresh boot
    CHECK(t[0].result == "resumed");
    CHECK(r.violations.empty());
}

TEST_CASE("cycles: kexec-s4 twice, the save kernel starting afresh at each jump", "[cycles][hibernation]") {
    TempFile f(test::read_text(data_file("s4-kexec")) + "\n[cycles]\ncount = 2\nbetween = \"50ms\"\n");
    RunResult r = execute(load_scenario(f.path()));
    CHECK(r.status == "passed");
    auto t = transitions(r);
    REQUIRE(t.size() == 2);
    CHECK(t[0].result == "resumed");
    CHECK(t[1].result == "resumed");
    CHECK(instants(r, "kexec-jump").size() == 2);
}
