// Recording a run against its floor (issue 18 items 4 and 5): the same rows
// inserted raw. TraceDb::record writes one run into a fresh database; the
// floor reads back every row that run left (the run row, its tracks and
// every event table) and inserts exactly those values into another fresh
// database of the same schema and indexes, with the bare C API: one
// transaction, one prepared statement per table, no formatting, no JSON,
// no lookups. Both are timed from BEGIN to COMMIT, `reps` times each,
// interleaved; the medians are compared.
#pragma once

#include "bench/bench_util.h"
#include "sim/scenario/executor.h"
#include "sim/trace/db_write.h"
#include "sim/trace/trace_db.h"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <variant>
#include <vector>

namespace quiesce::bench {

struct RecordBench {
    size_t rows = 0;
    double raw_s = 0, record_s = 0;       // medians
    double ratio_lo = 0, ratio_hi = 0;    // range of the per-repetition ratios (record / raw)
};

namespace record_detail {

using Value = std::variant<std::monostate, int64_t, double, std::string>;
struct Table {
    std::string name;
    int columns = 0;
    std::vector<std::vector<Value>> rows;
};

inline sqlite3* open_db(const std::string& path) {
    sqlite3* db = nullptr;
    trace_detail::configure_sqlite();  // as TraceDb opens its own
    sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr);
    return db;
}

// Every row of run `run` in `path`, table by table (the run row first).
inline std::vector<Table> rows_of(const std::string& path, int64_t run) {
    sqlite3* db = open_db(path);
    std::vector<Table> out;
    for (const char* t : {"run", "track", "slice", "instant", "counter", "violation", "guest_error", "fault",
                          "reg_access", "bus_transaction", "flow"}) {
        Table tab{t, 0, {}};
        sqlite3_stmt* st = nullptr;
        std::string sql = std::string("SELECT * FROM ") + t + (std::string(t) == "run" ? " WHERE id = ?" : " WHERE run_id = ?");
        sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
        sqlite3_bind_int64(st, 1, run);
        tab.columns = sqlite3_column_count(st);
        while (sqlite3_step(st) == SQLITE_ROW) {
            std::vector<Value> row;
            for (int i = 0; i < tab.columns; ++i) {
                switch (sqlite3_column_type(st, i)) {
                    case SQLITE_INTEGER: row.emplace_back(int64_t(sqlite3_column_int64(st, i))); break;
                    case SQLITE_FLOAT: row.emplace_back(sqlite3_column_double(st, i)); break;
                    case SQLITE_NULL: row.emplace_back(std::monostate{}); break;
                    default:
                        row.emplace_back(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, i)),
                                                     size_t(sqlite3_column_bytes(st, i))));
                }
            }
            tab.rows.push_back(std::move(row));
        }
        sqlite3_finalize(st);
        out.push_back(std::move(tab));
    }
    sqlite3_close(db);
    return out;
}

// A new database at `path` with the tables and indexes of `like`.
inline sqlite3* same_schema(const std::string& like, const std::string& path) {
    sqlite3* src = open_db(like);
    sqlite3* db = open_db(path);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(src, "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND type IN ('table', 'index')"
                            " ORDER BY type = 'index'", -1, &st, nullptr);
    while (sqlite3_step(st) == SQLITE_ROW)
        sqlite3_exec(db, reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), nullptr, nullptr, nullptr);
    sqlite3_finalize(st);
    sqlite3_close(src);
    return db;
}

inline double raw_insert(sqlite3* db, const std::vector<Table>& tables) {
    auto t = Clock::now();
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    for (const Table& tab : tables) {
        std::string sql = "INSERT INTO " + tab.name + " VALUES (?";
        for (int i = 1; i < tab.columns; ++i) sql += ",?";
        sql += ")";
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
        for (const auto& row : tab.rows) {
            for (int i = 0; i < tab.columns; ++i) {
                const Value& v = row[size_t(i)];
                if (auto* n = std::get_if<int64_t>(&v)) sqlite3_bind_int64(st, i + 1, *n);
                else if (auto* d = std::get_if<double>(&v)) sqlite3_bind_double(st, i + 1, *d);
                else if (auto* s = std::get_if<std::string>(&v))
                    sqlite3_bind_text(st, i + 1, s->data(), int(s->size()), SQLITE_STATIC);
                else sqlite3_bind_null(st, i + 1);
            }
            sqlite3_step(st);
            sqlite3_reset(st);
        }
        sqlite3_finalize(st);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    return seconds_since(t);
}

}  // namespace record_detail

inline RecordBench bench_recording(const Scenario& s, const RunResult& r, int reps) {
    using namespace record_detail;
    namespace fs = std::filesystem;
    const std::string dir = fs::temp_directory_path() / ("quiesce-bench-rec-" + std::to_string(getpid()));
    fs::create_directories(dir);
    const RunMeta meta = run_meta(s, r);
    std::vector<double> raw, rec, ratio;
    std::vector<Table> tables;
    RecordBench out;
    for (int i = 0; i < reps; ++i) {
        const std::string a = dir + "/rec" + std::to_string(i) + ".db", b = dir + "/raw" + std::to_string(i) + ".db";
        int64_t id = 0;
        {
            TraceDb db(a);
            auto t = Clock::now();
            id = db.record(meta, r.stream);
            rec.push_back(seconds_since(t));
        }
        if (tables.empty()) {
            tables = rows_of(a, id);
            for (const Table& tab : tables) out.rows += tab.rows.size();
        }
        sqlite3* db = same_schema(a, b);
        raw.push_back(raw_insert(db, tables));
        sqlite3_close(db);
        ratio.push_back(rec.back() / raw.back());
    }
    fs::remove_all(dir);
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    out.raw_s = median(raw);
    out.record_s = median(rec);
    out.ratio_lo = *std::min_element(ratio.begin(), ratio.end());
    out.ratio_hi = *std::max_element(ratio.begin(), ratio.end());
    return out;
}

}  // namespace quiesce::bench
