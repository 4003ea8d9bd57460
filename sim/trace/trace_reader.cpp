// Reading a trace database: opening it so that a viewer works on read-only
// storage and leaves no side files, running a statement row by row, and
// `quiesce query` with its output formats and its bound on what it holds.
#include "sim/trace/trace_db.h"

#include "sim/core/errors.h"
#include "sim/core/paths.h"
#include "sim/trace/db_write.h"
#include "sim/trace/typed_args.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <vector>

namespace quiesce {

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
        // The keys in select order, one a column: a name an earlier column's
        // key has is followed by ':' and the column's 1-based position
        // (`SELECT a.id, b.id`: "id" and "id:2").
        std::vector<std::string> keys;
        for (size_t i = 0; i < names.size(); ++i) {
            std::string key = names[i];
            while (std::find(keys.begin(), keys.end(), key) != keys.end()) key += ":" + std::to_string(i + 1);
            keys.push_back(key);
        }
        nlohmann::ordered_json arr = nlohmann::ordered_json::array();
        for (size_t k = 0; k < rows.size(); ++k) {
            nlohmann::ordered_json o = nlohmann::ordered_json::object();
            for (size_t i = 0; i < keys.size(); ++i) {
                const std::string& v = rows[k][i];
                switch (types[k][i]) {
                    case SQLITE_INTEGER: o[keys[i]] = std::stoll(v); break;
                    case SQLITE_FLOAT: o[keys[i]] = std::stod(v); break;
                    case SQLITE_NULL: o[keys[i]] = nullptr; break;
                    default: o[keys[i]] = v;
                }
            }
            arr.push_back(std::move(o));
        }
        // Text that is not UTF-8 (a hand-written cell) as U+FFFD, not an exception.
        out = arr.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
    } else {  // an aligned table, a row a line: a cell's line breaks and tabs written \n, \r, \t
        auto flat = [](const std::string& v) {
            if (v.find_first_of("\n\r\t") == std::string::npos) return v;
            std::string f;
            for (char c : v) f += c == '\n' ? std::string("\\n") : c == '\r' ? std::string("\\r")
                                  : c == '\t' ? std::string("\\t") : std::string(1, c);
            return f;
        };
        std::vector<std::vector<std::string>> cells;
        cells.reserve(rows.size());
        for (const auto& r : rows) {
            cells.emplace_back();
            for (const auto& v : r) cells.back().push_back(flat(v));
        }
        std::vector<size_t> width(names.size());
        for (size_t i = 0; i < names.size(); ++i) width[i] = names[i].size();
        for (const auto& r : cells)
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
        for (const auto& r : cells) out += line(r);
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
        // The machine's failure, not the file's (a full disk, a file-size
        // limit growing the -shm file SQLite reads a write-ahead log
        // through, an I/O error): exit 3 with the reason, as a writer's.
        std::exception_ptr e = trace_detail::db_error(db_, path, msg);
        sqlite3_close(db_);
        db_ = nullptr;
        std::rethrow_exception(e);
    };
    trace_detail::configure_sqlite();
    if (sqlite3_open_v2(uri.c_str(), &db_, flags, nullptr) != SQLITE_OK) fail("cannot open database: ");
    sqlite3_busy_timeout(db_, 5000);
    sqlite3_limit(db_, SQLITE_LIMIT_ATTACHED, 0);  // a viewer reads this database only
    const trace_detail::Stamp stamp = trace_detail::read_stamp(db_);
    if (stamp.kind == trace_detail::Stamp::Unreadable) fail("cannot read database: ");
    auto refuse = [&](const std::string& why) {
        sqlite3_close(db_);
        db_ = nullptr;
        throw InputError(path, 0, 0, "", why);
    };
    if (stamp.kind != trace_detail::Stamp::Trace) refuse(stamp.why.empty() ? "not a quiesce trace database" : stamp.why);
    if (stamp.version < kOldestTraceSchema || stamp.version > kTraceSchemaVersion)
        refuse(fmt::format("trace schema version {} (this quiesce reads versions {} to {})", stamp.version,
                           kOldestTraceSchema, kTraceSchemaVersion));
    version_ = stamp.version;
    add_typed_args_function(db_);
    // An older version: TEMP views of its tables' names, and this version's
    // views over them (a TEMP object hides a main one of its name), give its
    // rows as this version has them. The temporary schema is this
    // connection's own: nothing is written to the file or beside it.
    if (version_ < kTraceSchemaVersion) {
        const std::string sql = trace_detail::compat_sql(version_, "main", "") + trace_detail::views_sql(true);
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) fail("cannot read database: ");
    }
    // run_input came within version 4 (and after 2 and 3): a database written
    // before it reads as one whose runs recorded no input files.
    bool has_inputs = false;
    {
        sqlite3_stmt* q = nullptr;
        if (sqlite3_prepare_v2(db_, "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'run_input'", -1,
                               &q, nullptr) != SQLITE_OK)
            fail("cannot read database: ");
        StmtPtr owned(q);
        const int rc = sqlite3_step(q);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) fail("cannot read database: ");
        has_inputs = rc == SQLITE_ROW;
    }
    if (!has_inputs && sqlite3_exec(db_,
                                    "CREATE TEMP VIEW run_input(id, run_id, path, bytes, hash) AS"
                                    " SELECT 0, 0, '', 0, '' LIMIT 0",
                                    nullptr, nullptr, nullptr) != SQLITE_OK)
        fail("cannot read database: ");
    if (read_write && sqlite3_exec(db_, "PRAGMA query_only = ON", nullptr, nullptr, nullptr) != SQLITE_OK)
        fail("cannot read database: ");
}

TraceReader::~TraceReader() {
    if (db_) sqlite3_close(db_);
}

std::string TraceReader::damage() const { return trace_detail::damage(db_, path_); }

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
    // SQLITE_LIMIT_ATTACHED is 0 (the constructor): an ATTACH fails as it
    // runs, in SQLite's words; say what that refuses.
    auto sql_error = [db] {
        std::string why = sqlite3_errmsg(db);
        if (why.rfind("too many attached databases", 0) == 0)
            why = "refused: ATTACH opens another database; quiesce query reads this one only";
        return InputError("query", 0, 0, "", why);
    };
    if (prc != SQLITE_OK) throw sql_error();
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
            const int ty = sqlite3_column_type(st, i);  // before any conversion
            if (ty == SQLITE_BLOB) {  // as SQL writes it, x'0041ff': its bytes may be anything, NUL too
                const auto* b = static_cast<const unsigned char*>(sqlite3_column_blob(st, i));
                const size_t n = size_t(sqlite3_column_bytes(st, i));
                std::string hex = "x'";
                static const char kDigits[] = "0123456789abcdef";
                for (size_t k = 0; k < n; ++k) {
                    hex += kDigits[b[k] >> 4];
                    hex += kDigits[b[k] & 15];
                }
                row.push_back(hex + "'");
            } else {  // whole, a NUL within too
                const unsigned char* t = sqlite3_column_text(st, i);
                row.emplace_back(t ? std::string(reinterpret_cast<const char*>(t), size_t(sqlite3_column_bytes(st, i)))
                                   : std::string());
            }
            type.push_back(ty);
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
        throw sql_error();
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
