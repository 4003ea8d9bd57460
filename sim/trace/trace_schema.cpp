// The trace database's schema (docs/trace-schema.md): its tables, indexes
// and views; what a file says its version is (read_stamp); the TEMP views
// that read versions 2 and 3 as this one (compat_sql); and merge_from,
// which appends another database's rows table by table, renumbering every
// id column the schema has.
#include "sim/trace/trace_db.h"

#include "sim/core/heap_arena.h"
#include "sim/trace/db_write.h"
#include "sim/trace/typed_args.h"

#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/mman.h>

#include <algorithm>
#include <exception>
#include <map>
#include <string>
#include <vector>

namespace quiesce {

using namespace trace_detail;

namespace {

const char* const kTablesSql = R"SQL(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS campaign (
  id INTEGER PRIMARY KEY,
  command TEXT NOT NULL,
  scenarios TEXT NOT NULL,
  planned INTEGER,
  status TEXT NOT NULL,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  pid INTEGER NOT NULL,
  host TEXT NOT NULL,
  process_start TEXT NOT NULL,
  quiesce_version TEXT
);
CREATE TABLE IF NOT EXISTS run (
  id INTEGER PRIMARY KEY,
  scenario TEXT NOT NULL,
  file TEXT NOT NULL,
  seed INTEGER NOT NULL,
  protocol TEXT,
  platform TEXT,
  status TEXT NOT NULL,
  outcome TEXT,
  workload TEXT,
  expected TEXT NOT NULL,
  message TEXT,
  sim_time INTEGER,
  wall_ms REAL,
  digest TEXT,
  trace_level TEXT,
  started_at TEXT NOT NULL,
  quiesce_version TEXT,
  faults TEXT,
  campaign_id INTEGER REFERENCES campaign(id)
);
CREATE TABLE IF NOT EXISTS track (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES run(id),
  name TEXT NOT NULL,
  parent_id INTEGER REFERENCES track(id),
  kind TEXT,
  clock_domain TEXT,
  clock_hz INTEGER
);
CREATE TABLE IF NOT EXISTS slice (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES run(id),
  track_id INTEGER NOT NULL REFERENCES track(id),
  ts INTEGER NOT NULL,
  dur INTEGER NOT NULL,
  ts_cycles INTEGER,
  dur_cycles INTEGER,
  name TEXT NOT NULL,
  category TEXT,
  depth INTEGER NOT NULL,
  parent_id INTEGER REFERENCES slice(id),
  phase TEXT,
  args TEXT
);
CREATE TABLE IF NOT EXISTS instant (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES run(id),
  track_id INTEGER NOT NULL REFERENCES track(id),
  ts INTEGER NOT NULL,
  ts_cycles INTEGER,
  name TEXT NOT NULL,
  category TEXT,
  phase TEXT,
  args TEXT
);
CREATE TABLE IF NOT EXISTS counter (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES run(id),
  track_id INTEGER NOT NULL REFERENCES track(id),
  ts INTEGER NOT NULL,
  ts_cycles INTEGER,
  name TEXT NOT NULL,
  value REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS flow (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES run(id),
  name TEXT NOT NULL,
  from_table TEXT NOT NULL,
  from_id INTEGER NOT NULL,
  to_table TEXT NOT NULL,
  to_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS violation (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES run(id),
  invariant TEXT NOT NULL,
  ts INTEGER NOT NULL,
  ts_cycles INTEGER,
  component TEXT,
  phase TEXT,
  message TEXT NOT NULL,
  evidence TEXT
);
CREATE TABLE IF NOT EXISTS guest_error (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES run(id),
  track_id INTEGER NOT NULL REFERENCES track(id),
  ts INTEGER NOT NULL,
  ts_cycles INTEGER,
  name TEXT NOT NULL,
  phase TEXT,
  args TEXT
);
CREATE TABLE IF NOT EXISTS fault (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES run(id),
  track_id INTEGER NOT NULL REFERENCES track(id),
  ts INTEGER NOT NULL,
  ts_cycles INTEGER,
  kind TEXT NOT NULL,
  phase TEXT,
  args TEXT
);
CREATE TABLE IF NOT EXISTS reg_access (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES run(id),
  track_id INTEGER NOT NULL REFERENCES track(id),
  ts INTEGER NOT NULL,
  ts_cycles INTEGER,
  register TEXT NOT NULL,
  offset INTEGER NOT NULL,
  size INTEGER NOT NULL,
  is_write INTEGER NOT NULL,
  value INTEGER NOT NULL,
  state_class TEXT NOT NULL,
  initiator TEXT,
  phase TEXT
);
CREATE TABLE IF NOT EXISTS bus_transaction (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES run(id),
  ts INTEGER NOT NULL,
  initiator TEXT,
  target TEXT,
  addr INTEGER NOT NULL,
  size INTEGER NOT NULL,
  is_write INTEGER NOT NULL,
  response INTEGER NOT NULL,
  phase TEXT
);
CREATE TABLE IF NOT EXISTS run_input (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES run(id),
  path TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS run_input_run ON run_input(run_id);
CREATE INDEX IF NOT EXISTS slice_run ON slice(run_id, track_id, ts);
CREATE INDEX IF NOT EXISTS violation_run ON violation(run_id, invariant);
CREATE INDEX IF NOT EXISTS instant_run ON instant(run_id, track_id, ts);
CREATE INDEX IF NOT EXISTS slice_category ON slice(run_id, category, ts);
CREATE INDEX IF NOT EXISTS counter_run ON counter(run_id, track_id, ts);
CREATE INDEX IF NOT EXISTS fault_run ON fault(run_id, ts);
CREATE INDEX IF NOT EXISTS track_run ON track(run_id, name);
CREATE INDEX IF NOT EXISTS slice_parent ON slice(parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS guest_error_run ON guest_error(run_id, name, ts);
CREATE INDEX IF NOT EXISTS flow_run ON flow(run_id, name);
CREATE INDEX IF NOT EXISTS flow_from ON flow(from_table, from_id);
CREATE INDEX IF NOT EXISTS flow_to ON flow(to_table, to_id);
CREATE INDEX IF NOT EXISTS reg_access_track ON reg_access(track_id, register, ts);
CREATE INDEX IF NOT EXISTS bus_transaction_run ON bus_transaction(run_id, target, initiator);
)SQL";

const char* const kViewsSql = R"SQL(
CREATE VIEW IF NOT EXISTS phases AS
  SELECT s.run_id, s.ts, s.dur, s.ts_cycles, s.dur_cycles, s.name AS phase, s.args
  FROM slice s JOIN track t ON t.id = s.track_id WHERE s.category = 'phase' AND t.name = 'kernel';
CREATE VIEW IF NOT EXISTS callbacks AS
  SELECT s.run_id, t.name AS device, s.name AS callback, s.phase, s.ts, s.dur, s.ts_cycles, s.dur_cycles,
         json_extract(s.args, '$.rc') AS rc
  FROM slice s JOIN track t ON t.id = s.track_id WHERE s.category = 'callback';
CREATE VIEW IF NOT EXISTS power_changes AS
  SELECT i.run_id, t.name AS component, i.ts, i.ts_cycles, i.name AS change, i.phase
  FROM instant i JOIN track t ON t.id = i.track_id WHERE i.category = 'power';
CREATE VIEW IF NOT EXISTS violations AS
  SELECT v.run_id, v.ts, v.ts_cycles, v.invariant, v.component, v.phase, v.message, v.evidence,
         (SELECT group_concat(f.kind, ',') FROM fault f WHERE f.run_id = v.run_id AND f.ts <= v.ts) AS faults_before
  FROM violation v;
CREATE VIEW IF NOT EXISTS transactions_per_device AS
  SELECT run_id, target, initiator, count(*) AS transactions, sum(size) AS bytes
  FROM bus_transaction GROUP BY run_id, target, initiator;
)SQL";

// The args view: every argument of every row, one a row, Perfetto-style
// (int_value, real_value, string_value by value_type).
std::string args_view() {
    static const char* const sources[][2] = {
        {"slice", "args"}, {"instant", "args"}, {"guest_error", "args"}, {"fault", "args"}, {"violation", "evidence"}};
    std::string sql = "CREATE VIEW IF NOT EXISTS args AS\n";
    bool first = true;
    for (const auto& [table, column] : sources) {
        if (!first) sql += "  UNION ALL\n";
        first = false;
        sql += fmt::format(
            "  SELECT '{0}' AS table_name, x.id AS row_id, x.run_id, a.key,\n"
            "         CASE a.type WHEN 'integer' THEN 'int' WHEN 'real' THEN 'real' WHEN 'text' THEN 'string'"
            " WHEN 'true' THEN 'bool' WHEN 'false' THEN 'bool' WHEN 'null' THEN 'null' ELSE 'json' END AS value_type,\n"
            "         CASE WHEN a.type IN ('integer', 'true', 'false') THEN a.atom END AS int_value,\n"
            "         CASE a.type WHEN 'real' THEN a.atom END AS real_value,\n"
            "         CASE WHEN a.type = 'text' THEN a.atom WHEN a.type IN ('object', 'array') THEN a.value END"
            " AS string_value,\n"
            "         CASE WHEN a.type IN ('object', 'array') THEN a.value ELSE a.atom END AS display_value\n"
            "  FROM {0} x, json_each(x.{1}) a\n",
            table, column);
    }
    return sql + ";\n";
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) text.replace(at, from.size(), to);
    return text;
}

}  // namespace

const char* TraceDb::schema_sql() {
    static const std::string sql = std::string(kTablesSql) + views_sql(false);
    return sql.c_str();
}

namespace trace_detail {

std::string views_sql(bool temp) {
    const std::string sql = kViewsSql + args_view();
    return temp ? replace_all(sql, "CREATE VIEW IF NOT EXISTS", "CREATE TEMP VIEW") : sql;
}

std::vector<std::string> compat_tables(int version) {
    std::vector<std::string> out = {"run",       "track",       "slice", "instant",    "violation",
                                    "guest_error", "fault", "reg_access", "bus_transaction"};
    if (version < 3) out.push_back("campaign");
    return out;
}

std::string compat_sql(int version, const std::string& schema, const std::string& prefix) {
    const std::string none = "NULLIF(phase, '') AS phase";
    std::string sql = fmt::format(
        "CREATE TEMP VIEW {0}run AS SELECT id, scenario, file, seed, protocol, platform, status, outcome, workload,"
        " expected, NULLIF(message, '') AS message, sim_time, wall_ms, digest, trace_level, started_at,"
        " quiesce_version, faults, {2} AS campaign_id FROM {1}.run;\n"
        "CREATE TEMP VIEW {0}track AS SELECT id, run_id, name, parent_id, kind, NULLIF(clock_domain, '') AS"
        " clock_domain, NULLIF(clock_hz, 0) AS clock_hz FROM {1}.track;\n"
        "CREATE TEMP VIEW {0}slice AS SELECT id, run_id, track_id, ts, dur, ts_cycles, dur_cycles, name, category,"
        " depth, parent_id, {3}, quiesce_args(args) AS args FROM {1}.slice;\n"
        "CREATE TEMP VIEW {0}instant AS SELECT id, run_id, track_id, ts, ts_cycles, name, category, {3},"
        " quiesce_args(args) AS args FROM {1}.instant;\n"
        "CREATE TEMP VIEW {0}violation AS SELECT id, run_id, invariant, ts, ts_cycles, component, {3}, message,"
        " quiesce_args(evidence) AS evidence FROM {1}.violation;\n"
        "CREATE TEMP VIEW {0}guest_error AS SELECT id, run_id, track_id, ts, ts_cycles, name, {3},"
        " quiesce_args(args) AS args FROM {1}.guest_error;\n"
        "CREATE TEMP VIEW {0}fault AS SELECT id, run_id, track_id, ts, ts_cycles, kind, {3},"
        " quiesce_args(args) AS args FROM {1}.fault;\n"
        "CREATE TEMP VIEW {0}reg_access AS SELECT id, run_id, track_id, ts, ts_cycles, register, offset, size,"
        " is_write, value, state_class, initiator, {3} FROM {1}.reg_access;\n"
        "CREATE TEMP VIEW {0}bus_transaction AS SELECT id, run_id, ts, initiator, target, addr, size, is_write,"
        " response, {3} FROM {1}.bus_transaction;\n",
        prefix, schema, version < 3 ? "NULL" : "campaign_id", none);
    if (version < 3)
        sql += fmt::format(
            "CREATE TEMP VIEW {0}campaign(id, command, scenarios, planned, status, started_at, ended_at, pid, host,"
            " process_start, quiesce_version) AS SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
            " NULL LIMIT 0;\n",
            prefix);
    return sql;
}

namespace {

// Pages of SQLite's cache the buffer holds: a writer's default cache (2000
// KiB, about 470 pages of 4 KiB) and a reader's beside it; pages past them
// come from malloc as they would without the buffer.
constexpr int kCacheSlots = 1024;

PageCacheBuffer g_page_cache;

// Maps the buffer, wiped in a forked child, and hands it to SQLite; before
// SQLite's first initialisation only.
void set_page_cache() {
    int header = 0;
    if (sqlite3_config(SQLITE_CONFIG_PCACHE_HDRSZ, &header) != SQLITE_OK) return;
    // A slot holds a page of the default size (4096; a larger page comes
    // from malloc) and SQLite's header for it, 8-byte aligned.
    const std::size_t slot = (4096 + std::size_t(header) + 7) / 8 * 8;
    const std::size_t huge = std::size_t(2) << 20;
    const std::size_t bytes = (slot * kCacheSlots + huge - 1) / huge * huge;
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    if (::madvise(p, bytes, MADV_WIPEONFORK) != 0) {  // a kernel before 4.14: SQLite's own way
        ::munmap(p, bytes);
        return;
    }
    if (!heap_arena::huge_pages_off()) ::madvise(p, bytes, MADV_HUGEPAGE);
    if (sqlite3_config(SQLITE_CONFIG_PAGECACHE, p, int(slot), kCacheSlots) != SQLITE_OK) {
        ::munmap(p, bytes);
        return;
    }
    g_page_cache = {p, bytes};
}

}  // namespace

bool configure_sqlite() {
    // SQLite's first initialisation reads the configuration; after it,
    // sqlite3_config() is refused (SQLITE_MISUSE) and changes nothing.
    static const bool off = [] {
        const bool memstatus_off = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
        if (memstatus_off) set_page_cache();
        return memstatus_off;
    }();
    return off;
}

PageCacheBuffer page_cache_buffer() { return g_page_cache; }

Stamp read_stamp(sqlite3* db) {
    auto failed = [&](int rc) {
        // Not a database at all, or one without quiesce's meta table: not ours.
        if ((rc & 0xff) == SQLITE_NOTADB) return Stamp{Stamp::Foreign, 0, "not a quiesce trace database"};
        return Stamp{Stamp::Unreadable, 0, sqlite3_errmsg(db)};
    };
    auto pragma = [&](const char* sql, int64_t& v) {
        sqlite3_stmt* st = nullptr;
        int rc = sqlite3_prepare_v2(db, sql, -1, &st, nullptr);
        if (rc == SQLITE_OK) rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            v = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
        return rc;
    };
    int64_t app = 0, user_version = 0;
    int rc = pragma("PRAGMA application_id", app);
    if (rc == SQLITE_OK) rc = pragma("PRAGMA user_version", user_version);
    if (rc != SQLITE_OK) return failed(rc);
    if (app == kTraceApplicationId) {
        if (user_version <= 0)
            return {Stamp::Foreign, 0, "not a quiesce trace database (quiesce's application_id, but no user_version)"};
        return {Stamp::Trace, int(std::min<int64_t>(user_version, 1 << 30)), ""};
    }
    if (app != 0)
        return {Stamp::Foreign, 0,
                fmt::format("not a quiesce trace database (its application_id is {:#010x}, not quiesce's {:#010x})",
                            uint32_t(app), uint32_t(kTraceApplicationId))};
    // No application_id: a database of version 2 or 3, or none of ours.
    sqlite3_stmt* st = nullptr;
    rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st, nullptr);
    int version = 0;
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW && version > 0) return {Stamp::Trace, version, ""};
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) return {Stamp::Foreign, 0, "not a quiesce trace database"};
    if ((rc & 0xff) != SQLITE_ERROR) return failed(rc);
    // No meta table: an empty database, or another program's.
    int64_t tables = -1;
    rc = pragma("SELECT count(*) FROM sqlite_master", tables);
    if (rc != SQLITE_OK) return failed(rc);
    if (tables == 0) return {Stamp::Empty, 0, ""};
    return {Stamp::Foreign, 0, "not a quiesce trace database"};
}

std::string damage(sqlite3* db, const std::string& path) {
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db, "PRAGMA main.quick_check(1)", -1, &st, nullptr);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    std::string verdict;
    if (rc == SQLITE_ROW) {
        const unsigned char* text = sqlite3_column_text(st, 0);
        if (text) verdict = reinterpret_cast<const char*>(text);
    } else if (environment_failure(db)) {
        std::exception_ptr e = db_error(db, path, "cannot read database");
        sqlite3_finalize(st);
        std::rethrow_exception(e);
    } else {
        verdict = sqlite3_errmsg(db);  // "database disk image is malformed"
    }
    sqlite3_finalize(st);
    if (verdict == "ok") return "";
    // "*** in database main ***\nPage 81: btreeInitPage() returns error code 11"
    const std::string banner = "*** in database main ***";
    if (verdict.rfind(banner, 0) == 0) verdict.erase(0, banner.size());
    std::replace(verdict.begin(), verdict.end(), '\n', ' ');
    const size_t first = verdict.find_first_not_of(' ');
    verdict.erase(0, first == std::string::npos ? verdict.size() : first);
    return verdict.empty() ? "its check said nothing" : verdict;
}

}  // namespace trace_detail

int64_t TraceDb::merge_from(const std::string& other) {
    int version = 0;
    {
        TraceReader check(other);  // a quiesce database of a version it reads, or an InputError
        version = check.version();
    }
    // Tables in dependency order, and what their id columns point at.
    static const std::vector<std::string> all_tables = {"campaign", "run",       "run_input", "track",
                                                        "slice",    "instant",   "counter",   "flow",
                                                        "violation", "guest_error", "fault",  "reg_access",
                                                        "bus_transaction"};
    auto scalar = [&](const std::string& sql) {
        sqlite3_stmt* st = nullptr;
        int64_t v = 0;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return v;
    };
    std::map<std::string, int64_t> off;
    for (const auto& t : all_tables) off[t] = scalar("SELECT COALESCE(MAX(id), 0) FROM main." + t);
    {
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(db_, "ATTACH DATABASE ? AS src", -1, &st, nullptr);
        sqlite3_bind_text(st, 1, other.c_str(), -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            std::rethrow_exception(db_error(db_, other, std::string("cannot attach: ") + sqlite3_errmsg(db_)));
    }
    // An older version is read through TEMP views old_TABLE that give its
    // rows as this version has them (compat_sql).
    const bool old = version < kTraceSchemaVersion;
    const std::vector<std::string> converted = old ? compat_tables(version) : std::vector<std::string>();
    // run_input came within version 4: a database written before has none.
    std::vector<std::string> tables;
    for (const auto& t : all_tables)
        if (std::find(converted.begin(), converted.end(), t) != converted.end() ||
            scalar("SELECT count(*) FROM src.sqlite_master WHERE type = 'table' AND name = '" + t + "'"))
            tables.push_back(t);
    auto source = [&](const std::string& t) {
        return std::find(converted.begin(), converted.end(), t) != converted.end() ? "temp.old_" + t : "src." + t;
    };
    auto forget = [&] {
        for (const auto& t : converted)
            sqlite3_exec(db_, ("DROP VIEW IF EXISTS temp.old_" + t).c_str(), nullptr, nullptr, nullptr);
        sqlite3_exec(db_, "DETACH DATABASE src", nullptr, nullptr, nullptr);
    };
    int64_t added = 0;
    try {
        if (old) exec(compat_sql(version, "src", "old_").c_str());
        added = scalar("SELECT count(*) FROM " + source("run"));
        exec("BEGIN");
        for (const auto& t : tables) {
            std::vector<std::string> cols;
            sqlite3_stmt* st = nullptr;
            sqlite3_prepare_v2(db_, ("PRAGMA main.table_info(" + t + ")").c_str(), -1, &st, nullptr);
            while (sqlite3_step(st) == SQLITE_ROW) cols.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)));
            sqlite3_finalize(st);
            auto moved = [&](const std::string& table_col) {
                return "CASE " + table_col + " WHEN 'slice' THEN " + std::to_string(off["slice"]) + " WHEN 'instant' THEN " +
                       std::to_string(off["instant"]) + " WHEN 'violation' THEN " + std::to_string(off["violation"]) +
                       " WHEN 'fault' THEN " + std::to_string(off["fault"]) + " ELSE 0 END";
            };
            std::string names, values;
            for (const auto& c : cols) {
                std::string v = c;
                if (c == "id") v = "id + " + std::to_string(off[t]);
                else if (c == "run_id") v = "run_id + " + std::to_string(off["run"]);
                else if (c == "campaign_id") v = "campaign_id + " + std::to_string(off["campaign"]);
                else if (c == "track_id") v = "track_id + " + std::to_string(off["track"]);
                else if (c == "parent_id") v = "parent_id + " + std::to_string(off[t == "track" ? "track" : "slice"]);
                else if (t == "flow" && c == "from_id") v = "from_id + " + moved("from_table");
                else if (t == "flow" && c == "to_id") v = "to_id + " + moved("to_table");
                names += (names.empty() ? "" : ", ") + c;
                values += (values.empty() ? "" : ", ") + v;
            }
            exec(("INSERT INTO main." + t + "(" + names + ") SELECT " + values + " FROM " + source(t) + " ORDER BY id")
                     .c_str());
        }
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        forget();
        throw;
    }
    for (const auto& t : converted) exec(("DROP VIEW temp.old_" + t).c_str());
    exec("DETACH DATABASE src");
    return added;
}

}  // namespace quiesce
