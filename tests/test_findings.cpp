// quiesce findings (issue 17, items 3 and 4): the deduplicated findings of
// one explore database, several shards' or a merged one - the same
// whichever way the exploration was split - with a shrunk reproducer each;
// reproducers that carry the local platform, protocol and driver files
// they need and run from anywhere.
#include "cli.h"
#include "tmpfile.h"

#include "sim/explore/findings.h"
#include "sim/scenario/scenario.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace fs = std::filesystem;
using quiesce::test::Cli;
using quiesce::test::sh;
using quiesce::test::shell;

namespace {

std::string tmp(const std::string& name) { return quiesce::test::tmp_path("findings-" + name); }

const std::string kLatent = std::string(QUIESCE_DATA_DIR) + "/examples/explore-latent-wrong-undo.toml";

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Every file under `dir`, by its path relative to it, with its content.
std::map<std::string, std::string> folder(const std::string& dir) {
    std::map<std::string, std::string> out;
    if (!fs::exists(dir)) return out;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = slurp(e.path().string());
    return out;
}

// A report's finding lines, without the run they name first (explore names
// a run id of its database, findings the variant's place in the plan).
std::set<std::string> finding_lines(const std::string& report) {
    std::set<std::string> out;
    std::istringstream in(report);
    const std::regex first(", first (run|variant) \\d+ \\(");
    for (std::string line; std::getline(in, line);)
        if (line.find(" run(s), first ") != std::string::npos) out.insert(std::regex_replace(line, first, ", first ("));
    return out;
}

size_t count_of(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("findings: three shards, their merge and the unsharded exploration give the same findings",
          "[findings]") {
    const std::string args = "explore " + kLatent + " --kinds callback-fail,wake-event -j 2";
    const std::string all = tmp("all.db"), merged = tmp("merged.db"), repro_explore = tmp("repro-explore"),
                      repro_shards = tmp("repro-shards"), repro_merged = tmp("repro-merged");
    Cli unsharded = sh(args + " --db " + all + " --out " + repro_explore);
    INFO(unsharded.out);
    REQUIRE(unsharded.status == 1);
    std::vector<std::string> shards;
    size_t shard_findings = 0;  // what the shards' own reports add up to
    for (int i = 0; i < 3; ++i) {
        shards.push_back(tmp("shard-" + std::to_string(i) + ".db"));
        Cli r = sh(args + " --shard " + std::to_string(i) + "/3 --db " + shards.back());
        INFO(r.out);
        REQUIRE(r.status <= 1);
        shard_findings += count_of(r.out, " run(s), first run ");
    }
    const std::string dbs = shards[0] + " " + shards[1] + " " + shards[2];
    Cli mg = sh("merge " + merged + " " + dbs);
    INFO(mg.out);
    REQUIRE(mg.status == 0);

    Cli one = sh("findings " + all);
    Cli three = sh("findings " + dbs + " --out " + repro_shards);
    Cli from_merge = sh("findings " + merged + " --out " + repro_merged + " -j 2");
    INFO(one.out);
    INFO(three.out);
    REQUIRE(one.status == 1);
    const size_t distinct = finding_lines(unsharded.out).size();
    REQUIRE(distinct >= 2);
    // Each shard reports what it saw: more findings, as a sum, than there are.
    CHECK(shard_findings > distinct);
    // Byte for byte, however the exploration was split (the reproducer
    // lines aside: they name where they went).
    CHECK(one.out.find("findings of " + kLatent + " (seed 60): 70 of 70 variants recorded; baseline: outcome "
                       "resumed, no violation\n" + std::to_string(distinct) +
                       " distinct violation(s) beyond the baseline's:\n") == 0);
    const std::regex where("\n      reproducer: \\S+");
    CHECK(std::regex_replace(three.out, where, "") == one.out);
    CHECK(std::regex_replace(from_merge.out, where, "") == one.out);
    CHECK(three.status == 1);
    CHECK(from_merge.status == 1);
    // The same findings explore's report printed, deduplicated the same way.
    CHECK(finding_lines(one.out) == finding_lines(unsharded.out));
    // merge prints them too, after what it merged.
    CHECK(mg.out.find("\n\n" + one.out) != std::string::npos);
    // A database given twice, or a shard beside the merge, counts each variant once.
    CHECK(sh("findings " + all + " " + shards[1] + " " + merged).out == one.out);

    // One reproducer per finding, the same files explore --out wrote: the
    // same representative variant, shrunk the same way.
    std::map<std::string, std::string> written = folder(repro_explore);
    CHECK(written.size() == distinct);
    CHECK(folder(repro_shards) == written);
    CHECK(folder(repro_merged) == written);
    Cli again = sh("run " + repro_shards + " --db " + tmp("again.db"));
    INFO(again.out);
    CHECK(again.out.find("\n" + std::to_string(distinct) + " passed, 0 failed\n") != std::string::npos);
    for (const auto& d : {repro_explore, repro_shards, repro_merged}) fs::remove_all(d);
}

namespace {
// `quiesce findings` over one unsharded exploration (`args` on `example`)
// and over the same split in three shards: the same output, and the same
// finding lines as the unsharded explore printed. Returns findings' output.
std::string findings_across_three_shards(const std::string& example, const std::string& args,
                                         const std::string& name) {
    const std::string scenario = std::string(QUIESCE_DATA_DIR) + "/examples/" + example + ".toml";
    const std::string cmd = "explore " + scenario + " " + args + " -j 2";
    const std::string all = tmp(name + "-all.db");
    Cli unsharded = sh(cmd + " --db " + all);
    INFO(unsharded.out);
    REQUIRE(unsharded.status == 1);
    std::string dbs;
    for (int i = 0; i < 3; ++i) {
        const std::string db = tmp(name + "-" + std::to_string(i) + ".db");
        sh(cmd + " --shard " + std::to_string(i) + "/3 --db " + db);
        dbs += " " + db;
    }
    Cli one = sh("findings " + all), three = sh("findings" + dbs);
    INFO(one.out);
    CHECK(one.status == 1);
    CHECK(three.out == one.out);
    CHECK(finding_lines(one.out) == finding_lines(unsharded.out));
    return one.out;
}
}  // namespace

TEST_CASE("findings: orders and faults under other orders judged across shards as in one run", "[findings]") {
    // Two orders, three shards: one shard has none of them (its database
    // holds the baseline only), and a pair is judged against single runs
    // another shard made.
    const std::string out = findings_across_three_shards("explore-missing-link", "--orders --cross --kinds callback-fail", "orders");
    // The order finding is shrunk as explore shrinks it.
    CHECK(out.find("fault order ") != std::string::npos);
}

TEST_CASE("findings: orders x timings combinations judged across three shards as in one run", "[findings][timing]") {
    // The race of explore-cross-cpu-race.toml: of orders and timings, only
    // an order under a timing shows it. Three shards split the singles from the pairs they are
    // judged against; findings over the shards sees them all.
    const std::string out = findings_across_three_shards("explore-cross-cpu-race", "--orders --timing 6 --cross", "combo");
    CHECK(out.find("fault order+timing ") != std::string::npos);
}

TEST_CASE("findings: bad input is one line naming the file, exit 2, nothing written", "[findings]") {
    const std::string db = tmp("bad-good.db"), out = tmp("bad-out");
    REQUIRE(sh("explore " + kLatent + " --kinds wake-event --db " + db).status == 1);
    auto one_line = [](const Cli& r, const std::string& names) {
        INFO(r.out);
        CHECK(r.status == 2);
        CHECK(count_of(r.out, "\n") == 1);
        CHECK(r.out.rfind("quiesce: ", 0) == 0);
        CHECK(r.out.find(names) != std::string::npos);
    };
    // Missing, not a database, a database of runs only.
    const std::string missing = tmp("missing.db");
    one_line(sh("findings " + db + " " + missing + " --out " + out), missing + ": no such database");
    quiesce::test::TempFile text("not sqlite at all\n", ".db");
    one_line(sh("findings " + db + " " + text.path() + " --out " + out), text.path() + ": ");
    const std::string runs = tmp("runs.db");
    REQUIRE(sh("run " + quiesce::test::regression("s3-basic") + " --db " + runs).status == 0);
    one_line(sh("findings " + db + " " + runs + " --out " + out), runs + ": not an explore database");
    // An --out that cannot be a directory.
    quiesce::test::TempFile file("x\n", ".txt");
    one_line(sh("findings " + db + " --out " + file.path() + "/repro"), "--out");
    // A scenario changed since it was explored: its baseline runs otherwise.
    const std::string scenario = tmp("changed.toml"), changed_db = tmp("changed.db");
    std::ofstream(scenario) << slurp(kLatent);
    REQUIRE(sh("explore " + scenario + " --kinds wake-event --db " + changed_db).status == 1);
    std::string text_now = slurp(scenario);
    text_now.replace(text_now.find("seed = 60"), 9, "seed = 61");
    std::ofstream(scenario) << text_now;
    one_line(sh("findings " + changed_db + " --out " + out), scenario + ": not the scenario");
    CHECK(!fs::exists(out));
    // merge still merges; the findings it cannot show it says in a line.
    Cli mg = sh("merge " + tmp("changed-merged.db") + " " + changed_db);
    CHECK(mg.status == 0);
    CHECK(mg.out.find("quiesce: findings not shown: " + scenario + ": not the scenario") != std::string::npos);
    // Nothing found: exit 0.
    const std::string none = tmp("none.db");
    REQUIRE(sh("explore " + quiesce::test::regression("s3-storage") + " --kinds power-loss --db " + none).status == 0);
    Cli r = sh("findings " + none);
    CHECK(r.status == 0);
    CHECK(r.out.find("no violation beyond the baseline's\n") != std::string::npos);
}

namespace {

// A scenario with a platform, protocol and drivers of its own beside it:
// T/lab/s.toml, T/platforms/lab-storage.toml (found as ../platforms),
// T/lab/protocols/lab-s3.toml, T/lab/drivers/lab-dma.toml deriving from
// T/lab/drivers/lab-dma-base.toml. The latent wrong undo again.
std::string local_scenario(const std::string& root) {
    const std::string data = QUIESCE_DATA_DIR;
    fs::create_directories(root + "/lab/protocols");
    fs::create_directories(root + "/lab/drivers");
    fs::create_directories(root + "/platforms");
    auto renamed = [](std::string text, const std::string& from, const std::string& to) {
        text.replace(text.find("name = \"" + from + "\""), from.size() + 9, "name = \"" + to + "\"");
        return text;
    };
    std::ofstream(root + "/platforms/lab-storage.toml")
        << renamed(slurp(data + "/platforms/pc-storage.toml"), "pc-storage", "lab-storage");
    std::ofstream(root + "/lab/protocols/lab-s3.toml")
        << renamed(slurp(data + "/protocols/linux-s3.toml"), "linux-s3", "lab-s3");
    std::ofstream(root + "/lab/drivers/lab-dma-base.toml")
        << renamed(slurp(data + "/drivers/dma-engine.toml"), "dma-engine", "lab-dma-base");
    std::ofstream(root + "/lab/drivers/lab-dma.toml")
        << "[driver]\nname = \"lab-dma\"\nbase = \"lab-dma-base\"\ndescription = \"the lab's DMA driver\"\n";
    const std::string file = root + "/lab/s.toml";
    std::ofstream(file) << "[scenario]\nseed = 60\n\n[platform]\nname = \"lab-storage\"\n\n[protocol]\nname = "
                           "\"lab-s3\"\n\n[[protocol.override]]\nphase = \"suspend_noirq\"\nundo = "
                           "\"resume_early\"\n\n[drivers.dma0]\ndriver = \"lab-dma\"\n\n[expect]\nresult = \"pass\"\n";
    return file;
}

}  // namespace

TEST_CASE("findings: a reproducer of a scenario with local files runs from its folder and from anywhere",
          "[findings][standalone]") {
    const std::string root = tmp("local"), out = tmp("local-repro"), out2 = tmp("local-repro-findings"),
                      elsewhere = tmp("elsewhere"), db = tmp("local.db");
    const std::string scenario = local_scenario(root);
    fs::create_directories(elsewhere);
    REQUIRE(sh("run " + scenario + " --db " + tmp("local-run.db")).status == 0);
    Cli r = sh("explore " + scenario + " --kinds wake-event --db " + db + " --out " + out);
    INFO(r.out);
    REQUIRE(r.status == 1);
    std::smatch m;
    REQUIRE(std::regex_search(r.out, m, std::regex("reproducer: (\\S+rollback\\.incomplete\\S+)")));
    const std::string repro = m[1];
    // The files it needs are in the folder, where a file there looks first.
    CHECK(slurp(out + "/platforms/lab-storage.toml") == slurp(root + "/platforms/lab-storage.toml"));
    CHECK(slurp(out + "/protocols/lab-s3.toml") == slurp(root + "/lab/protocols/lab-s3.toml"));
    CHECK(slurp(out + "/drivers/lab-dma.toml") == slurp(root + "/lab/drivers/lab-dma.toml"));
    CHECK(slurp(out + "/drivers/lab-dma-base.toml") == slurp(root + "/lab/drivers/lab-dma-base.toml"));
    // Built-in files stay where they are: nothing else was copied.
    CHECK(!fs::exists(out + "/devices"));
    const std::string bin = QUIESCE_BIN;
    // From another directory, with the scenario's own folder gone.
    fs::remove_all(root);
    Cli far = shell("cd " + elsewhere + " && " + bin + " run " + repro + " --db run.db");
    INFO(far.out);
    CHECK(far.status == 0);
    CHECK(far.out.find("found the expected rollback.incomplete") != std::string::npos);
    // From the folder, by its name; and the whole folder (the copies are not scenarios).
    Cli here = shell("cd " + out + " && " + bin + " run " + fs::path(repro).filename().string() + " --db " +
                     elsewhere + "/here.db");
    INFO(here.out);
    CHECK(here.status == 0);
    Cli all = shell("cd " + elsewhere + " && " + bin + " run " + out + " --db all.db");
    INFO(all.out);
    CHECK(all.status == 0);
    CHECK(all.out.find(" 0 failed\n") != std::string::npos);

    // quiesce findings writes them the same way.
    local_scenario(root);
    Cli f = sh("findings " + db + " --out " + out2);
    INFO(f.out);
    CHECK(f.status == 1);
    CHECK(folder(out2) == folder(out));
    fs::remove_all(root);
    Cli far2 = shell("cd " + elsewhere + " && " + bin + " run " + out2 + " --db all2.db");
    INFO(far2.out);
    CHECK(far2.status == 0);
    for (const auto& d : {out, out2, elsewhere}) fs::remove_all(d);
}

TEST_CASE("findings: local files follow a copied platform to its device files, built-ins are not copied",
          "[findings][standalone]") {
    // A scenario beside its own copy of pc-gpu and of the qgpu device file
    // (the same description: a process holds one per device name, and the
    // files stay, as other tests of this process may load qgpu after).
    const std::string root = tmp("gpu"), data = QUIESCE_DATA_DIR;
    fs::create_directories(root + "/platforms");
    fs::create_directories(root + "/devices");
    std::ofstream(root + "/platforms/pc-gpu.toml") << slurp(data + "/platforms/pc-gpu.toml") << "# the lab's\n";
    std::ofstream(root + "/devices/qgpu.toml") << slurp(data + "/devices/qgpu.toml");
    std::ofstream(root + "/s.toml") << "[platform]\nname = \"pc-gpu\"\n\n[protocol]\nname = \"linux-s3\"\n\n[expect]\nresult = \"pass\"\n";
    quiesce::Scenario s = quiesce::load_scenario(root + "/s.toml");
    std::map<std::string, std::string> files;
    for (const auto& f : quiesce::local_files(s, "/nowhere/repro")) files[f.path] = f.content;
    CHECK(files.size() == 2);
    CHECK(files["/nowhere/repro/platforms/pc-gpu.toml"] == slurp(root + "/platforms/pc-gpu.toml"));
    CHECK(files["/nowhere/repro/devices/qgpu.toml"] == slurp(root + "/devices/qgpu.toml"));
    // The folder it came from needs nothing; a built-in scenario nowhere does.
    CHECK(quiesce::local_files(s, root).empty());
    CHECK(quiesce::local_files(quiesce::load_scenario(kLatent), "/nowhere/repro").empty());
}

TEST_CASE("findings: a scenario path a shell must quote is read back from the campaign's command line",
          "[findings]") {
    const std::string dir = tmp("quoted dir"), scenario = dir + "/it's here.toml", db = tmp("quoted.db");
    fs::create_directories(dir);
    std::ofstream(scenario) << slurp(kLatent);
    // The shell gets the path in double quotes; quiesce records it as it was given.
    REQUIRE(sh("explore \"" + scenario + "\" --kinds wake-event --db " + db).status == 1);
    Cli r = sh("findings " + db);
    INFO(r.out);
    CHECK(r.status == 1);
    CHECK(r.out.rfind("findings of " + scenario + " (seed 60): ", 0) == 0);
    fs::remove_all(dir);
}

TEST_CASE("findings: faults x mutations judged across three shards as in one run, the mutation score too",
          "[findings][mutate]") {
    // explore-mutation-error-path.toml: dropping the DMA engine's -EBUSY
    // return shows only under a delayed descriptor. The shards split the
    // mutants and the faults from the pairs judged against them.
    const std::string out = findings_across_three_shards(
        "explore-mutation-error-path", "--mutate dma-engine:suspend:fail --kinds dma-delay --cross", "mutation");
    CHECK(out.find("fault dma-delay+mutation ") != std::string::npos);
    CHECK(out.find("KILLED    drop suspend/fail") != std::string::npos);
    CHECK(out.find("dma-engine: 1 of 3 mutants killed (33%), 1 of them only in a product") != std::string::npos);
}
