// A run that goes on after a fresh boot (issue 16 item 3: "power can be cut
// and the machine cold-booted at any time; a boot either resumes from the
// image on swap or boots fresh"): [cycles] after_fresh_boot = "continue".
// The tests assert the sequence - the cut or the failed resume, the fresh
// boot, every driver probed again, the root filesystem mounted with its
// journal replayed, then the remaining cycles - not only the verdicts.
#include "cli.h"
#include "files.h"
#include "tmpfile.h"

#include "sim/core/errors.h"
#include "sim/scenario/executor.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

using namespace quiesce;
using quiesce::test::TempFile;

namespace {

// The index of the first event (from `from`) that is `name` of `kind`, or -1.
long find(const RunResult& r, EvKind kind, const std::string& name, long from = 0) {
    const auto& evs = r.stream.events;
    for (size_t i = size_t(std::max(from, 0L)); i < evs.size(); ++i)
        if (evs[i].kind == kind && evs[i].name == name) return long(i);
    return -1;
}

std::vector<const Event*> all(const RunResult& r, EvKind kind, const std::string& name, long from = 0) {
    std::vector<const Event*> out;
    const auto& evs = r.stream.events;
    for (size_t i = size_t(std::max(from, 0L)); i < evs.size(); ++i)
        if (evs[i].kind == kind && evs[i].name == name) out.push_back(&evs[i]);
    return out;
}

// The transition slices' ends after index `from`: (cycle, result).
std::vector<std::pair<std::string, std::string>> transitions(const RunResult& r, long from = 0) {
    std::vector<std::pair<std::string, std::string>> out;
    std::string cycle;
    const auto& evs = r.stream.events;
    for (size_t i = size_t(std::max(from, 0L)); i < evs.size(); ++i) {
        if (evs[i].category != "transition") continue;
        if (evs[i].kind == EvKind::SliceBegin) cycle = arg_value(evs[i], "cycle");
        if (evs[i].kind == EvKind::SliceEnd) out.emplace_back(cycle, arg_value(evs[i], "result"));
    }
    return out;
}

std::string error_of(const std::string& text) { return test::input_error(text, load_scenario); }

}  // namespace

TEST_CASE("fresh boot: a power cut between cycles, a new kernel probes, mounts with replay, and cycles 2-3 run",
          "[fresh-boot]") {
    RunResult r = execute(load_scenario(test::regression("cycles-power-cut-then-fresh-boot")));
    CHECK(r.status == "passed");
    CHECK(r.violations.empty());
    CHECK(r.stream.summary.outcome == "resumed");
    // Cycle 1 resumed on the first kernel, before the cut.
    const long cut = find(r, EvKind::Instant, "power-failed");
    REQUIRE(cut > 0);
    auto before = transitions(r);
    REQUIRE(!before.empty());
    CHECK(before[0] == std::make_pair(std::string("1"), std::string("resumed")));
    CHECK(transitions(r).size() - transitions(r, cut).size() == 1);  // only cycle 1 before the cut
    // Then: booted afresh, the kernel's fresh boot, a boot slice, every PCI
    // driver probed again (as many probes as at the first boot), the mount.
    const long afresh = find(r, EvKind::Instant, "booted-afresh", cut);
    const long fresh = find(r, EvKind::Instant, "fresh-boot", cut);
    REQUIRE(afresh > cut);
    REQUIRE(fresh > afresh);
    CHECK(arg_value(r.stream.events[size_t(fresh)], "boot") == "2");
    const long boot = find(r, EvKind::SliceBegin, "boot", fresh);
    REQUIRE(boot > fresh);
    const size_t probes_first = all(r, EvKind::Instant, "probe").size() - all(r, EvKind::Instant, "probe", cut).size();
    auto probes_again = all(r, EvKind::Instant, "probe", fresh);
    CHECK(probes_first >= 2);
    CHECK(probes_again.size() == probes_first);
    for (const Event* p : probes_again) CHECK(arg_value(*p, "rc") == "0");
    const long mount = find(r, EvKind::Instant, "mount-root", fresh);
    REQUIRE(mount > boot);
    // The cut came while the writer's commits were in the journal: the mount
    // replays them (mount_count: the filesystem's second mount).
    CHECK(std::stoul(arg_value(r.stream.events[size_t(mount)], "replayed")) > 0);
    CHECK(arg_value(r.stream.events[size_t(mount)], "mount_count") == "2");
    // Cycle 2 had not begun its suspend when the power went: it runs after
    // the boot, then cycle 3; both resume on the new kernel.
    auto after = transitions(r, mount);
    REQUIRE(after.size() == 2);
    CHECK(after[0] == std::make_pair(std::string("2"), std::string("resumed")));
    CHECK(after[1] == std::make_pair(std::string("3"), std::string("resumed")));
    auto cycles = all(r, EvKind::Instant, "cycles");
    REQUIRE(cycles.size() == 1);
    CHECK(arg_value(*cycles[0], "completed") == "3");
    CHECK(arg_value(*cycles[0], "boots") == "2");
    // The writer runs again on the new kernel (a task of the new boot).
    CHECK(!all(r, EvKind::Instant, "fsync", mount).empty());
}

TEST_CASE("fresh boot: nobarrier loses fsynced blocks at the boot between cycles, and the run goes on",
          "[fresh-boot]") {
    RunResult r = execute(load_scenario(test::regression("cycles-power-cut-then-fresh-boot-nobarrier")));
    CHECK(r.status == "passed");  // the expected violation, found
    CHECK(r.violations == std::set<std::string>{"data.lost-write"});
    const long cut = find(r, EvKind::Instant, "power-failed");
    const long lost = find(r, EvKind::Violation, "data.lost-write");
    const long fresh = find(r, EvKind::Instant, "fresh-boot");
    REQUIRE(cut > 0);
    REQUIRE(lost > cut);
    REQUIRE(fresh > lost);  // judged at the boot, before the new kernel runs
    auto after = transitions(r, fresh);
    REQUIRE(after.size() == 2);
    CHECK(after[0].second == "resumed");
    CHECK(after[1].second == "resumed");
    CHECK(r.stream.summary.outcome == "resumed");
    // One loss, at the one fresh boot: the new kernel's fsyncs are kept
    // apart from the old kernel's (the oracle's baseline is the media at boot).
    CHECK(all(r, EvKind::Violation, "data.lost-write").size() == 1);
}

TEST_CASE("fresh boot: a torn image boots fresh, and the next hibernation resumes from the new kernel's image",
          "[fresh-boot]") {
    RunResult r = execute(load_scenario(test::regression("s4-cycles-fresh-boot-goes-on")));
    CHECK(r.status == "passed");
    CHECK(r.violations.empty());  // image.integrity among them: the image holds the new kernel's pages
    CHECK(r.stream.summary.outcome == "resumed");
    auto t = transitions(r);
    REQUIRE(t.size() == 3);
    CHECK(t[0].second == "resumed");
    CHECK(t[1].second == "no-resume");
    CHECK(t[2].second == "resumed");
    const long normal = find(r, EvKind::Instant, "normal-boot");
    const long fresh = find(r, EvKind::Instant, "fresh-boot");
    REQUIRE(normal > 0);
    REQUIRE(fresh > normal);
    const long jump = find(r, EvKind::Instant, "jump", fresh);  // cycle 3's restore kernel jumps into its image
    REQUIRE(jump > fresh);
    // The default ends the run at the fresh boot, as before.
    RunResult ended = execute(load_scenario(test::regression("s4-cycles-power-loss-on-cycle-2")));
    CHECK(ended.stream.summary.outcome == "no-resume");
    CHECK(find(ended, EvKind::Instant, "fresh-boot") == -1);
    CHECK(transitions(ended).size() == 2);
}

TEST_CASE("fresh boot: the run is a function of its scenario and seed", "[fresh-boot]") {
    const Scenario s = load_scenario(test::regression("cycles-power-cut-then-fresh-boot"));
    CHECK(execute(s).stream.digest == execute(s).stream.digest);
}

TEST_CASE("fresh boot: after_fresh_boot takes end or continue, and continue needs cycles to go on to",
          "[fresh-boot]") {
    const std::string base = test::read_text(test::regression("s3-basic")) + "\n";
    CHECK(error_of(base + "[cycles]\ncount = 2\nafter_fresh_boot = \"continue\"\n") == "no error");
    CHECK(error_of(base + "[cycles]\ncount = 2\nafter_fresh_boot = \"end\"\n") == "no error");
    const std::string bad = error_of(base + "[cycles]\ncount = 2\nafter_fresh_boot = \"reboot\"\n");
    CHECK(bad.find(":19:20: cycles.after_fresh_boot: must be \"end\" or \"continue\"") != std::string::npos);
    const std::string one = error_of(base + "[cycles]\ncount = 1\nafter_fresh_boot = \"continue\"\n");
    CHECK(one.find("needs count of 2 or more") != std::string::npos);
}

TEST_CASE("fresh boot: a resume device probed late leaves the image, and a later boot resumes it over a changed fs",
          "[fresh-boot]") {
    RunResult r = execute(load_scenario(test::regression("s4-resume-device-late-stale-image")));
    CHECK(r.status == "passed");
    CHECK(r.violations == std::set<std::string>{"fs.modified-after-snapshot"});
    const long normal = find(r, EvKind::Instant, "normal-boot");
    REQUIRE(normal > 0);
    CHECK(arg_value(r.stream.events[size_t(normal)], "reason").find("no resumewait") != std::string::npos);
    const long fresh = find(r, EvKind::Instant, "fresh-boot", normal);
    const long mount = find(r, EvKind::Instant, "mount-root", fresh);
    const long cut = find(r, EvKind::Instant, "power-failed", mount);
    REQUIRE(fresh > normal);
    REQUIRE(mount > fresh);
    REQUIRE(cut > mount);
    CHECK(find(r, EvKind::Instant, "swapon") == -1);  // swapon = "none": the signature stays
    // The boot after the cut finds the old image and jumps into it; the
    // restore reports the filesystem written since that image's snapshot.
    const long consumed = find(r, EvKind::Instant, "signature-consumed", cut);
    const long stale = find(r, EvKind::Instant, "stale-image-resumed", cut);
    const long found = find(r, EvKind::Violation, "fs.modified-after-snapshot", cut);
    REQUIRE(consumed > cut);
    REQUIRE(found > consumed);
    REQUIRE(stale > consumed);
    CHECK(r.stream.summary.outcome == "resumed");
    CHECK(transitions(r, cut).empty());  // the run ended at the jump: cycle 2 never ran
}

TEST_CASE("fresh boot: util-linux swapon rewrites the stale signature, and resumewait resumes at the right boot",
          "[fresh-boot]") {
    RunResult sw = execute(load_scenario(test::regression("s4-resume-device-late-swapon")));
    CHECK(sw.status == "passed");
    CHECK(sw.violations.empty());
    auto swapons = all(sw, EvKind::Instant, "swapon");
    REQUIRE(swapons.size() == 2);  // at each fresh boot: the first finds the image's signature
    CHECK(arg_value(*swapons[0], "signature") == "image signature rewritten");
    CHECK(arg_value(*swapons[1], "signature") == "swap");
    const long cut = find(sw, EvKind::Instant, "power-failed");
    const long none = find(sw, EvKind::Instant, "normal-boot", cut);
    REQUIRE(none > cut);
    CHECK(arg_value(sw.stream.events[size_t(none)], "reason") == "no image");
    auto t = transitions(sw);
    REQUIRE(t.size() == 2);
    CHECK(t[0] == std::make_pair(std::string("1"), std::string("no-resume")));
    CHECK(t[1] == std::make_pair(std::string("2"), std::string("resumed")));

    RunResult rw = execute(load_scenario(test::regression("s4-resume-device-late-resumewait")));
    CHECK(rw.status == "passed");
    CHECK(rw.violations.empty());
    const long wait = find(rw, EvKind::SliceBegin, "resume-wait");
    const long jump = find(rw, EvKind::Instant, "jump", wait);
    REQUIRE(wait > 0);
    REQUIRE(jump > wait);
    CHECK(find(rw, EvKind::Instant, "swapon") == -1);
    auto tw = transitions(rw);
    REQUIRE(tw.size() == 2);
    CHECK(tw[0].second == "resumed");
    CHECK(tw[1].second == "resumed");
}

TEST_CASE("fresh boot: swapon and resume-device-late are checked as input", "[fresh-boot]") {
    const std::string s4 = test::read_text(test::regression("s4-resume-device-late-swapon"));
    std::string bad = s4;
    bad.replace(bad.find("\nswapon = \"util-linux\""), 22, "\nswapon = \"mkswap\"");
    CHECK(error_of(bad).find("hibernation.swapon: must be \"util-linux\" or \"none\"") != std::string::npos);
    const std::string s3 = test::read_text(test::regression("s3-basic")) +
                           "\n[[fault]]\nkind = \"resume-device-late\"\n";
    CHECK(error_of(s3).find("resume-device-late needs a hibernation protocol") != std::string::npos);
}

TEST_CASE("fresh boot: trace show and trace summary count the boots", "[fresh-boot]") {
    const std::string db = test::tmp_path("fresh-boot.db");
    auto run = test::sh("run " + test::regression("s4-resume-device-late-swapon") + " --db " + db);
    REQUIRE(run.status == 0);
    auto show = test::sh("trace show " + db + " 1");
    CHECK(show.status == 0);
    CHECK(show.out.find("cycles: 1 of 2 completed, 3 boots") != std::string::npos);
    auto summary = test::sh("trace summary " + db);
    CHECK(summary.status == 0);
    CHECK(summary.out.find("1 run of several cycles: 1 of 2 cycles completed, 2 fresh boots") != std::string::npos);
    std::filesystem::remove_all(db);
}
