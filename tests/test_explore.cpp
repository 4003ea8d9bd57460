// quiesce explore and replay, as a researcher uses them: a latent bug found
// with a reproducer that `quiesce run` confirms, runs that replay
// bit-identically, shards that split the work without losing any of it.
#include "cli.h"
#include "tmpfile.h"

#include "sim/core/checkpoint.h"
#include "sim/explore/explore.h"
#include "sim/explore/findings.h"
#include "sim/scenario/platform.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <sys/resource.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <iterator>
#include <sstream>

using namespace quiesce;
using quiesce::test::Cli;
using quiesce::test::sh;

namespace {
std::string tmp(const std::string& name) { return quiesce::test::tmp_path("explore-" + name); }

// quiesce explore on a regression scenario, writing `db`.
Cli explore(const std::string& scenario, const std::string& args, const std::string& db) {
    return sh("explore " + quiesce::test::regression(scenario) + " " + args + " --db " + db);
}

const std::string kLatent = std::string(QUIESCE_DATA_DIR) + "/examples/explore-latent-wrong-undo.toml";

std::set<std::string> variant_rules(const std::string& db) {
    Cli q = sh("query " + db + " \"SELECT faults FROM run WHERE faults IS NOT NULL\" --format list");
    std::set<std::string> rules;
    std::istringstream in(q.out);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) rules.insert(line);
    return rules;
}

// What each variant of an explore recorded: its decisions, digest, status, outcome.
std::string variants_recorded(const std::string& db) {
    return sh("query " + db + " \"SELECT faults, digest, status, outcome FROM run WHERE faults IS NOT NULL "
                              "ORDER BY faults\" --format list").out;
}
// The runs in the order they were recorded.
std::string run_order(const std::string& db) {
    return sh("query " + db + " \"SELECT id, faults, digest FROM run ORDER BY id\" --format list").out;
}
// The last run whose decisions match `like` (SQL LIKE).
std::string last_run(const std::string& db, const std::string& like) {
    Cli last = sh("query " + db + " \"SELECT max(id) FROM run WHERE faults LIKE '" + like + "'\" --format list");
    std::string id = last.out.substr(last.out.find('\n') + 1);
    id.pop_back();
    return id;
}
// `args` with prefix sharing, from the start (--no-prefix), with it once
// more, and with every variant forked (--no-rollback): the same variants
// (decisions, digests, statuses, outcomes) every way, and the same record
// order every time with prefix sharing. Returns the
// first run's output; `db` is its database.
Cli explore_three_ways(const std::string& args, const std::string& name, std::string& db) {
    db = tmp(name + ".db");
    std::string scratch = tmp(name + "-scratch.db"), again = tmp(name + "-again.db");
    Cli with = sh(args + " --db " + db);
    sh(args + " --no-prefix --db " + scratch);
    CHECK(variants_recorded(db) == variants_recorded(scratch));
    sh(args + " --db " + again);
    CHECK(run_order(db) == run_order(again));  // in the order they were forked, whatever ends first
    // Each variant forked instead of a pause's run in turn: the same runs, in the same order.
    const std::string forked = tmp(name + "-forked.db");
    sh(args + " --no-rollback --db " + forked);
    CHECK(variants_recorded(db) == variants_recorded(forked));
    CHECK(run_order(db) == run_order(forked));
    return with;
}
}  // namespace

TEST_CASE("explore: finds a bug only an error path shows, writes a reproducer, replays identically", "[explore]") {
    std::string db = tmp("latent.db"), out = tmp("repro"), junit = tmp("latent.xml");
    Cli r = sh("explore " + kLatent + " --kinds callback-fail -j 2 --db " + db + " --out " + out + " --junit " + junit);
    INFO(r.out);
    REQUIRE(r.status == 1);  // something breaks it
    REQUIRE(r.out.find("baseline: run 1, outcome resumed, no violation") != std::string::npos);
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex("rollback\\.incomplete .* first run (\\d+) \\(kind=callback-fail,phase=(\\w+),device=(\\w+)\\)\\s+reproducer: (\\S+)")));
    std::string run = m[1], phase = m[2], reproducer = m[4];
    // The failure must come at or after suspend_noirq: before it the wrong undo is never needed.
    CHECK((phase == "suspend_noirq" || phase == "platform-prepare" || phase == "cpus-offline"));
    // Coverage device by device: every device's callback failed in every
    // callback phase; suspend_noirq broke something, prepare never did.
    REQUIRE(std::regex_search(r.out, m, std::regex("callback-fail by device \\(fired/tried; ! = a new violation\\)\n"
                                                   "  phase +ahci0 +dma0 +pci0 +rp0 +sda *\n")));
    CHECK(std::regex_search(r.out, std::regex("\n  prepare +1/1 +1/1 +1/1 +1/1 +1/1 *\n")));
    CHECK(std::regex_search(r.out, std::regex("\n  suspend_noirq +(1/1!? +){4}1/1! *\n")));
    // Shrunk over the workload: the file writer and the DMA copies are not
    // needed to show it, so the reproducer leaves them out.
    std::ifstream repro_file(reproducer);
    std::string text((std::istreambuf_iterator<char>(repro_file)), std::istreambuf_iterator<char>());
    CHECK(text.find("# Shrunk: it shows without the writer, the DMA copies") != std::string::npos);
    CHECK(text.find("[workload]\nwriter_blocks = 0\ndma_copies = 0\n") != std::string::npos);
    // ... and over the platform: dma0 is not needed either.
    CHECK(text.find("# Shrunk: it shows without the platform's dma0") != std::string::npos);
    CHECK(text.find("[devices.dma0]\npresent = false\n") != std::string::npos);
    // JUnit for CI: a testcase per variant, failed where a new violation
    // showed, the reproducer named on the variant that found it.
    std::ifstream junit_file(junit);
    std::string xml((std::istreambuf_iterator<char>(junit_file)), std::istreambuf_iterator<char>());
    std::smatch v;
    REQUIRE(std::regex_search(r.out, v, std::regex("this run: (\\d+) variants")));
    CHECK(xml.find("<testsuites name=\"quiesce explore explore-latent-wrong-undo\" tests=\"" + v[1].str() + "\"") !=
          std::string::npos);
    CHECK(xml.find("<failure message=\"new violation: rollback.incomplete at kernel: ") != std::string::npos);
    CHECK(xml.find("\nreproducer=" + reproducer + "\n") != std::string::npos);
    CHECK(xml.find("name=\"kind=callback-fail,phase=prepare,device=pci0\"") != std::string::npos);
    // The reproducer is a scenario that `quiesce run` confirms.
    Cli again = sh("run " + reproducer + " --db " + tmp("again.db"));
    INFO(again.out);
    CHECK(again.status == 0);
    CHECK(again.out.find("found the expected rollback.incomplete") != std::string::npos);
    // The recorded run replays to the same digest, and so does the baseline.
    Cli rp = sh("replay " + db + " " + run);
    CHECK(rp.status == 0);
    CHECK(rp.out.find("identical") != std::string::npos);
    CHECK(sh("replay " + db + " 1").status == 0);
    CHECK(sh("replay " + db + " 999").status == 2);
    std::filesystem::remove_all(out);
}

// Reproducers an earlier explore left in --out stay beside the new ones
// (both numbered from 01, `quiesce run OUT` runs all): explore says so.
TEST_CASE("explore: an --out holding an earlier explore's reproducers is warned about", "[explore]") {
    const std::string out = tmp("repro-again");
    Cli first = sh("explore " + kLatent + " --kinds wake-event -j 2 --db " + tmp("again1.db") + " --out " + out);
    INFO(first.out);
    REQUIRE(first.status == 1);
    CHECK(first.out.find("warning: ") == std::string::npos);
    size_t written = 0;
    for (const auto& e : std::filesystem::directory_iterator(out)) written += e.path().extension() == ".toml";
    REQUIRE(written > 0);
    Cli again = sh("explore " + kLatent + " --kinds wake-event -j 2 --db " + tmp("again2.db") + " --out " + out);
    INFO(again.out);
    CHECK(again.out.find("warning: " + out + " already holds " + std::to_string(written) +
                         " reproducer(s) of an earlier explore (01-") != std::string::npos);
}

TEST_CASE("explore: shrinking leaves out the scenario file's own faults the finding does not need", "[explore]") {
    // The latent example with a fault of its own - a spurious interrupt once
    // the tasks thaw - that has nothing to do with the wrong undo.
    std::ifstream in(kLatent);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    text = text.substr(0, text.find("[expect]")) +
           "[[fault]]\nkind = \"spurious-irq\"\nphase = \"thaw-tasks\"\n\n[expect]\nresult = \"pass\"\n";
    std::string scenario = tmp("own-fault.toml"), out = tmp("own-fault-repro");
    std::ofstream(scenario) << text;
    REQUIRE(sh("run " + scenario + " --db " + tmp("own-fault-run.db")).status == 0);
    Cli r = sh("explore " + scenario + " --kinds callback-fail -j 2 --db " + tmp("own-fault.db") + " --out " + out);
    INFO(r.out);
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex("rollback\\.incomplete .*\\s+reproducer: (\\S+)")));
    std::ifstream repro_file(m[1].str());
    std::string repro((std::istreambuf_iterator<char>(repro_file)), std::istreambuf_iterator<char>());
    CHECK(repro.find("# Shrunk: it shows without the file's own [[fault]] table(s) 1") != std::string::npos);
    CHECK(repro.find("spurious-irq") == std::string::npos);
    CHECK(repro.find("[[fault]]\nkind = \"callback-fail\"") != std::string::npos);  // the variant's own, kept
    Cli again = sh("run " + m[1].str() + " --db " + tmp("own-fault-again.db"));
    INFO(again.out);
    CHECK(again.out.find("found the expected rollback.incomplete") != std::string::npos);
    std::filesystem::remove_all(out);
}

TEST_CASE("explore: shards split the variants and together run exactly the unsharded set", "[explore]") {
    std::string all = tmp("all.db"), s0 = tmp("s0.db"), s1 = tmp("s1.db");
    std::string args = "explore " + kLatent + " --kinds callback-fail,wake-event --strategy random --budget 30 --seed 7";
    REQUIRE(sh(args + " --db " + all).status == 1);
    sh(args + " --shard 0/2 --db " + s0);
    sh(args + " --shard 1/2 --db " + s1);
    std::set<std::string> a = variant_rules(all), x = variant_rules(s0), y = variant_rules(s1), u;
    CHECK(a.size() == 30);
    CHECK(x.size() == 15);
    CHECK(y.size() == 15);
    u.insert(x.begin(), x.end());
    u.insert(y.begin(), y.end());
    CHECK(u == a);
    // quiesce merge: the shards' databases together hold what the
    // unsharded run found - the same variants with the same digests and
    // violations (plus one baseline per shard).
    std::string merged = tmp("merged.db");
    Cli mg = sh("merge " + merged + " " + s0 + " " + s1);
    INFO(mg.out);
    REQUIRE(mg.status == 0);
    std::string q = " \"SELECT r.faults, r.digest, (SELECT group_concat(v.invariant || '@' || v.component, ' ') FROM "
                    "violation v WHERE v.run_id = r.id) FROM run r WHERE r.faults IS NOT NULL ORDER BY r.faults\" --format list";
    CHECK(sh("query " + merged + q).out == sh("query " + all + q).out);
    CHECK(sh("query " + merged + " \"SELECT count(*) FROM run\" --format list").out == "count(*)\n32\n");
    // Slices still nest under their own parents after renumbering.
    CHECK(sh("query " + merged + " \"SELECT count(*) FROM slice c JOIN slice p ON p.id = c.parent_id WHERE "
             "p.run_id != c.run_id\" --format list").out == "count(*)\n0\n");
    CHECK(sh("merge " + merged + " " + merged).status == 2);
    // The same seed picks the same variants; another seed others.
    std::string other = tmp("other.db");
    sh("explore " + kLatent + " --kinds callback-fail,wake-event --strategy random --budget 30 --seed 8 --db " + other);
    CHECK(variant_rules(other) != a);
}

TEST_CASE("explore: no finding exits 0, bad options exit 2", "[explore]") {
    Cli r = explore("s3-storage", "--kinds power-loss", tmp("none.db"));
    INFO(r.out);
    CHECK(r.status == 0);
    CHECK(r.out.find("no violation beyond the baseline's") != std::string::npos);
    CHECK(sh("explore " + kLatent + " --kinds meteor --db " + tmp("bad.db")).out ==
          "quiesce: --kinds: unknown fault kind 'meteor'\n");
    for (const char* kinds : {"''", ",", "callback-fail,", ",power-loss", "callback-fail,,power-loss"}) {
        Cli k = sh("explore " + kLatent + " --kinds " + kinds + " --db " + tmp("bad.db"));
        INFO(kinds << ": " << k.out);  // not every kind, as no --kinds would be
        CHECK(k.status == 2);
        CHECK(k.out.find("quiesce: --kinds: ") == 0);
    }
    CHECK(sh("explore " + kLatent + " --shard 2/2 --db " + tmp("bad.db")).status == 2);
    CHECK(sh("explore " + kLatent + " --strategy clever --db " + tmp("bad.db")).status == 2);
    for (const char* budget : {"5x", "1.5", "s", "-3s"}) {
        Cli b = sh("explore " + kLatent + " --budget=" + budget + " --db " + tmp("bad.db"));
        INFO(budget << ": " << b.out);
        CHECK(b.status == 2);
        CHECK(b.out.find("--budget: expected a number of variants (500) or a wall time") != std::string::npos);
    }
    // A number that is one, but not a budget: said so.
    for (const auto& [budget, said] : std::vector<std::pair<std::string, std::string>>{
             {"0", "quiesce: --budget: must be above 0 (no --budget: every variant), got '0'\n"},
             {"0s", "quiesce: --budget: must be above 0 (no --budget: every variant), got '0s'\n"},
             {"2000000000", "quiesce: --budget: at most 1000000000 variants or 10000000 seconds, got '2000000000'\n"},
             {"200000h", "quiesce: --budget: at most 1000000000 variants or 10000000 seconds, got '200000h'\n"}}) {
        Cli b = sh("explore " + kLatent + " --budget=" + budget + " --db " + tmp("bad.db"));
        CHECK(b.status == 2);
        CHECK(b.out == said);
    }
    CHECK_FALSE(std::filesystem::exists(tmp("bad.db")));  // nothing half-written
}

TEST_CASE("explore: a wall-time budget stops the exploration, the runs so far recorded", "[explore]") {
    // A millisecond: the first result comes after it, so the exploration
    // stops there - what still runs is stopped, the rest never starts.
    std::string db = tmp("budget.db");
    Cli r = explore("s3-storage", "--kinds callback-fail,power-loss -j 2 --budget 1ms", db);
    INFO(r.out);
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex("stopped at the wall-time budget of 0.001s: (\\d+) of (\\d+) variants ran")));
    int ran = std::stoi(m[1]), all = std::stoi(m[2]);
    CHECK(ran >= 1);
    CHECK(ran < all);
    Cli q = sh("query " + db + " \"SELECT count(*) FROM run WHERE faults IS NOT NULL\" --format list");
    CHECK(std::stoi(q.out.substr(q.out.find('\n') + 1)) == ran);
    // Those that ran are the first in fork order, complete and replayable.
    CHECK(sh("replay " + db + " " + last_run(db, "kind=%")).out.find("identical") != std::string::npos);
}

TEST_CASE("explore: --strategy pct varies PCT schedules, as many as the run budget", "[explore][pct]") {
    Cli r = explore("s3-freezer-skip-correct", "--strategy pct --budget 6 --pct-steps 3000 -j 2", tmp("pct-strategy.db"));
    INFO(r.out);
    CHECK(r.status == 0);
    CHECK(r.out.find("this run: 6 variants (pct, budget 6") != std::string::npos);
    CHECK(r.out.find("fault points: 0 (0 kinds)") != std::string::npos);
    CHECK(r.out.find("orders, schedules and timings: 6 tried") != std::string::npos);
}

TEST_CASE("explore: fault points follow what the baseline went through", "[explore]") {
    RunStream st;
    auto slice = [&](const std::string& cat, const std::string& name, std::vector<Arg> args) {
        Event e;
        e.kind = EvKind::SliceBegin;
        e.category = cat;
        e.name = name;
        e.args = std::move(args);
        st.events.push_back(e);
    };
    slice("phase", "suspend", {{"action", "callbacks"}});
    slice("callback", "suspend", {{"device", "dma0"}, {"phase", "suspend"}});
    slice("callback", "suspend", {{"device", "ahci0"}, {"phase", "suspend"}});
    slice("phase", "cpus-offline", {{"action", "cpus-offline"}});
    auto pts = fault_points(st, {"callback-fail", "power-loss", "cpu-offline-failure"});
    std::vector<std::string> rules;
    for (const auto& p : pts) rules.push_back(p.rule);
    CHECK(rules == std::vector<std::string>{"kind=callback-fail,phase=suspend,device=dma0",
                                            "kind=callback-fail,phase=suspend,device=ahci0",
                                            "kind=power-loss,phase=suspend", "kind=power-loss,phase=cpus-offline",
                                            "kind=cpu-offline-failure,phase=cpus-offline"});
    ExploreOptions o;
    CHECK(pick_variants(5, o) == std::vector<size_t>{0, 1, 2, 3, 4});
    o.budget = 3;
    CHECK(pick_variants(5, o) == std::vector<size_t>{0, 1, 2});
    o.strategy = "random";
    CHECK(pick_variants(5, o) == pick_variants(5, o));
    o.budget = 0;
    o.shards = 2;
    o.shard = 1;
    CHECK(pick_variants(5, o).size() == 2);
}

TEST_CASE("explore: --orders finds a missing device link and names the two devices", "[explore]") {
    std::string db = tmp("link.db"), out = tmp("link-repro");
    std::string scenario = std::string(QUIESCE_DATA_DIR) + "/examples/explore-missing-link.toml";
    REQUIRE(sh("run " + scenario + " --db " + tmp("link-run.db")).status == 0);  // the default order is lucky
    Cli r = sh("explore " + scenario + " --orders --db " + db + " --out " + out);
    INFO(r.out);
    REQUIRE(r.status == 1);
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex("io\\.suspended-device +- +dma0 +fault order .*first run (\\d+) "
                                                   "\\(order=([a-z0-9,]+)\\)\\s+reproducer: (\\S+)")));
    std::string run = m[1], order = m[2], reproducer = m[3];
    // Every order tried is listed, the one that broke it marked.
    CHECK(r.out.find("  order: dma0 before dma1 (order=" + order + ")  !\n") != std::string::npos);
    // dma1 reads dma0: the order that breaks it suspends dma0 first.
    CHECK(order.find("dma0") < order.find("dma1"));
    std::ifstream in(reproducer);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text.find("puts dma0 before dma1") != std::string::npos);
    CHECK(text.find("a missing device link?") != std::string::npos);
    Cli again = sh("run " + reproducer + " --db " + tmp("link-again.db"));
    INFO(again.out);
    CHECK(again.status == 0);
    CHECK(again.out.find("found the expected io.suspended-device") != std::string::npos);
    CHECK(sh("replay " + db + " " + run).out.find("identical") != std::string::npos);
    // quiesce run --order gives the same order by hand.
    Cli by_hand = sh("run " + scenario + " --order " + order + " --db " + tmp("link-hand.db"));
    CHECK(by_hand.status == 1);
    CHECK(by_hand.out.find("io.suspended-device in suspend_noirq at dma0") != std::string::npos);
    CHECK(sh("run " + scenario + " --order dma0,dma1 --db " + tmp("x.db")).status == 2);
    std::filesystem::remove_all(out);
}

TEST_CASE("explore: the linear extensions of the device graph", "[explore]") {
    DeviceGraph g;
    for (const char* d : {"pci0", "rp0", "dma0", "dma1"}) g.add_device(d);
    g.add_edge("pci0", "rp0", EdgeKind::Parent);
    g.add_edge("rp0", "dma0", EdgeKind::Parent);
    g.add_edge("pci0", "dma1", EdgeKind::Parent);
    auto orders = g.suspend_orders(100);
    CHECK(orders.size() == 3);
    for (const auto& o : orders) {
        auto pos = [&](const char* d) { return std::find(o.begin(), o.end(), d) - o.begin(); };
        CHECK(pos("dma0") < pos("rp0"));
        CHECK(pos("rp0") < pos("pci0"));
        CHECK(pos("dma1") < pos("pci0"));
    }
    CHECK(g.suspend_orders(2).size() == 2);
    auto pts = order_points(g, true, true, 100);
    size_t broken = 0;
    for (const auto& p : pts) broken += !p.graph_allows;
    CHECK(pts.size() - broken == 2);  // the extensions other than the default
    CHECK(broken == 3);               // one per edge
    CHECK(order_change(g.default_suspend_order(), {"dma0", "dma1", "rp0", "pci0"}) == "dma0 before dma1");
}

TEST_CASE("explore: orders are all tried when few, sampled when many", "[explore]") {
    // Seven devices under one parent: 7! = 5040 orders keep its edges.
    DeviceGraph g;
    g.add_device("pci0");
    std::vector<std::string> leaves;
    for (int i = 0; i < 7; ++i) {
        leaves.push_back("dev" + std::to_string(i));
        g.add_device(leaves.back());
        g.add_edge("pci0", leaves.back(), EdgeKind::Parent);
    }
    auto pts = order_points(g, true, false, 100, 7);
    REQUIRE(pts.size() == 100);
    std::set<std::string> rules, firsts;
    for (const auto& p : pts) {
        rules.insert(p.rule);
        CHECK(p.graph_allows);
        CHECK(p.rule.size() > 6);
        CHECK(p.rule.compare(p.rule.size() - 5, 5, ",pci0") == 0);  // the parent last: every edge kept
        firsts.insert(p.rule.substr(6, p.rule.find(',') - 6));
    }
    CHECK(rules.size() == 100);  // distinct
    CHECK(rules.count("order=" + fmt::format("{}", fmt::join(g.default_suspend_order(), ","))) == 0);
    // Not the first 100 of an enumeration, which would all start alike.
    CHECK(firsts.size() >= 5);
    // The same seed, the same sample; another seed, another.
    auto again = order_points(g, true, false, 100, 7), other = order_points(g, true, false, 100, 8);
    CHECK(std::equal(pts.begin(), pts.end(), again.begin(), [](const auto& a, const auto& b) { return a.rule == b.rule; }));
    CHECK_FALSE(std::equal(pts.begin(), pts.end(), other.begin(), [](const auto& a, const auto& b) { return a.rule == b.rule; }));
    // Few: all of them, in enumeration order.
    CHECK(order_points(g, true, false, 5039, 7).size() == 5039);
}

TEST_CASE("explore: prefix sharing forks the variants mid-run with the digests of runs from the start", "[explore]") {
    std::string a = tmp("prefix.db"), b = tmp("scratch.db");
    std::string args = "explore " + std::string(QUIESCE_DATA_DIR) +
                       "/regression/s4-storage.toml --kinds callback-fail,power-loss,alloc-failure --budget 60 -j 2";
    Cli with = sh(args + " --db " + a), without = sh(args + " --no-prefix --db " + b);
    INFO(with.out);
    CHECK(with.out.find("prefix sharing") != std::string::npos);
    CHECK(without.out.find("prefix sharing") == std::string::npos);
    std::string x = variants_recorded(a);
    CHECK(std::count(x.begin(), x.end(), '\n') == 61);
    CHECK(x == variants_recorded(b));
    // A forked variant replays from the start to the same digest.
    CHECK(sh("replay " + a + " 30").out.find("identical") != std::string::npos);
}

TEST_CASE("explore: power loss at every persistence point of the transition keeps what barriers flushed", "[explore]") {
    std::string db = tmp("persist.db");
    Cli r = explore("s3-storage", "--kinds power-loss --persistence 40 -j 2", db);
    INFO(r.out);
    CHECK(r.status == 0);
    CHECK(r.out.find("no violation beyond the baseline's") != std::string::npos);
    // Each persistence point of the transition was a crash point: the drive's
    // writes and flushes, each cut once. The rest of the 40 never came in the
    // baseline, so they are no variants (each would have run as the baseline).
    Cli q = sh("query " + db + " \"SELECT count(*) FROM fault WHERE json_extract(args, '$.point') IS NOT NULL\" --format list");
    int points = std::stoi(q.out.substr(q.out.find('\n') + 1));
    CHECK(points >= 5);
    CHECK(points < 40);
    Cli v = sh("query " + db + " \"SELECT count(*) FROM run WHERE faults LIKE '%nth=%'\" --format list");
    CHECK(std::stoi(v.out.substr(v.out.find('\n') + 1)) == points);
    CHECK(r.out.find(fmt::format("power loss after each persistence point of sda: {}/{} (fired", points, points)) !=
          std::string::npos);
    Cli outcomes = sh("query " + db + " \"SELECT DISTINCT outcome FROM run WHERE faults LIKE '%nth=%'\" --format list");
    CHECK(outcomes.out.find("no-resume") != std::string::npos);
}

TEST_CASE("explore: orders and persistence points fork from the shared run too, as runs from the start", "[explore]") {
    // An order forks before the first callback phase, a power loss right
    // before its persistence point: nothing runs from the start.
    std::string a;
    Cli with = explore_three_ways("explore " + quiesce::test::regression("s3-storage") +
                                      " --kinds power-loss --persistence 40 --orders --break-order -j 2",
                                  "deep", a);
    INFO(with.out);
    std::smatch m;
    REQUIRE(std::regex_search(with.out, m, std::regex("this run: (\\d+) variants .*prefix sharing \\((\\d+) forked at (\\d+) branch points, 0 from the start\\)")));
    CHECK(m[1] == m[2]);
    CHECK(std::stoi(m[3]) > 10);  // the phases and each persistence point
    std::string x = variants_recorded(a);
    CHECK(x.find("order=") != std::string::npos);
    CHECK(x.find("nth=") != std::string::npos);
    // A variant forked at a persistence point replays from the start.
    CHECK(sh("replay " + a + " " + last_run(a, "%nth=%")).out.find("identical") != std::string::npos);
}

TEST_CASE("explore: faults under other orders fork again from each order's stem, as runs from the start", "[explore]") {
    // Orders x faults: each order's stem forks at the first callback phase,
    // runs its order once to learn when its phases and persistence points
    // come, and forks each fault there - a second branching level.
    std::string a;
    Cli with = explore_three_ways("explore " + quiesce::test::regression("s3-storage") +
                                      " --kinds power-loss,callback-fail --persistence 10 --orders --cross -j 2",
                                  "cross", a);
    INFO(with.out);
    std::smatch m;
    REQUIRE(std::regex_search(with.out, m, std::regex("combinations: (\\d+) \\(faults x orders \\d+\\); this run: (\\d+) variants .*prefix "
                                                      "sharing \\((\\d+) forked at \\d+ branch points, (\\d+) of them "
                                                      "again from (\\d+) stems, 0 from the start\\)")));
    CHECK(m[2] == m[3]);
    int cross = std::stoi(m[1]), again = std::stoi(m[4]), stems = std::stoi(m[5]);
    CHECK(stems >= 2);
    CHECK(again > cross / 2);  // the faults that come after the first callback phase
    CHECK(again < cross);      // the ones before it fork where the fault alone would, taking both
    CHECK(with.out.find(fmt::format("faults x orders: {} of {} tried", cross, cross)) != std::string::npos);
    CHECK(variants_recorded(a).find("order=") != std::string::npos);
    // A power loss at a persistence point under another order: two recorded
    // decisions, replayed from the start to the same digest.
    std::string pair = last_run(a, "order=%nth=%");
    CHECK(std::regex_search(sh("trace runs " + a).out,
                            std::regex("\n +" + pair + " .*\\(order=[a-z0-9,]+; kind=power-loss,device=sda,nth=\\d+\\)\n")));
    Cli shown = sh("trace show " + a + " " + pair);
    CHECK(std::regex_search(shown.out, std::regex("\n  decisions: order=[a-z0-9,]+; kind=power-loss,device=sda,nth=\\d+\n")));
    Cli replay = sh("replay " + a + " " + pair);
    CHECK(replay.out.find("2 recorded decision(s)") != std::string::npos);
    CHECK(replay.out.find("identical") != std::string::npos);
    CHECK(sh("explore " + quiesce::test::regression("s3-basic") + " --cross --db " + tmp("cross-bad.db")).status == 2);
}

TEST_CASE("explore: faults under timings and schedules fork from a stem started at time 0, as runs from the start",
          "[explore][timing]") {
    // Faults x timings x schedules (and their pairs): each timing's or
    // schedule's stem takes its decisions before the first event, runs once,
    // and forks every fault that follows it at the fault's phase.
    std::string a;
    Cli with = explore_three_ways("explore " + quiesce::test::regression("s3-storage") +
                                      " --kinds callback-fail,power-loss --timing 2 --pct 2 --pct-steps 3000 --cross -j 2",
                                  "timingstems", a);
    INFO(with.out);
    std::smatch m;
    REQUIRE(std::regex_search(with.out, m, std::regex("combinations: (\\d+) \\(faults x schedules (\\d+), faults x timings (\\d+), "
                                                      "schedules x timings 4, faults x schedules x timings (\\d+)\\); "
                                                      "this run: (\\d+) variants .*prefix sharing \\((\\d+) forked at "
                                                      "\\d+ branch points, (\\d+) of them again from (\\d+) stems, 0 from "
                                                      "the start\\)")));
    const int faults = std::stoi(m[2]) / 2;
    CHECK(std::stoi(m[3]) == 2 * faults);
    CHECK(std::stoi(m[4]) == 4 * faults);
    CHECK(std::stoi(m[8]) == 8);                    // two timings, two schedules, their four pairs
    CHECK(std::stoi(m[7]) == 8 * faults);           // every combined fault follows a stem
    CHECK(std::stoi(m[5]) == std::stoi(m[6]));      // each stem's own run is its scout
    CHECK(variants_recorded(a).find("timing=") != std::string::npos);
    // A fault forked from a timing's stem replays from the start.
    std::string follower = last_run(a, "timing=%kind=%");
    Cli replay = sh("replay " + a + " " + follower);
    CHECK(replay.out.find("2 recorded decision(s)") != std::string::npos);
    CHECK(replay.out.find("identical") != std::string::npos);
}

TEST_CASE("explore: variants from time zero fork from the zygote, recorded as runs from the start", "[explore][timing]") {
    // PCT schedules and timings alone, their pair, and faults that wait for
    // no phase (the boot after S4), each alone and under a schedule or a
    // timing: every one starts to differ at time 0. They fork from the
    // scenario's platform built once and paused at time 0 (the zygote), and
    // each is the run from the start: the same decisions, digests, statuses
    // and outcomes as --no-prefix, recorded in the same order every time.
    std::string a;
    Cli with = explore_three_ways("explore " + quiesce::test::regression("s4-storage") +
                                      " --kinds image-bit-flip,resume-device-late --pct 2 --pct-steps 3000 --timing 2 "
                                      "--cross -j 2",
                                  "zygote", a);
    INFO(with.out);
    std::smatch m;
    REQUIRE(std::regex_search(with.out, m, std::regex("this run: (\\d+) variants .*prefix sharing \\((\\d+) forked at "
                                                      "\\d+ branch points?(?:, \\d+ of them again from \\d+ stems)?, "
                                                      "(\\d+) from the start \\((\\d+) of them forked at time 0 from a "
                                                      "platform built once\\)\\)")));
    CHECK(std::stoi(m[1]) == 26);  // 2 faults, 2 schedules, 2 timings and their 20 products
    CHECK(std::stoi(m[1]) == std::stoi(m[2]) + std::stoi(m[3]));
    CHECK(m[3] == m[4]);  // nothing elaborates a platform of its own
    const std::string x = variants_recorded(a);
    CHECK(x.find("kind=image-bit-flip") != std::string::npos);
    CHECK(x.find("schedule=pct") != std::string::npos);
    // Each kind forked from the zygote replays from the start to the same digest.
    for (const char* like : {"kind=image-bit-flip", "schedule=%timing=%", "timing=%kind=resume-device-late"}) {
        Cli replay = sh("replay " + a + " " + last_run(a, like));
        INFO(like << ": " << replay.out);
        CHECK(replay.out.find("identical") != std::string::npos);
    }
    // The plan: those faults and what follows them, and the pairs no
    // variant follows, go to the zygote; the singles' stems stay the prefix run's.
    Scenario s = load_scenario(quiesce::test::regression("s4-storage"));
    s.trace = TraceLevel::Summary;
    RunResult base = execute(s);
    std::vector<FaultPoint> faults = fault_points(base.stream, {"image-bit-flip", "resume-device-late"});
    REQUIRE(faults.size() == 2);
    std::vector<FaultPoint> points = faults;
    for (auto& p : timing_points(1, 20)) points.push_back(p);
    for (auto& p : cross_points(faults, {}, {}, timing_points(1, 20))) points.push_back(p);
    std::vector<size_t> alone;
    PrefixPlan plan = prefix_plan(base.stream, points, alone);
    // The faults and the faults under the timing (those from time 0 with
    // what follows them), and the timing, which none of the prefix run's
    // variants follows.
    CHECK(plan.zygote == std::vector<size_t>{0, 1, 2, 3, 4});
    CHECK(alone == plan.zygote);
    CHECK(plan.members.empty());
    for (size_t k : {0, 1, 3, 4}) {
        REQUIRE(!plan.steps[k].empty());
        CHECK(plan.steps[k].back().where == Choice::Where::Begin);
    }
    CHECK(plan.steps[2].size() == 1);
    // With a phase's fault under the timing, the timing is a stem of the
    // prefix run again (its follower at that phase), as it was.
    std::vector<FaultPoint> phased = fault_points(base.stream, {"callback-fail"});
    REQUIRE(!phased.empty());
    for (auto& p : cross_points({phased[0]}, {}, {}, timing_points(1, 20))) points.push_back(p);
    alone.clear();
    plan = prefix_plan(base.stream, points, alone);
    CHECK(plan.zygote == std::vector<size_t>{0, 1, 3, 4});
    CHECK(plan.members == std::vector<size_t>{2, 5});
    // The zygote's own plan: the faults at time 0, the timing's stem (the
    // faults under it follow it) at time 0.
    for (const Fork& f : plan_forks(base.stream, 0, true, {}, plan.zygote, plan.steps)) CHECK(f.at == 0);
}

TEST_CASE("explore: a stem plans its followers at its own order's marks", "[explore]") {
    Scenario s = load_scenario(std::string(QUIESCE_DATA_DIR) + "/regression/s3-storage.toml");
    s.trace = TraceLevel::Summary;
    s.note_persistence = true;
    RunResult base = execute(s);
    std::vector<FaultPoint> faults = fault_points(base.stream, {"power-loss"}, {"sda"}, 3);
    std::vector<FaultPoint> orders = order_points(build_graph(s.platform), true, false, 2);
    REQUIRE(orders.size() == 2);
    std::vector<FaultPoint> points = orders;
    for (auto& p : cross_points(faults, orders, {}, {})) points.push_back(std::move(p));
    REQUIRE(points.size() == 2 + 2 * faults.size());
    CHECK(points[2].order == orders[0].rule);
    CHECK(points[2].rule == faults[0].rule);
    std::vector<size_t> alone;
    PrefixPlan plan = prefix_plan(base.stream, points, alone);
    CHECK(alone.empty());
    std::map<size_t, int> seen;  // each variant forks exactly once
    size_t stems = 0;
    for (const Fork& f : plan.root) {
        if (!f.stem) {
            REQUIRE(f.members.size() == 1);
            size_t k = f.members[0];
            ++seen[k];
            CHECK(!points[k].order.empty());  // a fault under an order that comes before any callback
            CHECK(points[k].kind == "power-loss");
            CHECK(f.keys.size() == 2);        // taking both there
            continue;
        }
        ++stems;
        REQUIRE(f.alone);
        ++seen[*f.alone];
        CHECK(f.keys == std::vector<std::string>{points[*f.alone].rule});
        CHECK(points[*f.alone].kind == "order");
        for (size_t k : f.members) {
            ++seen[k];
            CHECK(points[k].order == points[*f.alone].rule);
            // Each follows at its own mark: the steps say where.
            const Choice& c = plan.steps[k].back();
            CHECK(c.where == Choice::Where::At);
            if (points[k].nth) {
                CHECK(c.mark.drive == "sda");
                CHECK(c.mark.nth == points[k].nth);
            } else {
                CHECK(c.mark.phase == points[k].phase);
            }
        }
    }
    CHECK(stems == 2);
    CHECK(seen.size() == points.size());
    for (const auto& [k, n] : seen) CHECK(n == 1);
}

namespace {
// s3-storage with callback-fail, 2 orders, 1 timing, every combination:
// the points, their variants, the baseline and the prefix run's plan.
struct Composed {
    Scenario s;
    RunResult base;
    std::vector<FaultPoint> points;
    std::vector<Scenario> variants;
    std::vector<size_t> alone;
    PrefixPlan plan;
    Composed() {
        s = load_scenario(std::string(QUIESCE_DATA_DIR) + "/regression/s3-storage.toml");
        s.trace = TraceLevel::Summary;
        base = execute(s);
        std::vector<FaultPoint> faults = fault_points(base.stream, {"callback-fail"});
        std::vector<FaultPoint> orders = order_points(build_graph(s.platform), true, false, 2);
        std::vector<FaultPoint> timings = timing_points(1, 20);
        points = faults;
        points.insert(points.end(), orders.begin(), orders.end());
        points.insert(points.end(), timings.begin(), timings.end());
        for (auto& p : cross_points(faults, orders, {}, timings)) points.push_back(std::move(p));
        for (const auto& p : points) variants.push_back(variant_of(s, p));
        plan = prefix_plan(base.stream, points, alone);
    }
    const Fork& root_stem(const std::string& key) const {
        for (const Fork& f : plan.root)
            if (f.stem && f.keys == std::vector<std::string>{key}) return f;
        FAIL("no stem of " << key);
        return plan.root.front();
    }
};
}  // namespace

TEST_CASE("explore: branching goes as deep as the decisions: a timing's stem forks each order's stem, which forks the faults",
          "[explore][timing]") {
    Composed c;
    CHECK(c.alone.empty());
    const std::string timing = timing_points(1, 20)[0].rule;
    const Fork& t = c.root_stem(timing);
    REQUIRE(t.alone);
    CHECK(c.points[*t.alone].kind == "timing");
    CHECK(t.at == 0);
    // Everything under the timing follows its stem: faults, orders, both.
    size_t under = 0;
    for (const auto& p : c.points) under += decisions(p).timing == timing && p.kind != "timing";
    CHECK(t.members.size() == under);
    // In the timing's own run, each order is a stem of its own (the order
    // under the timing its scout), forked at the first callback phase, and
    // the faults under both follow it; the faults under the timing alone
    // fork one by one at their phases.
    RunResult scout = execute(c.variants[*t.alone]);
    std::vector<Fork> below = plan_forks(scout.stream, 0, false, {timing}, t.members, c.plan.steps);
    std::map<size_t, int> seen;
    size_t order_stems = 0;
    for (const Fork& f : below) {
        if (!f.stem) {
            ++seen[f.members[0]];
            CHECK(decisions(c.points[f.members[0]]).order.empty());
            CHECK(f.at > 0);
            continue;
        }
        ++order_stems;
        REQUIRE(f.alone);
        ++seen[*f.alone];
        const std::string order = decisions(c.points[*f.alone]).order;
        CHECK(c.points[*f.alone].kind == "order");
        CHECK(f.keys == std::vector<std::string>{order});
        for (size_t k : f.members) {
            ++seen[k];
            CHECK(decisions(c.points[k]).order == order);
            CHECK(!decisions(c.points[k]).fault.empty());
        }
        // One more level down: the order's stem forks each fault at its
        // phase in the run of the order under the timing.
        RunResult pair = execute(c.variants[*f.alone]);
        std::set<std::string> taken{timing, order};
        for (const Fork& g : plan_forks(pair.stream, f.at, false, taken, f.members, c.plan.steps)) {
            CHECK(!g.stem);
            CHECK(g.at >= f.at);
            REQUIRE(g.keys.size() == 1);
            CHECK(g.keys[0].rfind(decisions(c.points[g.members[0]]).fault + " #", 0) == 0);
        }
    }
    CHECK(order_stems == 2);
    CHECK(seen.size() == t.members.size());
    for (const auto& [k, n] : seen) CHECK(n == 1);
}

TEST_CASE("explore: a stem that dies loses its own followers only", "[explore]") {
    // Two levels down: the stem of an order under a timing (forked by the
    // timing's stem) dies; its variants are lost, the timing's others and
    // everything else run.
    Composed c;
    REQUIRE(c.alone.empty());
    const Fork& t = c.root_stem(timing_points(1, 20)[0].rule);
    REQUIRE(t.alone);
    std::string order;
    for (size_t k : t.members)
        if (c.points[k].kind == "order") order = c.points[k].rule;
    REQUIRE(!order.empty());
    std::set<size_t> members;  // the pair's stem: the pair and the faults under both
    for (size_t k : t.members)
        if (decisions(c.points[k]).order == order) members.insert(k);
    REQUIRE(members.size() > 2);
    // The doomed stem's runs each get a millisecond: killed at once, as if
    // its models had hung. The stem's own budget follows them.
    for (size_t k : members) c.variants[k].wall_limit_s = 1e-3;
    Scenario prefix = c.s;
    prefix.wall_limit_s = 1e-3;  // a stem's budget: twice this, and its followers'
    std::map<size_t, RunResult> results;
    execute_branched(prefix, c.base.stream, c.plan.steps, c.plan.members, c.variants, 2,
                     [&](size_t i, RunResult r) { results[i] = std::move(r); });
    REQUIRE(results.size() == c.points.size());
    for (const auto& [i, r] : results) {
        INFO(c.points[i].rule << " under " << c.points[i].order << " " << c.points[i].timing << ": " << r.message);
        if (members.count(i)) CHECK((r.status == "crashed" || r.status == "timeout"));
        else CHECK((r.status == "passed" || r.status == "failed"));
    }
}

TEST_CASE("explore: orders under a timing fork from the timing's stem at the first callback phase, as runs from the start",
          "[explore][timing]") {
    // Orders x timings without faults: each pair forks from its timing's
    // stem (the timing's own run), where the order is first read; nothing
    // runs from the start.
    std::string a;
    Cli with = explore_three_ways("explore " + quiesce::test::regression("s3-storage") + " --orders --timing 2 --cross -j 2",
                                  "ordertiming", a);
    INFO(with.out);
    std::smatch m;
    REQUIRE(std::regex_search(with.out, m, std::regex("combinations: (\\d+) \\(orders x timings (\\d+)\\); this run: (\\d+) "
                                                      "variants .*prefix sharing \\((\\d+) forked at \\d+ branch points?, "
                                                      "(\\d+) of them again from (\\d+) stems, 0 from the start\\)")));
    CHECK(m[3] == m[4]);
    CHECK(std::stoi(m[6]) == 2);             // the two timings
    CHECK(std::stoi(m[5]) == std::stoi(m[2]));  // every pair follows its timing
    std::string pair = last_run(a, "order=%timing=%");
    Cli replay = sh("replay " + a + " " + pair);
    CHECK(replay.out.find("2 recorded decision(s)") != std::string::npos);
    CHECK(replay.out.find("identical") != std::string::npos);
}

TEST_CASE("explore: faults x orders x timings fork three levels deep, as runs from the start", "[explore][timing]") {
    std::string a;
    Cli with = explore_three_ways("explore " + quiesce::test::regression("s3-storage") +
                                      " --kinds callback-fail,power-loss --orders --orders-limit 2 --timing 2 --cross -j 2",
                                  "deeper", a);
    INFO(with.out);
    CHECK(std::regex_search(with.out, std::regex("prefix sharing \\(\\d+ forked at \\d+ branch points, \\d+ of them again "
                                                 "from \\d+ stems, 0 from the start\\)")));
    std::string deep = last_run(a, "order=%timing=%kind=%");
    Cli replay = sh("replay " + a + " " + deep);
    CHECK(replay.out.find("3 recorded decision(s)") != std::string::npos);
    CHECK(replay.out.find("identical") != std::string::npos);
}

TEST_CASE("explore: a fault under another order that the fault alone shows shrinks to the fault alone", "[explore]") {
    // In shard 0/2 the fault on sda's suspend_noirq only runs under other
    // orders (its own run is in shard 1/2): the pair looks new here, and
    // shrinking finds the order was not needed.
    std::string db = tmp("cross-shard.db"), out = tmp("cross-shard-repro");
    Cli r = sh("explore " + kLatent + " --kinds callback-fail --orders --cross --shard 0/2 -j 2 --db " + db + " --out " + out);
    INFO(r.out);
    CHECK(r.status == 1);
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex("rollback\\.incomplete +- +kernel +fault callback-fail\\+order .*"
                                                   "\\(kind=callback-fail,phase=suspend_noirq,device=sda\\)\\s+"
                                                   "not a pair: the fault alone shows it.*\\s+reproducer: (\\S+)")));
    std::ifstream in(m[1].str());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text.find("[order]") == std::string::npos);
    CHECK(text.find("[[fault]]\nkind = \"callback-fail\"\nphase = \"suspend_noirq\"\ndevice = \"sda\"") != std::string::npos);
    Cli again = sh("run " + m[1].str() + " --db " + tmp("cross-shard-run.db"));
    INFO(again.out);
    CHECK(again.status == 0);
    CHECK(again.out.find("found the expected rollback.incomplete") != std::string::npos);
    std::filesystem::remove_all(out);
}

TEST_CASE("explore: a reproducer of a fault under another order carries both, and reproduces", "[explore]") {
    std::string scenario = std::string(QUIESCE_DATA_DIR) + "/examples/explore-missing-link.toml";
    std::ifstream in(scenario);
    std::string original((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    FaultPoint p{"kind=callback-fail,phase=complete,device=pci0", "callback-fail", "complete", "pci0"};
    p.order = "order=dma0,rp0,dma1,pci0";
    p.order_change = "dma0 before dma1";
    Finding f;
    f.sig = {"io.suspended-device", "suspend_noirq", "dma0", "callback-fail+order"};
    f.violations = {"io.suspended-device"};
    std::string text = reproducer_text(original + "\n[order]\nsuspend = [\"dma1\", \"dma0\", \"rp0\", \"pci0\"]\n",
                                       scenario, p, f, 7, 20, 3);
    CHECK(text.find("this fault, under the order below, makes io.suspended-device fire in suspend_noirq at dma0") !=
          std::string::npos);
    CHECK(text.find("Neither the fault under the default order nor the order without the fault showed it") !=
          std::string::npos);
    CHECK(text.find("[\"dma1\", \"dma0\"") == std::string::npos);  // the file's own order gives way
    CHECK(text.find("[order]\nsuspend = [\"dma0\", \"rp0\", \"dma1\", \"pci0\"]\n[[fault]]\nkind = \"callback-fail\"") !=
          std::string::npos);
    std::string file = tmp("cross-repro.toml");
    std::ofstream(file) << text;
    Cli r = sh("run " + file + " --db " + tmp("cross-repro.db"));
    INFO(text << r.out);
    CHECK(r.status == 0);
    CHECK(r.out.find("found the expected io.suspended-device") != std::string::npos);
}

TEST_CASE("explore: a variant child that dies does not stop the others sharing its prefix", "[explore]") {
    Scenario s = load_scenario(std::string(QUIESCE_DATA_DIR) + "/regression/s3-storage.toml");
    s.trace = TraceLevel::Summary;
    RunResult base = execute(s);
    std::vector<FaultPoint> points = fault_points(base.stream, {"callback-fail"});
    REQUIRE(points.size() > 6);
    points.resize(6);
    std::vector<Scenario> variants;
    for (const auto& p : points) variants.push_back(variant_of(s, p));
    variants[2].wall_limit_s = 1e-4;  // killed at once: as if its model had hung or crashed
    std::vector<size_t> alone;
    PrefixPlan plan = prefix_plan(base.stream, points, alone);
    REQUIRE(alone.empty());
    std::map<size_t, std::string> status;
    execute_branched(s, base.stream, plan.steps, plan.members, variants, 2,
                     [&](size_t i, RunResult r) { status[i] = r.status; });
    REQUIRE(status.size() == 6);
    CHECK(status[2] == "timeout");
    for (size_t i : {0, 1, 3, 4, 5}) CHECK((status[i] == "passed" || status[i] == "failed"));
}

TEST_CASE("explore: variants from time 0 run in turn record what forking each records", "[explore][checkpoint]") {
    // 12 PCT schedules and timings of s3-basic: all at the zygote's pause,
    // one worker runs them in turn (where the kernel allows; else forked).
    const std::string args = "explore " + quiesce::test::regression("s3-basic") + " --pct 6 --timing 6 -j 2";
    const std::string db = tmp("inturn.db"), forked = tmp("inturn-forked.db"), log = tmp("inturn.log");
    std::remove(log.c_str());
    Cli r = quiesce::test::shell("env QUIESCE_CHECKPOINT_LOG=" + log + " " + std::string(QUIESCE_BIN) + " " + args +
                                 " --db " + db);
    INFO(r.out);
    REQUIRE(r.status == 0);
    Cli f = sh(args + " --no-rollback --db " + forked);
    REQUIRE(f.status == 0);
    CHECK(variants_recorded(db) == variants_recorded(forked));
    CHECK(run_order(db) == run_order(forked));
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string why;
    if (Checkpoint::available(why)) {
        CHECK(text.find("take ") != std::string::npos);
        CHECK(text.find("rollback ") != std::string::npos);
    } else {
        CHECK(text.empty());
    }
}

TEST_CASE("explore: PCT schedules interleave the software differently per seed, and replay", "[explore][pct]") {
    std::string db = tmp("pct.db");
    Cli r = explore("s3-freezer-skip-correct", "--pct 8 --pct-steps 3000 -j 2", db);
    INFO(r.out);
    CHECK(r.status == 0);
    CHECK(r.out.find("orders, schedules and timings: 8 tried") != std::string::npos);
    // Eight seeds, eight interleavings (the baseline is the ninth digest).
    Cli q = sh("query " + db + " \"SELECT count(DISTINCT digest) FROM run\" --format list");
    CHECK(q.out == "count(DISTINCT digest)\n9\n");
    // The same seed gives the same schedule: a PCT run replays identically.
    CHECK(sh("replay " + db + " 5").out.find("identical") != std::string::npos);
    Cli rule = sh("query " + db + " \"SELECT faults FROM run WHERE id = 5\" --format list");
    CHECK(rule.out.find("schedule=pct,seed=4,depth=3,steps=3000") != std::string::npos);
}

TEST_CASE("explore: latencies jittered within their ranges give other timings, and replay", "[explore][timing]") {
    std::string db = tmp("timing.db");
    Cli r = explore("s3-storage", "--timing 6 --jitter 30 -j 2", db);
    INFO(r.out);
    CHECK(r.status == 0);
    CHECK(r.out.find("orders, schedules and timings: 6 tried") != std::string::npos);
    Cli q = sh("query " + db + " \"SELECT count(DISTINCT digest), count(DISTINCT sim_time) FROM run\" --format list");
    CHECK(q.out == "count(DISTINCT digest)|count(DISTINCT sim_time)\n7|7\n");
    CHECK(sh("replay " + db + " 4").out.find("identical") != std::string::npos);
    // The nominal run is the same as before: no jitter unless asked.
    Cli base = sh("query " + db + " \"SELECT faults IS NULL FROM run WHERE id = 1\" --format list");
    CHECK(base.out == "faults IS NULL\n1\n");
}

TEST_CASE("explore: a race between two CPUs that neither orders nor timings find alone and orders x timings does",
          "[explore][timing]") {
    const std::string file = std::string(QUIESCE_DATA_DIR) + "/examples/explore-cross-cpu-race.toml";
    std::string db = tmp("crosscpu.db"), out = tmp("crosscpurepro");
    // Each of the two axes alone: nothing.
    for (const char* axis : {"--orders", "--timing 20"}) {
        Cli one = sh("explore " + file + " " + axis + " -j 2 --db " + tmp("crosscpu-one.db"));
        INFO(axis << "\n" << one.out);
        CHECK(one.status == 0);
        CHECK(one.out.find("no violation beyond the baseline's") != std::string::npos);
        // Coverage says why: no pair of concurrent callbacks ever started the other way round.
        CHECK(one.out.find(" 0 of them started in either order") != std::string::npos);
    }
    Cli r = sh("explore " + file + " --orders --timing 20 --cross -j 2 --db " + db + " --out " + out);
    INFO(r.out);
    REQUIRE(r.status == 1);
    CHECK(r.out.find("combinations: 20 (orders x timings 20)") != std::string::npos);
    CHECK(r.out.find("orders x timings: 20 of 20 tried") != std::string::npos);
    CHECK(std::regex_search(r.out, std::regex("interleavings: \\d+ pairs of callbacks of one phase ran at the same time "
                                              "in some variant; [1-9]\\d* of them started in either order")));
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex("io\\.suspended-device +- +dma0 +fault order\\+timing .* first run (\\d+) "
                                                   "\\(order=dma0,dma1,rp0,pci0 under timing=jitter=20[^)]*\\)\\s+reproducer: (\\S+)")));
    std::ifstream repro_file(m[2].str());
    const std::string text((std::istreambuf_iterator<char>(repro_file)), std::istreambuf_iterator<char>());
    CHECK(text.find("[order]\nsuspend = [\"dma0\", \"dma1\", \"rp0\", \"pci0\"]") != std::string::npos);
    CHECK(text.find("[timing]\njitter = 20") != std::string::npos);
    CHECK(text.find("None of these decisions alone, nor fewer of them together, showed it.") != std::string::npos);
    Cli again = sh("run " + std::string(m[2]) + " --db " + tmp("crosscpuagain.db"));
    INFO(again.out);
    CHECK(again.status == 0);
    CHECK(again.out.find("found the expected io.suspended-device") != std::string::npos);
    CHECK(sh("replay " + db + " " + std::string(m[1])).out.find("identical") != std::string::npos);
    std::filesystem::remove_all(out);
    // The same order under the same twenty timings with the device link: none breaks it.
    Scenario s = load_scenario(file);
    s.platform.links.push_back({"dma0", "dma1", 0});
    add_cli_faults(s, {"order=dma0,dma1,rp0,pci0"});
    unsigned broken = 0;
    for (uint64_t seed = 1; seed <= 20; ++seed) {
        Scenario t = s;
        t.timing.jitter = 20;
        t.timing.ties = true;
        t.timing.seed = seed;
        broken += execute(t).violations.count("io.suspended-device");
    }
    CHECK(broken == 0);
}

TEST_CASE("explore: PCT schedules contexts across cores: the cross-CPU race is found by --pct alone", "[explore][pct]") {
    // dma1's kworker on cpu0 and dma0's on cpu1 start at the same instant.
    // A schedule that gives dma0's the higher priority holds dma1's back
    // (a pct-hold, at most a slice) while dma0's runs on the other core:
    // dma0 is in D3hot when dma1 reads it.
    const std::string file = std::string(QUIESCE_DATA_DIR) + "/examples/explore-cross-cpu-race.toml";
    const std::string db = tmp("pctcross.db"), out = tmp("pctcrossrepro");
    std::filesystem::remove_all(out);
    Cli r = sh("explore " + file + " --pct 20 -j 2 --db " + db + " --out " + out);
    INFO(r.out);
    REQUIRE(r.status == 1);
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex("io\\.suspended-device +- +dma0 +fault pct +(\\d+) run\\(s\\), first run (\\d+) "
                                                   "\\(schedule=pct,seed=\\d+,depth=3,steps=20000\\)\\s+reproducer: (\\S+)")));
    const int runs = std::stoi(m[1]);
    CHECK(runs >= 2);   // some schedules
    CHECK(runs <= 18);  // not all: the ones that hold dma0's kworker back pass
    // Coverage: the pair started in more than one order across the
    // schedules (the kworker held back begins its callback after the hold),
    // and only the varied pairs are listed.
    CHECK(r.out.find("  suspend_noirq    dma0@cpu1 dma1@cpu0: ") != std::string::npos);
    CHECK(sh("replay " + db + " " + std::string(m[2])).out.find("identical") != std::string::npos);
    Cli again = sh("run " + std::string(m[3]) + " --db " + tmp("pctcrossagain.db"));
    INFO(again.out);
    CHECK(again.status == 0);
    CHECK(again.out.find("found the expected io.suspended-device") != std::string::npos);
    std::filesystem::remove_all(out);
    // The hold is in the trace; with the device link no schedule breaks it.
    Scenario s = load_scenario(file);
    s.schedule.pct = true;
    unsigned holds = 0, broken = 0;
    for (uint64_t seed = 1; seed <= 20; ++seed) {
        s.schedule.seed = seed;
        RunResult run = execute(s);
        for (const auto& ev : run.stream.events) holds += ev.kind == EvKind::Instant && ev.name == "pct-hold";
        broken += run.violations.count("io.suspended-device");
    }
    CHECK(holds > 0);
    CHECK(broken == unsigned(runs));
    s.platform.links.push_back({"dma0", "dma1", 0});
    broken = 0;
    for (uint64_t seed = 1; seed <= 20; ++seed) {
        s.schedule.seed = seed;
        broken += execute(s).violations.count("io.suspended-device");
    }
    CHECK(broken == 0);
}

TEST_CASE("explore: PCT finds a hidden dependency only some schedules of the async callbacks break", "[explore][pct]") {
    const std::string file = std::string(QUIESCE_DATA_DIR) + "/examples/explore-pct-hidden-dependency.toml";
    std::string db = tmp("pcthidden.db"), out = tmp("pctrepro");
    Cli r = sh("explore " + file + " --pct 16 -j 2 --db " + db + " --out " + out);
    INFO(r.out);
    REQUIRE(r.status == 1);
    REQUIRE(r.out.find("baseline: run 1, outcome resumed, no violation") != std::string::npos);
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex("io\\.suspended-device +- +dma0 .* first run (\\d+) \\(schedule=pct,seed=(\\d+)[^)]*\\)\\s+reproducer: (\\S+)")));
    const std::string run = m[1], reproducer = m[3];
    Cli again = sh("run " + reproducer + " --db " + tmp("pctagain.db"));
    INFO(again.out);
    CHECK(again.status == 0);
    CHECK(again.out.find("found the expected io.suspended-device") != std::string::npos);
    CHECK(sh("replay " + db + " " + run).out.find("identical") != std::string::npos);
    std::filesystem::remove_all(out);

    // The same sixteen schedules: some break it, none with the device link.
    Scenario s = load_scenario(file);
    auto broken = [&](Scenario sc) {
        unsigned n = 0;
        for (uint64_t seed = 1; seed <= 16; ++seed) {
            sc.schedule.pct = true;
            sc.schedule.seed = seed;
            n += execute(sc).violations.count("io.suspended-device");
        }
        return n;
    };
    CHECK(broken(s) > 0);
    s.platform.links.push_back({"dma0", "dma1", 0});
    CHECK(broken(s) == 0);
}

TEST_CASE("explore: mutations are one more axis: crossed with faults, orders, schedules and timings", "[explore][mutate]") {
    const std::vector<FaultPoint> faults = {{"kind=callback-fail,phase=suspend,device=dma0", "callback-fail", "suspend", "dma0"}};
    const std::vector<FaultPoint> orders = {{"order=dma1,dma0", "order", "", "dma1 before dma0"}};
    const std::vector<FaultPoint> timings = timing_points(1, 20);
    const std::vector<FaultPoint> mutants = {{"mutate=dma-engine:drop:suspend:fail", "mutation", "", "drop suspend/fail"},
                                             {"mutate=dma-engine:drop:suspend:drain", "mutation", "", "drop suspend/drain"}};
    std::vector<std::pair<std::string, size_t>> products;
    std::vector<FaultPoint> cross = cross_points(faults, orders, {}, timings, &products, mutants);
    // Without mutations, the products as before; the mutations' after those with as many axes.
    std::vector<std::pair<std::string, size_t>> want = {
        {"faults x orders", 1},           {"faults x timings", 1},           {"orders x timings", 1},
        {"faults x mutations", 2},        {"mutations x orders", 2},         {"mutations x timings", 2},
        {"faults x orders x timings", 1}, {"faults x mutations x orders", 2}, {"faults x mutations x timings", 2},
        {"mutations x orders x timings", 2}, {"faults x mutations x orders x timings", 2}};
    CHECK(products == want);
    CHECK(cross.size() == 18);
    // A mutation is the primary of a product without a fault; under a fault it is one of the others.
    const FaultPoint& mo = cross[3 + 2];  // mutations x orders, the first
    CHECK(mo.kind == "mutation");
    CHECK(mo.order == "order=dma1,dma0");
    CHECK(combined_kind(mo) == "mutation+order");
    const FaultPoint& fm = cross[3];  // faults x mutations, the first
    CHECK(combined_kind(fm) == "callback-fail+mutation");
    CHECK(decision_text(fm) == "kind=callback-fail,phase=suspend,device=dma0 under mutate=dma-engine:drop:suspend:fail");
    // Its rules as a variant applies them: the fault's last (its origin is its index).
    const FaultPoint& all = cross.back();
    CHECK(decision_rules(all) == std::vector<std::string>{"order=dma1,dma0", timings[0].rule,
                                                          "mutate=dma-engine:drop:suspend:drain",
                                                          "kind=callback-fail,phase=suspend,device=dma0"});
    // Its smaller parts: the mutation alone and each part without it among them, fewest first.
    std::vector<FaultPoint> parts = smaller_parts(fm);
    REQUIRE(parts.size() == 2);
    CHECK(decision_rules(parts[0]) == std::vector<std::string>{"kind=callback-fail,phase=suspend,device=dma0"});
    CHECK(parts[1].kind == "mutation");
    CHECK(parts[1].device == "drop suspend/fail");
    CHECK(smaller_parts(all).size() == 14);
    // The part that forks from the mutant's run.
    CHECK(decision_rules(without_mutation(all)) ==
          std::vector<std::string>{"order=dma1,dma0", timings[0].rule, "kind=callback-fail,phase=suspend,device=dma0"});
    CHECK(decision_rules(without_mutation(mutants[0])).empty());
}

TEST_CASE("explore: a mutant that survives alone and only a fault kills, found, shrunk, reproduced from --out",
          "[explore][mutate]") {
    const std::string file = std::string(QUIESCE_DATA_DIR) + "/examples/explore-mutation-error-path.toml";
    const std::string args = "explore " + file + " --mutate dma-engine:suspend:fail --kinds dma-delay";
    // Each axis alone: the mutant survives, the faults break nothing.
    Cli alone = sh(args + " -j 2 --db " + tmp("mut-alone.db"));
    INFO(alone.out);
    CHECK(alone.status == 0);
    CHECK(alone.out.find("no violation beyond the baseline's") != std::string::npos);
    CHECK(std::regex_search(alone.out, std::regex("SURVIVED  drop suspend/fail +1 run\\(s\\)")));
    CHECK(alone.out.find("dma-engine: 0 of 3 mutants killed") != std::string::npos);
    // Crossed: prefix sharing (the faults under a mutant fork from its own
    // run) gives the digests of runs from the start.
    std::string db;
    Cli r = explore_three_ways(args + " --cross -j 2", "mut-cross", db);
    INFO(r.out);
    REQUIRE(r.status == 1);
    CHECK(std::regex_search(r.out, std::regex("mutations: 3 \\(dma-engine:suspend:fail\\), combinations: (\\d+) "
                                              "\\(faults x mutations \\1\\)")));
    CHECK(std::regex_search(r.out, std::regex("prefix sharing \\(\\d+ forked at \\d+ branch points \\([1-9]\\d* of them "
                                              "in the runs of 3 mutants\\)")));
    CHECK(std::regex_search(r.out, std::regex("KILLED    drop suspend/fail +only in faults x mutations \\(\\d+ of them\\), "
                                              "by power.busy-device in suspend_noirq at dma0 under kind=dma-delay")));
    CHECK(r.out.find("dma-engine: 1 of 3 mutants killed (33%), 1 of them only in a product") != std::string::npos);
    CHECK(r.out.find("  suspend            1/3 (1 only in a product)") != std::string::npos);
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex("io\\.suspended-device +suspend_noirq +dma0 +fault dma-delay\\+mutation .* "
                                                   "first run (\\d+) \\(kind=dma-delay,phase=sync,duration=20ms under "
                                                   "mutate=dma-engine:drop:suspend:fail\\)")));
    CHECK(sh("replay " + db + " " + std::string(m[1])).out.find("identical") != std::string::npos);
    // Its reproducer (from the database): the mutation as a driver patch, the fault as a [[fault]].
    const std::string out = tmp("mutrepro");
    std::filesystem::remove_all(out);
    Cli f = sh("findings " + db + " --out " + out);
    INFO(f.out);
    REQUIRE(std::regex_search(f.out, m, std::regex("fault dma-delay\\+mutation .*\\n\\s+reproducer: (\\S+)")));
    std::ifstream in(m[1].str());
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text.find("[[drivers.dma0.patch]]\ncallback = \"suspend\"\ndelete = \"fail\"\n") != std::string::npos);
    CHECK(text.find("[[fault]]\nkind = \"dma-delay\"\nphase = \"sync\"") != std::string::npos);
    CHECK(text.find("None of these decisions alone, nor fewer of them together, showed it.") != std::string::npos);
    Cli again = sh("run " + out + " --db " + tmp("mutagain.db"));
    INFO(again.out);
    CHECK(again.status == 0);
    CHECK(again.out.find("found the expected io.suspended-device") != std::string::npos);
    std::filesystem::remove_all(out);
}

TEST_CASE("explore: --mutate with other axes explores one scenario, bad mutate targets exit 2", "[explore][mutate]") {
    const std::string file = std::string(QUIESCE_DATA_DIR) + "/examples/explore-mutation-error-path.toml";
    Cli two = sh("explore " + file + " " + file + " --mutate dma-engine --timing 2 --db " + tmp("mut-bad.db"));
    CHECK(two.status == 2);
    CHECK(two.out.find("explores one scenario file") != std::string::npos);
    Cli step = sh("explore " + file + " --mutate dma-engine:suspend:nosuch --timing 2 --db " + tmp("mut-bad.db"));
    CHECK(step.status == 2);
    CHECK(step.out.find("no step labelled 'nosuch'") != std::string::npos);
    Cli driver = sh("explore " + file + " --mutate nosuch --timing 2 --db " + tmp("mut-bad.db"));
    CHECK(driver.status == 2);
    CHECK(driver.out.find("no unpatched driver named 'nosuch'") != std::string::npos);
}

TEST_CASE("explore: a prefix run plans from its baseline's branch view the forks it plans from the whole run",
          "[explore]") {
    // explore hands its prefix run a view of the baseline (phases' and
    // callbacks' starts, persistence points), not the run recorded at the
    // file's level: the same forks, from a few events.
    Scenario s = load_scenario(std::string(QUIESCE_DATA_DIR) + "/regression/s3-storage.toml");
    s.trace = TraceLevel::Events;
    s.note_persistence = true;
    RunResult base = execute(s);
    std::vector<FaultPoint> points = fault_points(base.stream, {"callback-fail", "power-loss"}, {"sda"}, 10);
    for (auto& p : cross_points(fault_points(base.stream, {"power-loss"}), order_points(build_graph(s.platform), true, false, 3),
                                {}, {}))
        points.push_back(p);
    for (auto& p : order_points(build_graph(s.platform), true, false, 3)) points.push_back(p);
    const RunStream view = branch_view(base.stream);
    CHECK(view.events.size() * 10 < base.stream.events.size());
    CHECK(view.persistence == base.stream.persistence);
    std::vector<size_t> alone_whole, alone_view;
    PrefixPlan whole = prefix_plan(base.stream, points, alone_whole);
    PrefixPlan viewed = prefix_plan(view, points, alone_view);
    CHECK(alone_whole == alone_view);
    CHECK(whole.members == viewed.members);
    REQUIRE(whole.root.size() == viewed.root.size());
    REQUIRE(whole.root.size() > 10);
    std::set<Picos> at;
    for (size_t i = 0; i < whole.root.size(); ++i) {
        const Fork &a = whole.root[i], &b = viewed.root[i];
        CHECK(a.at == b.at);
        CHECK(a.keys == b.keys);
        CHECK(a.alone == b.alone);
        CHECK(a.members == b.members);
        CHECK(a.stem == b.stem);
        at.insert(a.at);
    }
    CHECK(at.size() > 5);
    std::set<std::string> taken(whole.root.back().keys.begin(), whole.root.back().keys.end());
    std::vector<Fork> below = plan_forks(base.stream, whole.root.back().at, false, taken, whole.members, whole.steps);
    std::vector<Fork> below_view = plan_forks(view, whole.root.back().at, false, taken, whole.members, whole.steps);
    REQUIRE(below.size() == below_view.size());
    for (size_t i = 0; i < below.size(); ++i) CHECK(below[i].at == below_view[i].at);
}

TEST_CASE("explore: offline-fs-write varies what another OS does to the file while the machine is off after S4",
          "[explore][fs]") {
    // Like image-bit-flip it waits for no phase: the points are the other
    // OS's operations - a delete, a write of file block 0 and one of the
    // file's last block.
    auto pts = fault_points(RunStream{}, {"offline-fs-write"}, {}, 0, 32);
    std::vector<std::string> rules;
    for (const auto& p : pts) {
        rules.push_back(p.rule);
        CHECK(p.phase.empty());
    }
    CHECK(rules == std::vector<std::string>{"kind=offline-fs-write,op=delete",
                                            "kind=offline-fs-write,op=write,file_block=0",
                                            "kind=offline-fs-write,op=write,file_block=31"});
    CHECK(fault_points(RunStream{}, {"offline-fs-write"}, {}, 0, 1).size() == 2);  // a one-block file: block 0 only
    // linux-s4 resumes over each of them with what it held from before:
    // every variant loses the other OS's change (its superblock at least),
    // and the reproducer shows it again.
    const std::string db = tmp("offline-fs.db"), out = tmp("offline-fs-repro");
    Cli r = explore("s4-storage", "--kinds offline-fs-write -j 2 --out " + out, db);
    INFO(r.out);
    REQUIRE(r.status == 1);
    CHECK(r.out.find("this run: 3 variants") != std::string::npos);
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex("fs\\.foreign-change-lost .* first run (\\d+) \\((kind=offline-fs-write[^)]*)\\)\\s+reproducer: (\\S+)")));
    Cli again = sh("run " + m[3].str() + " --db " + tmp("offline-fs-again.db"));
    INFO(again.out);
    CHECK(again.status == 0);
    CHECK(again.out.find("found the expected") != std::string::npos);
    CHECK(sh("replay " + db + " " + m[1].str()).out.find("identical") != std::string::npos);
    std::filesystem::remove_all(out);
    // galibert-s4 reads the file again after the restore: none of them is lost.
    const std::string g = quiesce::test::read_text(quiesce::test::regression("s4-galibert-file-deleted"));
    quiesce::test::TempFile clean(g.substr(0, g.find("[[fault]]")) + "[expect]\nresult = \"pass\"\n");
    Cli gr = sh("explore " + clean.path() + " --kinds offline-fs-write -j 2 --db " + tmp("offline-fs-galibert.db"));
    INFO(gr.out);
    CHECK(gr.status == 0);
    CHECK(gr.out.find("this run: 3 variants") != std::string::npos);
    // Hibernation protocols only, as in a scenario.
    Cli s3 = explore("s3-basic", "--kinds offline-fs-write", tmp("offline-fs-s3.db"));
    CHECK(s3.status == 2);
    CHECK(s3.out.find("--kinds: offline-fs-write needs a hibernation protocol") != std::string::npos);
}

namespace {
// An exploration in one process, as explore runs it (its variants forked
// from the prefix run), and each finding shrunk with or without prefix
// sharing: the reproducer folder's files as text, and how the trials ran.
struct Shrunk {
    std::string files;
    ShrinkRuns::Stats stats;
    size_t findings = 0;
};
std::pair<Shrunk, Shrunk> shrink_both_ways(const std::string& path, ExploreOptions o) {
    Scenario s = load_scenario(path);
    o.jobs = 2;
    settle_explore_options(o, s);
    Scenario noted = s;
    noted.note_persistence = o.persistence > 0;
    RunResult base = execute(noted);
    ExplorePlan plan = plan_exploration(base.stream, o, s);
    std::vector<Scenario> variants;
    for (const auto& p : plan.points) {
        variants.push_back(variant_of(s, p));
        variants.back().trace = TraceLevel::Summary;
    }
    const std::vector<Seen> base_seen = violations_seen(base.stream);
    std::set<Seen> known(base_seen.begin(), base_seen.end());
    FindingSet found(known);
    execute_all(variants, 2, [&](size_t k, RunResult r) {
        found.add(plan.points, k, int64_t(k + 2), violations_seen(r.stream), r.violations);
    });
    found.judge_pairs(plan.points);
    auto way = [&](bool prefix) {
        Shrunk out;
        std::vector<FaultPoint> points = plan.points;
        std::map<Signature, Finding> findings = found.findings;
        ShrinkRuns how{2, prefix, branch_view(base.stream), {}};
        shrink_decisions(s, plan.graph, points, findings, how);
        shrink_for_reproducers(s, points, findings, how);
        size_t numbered = 0;
        for (const auto& f : reproducer_files(tmp("shrink-both"), s, points, plan.points.size(), findings, numbered))
            out.files += "== " + f.path + "\n" + f.content;
        out.stats = how.stats;
        out.findings = findings.size();
        return out;
    };
    Shrunk re_running = way(false);
    return {re_running, way(true)};
}
}  // namespace

TEST_CASE("explore: shrinking with prefix sharing writes the reproducers re-running every trial writes", "[explore]") {
    SECTION("workload and devices: trials of one scenario fork from the run of the one whose fault comes last") {
        ExploreOptions o;
        o.kinds = {"callback-fail", "wake-event"};
        auto [re_running, sharing] = shrink_both_ways(kLatent, o);
        REQUIRE(re_running.findings >= 5);
        CHECK(re_running.stats.forked == 0);
        CHECK(sharing.stats.forked > 0);  // it did share
        CHECK(sharing.stats.runs == re_running.stats.runs);
        // The writer and the DMA copies left out, dma0 too (as the first test finds).
        CHECK(re_running.files.find("[devices.dma0]\npresent = false\n") != std::string::npos);
        CHECK(re_running.files.find("writer_blocks = 0\n") != std::string::npos);
        CHECK(sharing.files == re_running.files);
    }
    SECTION("orders and their combinations with faults: candidates fork from the baseline's run") {
        ExploreOptions o;
        o.kinds = {"callback-fail"};
        o.orders = true;
        o.cross = true;
        auto [re_running, sharing] = shrink_both_ways(std::string(QUIESCE_DATA_DIR) + "/examples/explore-missing-link.toml", o);
        REQUIRE(re_running.findings >= 2);
        CHECK(re_running.files.find("# Shrunk: the order nearest the default") != std::string::npos);
        CHECK(re_running.stats.forked == 0);
        CHECK(sharing.stats.forked > 0);
        CHECK(sharing.files == re_running.files);
    }
}

TEST_CASE("explore: the variants are made as they run, not held while they wait", "[explore]") {
    // --timing 20000 plans 20,000 variants; a budget of 10 ms of wall time
    // runs next to none. Each held as a scenario took about 19 KB (387 MB of
    // peak resident memory here); made when run, the plan is what is held.
    const std::string db = tmp("made.db");
    const std::string scenario = quiesce::test::regression("s3-basic");
    const pid_t pid = quiesce::test::spawn({"explore", scenario, "--timing", "20000", "--budget", "0.01s", "--db", db});
    int status = 0;
    struct rusage ru {};
    REQUIRE(::wait4(pid, &status, 0, &ru) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) <= 1);
    INFO("peak resident memory " << ru.ru_maxrss << " KiB");
    CHECK(ru.ru_maxrss < 160 * 1024);
}
