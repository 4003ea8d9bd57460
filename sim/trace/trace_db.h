// The SQLite trace database (docs/trace-schema.md). Schema v1 is shaped like
// Perfetto's tables: run, track, slice, instant, counter, flow, plus
// violation, guest_error and, at trace level `bus`, reg_access and
// bus_transaction. Times are integer picoseconds (`ts`, `dur`) plus cycles of
// the track's clock domain. WAL mode; one transaction per run, so a run is in
// the database whole or not at all.
#pragma once

#include "sim/trace/wire.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

struct sqlite3;

namespace quiesce {

constexpr int kTraceSchemaVersion = 2;  // 2: run.faults

struct RunMeta {
    std::string scenario;
    std::string file;
    uint64_t seed = 0;
    std::string protocol;
    std::string platform;
    std::string status;    // passed | failed | crashed | timeout
    std::string expected;  // "pass" or the ids
    std::string message;
    std::string trace_level;
    double wall_ms = 0;
    // Fault rules added to the scenario file's own (quiesce run --fault,
    // quiesce explore), one per line in --fault syntax: replay needs them.
    std::string faults;
};

class TraceDb {
public:
    // Opens or creates `path` for writing. Throws InputError if the file is
    // not a quiesce trace database of this schema version.
    explicit TraceDb(const std::string& path);
    ~TraceDb();
    TraceDb(const TraceDb&) = delete;
    TraceDb& operator=(const TraceDb&) = delete;

    int64_t record(const RunMeta& meta, const RunStream& stream);
    // Appends every run of another quiesce database (of this schema
    // version), renumbering run, track and row ids; returns the runs added.
    // One transaction: on error nothing of that input is kept.
    int64_t merge_from(const std::string& other);
    const std::string& path() const { return path_; }

    static const char* schema_sql();

private:
    void exec(const char* sql);
    struct Close {
        void operator()(sqlite3* db) const;
    };
    // Declared before st_: the statements are finalized before the
    // connection closes, also when the constructor throws.
    std::unique_ptr<sqlite3, Close> conn_;
    sqlite3* db_ = nullptr;  // conn_.get()
    std::string path_;
    struct Statements;  // record()'s, prepared once
    std::unique_ptr<Statements> st_;
};

// A trace database opened read-only (viewers, exports): refuses a file that
// is not a quiesce trace or has another schema version.
class TraceReader {
public:
    explicit TraceReader(const std::string& path);
    ~TraceReader();
    TraceReader(const TraceReader&) = delete;
    TraceReader& operator=(const TraceReader&) = delete;

    // Runs `sql` with integer parameters bound in order, calling `row` with
    // the columns as text (NULL as "") for each row.
    void each(const std::string& sql, const std::vector<int64_t>& params,
              const std::function<void(const std::vector<std::string>&)>& row) const;
    const std::string& path() const { return path_; }
    // `quiesce query`: one read-only statement, as an aligned "table", "list"
    // (header and '|'), "csv" or "json". Throws InputError for bad SQL, more
    // than one statement, or a statement that would write.
    std::string query(const std::string& sql, const std::string& format = "table") const;

private:
    sqlite3* db_ = nullptr;
    std::string path_;
};

std::string format_rows(const std::vector<std::string>& names, const std::vector<std::vector<std::string>>& rows,
                        const std::vector<std::vector<int>>& types, const std::string& format);

}  // namespace quiesce
