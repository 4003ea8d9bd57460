// A viewer's rows, read by type. TraceReader::each hands every cell over as
// text; the views and exports read numbers and JSON out of it here, in one
// place. A trace database is input like any other: a cell that is not what
// docs/trace-schema.md says its column holds - text in an integer column, a
// negative time, JSON nested deeper than quiesce writes - is an InputError
// naming the database, the table and column, and the row, never an uncaught
// exception or a stack overflow.
#pragma once

#include "sim/trace/trace_db.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace quiesce {

// How deep the JSON of an `args` or `evidence` cell may nest. quiesce
// writes two or three levels; a viewer that copies a value into its output
// recurses once per level.
constexpr int kMaxJsonDepth = 64;

class Row {
public:
    // `columns`: what each cell is, "table.column" in select order. A
    // "table.id" (or else "table.run_id") among them names the row in a
    // message about a cell of that table.
    Row(const TraceReader& db, const std::vector<const char*>& columns, const std::vector<std::string>& cells)
        : db_(db), columns_(columns), cells_(cells) {}

    const std::string& operator[](size_t i) const { return cells_[i]; }  // as text; NULL as ""
    size_t size() const { return cells_.size(); }
    // A whole number (an INTEGER column); NULL as 0.
    int64_t integer(size_t i) const;
    // A whole number, 0 or more (a time or duration in picoseconds, cycles,
    // a clock rate); NULL as 0.
    uint64_t natural(size_t i) const;
    // A finite number (a REAL column).
    double real(size_t i) const;
    // A JSON cell (args, evidence): NULL as {}, text that is no JSON as
    // {"raw": text}; JSON nested deeper than kMaxJsonDepth is an error.
    nlohmann::json json(size_t i) const;
    // Whether cell `i` is JSON (for a viewer that copies it as it is), by
    // the same rule.
    bool is_json(size_t i) const;
    // The InputError about cell `i`: "DB: table.column: WHY (table row ID)".
    [[noreturn]] void bad(size_t i, const std::string& why) const;

private:
    const TraceReader& db_;
    const std::vector<const char*>& columns_;
    const std::vector<std::string>& cells_;
};

// TraceReader::each, the rows read through Row.
void each_row(const TraceReader& db, const std::string& sql, const std::vector<int64_t>& params,
              const std::vector<const char*>& columns, const std::function<void(const Row&)>& row);
// TraceReader::each for a `row` that may throw: each() finalizes its
// statement only when it returns (a connection with a statement open does
// not close, and leaves its -wal and -shm behind), so the first error is
// kept, the rows after it skipped, and it is thrown once each() is done.
void each_cells(const TraceReader& db, const std::string& sql, const std::vector<int64_t>& params,
                const std::function<void(const std::vector<std::string>&)>& row);

// The argument `key` of an args object as text: a string as it is, a
// number as its decimal (numbers are stored as JSON numbers: typed_args.h),
// "" when there is no such argument or `args` is no object.
std::string arg_text(const nlohmann::json& args, const char* key);

enum class JsonText { Json, NotJson, TooDeep };
// Whether `text` is JSON nested at most kMaxJsonDepth deep, read without
// building it (and without recursion).
JsonText check_json(const std::string& text);

}  // namespace quiesce
