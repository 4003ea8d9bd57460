// What the trace database's files share (trace_db.cpp, trace_campaign.cpp,
// trace_schema.cpp, trace_reader.cpp): a prepared statement whose failures
// name the database, the error a failure on the connection becomes, the
// time a row is stamped with, what a file says its schema version is, and
// the SQL that reads an older version as this one. Not for use outside
// sim/trace.
#pragma once

#include "sim/core/errors.h"

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <vector>

namespace quiesce::trace_detail {

// Whether the last failure on `db` is the machine's rather than the
// input's: the disk is full (SQLITE_FULL), an I/O error (SQLITE_IOERR: a
// write past a file-size limit, EIO), or a file that could not be created
// for lack of space (SQLITE_CANTOPEN with ENOSPC or EDQUOT).
bool environment_failure(sqlite3* db);

// The last failure on `db` as the error the CLI maps to its exit status:
// EnvironmentError (3) or InputError (2). Taken before any other call on
// `db` replaces its error code. The OS's words are added when SQLite kept
// them ("database error: disk I/O error (File too large)"): its errno is the
// last system call's, which a clean-up after the failure may have replaced.
std::exception_ptr db_error(sqlite3* db, const std::string& path, const std::string& what);

// Now, in UTC: "2026-12-02T11:15:08Z".
std::string utc_now();

// What a SQLite file says it is: from version 4, quiesce's application_id
// and the version as its user_version; a file with neither (0) by its meta
// table's schema_version (versions 2 and 3 set no application_id).
struct Stamp {
    enum Kind { Empty, Trace, Foreign, Unreadable } kind = Empty;
    int version = 0;  // Trace: the schema version
    std::string why;  // Foreign: why it is not a trace; Unreadable: SQLite's message
};
// Empty: a database with no table at all (a file the writer may set up).
Stamp read_stamp(sqlite3* db);

// What SQLite's `PRAGMA quick_check` finds wrong with `db`'s main database,
// on one line ("Page 81: btreeInitPage() returns error code 11"), or ""
// when nothing. It reads every page (about a second for 400 MB here). A
// read the machine failed throws db_error's error naming `path`.
std::string damage(sqlite3* db, const std::string& path);

// Called before this process opens its first database. Once per process;
// nothing when SQLite was already initialised. Sets:
// - no memory statistics (SQLITE_CONFIG_MEMSTATUS off; nothing here reads
//   them), so each of SQLite's allocations skips a global mutex and two
//   counters;
// - its page cache in a buffer of its own (SQLITE_CONFIG_PAGECACHE) that a
//   forked child gets wiped, not shared (MADV_WIPEONFORK): a process that
//   records runs while it forks children (explore's variants; `quiesce
//   run` with QUIESCE_RUNNER=0) copied every page the cache had shared
//   with a child at its next write; this way its pages stay its own
//   (docs/performance.md, "SQLite's page cache kept out of the
//   children"). A child that opens a database of its own gets its cache
//   pages from malloc.
// Whether the statistics are off after it.
bool configure_sqlite();
// The page cache's buffer configure_sqlite() set, or {nullptr, 0} (SQLite
// initialised before it, or no such mapping on this kernel).
struct PageCacheBuffer {
    void* base = nullptr;
    std::size_t bytes = 0;
};
PageCacheBuffer page_cache_buffer();

// This version's views (CREATE VIEW IF NOT EXISTS; `temp`: CREATE TEMP
// VIEW, for a reader of an older version).
std::string views_sql(bool temp);
// TEMP views named `prefix` + each table of an older version `version`
// whose rows this version has otherwise, over `schema`'s tables: numbers in
// args and evidence as numbers (quiesce_args), NULL for '' and a clock of
// 0, version 2's missing campaign table (empty) and run.campaign_id (NULL).
std::string compat_sql(int version, const std::string& schema, const std::string& prefix);
// The tables compat_sql makes a view of, for `version`.
std::vector<std::string> compat_tables(int version);

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
    // Text that outlives the next run() (an event's field): bound without
    // SQLite's copy.
    Stmt& bind_ref(int i, const std::string& v) {
        sqlite3_bind_text(s_, i, v.data(), int(v.size()), SQLITE_STATIC);
        return *this;
    }
    Stmt& bind_ref_or_null(int i, const std::string& v) { return v.empty() ? bind_null(i) : bind_ref(i, v); }
    Stmt& bind_null(int i) { sqlite3_bind_null(s_, i); return *this; }
    // Text where there may be none: NULL when empty (schema version 4 on).
    Stmt& bind_or_null(int i, const std::string& v) { return v.empty() ? bind_null(i) : bind(i, v); }
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
    // run() for a statement whose every parameter is bound before each use
    // (the per-event inserts): the bindings are left as they are.
    int64_t insert(sqlite3* db, const std::string& path) {
        int rc = sqlite3_step(s_);
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) fail(db, path);
        sqlite3_reset(s_);
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

}  // namespace quiesce::trace_detail
