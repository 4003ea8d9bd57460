// The trace database's schema (docs/trace-schema.md): its tables, indexes
// and views, and merge_from, which appends another database's rows table by
// table, renumbering every id column the schema has.
#include "sim/trace/trace_db.h"

#include "sim/trace/db_write.h"

#include <sqlite3.h>

#include <map>
#include <string>
#include <vector>

namespace quiesce {

using namespace trace_detail;

const char* TraceDb::schema_sql() {
    return R"SQL(
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
CREATE INDEX IF NOT EXISTS slice_run ON slice(run_id, track_id, ts);
CREATE INDEX IF NOT EXISTS violation_run ON violation(run_id, invariant);
CREATE INDEX IF NOT EXISTS instant_run ON instant(run_id, track_id, ts);
CREATE INDEX IF NOT EXISTS slice_category ON slice(run_id, category, ts);
CREATE INDEX IF NOT EXISTS counter_run ON counter(run_id, track_id, ts);
CREATE INDEX IF NOT EXISTS fault_run ON fault(run_id, ts);
CREATE INDEX IF NOT EXISTS track_run ON track(run_id, name);
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
}

int64_t TraceDb::merge_from(const std::string& other) {
    { TraceReader check(other); }  // a quiesce database of this version, or an InputError
    // Tables in dependency order, and what their id columns point at.
    static const std::vector<std::string> tables = {"campaign",  "run",   "track",       "slice",       "instant",
                                                    "counter",   "flow",  "violation",   "guest_error",
                                                    "fault",     "reg_access", "bus_transaction"};
    auto scalar = [&](const std::string& sql) {
        sqlite3_stmt* st = nullptr;
        int64_t v = 0;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return v;
    };
    std::map<std::string, int64_t> off;
    for (const auto& t : tables) off[t] = scalar("SELECT COALESCE(MAX(id), 0) FROM main." + t);
    {
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(db_, "ATTACH DATABASE ? AS src", -1, &st, nullptr);
        sqlite3_bind_text(st, 1, other.c_str(), -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            std::rethrow_exception(db_error(db_, other, std::string("cannot attach: ") + sqlite3_errmsg(db_)));
    }
    int64_t added = scalar("SELECT count(*) FROM src.run");
    try {
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
            exec(("INSERT INTO main." + t + "(" + names + ") SELECT " + values + " FROM src." + t + " ORDER BY id").c_str());
        }
        exec("COMMIT");
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        sqlite3_exec(db_, "DETACH DATABASE src", nullptr, nullptr, nullptr);
        throw;
    }
    exec("DETACH DATABASE src");
    return added;
}

}  // namespace quiesce
