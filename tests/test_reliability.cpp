// Hostile input (issue 19): every subcommand turns OS and filesystem errors,
// and input the models cannot represent, into input errors - exit 2, one
// line naming the file or the option, nothing written - and never aborts.
#include "cli.h"
#include "protocol_text.h"
#include "tmpfile.h"

#include "sim/core/paths.h"
#include "sim/drivers/device_file.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using quiesce::test::regression;
using quiesce::test::sh;
using quiesce::test::tmp_path;
using quiesce::test::TempFile;
using Result = quiesce::test::Cli;

namespace {
// Exit 2 and one line "quiesce: ...", holding `needle`.
void require_input_error(const Result& r, const std::string& needle) {
    INFO(r.out);
    REQUIRE(r.status == 2);
    REQUIRE(r.out.rfind("quiesce: ", 0) == 0);
    REQUIRE(r.out.find('\n') == r.out.size() - 1);
    REQUIRE(r.out.find(needle) != std::string::npos);
}
}  // namespace

TEST_CASE("reliability: a name over 255 bytes is an input error in every subcommand", "[reliability][paths]") {
    const std::string name(300, 'a');
    const std::string db = tmp_path("long-name.db");
    for (const std::string& args :
         {"run " + name, "validate " + name, "graph " + name, "explore " + name, "replay " + name + " 1",
          "merge " + db + " " + name, "registers " + name, "trace runs " + name, "trace show " + name + " 1",
          "trace diff " + name + " 1 2", "trace summary " + name, "trace export " + name + " 1",
          "query " + name + " \"SELECT 1\"", "run " + regression("s3-basic") + " --db " + name,
          "run " + name + "/" + name}) {
        INFO(args.substr(0, 40));
        require_input_error(sh(args), name);
    }
    REQUIRE_FALSE(std::filesystem::exists(db));
}

TEST_CASE("reliability: a [platform] name of 300 characters names its key", "[reliability][paths]") {
    TempFile f("[platform]\nname = \"" + std::string(300, 'p') + "\"\n[protocol]\nname = \"linux-s3\"\n");
    const std::string db = " --db " + tmp_path("p.db");
    for (const std::string& args : {"validate " + f.path(), "graph " + f.path(), "registers " + f.path(),
                                    "run " + f.path() + db, "explore " + f.path() + db}) {
        INFO(args);
        require_input_error(sh(args), f.path() + ":2:8: platform.name: no platform named");
    }
    REQUIRE_FALSE(std::filesystem::exists(tmp_path("p.db")));
    TempFile p("[platform]\nname = \"pc-basic\"\n[protocol]\nname = \"" + std::string(300, 'x') + "\"\n");
    require_input_error(sh("validate " + p.path()), p.path() + ":4:8: protocol.name: no protocol named");
}

TEST_CASE("reliability: a path under a directory without search permission", "[reliability][paths]") {
    // Root searches any directory: as root, quiesce runs as nobody.
    std::string as_user;
    if (::geteuid() == 0) {
        if (quiesce::test::shell("setpriv --version").status != 0) return;
        as_user = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
    }
    std::string dir = tmp_path("locked");
    std::filesystem::create_directories(dir + "/inner");
    std::filesystem::copy_file(regression("s3-basic"), dir + "/inner/s3-basic.toml");
    ::chmod(dir.c_str(), 0755);
    ::chmod((dir + "/inner").c_str(), 0);
    for (const std::string& args :
         {"run " + dir + "/inner/s3-basic.toml", "validate " + dir, "run " + dir, "graph " + dir + "/inner/s3-basic.toml",
          "trace runs " + dir + "/inner/x.db", "query " + dir + "/inner/x.db \"SELECT 1\"",
          "merge " + dir + "/out.db " + dir + "/inner/x.db"}) {
        INFO(args);
        require_input_error(quiesce::test::shell(as_user + QUIESCE_BIN + " " + args), dir + "/inner");
        require_input_error(quiesce::test::shell(as_user + QUIESCE_BIN + " " + args), "Permission denied");
    }
    REQUIRE_FALSE(std::filesystem::exists(dir + "/out.db"));
    ::chmod((dir + "/inner").c_str(), 0755);
    std::filesystem::remove_all(dir);
}

TEST_CASE("reliability: explore --out in a folder it cannot write in is refused before anything runs",
          "[reliability][paths]") {
    // Root writes anywhere: as root, quiesce runs as nobody.
    std::string as_user;
    if (::geteuid() == 0) {
        if (quiesce::test::shell("setpriv --version").status != 0) return;
        as_user = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
    }
    const std::string ro = tmp_path("ro-out"), db = tmp_path("ro-out.db");
    std::filesystem::create_directories(ro);
    ::chmod(ro.c_str(), 0555);
    for (const std::string& out : {ro, ro + "/repro"}) {
        Result r = quiesce::test::shell(as_user + QUIESCE_BIN + " explore " + regression("s3-basic") +
                                        " --kinds callback-fail --out " + out + " --db " + db);
        INFO(r.out);
        require_input_error(r, out + ": --out: cannot write in " + ro + ": Permission denied");
        CHECK_FALSE(std::filesystem::exists(db));  // found before the baseline ran (it ran every variant first)
    }
    ::chmod(ro.c_str(), 0755);
}

TEST_CASE("reliability: path_kind sorts what is missing from what cannot be looked at", "[reliability][paths]") {
    using namespace quiesce;
    REQUIRE(path_kind("/") == PathKind::Directory);
    REQUIRE(path_kind(regression("s3-basic")) == PathKind::File);
    REQUIRE(path_kind("/dev/null") == PathKind::Other);
    REQUIRE(path_kind("/no/such/path") == PathKind::Missing);
    REQUIRE(path_kind(regression("s3-basic") + "/below-a-file") == PathKind::Missing);
    REQUIRE_THROWS_AS(path_kind(std::string(300, 'a')), InputError);
    try {
        toml_files_under("/tmp/" + std::string(300, 'b'));
        FAIL("no error");
    } catch (const InputError& e) {
        REQUIRE(std::string(e.what()).find("File name too long") != std::string::npos);
    }
}

TEST_CASE("reliability: explore --out naming a regular file is refused before anything runs", "[reliability][explore]") {
    std::string file = tmp_path("out-is-a-file"), db = tmp_path("out-file.db");
    { std::ofstream(file) << "mine\n"; }
    for (const std::string& out : {file, file + "/below"}) {
        INFO(out);
        Result r = sh("explore " + regression("s3-basic") + " --kinds callback-fail --db " + db + " --out " + out);
        require_input_error(r, out + ": --out: ");
        REQUIRE(r.out.find("is not a directory") != std::string::npos);
        REQUIRE_FALSE(std::filesystem::exists(db));  // nothing ran, nothing recorded
    }
    std::ifstream in(file);
    std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(kept == "mine\n");
    // Its --junit is checked as early.
    Result j = sh("explore " + regression("s3-basic") + " --kinds callback-fail --db " + db + " --junit " +
                  tmp_path("nodir") + "/x.xml");
    require_input_error(j, "--junit: no such directory");
    REQUIRE_FALSE(std::filesystem::exists(db));
    std::filesystem::remove(file);
}

TEST_CASE("reliability: run --junit into no directory fails before any run", "[reliability][junit]") {
    std::string db = tmp_path("junit-nodir.db"), dir = tmp_path("nodir");
    Result r = sh("run " + regression("s3-basic") + " --db " + db + " --junit " + dir + "/x.xml");
    require_input_error(r, dir + "/x.xml: --junit: no such directory: " + dir);
    REQUIRE(r.out.find("PASS") == std::string::npos);  // nothing ran
    REQUIRE_FALSE(std::filesystem::exists(db));
    std::filesystem::create_directories(dir);
    r = sh("run " + regression("s3-basic") + " --db " + db + " --junit " + dir);
    require_input_error(r, dir + ": --junit: is a directory");
    REQUIRE_FALSE(std::filesystem::exists(db));
    std::filesystem::remove_all(dir);
}

TEST_CASE("reliability: merge with an input that is no database leaves no output behind", "[reliability][merge]") {
    std::string out = tmp_path("merged.db"), good = tmp_path("good.db");
    TempFile garbage("this is not a database\n", ".db");
    Result r = sh("merge " + out + " " + garbage.path());
    require_input_error(r, garbage.path() + ": not a quiesce trace database");
    REQUIRE_FALSE(std::filesystem::exists(out));
    // A good input first and then a bad one: still nothing.
    REQUIRE(sh("run " + regression("s3-basic") + " --db " + good).status == 0);
    r = sh("merge " + out + " " + good + " " + garbage.path());
    require_input_error(r, garbage.path() + ": not a quiesce trace database");
    for (const char* side : {"", "-wal", "-shm", "-journal"}) REQUIRE_FALSE(std::filesystem::exists(out + side));
    // An OUT that was there stays there.
    REQUIRE(sh("merge " + out + " " + good).status == 0);
    r = sh("merge " + out + " " + garbage.path());
    REQUIRE(r.status == 2);
    REQUIRE(std::filesystem::exists(out));
    REQUIRE(sh("query " + out + " \"SELECT count(*) FROM run\" --format list").out == "count(*)\n1\n");
    for (const auto& p : {out, good})
        for (const char* side : {"", "-wal", "-shm"}) std::filesystem::remove(p + side);
}

namespace {
// A copy of `good` (a database of over 100 pages) with four pages of its
// rows overwritten: a quiesce database by its header, schema and run table,
// malformed further in.
void copy_damaged(const std::string& good, const std::string& damaged) {
    std::filesystem::copy_file(good, damaged);
    const std::uintmax_t pages = std::filesystem::file_size(damaged) / 4096;
    REQUIRE(pages > 100);
    std::fstream f(damaged, std::ios::in | std::ios::out | std::ios::binary);
    const std::string junk(4096, '\xa5');
    for (std::uintmax_t k : {45, 60, 75, 90}) {
        f.seekp(std::streamoff(pages * k / 100 * 4096));
        f.write(junk.data(), std::streamsize(junk.size()));
    }
}

std::string file_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}
}  // namespace

TEST_CASE("reliability: merge with a damaged input names it and adds nothing to the output", "[reliability][merge]") {
    std::string out = tmp_path("dmerged.db"), good = tmp_path("dgood.db"), damaged = tmp_path("ddamaged.db");
    // (status 1: it has findings)
    REQUIRE(sh("explore " + regression("s3-basic") + " --kinds callback-fail -j 2 --db " + good).status == 1);
    REQUIRE(sh("run " + regression("s3-basic") + " --db " + out).status == 0);  // an OUT that was there: one run
    copy_damaged(good, damaged);
    Result r = sh("merge " + out + " " + good + " " + damaged);
    INFO(r.out);
    REQUIRE(r.status == 2);
    CHECK(r.out.find("quiesce: " + damaged + ": ") == 0);  // the damaged input, not the output
    CHECK(r.out.find('\n') == r.out.size() - 1);           // one line: no "N run(s)" of a merge that did not happen
    CHECK(sh("query " + out + " \"SELECT count(*) FROM run\" --format list").out == "count(*)\n1\n");
}

TEST_CASE("reliability: merge refuses a campaign it would copy twice", "[reliability][merge]") {
    std::string a = tmp_path("twice-a.db"), b = tmp_path("twice-b.db"), out = tmp_path("twice-out.db");
    const std::string copy = tmp_path("twice-copy.db");
    REQUIRE(sh("run " + regression("s3-basic") + " --db " + a).status == 0);
    REQUIRE(sh("run " + regression("s3-basic") + " --db " + b).status == 0);
    std::filesystem::copy_file(a, copy);
    // The same input twice, or a copy of it: nothing is created.
    for (const std::string& second : {a, copy}) {
        Result r = sh("merge " + out + " " + a + " " + b + " " + second);
        INFO(r.out);
        require_input_error(r, second + ": its campaign 1 (started ");
        CHECK(r.out.find(" is in " + a + " too") != std::string::npos);
        CHECK_FALSE(std::filesystem::exists(out));
    }
    // Merged before (a merge run again after one that was killed half-way):
    // OUT is left as it was.
    REQUIRE(sh("merge " + out + " " + a).status == 0);
    const std::string before = file_bytes(out);
    Result r = sh("merge " + out + " " + b + " " + a);
    require_input_error(r, a + ": its campaign 1 (started ");
    CHECK(r.out.find(" is in " + out + " already") != std::string::npos);
    CHECK(file_bytes(out) == before);
    REQUIRE(sh("merge " + out + " " + b).status == 0);
    CHECK(sh("query " + out + " \"SELECT count(*) FROM run\" --format list").out == "count(*)\n2\n");
}

TEST_CASE("reliability: run and explore into a damaged database write nothing to it", "[reliability][db]") {
    std::string good = tmp_path("wgood.db"), damaged = tmp_path("wdamaged.db");
    REQUIRE(sh("explore " + regression("s3-basic") + " --kinds callback-fail -j 2 --db " + good).status == 1);
    copy_damaged(good, damaged);
    const std::string before = file_bytes(damaged);
    for (const std::string& cmd : {"run " + regression("s3-basic"), "explore " + regression("s3-basic") +
                                   " --kinds power-loss", "explore " + regression("s3-basic") + " --mutate dma-engine"}) {
        Result r = sh(cmd + " --db " + damaged);
        INFO(cmd << "\n" << r.out);
        require_input_error(r, damaged + ": a damaged database: ");
        CHECK(file_bytes(damaged) == before);  // not even a campaign row
        for (const char* side : {"-wal", "-shm", "-journal"}) CHECK_FALSE(std::filesystem::exists(damaged + side));
    }
}

TEST_CASE("reliability: a negative or too large --seed is refused before anything runs", "[reliability][seed]") {
    std::string db = tmp_path("seed.db");
    for (std::string seed : {"-1", "18446744073709551615", "9223372036854775808", "+1"}) {
        INFO(seed);
        require_input_error(sh("run " + regression("s3-basic") + " --db " + db + " --seed " + seed),
                            "--seed: a seed is a whole number from 0 to 9223372036854775807, got '" + seed + "'");
        require_input_error(sh("explore " + regression("s3-basic") + " --db " + db + " --seed " + seed), "--seed: ");
        REQUIRE_FALSE(std::filesystem::exists(db));
    }
    // The largest one is recorded as it was given.
    REQUIRE(sh("run " + regression("s3-basic") + " --db " + db + " --seed 9223372036854775807").status == 0);
    REQUIRE(sh("query " + db + " \"SELECT seed FROM run\" --format list").out == "seed\n9223372036854775807\n");
    for (const char* side : {"", "-wal", "-shm"}) std::filesystem::remove(db + side);
}

namespace {
// A scenario directory: scenario files with platforms/ and protocols/ beside
// them, as a user lays them out.
class TempTree {
public:
    TempTree() : dir_(tmp_path("tree-" + std::to_string(++count_))) {
        std::filesystem::create_directories(dir_ + "/platforms");
        std::filesystem::create_directories(dir_ + "/protocols");
    }
    ~TempTree() { std::filesystem::remove_all(dir_); }
    std::string write(const std::string& rel, const std::string& text) const {
        std::ofstream(dir_ + "/" + rel) << text;
        return dir_ + "/" + rel;
    }
    const std::string& dir() const { return dir_; }

private:
    static inline int count_ = 0;
    std::string dir_;
};

// A scenario on platform `platform` and protocol `protocol` that expects a pass.
std::string scenario_on(const std::string& platform, const std::string& protocol) {
    return "[platform]\nname = \"" + platform + "\"\n[protocol]\nname = \"" + protocol +
           "\"\n[expect]\nresult = \"pass\"\n";
}

const std::string kTwoEngines = R"(name = "two"
[[device]]
name = "pci0"
type = "pci-host"
[[device]]
name = "dma0"
type = "dma-engine"
slot = "01.0"
parent = "pci0"
[[device]]
name = "dma1"
type = "dma-engine"
slot = "02.0"
parent = "pci0"
)";

// Every way in: validate, graph, run (which must write nothing). The same
// one line each time: "quiesce: " + where.
void require_where(const TempTree& t, const std::string& scenario, const std::string& where) {
    const std::string db = t.dir() + "/out.db";
    for (const std::string& cmd : {std::string("validate "), std::string("graph "), "run --db " + db + " "}) {
        Result r = sh(cmd + scenario);
        INFO(cmd << "\n" << r.out);
        REQUIRE(r.status == 2);
        REQUIRE(r.out == "quiesce: " + where + "\n");
    }
    REQUIRE_FALSE(std::filesystem::exists(db));
}
}  // namespace

TEST_CASE("reliability: a device-link cycle names the link that closes it, line and column", "[reliability][form]") {
    TempTree t;
    const std::string plat = t.write("platforms/two.toml", kTwoEngines + R"([[link]]
supplier = "dma0"
consumer = "dma1"
[[link]]
supplier = "dma1"
consumer = "dma0"
)");
    require_where(t, t.write("s.toml", scenario_on("two", "linux-s3")),
                  plat + ":18:1: link[1]: device graph has a cycle: dma0 -> dma1 -> dma0");
    // A device linked to itself.
    t.write("platforms/two.toml", kTwoEngines + "[[link]]\nsupplier = \"dma1\"\nconsumer = \"dma1\"\n");
    require_where(t, t.dir() + "/s.toml", plat + ":15:1: link[0]: device graph has a cycle: dma1 -> dma1");
}

TEST_CASE("reliability: two functions in one slot, and a disk named like a device, name the key", "[reliability][form]") {
    TempTree t;
    std::string text = kTwoEngines;
    text.replace(text.find("02.0"), 4, "01.0");
    const std::string plat = t.write("platforms/two.toml", text);
    const std::string s = t.write("s.toml", scenario_on("two", "linux-s3"));
    require_where(t, s, plat + ":13:8: device[2].slot: slot 01.0 on the bus of 'pci0' is taken by 'dma0'");
    // The same slot number on two buses is fine.
    t.write("platforms/two.toml", kTwoEngines + R"([[device]]
name = "rp0"
type = "pci-bridge"
slot = "1c.0"
parent = "pci0"
[[device]]
name = "dma2"
type = "dma-engine"
slot = "01.0"
parent = "rp0"
)");
    REQUIRE(sh("validate " + s).status == 0);
    t.write("platforms/two.toml", kTwoEngines + R"([[device]]
name = "sata0"
type = "ahci"
slot = "1f.0"
parent = "pci0"
disk = "dma1"
)");
    require_where(t, s, plat + ":20:8: device[3].disk: 'dma1' is the name of a device");
    // ... and a device declared after the disk.
    t.write("platforms/two.toml", R"(name = "two"
[[device]]
name = "pci0"
type = "pci-host"
[[device]]
name = "sata0"
type = "ahci"
slot = "1f.0"
parent = "pci0"
[[device]]
name = "sda"
type = "dma-engine"
slot = "02.0"
parent = "pci0"
)");
    require_where(t, s, plat + ":11:8: device[2].name: 'sda' is the name of the disk of 'sata0'");
}

TEST_CASE("reliability: a protocol's list checks name the list's last phase, line and column", "[reliability][form]") {
    TempTree t;
    const std::string s = t.write("s.toml", scenario_on("pc-basic", "p"));
    const std::string proto = t.dir() + "/protocols/p.toml";
    const std::string& off = quiesce::test::kSuspendPhases;
    const std::string& on = quiesce::test::kResumePhases;
    t.write("protocols/p.toml", "name = \"p\"\n[[suspend]]\nname = \"sync\"\naction = \"sync\"\n" + on);
    require_where(t, s, proto + ":2:1: suspend: the suspend list never reaches platform-enter");
    t.write("protocols/p.toml", "name = \"p\"\ntarget = \"S4\"\n" + off + on);
    require_where(t, s, proto + ":9:1: suspend: an S4 protocol needs a snapshot (or kexec-save) phase");
    t.write("protocols/p.toml", "name = \"p\"\n" + off + on.substr(0, on.find("[[resume]]", 1)));
    require_where(t, s, proto + ":11:1: resume: the resume list leaves interrupts off, device interrupts suspended or CPUs offline");
    t.write("protocols/p.toml", "name = \"p\"\nsuspend = []\n" + on);
    require_where(t, s, proto + ":2:11: suspend: needs at least one phase");
    // A scenario's override that breaks the protocol is named, with where it broke it.
    t.write("protocols/p.toml", "name = \"p\"\n" + off + on);
    const std::string skip = t.write("skip.toml", scenario_on("pc-basic", "p") + "[[protocol.override]]\nphase = \"enter\"\nskip = true\n");
    require_where(t, skip, skip + ":7:1: protocol.override[0]: the protocol no longer holds: " + proto +
                               ":5:1: suspend: the suspend list never reaches platform-enter");
}

TEST_CASE("reliability: a string holding control characters is echoed escaped, on one line", "[reliability][form]") {
    TempTree t;
    const std::string s = t.write("s.toml", scenario_on("pc-basic", "linux\\ns3\\t\\u001b[31m"));
    require_where(t, s, s + ":4:8: protocol.name: no protocol named 'linux\\ns3\\t\\x1b[31m' (looked in protocols/ and the built-ins)");
    // The command line too.
    Result r = sh("run " + regression("s3-basic") + " --order \"$(printf 'dma0\\ndma1')\" --db " + t.dir() + "/out.db");
    INFO(r.out);
    REQUIRE(r.status == 2);
    REQUIRE(r.out.find('\n') == r.out.size() - 1);
    r = sh("run " + regression("s3-basic") + " --fault \"$(printf 'kind=x\\ny')\" --db " + t.dir() + "/out.db");
    INFO(r.out);
    REQUIRE(r.status == 2);
    REQUIRE(r.out.find("unknown fault kind 'x\\ny'") != std::string::npos);
    REQUIRE(r.out.find('\n') == r.out.size() - 1);
    r = sh("run " + regression("s3-basic") + " -j \"$(printf '1\\n2')\"");
    INFO(r.out);
    REQUIRE(r.status == 2);
    REQUIRE(r.out.find('\n') == r.out.size() - 1);
    REQUIRE_FALSE(std::filesystem::exists(t.dir() + "/out.db"));
}

TEST_CASE("reliability: a pci-host with a parent is an input error, not a model panic", "[reliability][form]") {
    TempTree t;
    const std::string plat = t.write("platforms/two.toml", "name = \"two\"\n[[device]]\nname = \"pci0\"\ntype = \"pci-host\"\nparent = \"nowhere\"\n");
    require_where(t, t.write("s.toml", scenario_on("two", "linux-s3")),
                  plat + ":5:10: device[0].parent: a pci-host is the root of the device tree: it has no parent");
}

namespace {
// Runs `args` as user nobody when this test runs as root (root ignores
// permissions), else as this user; "" when setpriv is missing.
std::string as_nobody() {
    if (::geteuid() != 0) return " ";
    if (quiesce::test::shell("setpriv --version").status != 0) return "";
    return "setpriv --reuid=65534 --regid=65534 --clear-groups ";
}

bool side_files(const std::string& db) {
    return std::filesystem::exists(db + "-wal") || std::filesystem::exists(db + "-shm") ||
           std::filesystem::exists(db + "-journal");
}
}  // namespace

TEST_CASE("reliability: the read-only commands read a database on read-only storage, and leave no side files",
          "[reliability][readonly]") {
    const std::string dir = tmp_path("ro-db"), db = dir + "/a.db";
    std::filesystem::create_directories(dir);
    REQUIRE(sh("run " + regression("s3-basic") + " --db " + db).status == 0);
    REQUIRE_FALSE(side_files(db));
    const std::vector<std::string> readers = {"trace runs " + db, "trace show " + db + " 1", "trace summary " + db,
                                              "trace diff " + db + " 1 1", "trace export " + db + " 1 --format vcd",
                                              "query " + db + " \"SELECT scenario FROM run\" --format list"};
    // A directory the reader may write: nothing is left next to the database.
    for (const std::string& args : readers) {
        Result r = sh(args);
        INFO(args << "\n" << r.out);
        REQUIRE(r.status == 0);
        REQUIRE_FALSE(side_files(db));
    }
    // Read-only: a directory and a file nobody may write.
    const std::string user = as_nobody();
    if (user.empty()) return;
    ::chmod(db.c_str(), 0444);
    ::chmod(dir.c_str(), 0555);
    for (const std::string& args : readers) {
        Result r = quiesce::test::shell(user + QUIESCE_BIN + " " + args);
        INFO(args << "\n" << r.out);
        REQUIRE(r.status == 0);
        REQUIRE(r.out.find("not a quiesce trace database") == std::string::npos);
        REQUIRE_FALSE(side_files(db));
    }
    Result q = quiesce::test::shell(user + QUIESCE_BIN + " query " + db + " \"SELECT scenario FROM run\" --format list");
    REQUIRE(q.out == "scenario\ns3-basic\n");
    ::chmod(dir.c_str(), 0755);
    std::filesystem::remove_all(dir);
}

TEST_CASE("reliability: a write-ahead log on read-only storage without its -shm is named, not 'not a quiesce database'",
          "[reliability][readonly]") {
    const std::string dir = tmp_path("ro-wal"), db = dir + "/a.db", src = tmp_path("ro-wal-src.db");
    std::filesystem::create_directories(dir);
    REQUIRE(sh("run " + regression("s3-basic") + " --db " + src).status == 0);
    {  // What a writer killed with its log not yet checkpointed leaves: the database and its -wal.
        sqlite3* h = nullptr;
        REQUIRE(sqlite3_open(src.c_str(), &h) == SQLITE_OK);
        REQUIRE(sqlite3_exec(h, "UPDATE run SET message = 'from the log'", nullptr, nullptr, nullptr) == SQLITE_OK);
        std::filesystem::copy_file(src, db);
        std::filesystem::copy_file(src + "-wal", db + "-wal");
        sqlite3_close(h);
    }
    const std::string user = as_nobody();
    if (user.empty()) return;
    ::chmod(dir.c_str(), 0555);
    Result r = quiesce::test::shell(user + QUIESCE_BIN + " trace runs " + db);
    require_input_error(r, db + ": cannot read database: ");
    REQUIRE(r.out.find("-shm") != std::string::npos);
    REQUIRE_FALSE(std::filesystem::exists(db + "-shm"));
    // Where the log may be read, its content is.
    ::chmod(dir.c_str(), 0755);
    r = sh("query " + db + " \"SELECT message FROM run\" --format list");
    REQUIRE(r.out == "message\nfrom the log\n");
    std::filesystem::remove_all(dir);
    for (const char* side : {"", "-wal", "-shm"}) std::filesystem::remove(src + side);
}

TEST_CASE("reliability: query stops a statement that runs past --timeout, and says so", "[reliability][query]") {
    const std::string db = tmp_path("query-timeout.db");
    REQUIRE(sh("run " + regression("s3-basic") + " --db " + db).status == 0);
    const std::string forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)";
    // Counting forever, and rows forever: both stopped, one line naming the database and the limit.
    for (const char* select : {"SELECT count(*) FROM c", "SELECT x FROM c"}) {
        Result r = sh("query " + db + " \"" + forever + " " + select + "\" --timeout 0.2 --format list");
        require_input_error(r, db + ": query stopped at the --timeout of 0.2s");
        REQUIRE_FALSE(side_files(db));
    }
    // Bounded, it answers within the default limit.
    REQUIRE(sh("query " + db + " \"" + forever + " SELECT x FROM c LIMIT 3\" --format list").out == "x\n1\n2\n3\n");
    for (const char* bad : {"0", "-1", "nan", "inf", "5s"})
        require_input_error(sh("query " + db + " \"SELECT 1\" --timeout '" + bad + "'"), "--timeout");
    for (const char* side : {"", "-wal", "-shm"}) std::filesystem::remove(db + side);
}

TEST_CASE("reliability: a file the disk cannot take is exit 3, not bad input, and leaves nothing half-written",
          "[reliability][diskfull]") {
    const std::string dir = tmp_path("disk-full"), db = dir + "/a.db", out = dir + "/run.json";
    std::filesystem::create_directories(dir);
    REQUIRE(sh("run " + regression("s3-basic") + " --db " + db).status == 0);
    // A file-size limit (RLIMIT_FSIZE) makes write() fail with EFBIG as a
    // full disk fails with ENOSPC, without root or a small filesystem: 64
    // blocks of 512 bytes, what the reader's 32 KiB -shm needs, and less
    // than these exports. quiesce ignores SIGXFSZ itself: the shell's
    // default would have killed it mid-write, leaving what it wrote.
    const std::string limited = "ulimit -f 64; exec " + std::string(QUIESCE_BIN) + " ";
    for (const char* format : {"chrome", "html"}) {
        Result r = quiesce::test::shell(limited + "trace export " + db + " 1 --format " + format + " -o " + out);
        INFO(format << "\n" << r.out);
        REQUIRE(r.status == 3);
        REQUIRE(r.out == "quiesce: " + out + ": cannot write file: File too large\n");
        REQUIRE_FALSE(std::filesystem::exists(out));
        REQUIRE_FALSE(std::filesystem::exists(out + ".tmp"));
    }
    // Below what the -shm file needs (SQLite reads a write-ahead log
    // through it, and grows it to 32 KiB), a reader cannot open the
    // database at all: the machine's limit, exit 3 with its reason, not a
    // bad database (exit 2).
    const std::string tiny = "ulimit -f 16; exec " + std::string(QUIESCE_BIN) + " ";
    for (const std::string& command : {"trace runs " + db, "query " + db + " \"SELECT count(*) FROM run\""}) {
        Result r = quiesce::test::shell(tiny + command);
        INFO(command << "\n" << r.out);
        CHECK(r.status == 3);
        CHECK(r.out == "quiesce: " + db + ": cannot read database: disk I/O error (File too large)\n");
    }
    // Without the limit the same export is written whole.
    REQUIRE(sh("trace export " + db + " 1 -o " + out).status == 0);
    REQUIRE(std::filesystem::file_size(out) > 64 * 512);
    std::filesystem::remove_all(dir);
}

TEST_CASE("reliability: standard output the disk cannot take is exit 3, named", "[reliability][diskfull]") {
    const std::string dir = tmp_path("stdout-full"), db = dir + "/a.db";
    std::filesystem::create_directories(dir);
    REQUIRE(sh("run " + regression("s3-basic") + " --db " + db).status == 0);
    // /dev/full: every write fails with ENOSPC, as a full disk's would.
    for (const std::string& command :
         {"trace export " + db + " 1", "trace runs " + db, "query " + db + " \"SELECT * FROM run\"",
          "run " + regression("s3-basic") + " --db " + db}) {
        Result r = quiesce::test::shell("{ " + std::string(QUIESCE_BIN) + " " + command + " 2>&1 >/dev/full; }");
        INFO(command << "\n" << r.out);
        REQUIRE(r.status == 3);
        REQUIRE(r.out == "quiesce: standard output: cannot write: No space left on device\n");
    }
    // A run whose expectations failed keeps its status 1: the output error
    // is said, and the verdict stands.
    Result r = quiesce::test::shell("{ " + std::string(QUIESCE_BIN) + " run " + regression("s3-basic") +
                                    " --fault kind=callback-fail,phase=suspend,device=dma0 --db " + db +
                                    " 2>&1 >/dev/full; }");
    INFO(r.out);
    REQUIRE(r.status == 1);
    REQUIRE(r.out == "quiesce: standard output: cannot write: No space left on device\n");
    std::filesystem::remove_all(dir);
}

TEST_CASE("reliability: registers and run find the regression suite from any directory", "[reliability][datadir]") {
    const std::string dir = tmp_path("elsewhere");
    std::filesystem::create_directories(dir);
    const std::string here = "cd " + dir + " && " + std::string(QUIESCE_BIN) + " ";
    Result r = quiesce::test::shell(here + "registers");
    INFO(r.out.substr(0, 300));
    REQUIRE(r.status == 0);
    REQUIRE(r.out.find("| RING_BASE | 8 | `0x0` | driver |") != std::string::npos);
    // run without a path takes the regression suite; an --order no scenario
    // accepts stops it at the first one, after the suite was found (and
    // before anything runs or is written).
    r = quiesce::test::shell(here + "run --order nowhere");
    require_input_error(r, "--order");
    REQUIRE(r.out.find("no such file or directory") == std::string::npos);
    REQUIRE(std::filesystem::is_empty(dir));
    std::filesystem::remove_all(dir);
}

TEST_CASE("reliability: a trace database the disk cannot take is exit 3, and one it created is not left behind",
          "[reliability][diskfull]") {
    const std::string dir = tmp_path("disk-full-db"), db = dir + "/x.db";
    std::filesystem::create_directories(dir);
    // RLIMIT_FSIZE as above: 4 blocks stop the database's setup; 290 (its
    // write-ahead log takes some 105 KiB, s3-basic's run 80 KiB more) let
    // it and the campaign row through and stop the first run's transaction.
    auto limited = [](int blocks) {
        return "ulimit -f " + std::to_string(blocks) + "; exec " + std::string(QUIESCE_BIN) + " ";
    };
    auto nothing_left = [&] {
        for (const char* side : {"", "-wal", "-shm", "-journal"}) REQUIRE_FALSE(std::filesystem::exists(db + side));
    };
    for (int blocks : {4, 290}) {
        Result r = quiesce::test::shell(limited(blocks) + "run " + regression("s3-basic") + " --db " + db);
        INFO(blocks << " blocks\n" << r.out);
        REQUIRE(r.status == 3);
        const size_t last = r.out.rfind("quiesce: ");
        REQUIRE(last != std::string::npos);
        REQUIRE(r.out.find('\n', last) == r.out.size() - 1);  // one line
        REQUIRE(r.out.substr(last).rfind("quiesce: " + db + ": database error: disk I/O error", 0) == 0);
        REQUIRE(r.out.find("PASS") == std::string::npos);  // nothing recorded ...
        nothing_left();                                    // ... and no database left
    }
    // A database that was there stays, with what it held: an empty file ...
    { std::ofstream touch(db); }
    REQUIRE(quiesce::test::shell(limited(4) + "run " + regression("s3-basic") + " --db " + db).status == 3);
    REQUIRE(std::filesystem::exists(db));
    std::filesystem::remove(db);
    // ... and one with a run (4 blocks stop its first read, which sizes the
    // -shm file; 150 the new campaign's run).
    REQUIRE(sh("run " + regression("s3-basic") + " --db " + db).status == 0);
    for (int blocks : {4, 150}) {
        Result r = quiesce::test::shell(limited(blocks) + "run " + regression("s3-basic") + " --db " + db);
        INFO(blocks << " blocks\n" << r.out);
        REQUIRE(r.status == 3);
        REQUIRE(r.out.find("not a quiesce trace database") == std::string::npos);
        REQUIRE(sh("query " + db + " \"PRAGMA integrity_check\" --format list").out == "integrity_check\nok\n");
        REQUIRE(sh("query " + db + " \"SELECT count(*) FROM run\" --format list").out == "count(*)\n1\n");
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("reliability: query refuses a result too large to hold, and says so", "[reliability][query]") {
    const std::string db = tmp_path("query-large.db");
    REQUIRE(sh("run " + regression("s3-basic") + " --db " + db).status == 0);
    const std::string rows = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 8000)";
    // 8000 rows of 10,000 characters, 80 MB, in every format; and a table
    // whose one wide cell pads 40 rows to 80 MB.
    for (const char* format : {"table", "list", "csv", "json"}) {
        Result r = sh("query " + db + " \"" + rows + " SELECT x, hex(zeroblob(5000)) FROM c\" --format " + format);
        INFO(format);
        require_input_error(r, db + ": the result is over 64 MiB (");
        REQUIRE(r.out.find("bound it with LIMIT") != std::string::npos);
    }
    Result r = sh("query " + db + " \"" + rows +
                  " SELECT CASE x WHEN 1 THEN hex(zeroblob(1000000)) END, x FROM c LIMIT 40\"");
    require_input_error(r, db + ": the result is over 64 MiB (");
    // One row holding a value over the limit, too.
    r = sh("query " + db + " \"SELECT hex(zeroblob(40000000))\" --format list");
    REQUIRE(r.status == 2);
    REQUIRE(r.out.find('\n') == r.out.size() - 1);
    // What fits is printed.
    REQUIRE(sh("query " + db + " \"" + rows + " SELECT count(*) FROM c\" --format list").out == "count(*)\n8000\n");
    for (const char* side : {"", "-wal", "-shm"}) std::filesystem::remove(db + side);
}

namespace {
// A device file of one register A (4 bytes at 0) with `extra` in [device]
// and `reg` in its [[register]], then `tail`: the error read_device_file
// gives, without the file's name ("loaded" when it loads).
std::string device_file_error(const std::string& extra, const std::string& reg, const std::string& tail = "") {
    TempFile f("[device]\nname = \"tdev\"\n" + extra + "[[register]]\nname = \"A\"\noffset = 0\n" + reg + tail);
    try {
        quiesce::read_device_file(f.path());
    } catch (const quiesce::InputError& e) {
        const std::string w = e.what();
        return w.rfind(f.path(), 0) == 0 ? w.substr(f.path().size()) : w;
    }
    return "loaded";
}
}  // namespace

TEST_CASE("reliability: a device file's bit field beyond the register's bits names its key", "[reliability][device]") {
    // "msb:lsb" where msb - lsb + 1 or lsb + width wrapped around 2^32
    // loaded: a field of no bits, or one at bit 4294967295 (a shift past 64
    // bits when its mask is taken).
    for (const char* bits : {"4294967295:4294967295", "4294967295:0", "4294967296:1"}) {
        INFO(bits);
        REQUIRE(device_file_error("", std::string("fields = { X = \"") + bits + "\" }\n") ==
                ":6:16: register[0].fields.X: beyond the register's 32 bits");
    }
    // Only digits: sscanf's sign, space and trailing text were taken.
    for (const char* bits : {"-1:0", "3:+0", " 3:0", "3:0x", "3 : 0", "3:"}) {
        INFO(bits);
        REQUIRE(device_file_error("", std::string("fields = { X = \"") + bits + "\" }\n") ==
                ":6:16: register[0].fields.X: expected a bit number or \"msb:lsb\"");
    }
    // A negative bit number was taken as bit 0.
    REQUIRE(device_file_error("", "fields = { X = -1 }\n") ==
            ":6:16: register[0].fields.X: expected a bit number or \"msb:lsb\"");
    REQUIRE(device_file_error("", "fields = { X = 32 }\n") == ":6:16: register[0].fields.X: beyond the register's 32 bits");
    REQUIRE(device_file_error("", "fields = { X = \"31:0\", Y = 31 }\n") == "loaded");
}

TEST_CASE("reliability: a device file's sizes are checked before they are narrowed", "[reliability][device]") {
    // 4 GiB + 16 bytes was taken as a 16-byte BAR, 4 GiB + 8 as an 8-byte
    // firmware image.
    REQUIRE(device_file_error("bar = \"4294967312B\"\n", "") ==
            ":3:7: device.bar: must be a power of two from 16B to 256MiB");
    REQUIRE(device_file_error("", "fields = { L = 0 }\n",
                              "[firmware]\nname = \"f.bin\"\nsize = \"4294967304B\"\naddr = \"A\"\nlength = \"A\"\n"
                              "load = \"A.L\"\nready = \"A.L\"\nerror = \"A.L\"\n") ==
            ":9:8: firmware.size: must be 8B to 16MiB, a multiple of 8");
    REQUIRE(device_file_error("bar = \"256MiB\"\n", "") == "loaded");
}

namespace {
std::string slurp_file(const std::string& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
// `text` with its first `from` replaced by `to` (which must be there).
std::string edited(std::string text, const std::string& from, const std::string& to) {
    const size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}
}  // namespace

TEST_CASE("reliability: a described device whose probe failed fails the workload instead of crashing the run",
          "[reliability][device]") {
    // pc-gpu and qgpu, copied next to the scenario, with qgpu made to fail
    // its probe: the firmware takes longer than the driver waits (100 ms),
    // or no device answers (the first register reads all ones). The
    // workload's engine command then divided by the ring size the probe
    // never set up (0): SIGFPE, the run recorded as crashed.
    const std::string data = QUIESCE_DATA_DIR;
    const std::string qgpu = slurp_file(data + "/devices/qgpu.toml");
    for (const auto& [what, device] :
         {std::pair<std::string, std::string>{"firmware late", edited(qgpu, "latency = \"1ms\"", "latency = \"200ms\"")},
          {"no device", edited(qgpu, "reset = 0x31555047", "reset = 0xffffffff")}}) {
        INFO(what);
        TempTree t;
        std::filesystem::create_directories(t.dir() + "/devices");
        t.write("platforms/p.toml", edited(slurp_file(data + "/platforms/pc-gpu.toml"), "name = \"pc-gpu\"", "name = \"p\""));
        t.write("devices/qgpu.toml", device);
        const std::string s = t.write("s.toml", scenario_on("p", "linux-s3"));
        REQUIRE(sh("validate " + s).status == 0);
        const std::string db = t.dir() + "/out.db";
        Result r = sh("run " + s + " --db " + db);
        INFO(r.out);
        REQUIRE(r.status == 1);
        REQUIRE(r.out.find("crashed") == std::string::npos);
        // The run went on to its end (the function whose probe failed is
        // unbound for PM: the PCI core alone suspends and resumes it); the
        // workload says why it failed.
        REQUIRE(r.out.find("FAIL    s ") != std::string::npos);
        Result w = sh("query " + db + " \"SELECT args FROM slice WHERE name = 'workload before'\" --format list");
        REQUIRE(w.out.find("gpu0: engine command before failed with errno 19") != std::string::npos);
    }
}

TEST_CASE("reliability: explore --out refuses a folder whose local file a reproducer would load instead", "[reliability][explore]") {
    TempTree t;
    t.write("platforms/two.toml", kTwoEngines);
    const std::string s = t.write("s.toml", scenario_on("two", "linux-s3"));
    const std::string out = t.dir() + "/out", db = t.dir() + "/x.db";
    std::filesystem::create_directories(out + "/platforms");
    // Another "two" there (a folder of the user's own): it stays, nothing runs.
    const std::string theirs = kTwoEngines + "# theirs\n";
    std::ofstream(out + "/platforms/two.toml") << theirs;
    Result r = sh("explore " + s + " --kinds callback-fail --out " + out + " --db " + db);
    require_input_error(r, out + "/platforms/two.toml: --out: already there, and not a copy of " + t.dir() +
                               "/platforms/two.toml: the reproducers beside it would load it instead");
    CHECK(file_bytes(out + "/platforms/two.toml") == theirs);
    CHECK_FALSE(std::filesystem::exists(db));
    r = sh("explore " + s + " --mutate dma-engine --out " + out + " --db " + db);
    require_input_error(r, out + "/platforms/two.toml: --out: already there");
    CHECK_FALSE(std::filesystem::exists(db));
    // The same file there (an --out used before): on it goes.
    std::ofstream(out + "/platforms/two.toml") << kTwoEngines;
    r = sh("explore " + s + " --kinds callback-fail --out " + out + " --db " + db);
    INFO(r.out);
    CHECK((r.status == 0 || r.status == 1));
    CHECK(file_bytes(out + "/platforms/two.toml") == kTwoEngines);
}

TEST_CASE("reliability: a merge killed half-way leaves no partial OUT, and the same merge then works", "[reliability][merge]") {
    const std::string in = tmp_path("kmerge-in.db"), out = tmp_path("kmerge-out.db");
    REQUIRE(sh("explore " + regression("s3-basic") + " -j 2 --db " + in).status == 1);
    const std::string runs = sh("query " + in + " \"SELECT count(*) FROM run\" --format list").out;
    int killed = 0;
    for (int delay_ms : {0, 5, 10, 20, 40, 80, 160}) {
        INFO("killed after " << delay_ms << " ms");
        for (const char* side : {"", "-wal", "-shm", ".merging"}) std::filesystem::remove(out + side);
        const pid_t pid = quiesce::test::spawn({"merge", out, in});
        ::usleep(useconds_t(delay_ms) * 1000);
        ::kill(pid, SIGKILL);
        int status = 0;
        REQUIRE(::waitpid(pid, &status, 0) == pid);
        killed += WIFSIGNALED(status);
        // OUT is whole, or not there.
        if (std::filesystem::exists(out))
            CHECK(sh("query " + out + " \"SELECT count(*) FROM run\" --format list").out == runs);
        // The same merge again: a .merging file left behind is replaced.
        if (!std::filesystem::exists(out)) {
            REQUIRE(sh("merge " + out + " " + in).status == 0);
            CHECK(sh("query " + out + " \"SELECT count(*) FROM run\" --format list").out == runs);
            CHECK_FALSE(std::filesystem::exists(out + ".merging"));
        }
    }
    CHECK(killed > 0);
    for (const char* side : {"", "-wal", "-shm", ".merging"}) std::filesystem::remove(out + side);
}
