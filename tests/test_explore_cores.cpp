// Explore and the cores: which async callbacks ran on which core (against the run's own sched_switch
// records), the cross-core interleavings the coverage counts, a driver mutant only a timing kills, and a
// race between two cores that no single axis finds and PCT schedules under timings do; the tasks, kernel
// threads and IRQ handlers that ran with the callbacks, as the coverage counts them.
#include "cli.h"
#include "tmpfile.h"

#include "sim/explore/interleavings.h"
#include "sim/scenario/executor.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <string>

using namespace quiesce;
using quiesce::test::Cli;
using quiesce::test::sh;

namespace {
std::string tmp(const std::string& name) { return quiesce::test::tmp_path("explore-cores-" + name); }
const std::string kRace = std::string(QUIESCE_DATA_DIR) + "/examples/explore-cross-cpu-race.toml";
const std::string kMutant = std::string(QUIESCE_DATA_DIR) + "/examples/explore-mutation-cross-cpu.toml";
const std::string kPctTiming = std::string(QUIESCE_DATA_DIR) + "/examples/explore-cross-cpu-race-pct-timing.toml";

// (callback, device) -> the core that first switched to the async callback's
// context ("dpm_<callback>_<device>_<n>"): what the run itself says.
std::map<std::pair<std::string, std::string>, std::string> switched_to(const RunStream& stream) {
    std::map<std::pair<std::string, std::string>, std::string> out;
    for (const auto& ev : stream.events) {
        if (ev.kind != EvKind::Instant || ev.name != "sched_switch") continue;
        std::string next = arg_value(ev, "next");
        if (next.rfind("dpm_", 0) != 0) continue;
        next = next.substr(4, next.rfind('_') - 4);  // without the serial number
        const size_t cut = next.rfind('_');
        out.emplace(std::make_pair(next.substr(0, cut), next.substr(cut + 1)), ev.track);
    }
    return out;
}
}  // namespace

TEST_CASE("explore: the core each callback ran on, recorded in its slice, as the run's own sched_switch records say",
          "[explore][cores]") {
    for (const std::string& file : {kRace, kMutant, quiesce::test::regression("s3-storage"),
                                   quiesce::test::regression("s3-basic")}) {
        INFO(file);
        Scenario s = load_scenario(file);
        RunResult r = execute(s);  // at its own trace level (events): sched_switch is recorded
        const auto cores = callback_cores(r.stream);
        const auto truth = switched_to(r.stream);
        size_t placed = 0, noirq = 0, sync = 0;
        for (const auto& [key, core] : cores) {
            const auto& [phase, device] = key;
            const Phase* ph = nullptr;
            for (const auto* list : {&s.protocol.suspend, &s.protocol.resume})
                for (const Phase& p : *list)
                    if (p.name == phase) ph = &p;
            INFO(phase << " " << device);
            REQUIRE(ph);
            if (!ph->async) {
                // A synchronous phase's callbacks run on the PM thread, on the boot CPU.
                CHECK(core == "cpu0");
                ++sync;
                continue;
            }
            auto it = truth.find({ph->callback, device});
            REQUIRE(it != truth.end());
            CHECK(it->second == core);
            ++placed;
            noirq += phase == "suspend_noirq";
        }
        CHECK(placed >= 8);
        CHECK(noirq >= 2);
        CHECK(sync >= 4);
    }
    // The order hands dma0's callback to cpu0 and dma1's to cpu1.
    Scenario s = load_scenario(kMutant);
    const auto cores = callback_cores(execute(s).stream);
    CHECK(cores.at({"suspend_noirq", "dma0"}) == "cpu0");
    CHECK(cores.at({"suspend_noirq", "dma1"}) == "cpu1");
}

TEST_CASE("explore: coverage counts the cross-core interleavings, and only the composed axes vary them",
          "[explore][cores]") {
    const std::regex none("cross-core: \\d+ pairs of callbacks on two cores \\(device@core\\) ran at the same time in some "
                          "variant; 0 of them started in more than one order across the variants\n");
    Cli orders = sh("explore " + kRace + " --orders -j 2 --db " + tmp("orders.db"));
    INFO(orders.out);
    CHECK(std::regex_search(orders.out, none));
    Cli timing = sh("explore " + kRace + " --timing 4 -j 2 --db " + tmp("timing.db"));
    INFO(timing.out);
    CHECK(std::regex_search(timing.out, none));
    Cli both = sh("explore " + kRace + " --orders --timing 4 --cross -j 2 --db " + tmp("both.db"));
    INFO(both.out);
    CHECK(std::regex_search(both.out, std::regex("cross-core: \\d+ pairs of callbacks on two cores \\(device@core\\) ran at the same time in "
                                                 "some variant; [1-9]\\d* of them started in more than one order across the variants:\n")));
    // The racing pair, where the other order put them: dma0 on the PM
    // thread's core first under a timing, both at once nominally.
    CHECK(both.out.find("  suspend_noirq    dma0@cpu0 dma1@cpu1: dma0 first, at the same instant\n") !=
          std::string::npos);
    CHECK(sh("explore " + kRace + " --orders --timing 4 --cross -j 2 --db " + tmp("both-again.db")).out.find(
              "  suspend_noirq    dma0@cpu0 dma1@cpu1: dma0 first, at the same instant\n") != std::string::npos);
}

TEST_CASE("explore: a driver mutant that survives alone and on every axis alone, killed only with a timing",
          "[explore][cores][mutate]") {
    const std::string args = "explore " + kMutant + " --mutate dma-engine-waits-for-reader:suspend_noirq --timing 4";
    // The mutants alone and the timings alone: nothing.
    Cli alone = sh(args + " -j 2 --db " + tmp("mut-alone.db"));
    INFO(alone.out);
    CHECK(alone.status == 0);
    CHECK(alone.out.find("no violation beyond the baseline's") != std::string::npos);
    CHECK(std::regex_search(alone.out, std::regex("SURVIVED  drop suspend_noirq/wait-reader +1 run\\(s\\)")));
    // Composed: the mutant is killed in mutations x timings only.
    const std::string db = tmp("mut-cross.db"), out = tmp("mut-repro");
    std::filesystem::remove_all(out);
    Cli r = sh(args + " --cross -j 2 --db " + db + " --out " + out);
    INFO(r.out);
    REQUIRE(r.status == 1);
    CHECK(std::regex_search(r.out, std::regex("KILLED    drop suspend_noirq/wait-reader +only in mutations x timings "
                                              "\\(4 of them\\), by io.suspended-device in suspend_noirq at dma0")));
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex("io\\.suspended-device +- +dma0 +fault mutation\\+timing .* first run "
                                                   "(\\d+) \\(mutate=dma-engine-waits-for-reader:drop:suspend_noirq:"
                                                   "wait-reader under timing=[^)]*\\)\\s+reproducer: (\\S+)")));
    // The finding's run replays; the reproducer (the mutation as a patch of
    // dma0's driver, the [timing] table) runs from --out.
    CHECK(sh("replay " + db + " " + std::string(m[1])).out.find("identical") != std::string::npos);
    std::ifstream in(m[2].str());
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text.find("[[drivers.dma0.patch]]\ncallback = \"suspend_noirq\"\ndelete = \"wait-reader\"\n") !=
          std::string::npos);
    CHECK(text.find("[timing]\n") != std::string::npos);
    Cli again = sh("run " + out + " --db " + tmp("mut-again.db"));
    INFO(again.out);
    CHECK(again.status == 0);
    CHECK(again.out.find("found the expected io.suspended-device") != std::string::npos);
    std::filesystem::remove_all(out);
}

TEST_CASE("explore: a cross-CPU race that no single axis finds (orders or timings or PCT) is found by schedules x timings",
          "[explore][cores][pct][timing]") {
    // Each axis alone: nothing. PCT holds dma0's kworker back one slice
    // (750 us) at most, short of dma1's 1.8 ms flush after dma0's 1 ms
    // handshake; a timing alone moves each by 20% and 100 us at most.
    for (const char* axis : {"--orders", "--timing 20", "--pct 20", "--orders --timing 20 --cross", "--orders --pct 20 --cross"}) {
        Cli one = sh("explore " + kPctTiming + " " + axis + " -j 2 --db " + tmp("pcttiming-one.db"));
        INFO(axis << "\n" << one.out);
        CHECK(one.status == 0);
        CHECK(one.out.find("no violation beyond the baseline's") != std::string::npos);
    }
    // Schedules x timings: found, as a pair that neither part shows alone.
    const std::string db = tmp("pcttiming.db"), out = tmp("pcttiming-repro");
    std::filesystem::remove_all(out);
    Cli r = sh("explore " + kPctTiming + " --pct 4 --timing 4 --cross -j 2 --db " + db + " --out " + out);
    INFO(r.out);
    REQUIRE(r.status == 1);
    CHECK(r.out.find("combinations: 16 (schedules x timings 16)") != std::string::npos);
    std::smatch n;
    REQUIRE(std::regex_search(r.out, n, std::regex("schedules x timings: 16 of 16 tried, 16 fired, (\\d+) with a violation "
                                                   "no part of them showed alone")));
    CHECK(std::stoi(n[1]) >= 1);
    CHECK(std::stoi(n[1]) < 16);  // only the schedules that give dma1's kworker the higher priority
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex("io\\.suspended-device +- +dma1 +fault pct\\+timing .* first run (\\d+) "
                                                   "\\(schedule=pct,seed=\\d+,depth=3,steps=20000 under timing=jitter=20[^)]*\\)"
                                                   "\\s+reproducer: (\\S+)")));
    CHECK(sh("replay " + db + " " + std::string(m[1])).out.find("identical") != std::string::npos);
    std::ifstream in(m[2].str());
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text.find("[schedule]\npolicy = \"pct\"") != std::string::npos);
    CHECK(text.find("[timing]\njitter = 20") != std::string::npos);
    CHECK(text.find("None of these decisions alone, nor fewer of them together, showed it.") != std::string::npos);
    Cli again = sh("run " + std::string(m[2]) + " --db " + tmp("pcttiming-again.db"));
    INFO(again.out);
    CHECK(again.status == 0);
    CHECK(again.out.find("found the expected io.suspended-device") != std::string::npos);
    // The reproducer's run: dma0's kworker held behind dma1's for a whole slice.
    Scenario found = load_scenario(m[2].str());
    unsigned full_holds = 0;
    for (const auto& ev : execute(found).stream.events)
        full_holds += ev.kind == EvKind::Instant && ev.name == "pct-hold" &&
                      arg_value(ev, "context").rfind("dpm_suspend_noirq_dma0_", 0) == 0 &&
                      arg_value(ev, "behind").rfind("dpm_suspend_noirq_dma1_", 0) == 0 && arg_value(ev, "cycles") == "750000";
    CHECK(full_holds == 1);
    std::filesystem::remove_all(out);
    // The same sixteen pairs run one by one: as many break it as explore
    // said; with the device link none does.
    auto broken = [](Scenario s) {
        unsigned n = 0;
        for (uint64_t pct = 1; pct <= 4; ++pct)
            for (uint64_t timing = 1; timing <= 4; ++timing) {
                Scenario t = s;
                t.schedule.pct = true;
                t.schedule.seed = pct;
                t.timing.jitter = 20;
                t.timing.ties = true;
                t.timing.seed = timing;
                n += execute(t).violations.count("io.suspended-device");
            }
        return n;
    };
    Scenario s = load_scenario(kPctTiming);
    CHECK(broken(s) == unsigned(std::stoi(n[1])));
    s.platform.links.push_back({"dma1", "dma0", 0});
    CHECK(broken(s) == 0);
}

TEST_CASE("explore: coverage counts the tasks, kernel threads and IRQ handlers that ran with the callbacks, and where",
          "[explore][cores][contexts]") {
    // A DMA-streaming task on cpu1 while the PM thread suspends on cpu0,
    // the controller's interrupt on cpu0: PCT schedules move them.
    const std::string file = quiesce::test::regression("s3-dma-busy-no-drain");
    Cli r = sh("explore " + file + " --pct 20 -j 2 --db " + tmp("contexts.db"));
    INFO(r.out);
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex("contexts: (\\d+) pairs of a callback with a task, kernel thread or IRQ "
                                                   "handler, or of two of those, ran at the same time in some variant "
                                                   "\\((\\d+) callback x IRQ handler, (\\d+) callback x task, (\\d+) IRQ "
                                                   "handler x task, (\\d+) task x task\\); (\\d+) of them started in either "
                                                   "order, \\d+ only at the same instant\n")));
    CHECK(std::stoi(m[2]) >= 1);
    CHECK(std::stoi(m[3]) >= 1);
    CHECK(std::stoi(m[1]) == std::stoi(m[2]) + std::stoi(m[3]) + std::stoi(m[4]) + std::stoi(m[5]));
    CHECK(std::stoi(m[6]) >= 1);
    REQUIRE(std::regex_search(r.out, m, std::regex("cross-core contexts: (\\d+) pairs of those on two cores \\(name@core\\) "
                                                   "ran at the same time in some variant; ([1-9]\\d*) of them started in "
                                                   "more than one order:\n")));
    // The task raced the root bus's noirq callback on the other core: on
    // already when it began in some schedules, switched in with it in others.
    CHECK(r.out.find("  suspend_noirq    pci0@cpu0 dma-streamer@cpu1: dma-streamer first, at the same instant\n") !=
          std::string::npos);
    CHECK(r.out.find("  sync             irq 10@cpu0 dma-streamer@cpu1: irq 10 first, dma-streamer first\n") !=
          std::string::npos);
    // Explore's runs with one PCT schedule, one by one: the pair counted once
    // in each order (bits 1, 2, 4 as Interleavings keeps them).
    unsigned seen = 0;
    for (uint64_t seed = 1; seed <= 20; ++seed) {
        Scenario s = load_scenario(file);
        s.schedule.pct = true;
        s.schedule.seed = seed;
        s.trace = TraceLevel::Summary;
        s.note_contexts = true;
        for (const ContextPair& c : execute(s).stream.contexts)
            if (c.phase == "suspend_noirq" && c.a == "pci0" && c.a_core == "cpu0" && c.b == "dma-streamer" && c.b_core == "cpu1")
                seen |= c.seen;
    }
    CHECK(seen == (2u | 4u));
}

TEST_CASE("explore: the contexts a run records outside its digest, against its own slices and sched_switch records",
          "[explore][cores][contexts]") {
    for (const std::string& file : {quiesce::test::regression("s3-dma-busy-no-drain"), quiesce::test::regression("s3-storage"), kRace}) {
        INFO(file);
        Scenario s = load_scenario(file);
        s.trace = TraceLevel::Summary;
        const RunResult plain = execute(s);
        s.note_contexts = true;
        const RunResult noted = execute(s);
        // Noting them changes neither the run nor its digest.
        CHECK(plain.stream.contexts.empty());
        CHECK(noted.stream.digest == plain.stream.digest);
        REQUIRE(!noted.stream.contexts.empty());
        // At the events level the run has its IRQ slices and sched_switch
        // records: each pair is there, where the pair says.
        s.trace = TraceLevel::Events;
        const RunResult events = execute(s);
        CHECK(events.stream.contexts.size() == noted.stream.contexts.size());
        struct Slice {
            Picos begin, end;
        };
        std::map<std::pair<std::string, std::string>, std::vector<Slice>> irqs;  // (handler, core) -> its runs
        std::map<std::pair<std::string, std::string>, Slice> callbacks;         // (phase, device) -> its run
        std::set<std::pair<std::string, std::string>> tasks;                     // (task, core) switched to
        std::map<std::string, std::pair<std::string, Picos>> open;
        for (const auto& ev : events.stream.events) {
            if (ev.category == "irq" && ev.kind == EvKind::SliceBegin) irqs[{ev.name, ev.track}].push_back({ev.ts, ev.ts});
            if (ev.category == "irq" && ev.kind == EvKind::SliceEnd) irqs[{ev.name, ev.track}].back().end = ev.ts;
            if (ev.category == "callback" && ev.kind == EvKind::SliceBegin)
                open[arg_value(ev, "device")] = {arg_value(ev, "phase"), ev.ts};
            if (ev.category == "callback" && ev.kind == EvKind::SliceEnd) {
                const auto& [phase, begin] = open[arg_value(ev, "device")];
                callbacks[{phase, arg_value(ev, "device")}] = {begin, ev.ts};
            }
            if (ev.name == "sched_switch") tasks.insert({arg_value(ev, "next"), ev.track});
        }
        const auto cores = callback_cores(events.stream);
        size_t with_irq = 0;
        for (const ContextPair& c : noted.stream.contexts) {
            INFO(c.phase << " " << c.a << "@" << c.a_core << " " << c.b << "@" << c.b_core << " " << c.seen);
            CHECK(!(c.a_kind == ContextPair::Callback && c.b_kind == ContextPair::Callback));
            CHECK(c.seen >= 1u);
            CHECK(c.seen <= 7u);
            if (c.a_kind == ContextPair::Callback) CHECK(cores.at({c.phase, c.a}) == c.a_core);
            if (c.b_kind == ContextPair::Task) CHECK(tasks.count({c.b, c.b_core}));
            if (c.a_kind != ContextPair::Callback || c.b_kind != ContextPair::Irq) continue;
            // The handler ran on that core while the callback did, and began
            // before it (bit 2), after it (bit 1) or with it (bit 4).
            const Slice cb = callbacks.at({c.phase, c.a});
            unsigned bits = 0;
            for (const Slice& h : irqs.at({c.b, c.b_core}))
                if (h.begin < cb.end && cb.begin < h.end) bits |= cb.begin < h.begin ? 1u : h.begin < cb.begin ? 2u : 4u;
            CHECK(bits == c.seen);
            ++with_irq;
        }
        CHECK(with_irq >= 1);
    }
}
