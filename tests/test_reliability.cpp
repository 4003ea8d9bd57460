// Hostile input (issue 19): every subcommand turns OS and filesystem errors,
// and input the models cannot represent, into input errors - exit 2, one
// line naming the file or the option, nothing written - and never aborts.
#include "cli.h"
#include "tmpfile.h"

#include "sim/core/paths.h"

#include <sys/stat.h>
#include <unistd.h>

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
