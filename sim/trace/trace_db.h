// The SQLite trace database (docs/trace-schema.md). Its tables are shaped
// like Perfetto's: run, track, slice, instant, counter, flow, plus campaign,
// violation, guest_error, fault and, at trace level `bus`, reg_access and
// bus_transaction. Times are integer picoseconds (`ts`, `dur`) plus cycles of
// the track's clock domain; event arguments are JSON whose numbers are
// numbers (typed_args.h); NULL where there is none. WAL mode; one transaction
// per run, so a run is in the database whole or not at all.
#pragma once

#include "sim/core/toml_reader.h"
#include "sim/trace/wire.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

struct sqlite3;

namespace quiesce {

// 2: run.faults; 3: campaign, run.campaign_id; 4: numbers in args as JSON
// numbers, NULL for "none" (phase, args, message, clock), application_id
// and user_version, indexes for guest_error, flow, slice.parent_id,
// reg_access and bus_transaction, the args view.
constexpr int kTraceSchemaVersion = 4;
// The oldest version readers read (as version kTraceSchemaVersion: TEMP
// views over its tables, trace_reader.cpp) and merge copies into this one.
constexpr int kOldestTraceSchema = 2;
// PRAGMA application_id of a trace database (from version 4): "QUIE".
constexpr int32_t kTraceApplicationId = 0x51554945;

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
    // The files the scenario was loaded from (run_input rows).
    std::vector<InputFile> inputs;
};

class TraceDb {
public:
    // Opens or creates `path` for writing. Throws InputError if the file is
    // not a quiesce trace database of this schema version (one of an older
    // version: merge copies it into a new one). A write the
    // machine cannot do (a full disk, a file-size limit, an I/O error) is an
    // EnvironmentError (sim/core/paths.h, exit 3), here and in every member
    // below. A database this constructor created goes again, with its side
    // files, if its setup fails, or if it is destroyed after such a write
    // failed before any run was recorded in it; one that existed stays.
    explicit TraceDb(const std::string& path);
    ~TraceDb();
    TraceDb(const TraceDb&) = delete;
    TraceDb& operator=(const TraceDb&) = delete;

    int64_t record(const RunMeta& meta, const RunStream& stream);
    // A campaign: one `quiesce run` or `explore` writing here. Its row says
    // `running` from the start, and the runs recorded after it name it; a
    // process killed before end_campaign leaves it `running`, which readers
    // show as interrupted (campaign_state). A TraceDb destroyed with its
    // campaign open (an exception unwound past it) ends it `failed`.
    void begin_campaign(const std::string& command, const std::vector<std::string>& scenarios, int64_t planned);
    void set_planned(int64_t planned);                 // runs it means to record, once known
    void end_campaign(const std::string& status);      // finished | failed | interrupted
    // Appends every run of another quiesce database (of this schema
    // version, or an older one TraceReader reads: its rows as this version
    // has them), renumbering run, track and row ids; returns the runs added.
    // One transaction: on error nothing of that input is kept.
    int64_t merge_from(const std::string& other);
    const std::string& path() const { return path_; }

    static const char* schema_sql();

private:
    void setup(bool existed);  // the constructor's work once the file is known to be new or not
    void exec(const char* sql);
    // Closes the connection and removes a database this object created and
    // that holds no run (nor another process's campaign), with its side files.
    void discard();
    struct Close {
        void operator()(sqlite3* db) const;
    };
    // Declared before st_: the statements are finalized before the
    // connection closes, also when the constructor throws.
    std::unique_ptr<sqlite3, Close> conn_;
    sqlite3* db_ = nullptr;  // conn_.get()
    std::string path_;
    int64_t campaign_ = 0;    // the open campaign's id, 0 if none
    long campaign_pid_ = 0;   // the process that opened it (a forked child never ends it)
    long owner_pid_ = 0;      // the process that opened the database (a forked child never discards it)
    bool created_ = false;    // the file did not exist: this constructor created it
    bool env_failed_ = false; // a write failed for the machine's reasons (disk full, EFBIG, EIO)
    int64_t recorded_ = 0;    // runs committed by this object
    struct Statements;  // record()'s, prepared once
    std::unique_ptr<Statements> st_;
};

// The most `quiesce query` holds of a result (the text of its cells, and
// the aligned table's padding), and the longest value it reads.
constexpr int64_t kQueryResultBytes = int64_t(64) << 20;

// A trace database opened read-only (viewers, exports): refuses a file that
// is not a quiesce trace, or of a schema version before kOldestTraceSchema
// or after kTraceSchemaVersion. One of an older version is read as this
// version: TEMP views of its tables' names present its rows as this version
// has them (numbers in args as numbers, NULL for none), and this version's
// views are defined over them; nothing is written to the file.
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
    int version() const { return version_; }  // the schema version of the file
    // What SQLite's quick_check finds wrong with the file, on one line, or
    // "" (it reads every page).
    std::string damage() const;
    // `quiesce query`: one read-only statement, as an aligned "table", "list"
    // (header and '|'), "csv" or "json". Throws InputError for bad SQL, more
    // than one statement, a statement that would write, or a result over
    // kQueryResultBytes (held in memory to be printed: a runaway statement
    // must not take the machine's memory before --timeout stops it).
    std::string query(const std::string& sql, const std::string& format = "table") const;

private:
    sqlite3* db_ = nullptr;
    std::string path_;
    int version_ = 0;
};

// How a reader shows a campaign row: `finished`, `failed` and `interrupted`
// as written; `running` stays `running` only while the process that wrote
// it (pid, on this host, started at `process_start`) is alive, else it is
// `interrupted` (killed before it could say so). A campaign of another host
// that says `running` is `unfinished`: running there, or interrupted.
std::string campaign_state(const std::string& status, int64_t pid, const std::string& host,
                           const std::string& process_start);
// This process's identity for campaign_state: "<boot id>/<start time in clock ticks>".
std::string process_start_of(long pid);
std::string host_name();
// `quiesce trace runs`' closing block: a line per campaign - id, state,
// runs recorded of those planned, start and end, the command line; "" for
// a database without campaigns.
std::string trace_campaigns(const TraceReader& db);

std::string format_rows(const std::vector<std::string>& names, const std::vector<std::vector<std::string>>& rows,
                        const std::vector<std::vector<int>>& types, const std::string& format);

}  // namespace quiesce
