// The fault plan: triggers (phase, device, nth, probability, at, once), the
// record of every fault that fires, and rules from the command line.
#include "child.h"
#include "cli.h"
#include "tmpfile.h"

#include "sim/core/context.h"
#include "sim/fault/injector.h"
#include "sim/scenario/scenario.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

using namespace quiesce;
using quiesce::test::Cli;
using quiesce::test::Facts;
using quiesce::test::regression;
using quiesce::test::sh;

namespace {

FaultSpec rule(std::string kind) {
    FaultSpec f;
    f.kind = std::move(kind);
    f.origin = "test";
    return f;
}

// Asks `n` times at (phase, device) and returns which asks fired, as "1.3.".
std::string asks(FaultInjector& inj, EventHub& hub, const std::string& phase, const std::string& device, int n) {
    hub.set_phase(phase);
    std::string fired;
    for (int i = 1; i <= n; ++i)
        if (inj.fire("callback-fail", device, device)) fired += std::to_string(i) + ".";
    return fired;
}

}  // namespace

TEST_CASE("faults: phase and device narrow a rule, nth picks one opportunity, once", "[faults]") {
    EventHub hub;
    std::vector<std::string> recorded;
    hub.subscribe(kind_bit(EvKind::Fault), [&](const Event& e) {
        recorded.push_back(e.name + "@" + e.phase + ":" + e.track + ":" + arg_value(e, "rule"));
    });
    FaultPlan plan;
    FaultSpec a = rule("callback-fail");
    a.phase = "suspend";
    a.device = "dma0";
    a.nth = 3;
    plan.faults.push_back(a);
    FaultInjector inj(hub);
    inj.load(plan, 1);
    CHECK(asks(inj, hub, "resume", "dma0", 5).empty());    // another phase
    CHECK(asks(inj, hub, "suspend", "ahci0", 5).empty());  // another device
    CHECK(asks(inj, hub, "suspend", "dma0", 5) == "3.");   // the third, once
    CHECK_FALSE(inj.armed("callback-fail"));
    CHECK(recorded == std::vector<std::string>{"callback-fail@suspend:dma0:test"});

    plan.faults[0].nth = 0;
    plan.faults[0].once = false;  // every opportunity
    inj.load(plan, 1);
    CHECK(asks(inj, hub, "suspend", "dma0", 3) == "1.2.3.");
    CHECK(inj.fired() == 4);
}

TEST_CASE("faults: a probability draws from the run's seed, the same every time", "[faults]") {
    EventHub hub;
    FaultPlan plan;
    FaultSpec p = rule("callback-fail");
    p.probability = 0.25;
    p.once = false;
    plan.faults.push_back(p);
    auto pattern = [&](uint64_t seed) {
        FaultInjector inj(hub);
        inj.load(plan, seed);
        return asks(inj, hub, "suspend", "dma0", 400);
    };
    std::string s1 = pattern(1);
    CHECK(s1 == pattern(1));  // deterministic
    CHECK(s1 != pattern(2));  // and a function of the seed
    size_t hits = std::count(s1.begin(), s1.end(), '.');
    CHECK(hits > 60);   // about 100 of 400
    CHECK(hits < 140);
    plan.faults[0].probability = 0;
    FaultInjector never(hub);
    never.load(plan, 1);
    CHECK(asks(never, hub, "suspend", "dma0", 100).empty());
}

TEST_CASE("faults: point faults fire at their phase boundary, or at their time", "[faults]") {
    Facts f = quiesce::test::in_child([](Facts& f) {
        RunContext ctx(1);
        FaultPlan plan;
        FaultSpec before = rule("wake-event");
        before.phase = "suspend";
        FaultSpec after = rule("spurious-irq");
        after.phase = "suspend";
        after.when = "after";
        FaultSpec timed = rule("firmware-clobber");
        timed.at = 5'000'000;  // 5 us
        plan.faults = {before, after, timed};
        ctx.faults.load(plan, 1);
        std::string log;
        for (const char* k : {"wake-event", "spurious-irq", "firmware-clobber"})
            ctx.faults.on_point(k, [&log, k](const FaultSpec&) { log += std::string(k) + "@" + std::to_string(now_ps()) + " "; });
        struct Runner : sc_core::sc_module {
            SC_HAS_PROCESS(Runner);
            std::function<void()> fn;
            Runner(sc_core::sc_module_name n, std::function<void()> fn) : sc_module(n), fn(std::move(fn)) { SC_THREAD(run); }
            void run() { fn(); }
        } runner("runner", [&] {
            ctx.faults.start_timers();
            f["resume_before"] = std::to_string(ctx.faults.boundary("resume", "before").size());
            f["suspend_before"] = std::to_string(ctx.faults.boundary("suspend", "before").size());
            sc_core::wait(sc_core::sc_time(10, sc_core::SC_US));
            f["suspend_after"] = std::to_string(ctx.faults.boundary("suspend", "after").size());
        });
        sc_core::sc_start();
        f["log"] = log;
    });
    CHECK(f["resume_before"] == "0");
    CHECK(f["suspend_before"] == "1");
    CHECK(f["suspend_after"] == "1");
    CHECK(f["log"] == "wake-event@0 firmware-clobber@5000000 spurious-irq@10000000 ");
}

TEST_CASE("faults: --fault adds a rule to every scenario, bad rules exit 2 with one line", "[faults][cli]") {
    auto db = (std::filesystem::temp_directory_path() / ("quiesce-faults-" + std::to_string(getpid()) + ".db")).string();
    std::filesystem::remove(db);
    Cli r = sh("run " + regression("s3-storage") + " --db " + db +
               " --fault kind=callback-fail,phase=suspend_noirq,device=dma0,err=-16");
    CHECK(r.status == 1);  // the scenario expects a resume: the fault made it abort
    CHECK(r.out.find("transition ended with 'aborted:suspend_noirq'") != std::string::npos);
    Cli q = sh("query " + db + " \"SELECT kind, phase, json_extract(args, '$.rule') FROM fault\" --format list");
    CHECK(q.out == "kind|phase|json_extract(args, '$.rule')\ncallback-fail|suspend_noirq|--fault 1\n");
    std::filesystem::remove(db);

    struct Bad {
        const char* rule;
        const char* message;
    };
    for (const Bad& b : {
             Bad{"kind=meteor", "quiesce: --fault 1: kind: unknown fault kind 'meteor' ("},
             Bad{"kind=callback-fail,phase=nap", "quiesce: --fault 1: phase: protocol 'linux-s3' has no phase 'nap'\n"},
             Bad{"kind=callback-fail,duration=1ms", "quiesce: --fault 1: duration: unknown key\n"},
             Bad{"kind=callback-fail,device=gpu0", "quiesce: --fault 1: device: platform 'pc-storage' has no device 'gpu0'\n"},
             Bad{"kind=wake-event", "quiesce: --fault 1: kind: 'wake-event' needs a phase or a time ('at') to fire at\n"},
             Bad{"kind=power-loss,device=dma0",
                 "quiesce: --fault 1: device: power-loss at persistence points names a drive (an ahci or usb-storage device's disk)\n"},
             Bad{"kind=callback-fail,probability=2", "quiesce: --fault 1: probability: must be 0 to 1\n"},
             Bad{"phase=suspend", "quiesce: --fault 1: kind: is required\n"},
             Bad{"kind", "quiesce: --fault 1: expected key=value[,key=value...], got \"kind\"\n"},
             Bad{"kind=power-loss,,phase=suspend",
                 "quiesce: --fault 1: expected key=value[,key=value...], got an empty item in "
                 "\"kind=power-loss,,phase=suspend\"\n"},
             // A key twice (the last one won) and a leading zero (octal: -010 was -8), which a
             // [[fault]] table rejects too.
             Bad{"kind=callback-fail,phase=suspend,device=dma0,device=dma1", "quiesce: --fault 1: device: given twice\n"},
             Bad{"kind=callback-fail,phase=suspend,device=dma0,err=-010",
                 "quiesce: --fault 1: err: a number with a leading zero, got '-010'\n"},
             Bad{"kind=power-loss,persistence=1,device=sda,nth=08", "quiesce: --fault 1: nth: a number with a leading zero, got '08'\n"},
         }) {
        Cli bad = sh("run " + regression("s3-storage") + " --db " + db + " --fault " + b.rule);
        INFO(b.rule << " -> " << bad.out);
        CHECK(bad.status == 2);
        CHECK(bad.out.rfind(b.message, 0) == 0);
        CHECK(std::count(bad.out.begin(), bad.out.end(), '\n') == 1);
        CHECK_FALSE(std::filesystem::exists(db));
    }
}

TEST_CASE("faults: docs/faults.md describes every kind", "[faults][docs]") {
    std::ifstream in(std::string(QUIESCE_DATA_DIR) + "/../docs/faults.md");
    REQUIRE(in);
    std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const auto& k : fault_kinds()) {
        INFO(k.name);
        CHECK(doc.find(std::string("| `") + k.name + "` |") != std::string::npos);
    }
}
