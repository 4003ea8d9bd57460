// The campaign record (issue 19): each `run` and `explore` writes a campaign
// row - command line, scenarios, start, end, status - that says `running`
// until the campaign is over, so a campaign killed half-way is told from a
// finished one over fewer scenarios.
#include "cli.h"

#include "sim/core/errors.h"
#include "sim/trace/trace_db.h"

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using quiesce::test::regression;
using quiesce::test::sh;
using quiesce::test::spawn;
using quiesce::test::tmp_path;

namespace {

// The first column of each row of `sql` on `path` as text ("" for NULL);
// {} when the database cannot be read (not there yet).
std::vector<std::string> column(const std::string& path, const std::string& sql) {
    std::vector<std::string> out;
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK)
            while (sqlite3_step(st) == SQLITE_ROW) {
                const unsigned char* t = sqlite3_column_text(st, 0);
                out.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
            }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return out;
}

// The line of `text` that holds `needle` ("" if none).
std::string line_with(const std::string& text, const std::string& needle) {
    size_t at = text.find(needle);
    if (at == std::string::npos) return "";
    size_t begin = text.rfind('\n', at), end = text.find('\n', at);
    begin = begin == std::string::npos ? 0 : begin + 1;
    return text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

std::string one(const std::string& path, const std::string& sql) {
    auto c = column(path, sql);
    return c.empty() ? "<none>" : c[0];
}

// Kills `pid` with `sig` once `db` holds a campaign and `runs` runs, and
// reaps it; false if it ended on its own first.
// The s3-basic testcases a JUnit report lists.
size_t s3_basic_cases(const std::string& xml) {
    size_t listed = 0;
    for (size_t at = 0; (at = xml.find("<testcase classname=\"regression\" name=\"s3-basic\"", at)) != std::string::npos;
         ++at)
        ++listed;
    return listed;
}

// Sends `sig` once the database holds `runs` runs; true when the process
// then ended by that signal (or, with `status`, how it ended).
bool kill_after(pid_t pid, const std::string& db, int runs, int sig, int* how = nullptr) {
    for (;;) {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) return false;
        if (one(db, "SELECT count(*) FROM campaign") == "1" &&
            std::stoi(one(db, "SELECT count(*) FROM run")) >= runs)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ::kill(pid, sig);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (how) *how = status;
    return WIFSIGNALED(status) && WTERMSIG(status) == sig;
}

}  // namespace

TEST_CASE("campaign: a finished run says so, with its command line, scenarios and runs", "[campaign]") {
    const std::string db = tmp_path("campaign-finished.db");
    const std::string a = regression("s3-basic"), b = regression("pci-bar-restore-fixed");
    REQUIRE(sh("run " + a + " " + b + " --db " + db).status == 0);
    REQUIRE(one(db, "SELECT status FROM campaign WHERE id = 1") == "finished");
    REQUIRE(one(db, "SELECT planned FROM campaign WHERE id = 1") == "2");
    REQUIRE(one(db, "SELECT scenarios FROM campaign WHERE id = 1") == a + "\n" + b);
    const std::string command = one(db, "SELECT command FROM campaign WHERE id = 1");
    REQUIRE(command.find(" run " + a + " " + b + " --db " + db) != std::string::npos);
    REQUIRE(one(db, "SELECT ended_at >= started_at FROM campaign WHERE id = 1") == "1");
    REQUIRE(column(db, "SELECT campaign_id FROM run ORDER BY id") == std::vector<std::string>{"1", "1"});
    // A second campaign into the same database is a row of its own.
    REQUIRE(sh("run " + a + " --db " + db).status == 0);
    REQUIRE(column(db, "SELECT campaign_id FROM run ORDER BY id") == std::vector<std::string>{"1", "1", "2"});
    auto runs = sh("trace runs " + db);
    INFO(runs.out);
    REQUIRE(runs.status == 0);
    REQUIRE(line_with(runs.out, " 2 of 2 runs ").find(" finished ") != std::string::npos);
    REQUIRE(line_with(runs.out, " 1 of 1 runs ").find(" finished ") != std::string::npos);
    REQUIRE(line_with(runs.out, " 1 of 1 runs ").find(" 2  finished") != std::string::npos);  // campaign 2
    // A long command line is shortened on screen, whole in the table.
    const std::string c1 = line_with(runs.out, " 2 of 2 runs ");
    if (command.size() > 120) {
        REQUIRE(c1.find(command) == std::string::npos);
        REQUIRE(c1.find(command.substr(0, 117) + "...") != std::string::npos);
    } else {
        REQUIRE(c1.find(command) != std::string::npos);
    }
    std::filesystem::remove(db);
}

// (SIGTERM, SIGINT and SIGHUP stop it instead: below.)
TEST_CASE("campaign: a run killed half-way stays 'running' and readers call it interrupted", "[campaign]") {
    const int sig = SIGKILL;
    {
        const std::string db = tmp_path("campaign-killed.db"), junit = tmp_path("campaign-killed.xml");
        // Each scenario several times over: the kill comes after the first run.
        std::vector<std::string> args = {"run"};
        for (int i = 0; i < 20; ++i) args.push_back(regression("s3-basic"));
        args.insert(args.end(), {"--db", db, "--junit", junit});
        pid_t pid = spawn(args);
        INFO("signal " << sig);
        REQUIRE(kill_after(pid, db, 1, sig));
        REQUIRE(one(db, "PRAGMA integrity_check") == "ok");
        REQUIRE(one(db, "SELECT status FROM campaign WHERE id = 1") == "running");
        REQUIRE(one(db, "SELECT ended_at IS NULL FROM campaign WHERE id = 1") == "1");
        const int runs = std::stoi(one(db, "SELECT count(*) FROM run"));
        REQUIRE(runs < 20);
        auto out = sh("trace runs " + db);
        INFO(out.out);
        REQUIRE(out.status == 0);
        const std::string line = line_with(out.out, " " + std::to_string(runs) + " of 20 runs ");
        REQUIRE(line.find(" interrupted ") != std::string::npos);
        REQUIRE(line.find(", cut short ") != std::string::npos);
        // The report fails: the runs recorded by its last writing, and an
        // error for the rest.
        const std::string xml = quiesce::test::read_text(junit);
        INFO(xml);
        const size_t listed = s3_basic_cases(xml);
        CHECK(listed <= size_t(runs));
        const std::string rest = std::to_string(20 - listed) + " of 20 runs";
        CHECK(xml.find("<testcase classname=\"not-run\" name=\"" + rest + "\"") != std::string::npos);
        CHECK(xml.find("<error message=\"" + rest + " not recorded: quiesce is still running them, or was stopped") !=
              std::string::npos);
        CHECK(xml.find("<testsuites name=\"quiesce\" tests=\"" + std::to_string(listed + 1) + "\" failures=\"0\" "
                       "errors=\"1\"") != std::string::npos);
        std::filesystem::remove(db);
        std::filesystem::remove(db + "-wal");
        std::filesystem::remove(db + "-shm");
    }
}

// A CI job's timeout (SIGTERM), Ctrl-C (SIGINT), a closed terminal (SIGHUP):
// the campaign stops between two runs, and says what it recorded - every
// run in the report, the rest one not-run case naming the signal, the
// campaign row `interrupted` with its end - and exits 128 + the signal.
TEST_CASE("campaign: a run stopped by SIGTERM, SIGINT or SIGHUP reports what it recorded and ends interrupted",
          "[campaign]") {
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
        const std::string db = tmp_path("campaign-stopped.db"), junit = tmp_path("campaign-stopped.xml");
        std::vector<std::string> args = {"run", "-j", "1"};
        for (int i = 0; i < 20; ++i) args.push_back(regression("s3-basic"));
        args.insert(args.end(), {"--db", db, "--junit", junit});
        pid_t pid = spawn(args);
        INFO("signal " << sig);
        int how = 0;
        kill_after(pid, db, 1, sig, &how);
        REQUIRE(WIFEXITED(how));
        CHECK(WEXITSTATUS(how) == 128 + sig);
        REQUIRE(one(db, "PRAGMA integrity_check") == "ok");
        REQUIRE(one(db, "SELECT status FROM campaign WHERE id = 1") == "interrupted");
        REQUIRE(one(db, "SELECT ended_at IS NOT NULL FROM campaign WHERE id = 1") == "1");
        const int runs = std::stoi(one(db, "SELECT count(*) FROM run"));
        REQUIRE(runs >= 1);
        REQUIRE(runs < 20);
        auto out = sh("trace runs " + db);
        INFO(out.out);
        const std::string line = line_with(out.out, " " + std::to_string(runs) + " of 20 runs ");
        CHECK(line.find(" interrupted ") != std::string::npos);
        // Every run recorded is in the report, however recently: the
        // report is written at the stop, not only once a second.
        const std::string xml = quiesce::test::read_text(junit);
        INFO(xml);
        const size_t listed = s3_basic_cases(xml);
        CHECK(listed == size_t(runs));
        const std::string rest = std::to_string(20 - runs) + " of 20 runs";
        const std::string name = sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "SIGHUP";
        CHECK(xml.find("<testcase classname=\"not-run\" name=\"" + rest + "\"") != std::string::npos);
        CHECK(xml.find("<error message=\"" + rest + " not recorded: quiesce was stopped by " + name) !=
              std::string::npos);
        std::filesystem::remove(db);
        std::filesystem::remove(junit);
    }
}

TEST_CASE("campaign: explore records its campaign, the baseline and every variant planned", "[campaign][explore]") {
    const std::string db = tmp_path("campaign-explore.db");
    auto r = sh("explore " + regression("s3-basic") + " --kinds callback-fail --budget 3 --db " + db);
    INFO(r.out);
    REQUIRE((r.status == 0 || r.status == 1));
    REQUIRE(one(db, "SELECT status FROM campaign") == "finished");
    REQUIRE(one(db, "SELECT planned FROM campaign") == "4");
    REQUIRE(one(db, "SELECT count(*) FROM run WHERE campaign_id = 1") == "4");
    REQUIRE(one(db, "SELECT command LIKE '% explore %' FROM campaign") == "1");
    std::filesystem::remove(db);
}

TEST_CASE("campaign: an explore killed half-way leaves a JUnit report that fails", "[campaign][explore]") {
    const std::string db = tmp_path("campaign-explore-killed.db"), junit = tmp_path("campaign-explore-killed.xml");
    pid_t pid = spawn({"explore", regression("s3-basic"), "--kinds", "callback-fail,power-loss", "-j", "1",
                       "--no-prefix", "--db", db, "--junit", junit});
    REQUIRE(kill_after(pid, db, 3, SIGKILL));  // the baseline and two variants
    std::ifstream in(junit);
    const std::string xml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO(xml);
    REQUIRE(xml.find("<testsuites name=\"quiesce explore s3-basic\"") != std::string::npos);
    const size_t rest = xml.find("<testcase classname=\"not-run\" name=\"");
    REQUIRE(rest != std::string::npos);
    CHECK(xml.find("<error message=\"", rest) < xml.find("</testcase>", rest));
    CHECK(xml.find(" not recorded: quiesce is still running them, or was stopped", rest) != std::string::npos);
}

TEST_CASE("campaign: an exception past an open campaign ends it failed", "[campaign]") {
    const std::string db = tmp_path("campaign-failed.db");
    try {
        quiesce::TraceDb t(db);
        t.begin_campaign("quiesce run x.toml", {"x.toml"}, 1);
        throw std::runtime_error("disk on fire");
    } catch (const std::runtime_error&) {
    }
    REQUIRE(one(db, "SELECT status FROM campaign") == "failed");
    REQUIRE(one(db, "SELECT ended_at IS NOT NULL FROM campaign") == "1");
    {
        quiesce::TraceDb t(db);
        t.begin_campaign("quiesce run y.toml", {"y.toml"}, 1);
        t.end_campaign("finished");
    }
    REQUIRE(column(db, "SELECT status FROM campaign ORDER BY id") == std::vector<std::string>{"failed", "finished"});
    std::filesystem::remove(db);
}

TEST_CASE("campaign: a 'running' row is running only while its process lives", "[campaign]") {
    const std::string me = quiesce::process_start_of(long(::getpid()));
    REQUIRE(!me.empty());
    const std::string host = quiesce::host_name();
    REQUIRE(quiesce::campaign_state("running", ::getpid(), host, me) == "running");
    REQUIRE(quiesce::campaign_state("finished", ::getpid(), host, me) == "finished");
    // Another process that once had this pid (another start time), or one that is gone.
    REQUIRE(quiesce::campaign_state("running", ::getpid(), host, me + "0") == "interrupted");
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) ::_exit(0);
    const std::string child_start = quiesce::process_start_of(long(child));
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE(quiesce::campaign_state("running", child, host, child_start) == "interrupted");
    REQUIRE(quiesce::campaign_state("running", 0, host, "") == "interrupted");
    REQUIRE(quiesce::campaign_state("running", ::getpid(), host + "-elsewhere", me) == "unfinished");
}

TEST_CASE("campaign: merge renumbers campaigns and keeps each run's", "[campaign][merge]") {
    const std::string a = tmp_path("campaign-a.db"), b = tmp_path("campaign-b.db"), out = tmp_path("campaign-out.db");
    REQUIRE(sh("run " + regression("s3-basic") + " --db " + a).status == 0);
    REQUIRE(sh("run " + regression("s3-basic") + " " + regression("s3-basic") + " --db " + b).status == 0);
    REQUIRE(sh("merge " + out + " " + a + " " + b).status == 0);
    REQUIRE(column(out, "SELECT id FROM campaign ORDER BY id") == std::vector<std::string>{"1", "2"});
    REQUIRE(column(out, "SELECT campaign_id FROM run ORDER BY id") == std::vector<std::string>{"1", "2", "2"});
    REQUIRE(column(out, "SELECT planned FROM campaign ORDER BY id") == std::vector<std::string>{"1", "2"});
    for (const auto& p : {a, b, out}) std::filesystem::remove(p);
}
