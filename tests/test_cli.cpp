// The quiesce executable as CI owners and trace users call it.
#include "cli.h"
#include "tmpfile.h"

#include "sim/cli/terminal.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <algorithm>
#include <string>
#include <vector>

using quiesce::test::TempFile;

using quiesce::test::regression;
using quiesce::test::sh;
using quiesce::test::shell;
using quiesce::test::tmp_path;
using Result = quiesce::test::Cli;

TEST_CASE("cli: run prints a line per scenario, a summary, and writes db and JUnit", "[cli]") {
    std::string db = tmp_path("run.db"), junit = tmp_path("run.xml");
    Result r = sh("run " + regression("s3-basic") + " " + regression("pci-bar-restore-legacy") + " --db " + db +
                  " --junit " + junit);
    REQUIRE(r.status == 0);
    REQUIRE(r.out.find("trace database: " + db) != std::string::npos);
    REQUIRE(r.out.find("PASS    s3-basic") != std::string::npos);
    REQUIRE(r.out.find("found the expected hwstate.not-restored") != std::string::npos);
    REQUIRE(r.out.find("\n2 passed, 0 failed\n") != std::string::npos);
    std::ifstream x(junit);
    std::string xml((std::istreambuf_iterator<char>(x)), std::istreambuf_iterator<char>());
    REQUIRE(xml.find("<testsuites name=\"quiesce\" tests=\"2\" failures=\"0\" errors=\"0\"") != std::string::npos);
    REQUIRE(xml.find("<testsuite name=\"regression\" tests=\"2\" failures=\"0\" errors=\"0\"") != std::string::npos);
    REQUIRE(xml.find("\nwall_sim_ratio=") != std::string::npos);
    REQUIRE(xml.find("classname=\"regression\" name=\"s3-basic\"") != std::string::npos);
    REQUIRE(xml.find("\nrandom_seed=1\n") != std::string::npos);

    Result q = sh("query " + db + " \"SELECT scenario, status FROM run ORDER BY id\"" + " --format list");
    REQUIRE(q.status == 0);
    REQUIRE(q.out == "scenario|status\ns3-basic|passed\npci-bar-restore-legacy|passed\n");
    q = sh("query " + db + " \"SELECT invariant, component FROM violation WHERE run_id = 2 ORDER BY id LIMIT 1\"" + " --format list");
    REQUIRE(q.out == "invariant|component\nhwstate.not-restored|dma0\n");
    // The phases are slices with cycles, nested under the transition.
    q = sh("query " + db + " \"SELECT count(*) FROM slice WHERE run_id = 1 AND category = 'phase' AND depth = 1\"" + " --format list");
    REQUIRE(q.out == "count(*)\n30\n");
    std::filesystem::remove(db);
    std::filesystem::remove(junit);
}

TEST_CASE("cli: a failing expectation makes the exit status 1 and the JUnit a failure", "[cli]") {
    std::string text = "[platform]\nname = \"pc-basic\"\n[protocol]\nname = \"linux-s3\"\n"
                       "[drivers.dma0]\nlegacy_pm = true\n[[drivers.dma0.patch]]\ncallback = \"suspend_noirq\"\n"
                       "append = [{ op = \"pci-set-power\", state = \"D3hot\" }, { op = \"write\", reg = \"CTRL\", value = 0 }]\n"
                       "[expect]\nresult = \"pass\"\n";
    TempFile f(text);
    std::string db = tmp_path("fail.db"), junit = tmp_path("fail.xml");
    Result r = sh("run " + f.path() + " --db " + db + " --junit " + junit);
    REQUIRE(r.status == 1);
    REQUIRE(r.out.find("FAIL") != std::string::npos);
    REQUIRE(r.out.find("io.suspended-device") != std::string::npos);
    REQUIRE(r.out.find("0 passed, 1 failed") != std::string::npos);
    std::ifstream x(junit);
    std::string xml((std::istreambuf_iterator<char>(x)), std::istreambuf_iterator<char>());
    REQUIRE(xml.find("<failure message=\"expected pass, got") != std::string::npos);
    // The failure text names the invariant, the phase and the device.
    REQUIRE(xml.find("first: io.suspended-device in suspend_noirq at dma0: ") != std::string::npos);
    std::filesystem::remove(db);
    std::filesystem::remove(junit);
}

TEST_CASE("cli: bad input exits 2 with one line and writes nothing", "[cli]") {
    TempFile bad("[platform]\nname = \"pc-basic\"\ncpus = \"two\"\n");
    std::string db = tmp_path("bad.db");
    Result r = sh("run " + regression("s3-basic") + " " + bad.path() + " --db " + db);
    REQUIRE(r.status == 2);
    REQUIRE(r.out == "quiesce: " + bad.path() + ":3:8: platform.cpus: expected an integer\n");
    REQUIRE_FALSE(std::filesystem::exists(db));

    r = sh("validate " + bad.path());
    REQUIRE(r.status == 2);
    r = sh("validate " + regression("s3-basic"));
    REQUIRE(r.status == 0);
    REQUIRE(r.out == "ok: " + regression("s3-basic") + "\n");
    r = sh("run --sed 3");
    REQUIRE(r.status == 2);
    REQUIRE(r.out.find("quiesce: ") == 0);
    r = sh("run /no/such/dir");
    REQUIRE(r.status == 2);
    REQUIRE(r.out == "quiesce: /no/such/dir: no such file or directory\n");
    // An option with a short name is named by both, as either may have been typed.
    r = sh("run " + regression("s3-basic") + " -j 0 --db " + db);
    REQUIRE(r.status == 2);
    REQUIRE(r.out == "quiesce: -j/--jobs: must be 1 to 256, got '0' (see quiesce run --help)\n");
    REQUIRE_FALSE(std::filesystem::exists(db));
}

TEST_CASE("cli: validate checks protocol, platform and device files as their own kind", "[cli]") {
    const std::string data = QUIESCE_DATA_DIR;
    for (const std::string& f : {data + "/protocols/linux-s3.toml", data + "/platforms/pc-basic.toml",
                                 data + "/devices/qgpu.toml"}) {
        Result r = sh("validate " + f);
        INFO(r.out);
        CHECK(r.status == 0);
        CHECK(r.out == "ok: " + f + "\n");  // not "platform: is required", as for a scenario
    }
    // Broken, each names its own key.
    TempFile protocol("name = \"p\"\ntarget = \"S3\"\n[[suspend]]\nname = \"sync\"\naction = \"dance\"\n");
    Result r = sh("validate " + protocol.path());
    INFO(r.out);
    CHECK(r.status == 2);
    CHECK(r.out.rfind("quiesce: " + protocol.path() + ":1:1: resume: is required", 0) == 0);
    TempFile platform("name = \"p\"\ncpus = \"two\"\n");
    r = sh("validate " + platform.path());
    INFO(r.out);
    CHECK(r.status == 2);
    CHECK(r.out.rfind("quiesce: " + platform.path() + ":2:8: cpus: ", 0) == 0);
}

TEST_CASE("cli: validate reports every bad argument - files and empty folders and missing paths alike", "[cli]") {
    TempFile bad1("[platform]\nname = \"pc-basic\"\ncpus = \"two\"\n");
    TempFile bad2("[platform]\nname = \"pc-basic\"\ncpus = \"three\"\n");
    const std::string empty = tmp_path("validate-empty"), missing = tmp_path("validate-missing.toml");
    std::filesystem::create_directory(empty);
    const std::string good = regression("s3-basic");
    Result r = sh("validate " + bad1.path() + " " + empty + " " + good + " " + missing + " " + bad2.path());
    INFO(r.out);
    CHECK(r.status == 2);
    // One line each, in the order given: none hides the others.
    std::vector<std::string> lines;
    std::istringstream in(r.out);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    REQUIRE(lines.size() == 5);
    CHECK(lines[0].rfind("quiesce: " + bad1.path() + ":3:8: ", 0) == 0);
    CHECK(lines[1].rfind("quiesce: " + empty + ": no scenario files", 0) == 0);
    CHECK(lines[2] == "ok: " + good);
    CHECK(lines[3].rfind("quiesce: " + missing + ": no such file or directory", 0) == 0);
    CHECK(lines[4].rfind("quiesce: " + bad2.path() + ":3:8: ", 0) == 0);
}

TEST_CASE("cli: a path that is no file or directory, and durations out of range, say so", "[cli]") {
    // /dev/zero exists: it is a character device, not a missing file (run
    // and validate said "no such file or directory"; explore, graph and
    // registers read it for ever).
    std::string db = tmp_path("not-a-file.db");
    for (const char* cmd : {"validate /dev/zero", "run /dev/zero --db", "explore /dev/zero --db", "graph /dev/zero",
                            "registers /dev/zero"}) {
        const std::string args = std::string(cmd) + (std::string(cmd).back() == 'b' ? " " + db : "");
        Result r = shell("timeout 60 " + std::string(QUIESCE_BIN) + " " + args);
        INFO(args);
        REQUIRE(r.status == 2);
        REQUIRE(r.out == "quiesce: /dev/zero: a character device, not a file to read\n");
        REQUIRE_FALSE(std::filesystem::exists(db));
    }
    // "1e300s" was read as 1 with the unit "e300s" ("needs a unit"); a
    // number of 5,000 digits aborted validate (std::out_of_range from
    // stold); one of 301 was echoed whole with "is out of range".
    const std::string head = "[platform]\nname = \"pc-basic\"\n[protocol]\nname = \"linux-s3\"\n[limits]\ncallback = \"";
    const std::string zeros300(300, '0'), zeros5000(5000, '0');
    for (const auto& [value, reason] : std::vector<std::pair<std::string, std::string>>{
             {"1e300s", "'1e300s' has an exponent: write the number in digits, then its unit"},
             {"2.5E-3s", "'2.5E-3s' has an exponent: write the number in digits, then its unit"},
             {"1" + zeros300 + "s", "'100000000000000000000000...' (302 characters) is out of range: a duration is at "
                                    "most 18000000s (about 208 days)"},
             {"1" + zeros5000 + "s", "'100000000000000000000000...' (5002 characters) is out of range: a duration is "
                                     "at most 18000000s (about 208 days)"},
             {"18000001s", "'18000001s' is out of range: a duration is at most 18000000s (about 208 days)"}}) {
        TempFile f(head + value + "\"\n[expect]\nresult = \"pass\"\n");
        Result r = sh("validate " + f.path());
        INFO(value.substr(0, 20));
        REQUIRE(r.status == 2);
        REQUIRE(r.out == "quiesce: " + f.path() + ":6:12: limits.callback: " + reason + "\n");
    }
    TempFile most(head + "18000000s\"\n[expect]\nresult = \"pass\"\n");
    REQUIRE(sh("validate " + most.path()).status == 0);
}

TEST_CASE("cli: query opens read-only and refuses writes", "[cli][trace]") {
    std::string db = tmp_path("ro.db");
    REQUIRE(sh("run " + regression("s3-basic") + " --db " + db).status == 0);
    Result r = sh("query " + db + " \"DELETE FROM run\"");
    REQUIRE(r.status == 2);
    REQUIRE(r.out.find("read-only") != std::string::npos);
    r = sh("query " + db + " \"SELECT count(*) FROM run\"" + " --format list");
    REQUIRE(r.out == "count(*)\n1\n");
    r = sh("query " + db + " \"SELEC 1\"");
    REQUIRE(r.status == 2);
    r = sh("query " + db + " \"ATTACH '" + db + "-other' AS o\"");
    REQUIRE(r.status == 2);
    REQUIRE(r.out == "quiesce: query: refused: ATTACH opens another database; quiesce query reads this one only\n");
    REQUIRE_FALSE(std::filesystem::exists(db + "-other"));
    TempFile notdb("just text", ".db");
    r = sh("query " + notdb.path() + " \"SELECT 1\"");
    REQUIRE(r.status == 2);
    std::filesystem::remove(db);
}

TEST_CASE("cli: --seed overrides every scenario's seed", "[cli]") {
    std::string db = tmp_path("seed.db");
    REQUIRE(sh("run " + regression("s3-basic") + " --seed 42 --db " + db).status == 0);
    Result q = sh("query " + db + " \"SELECT seed FROM run\"" + " --format list");
    REQUIRE(q.out == "seed\n42\n");
    std::filesystem::remove(db);
}

TEST_CASE("cli: run ids and seeds are decimal: a leading zero is no octal prefix and too large is an error", "[cli]") {
    std::string db = tmp_path("decimal.db");
    REQUIRE(sh("run " + regression("s3-basic") + " --seed 010 --db " + db).status == 0);
    REQUIRE(sh("query " + db + " \"SELECT seed FROM run\" --format list").out == "seed\n10\n");
    REQUIRE(sh("trace show " + db + " 01").status == 0);  // run 1, the only one
    Result r = sh("trace show " + db + " 010");  // run 10, not run 8
    REQUIRE(r.status == 2);
    REQUIRE(r.out.find("no run 10\n") != std::string::npos);
    for (const std::string& cmd : {"replay " + db + " 99999999999999999999", "trace show " + db + " 0",
                                   "trace diff " + db + " 0x1 1"}) {
        r = sh(cmd);
        INFO(cmd << ": " << r.out);
        REQUIRE(r.status == 2);
        REQUIRE(r.out.find("a run id is a whole number from 1 to 9223372036854775807, got '") != std::string::npos);
        REQUIRE(std::count(r.out.begin(), r.out.end(), '\n') == 1);
    }
    std::filesystem::remove(db);
}

TEST_CASE("cli: graph prints the device graph as DOT", "[cli]") {
    Result r = sh("graph " + regression("s3-basic"));
    REQUIRE(r.status == 0);
    REQUIRE(r.out.find("suspend order: dma1 dma0 rp0 pci0") != std::string::npos);
    REQUIRE(r.out.find("digraph G {") != std::string::npos);
    REQUIRE(r.out.find("label=\"dma0\"") != std::string::npos);
}

TEST_CASE("cli: docs/registers.md and docs/registers-pc-usb.md are what the register banks generate", "[cli][docs]") {
    Result r = sh("registers " + regression("s3-storage"));
    REQUIRE(r.status == 0);
    std::ifstream in(std::string(QUIESCE_DATA_DIR) + "/../docs/registers.md");
    std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Regenerate with: build/quiesce registers > docs/registers.md
    REQUIRE(r.out == doc);
    REQUIRE(doc.find("| RING_BASE | 8 | `0x0` | driver |") != std::string::npos);
    REQUIRE(doc.find("| PxCLB | 4 | `0x0` | driver |") != std::string::npos);
    REQUIRE(doc.find("| sda | honours_flush | `true` |") != std::string::npos);
    // The xHCI controller is on pc-usb.
    r = sh("registers " + regression("s3-xhci"));
    REQUIRE(r.status == 0);
    std::ifstream usb(std::string(QUIESCE_DATA_DIR) + "/../docs/registers-pc-usb.md");
    std::string usb_doc((std::istreambuf_iterator<char>(usb)), std::istreambuf_iterator<char>());
    // Regenerate with: build/quiesce registers scenarios/regression/s3-xhci.toml > docs/registers-pc-usb.md
    REQUIRE(r.out == usb_doc);
    REQUIRE(usb_doc.find("| CRCR | 8 | `0x0` | driver |") != std::string::npos);
}

TEST_CASE("cli: property overrides are checked against the built platform", "[cli][properties]") {
    std::string head = "[platform]\nname = \"pc-basic\"\n[protocol]\nname = \"linux-s3\"\n[properties]\n";
    TempFile unknown(head + "\"dma0.core.beats\" = 8\n[expect]\nresult = \"pass\"\n");
    Result r = sh("validate " + unknown.path());
    REQUIRE(r.status == 2);
    REQUIRE(r.out == "quiesce: " + unknown.path() +
                         ":6:1: properties.dma0.core.beats: 'dma0.core' has no property 'beats' (it has: beat_cycles, flush_cycles)\n");
    TempFile typed(head + "\"cpu0.offline_cycles\" = \"fast\"\n[expect]\nresult = \"pass\"\n");
    r = sh("run " + typed.path() + " --db " + tmp_path("never.db"));
    REQUIRE(r.status == 2);
    REQUIRE(r.out.find(":6:1: properties.cpu0.offline_cycles: expected an integer") != std::string::npos);
    REQUIRE_FALSE(std::filesystem::exists(tmp_path("never.db")));
    TempFile nobody(head + "\"usb0.ports\" = 4\n[expect]\nresult = \"pass\"\n");
    r = sh("validate " + nobody.path());
    REQUIRE(r.out.find("properties.usb0.ports: no component 'usb0'") != std::string::npos);
}

TEST_CASE("cli: platforms built together say each error as one built alone", "[cli][properties]") {
    // validate and run build every scenario's platform in one child, in turn:
    // the errors are the files' own, in their order, as preflight() alone
    // says them, and a platform after a bad one is still checked.
    std::string head = "[platform]\nname = \"pc-basic\"\n[protocol]\nname = \"linux-s3\"\n[properties]\n";
    TempFile beats(head + "\"dma0.core.beats\" = 8\n[expect]\nresult = \"pass\"\n");
    TempFile usb(head + "\"usb0.ports\" = 4\n[expect]\nresult = \"pass\"\n");
    TempFile unloadable("[platform]\nname = 7\n");
    const std::string good = regression("s3-basic"), other = regression("s3-storage");
    Result r = sh("validate " + good + " " + beats.path() + " " + other + " " + usb.path() + " " + good);
    REQUIRE(r.status == 2);
    const std::string beats_error = "quiesce: " + beats.path() +
                                    ":6:1: properties.dma0.core.beats: 'dma0.core' has no property 'beats' (it has: "
                                    "beat_cycles, flush_cycles)\n";
    const std::string usb_error = "quiesce: " + usb.path() + ":6:1: properties.usb0.ports: no component 'usb0'\n";
    CHECK(r.out == "ok: " + good + "\n" + beats_error + "ok: " + other + "\n" + usb_error + "ok: " + good + "\n");
    CHECK(sh("validate " + beats.path()).out == beats_error);
    CHECK(sh("validate " + usb.path()).out == usb_error);
    // run: the first error in the files' order, loading or building.
    const std::string db = tmp_path("together.db");
    r = sh("run " + good + " " + other + " " + usb.path() + " " + unloadable.path() + " --db " + db);
    CHECK(r.out == usb_error);
    r = sh("run " + good + " " + unloadable.path() + " " + usb.path() + " --db " + db);
    CHECK(r.status == 2);
    CHECK(r.out.find("quiesce: " + unloadable.path() + ":2:8: platform.name: ") == 0);
    CHECK_FALSE(std::filesystem::exists(db));
}

TEST_CASE("cli: query prints an aligned table, CSV or JSON, and the views answer", "[cli][trace]") {
    std::string db = tmp_path("formats.db");
    REQUIRE(sh("run " + regression("pci-bar-restore-legacy") + " --db " + db).status == 0);
    Result r = sh("query " + db + " \"SELECT id, scenario, status FROM run\"");
    REQUIRE(r.status == 0);
    REQUIRE(r.out ==
            "id  scenario                status\n"
            "--  ----------------------  ------\n"
            "1   pci-bar-restore-legacy  passed\n"
            "(1 row)\n");
    r = sh("query " + db + " \"SELECT scenario, message FROM run\" --format csv");
    REQUIRE(r.out == "scenario,message\r\npci-bar-restore-legacy,found the expected hwstate.not-restored\r\n");
    r = sh("query " + db + " \"SELECT id, seed, scenario FROM run\" --format json");
    REQUIRE(r.out == "[\n  {\n    \"id\": 1,\n    \"seed\": 2,\n    \"scenario\": \"pci-bar-restore-legacy\"\n  }\n]\n");
    // The keys in select order, the values' types kept.
    r = sh("query " + db + " \"SELECT status AS z, id AS a, NULL AS n, 0.5 AS m FROM run\" --format json");
    REQUIRE(r.out == "[\n  {\n    \"z\": \"passed\",\n    \"a\": 1,\n    \"n\": null,\n    \"m\": 0.5\n  }\n]\n");
    // No column lost: one whose name an earlier column's key has is NAME:N, N its 1-based position.
    r = sh("query " + db + " \"SELECT a.id, b.id, 'x' AS 'id:2', b.seed FROM run a JOIN run b ON b.id = a.id\" --format json");
    REQUIRE(r.out == "[\n  {\n    \"id\": 1,\n    \"id:2\": 1,\n    \"id:2:3\": \"x\",\n    \"seed\": 2\n  }\n]\n");
    r = sh("query " + db + " \"SELECT count(*) FROM phases WHERE run_id = 1\" --format list");
    REQUIRE(r.out == "count(*)\n30\n");
    r = sh("query " + db + " \"SELECT device, callback, rc FROM callbacks WHERE phase = 'suspend_noirq' ORDER BY ts\" --format list");
    REQUIRE(r.out == "device|callback|rc\ndma1|suspend_noirq|0\ndma0|suspend_noirq|0\nrp0|suspend_noirq|0\npci0|suspend_noirq|0\n");
    r = sh("query " + db + " \"SELECT invariant, faults_before FROM violations LIMIT 1\" --format list");
    REQUIRE(r.out == "invariant|faults_before\nhwstate.not-restored|\n");
    r = sh("query " + db + " \"SELECT count(*) > 0 FROM power_changes WHERE change = 'power-off'\" --format list");
    REQUIRE(r.out == "count(*) > 0\n1\n");
    r = sh("query " + db + " \"SELECT 1\" --format xml");
    REQUIRE(r.status == 2);
    std::filesystem::remove(db);
}

TEST_CASE("cli: query prints a blob as x'..' and text whole and invalid UTF-8 in JSON and line breaks in a table",
          "[cli][trace]") {
    std::string db = tmp_path("blobs.db");
    REQUIRE(sh("run " + regression("pci-bar-restore-legacy") + " --db " + db).status == 0);
    // A BLOB's bytes are anything, NUL and 0xff too: as SQL writes one (they were cut at the first NUL).
    Result r = sh("query " + db + " \"SELECT x'41004243' AS b, x'00ff' AS c, x'' AS e\" --format csv");
    CHECK(r.status == 0);
    CHECK(r.out == "b,c,e\r\nx'41004243',x'00ff',x''\r\n");
    r = sh("query " + db + " \"SELECT x'00ff' AS c\" --format json");
    CHECK(r.out == "[\n  {\n    \"c\": \"x'00ff'\"\n  }\n]\n");
    // Text that is not UTF-8 (a hand-edited cell): JSON says U+FFFD for it (it aborted: exit 134).
    r = sh("query " + db + " \"SELECT CAST(x'41ff42' AS TEXT) AS t\" --format json");
    INFO(r.out);
    CHECK(r.status == 0);
    CHECK(r.out == "[\n  {\n    \"t\": \"A\xef\xbf\xbd" "B\"\n  }\n]\n");
    // A cell holding a line break keeps the aligned table a row a line (as \n); list keeps it as it is.
    r = sh("query " + db + " \"SELECT 'a' || char(10) || 'b' AS t, 1 AS n\"");
    CHECK(r.out == "t     n\n----  -\na\\nb  1\n(1 row)\n");
    r = sh("query " + db + " \"SELECT 'a' || char(10) || 'b' AS t\" --format list");
    CHECK(r.out == "t\na\nb\n");
}

TEST_CASE("cli: -j runs scenarios in parallel with the same lines, order and digests", "[cli]") {
    std::string dir = std::string(QUIESCE_DATA_DIR) + "/regression/";
    std::string set = dir + "s3-basic.toml " + dir + "s3-storage.toml " + dir + "s4-storage.toml " + dir +
                      "s3-callback-hang.toml " + dir + "pci-bar-restore-legacy.toml";
    std::string db1 = tmp_path("j1.db"), db2 = tmp_path("j2.db");
    Result one = sh("run " + set + " --db " + db1), two = sh("run -j 3 " + set + " --db " + db2);
    REQUIRE(one.status == 0);
    REQUIRE(two.status == 0);
    // The same lines but the wall times and the database name.
    auto strip = [](const std::string& out) {
        std::string kept;
        std::istringstream in(out);
        std::string line;
        while (std::getline(in, line))
            if (line.rfind("trace database:", 0) != 0) kept += line.substr(0, 70) + "\n";
        return kept;
    };
    CHECK(strip(one.out) == strip(two.out));
    std::string q = " \"SELECT scenario, digest FROM run ORDER BY id\" --format list";
    CHECK(sh("query " + db1 + q).out == sh("query " + db2 + q).out);
    // A pipe gets no progress line.
    CHECK(one.out.find('\r') == std::string::npos);
    std::filesystem::remove(db1);
    std::filesystem::remove(db2);
}

TEST_CASE("cli: a terminal gets a progress line under the results", "[cli]") {
    std::string db = tmp_path("tty.db");
    // script(1) gives the run a pseudo-terminal.
    Result r = shell("script -qec '" + std::string(QUIESCE_BIN) + " run " + regression("s3-basic") + " " +
                     regression("s3-storage") + " --db " + db + "' /dev/null");
    INFO(r.out);
    CHECK(r.out.find("\r\033[K[0/2] 0 passed, 0 failed, running s3-basic") != std::string::npos);
    CHECK(r.out.find("\r\033[K[1/2] 1 passed, 0 failed, running s3-storage") != std::string::npos);
    CHECK(r.out.find("2 passed, 0 failed") != std::string::npos);
    std::filesystem::remove(db);
}

TEST_CASE("cli: the progress line fits a narrow terminal, cut by characters", "[cli]") {
    std::string db = tmp_path("tty-narrow.db");
    Result r = shell("script -qec 'stty cols 30; " + std::string(QUIESCE_BIN) + " run " + regression("s3-basic") +
                     " --db " + db + "' /dev/null");
    INFO(r.out);
    // 29 columns: "\r" takes the whole line back, nothing wraps.
    CHECK(r.out.find("\r\033[K[0/1] 0 passed, 0 failed, run\r") != std::string::npos);
    CHECK(r.out.find("running s3-basic") == std::string::npos);
    std::filesystem::remove(db);
    CHECK(quiesce::fit_width("abcdef", 4) == "abc");
    CHECK(quiesce::fit_width("abc", 4) == "abc");
    CHECK(quiesce::fit_width("h\xc3\xa9llo", 4) == "h\xc3\xa9l");  // é is one column, two bytes
    CHECK(quiesce::fit_width("abcdef", 0) == "abcdef");         // no width known
}

TEST_CASE("cli: explore into a pipe prints no progress lines, as run does, and a terminal gets its progress line", "[cli]") {
    const std::string db = tmp_path("explore-pipe.db");
    std::filesystem::remove(db);
    Result piped = sh("explore " + regression("s3-basic") + " --kinds callback-fail -j 2 --db " + db);
    INFO(piped.out);
    CHECK(piped.out.find("variants in ") != std::string::npos);
    CHECK(piped.out.find(" runs/s, ") == std::string::npos);  // no "[k/n] r runs/s, f distinct violation(s)"
    CHECK(piped.out.find('\r') == std::string::npos);
    std::filesystem::remove(db);
    Result tty = shell("script -qec '" + std::string(QUIESCE_BIN) + " explore " + regression("s3-basic") +
                       " --kinds callback-fail -j 2 --db " + db + "' /dev/null");
    INFO(tty.out);
    CHECK(tty.out.find("\r\033[K[1/") != std::string::npos);
    std::filesystem::remove(db);
}

TEST_CASE("cli: explore without --db writes a new quiesce-<time>.db, as run does", "[cli]") {
    const std::string dir = tmp_path("explore-default-db");
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    Result r = shell("cd '" + dir + "' && " + std::string(QUIESCE_BIN) + " explore " + regression("s3-basic") +
                     " --kinds callback-fail --budget 2");
    INFO(r.out);
    CHECK(r.out.find("trace database: quiesce-") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir + "/quiesce-explore.db"));
    size_t dbs = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.path().filename().string().rfind("quiesce-2", 0) == 0 && e.path().extension() == ".db") ++dbs;
    CHECK(dbs == 1);
    std::filesystem::remove_all(dir);
}

TEST_CASE("cli: explore starts itself again with its libraries bound and the same results unless LD_BIND_NOW is set", "[cli]") {
    // The dynamic linker prints its statistics (LD_DEBUG=statistics) once
    // per program start: twice when quiesce explore executed itself again
    // with every library bound (LD_BIND_NOW=1), once when the caller set
    // LD_BIND_NOW (empty: lazy binding kept) and once for commands that do
    // not fork many children.
    auto starts = [](const std::string& out) {
        size_t n = 0;
        for (size_t at = out.find("total startup time in dynamic loader"); at != std::string::npos;
             at = out.find("total startup time in dynamic loader", at + 1))
            ++n;
        return n;
    };
    const std::string clean = "env -u LD_BIND_NOW -u LD_PRELOAD -u GLIBC_TUNABLES ";
    const std::string bin = std::string(QUIESCE_BIN);
    std::string db1 = tmp_path("bound.db"), db2 = tmp_path("lazy.db");
    const std::string args = " explore " + regression("s3-basic") + " --kinds callback-fail,power-loss -j 2 --db ";
    Result bound = shell(clean + "LD_DEBUG=statistics " + bin + args + db1);
    Result lazy = shell(clean + "LD_DEBUG=statistics LD_BIND_NOW= " + bin + args + db2);
    Result run = shell(clean + "LD_DEBUG=statistics " + bin + " validate " + regression("s3-basic"));
    INFO(bound.out);
    CHECK(starts(bound.out) == 2);
    CHECK(starts(lazy.out) == 1);
    CHECK(starts(run.out) == 1);
    CHECK(run.status == 0);
    // The same variants either way: a run is a function of its scenario
    // and seed, not of how the libraries were bound or whether the
    // allocator caches freed chunks. The arguments and exit status carry over.
    REQUIRE(bound.status == lazy.status);
    std::string q = " \"SELECT id, digest, status FROM run ORDER BY id\" --format list";
    Result rows = sh("query " + db1 + q);
    CHECK(rows.out.size() > 100);
    CHECK(rows.out == sh("query " + db2 + q).out);
    std::filesystem::remove(db1);
    std::filesystem::remove(db2);
}
