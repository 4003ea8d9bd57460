// Event arguments as the trace database stores them: JSON whose numbers are
// numbers (typed_args.h).
#include "sim/trace/typed_args.h"

#include "sim/trace/rows.h"

#include <sqlite3.h>

#include <cstdint>
#include <cstring>

namespace quiesce {

namespace {

bool digit(char c) { return c >= '0' && c <= '9'; }

// A decimal integer of int64: '-'? (0 | [1-9][0-9]*), not "-0", in range.
bool int64_text(std::string_view t) {
    const bool minus = !t.empty() && t[0] == '-';
    std::string_view d = t.substr(minus ? 1 : 0);
    if (d.empty() || d.size() > 19) return false;
    for (char c : d)
        if (!digit(c)) return false;
    if (d.size() > 1 && d[0] == '0') return false;
    if (minus && d == "0") return false;
    if (d.size() < 19) return true;
    return d <= (minus ? std::string_view("9223372036854775808") : std::string_view("9223372036854775807"));
}

// Appends `s` as the inside of a JSON string literal: as it is when every
// byte is printable ASCII other than '"' and '\' (nearly every argument),
// else through json_escape (control characters, UTF-8 checked).
void append_escaped(std::string& out, const std::string& s) {
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x80 || c == '"' || c == '\\') {
            out += json_escape(s);
            return;
        }
    }
    out += s;
}

// The end of the JSON string literal opening at text[i] ('"'): the index
// of its closing quote, or npos. `escaped`: whether it holds a backslash.
size_t string_end(std::string_view text, size_t i, bool& escaped) {
    escaped = false;
    for (size_t j = i + 1; j < text.size(); ++j) {
        if (text[j] == '\\') {
            escaped = true;
            ++j;
        } else if (text[j] == '"') {
            return j;
        }
    }
    return std::string_view::npos;
}

void quiesce_args(sqlite3_context* ctx, int, sqlite3_value** argv) {
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    const auto* p = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
    const std::string_view text(p ? p : "", size_t(sqlite3_value_bytes(argv[0])));
    if (text.empty() || text == "{}") {
        sqlite3_result_null(ctx);
        return;
    }
    const std::string typed = typed_json(text);
    sqlite3_result_text(ctx, typed.data(), int(typed.size()), SQLITE_TRANSIENT);
}

}  // namespace

bool stored_as_number(std::string_view key, std::string_view text) {
    if (key == "digest") return false;
    const size_t dot = text.find('.');
    if (dot == std::string_view::npos) return int64_text(text);
    std::string_view whole = text.substr(0, dot), frac = text.substr(dot + 1);
    if (frac.empty()) return false;
    for (char c : frac)
        if (!digit(c)) return false;
    return whole == "-0" || int64_text(whole);
}

void args_json(std::string& out, const std::vector<Arg>& args) {
    out.clear();
    if (args.empty()) return;
    out += '{';
    for (size_t i = 0; i < args.size(); ++i) {
        const Arg& a = args[i];
        if (i) out += ',';
        out += '"';
        append_escaped(out, a.key);
        out += "\":";
        if (a.key == "evidence" && !a.value.empty() && a.value[0] == '{') {
            out += typed_json(a.value);  // already JSON
        } else if (stored_as_number(a.key, a.value)) {
            out += a.value;
        } else {
            out += '"';
            append_escaped(out, a.value);
            out += '"';
        }
    }
    out += '}';
}

std::string typed_json(std::string_view text) {
    if (check_json(std::string(text)) != JsonText::Json) return std::string(text);
    // A walk over the tokens: in an object a string is a key until its
    // ':'; a string value is typed under the nearest key.
    struct Level {
        bool object;
        bool expect_key;
        std::string_view key;
    };
    std::vector<Level> levels;
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        const char c = text[i];
        if (c == '"') {
            bool escaped = false;
            const size_t end = string_end(text, i, escaped);
            if (end == std::string_view::npos) {  // not JSON after all (check_json said it was)
                out.append(text.substr(i));
                break;
            }
            const std::string_view inside = text.substr(i + 1, end - i - 1);
            Level* top = levels.empty() ? nullptr : &levels.back();
            if (top && top->object && top->expect_key) {
                top->key = escaped ? std::string_view() : inside;
                out.append(text.substr(i, end + 1 - i));
            } else {
                std::string_view key;
                for (auto it = levels.rbegin(); it != levels.rend(); ++it)
                    if (it->object) {
                        key = it->key;
                        break;
                    }
                if (!escaped && stored_as_number(key, inside)) out.append(inside);
                else out.append(text.substr(i, end + 1 - i));
            }
            i = end + 1;
            continue;
        }
        if (c == '{' || c == '[') levels.push_back({c == '{', c == '{', {}});
        else if ((c == '}' || c == ']') && !levels.empty()) levels.pop_back();
        else if (c == ':' && !levels.empty()) levels.back().expect_key = false;
        else if (c == ',' && !levels.empty() && levels.back().object) levels.back().expect_key = true;
        out += c;
        ++i;
    }
    return out;
}

void add_typed_args_function(sqlite3* db) {
    sqlite3_create_function(db, "quiesce_args", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr, quiesce_args, nullptr,
                            nullptr);
}

}  // namespace quiesce
