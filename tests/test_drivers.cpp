// Drivers as data (docs/drivers.md): driver files, their validation, patches,
// the steps' semantics and timing on the real models, the sleep-in-atomic
// invariant, and the mutations explore --mutate runs.
#include "cli.h"
#include "files.h"
#include "tmpfile.h"

#include "sim/core/errors.h"
#include "sim/core/hash.h"
#include "sim/core/interned.h"
#include "sim/core/toml_reader.h"
#include "sim/drivers/mutate.h"
#include "sim/scenario/executor.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <set>

using namespace quiesce;
using quiesce::test::regression;
using quiesce::test::sh;
using quiesce::test::TempFile;
using quiesce::test::tmp_path;

namespace {

std::string builtin(const std::string& name) { return std::string(QUIESCE_DATA_DIR) + "/drivers/" + name + ".toml"; }

std::vector<std::string> labels(const std::vector<Step>& steps) {
    std::vector<std::string> out;
    for (const auto& s : steps) out.push_back(s.label);
    return out;
}

// The error a driver file gives, without its path.
std::string driver_error(const std::string& text) {
    TempFile f(text);
    try {
        load_driver(f.path());
    } catch (const InputError& e) {
        std::string w = e.what();
        return w.substr(w.find(f.path()) == 0 ? f.path().size() : 0);
    }
    return "loaded";
}

// A scenario on pc-basic/linux-s3 with `extra` appended (driver tables).
Scenario scenario_with(const std::string& extra, const std::string& expect = "[expect]\nresult = \"pass\"\n") {
    TempFile f("[scenario]\nseed = 5\n[platform]\nname = \"pc-basic\"\n[protocol]\nname = \"linux-s3\"\n" + extra +
               "\n" + expect);
    return load_scenario(f.path());
}

const std::string kDerived = "[driver]\nname = \"t\"\nbase = \"dma-engine\"\n";

bool dma0(const Event& ev) { return ev.track == "dma0" || (ev.track.size() > 5 && ev.track.substr(ev.track.size() - 5) == ".dma0"); }

// The step slices of dma0's `callback`, in the order they began.
std::vector<std::string> steps_run(const RunResult& r, const std::string& callback) {
    std::vector<std::string> out;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::SliceBegin && ev.category == "step" && dma0(ev) &&
            arg_value(ev, "callback") == callback)
            out.push_back(ev.name);
    return out;
}

}  // namespace

TEST_CASE("drivers: the built-in DMA engine driver loads, every step labelled, aliases share a function", "[drivers]") {
    DriverProgram p = load_driver(builtin("dma-engine"));
    REQUIRE(p.binds == "dma-engine");
    REQUIRE_FALSE(p.legacy_pm);
    REQUIRE(labels(*p.callback("suspend")) ==
            std::vector<std::string>{"reserve-vram", "stop-queue", "drain", "save-regs", "clear-saved", "stop-engine",
                                     "save-vram", "done", "busy", "unreserve-vram", "fail"});
    REQUIRE(p.callback("freeze") == p.callback("suspend"));  // SET_SYSTEM_SLEEP_PM_OPS
    REQUIRE(p.callback("thaw") == p.callback("resume"));
    REQUIRE(p.callback("resume_early") == nullptr);
    // Unlabelled steps are named after their op, numbered from the second.
    TempFile f(kDerived + "[[patch]]\ncallback = \"prepare\"\nreplace = [{ op = \"compute\", cycles = 10 }, "
                          "{ op = \"compute\", cycles = 20 }]\n");
    REQUIRE(labels(*load_driver(f.path()).callback("prepare")) == std::vector<std::string>{"compute", "compute-2"});
    // A derived driver: the base's steps, then its patches.
    DriverProgram legacy = load_driver(builtin("dma-engine-legacy-no-restore"));
    REQUIRE(legacy.legacy_pm);
    REQUIRE(labels(*legacy.callback("suspend_noirq")) == std::vector<std::string>{"companion-status", "d3hot"});
    // Each step's label is interned where it is set, written or given (its
    // slices carry the word), and a patch that relabels a step interns anew.
    TempFile relabel(kDerived + "[[patch]]\ncallback = \"suspend\"\nchange = \"drain\"\nset = { label = \"drain-all\" }\n");
    for (const DriverProgram& q : {p, legacy, load_driver(f.path()), load_driver(relabel.path())})
        for (const auto& [cb, steps] : q.callbacks)
            for (const Step& s : steps) {
                INFO(q.name << " " << cb << " " << s.label);
                REQUIRE(s.label_word != 0);
                REQUIRE(interned_text(s.label_word) == s.label);
            }
    REQUIRE(labels(*load_driver(relabel.path()).callback("suspend"))[2] == "drain-all");
}

TEST_CASE("drivers: bad driver files name file:line:column and key", "[drivers]") {
    auto patch = [](const std::string& body) { return kDerived + "[[patch]]\ncallback = \"suspend\"\n" + body; };
    REQUIRE(driver_error(patch("append = [{ op = \"jump\" }]\n")).find(
                ":6:18: patch[0].append[0].op: unknown step 'jump' (read, write,") == 0);
    REQUIRE(driver_error(patch("append = [{ op = \"write\", reg = \"CTLR\", value = 0 }]\n")) ==
            ":6:33: patch[0].append[0].reg: 'dma-engine' has no register 'CTLR' (ID, CTRL, STATUS, RING_BASE, RING_SIZE, "
            "TAIL, HEAD, COMPLETED, BURST)");
    REQUIRE(driver_error(patch("append = [{ op = \"rmw\", reg = \"CTRL\", field = \"EN\", value = 1 }]\n")) ==
            ":6:47: patch[0].append[0].field: register CTRL has no field 'EN' (ENABLE, IRQ_EN, FLUSH)");
    REQUIRE(driver_error(patch("append = [{ op = \"command\", name = \"reset\" }]\n")).find(
                ":6:36: patch[0].append[0].name: 'dma-engine' offers no command 'reset' (save-local-memory,") == 0);
    REQUIRE(driver_error(patch("append = [{ op = \"sleep\", duration = \"1ms\", on_fail = \"nowhere\" }]\n")) ==
            ":6:55: patch[0].append[0].on_fail: no step labelled 'nowhere' in suspend (a jump stays inside its callback)");
    REQUIRE(driver_error(patch("append = [{ op = \"return\", err = \"EWHAT\" }]\n")).find(
                ":6:34: patch[0].append[0].err: unknown errno 'EWHAT' (EPERM,") == 0);
    REQUIRE(driver_error(patch("delete = \"no-such-step\"\n")) ==
            ":6:10: patch[0].delete: no step labelled 'no-such-step' in t's suspend");
    REQUIRE(driver_error(patch("append = [{ op = \"read\", reg = \"STATUS\", device = \"$twin\" }]\n")) ==
            ":6:51: patch[0].append[0].device: 'dma-engine' drivers take no parameter '$twin'");
    REQUIRE(driver_error(patch("append = [{ op = \"call\", name = \"suspend\" }]\n")) ==
            ":6:33: patch[0].append[0].name: calling suspend from suspend recurses");
    // A driver file's own steps too: an error about a key is at its value,
    // one about a key the step lacks at the step.
    const std::string own = "[driver]\nname = \"x\"\nbinds = \"dma-engine\"\n[callbacks]\nsuspend = [\n"
                            "  { op = \"sleep\", duration = \"1ms\" },\n";
    REQUIRE(driver_error(own + "  { op = \"wait-irq\", timeout = \"0us\" },\n]\n") ==
            ":7:32: callbacks.suspend[1].timeout: 'wait-irq' needs a timeout");
    REQUIRE(driver_error(own + "  { op = \"poll\", reg = \"STATUS\", value = 1 },\n]\n") ==
            ":7:3: callbacks.suspend[1].timeout: 'poll' needs a timeout");
    REQUIRE(driver_error(kDerived + "[callbacks]\nhibernate = []\n") == ":5:13: callbacks.hibernate: unknown callback "
                                                                            "'hibernate'");
    REQUIRE(driver_error(kDerived + "[callbacks]\nthaw = \"resume_early\"\n") ==
            ":5:8: callbacks.thaw: 'resume_early' is not a callback with steps (an alias names one)");
    REQUIRE(driver_error("[driver]\nname = \"x\"\nbinds = \"gpu\"\n") ==
            ":3:9: driver.binds: no device model or device file 'gpu' takes a driver file");
    // Drivers that derive from each other in a loop.
    {
        std::string dir = tmp_path("loop");
        std::filesystem::create_directories(dir + "/drivers");
        std::ofstream(dir + "/drivers/a.toml") << "[driver]\nname = \"a\"\nbase = \"b\"\n";
        std::ofstream(dir + "/drivers/b.toml") << "[driver]\nname = \"b\"\nbase = \"a\"\n";
        try {
            load_driver(dir + "/drivers/a.toml");
            FAIL("a loop of bases loaded");
        } catch (const InputError& e) {
            REQUIRE(std::string(e.what()).find(":3:8: driver.base: drivers derive from each other in a loop") !=
                    std::string::npos);
        }
        std::filesystem::remove_all(dir);
    }
    // A patch that deletes the step another jumps to is the patch's error.
    REQUIRE(driver_error(kDerived + "[[patch]]\ncallback = \"suspend\"\ndelete = \"busy\"\n").find(
                ":5:12: patch[0].callback: the patch leaves callbacks.suspend[2].on_fail (") == 0);
}

TEST_CASE("drivers: patches delete, insert, move, change, patching an alias gives it its own function", "[drivers]") {
    TempFile f(kDerived + R"(
[[patch]]
callback = "suspend"
delete = "clear-saved"

[[patch]]
callback = "suspend"
insert_before = "stop-engine"
step = { op = "sleep", label = "nap", duration = "1ms" }

[[patch]]
callback = "suspend"
move = "save-regs"
to = "prepare"

[[patch]]
callback = "suspend"
change = "drain"
set = { timeout = "50us" }

[[patch]]
callback = "freeze"
replace = [{ op = "queue-stop" }]
)");
    DriverProgram p = load_driver(f.path());
    REQUIRE(labels(*p.callback("suspend")) == std::vector<std::string>{"reserve-vram", "stop-queue", "drain", "nap",
                                                                        "stop-engine", "save-vram", "done", "busy",
                                                                        "unreserve-vram", "fail"});
    REQUIRE(labels(*p.callback("prepare")) == std::vector<std::string>{"save-regs"});
    REQUIRE(p.callback("suspend")->at(2).timeout == 50'000'000);
    REQUIRE(labels(*p.callback("freeze")) == std::vector<std::string>{"queue-stop"});
    REQUIRE(p.callback("poweroff") == p.callback("suspend"));  // still shares suspend's function
    // A move to the end of a callback lands before its first return: on
    // the normal path, not after the error path.
    TempFile g(kDerived + "[[patch]]\ncallback = \"resume\"\nmove = \"start-queue\"\nto = \"suspend\"\nat = \"end\"\n");
    REQUIRE(labels(*load_driver(g.path()).callback("suspend"))[7] == "start-queue");
    // A change to a zero timeout sets it (it was once taken for no
    // timeout given, and the step kept its own): a drain then has none.
    REQUIRE(driver_error(kDerived + "[[patch]]\ncallback = \"suspend\"\nchange = \"drain\"\nset = { timeout = \"0us\" }\n")
                .find("invalid: 'drain' needs a timeout") != std::string::npos);
}

TEST_CASE("drivers: steps run in order, as step slices on the device's track", "[drivers]") {
    RunResult r = execute(load_scenario(regression("s3-basic")));
    REQUIRE(r.status == "passed");
    REQUIRE(steps_run(r, "suspend") == std::vector<std::string>{"reserve-vram", "stop-queue", "drain", "save-regs",
                                                                 "clear-saved", "stop-engine", "save-vram", "done"});
    // The handoff steps are skipped: s3-basic names no $handoff device.
    REQUIRE(steps_run(r, "resume") == std::vector<std::string>{"restore-vram", "ring-base", "ring-size", "tail",
                                                                "restore-regs", "start-queue", "handoff"});
}

TEST_CASE("drivers: a step's time is the model's - sleep, poll timeout, errno, on_fail continue", "[drivers]") {
    // A 2 ms sleep in resume makes dma0's resume callback last 2 ms more.
    RunResult base = execute(scenario_with(""));
    RunResult slow = execute(scenario_with(
        "[[drivers.dma0.patch]]\ncallback = \"resume\"\nprepend = [{ op = \"sleep\", duration = \"2ms\" }]\n"));
    auto resume_ps = [](const RunResult& r) {
        Picos begin = 0;
        for (const auto& ev : r.stream.events)
            if (dma0(ev) && ev.category == "callback" && ev.name == "resume") {
                if (ev.kind == EvKind::SliceBegin) begin = ev.ts;
                else return ev.ts - begin;
            }
        return Picos(0);
    };
    REQUIRE(resume_ps(slow) - resume_ps(base) >= 2'000'000'000ULL);
    REQUIRE(resume_ps(slow) - resume_ps(base) < 2'010'000'000ULL);
    // A poll that never sees its value fails with its errno after its
    // timeout, and the suspend unwinds.
    RunResult poll = execute(scenario_with(
        "[[drivers.dma0.patch]]\ncallback = \"suspend_noirq\"\nappend = [{ op = \"poll\", reg = \"STATUS\", field = "
        "\"BUSY\", value = 1, timeout = \"100us\", err = \"EIO\" }]\n",
        "[expect]\nresult = \"pass\"\noutcome = \"aborted:suspend_noirq\"\n"));
    REQUIRE(poll.status == "passed");
    bool failed = false;
    for (const auto& ev : poll.stream.events)
        if (ev.name == "callback-failed" && arg_value(ev, "device") == "dma0")
            failed = arg_value(ev, "rc") == "-5" && arg_value(ev, "callback") == "suspend_noirq";
    REQUIRE(failed);
    // on_fail = "continue": the rest runs, the callback returns the error.
    RunResult cont = execute(scenario_with(
        "[[drivers.dma0.patch]]\ncallback = \"suspend_noirq\"\nappend = [{ op = \"poll\", reg = \"STATUS\", field = "
        "\"BUSY\", value = 1, timeout = \"100us\", on_fail = \"continue\" }, { op = \"compute\", label = \"after\", "
        "cycles = 7 }]\n",
        "[expect]\nresult = \"pass\"\noutcome = \"aborted:suspend_noirq\"\n"));
    REQUIRE(cont.status == "passed");
    REQUIRE(steps_run(cont, "suspend_noirq") == std::vector<std::string>{"poll", "after"});  // (no $companion)
}

TEST_CASE("context.sleep-in-atomic: a sleep in a syscore op is reported, a sleep in suspend_noirq is not",
          "[drivers][checker]") {
    RunResult atomic = execute(scenario_with(
        "[[drivers.dma1.patch]]\ncallback = \"syscore_suspend\"\nreplace = [{ op = \"sleep\", label = \"nap\", "
        "duration = \"10us\" }]\n",
        "[expect]\nviolations = [\"context.sleep-in-atomic\"]\n"));
    REQUIRE(atomic.status == "passed");
    bool named = false;
    for (const auto& ev : atomic.stream.events)
        if (ev.kind == EvKind::Violation && ev.name == "context.sleep-in-atomic")
            named = ev.args.at(0).value.find("dma1's syscore_suspend step 'nap' (sleep) may sleep, with interrupts "
                                             "disabled on cpu0") == 0;
    REQUIRE(named);
    // Linux's noirq callbacks run in process context: msleep there is legal.
    RunResult noirq = execute(scenario_with(
        "[[drivers.dma1.patch]]\ncallback = \"suspend_noirq\"\nappend = [{ op = \"sleep\", duration = \"10us\" }]\n"));
    REQUIRE(noirq.status == "passed");
    REQUIRE(noirq.violations.empty());
}

TEST_CASE("drvstate.stale: a DMA engine resumed without re-deriving TAIL uses a stale producer index",
          "[drivers][checker]") {
    // The mutation explore --mutate makes, as a recorded decision.
    Scenario s = load_scenario(regression("s3-basic"));
    add_cli_faults(s, {"mutate=dma-engine:drop:resume:tail"});
    RunResult r = execute(s);
    REQUIRE(r.violations == std::set<std::string>{"drvstate.stale"});
    bool tail = false;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::Violation)
            tail = ev.args.at(0).value.find("driver-state register TAIL does not match") != std::string::npos;
    REQUIRE(tail);
    REQUIRE(execute(load_scenario(regression("s3-basic"))).violations.empty());
}

TEST_CASE("mutations: each operator, only valid drivers, a spec that round-trips", "[drivers][explore]") {
    DriverProgram p = load_driver(builtin("dma-engine"));
    std::vector<Mutation> ms = mutations(p, {"suspend_noirq"});
    std::vector<std::string> specs;
    for (const auto& m : ms) specs.push_back(m.spec());
    REQUIRE(specs == std::vector<std::string>{"drop:suspend_noirq:companion-status",
                                              "earlier:suspend_noirq:companion-status"});
    // Reached as freeze, suspend's function is mutated; the drain has a timeout to shorten.
    ms = mutations(p, {"freeze"});
    auto has = [&](const std::string& spec) {
        return std::any_of(ms.begin(), ms.end(), [&](const Mutation& m) { return m.spec() == spec; });
    };
    REQUIRE(has("drop:suspend:stop-engine"));
    REQUIRE(has("swap:suspend:drain"));
    REQUIRE(has("later:suspend:save-regs"));
    REQUIRE(has("earlier:suspend:reserve-vram"));
    REQUIRE(has("shorten:suspend:drain"));
    REQUIRE_FALSE(has("drop:suspend:busy"));      // the drain's on_fail target: no valid driver without it
    REQUIRE_FALSE(has("later:suspend:drain"));    // its jump would leave its callback
    DriverProgram shorter = mutate(p, {"shorten", "suspend", "drain"});
    REQUIRE(shorter.callback("suspend")->at(2).timeout == 100'000'000);  // 10 ms / 100
    DriverProgram later = mutate(p, {"later", "suspend", "save-regs"});
    REQUIRE(labels(*later.callback("suspend_late")) == std::vector<std::string>{"save-regs"});
    Mutation back;
    REQUIRE(parse_mutation("swap:suspend:drain", back));
    REQUIRE(back.text() == "swap suspend/drain with the next step");
    REQUIRE_FALSE(parse_mutation("rename:suspend:drain", back));
    REQUIRE_FALSE(parse_mutation("drop:suspend", back));
}

TEST_CASE("mutations: devices that shared a program share its mutant, made once", "[drivers][explore]") {
    Scenario s = load_scenario(regression("s3-basic"));
    const auto written = s.drivers.at("dma0");
    REQUIRE(s.drivers.at("dma1") == written);  // one built-in file, loaded once
    add_cli_faults(s, {"mutate=dma-engine:drop:suspend:stop-engine"});
    const auto mutant = s.drivers.at("dma0");
    REQUIRE(mutant != written);
    CHECK(s.drivers.at("dma1") == mutant);
    CHECK(find_label(*mutant->callback("suspend"), "stop-engine") == mutant->callback("suspend")->size());
    CHECK(find_label(*written->callback("suspend"), "stop-engine") < written->callback("suspend")->size());
}

TEST_CASE("explore --mutate: killed and survived, a reproducer that is a driver patch, replay", "[drivers][explore][cli]") {
    std::string db = tmp_path("mutate.db"), out = tmp_path("mutate-out");
    const std::string junit = tmp_path("mutate.xml");
    quiesce::test::Cli r = sh("explore " + regression("s3-basic") + " --mutate dma-engine -j 2 --db " + db +
                              " --out " + out + " --junit " + junit);
    REQUIRE(r.status == 1);  // some mutants survive s3-basic alone
    {
        // JUnit: a testcase per mutant; a survivor is a failure of the suite.
        std::ifstream in(junit);
        std::string xml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const size_t drop = xml.find("<testcase classname=\"mutate.dma-engine\" name=\"drop suspend/save-regs\"");
        REQUIRE(drop != std::string::npos);
        REQUIRE(xml.find("<failure message=\"survived: no scenario tells this mutant from the fixed driver\"", drop) <
                xml.find("</testcase>", drop));
        const size_t late =
            xml.find("<testcase classname=\"mutate.dma-engine\" name=\"move suspend/save-regs to suspend_late\"");
        REQUIRE(late != std::string::npos);
        const std::string one = xml.substr(late, xml.find("</testcase>", late) - late);
        REQUIRE(one.find("<failure") == std::string::npos);
        REQUIRE(one.find("\nkilled_by=hwstate.not-restored\n") != std::string::npos);
        REQUIRE(one.find("\nreproducer=") != std::string::npos);
    }
    // s3-basic never changes BURST or CTRL at run time and its ring is idle
    // at suspend: a driver that forgets to save them, or to drain, passes it.
    REQUIRE(r.out.find("SURVIVED  drop suspend/save-regs\n") != std::string::npos);
    REQUIRE(r.out.find("SURVIVED  drop suspend/drain\n") != std::string::npos);
    // Saving too late (after suspend_late's... the engine is stopped) is caught.
    const size_t k = r.out.find("KILLED    move suspend/save-regs to suspend_late");
    REQUIRE(k != std::string::npos);
    REQUIRE(r.out.find("by hwstate.not-restored in s3-basic", k) != std::string::npos);
    REQUIRE(r.out.find("dma-engine: ") != std::string::npos);
    REQUIRE(r.out.find(" mutants killed (") != std::string::npos);
    const std::string repro = out + "/";
    std::string file;
    for (const auto& e : std::filesystem::directory_iterator(out))
        if (e.path().string().find("later-suspend-save-regs") != std::string::npos) file = e.path().string();
    REQUIRE_FALSE(file.empty());
    std::ifstream in(file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(text.find("[[drivers.dma0.patch]]\ncallback = \"suspend\"\nmove = \"save-regs\"\nto = \"suspend_late\"") !=
            std::string::npos);
    REQUIRE(text.find("[[drivers.dma1.patch]]") != std::string::npos);  // the driver's every device
    std::string rdb = tmp_path("mutate-repro.db");
    quiesce::test::Cli run = sh("run " + file + " --db " + rdb);
    REQUIRE(run.status == 0);
    REQUIRE(run.out.find("found the expected hwstate.not-restored") != std::string::npos);
    // A mutant only the workload sees (no invariant fires: the queue is
    // never started again, the copies after resume fail) has a reproducer
    // too, which expects the workload to fail.
    const size_t queue = r.out.find("KILLED    drop resume/start-queue ");
    REQUIRE(queue != std::string::npos);
    REQUIRE(r.out.find("by expected pass, but the workload failed: dma0: copy 0 after failed", queue) <
            r.out.find('\n', queue));
    const std::string queue_file = out + "/28-dma-engine-drop-resume-start-queue.toml";
    REQUIRE(r.out.find("reproducer: " + queue_file, queue) != std::string::npos);
    {
        std::ifstream q(queue_file);
        const std::string qtext((std::istreambuf_iterator<char>(q)), std::istreambuf_iterator<char>());
        REQUIRE(qtext.find("[expect]\nresult = \"pass\"\noutcome = \"resumed\"\nworkload = \"failed\"\n") !=
                std::string::npos);
    }
    REQUIRE(sh("run " + queue_file + " --db " + rdb).status == 0);
    // The mutant's run replays bit for bit from its recorded mutation.
    const size_t at = r.out.find("(run ", k);
    const std::string id = r.out.substr(at + 5, r.out.find(')', at) - at - 5);
    quiesce::test::Cli replay = sh("replay " + db + " " + id);
    REQUIRE(replay.status == 0);
    REQUIRE(replay.out.find("1 recorded decision(s)): digest") != std::string::npos);
    REQUIRE(replay.out.find("identical") != std::string::npos);
    // Bad input.
    quiesce::test::Cli bad = sh("explore " + regression("s3-basic") + " --mutate gpu --db " + tmp_path("bad.db"));
    REQUIRE(bad.status == 2);
    REQUIRE(bad.out.find("--mutate: no scenario runs an unpatched driver named 'gpu' (dma-engine)") != std::string::npos);
    // A callback or step the driver lacks is bad input here too, as with another axis (it used to find 0 mutants).
    bad = sh("explore " + regression("s3-basic") + " --mutate dma-engine:nosuch --db " + tmp_path("bad.db"));
    REQUIRE(bad.status == 2);
    REQUIRE(bad.out.find("--mutate: driver 'dma-engine' has no callback 'nosuch'") != std::string::npos);
    bad = sh("explore " + regression("s3-basic") + " --mutate dma-engine:suspend:nosuch --db " + tmp_path("bad.db"));
    REQUIRE(bad.status == 2);
    REQUIRE(bad.out.find("dma-engine's suspend has no step labelled 'nosuch'") != std::string::npos);
    REQUIRE_FALSE(std::filesystem::exists(tmp_path("bad.db")));
    // With another axis it explores one scenario (docs/exploring.md), not several.
    bad = sh("explore " + regression("s3-basic") + " " + regression("s3-storage") + " --mutate dma-engine --orders --db " +
             tmp_path("bad2.db"));
    REQUIRE(bad.status == 2);
    REQUIRE(bad.out.find("--mutate: with --kinds, --orders") != std::string::npos);
    REQUIRE(bad.out.find("explores one scenario file, got 2") != std::string::npos);
    REQUIRE_FALSE(std::filesystem::exists(tmp_path("bad2.db")));
    std::filesystem::remove_all(out);
}

TEST_CASE("explore --mutate DRIVER:CALLBACK:STEP: that step's mutations only", "[drivers][explore][cli][mutate]") {
    const std::string db = tmp_path("mutate-step.db");
    quiesce::test::Cli r = sh("explore " + regression("s3-basic") + " --mutate dma-engine:suspend:save-regs -j 2 --db " + db);
    INFO(r.out);
    REQUIRE(r.out.find("4 mutant(s) of 1 driver(s) over 1 scenario(s)") != std::string::npos);
    for (const char* m : {"drop suspend/save-regs", "swap suspend/save-regs with the next step",
                          "move suspend/save-regs to prepare", "move suspend/save-regs to suspend_late"})
        CHECK(r.out.find(m) != std::string::npos);
    CHECK(r.out.find("dma-engine: ") != std::string::npos);
    CHECK(r.out.find("of 4 mutants killed") != std::string::npos);
    CHECK(r.out.find("drain") == std::string::npos);
}

// A budget leaves mutants out: the report says how many and whose, so a
// partial score is not read as the driver's.
TEST_CASE("explore --mutate --budget: the mutants left out are counted per callback", "[drivers][explore][cli][mutate]") {
    const std::string db = tmp_path("mutate-budget.db");
    quiesce::test::Cli all = sh("explore " + regression("s3-basic") + " --mutate dma-engine:suspend:save-regs -j 2 --db " +
                                tmp_path("mutate-budget-all.db"));
    REQUIRE(all.out.find("4 mutant(s)") != std::string::npos);
    CHECK(all.out.find("not run") == std::string::npos);
    quiesce::test::Cli r =
        sh("explore " + regression("s3-basic") + " --mutate dma-engine:suspend:save-regs --budget 1 -j 2 --db " + db);
    INFO(r.out);
    REQUIRE(r.out.find("1 mutant(s) of 1 driver(s) over 1 scenario(s)") != std::string::npos);
    CHECK(r.out.find("--budget 1: 3 more mutant(s) not run; the scores below are of those run only") !=
          std::string::npos);
    CHECK(r.out.find("of 1 mutants killed") != std::string::npos);
    CHECK(r.out.find("; 3 more not run (--budget)") != std::string::npos);
    CHECK(r.out.find("  not run (--budget): suspend 3\n") != std::string::npos);
}

TEST_CASE("drivers: every op the parser accepts resolves to its own step code, once, where it is read", "[drivers]") {
    // The interpreter dispatches on Step::code: each op has one, in
    // step_ops()'s order, and parsing a step sets it.
    const auto& ops = step_ops();
    REQUIRE(ops.size() == size_t(StepCode::Unknown));
    std::set<std::string> names;
    for (size_t i = 0; i < ops.size(); ++i) {
        const std::string name = ops[i].name;
        INFO(name);
        CHECK(names.insert(name).second);
        CHECK(ops[i].code == StepCode(i));
        CHECK(&step_op(ops[i].code) == &ops[i]);
        CHECK(find_step_op(name) == &ops[i]);
        CHECK(step_code(name) == ops[i].code);
        toml::table t = toml::parse("op = \"" + name + "\"\n");
        TableReader r("steps.toml", t, "s");
        const Step st = parse_step(r);
        CHECK(st.op == name);
        CHECK(st.code == ops[i].code);
    }
    for (const char* bad : {"", "jump", "Read", "read ", "rpm-", "pci-", "irq-", "irq-wait"})
        CHECK(step_code(bad) == StepCode::Unknown);
    // A patch that changes a step's op changes its code.
    TempFile f(kDerived + "[[patch]]\ncallback = \"suspend\"\nchange = \"drain\"\nset = { op = \"sleep\", duration = "
                          "\"1ms\" }\n");
    const Step& changed = load_driver(f.path()).callback("suspend")->at(2);
    REQUIRE(changed.label == "drain");
    REQUIRE(changed.op == "sleep");
    REQUIRE(changed.code == StepCode::Sleep);
}

TEST_CASE("drivers: an unknown op is an input error naming file:line:column and key, however it is written",
          "[drivers]") {
    auto patch = [](const std::string& body) { return kDerived + "[[patch]]\ncallback = \"suspend\"\n" + body; };
    REQUIRE(driver_error(patch("append = [{ op = \"Read\", reg = \"CTRL\" }]\n")).find(
                ":6:18: patch[0].append[0].op: unknown step 'Read' (read, write,") == 0);
    REQUIRE(driver_error(patch("replace = [{ op = \"rpm-\" }]\n")).find(
                ":6:19: patch[0].replace[0].op: unknown step 'rpm-' (read, write,") == 0);
    REQUIRE(driver_error(patch("change = \"drain\"\nset = { op = \"jump\" }\n")).find(
                ":7:14: patch[0].set.op: unknown step 'jump' (read, write,") == 0);
}

TEST_CASE("drivers: a condition's comparison is resolved when it is parsed", "[drivers]") {
    const std::pair<const char*, StepCondition::Cmp> cases[] = {
        {"rc == 1", StepCondition::Cmp::Eq}, {"rc != 1", StepCondition::Cmp::Ne}, {"rc < 1", StepCondition::Cmp::Lt},
        {"rc > 1", StepCondition::Cmp::Gt},  {"rc <= 1", StepCondition::Cmp::Le}, {"rc >= 1", StepCondition::Cmp::Ge},
        {"$x != 0", StepCondition::Cmp::Ne}, {"STATUS.BUSY <= 0x3", StepCondition::Cmp::Le}};
    for (const auto& [text, cmp] : cases) {
        INFO(text);
        toml::table t = toml::parse(std::string("op = \"compute\"\nwhen = \"") + text + "\"\n");
        TableReader r("steps.toml", t, "s");
        const Step st = parse_step(r);
        CHECK(st.when.cmp == cmp);
        CHECK(st.when.op == std::string(text).substr(std::string(text).find_first_of("=!<>"),
                                                     std::string(text).find(' ', std::string(text).find_first_of("=!<>")) -
                                                         std::string(text).find_first_of("=!<>")));
    }
}

TEST_CASE("docs/drivers.md describes every step and every mutation", "[drivers][docs]") {
    std::ifstream in(std::string(QUIESCE_DATA_DIR) + "/../docs/drivers.md");
    std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE_FALSE(doc.empty());
    for (const auto& op : step_ops()) CHECK(doc.find("| `" + std::string(op.name) + "` |") != std::string::npos);
    for (const auto& [op, what] : mutation_ops()) CHECK(doc.find("| `" + op + "` | " + what + " |") != std::string::npos);
}

TEST_CASE("drivers: the xHCI driver file and its derived mistakes load, a patch names xHCI fields", "[drivers]") {
    DriverProgram fixed = load_driver(builtin("xhci"));
    REQUIRE(fixed.binds == "xhci");
    REQUIRE(fixed.callback("freeze") == fixed.callback("suspend"));
    REQUIRE(find_label(*fixed.callback("suspend"), "wait-saved") < fixed.callback("suspend")->size());
    DriverProgram nowait = load_driver(builtin("xhci-save-state-no-wait"));
    REQUIRE(find_label(*nowait.callback("suspend"), "wait-saved") == nowait.callback("suspend")->size());
    REQUIRE(find_label(*nowait.callback("suspend"), "save-error") == nowait.callback("suspend")->size());
    REQUIRE(nowait.callback("resume")->size() == fixed.callback("resume")->size());
    DriverProgram crcr = load_driver(builtin("xhci-crcr-saved"));
    const auto& resume = *crcr.callback("resume");
    REQUIRE(find_label(resume, "command-ring") == resume.size());
    REQUIRE(resume[find_label(resume, "restore-regs")].regs.back() == "CRCR");
    REQUIRE(load_driver(builtin("xhci-ignore-sre")).callback("resume")->size() + 1 == fixed.callback("resume")->size());
}

TEST_CASE("drivers: AHCI and sd are driver files, sd has no registers and is no PCI function", "[drivers]") {
    DriverProgram hba = load_driver(builtin("ahci"));
    REQUIRE(hba.binds == "ahci");
    REQUIRE(hba.callback("restore") == hba.callback("resume"));
    DriverProgram sd = load_driver(builtin("sd"));
    REQUIRE(sd.binds == "sd");
    REQUIRE(sd.callback("freeze") == nullptr);  // sd has no freeze callback
    DriverProgram noflush = load_driver(builtin("sd-no-flush-on-suspend"));
    REQUIRE(find_label(*noflush.callback("suspend"), "sync-cache") == noflush.callback("suspend")->size());
    REQUIRE(noflush.callback("poweroff") == noflush.callback("suspend"));  // the alias follows the patch
    const std::string bad = driver_error("[driver]\nname = \"x\"\nbinds = \"sd\"\n[callbacks]\n"
                                            "suspend = [{ op = \"pci-set-power\", state = \"D3hot\" }]\n");
    REQUIRE(bad.find("'sd' is not a PCI function: no 'pci-set-power'") != std::string::npos);
    const std::string reg = driver_error("[driver]\nname = \"x\"\nbinds = \"ahci\"\n[callbacks]\n"
                                            "suspend = [{ op = \"rmw\", reg = \"PxCMD\", field = \"STX\", value = 0 }]\n");
    REQUIRE(reg.find("register PxCMD has no field 'STX' (ST, SUD, POD, FRE, FR, CR)") != std::string::npos);
    // A scenario names the disk behind the controller to patch its driver.
    TempFile f("[scenario]\nseed = 5\n[platform]\nname = \"pc-storage\"\n[protocol]\nname = \"linux-s3\"\n"
               "[[drivers.sda.patch]]\ncallback = \"suspend\"\ndelete = \"spin-down\"\n"
               "[expect]\nresult = \"pass\"\n");
    Scenario s = load_scenario(f.path());
    const auto& suspend = *s.drivers.at("sda")->callback("suspend");
    REQUIRE(find_label(suspend, "spin-down") == suspend.size());
    REQUIRE(find_label(suspend, "sync-cache") < suspend.size());
    REQUIRE(s.drivers.at("ahci0")->name == "ahci");
    // The disk in a USB enclosure runs the same sd.
    TempFile u("[scenario]\nseed = 5\n[platform]\nname = \"pc-usb-storage\"\n[protocol]\nname = \"linux-s3\"\n"
               "[drivers.sdb]\ndriver = \"sd-no-flush-on-suspend\"\n[expect]\nresult = \"pass\"\n");
    Scenario us = load_scenario(u.path());
    REQUIRE(us.drivers.at("sdb")->name == "sd-no-flush-on-suspend");
    REQUIRE(us.drivers.at("xhci0")->name == "xhci");
    // Every USB device runs the USB core's usb.toml (binds "usb").
    REQUIRE(us.drivers.at("usb0")->name == "usb");
    TempFile k("[scenario]\nseed = 5\n[platform]\nname = \"pc-usb\"\n[protocol]\nname = \"linux-s3\"\n"
               "[[drivers.kbd0.patch]]\ncallback = \"suspend\"\ndelete = \"stop-endpoints\"\n"
               "[expect]\nresult = \"pass\"\n");
    Scenario ks = load_scenario(k.path());
    REQUIRE(ks.drivers.at("kbd0")->binds == "usb");
    REQUIRE(find_label(*ks.drivers.at("kbd0")->callback("suspend"), "stop-endpoints") ==
            ks.drivers.at("kbd0")->callback("suspend")->size());
    REQUIRE(driver_error("[driver]\nname = \"x\"\nbinds = \"usb\"\n[callbacks]\n"
                         "suspend = [{ op = \"command\", name = \"power-off\" }]\n")
                .find("'usb' offers no command 'power-off' (is-configured, is-suspended") != std::string::npos);
}

TEST_CASE("drivers: a name is looked up next to the scenario, in ../drivers, then built in, as for platforms",
          "[drivers][scenario]") {
    namespace fs = std::filesystem;
    const fs::path root = tmp_path("driver-lookup");
    fs::remove_all(root);
    fs::create_directories(root / "suite" / "drivers");
    fs::create_directories(root / "drivers");
    const std::string scenario = (root / "suite" / "s.toml").string();
    auto touch = [](const fs::path& p) { std::ofstream(p) << kDerived; };
    // Built in when the tree has none.
    CHECK(find_driver_file(scenario, "dma-engine") == builtin("dma-engine"));
    // A tree's own drivers/ beside its scenario directory, as
    // `<scenario dir>/../<kind>/NAME.toml` (docs/scenarios.md), wins over the built-in...
    touch(root / "drivers" / "dma-engine.toml");
    CHECK(find_driver_file(scenario, "dma-engine") == (root / "drivers" / "dma-engine.toml").string());
    // ...and the scenario directory's own drivers/ over both.
    touch(root / "suite" / "drivers" / "dma-engine.toml");
    CHECK(find_driver_file(scenario, "dma-engine") == (root / "suite" / "drivers" / "dma-engine.toml").string());
    fs::remove_all(root);
}

TEST_CASE("replay: a run from a relative path, replayed from elsewhere, says where the path is relative to",
          "[drivers][trace][cli]") {
    namespace fs = std::filesystem;
    const fs::path root = tmp_path("replay-relative");
    fs::create_directories(root / "here");
    fs::create_directories(root / "elsewhere");
    fs::copy_file(regression("s3-basic"), root / "here" / "s.toml");
    const std::string bin = std::string(QUIESCE_BIN) + " ";
    REQUIRE(quiesce::test::shell("cd " + (root / "here").string() + " && " + bin + "run s.toml --db x.db").status ==
            0);
    const std::string db = (root / "here" / "x.db").string();
    quiesce::test::Cli r = quiesce::test::shell("cd " + (root / "elsewhere").string() + " && " + bin + "replay " + db +
                                                " 1");
    INFO(r.out);
    CHECK(r.status == 2);
    auto relative = [&](const fs::path& from) {
        return "quiesce: s.toml: run 1 came from this file, a path relative to the directory it ran in, and " +
               from.string() + " has none: replay from that directory (or the file is gone)\n";
    };
    CHECK(r.out == relative(root / "elsewhere"));
    // From the directory it ran in, the same replay is identical.
    r = quiesce::test::shell("cd " + (root / "here").string() + " && " + bin + "replay x.db 1");
    CHECK(r.out.find("identical") != std::string::npos);
    fs::remove(root / "here" / "s.toml");
    r = quiesce::test::shell("cd " + (root / "here").string() + " && " + bin + "replay x.db 1");
    CHECK(r.status == 2);
    CHECK(r.out == relative(root / "here"));
    // An absolute path gone is said so.
    fs::copy_file(regression("s3-basic"), root / "here" / "s.toml");
    const std::string abs_path = (root / "here" / "s.toml").string();
    REQUIRE(sh("run " + abs_path + " --db " + db).status == 0);
    fs::remove(abs_path);
    r = sh("replay " + db + " 2");
    CHECK(r.status == 2);
    CHECK(r.out == "quiesce: " + abs_path + ": run 2 came from this file, which is gone\n");
    fs::remove_all(root);
}

TEST_CASE("run_input: a run records the files it was loaded from, replay names the one that changed",
          "[drivers][trace][cli]") {
    namespace fs = std::filesystem;
    const fs::path root = tmp_path("run-input");
    fs::create_directories(root / "suite");
    fs::create_directories(root / "drivers");
    const std::string scenario = (root / "suite" / "s.toml").string();
    fs::copy_file(regression("s3-basic"), scenario);
    const fs::path driver = root / "drivers" / "dma-engine.toml";
    fs::copy_file(builtin("dma-engine"), driver);
    const std::string db = (root / "x.db").string();
    REQUIRE(sh("run " + scenario + " --db " + db).status == 0);
    // The scenario first, then what it named, the tree's own driver file among them.
    const quiesce::test::Cli rows = sh("query " + db + " \"SELECT path || ' ' || bytes || ' ' || hash FROM run_input"
                                       " WHERE run_id = 1 ORDER BY id\"");
    const std::string text = quiesce::test::read_text(driver.string());
    const std::string row = driver.string() + " " + std::to_string(text.size()) + " " +
                            fmt::format("{:016x}", hash_bytes(text.data(), text.size()));
    CHECK(rows.out.find(scenario + " ") < rows.out.find(row));
    CHECK(rows.out.find("pc-basic.toml") != std::string::npos);
    CHECK(rows.out.find("linux-s3.toml") != std::string::npos);
    CHECK(sh("replay " + db + " 1").out.find("identical") != std::string::npos);
    // A step renamed: its slice is named so, another event stream.
    const std::string from = "label = \"drain\"";
    REQUIRE(text.find(from) != std::string::npos);
    std::string edited = text;
    edited.replace(edited.find(from), from.size(), "label = \"drain-all\"");
    std::ofstream(driver, std::ios::trunc) << edited;
    const quiesce::test::Cli replay = sh("replay " + db + " 1");
    CHECK(replay.status == 1);
    CHECK(replay.out.find("digest differs") != std::string::npos);
    CHECK(replay.out.find("input changed since the run: " + driver.string() + " (hash ") != std::string::npos);
    CHECK(replay.out.find("s.toml") == std::string::npos);  // the scenario file is as it was
    // trace diff of the two runs says it too, before where they part.
    REQUIRE(sh("run " + scenario + " --db " + db).status == 0);
    const std::string diff = sh("trace diff " + db + " 1 2").out;
    CHECK(diff.find("input read with other bytes: " + driver.string() + " (hash ") < diff.find("first difference"));
    CHECK(sh("trace diff " + db + " 2 2").out.find("input") == std::string::npos);
    // One file named two ways (the scenario given relative to the working
    // directory, then absolute): the same bytes, no difference.
    const quiesce::test::Cli relative =
        quiesce::test::shell("cd " + (root / "suite").string() + " && " + QUIESCE_BIN + " run s.toml --db " + db);
    REQUIRE(relative.status == 0);
    const std::string named = sh("trace diff " + db + " 2 3").out;
    INFO(named);
    CHECK(named.find("input") == std::string::npos);
    fs::remove_all(root);
}

TEST_CASE("run: a scenario's digest does not depend on the path it was named by", "[runs][cli]") {
    // s3-callback-fail-noirq fires a [[fault]] of its own: the fault's rule
    // names the file and line, not the path the command line gave.
    const std::string db = tmp_path("path-digest.db");
    const std::string file = regression("s3-callback-fail-noirq");
    const std::string dir = std::filesystem::path(file).parent_path().string();
    REQUIRE(sh("run " + file + " --db " + db).status == 0);
    REQUIRE(quiesce::test::shell("cd " + dir + " && " + QUIESCE_BIN + " run s3-callback-fail-noirq.toml --db " + db)
                .status == 0);
    REQUIRE(quiesce::test::shell("cd " + dir + "/.. && " + QUIESCE_BIN +
                                 " run ./regression/../regression/s3-callback-fail-noirq.toml --db " + db)
                .status == 0);
    const std::string digests = sh("query " + db + " \"SELECT count(DISTINCT digest), count(*) FROM run\" --format list").out;
    CHECK(digests == "count(DISTINCT digest)|count(*)\n1|3\n");
    CHECK(sh("query " + db + " \"SELECT DISTINCT json_extract(args, '$.rule') FROM fault\" --format list").out ==
          "json_extract(args, '$.rule')\ns3-callback-fail-noirq.toml:26\n");
}
