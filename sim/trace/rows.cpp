// Reading a viewer's rows by type (integers, naturals, JSON), naming the column on a bad cell.
#include "sim/trace/rows.h"

#include "sim/core/errors.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>

namespace quiesce {

namespace {

// What a message shows of a cell: its start, on one line.
std::string shown(const std::string& text) {
    constexpr size_t kShown = 40;
    return "'" + one_line(text.size() > kShown ? text.substr(0, kShown) + "..." : text) + "'";
}

std::string table_of(const char* column) {
    const char* dot = std::strchr(column, '.');
    return dot ? std::string(column, size_t(dot - column)) : std::string();
}

}  // namespace

namespace {

// nlohmann's SAX interface, counting how deep the value nests: the parser
// keeps its own stack, so reading is no recursion; building a value, copying
// it or printing it would be, once per level.
struct DepthCheck {
    using json = nlohmann::json;
    int depth = 0;
    bool too_deep = false;
    bool open() {
        too_deep = ++depth > kMaxJsonDepth;
        return !too_deep;
    }
    bool close() {
        --depth;
        return true;
    }
    bool null() { return true; }
    bool boolean(bool) { return true; }
    bool number_integer(json::number_integer_t) { return true; }
    bool number_unsigned(json::number_unsigned_t) { return true; }
    bool number_float(json::number_float_t, const json::string_t&) { return true; }
    bool string(json::string_t&) { return true; }
    bool binary(json::binary_t&) { return true; }
    bool start_object(std::size_t) { return open(); }
    bool key(json::string_t&) { return true; }
    bool end_object() { return close(); }
    bool start_array(std::size_t) { return open(); }
    bool end_array() { return close(); }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }
};

}  // namespace

std::string arg_text(const nlohmann::json& args, const char* key) {
    if (!args.is_object()) return "";
    auto it = args.find(key);
    if (it == args.end()) return "";
    if (it->is_string()) return it->get<std::string>();
    if (it->is_number_integer()) return it->is_number_unsigned() ? std::to_string(it->get<uint64_t>())
                                                                  : std::to_string(it->get<int64_t>());
    if (it->is_number()) return it->dump();
    return "";
}

JsonText check_json(const std::string& text) {
    DepthCheck check;
    if (nlohmann::json::sax_parse(text, &check)) return JsonText::Json;
    return check.too_deep ? JsonText::TooDeep : JsonText::NotJson;
}

int64_t Row::integer(size_t i) const {
    const std::string& t = cells_[i];
    if (t.empty()) return 0;
    int64_t v = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || end != t.data() + t.size()) bad(i, "expected an integer, got " + shown(t));
    return v;
}

uint64_t Row::natural(size_t i) const {
    int64_t v = integer(i);
    if (v < 0) bad(i, "expected a whole number, 0 or more, got " + shown(cells_[i]));
    return uint64_t(v);
}

double Row::real(size_t i) const {
    const std::string& t = cells_[i];
    char* end = nullptr;
    double v = t.empty() ? 0.0 : std::strtod(t.c_str(), &end);
    if (!t.empty() && (*end || !std::isfinite(v))) bad(i, "expected a number, got " + shown(t));
    return v;
}

bool Row::is_json(size_t i) const {
    switch (check_json(cells_[i])) {
        case JsonText::Json: return true;
        case JsonText::NotJson: return false;
        case JsonText::TooDeep: break;
    }
    bad(i, fmt::format("JSON nested deeper than {} levels", kMaxJsonDepth));
}

nlohmann::json Row::json(size_t i) const {
    const std::string& t = cells_[i];
    if (t.empty()) return nlohmann::json::object();
    if (!is_json(i)) return nlohmann::json{{"raw", t}};
    return nlohmann::json::parse(t, nullptr, false);
}

void Row::bad(size_t i, const std::string& why) const {
    const std::string table = table_of(columns_[i]);
    std::string row;
    for (const char* key : {".id", ".run_id"})
        for (size_t c = 0; c < columns_.size() && row.empty(); ++c)
            if (columns_[c] == table + key)
                row = std::string(key) == ".id" ? fmt::format("{} row {}", table, one_line(cells_[c]))
                                                : fmt::format("run {}", one_line(cells_[c]));
    throw InputError(db_.path(), 0, 0, columns_[i], row.empty() ? why : why + " (" + row + ")");
}

void each_cells(const TraceReader& db, const std::string& sql, const std::vector<int64_t>& params,
                const std::function<void(const std::vector<std::string>&)>& row) {
    std::exception_ptr error;
    db.each(sql, params, [&](const std::vector<std::string>& cells) {
        if (error) return;
        try {
            row(cells);
        } catch (...) {
            error = std::current_exception();
        }
    });
    if (error) std::rethrow_exception(error);
}

void each_row(const TraceReader& db, const std::string& sql, const std::vector<int64_t>& params,
              const std::vector<const char*>& columns, const std::function<void(const Row&)>& row) {
    each_cells(db, sql, params, [&](const std::vector<std::string>& cells) {
        if (cells.size() != columns.size())
            SIM_PANIC("a viewer query names {} columns and selects {}", columns.size(), cells.size());
        row(Row(db, columns, cells));
    });
}

}  // namespace quiesce
