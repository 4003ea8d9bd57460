// The trace database as SQL users read it (docs/trace-schema.md, issue 20):
// numbers in args are numbers, "none" is NULL, quiesce's application_id and
// user_version, indexes under the documented queries, databases of schema
// versions 2 and 3 read as version 4 and copied into it by merge, and every
// SQL example of docs/trace-schema.md and README.md run on the database the
// docs say they were written against - with quiesce query and with sqlite3.
#include "cli.h"

#include "sim/trace/trace_db.h"
#include "sim/trace/typed_args.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using quiesce::test::sh;
using quiesce::test::shell;
using quiesce::test::tmp_path;

namespace {

const std::string kRoot = std::string(QUIESCE_DATA_DIR) + "/..";

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// One statement through TraceReader::query (what `quiesce query` runs), in
// the list format: a header line, then a line per row.
std::string list(const std::string& db, const std::string& sql) {
    INFO(sql);
    return quiesce::TraceReader(db).query(sql, "list");
}
// The one value of a one-row, one-column result.
std::string value(const std::string& db, const std::string& sql) {
    std::string out = list(db, sql);
    size_t nl = out.find('\n');
    REQUIRE(nl != std::string::npos);
    out = out.substr(nl + 1);
    if (!out.empty() && out.back() == '\n') out.pop_back();
    INFO(sql);
    REQUIRE(out.find('\n') == std::string::npos);
    return out;
}
int64_t number(const std::string& db, const std::string& sql) { return std::stoll(value(db, sql)); }

// Runs `sql` on `path` directly (a test's own changes to a copy).
void exec(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    INFO(sql << ": " << (err ? err : ""));
    sqlite3_free(err);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
}

// Every file in `dir` with its content: what a reader must leave as it was.
std::map<std::string, std::string> snapshot(const std::string& dir) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out[e.path().filename().string()] = read_file(e.path().string());
    return out;
}

// ---- The docs' examples ----------------------------------------------------

struct Example {
    std::string doc, label, sql;
};

// The SQL examples of a Markdown file: the statements of every ```sql block
// (each labelled by the `--` comment above it), and the statement of every
// `quiesce query DB "SQL"` line in any fenced block.
std::vector<Example> examples_of(const std::string& doc) {
    std::vector<Example> out;
    std::istringstream in(read_file(kRoot + "/" + doc));
    std::string line, fence, label, sql;
    static const std::regex query_line(R"re(quiesce query \S+ "([^"]+)")re");
    while (std::getline(in, line)) {
        if (line.rfind("```", 0) == 0) {
            fence = fence.empty() ? (line.size() > 3 ? line.substr(3) : std::string("text")) : std::string();
            label.clear();
            sql.clear();
            continue;
        }
        if (fence.empty()) continue;
        std::smatch m;
        if (std::regex_search(line, m, query_line) && m[1] != "SQL") out.push_back({doc, line, m[1]});
        if (fence != "sql") continue;
        if (line.rfind("--", 0) == 0) {
            label = line.substr(2);
            continue;
        }
        if (line.find_first_not_of(" ") == std::string::npos) continue;
        sql += (sql.empty() ? "" : "\n") + line;
        if (line.back() == ';') {
            out.push_back({doc, label, sql});
            sql.clear();
        }
    }
    return out;
}

// The database the examples of docs/trace-schema.md are written against:
// the `quiesce run` commands of the fenced block after "The examples below
// run on", run from the repository's root with its `run.db` here.
const std::string& docs_db() {
    static const std::string path = [] {
        const std::string db = tmp_path("docs.db");
        const std::string doc = read_file(kRoot + "/docs/trace-schema.md");
        size_t at = doc.find("The examples below run on");
        REQUIRE(at != std::string::npos);
        size_t open = doc.find("```", at), close = doc.find("```", open + 3);
        REQUIRE(close != std::string::npos);
        std::istringstream block(doc.substr(open, close - open));
        std::string line;
        int commands = 0;
        while (std::getline(block, line)) {
            size_t q = line.find("quiesce run ");
            if (q == std::string::npos) continue;
            std::string args = std::regex_replace(line.substr(q + 12), std::regex(R"(\brun\.db\b)"), db);
            quiesce::test::Cli r = shell("cd " + kRoot + " && " + QUIESCE_BIN + " run " + args);
            INFO(line << "\n" << r.out);
            REQUIRE((r.status == 0 || r.status == 1));  // 1: the run the example shows failing
            ++commands;
        }
        REQUIRE(commands >= 1);
        return db;
    }();
    return path;
}

// Table and alias names in `sql`: alias -> table.
void aliases(const std::string& sql, std::map<std::string, std::string>& out) {
    static const std::regex from(R"((?:FROM|JOIN|,)\s+(\w+)(?:\s+(?:AS\s+)?(\w+))?)", std::regex::icase);
    static const std::set<std::string> keywords = {"WHERE", "JOIN", "ON", "LEFT", "INNER", "GROUP", "ORDER", "LIMIT",
                                                   "CROSS", "USING", "AS", "UNION", "SELECT"};
    for (std::sregex_iterator it(sql.begin(), sql.end(), from), end; it != end; ++it) {
        const std::string table = (*it)[1], alias = (*it)[2];
        out.emplace(table, table);
        std::string upper = alias;
        for (char& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
        if (!alias.empty() && !keywords.count(upper)) out[alias] = table;
    }
}

// The tables that grow with every event: a query of them must find its
// rows through an index (SEARCH), never read the whole table (SCAN).
const std::set<std::string> kEventTables = {"slice", "instant", "counter", "flow", "violation", "guest_error",
                                            "fault", "reg_access", "bus_transaction", "track"};

// The lines of EXPLAIN QUERY PLAN that read a whole event table.
std::vector<std::string> full_scans(const std::string& db, const std::string& sql) {
    std::map<std::string, std::string> alias;
    aliases(quiesce::TraceDb::schema_sql(), alias);  // the views' own aliases (s, t, i, v...)
    std::map<std::string, std::string> own;
    aliases(sql, own);
    for (const auto& [a, t] : own) alias[a] = t;  // the statement's win
    std::vector<std::string> out;
    std::istringstream plan(list(db, "EXPLAIN QUERY PLAN " + sql));
    std::string line;
    static const std::regex scan(R"(\|SCAN (\w+))");
    while (std::getline(plan, line)) {
        std::smatch m;
        if (!std::regex_search(line, m, scan) || line.find("VIRTUAL TABLE") != std::string::npos) continue;
        auto it = alias.find(m[1]);
        const std::string table = it == alias.end() ? std::string(m[1]) : it->second;
        if (kEventTables.count(table)) out.push_back(line);
    }
    return out;
}

bool have_sqlite3_cli() { return std::system("command -v sqlite3 >/dev/null 2>&1") == 0; }

// ---- Databases of the schema versions before 4 -------------------------------

// JSON text with every number a string, as schema versions 2 and 3 wrote
// args and evidence; NULL as `none` ('{}' for args, '' for evidence).
void untyped(sqlite3_context* ctx, int, sqlite3_value** argv) {
    const std::string none = reinterpret_cast<const char*>(sqlite3_user_data(ctx));
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_text(ctx, none.c_str(), -1, SQLITE_TRANSIENT);
        return;
    }
    const std::string in = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
    std::string out;
    for (size_t i = 0; i < in.size();) {
        const char c = in[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < in.size() && in[j] != '"') j += in[j] == '\\' ? 2 : 1;
            out += in.substr(i, j + 1 - i);
            i = j + 1;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i;
            while (j < in.size() && std::strchr("-+.eE0123456789", in[j])) ++j;
            out += "\"" + in.substr(i, j - i) + "\"";
            i = j;
        } else {
            out += c;
            ++i;
        }
    }
    sqlite3_result_text(ctx, out.c_str(), -1, SQLITE_TRANSIENT);
}

// A copy of `v4` as quiesce wrote it in schema version 3 (no application_id
// nor user_version, args and evidence with every value a string, '' where
// version 4 has NULL, none of version 4's indexes and views), or version 2
// (and no campaign table nor run.campaign_id).
void write_old_version(const std::string& v4, const std::string& path, int version) {
    fs::copy_file(v4, path, fs::copy_options::overwrite_existing);
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    static char braces[] = "{}", empty[] = "";
    sqlite3_create_function(db, "untyped_args", 1, SQLITE_UTF8, braces, untyped, nullptr, nullptr);
    sqlite3_create_function(db, "untyped_evidence", 1, SQLITE_UTF8, empty, untyped, nullptr, nullptr);
    std::string sql = R"SQL(
BEGIN;
UPDATE slice SET phase = coalesce(phase, ''), args = untyped_args(args);
UPDATE instant SET phase = coalesce(phase, ''), args = untyped_args(args);
UPDATE guest_error SET phase = coalesce(phase, ''), args = untyped_args(args);
UPDATE fault SET phase = coalesce(phase, ''), args = untyped_args(args);
UPDATE violation SET phase = coalesce(phase, ''), evidence = untyped_evidence(evidence);
UPDATE reg_access SET phase = coalesce(phase, '');
UPDATE bus_transaction SET phase = coalesce(phase, '');
UPDATE run SET message = coalesce(message, '');
UPDATE track SET clock_domain = coalesce(clock_domain, ''), clock_hz = coalesce(clock_hz, 0);
DROP INDEX slice_parent; DROP INDEX guest_error_run; DROP INDEX flow_run; DROP INDEX flow_from; DROP INDEX flow_to;
DROP INDEX reg_access_track; DROP INDEX bus_transaction_run;
DROP VIEW args;
UPDATE meta SET value = '3' WHERE key = 'schema_version';
PRAGMA application_id = 0;
PRAGMA user_version = 0;
COMMIT;
)SQL";
    if (version == 2)
        sql += R"SQL(
BEGIN;
DROP TABLE campaign;
CREATE TABLE run2 (id INTEGER PRIMARY KEY, scenario TEXT NOT NULL, file TEXT NOT NULL, seed INTEGER NOT NULL,
  protocol TEXT, platform TEXT, status TEXT NOT NULL, outcome TEXT, workload TEXT, expected TEXT NOT NULL,
  message TEXT, sim_time INTEGER, wall_ms REAL, digest TEXT, trace_level TEXT, started_at TEXT NOT NULL,
  quiesce_version TEXT, faults TEXT);
INSERT INTO run2 SELECT id, scenario, file, seed, protocol, platform, status, outcome, workload, expected, message,
  sim_time, wall_ms, digest, trace_level, started_at, quiesce_version, faults FROM run;
DROP TABLE run;
ALTER TABLE run2 RENAME TO run;
UPDATE meta SET value = '2' WHERE key = 'schema_version';
COMMIT;
)SQL";
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    INFO((err ? err : ""));
    sqlite3_free(err);
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
}

// What a reader sees of a database, table by table and view by view.
std::vector<std::pair<std::string, std::string>> contents(const std::string& db, bool with_campaigns) {
    std::vector<std::string> sqls = {
        "SELECT id, scenario, file, seed, protocol, platform, status, outcome, workload, expected, message, sim_time,"
        " digest, trace_level, faults FROM run ORDER BY id",
        "SELECT * FROM track ORDER BY id",
        "SELECT * FROM slice ORDER BY id",
        "SELECT * FROM instant ORDER BY id",
        "SELECT * FROM counter ORDER BY id",
        "SELECT * FROM flow ORDER BY id",
        "SELECT * FROM violation ORDER BY id",
        "SELECT * FROM guest_error ORDER BY id",
        "SELECT * FROM fault ORDER BY id",
        "SELECT * FROM reg_access ORDER BY id",
        "SELECT * FROM bus_transaction ORDER BY id",
        "SELECT * FROM phases ORDER BY run_id, ts",
        "SELECT *, typeof(rc) FROM callbacks ORDER BY run_id, ts, device",
        "SELECT * FROM power_changes ORDER BY run_id, ts, component, change",
        "SELECT * FROM violations ORDER BY run_id, ts, invariant",
        "SELECT * FROM transactions_per_device ORDER BY run_id, target, initiator",
        "SELECT * FROM args ORDER BY table_name, row_id, key",
        "SELECT typeof(phase), typeof(args), count(*) FROM slice GROUP BY 1, 2",
    };
    if (with_campaigns) {
        sqls.push_back("SELECT id, campaign_id FROM run ORDER BY id");
        sqls.push_back("SELECT id, command, status FROM campaign ORDER BY id");
    }
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& sql : sqls) out.emplace_back(sql, list(db, sql));
    return out;
}

}  // namespace

TEST_CASE("sql: an argument that is a number is stored as one", "[sql][trace]") {
    using quiesce::typed_json;
    CHECK(typed_json(R"({"device":"dma0","rc":"-5"})") == R"({"device":"dma0","rc":-5})");
    CHECK(typed_json(R"({"irq":"10","at":"0","r":"1.25"})") == R"({"irq":10,"at":0,"r":1.25})");
    // Text that only looks like a number stays text: hex, leading zeros,
    // "-0", a sign, past 64 bits, an exponent, a hex digest of decimal digits.
    for (const char* text : {"0x1f", "007", "-0", "+1", "9223372036854775808", "1e3", "1.", ".5", "12 ", "", "-"})
        CHECK(typed_json(std::string(R"({"v":")") + text + "\"}") == std::string(R"({"v":")") + text + "\"}");
    CHECK(typed_json(R"({"v":"9223372036854775807","w":"-9223372036854775808"})") ==
          R"({"v":9223372036854775807,"w":-9223372036854775808})");
    CHECK(typed_json(R"({"digest":"1234567890123456"})") == R"({"digest":"1234567890123456"})");
    // Keys, escaped strings and nesting (a violation's evidence).
    CHECK(typed_json(R"({"5":"5","a\"b":"1\"","n":{"rc":"-19","l":["1","x"]}})") ==
          R"({"5":5,"a\"b":"1\"","n":{"rc":-19,"l":[1,"x"]}})");
    CHECK(typed_json("not json \"1\"") == "not json \"1\"");

    const std::string& db = docs_db();
    // The callbacks view's rc is an INTEGER: rc < 0 finds the failed ones.
    CHECK(value(db, "SELECT group_concat(DISTINCT typeof(rc)) FROM callbacks") == "integer");
    const int64_t negative = number(db, "SELECT count(*) FROM callbacks WHERE rc < 0");
    CHECK(negative >= 3);
    CHECK(negative == number(db, "SELECT count(*) FROM callbacks WHERE CAST(rc AS TEXT) GLOB '-[0-9]*'"));
    CHECK(number(db, "SELECT count(*) FROM callbacks WHERE rc <> 0") ==
          number(db, "SELECT count(*) FROM callbacks WHERE CAST(rc AS TEXT) <> '0'"));
    CHECK(number(db, "SELECT count(*) FROM callbacks WHERE rc <> 0") < number(db, "SELECT count(*) FROM callbacks"));
    // In every table with args, as json_extract and the args view read them.
    CHECK(value(db, "SELECT group_concat(DISTINCT typeof(json_extract(args, '$.irq'))) FROM instant "
                    "WHERE category = 'irq' AND name = 'assert'") == "integer");
    CHECK(value(db, "SELECT group_concat(DISTINCT typeof(json_extract(args, '$.pm1_sts'))) FROM instant "
                    "WHERE name = 'sleep-request'") == "text");
    CHECK(number(db, "SELECT count(*) FROM args WHERE table_name = 'slice' AND key = 'rc' AND int_value < 0") ==
          number(db, "SELECT count(*) FROM slice WHERE json_extract(args, '$.rc') < 0"));
    CHECK(number(db, "SELECT count(*) FROM args WHERE key = 'rc' AND value_type <> 'int'") == 0);
    CHECK(number(db, "SELECT count(*) FROM violation WHERE json_type(evidence, '$.irq') = 'text'") == 0);
}

TEST_CASE("sql: what is not there is NULL, never ''", "[sql][trace]") {
    const std::string& db = docs_db();
    int columns = 0;
    quiesce::TraceReader r(db);
    std::vector<std::pair<std::string, std::string>> cols;
    r.each("SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'", {},
           [&](const std::vector<std::string>& c) { cols.emplace_back(c[0], c[1]); });
    for (const auto& [table, column] : cols) {
        INFO(table << "." << column);
        CHECK(number(db, "SELECT count(*) FROM " + table + " WHERE \"" + column + "\" = ''") == 0);
        ++columns;
    }
    CHECK(columns > 100);
    for (const char* table : {"slice", "instant", "guest_error", "fault"}) {
        INFO(table);
        CHECK(number(db, std::string("SELECT count(*) FROM ") + table + " WHERE args = '{}'") == 0);
    }
    CHECK(number(db, "SELECT count(*) FROM slice WHERE phase IS NULL") > 0);
    CHECK(number(db, "SELECT count(*) FROM slice WHERE args IS NULL") > 0);
    CHECK(number(db, "SELECT count(*) FROM reg_access WHERE phase IS NULL") > 0);
    CHECK(number(db, "SELECT count(*) FROM run WHERE message IS NULL") > 0);
    CHECK(number(db, "SELECT count(*) FROM track WHERE clock_hz IS NULL AND clock_domain IS NULL") > 0);
    CHECK(number(db, "SELECT count(*) FROM track WHERE clock_hz = 0") == 0);
}

TEST_CASE("sql: quiesce's application_id and user_version, another program's SQLite file is refused", "[sql][trace]") {
    const std::string& db = docs_db();
    CHECK(number(db, "PRAGMA application_id") == quiesce::kTraceApplicationId);
    CHECK(number(db, "PRAGMA user_version") == quiesce::kTraceSchemaVersion);
    CHECK(value(db, "SELECT value FROM meta WHERE key = 'schema_version'") ==
          std::to_string(quiesce::kTraceSchemaVersion));

    const std::string dir = tmp_path("sql-foreign");
    fs::create_directories(dir);
    struct Case {
        const char* name;
        std::string sql, needle;
    };
    const std::vector<Case> cases = {
        // Another program's file that happens to have a meta table saying 3.
        {"foreign.db",
         "PRAGMA application_id = 305419896; CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
         "INSERT INTO meta VALUES ('schema_version', '3');",
         "not a quiesce trace database (its application_id is 0x12345678, not quiesce's 0x51554945)"},
        {"plain.db", "CREATE TABLE t(x); INSERT INTO t VALUES (1);", "not a quiesce trace database"},
        {"newer.db", "PRAGMA application_id = 1364543813; PRAGMA user_version = 99; CREATE TABLE t(x);",
         "trace schema version 99 (this quiesce reads versions 2 to 4)"},
    };
    for (const Case& c : cases) {
        const std::string path = dir + "/" + c.name;
        exec(path, c.sql);
        const auto before = snapshot(dir);
        for (const std::string& args :
             {"query " + path + " \"SELECT 1\"", "trace runs " + path, "trace show " + path + " 1",
              "run " + quiesce::test::regression("s3-basic") + " --db " + path, "merge " + dir + "/out.db " + path}) {
            quiesce::test::Cli r = sh(args);
            INFO(args << "\n" << r.out);
            CHECK(r.status == 2);
            CHECK(r.out.rfind("quiesce: " + path + ": ", 0) == 0);
            CHECK(r.out.find('\n') == r.out.size() - 1);
            if (args.rfind("run ", 0) == 0 && std::string(c.name) == "newer.db")
                CHECK(r.out.find("trace schema version 99 (this quiesce writes 4)") != std::string::npos);
            else
                CHECK(r.out.find(c.needle) != std::string::npos);
            CHECK(snapshot(dir) == before);
        }
    }
    fs::remove_all(dir);
}

TEST_CASE("sql: every SQL example of the docs runs, returns rows, and reads the event tables through an index",
          "[sql][trace][docs]") {
    const std::string& db = docs_db();
    std::vector<Example> all = examples_of("docs/trace-schema.md");
    const size_t in_schema_doc = all.size();
    for (const Example& e : examples_of("README.md")) all.push_back(e);
    CHECK(in_schema_doc >= 10);
    CHECK(all.size() > in_schema_doc);
    const bool cli = have_sqlite3_cli();
    if (!cli) WARN("no sqlite3 on PATH: the examples are not run through the sqlite3 client");
    const std::string file = tmp_path("example.sql");
    for (const Example& e : all) {
        INFO(e.doc << ": " << e.label << "\n" << e.sql);
        write_file(file, e.sql);
        // quiesce query, as the docs call it.
        quiesce::test::Cli r = sh("query " + db + " \"$(cat " + file + ")\" --format list");
        INFO(r.out);
        CHECK(r.status == 0);
        CHECK(std::count(r.out.begin(), r.out.end(), '\n') >= 2);  // a header and a row at least
        CHECK(full_scans(db, e.sql).empty());
        // sqlite3, SQLite's own client.
        if (cli) {
            quiesce::test::Cli s = shell("sqlite3 -bail 'file:" + db + "?immutable=1' \"$(cat " + file + ")\"");
            INFO(s.out);
            CHECK(s.status == 0);
            CHECK(!s.out.empty());
        }
    }
    fs::remove(file);
}

TEST_CASE("sql: following one register stays within one run", "[sql][trace][docs]") {
    const std::string db = tmp_path("register.db");
    const std::string bus = kRoot + "/scenarios/examples/s3-dma-legacy-bus-trace.toml";
    REQUIRE(sh("run " + bus + " " + bus + " --db " + db).status == 0);
    std::string sql;
    for (const Example& e : examples_of("docs/trace-schema.md"))
        if (e.label.find("Follow one register") != std::string::npos) sql = e.sql;
    REQUIRE(!sql.empty());
    if (sql.back() == ';') sql.pop_back();
    const int64_t rows = number(db, "SELECT count(*) FROM (" + sql + ")");
    CHECK(rows > 0);
    CHECK(rows == number(db, "SELECT count(*) FROM reg_access r JOIN track t ON t.id = r.track_id "
                             "WHERE t.name = 'dma0.config' AND r.register = 'BAR0'") / 2);
    fs::remove(db);
}

TEST_CASE("sql: the indexes under the common queries", "[sql][trace]") {
    const std::string& db = docs_db();
    // The check itself: a scan of an event table, by its name, an alias or
    // inside a view, is seen.
    CHECK(full_scans(db, "SELECT count(*) FROM slice WHERE name = 'resume'").size() == 1);
    CHECK(full_scans(db, "SELECT count(*) FROM instant i WHERE i.name = 'assert'").size() == 1);
    CHECK(full_scans(db, "SELECT count(*) FROM callbacks WHERE rc < 0").size() == 1);
    CHECK(full_scans(db, "SELECT count(*) FROM run WHERE status = 'failed'").empty());
    for (const char* sql : {
             "SELECT * FROM guest_error WHERE run_id = 2 AND name = 'pci.master-abort'",
             "SELECT * FROM flow WHERE run_id = 1",
             "SELECT * FROM flow WHERE from_table = 'instant' AND from_id = 7",
             "SELECT * FROM flow WHERE to_table = 'instant' AND to_id = 9",
             "SELECT * FROM slice WHERE parent_id = 12",
             "SELECT * FROM reg_access WHERE track_id = 40 AND register = 'BAR0' ORDER BY ts",
             "SELECT * FROM bus_transaction WHERE run_id = 2 AND target = 'ecam'",
             "SELECT * FROM transactions_per_device WHERE run_id = 2",
             "SELECT * FROM callbacks WHERE run_id = 3 AND rc < 0",
         }) {
        INFO(sql << "\n" << list(db, std::string("EXPLAIN QUERY PLAN ") + sql));
        CHECK(full_scans(db, sql).empty());
    }
}

TEST_CASE("sql: databases of schema versions 2 and 3 read as version 4, and merge copies them into it",
          "[sql][trace][merge]") {
    const std::string dir = tmp_path("sql-old");
    fs::create_directories(dir);
    const std::string v4 = dir + "/v4.db";
    fs::copy_file(docs_db(), v4);
    const auto expected = contents(v4, true);
    for (int version : {3, 2}) {
        DYNAMIC_SECTION("version " << version) {
            const std::string old = dir + "/v" + std::to_string(version) + ".db";
            write_old_version(v4, old, version);
            REQUIRE(quiesce::TraceReader(old).version() == version);
            const auto before = snapshot(dir);
            // Read: what version 4 holds, as version 4 has it.
            const auto seen = contents(old, version == 3);
            for (size_t i = 0; i < seen.size(); ++i) {
                INFO(seen[i].first);
                CHECK(seen[i].second == expected[i].second);
            }
            for (const char* command : {"trace show DB 3", "trace diff DB 1 4", "trace summary DB",
                                        "trace export DB 2", "trace export DB 3 --format html",
                                        "trace export DB 2 --format vcd"}) {
                INFO(command);
                auto with = [&](const std::string& path) {
                    return std::regex_replace(command, std::regex(R"(\bDB\b)"), path);
                };
                quiesce::test::Cli a = sh(with(old)), b = sh(with(v4));
                CHECK(a.status == 0);
                CHECK(a.out == b.out);
            }
            CHECK(snapshot(dir) == before);  // read-only: nothing written, no side files
            // Written to: refused, with the way to version 4.
            quiesce::test::Cli r = sh("run " + quiesce::test::regression("s3-basic") + " --db " + old);
            INFO(r.out);
            CHECK(r.status == 2);
            CHECK(r.out == "quiesce: " + old + ": trace schema version " + std::to_string(version) +
                               ": this quiesce adds runs to version 4 only (quiesce merge NEW.db " + old +
                               " copies its runs into a new database of version 4)\n");
            CHECK(snapshot(dir) == before);
            // Merged: a database of version 4 with the same rows.
            const std::string merged = dir + "/merged.db";
            r = sh("merge " + merged + " " + old);
            INFO(r.out);
            CHECK(r.status == 0);
            CHECK(number(merged, "PRAGMA user_version") == 4);
            const auto copied = contents(merged, version == 3);
            for (size_t i = 0; i < copied.size(); ++i) {
                INFO(copied[i].first);
                CHECK(copied[i].second == expected[i].second);
            }
            if (version == 2) {
                CHECK(number(merged, "SELECT count(*) FROM campaign") == 0);
                CHECK(number(merged, "SELECT count(*) FROM run WHERE campaign_id IS NOT NULL") == 0);
            }
            fs::remove(merged);
            fs::remove(old);
        }
    }
    fs::remove_all(dir);
}

TEST_CASE("sql: a version 4 database written before run_input reads with none, a writer adds it, merge copies it",
          "[sql][trace][merge]") {
    const std::string dir = tmp_path("sql-run-input");
    fs::create_directories(dir);
    const std::string before = dir + "/before.db";
    REQUIRE(sh("run " + quiesce::test::regression("s3-basic") + " --db " + before).status == 0);
    REQUIRE(number(before, "SELECT count(*) FROM run_input WHERE run_id = 1") >= 3);
    // As a quiesce of version 4 before run_input wrote it.
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(before.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "DROP TABLE run_input", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
    CHECK(number(before, "SELECT count(*) FROM run_input") == 0);
    quiesce::test::Cli r = sh("replay " + before + " 1");
    CHECK(r.status == 0);
    // Merged into a new database: its runs, with no inputs...
    const std::string merged = dir + "/merged.db";
    REQUIRE(sh("merge " + merged + " " + before).status == 0);
    CHECK(number(merged, "SELECT count(*) FROM run") == 1);
    CHECK(number(merged, "SELECT count(*) FROM run_input") == 0);
    // ...and a writer adds the table to the old file, and rows for its own run.
    REQUIRE(sh("run " + quiesce::test::regression("s3-basic") + " --db " + before).status == 0);
    CHECK(number(before, "SELECT count(*) FROM run_input WHERE run_id = 1") == 0);
    CHECK(number(before, "SELECT count(*) FROM run_input WHERE run_id = 2") >= 3);
    // (into a new database: merge copies no campaign twice)
    const std::string again = dir + "/again.db";
    REQUIRE(sh("merge " + again + " " + before).status == 0);
    CHECK(number(again, "SELECT count(*) FROM run_input WHERE run_id = 1") == 0);
    CHECK(number(again, "SELECT count(*) FROM run_input WHERE run_id = 2") >= 3);
    fs::remove_all(dir);
}
