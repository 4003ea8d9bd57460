#include "sim/trace/trace_db.h"

#include "sim/core/errors.h"
#include "sim/core/paths.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <exception>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

namespace quiesce {

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

namespace {

// Whether the last failure on `db` is the machine's rather than the
// input's: the disk is full (SQLITE_FULL), an I/O error (SQLITE_IOERR: a
// write past a file-size limit, EIO), or a file that could not be created
// for lack of space (SQLITE_CANTOPEN with ENOSPC or EDQUOT).
bool environment_failure(sqlite3* db) {
    if (!db) return false;
    const int code = sqlite3_extended_errcode(db) & 0xff;
    if (code == SQLITE_FULL || code == SQLITE_IOERR) return true;
    return code == SQLITE_CANTOPEN && environment_errno(sqlite3_system_errno(db));
}

// The last failure on `db` as the error the CLI maps to its exit status:
// EnvironmentError (3) or InputError (2). Taken before any other call on
// `db` replaces its error code. The OS's words are added when SQLite kept
// them ("database error: disk I/O error (File too large)"): its errno is the
// last system call's, which a clean-up after the failure may have replaced.
std::exception_ptr db_error(sqlite3* db, const std::string& path, const std::string& what) {
    if (!environment_failure(db)) return std::make_exception_ptr(InputError(path, 0, 0, "", what));
    const int err = sqlite3_system_errno(db);
    return std::make_exception_ptr(
        EnvironmentError(path, environment_errno(err) ? what + " (" + std::strerror(err) + ")" : what));
}

class Stmt {
public:
    Stmt(sqlite3* db, const char* sql) {
        if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK)
            SIM_PANIC("prepare failed: {}: {}", sqlite3_errmsg(db), sql);
    }
    ~Stmt() { sqlite3_finalize(s_); }
    Stmt& bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); return *this; }
    Stmt& bind(int i, double v) { sqlite3_bind_double(s_, i, v); return *this; }
    Stmt& bind(int i, const std::string& v) {
        sqlite3_bind_text(s_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Stmt& bind_null(int i) { sqlite3_bind_null(s_, i); return *this; }
    // Runs a query expected to give one row, handing it to `row`.
    void step_row(sqlite3* db, const std::string& path, const std::function<void(sqlite3_stmt*)>& row) {
        int rc = sqlite3_step(s_);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) fail(db, path);
        if (rc == SQLITE_ROW) row(s_);
        sqlite3_reset(s_);
    }
    // Runs a statement; a failure names the database `path` (db_error: the
    // disk's, exit 3, or the input's, exit 2).
    int64_t run(sqlite3* db, const std::string& path) {
        int rc = sqlite3_step(s_);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) fail(db, path);
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
        return sqlite3_last_insert_rowid(db);
    }

private:
    [[noreturn]] void fail(sqlite3* db, const std::string& path) {
        std::exception_ptr e = db_error(db, path, std::string("database error: ") + sqlite3_errmsg(db));
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
        std::rethrow_exception(e);
    }
    sqlite3_stmt* s_ = nullptr;
};

std::string args_json(const std::vector<Arg>& args) {
    std::string out = "{";
    for (size_t i = 0; i < args.size(); ++i) {
        // Evidence is already JSON; everything else is a string.
        bool raw = args[i].key == "evidence" && !args[i].value.empty() && args[i].value[0] == '{';
        out += (i ? "," : "") + fmt::format("\"{}\":", json_escape(args[i].key)) +
               (raw ? args[i].value : "\"" + json_escape(args[i].value) + "\"");
    }
    return out + "}";
}

std::string read_first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

// /proc/PID/stat: the state (field 3) and the start time (field 22, clock
// ticks after boot); the command name (field 2) may hold spaces and ')'.
bool proc_stat(long pid, char& state, std::string& start) {
    std::string stat = read_first_line(fmt::format("/proc/{}/stat", pid));
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) return false;
    std::istringstream fields(stat.substr(paren + 1));
    std::string f;
    for (int i = 3; i <= 22 && fields >> f; ++i) {
        if (i == 3) state = f.empty() ? '?' : f[0];
        if (i == 22) start = f;
    }
    return !start.empty();
}

std::string utc_now() {
    std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

}  // namespace

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "?";
    return buf;
}

std::string process_start_of(long pid) {
    char state = '?';
    std::string start;
    if (!proc_stat(pid, state, start)) return "";
    return read_first_line("/proc/sys/kernel/random/boot_id") + "/" + start;
}

std::string campaign_state(const std::string& status, int64_t pid, const std::string& host,
                           const std::string& process_start) {
    if (status != "running") return status;
    if (host != host_name()) return "unfinished";
    char state = '?';
    std::string start;
    const bool alive = pid > 0 && proc_stat(long(pid), state, start) && state != 'Z' && state != 'X' &&
                       !process_start.empty() && process_start == process_start_of(long(pid));
    return alive ? "running" : "interrupted";
}

std::string trace_campaigns(const TraceReader& db) {
    std::string out;
    // Text columns only: a hostile database's values are shown, never parsed
    // into a crash.
    db.each("SELECT c.id, c.status, c.pid, c.host, c.process_start, c.planned, c.started_at, c.ended_at, c.command,"
            " (SELECT count(*) FROM run r WHERE r.campaign_id = c.id) FROM campaign c ORDER BY c.id",
            {}, [&](const std::vector<std::string>& c) {
                const int64_t pid = std::strtoll(c[2].c_str(), nullptr, 10);
                const std::string state = campaign_state(c[1], pid, c[3], c[4]);
                const std::string runs = c[5].empty() ? c[9] + " runs" : c[9] + " of " + c[5] + " runs";
                const std::string when =
                    c[7].empty() ? c[6] + (state == "running" ? ", running" : ", cut short") : c[6] + " to " + c[7];
                // A campaign over a whole folder has a command line of
                // thousands of characters: its start here, all of it in
                // campaign.command.
                std::string command = one_line(c[8]);
                if (command.size() > 120) command = command.substr(0, 117) + "...";
                out += fmt::format("{:>8}  {:<12} {:>16}  {:<43}  {}\n", one_line(c[0]), one_line(state),
                                   one_line(runs), one_line(when), command);
            });
    return out.empty() ? out
                       : fmt::format("\n{:>8}  {:<12} {:>16}  {:<43}  {}\n", "campaign", "state", "runs", "when",
                                     "command") +
                             out;
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

void TraceDb::Close::operator()(sqlite3* db) const { sqlite3_close(db); }

TraceDb::TraceDb(const std::string& path) : path_(path), owner_pid_(long(::getpid())) {
    bool existed = path_kind(path) != PathKind::Missing;
    if (!existed) {
        // Created here (O_EXCL), so that the file is known to be this
        // command's to remove if what follows fails. Any error but the
        // machine's is sqlite3_open_v2's to report, as it always was.
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ::close(fd);
            created_ = true;
        } else if (errno == EEXIST) {
            existed = true;
        } else if (environment_errno(errno)) {
            throw EnvironmentError(path, std::string("cannot create database: ") + std::strerror(errno));
        }
    }
    try {
        setup(existed);
    } catch (...) {
        if (created_) discard();
        throw;
    }
}

// The connection is conn_'s from the moment sqlite3_open_v2 returns (a
// failed open allocates one too): every throw below closes it.
void TraceDb::setup(bool existed) {
    const std::string& path = path_;
    const int opened = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    conn_.reset(db_);
    if (opened != SQLITE_OK) {
        if (!db_) throw InputError(path, 0, 0, "", "cannot open database: out of memory");
        std::rethrow_exception(db_error(db_, path, std::string("cannot open database: ") + sqlite3_errmsg(db_)));
    }
    sqlite3_busy_timeout(db_, 5000);
    if (existed) {
        sqlite3_stmt* st = nullptr;
        int version = -1;
        int rc = sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key='schema_version'", -1, &st, nullptr);
        if (rc == SQLITE_OK) rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) version = sqlite3_column_int(st, 0);
        // The machine failed the read (a WAL database's first read sizes its
        // -shm file, which a full disk refuses): not the file's fault.
        if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE && environment_failure(db_)) {
            std::exception_ptr e = db_error(db_, path, std::string("cannot read database: ") + sqlite3_errmsg(db_));
            sqlite3_finalize(st);
            std::rethrow_exception(e);
        }
        sqlite3_finalize(st);
        bool empty = false;
        if (version < 0) {
            sqlite3_prepare_v2(db_, "SELECT count(*) FROM sqlite_master", -1, &st, nullptr);
            empty = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0;
            sqlite3_finalize(st);
        }
        if (!empty && version != kTraceSchemaVersion)
            throw InputError(path, 0, 0, "",
                             version < 0 ? "not a quiesce trace database"
                                         : fmt::format("trace schema version {} (this quiesce writes {})", version,
                                                       kTraceSchemaVersion));
    }
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("BEGIN");
    exec(schema_sql());
    exec(fmt::format("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '{}'), "
                     "('time_unit', 'ps'), ('writer', 'quiesce {}')",
                     kTraceSchemaVersion, QUIESCE_VERSION)
             .c_str());
    exec("COMMIT");
}

// record()'s statements, prepared once per database.
struct TraceDb::Statements {
    explicit Statements(sqlite3* db)
        : run(db, "INSERT INTO run(scenario, file, seed, protocol, platform, status, outcome, workload, expected,"
                  " message, sim_time, wall_ms, digest, trace_level, started_at, quiesce_version, faults, campaign_id)"
                  " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"),
          track(db, "INSERT INTO track(run_id, name, parent_id, kind, clock_domain, clock_hz) VALUES (?,?,?,?,?,?)"),
          next_slice(db, "SELECT coalesce(max(id), 0) + 1 FROM slice"),
          slice(db, "INSERT INTO slice(id, run_id, track_id, ts, dur, ts_cycles, dur_cycles, name, category, depth,"
                    " parent_id, phase, args) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"),
          instant(db, "INSERT INTO instant(run_id, track_id, ts, ts_cycles, name, category, phase, args)"
                      " VALUES (?,?,?,?,?,?,?,?)"),
          counter(db, "INSERT INTO counter(run_id, track_id, ts, ts_cycles, name, value) VALUES (?,?,?,?,?,?)"),
          violation(db, "INSERT INTO violation(run_id, invariant, ts, ts_cycles, component, phase, message, evidence)"
                        " VALUES (?,?,?,?,?,?,?,?)"),
          guest_error(db, "INSERT INTO guest_error(run_id, track_id, ts, ts_cycles, name, phase, args)"
                          " VALUES (?,?,?,?,?,?,?)"),
          fault(db, "INSERT INTO fault(run_id, track_id, ts, ts_cycles, kind, phase, args) VALUES (?,?,?,?,?,?,?)"),
          reg_access(db, "INSERT INTO reg_access(run_id, track_id, ts, ts_cycles, register, offset, size, is_write,"
                         " value, state_class, initiator, phase) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"),
          bus(db, "INSERT INTO bus_transaction(run_id, ts, initiator, target, addr, size, is_write, response,"
                  " phase) VALUES (?,?,?,?,?,?,?,?,?)"),
          flow(db, "INSERT INTO flow(run_id, name, from_table, from_id, to_table, to_id) VALUES (?,?,?,?,?,?)") {}
    Stmt run, track, next_slice, slice, instant, counter, violation, guest_error, fault, reg_access, bus, flow;
};

TraceDb::~TraceDb() {
    // The disk failed this database before any run was recorded in it: a
    // database this command created goes (nothing in it is worth keeping,
    // and a 0-byte file would only be in the way). Not in a forked child.
    if (created_ && env_failed_ && recorded_ == 0 && owner_pid_ == long(::getpid())) {
        discard();
        return;
    }
    // An exception unwound past an open campaign: it failed. Not in a forked
    // child unwinding its copy of the parent's stack.
    if (campaign_ && campaign_pid_ == long(::getpid())) {
        try {
            end_campaign("failed");
        } catch (const std::exception&) {  // the database itself failed: the row stays `running`
        }
    }
}

void TraceDb::discard() {
    if (owner_pid_ != long(::getpid())) return;
    bool others = false;  // another process's runs or campaign: the file is not this command's alone
    if (db_) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        sqlite3_stmt* st = nullptr;
        // No such table: the schema never got in, nothing is there.
        if (sqlite3_prepare_v2(db_, "SELECT (SELECT count(*) FROM run) + (SELECT count(*) FROM campaign WHERE pid <> ?)",
                               -1, &st, nullptr) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, int64_t(owner_pid_));
            others = sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) != 0;  // unsure: keep it
        }
        sqlite3_finalize(st);
    }
    st_.reset();
    conn_.reset();
    db_ = nullptr;
    campaign_ = 0;
    if (others) return;
    for (const char* side : {"", "-wal", "-shm", "-journal"}) std::remove((path_ + side).c_str());
}

void TraceDb::begin_campaign(const std::string& command, const std::vector<std::string>& scenarios,
                             int64_t planned) {
    std::string list;
    for (const auto& f : scenarios) list += (list.empty() ? "" : "\n") + f;
    const long pid = long(::getpid());
    Stmt st(db_, "INSERT INTO campaign(command, scenarios, planned, status, started_at, pid, host, process_start,"
                 " quiesce_version) VALUES (?,?,?,'running',?,?,?,?,?)");
    st.bind(1, command).bind(2, list);
    if (planned < 0) st.bind_null(3);
    else st.bind(3, planned);
    st.bind(4, utc_now()).bind(5, int64_t(pid)).bind(6, host_name()).bind(7, process_start_of(pid));
    st.bind(8, std::string(QUIESCE_VERSION));
    try {
        campaign_ = st.run(db_, path_);
    } catch (const EnvironmentError&) {
        env_failed_ = true;
        throw;
    }
    campaign_pid_ = pid;
}

void TraceDb::set_planned(int64_t planned) {
    if (!campaign_) return;
    Stmt st(db_, "UPDATE campaign SET planned = ? WHERE id = ?");
    try {
        st.bind(1, planned).bind(2, campaign_).run(db_, path_);
    } catch (const EnvironmentError&) {
        env_failed_ = true;
        throw;
    }
}

void TraceDb::end_campaign(const std::string& status) {
    if (!campaign_) return;
    const int64_t id = campaign_;
    campaign_ = 0;  // once, whatever happens below
    Stmt st(db_, "UPDATE campaign SET status = ?, ended_at = ? WHERE id = ?");
    try {
        st.bind(1, status).bind(2, utc_now()).bind(3, id).run(db_, path_);
    } catch (const EnvironmentError&) {
        env_failed_ = true;
        throw;
    }
}

void TraceDb::exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "?";
        sqlite3_free(err);
        if (environment_failure(db_)) env_failed_ = true;
        std::rethrow_exception(db_error(db_, path_, "database error: " + msg));
    }
}

int64_t TraceDb::record(const RunMeta& m, const RunStream& s) {
    if (!st_) st_ = std::make_unique<Statements>(db_);
    exec("BEGIN IMMEDIATE");
    try {
        Stmt& run = st_->run;
        run.bind(1, m.scenario).bind(2, m.file).bind(3, int64_t(m.seed)).bind(4, m.protocol).bind(5, m.platform);
        run.bind(6, m.status);
        if (s.has_summary) run.bind(7, s.summary.outcome).bind(8, s.summary.workload);
        else run.bind_null(7).bind_null(8);
        run.bind(9, m.expected).bind(10, m.message).bind(11, int64_t(s.summary.sim_end)).bind(12, m.wall_ms);
        run.bind(13, fmt::format("{:016x}", s.digest)).bind(14, m.trace_level).bind(15, utc_now());
        run.bind(16, std::string(QUIESCE_VERSION));
        if (m.faults.empty()) run.bind_null(17);
        else run.bind(17, m.faults);
        if (campaign_) run.bind(18, campaign_);
        else run.bind_null(18);
        int64_t run_id = run.run(db_, path_);

        // Tracks; parents are the explicit parent or the longest path prefix.
        std::map<std::string, int64_t> track_id;
        std::map<std::string, uint64_t> hz;
        Stmt& tr = st_->track;
        std::map<std::string, TrackInfo> infos;
        for (const auto& t : s.tracks) {
            auto& slot = infos[t.name];
            if (slot.name.empty()) slot = t;
            else if (!t.parent.empty()) slot.parent = t.parent;
        }
        auto ensure = [&](const std::string& name, auto& self) -> int64_t {
            auto it = track_id.find(name);
            if (it != track_id.end()) return it->second;
            TrackInfo info = infos.count(name) ? infos[name] : TrackInfo{name, "", "component", "", 0};
            std::string parent = info.parent;
            if (parent.empty())
                for (size_t dot = name.rfind('.'); dot != std::string::npos && parent.empty();
                     dot = dot ? name.rfind('.', dot - 1) : std::string::npos)
                    if (infos.count(name.substr(0, dot))) parent = name.substr(0, dot);
            int64_t pid = parent.empty() || parent == name ? -1 : self(parent, self);
            tr.bind(1, run_id).bind(2, name);
            if (pid < 0) tr.bind_null(3);
            else tr.bind(3, pid);
            tr.bind(4, info.kind).bind(5, info.domain).bind(6, int64_t(info.hz));
            int64_t id = tr.run(db_, path_);
            track_id[name] = id;
            hz[name] = info.hz;
            return id;
        };
        for (const auto& [name, info] : infos) ensure(name, ensure);
        auto cycles = [&](const std::string& track, Picos t) -> int64_t {
            uint64_t h = hz[track];
            return h ? int64_t(static_cast<unsigned __int128>(t) * h / 1'000'000'000'000ULL) : -1;
        };
        auto bind_cycles = [&](Stmt& st, int i, const std::string& track, Picos t) {
            int64_t c = cycles(track, t);
            if (c < 0) st.bind_null(i);
            else st.bind(i, c);
        };

        Stmt &in = st_->instant, &co = st_->counter, &vi = st_->violation, &ge = st_->guest_error,
             &fa = st_->fault, &ra = st_->reg_access, &bt = st_->bus, &fl = st_->flow;
        // A slice is one row, written when it ends; its id is taken when it
        // begins, so ids follow the begin order and children name parents.
        int64_t next_slice = 0;
        st_->next_slice.step_row(db_, path_, [&](sqlite3_stmt* q) { next_slice = sqlite3_column_int64(q, 0); });
        auto write_slice = [&](const auto& o, Picos end, const std::vector<Arg>& args) {
            Stmt& sl = st_->slice;
            sl.bind(1, o.id).bind(2, run_id).bind(3, o.tid).bind(4, int64_t(o.ts)).bind(5, int64_t(end - o.ts));
            int64_t c0 = cycles(o.track, o.ts), c1 = cycles(o.track, end);
            if (c0 < 0) sl.bind_null(6).bind_null(7);
            else sl.bind(6, c0).bind(7, c1 - c0);
            sl.bind(8, o.name).bind(9, o.category).bind(10, o.depth);
            if (o.parent < 0) sl.bind_null(11);
            else sl.bind(11, o.parent);
            sl.bind(12, o.phase).bind(13, args_json(args)).run(db_, path_);
        };
        struct Open {
            int64_t id, tid, depth, parent;
            std::string track, name, category, phase;
            Picos ts;
            std::vector<Arg> args;
        };
        std::map<std::string, std::vector<Open>> stacks;
        std::map<std::string, int64_t> ledger_issue;  // ledger id -> instant id
        for (const Event& ev : s.events) {
            int64_t tid = ensure(ev.track, ensure);
            switch (ev.kind) {
                case EvKind::SliceBegin: {
                    auto& st = stacks[ev.track];
                    st.push_back({next_slice++, tid, int64_t(st.size()), st.empty() ? -1 : st.back().id, ev.track,
                                  ev.name, ev.category, ev.phase, ev.ts, ev.args});
                    break;
                }
                case EvKind::SliceEnd: {
                    auto& st = stacks[ev.track];
                    if (st.empty() || st.back().name != ev.name) break;  // unmatched: ignore
                    Open o = std::move(st.back());
                    st.pop_back();
                    std::vector<Arg> all = o.args;  // an end argument replaces a begin one of the same key
                    for (const Arg& a : ev.args) {
                        auto same = std::find_if(all.begin(), all.end(), [&](const Arg& b) { return b.key == a.key; });
                        if (same == all.end()) all.push_back(a);
                        else same->value = a.value;
                    }
                    write_slice(o, ev.ts, all);
                    break;
                }
                case EvKind::Instant: {
                    in.bind(1, run_id).bind(2, tid).bind(3, int64_t(ev.ts));
                    bind_cycles(in, 4, ev.track, ev.ts);
                    in.bind(5, ev.name).bind(6, ev.category).bind(7, ev.phase).bind(8, args_json(ev.args));
                    int64_t iid = in.run(db_, path_);
                    if (ev.category == "ledger" && ev.name == "issue") ledger_issue[arg_value(ev, "id")] = iid;
                    if (ev.category == "ledger" && ev.name == "retire") {
                        auto it = ledger_issue.find(arg_value(ev, "id"));
                        if (it != ledger_issue.end())
                            fl.bind(1, run_id).bind(2, "ledger").bind(3, "instant").bind(4, it->second)
                                .bind(5, "instant").bind(6, iid).run(db_, path_);
                    }
                    break;
                }
                case EvKind::Counter:
                    co.bind(1, run_id).bind(2, tid).bind(3, int64_t(ev.ts));
                    bind_cycles(co, 4, ev.track, ev.ts);
                    co.bind(5, ev.name).bind(6, ev.value).run(db_, path_);
                    break;
                case EvKind::Violation:
                    vi.bind(1, run_id).bind(2, ev.name).bind(3, int64_t(ev.ts));
                    bind_cycles(vi, 4, ev.track, ev.ts);
                    vi.bind(5, ev.track).bind(6, ev.phase).bind(7, arg_value(ev, "message"))
                        .bind(8, arg_value(ev, "evidence")).run(db_, path_);
                    break;
                case EvKind::GuestError:
                    ge.bind(1, run_id).bind(2, tid).bind(3, int64_t(ev.ts));
                    bind_cycles(ge, 4, ev.track, ev.ts);
                    ge.bind(5, ev.name).bind(6, ev.phase).bind(7, args_json(ev.args)).run(db_, path_);
                    break;
                case EvKind::Fault:
                    fa.bind(1, run_id).bind(2, tid).bind(3, int64_t(ev.ts));
                    bind_cycles(fa, 4, ev.track, ev.ts);
                    fa.bind(5, ev.name).bind(6, ev.phase).bind(7, args_json(ev.args)).run(db_, path_);
                    break;
                case EvKind::RegAccess:
                    ra.bind(1, run_id).bind(2, tid).bind(3, int64_t(ev.ts));
                    bind_cycles(ra, 4, ev.track, ev.ts);
                    ra.bind(5, ev.name).bind(6, int64_t(ev.addr)).bind(7, int64_t(ev.size))
                        .bind(8, int64_t(ev.write)).bind(9, int64_t(ev.data)).bind(10, ev.category)
                        .bind(11, ev.initiator).bind(12, ev.phase).run(db_, path_);
                    break;
                case EvKind::Transaction:
                    bt.bind(1, run_id).bind(2, int64_t(ev.ts)).bind(3, ev.initiator).bind(4, ev.name)
                        .bind(5, int64_t(ev.addr)).bind(6, int64_t(ev.size)).bind(7, int64_t(ev.write))
                        .bind(8, int64_t(ev.data)).bind(9, ev.phase).run(db_, path_);
                    break;
            }
        }
        // Slices still open at the end ran until the end of the run.
        for (auto& [track, st] : stacks)
            for (const Open& o : st) {
                std::vector<Arg> all = o.args;
                all.push_back({"unfinished", "1"});
                write_slice(o, std::max(s.summary.sim_end, o.ts), all);
            }
        exec("COMMIT");
        ++recorded_;
        return run_id;
    } catch (const EnvironmentError&) {
        env_failed_ = true;
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

std::string format_rows(const std::vector<std::string>& names, const std::vector<std::vector<std::string>>& rows,
                        const std::vector<std::vector<int>>& types, const std::string& format) {
    std::string out;
    if (format == "list") {  // sqlite3 -header -list
        for (size_t i = 0; i < names.size(); ++i) out += (i ? "|" : "") + names[i];
        if (!names.empty()) out += "\n";
        for (const auto& r : rows) {
            for (size_t i = 0; i < r.size(); ++i) out += (i ? "|" : "") + r[i];
            out += "\n";
        }
    } else if (format == "csv") {  // RFC 4180
        auto cell = [](const std::string& v) {
            if (v.find_first_of(",\"\n") == std::string::npos) return v;
            std::string q = "\"";
            for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
            return q + "\"";
        };
        for (size_t i = 0; i < names.size(); ++i) out += (i ? "," : "") + cell(names[i]);
        out += "\r\n";
        for (const auto& r : rows) {
            for (size_t i = 0; i < r.size(); ++i) out += (i ? "," : "") + cell(r[i]);
            out += "\r\n";
        }
    } else if (format == "json") {  // an array of objects, numbers as numbers
        nlohmann::json arr = nlohmann::json::array();
        for (size_t k = 0; k < rows.size(); ++k) {
            nlohmann::json o = nlohmann::json::object();
            for (size_t i = 0; i < names.size(); ++i) {
                const std::string& v = rows[k][i];
                switch (types[k][i]) {
                    case SQLITE_INTEGER: o[names[i]] = std::stoll(v); break;
                    case SQLITE_FLOAT: o[names[i]] = std::stod(v); break;
                    case SQLITE_NULL: o[names[i]] = nullptr; break;
                    default: o[names[i]] = v;
                }
            }
            arr.push_back(std::move(o));
        }
        out = arr.dump(2) + "\n";
    } else {  // an aligned table
        std::vector<size_t> width(names.size());
        for (size_t i = 0; i < names.size(); ++i) width[i] = names[i].size();
        for (const auto& r : rows)
            for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
        auto line = [&](const std::vector<std::string>& r) {
            std::string l;
            for (size_t i = 0; i < r.size(); ++i) l += (i ? "  " : "") + r[i] + std::string(width[i] - r[i].size(), ' ');
            while (!l.empty() && l.back() == ' ') l.pop_back();
            return l + "\n";
        };
        out += line(names);
        std::vector<std::string> rule;
        for (size_t w : width) rule.push_back(std::string(w, '-'));
        out += line(rule);
        for (const auto& r : rows) out += line(r);
        out += fmt::format("({} row{})\n", rows.size(), rows.size() == 1 ? "" : "s");
    }
    return out;
}

namespace {

// "file:" URI of a path (sqlite3_open_v2 with SQLITE_OPEN_URI): every byte
// but the unreserved ones and '/' percent-encoded.
std::string file_uri(const std::string& path) {
    std::string p = std::filesystem::path(path).is_absolute() ? path : "./" + path;
    std::string out = "file:";
    for (unsigned char c : p) {
        if (std::isalnum(c) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') out += char(c);
        else out += fmt::format("%{:02X}", c);
    }
    return out;
}

bool may_write(const std::string& path) { return ::access(path.c_str(), W_OK) == 0; }

// A prepared statement finalized however its scope is left (a row callback
// that throws, too): an unfinalized one keeps the connection from closing,
// and with it the -wal and -shm files beside the database.
struct Finalize {
    void operator()(sqlite3_stmt* st) const { sqlite3_finalize(st); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, Finalize>;

}  // namespace

// A trace database is in WAL mode, and a WAL database's readers use its
// -wal and -shm files. How a viewer opens one, so that it works on
// read-only storage and leaves nothing beside the database:
//  - no -wal beside it (no writer has it open, none was killed mid-way) and
//    a directory or a file this user may not write: immutable=1 - no locks,
//    no side files; no writer can start there (a WAL writer creates the
//    -wal in that directory);
//  - no -wal, and both writable: read-write (writes refused by query_only),
//    so that, the last connection closing, SQLite removes the -wal and -shm
//    it needed, as a writer's close does;
//  - a -wal beside it (a writer at work, or one that was killed): read-only
//    with locking, the log's content included. On read-only storage that
//    needs the -shm to be there too; without it the database cannot be
//    read, and the message says why.
TraceReader::TraceReader(const std::string& path) : path_(path) {
    if (path_kind(path) == PathKind::Missing) throw InputError(path, 0, 0, "", "no such database");
    const bool wal = path_kind(path + "-wal") != PathKind::Missing;
    std::string dir = std::filesystem::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
    const bool dir_writable = may_write(dir);
    std::string uri = file_uri(path);
    int flags = SQLITE_OPEN_URI;
    bool read_write = false;
    if (!wal && (!dir_writable || !may_write(path))) {
        uri += "?immutable=1";
        flags |= SQLITE_OPEN_READONLY;
    } else if (!wal) {
        flags |= SQLITE_OPEN_READWRITE;
        read_write = true;
    } else {
        uri += "?mode=ro";
        flags |= SQLITE_OPEN_READONLY;
    }
    auto fail = [&](const std::string& what) {
        std::string msg = what + sqlite3_errmsg(db_);
        if (wal && !dir_writable && path_kind(path + "-shm") == PathKind::Missing)
            msg += " (its write-ahead log " + path + "-wal is read through a -shm file, which is missing and this "
                   "directory cannot hold)";
        sqlite3_close(db_);
        db_ = nullptr;
        throw InputError(path, 0, 0, "", msg);
    };
    if (sqlite3_open_v2(uri.c_str(), &db_, flags, nullptr) != SQLITE_OK) fail("cannot open database: ");
    sqlite3_busy_timeout(db_, 5000);
    sqlite3_limit(db_, SQLITE_LIMIT_ATTACHED, 0);  // a viewer reads this database only
    if (read_write && sqlite3_exec(db_, "PRAGMA query_only = ON", nullptr, nullptr, nullptr) != SQLITE_OK)
        fail("cannot read database: ");
    int version = -1;
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key='schema_version'", -1, &st, nullptr);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    // Not a database, or one without quiesce's meta table: not ours. Any
    // other failure (it cannot be opened, locked, an I/O error) says so.
    if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_NOTADB && (rc & 0xff) != SQLITE_ERROR) fail("cannot read database: ");
    if (version != kTraceSchemaVersion) {
        sqlite3_close(db_);
        db_ = nullptr;
        throw InputError(path, 0, 0, "",
                         version < 0 ? "not a quiesce trace database"
                                     : fmt::format("trace schema version {} (this quiesce reads {})", version,
                                                   kTraceSchemaVersion));
    }
}

TraceReader::~TraceReader() {
    if (db_) sqlite3_close(db_);
}

void TraceReader::each(const std::string& sql, const std::vector<int64_t>& params,
                       const std::function<void(const std::vector<std::string>&)>& row) const {
    sqlite3_stmt* prepared = nullptr;
    const int prc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &prepared, nullptr);
    StmtPtr st(prepared);
    if (prc != SQLITE_OK) throw InputError(path_, 0, 0, "", std::string("query failed: ") + sqlite3_errmsg(db_));
    for (size_t i = 0; i < params.size(); ++i) sqlite3_bind_int64(st.get(), int(i + 1), params[i]);
    int cols = sqlite3_column_count(st.get());
    std::vector<std::string> values(static_cast<size_t>(cols), std::string());
    int rc;
    while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
        for (int c = 0; c < cols; ++c) {
            const unsigned char* t = sqlite3_column_text(st.get(), c);
            values[size_t(c)] = t ? reinterpret_cast<const char*>(t) : "";
        }
        row(values);
    }
    if (rc != SQLITE_DONE) throw InputError(path_, 0, 0, "", std::string("query failed: ") + sqlite3_errmsg(db_));
}

std::string TraceReader::query(const std::string& sql, const std::string& format) const {
    sqlite3* db = db_;
    // No value longer than the result may be (SQLite would build it whole
    // before the rows below could refuse it).
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, int(kQueryResultBytes));
    sqlite3_stmt* prepared = nullptr;
    const char* tail = nullptr;
    const int prc = sqlite3_prepare_v2(db, sql.c_str(), -1, &prepared, &tail);
    StmtPtr fin(prepared);
    sqlite3_stmt* st = prepared;
    if (prc != SQLITE_OK) throw InputError("query", 0, 0, "", sqlite3_errmsg(db));
    if (!st) throw InputError("query", 0, 0, "", "empty statement");
    for (const char* p = tail; p && *p; ++p)
        if (!std::isspace(static_cast<unsigned char>(*p)) && *p != ';')
            throw InputError("query", 0, 0, "", "one statement at a time");
    if (!sqlite3_stmt_readonly(st)) throw InputError("query", 0, 0, "", "refused: the statement would write; quiesce query is read-only");
    int cols = sqlite3_column_count(st);
    std::vector<std::string> names;
    for (int i = 0; i < cols; ++i) names.emplace_back(sqlite3_column_name(st, i));
    std::vector<std::vector<std::string>> rows;
    std::vector<std::vector<int>> types;  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_NULL...
    // The result is held to be printed (an aligned table needs every row
    // first): at most kQueryResultBytes of it - each cell's text and what
    // holding it costs - so that a runaway statement is refused before it
    // takes the machine's memory, well within its --timeout.
    auto too_large = [&](const char* as) {
        return InputError(path_, 0, 0, "",
                          fmt::format("the result is over {} MiB ({} row{} read{}): quiesce query holds a result in "
                                      "memory to print it; bound it with LIMIT or WHERE, or read the database with "
                                      "sqlite3",
                                      kQueryResultBytes >> 20, rows.size(), rows.size() == 1 ? "" : "s", as));
    };
    int64_t held = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        std::vector<std::string> row;
        std::vector<int> type;
        held += 64;
        for (int i = 0; i < cols; ++i) {
            const unsigned char* t = sqlite3_column_text(st, i);
            row.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
            type.push_back(sqlite3_column_type(st, i));
            held += int64_t(row.back().size()) + 40;
        }
        rows.push_back(std::move(row));
        types.push_back(std::move(type));
        if (held > kQueryResultBytes) throw too_large("");
    }
    if (rc != SQLITE_DONE) {
        if ((sqlite3_errcode(db) & 0xff) == SQLITE_TOOBIG)
            throw InputError(path_, 0, 0, "",
                             fmt::format("a value is over {} MiB: quiesce query reads no longer ones",
                                         kQueryResultBytes >> 20));
        throw InputError("query", 0, 0, "", sqlite3_errmsg(db));
    }
    if (format == "table") {  // every row padded to the widest cell of each column
        std::vector<int64_t> width(names.size());
        for (size_t i = 0; i < names.size(); ++i) width[i] = int64_t(names[i].size());
        for (const auto& r : rows)
            for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], int64_t(r[i].size()));
        int64_t line = 1;
        for (int64_t w : width) line += w + 2;
        if (line * int64_t(rows.size() + 2) > kQueryResultBytes) throw too_large(", as an aligned table");
    }
    return format_rows(names, rows, types, format);
}

}  // namespace quiesce
