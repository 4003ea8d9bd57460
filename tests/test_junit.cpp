// JUnit reports as CI reads them (issue 20): valid against Jenkins xUnit's
// junit-10.xsd (tests/data/junit-10.xsd) by xmllint, whatever the file
// names; a suite per folder with timestamp and hostname; a report for bad
// input too.
#include "cli.h"
#include "files.h"
#include "tmpfile.h"

#include "sim/cli/junit.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

using quiesce::test::regression;
using quiesce::test::sh;
using quiesce::test::shell;
using quiesce::test::tmp_path;

namespace {

// xmllint's verdict on a report: "" when it validates, else what it said.
std::string schema_errors(const std::string& report) {
    REQUIRE(std::system("command -v xmllint > /dev/null") == 0);  // libxml2-utils (scripts/install-deps.sh)
    auto r = shell("xmllint --noout --schema " + std::string(QUIESCE_DATA_DIR) + "/../tests/data/junit-10.xsd '" +
                   report + "'");
    return r.status == 0 ? "" : r.out;
}

}  // namespace

TEST_CASE("junit: the schema refuses what the old reports had", "[junit]") {
    // A testcase with a `file` attribute and properties: what Jenkins refused.
    quiesce::test::TempFile old(
        "<?xml version=\"1.0\"?>\n<testsuites><testsuite name=\"a\" tests=\"1\" failures=\"0\" errors=\"0\">"
        "<testcase name=\"x\" file=\"x.toml\"><properties><property name=\"k\" value=\"v\"/></properties>"
        "</testcase></testsuite></testsuites>\n",
        ".xml");
    const std::string why = schema_errors(old.path());
    REQUIRE(why.find("attribute 'file': The attribute 'file' is not allowed") != std::string::npos);
    REQUIRE(why.find("Element 'properties': This element is not expected") != std::string::npos);
}

TEST_CASE("junit: run's report validates, with timestamp, hostname and the properties in system-out", "[junit]") {
    std::string db = tmp_path("junit.db"), junit = tmp_path("junit.xml");
    quiesce::test::TempFile failing("[platform]\nname = \"pc-basic\"\n[protocol]\nname = \"linux-s3\"\n"
                                    "[drivers.dma0]\nlegacy_pm = true\n[[drivers.dma0.patch]]\ncallback = "
                                    "\"suspend_noirq\"\nappend = [{ op = \"pci-set-power\", state = \"D3hot\" }, "
                                    "{ op = \"write\", reg = \"CTRL\", value = 0 }]\n[expect]\nresult = \"pass\"\n");
    auto r = sh("run " + regression("s3-basic") + " " + failing.path() + " --db " + db + " --junit " + junit);
    REQUIRE(r.status == 1);
    const std::string xml = quiesce::test::read_text(junit);
    INFO(xml);
    REQUIRE(schema_errors(junit) == "");
    std::smatch m;
    REQUIRE(std::regex_search(xml, m,
                              std::regex("<testsuite name=\"regression\" [^>]* timestamp=\"(\\d{4}-\\d\\d-\\d\\dT\\d\\d:"
                                         "\\d\\d:\\d\\d)\" hostname=\"([^\"]+)\">")));
    REQUIRE(xml.find("<failure message=\"expected pass, got") != std::string::npos);
    REQUIRE(xml.find("random_seed=1\n") != std::string::npos);
    REQUIRE(xml.find("file=" + regression("s3-basic") + "\n") != std::string::npos);
    REQUIRE(xml.find("trace_db=" + db + "\n") != std::string::npos);
    std::filesystem::remove(db);
    std::filesystem::remove(junit);
}

TEST_CASE("junit: `run .` names the folder, a file name that is not UTF-8 still makes valid XML", "[junit]") {
    const std::string dir = tmp_path("suite-dir");
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(regression("s3-basic"), dir + "/s3-basic.toml");
    const std::string odd = dir + "/caf\xe9-\xff.toml";  // Latin-1 bytes: no UTF-8
    std::filesystem::copy_file(regression("s3-basic"), odd);
    auto r = shell("cd " + dir + " && " + std::string(QUIESCE_BIN) + " run . --db run.db --junit report.xml");
    INFO(r.out);
    REQUIRE(r.status == 0);
    const std::string xml = quiesce::test::read_text(dir + "/report.xml");
    INFO(xml);
    REQUIRE(schema_errors(dir + "/report.xml") == "");
    const std::string folder = std::filesystem::path(dir).filename().string();
    REQUIRE(xml.find("<testsuite name=\"" + folder + "\" tests=\"2\"") != std::string::npos);
    REQUIRE(xml.find("<testcase classname=\"" + folder + "\" name=\"s3-basic\"") != std::string::npos);
    REQUIRE(xml.find("classname=\".\"") == std::string::npos);
    REQUIRE(xml.find("name=\"caf\xef\xbf\xbd-\xef\xbf\xbd\"") != std::string::npos);  // U+FFFD for each stray byte
    std::filesystem::remove_all(dir);
}

TEST_CASE("junit: bad input writes a report with one errored testcase naming the file and line", "[junit]") {
    quiesce::test::TempFile bad("[platform]\nname = \"pc-basic\"\ncpus = \"two\"\n");
    std::string db = tmp_path("bad.db"), junit = tmp_path("bad.xml");
    auto r = sh("run " + regression("s3-basic") + " " + bad.path() + " --db " + db + " --junit " + junit);
    REQUIRE(r.status == 2);
    REQUIRE(r.out == "quiesce: " + bad.path() + ":3:8: platform.cpus: expected an integer\n");
    REQUIRE_FALSE(std::filesystem::exists(db));
    const std::string xml = quiesce::test::read_text(junit);
    INFO(xml);
    REQUIRE(schema_errors(junit) == "");
    REQUIRE(xml.find("<testsuites name=\"quiesce\" tests=\"1\" failures=\"0\" errors=\"1\"") != std::string::npos);
    REQUIRE(xml.find("<testcase classname=\"input\" name=\"" + bad.path() + ":3\"") != std::string::npos);
    REQUIRE(xml.find("<error message=\"" + bad.path() + ":3:8: platform.cpus: expected an integer\" type=\"input-error\"") !=
            std::string::npos);
    std::filesystem::remove(junit);
}

// A nightly explore in CI gets the bad file in its report too, not "no
// report found": a bad scenario, and a command line that does not parse.
TEST_CASE("junit: explore on bad input writes a report with one errored testcase", "[junit][explore]") {
    quiesce::test::TempFile bad("[platform]\nname = \"pc-basic\"\ncpus = \"two\"\n");
    std::string db = tmp_path("bad-explore.db"), junit = tmp_path("bad-explore.xml");
    auto r = sh("explore " + bad.path() + " --db " + db + " --junit " + junit);
    REQUIRE(r.status == 2);
    REQUIRE_FALSE(std::filesystem::exists(db));
    std::string xml = quiesce::test::read_text(junit);
    INFO(xml);
    CHECK(schema_errors(junit) == "");
    CHECK(xml.find("<testsuites name=\"quiesce explore\" tests=\"1\" failures=\"0\" errors=\"1\"") !=
          std::string::npos);
    CHECK(xml.find("<testcase classname=\"input\" name=\"" + bad.path() + ":3\"") != std::string::npos);
    std::filesystem::remove(junit);
    r = sh("explore " + regression("s3-basic") + " --db " + db + " --junit " + junit + " --budget abc");
    REQUIRE(r.status == 2);
    xml = quiesce::test::read_text(junit);
    CHECK(xml.find("<testcase classname=\"input\" name=\"command line\"") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(db));
    std::filesystem::remove(junit);
}

TEST_CASE("junit: a bad command line writes a report with one errored testcase for it", "[junit]") {
    // The options are read before --junit is known to the program: the
    // report's path is taken from the command line as given.
    for (const std::string& bad : {std::string("--seed abc"), std::string("--frobnicate"), std::string("-j 0")}) {
        std::string db = tmp_path("cl.db"), junit = tmp_path("cl.xml");
        auto r = sh("run " + regression("s3-basic") + " --db " + db + " --junit " + junit + " " + bad);
        INFO(bad << ": " << r.out);
        REQUIRE(r.status == 2);
        REQUIRE(r.out.find('\n') == r.out.size() - 1);  // one line
        REQUIRE_FALSE(std::filesystem::exists(db));
        REQUIRE(std::filesystem::exists(junit));
        const std::string xml = quiesce::test::read_text(junit);
        INFO(xml);
        CHECK(schema_errors(junit) == "");
        CHECK(xml.find("errors=\"1\"") != std::string::npos);
        CHECK(xml.find("<testcase classname=\"input\" name=\"command line\"") != std::string::npos);
        const size_t from = std::string("quiesce: ").size();
        const std::string said = r.out.substr(from, r.out.size() - 1 - from);
        CHECK(xml.find("type=\"input-error\"") != std::string::npos);
        CHECK(xml.find(said.substr(0, said.find(' '))) != std::string::npos);  // the option it names
    }
    // --junit=FILE as well.
    std::string junit = tmp_path("cl-eq.xml");
    auto r = sh("run " + regression("s3-basic") + " --junit=" + junit + " --seed abc");
    CHECK(r.status == 2);
    CHECK(std::filesystem::exists(junit));
}

TEST_CASE("junit: invalid UTF-8 and control characters in any field", "[junit]") {
    quiesce::JunitCase c;
    c.classname = "a\xc3";
    c.name = "over\xc0\xaflong \xed\xa0\x80surrogate";
    c.status = "failed";
    c.message = "bell\x07 <tag> & \"quote\" \xf4\x90\x80\x80";
    c.properties = {{"k\xfe", "v\x01"}};
    const std::string xml = quiesce::junit_xml("s\xff", {c});
    quiesce::test::TempFile f(xml, ".xml");
    REQUIRE(schema_errors(f.path()) == "");
    REQUIRE(xml.find("name=\"over\xef\xbf\xbd\xef\xbf\xbdlong \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdsurrogate\"") !=
            std::string::npos);
}

namespace {
// A FIFO at tmp_path(`name`) with a reader on the other end, as `cat` in a
// pipeline, copying what it reads to a file.
class FifoReader {
public:
    explicit FifoReader(const std::string& name) : fifo_(tmp_path(name)), got_(tmp_path(name + ".out")) {
        std::filesystem::remove(fifo_);
        REQUIRE(::mkfifo(fifo_.c_str(), 0600) == 0);
        REQUIRE(std::system(("cat '" + fifo_ + "' > '" + got_ + "' &").c_str()) == 0);
    }
    ~FifoReader() {
        std::filesystem::remove(fifo_);
        std::filesystem::remove(got_);
    }
    const std::string& path() const { return fifo_; }
    // What the reader got once it holds `end` (or after 2 s).
    std::string read_until(const std::string& end) const {
        std::string got;
        for (int i = 0; i < 200 && (got = quiesce::test::read_text(got_)).find(end) == std::string::npos; ++i)
            ::usleep(10000);
        return got;
    }

private:
    std::string fifo_, got_;
};
}  // namespace

// `--junit /dev/null` is a common CI idiom: a report written to a device or
// a FIFO goes through it, and the path stays what it was. (Renaming a
// temporary file over it, as for a regular file, replaced /dev/null with a
// regular file when run as root.)
TEST_CASE("junit: a report written to a FIFO goes through it and leaves the FIFO in place", "[junit]") {
    FifoReader fifo("junit-fifo");
    quiesce::write_file_atomically(fifo.path(), "<testsuites/>\n");
    CHECK(fifo.read_until("\n") == "<testsuites/>\n");
    CHECK(std::filesystem::is_fifo(std::filesystem::status(fifo.path())));
    CHECK_FALSE(std::filesystem::exists(fifo.path() + ".tmp"));
}

// A campaign's report is rewritten as it goes (docs/junit.md) - but not into
// a FIFO or a device: its reader gets one report, the whole one, and a
// FIFO whose reader has gone would block the campaign.
TEST_CASE("junit: a campaign writes its report to a FIFO once, whole", "[junit]") {
    FifoReader fifo("junit-run-fifo");
    const quiesce::test::Cli r = sh("run " + regression("s3-basic") + " " + regression("pci-bar-restore-fixed") +
                                    " --db " + tmp_path("junit-run-fifo.db") + " --junit " + fifo.path());
    REQUIRE(r.status == 0);
    const std::string xml = fifo.read_until("</testsuites>");
    CHECK(xml.rfind("<?xml", 0) == 0);
    CHECK(xml.find("<?xml", 1) == std::string::npos);  // one document
    CHECK(xml.find("not-run") == std::string::npos);
    CHECK(xml.find("name=\"pci-bar-restore-fixed\"") != std::string::npos);
}
