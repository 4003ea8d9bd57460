// Strict TOML reading: typed values, every key consumed or reported with its file, line and column.
#include "sim/core/toml_reader.h"

#include "sim/core/hash.h"
#include "sim/core/paths.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace quiesce {

namespace {
// A device node is no input file: /dev/zero or /dev/urandom would be read
// forever. (A FIFO, <(...) in a shell, is read to its end like a file.)
std::string device_node(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return "";
    if (S_ISCHR(st.st_mode)) return "a character device";
    if (S_ISBLK(st.st_mode)) return "a block device";
    return "";
}
}  // namespace

namespace {
thread_local InputLog* current_log = nullptr;
}

InputLog::InputLog() : outer_(current_log) { current_log = this; }
InputLog::~InputLog() { current_log = outer_; }

void InputLog::note(const std::string& path, const std::string& bytes) {
    for (InputLog* log = current_log; log; log = log->outer_) {
        bool seen = false;
        for (const InputFile& f : log->files_) seen = seen || f.path == path;
        if (!seen) log->files_.push_back({path, bytes.size(), hash_bytes(bytes.data(), bytes.size())});
    }
}

toml::table parse_toml_file(const std::string& path) {
    const PathKind kind = path_kind(path);
    if (kind == PathKind::Directory) throw InputError(path, 0, 0, "", "is a directory, not a file");
    if (kind == PathKind::Other) {
        if (std::string what = device_node(path); !what.empty())
            throw InputError(path, 0, 0, "", what + ", not a file to read");
    }
    errno = 0;
    std::ifstream in(path);
    if (!in)
        throw InputError(path, 0, 0, "", std::string("cannot open file") + (errno ? std::string(": ") + std::strerror(errno) : ""));
    std::stringstream buf;
    buf << in.rdbuf();
    InputLog::note(path, buf.str());
    try {
        return toml::parse(buf.str(), path);
    } catch (const toml::parse_error& e) {
        const auto& src = e.source();
        throw InputError(path, int(src.begin.line), int(src.begin.column), "", std::string(e.description()));
    }
}

void fail_at(const std::string& file, const toml::node& node, const std::string& key, const std::string& message) {
    const auto& src = node.source();
    throw InputError(file, int(src.begin.line), int(src.begin.column), key, message);
}

TableReader::TableReader(std::string file, const toml::table& table, std::string prefix)
    : file_(std::move(file)), table_(table), prefix_(std::move(prefix)) {}

const toml::node* TableReader::get(const std::string& key) {
    used_.insert(key);
    return table_.get(key);
}

namespace {
// The edit distance of a and b (insertions, deletions, substitutions and
// swaps of neighbours), up to 3.
size_t distance(std::string_view a, std::string_view b) {
    if (a.size() > b.size() + 2 || b.size() > a.size() + 2) return 3;
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (size_t i = 1; i <= a.size(); ++i)
        for (size_t j = 1; j <= b.size(); ++j) {
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    return std::min<size_t>(d[a.size()][b.size()], 3);
}
}  // namespace

void TableReader::fail(const std::string& key, const std::string& message) const {
    const toml::node* n = table_.get(key);
    if (n) fail_at(file_, *n, path_of(key), message);
    // A key that is required and missing is often one misspelt: the
    // misspelling, where it is, says more than "is required" at the table.
    if (message.rfind("is required", 0) == 0 && key.size() >= 3)
        for (const auto& [k, v] : table_) {
            const std::string other(k.str());
            if (!used_.count(other) && distance(other, key) <= (key.size() >= 5 ? 2u : 1u)) {
                const auto& src = k.source();
                throw InputError(file_, int(src.begin.line), int(src.begin.column), path_of(other),
                                 "unknown key (did you mean '" + key + "'?)");
            }
        }
    fail_at(file_, table_, path_of(key), message);
}

std::optional<std::string> TableReader::str(const std::string& key) {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (!n->is_string()) fail(key, "expected a string");
    return std::string(*n->as_string());
}

std::optional<std::string> TableReader::quantity(const std::string& key) {
    const toml::node* n = get(key);
    if (n && n->is_integer()) return std::to_string(int64_t(*n->as_integer()));
    if (n && n->is_floating_point()) return fmt::format("{}", double(*n->as_floating_point()));
    return str(key);
}

namespace {
// `text` (the value at `key`, if any) read by `parse`, whose refusal fails
// at the key with its reason.
template <class F>
auto parsed_at(TableReader& r, const std::string& key, const std::optional<std::string>& text, F parse)
    -> std::optional<decltype(parse(std::string()))> {
    if (!text) return std::nullopt;
    try {
        return parse(*text);
    } catch (const std::invalid_argument& e) {
        r.fail(key, e.what());
    }
}
}  // namespace

std::optional<Picos> TableReader::duration(const std::string& key) {
    return parsed_at(*this, key, quantity(key), parse_duration);
}

std::optional<uint64_t> TableReader::size(const std::string& key) { return parsed_at(*this, key, str(key), parse_size); }

std::string TableReader::required_str(const std::string& key) {
    auto v = str(key);
    if (!v) fail(key, "is required");
    return *v;
}

std::optional<int64_t> TableReader::integer(const std::string& key) {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (!n->is_integer()) fail(key, "expected an integer");
    return int64_t(*n->as_integer());
}

std::optional<int64_t> TableReader::integer(const std::string& key, int64_t lo, int64_t hi) {
    auto v = integer(key);
    if (v && (*v < lo || *v > hi)) fail(key, "must be " + std::to_string(lo) + " to " + std::to_string(hi));
    return v;
}

std::optional<double> TableReader::number(const std::string& key) {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (n->is_integer()) return double(n->as_integer()->get());
    if (!n->is_floating_point()) fail(key, "expected a number");
    return n->as_floating_point()->get();
}

std::optional<bool> TableReader::boolean(const std::string& key) {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (!n->is_boolean()) fail(key, "expected true or false");
    return bool(*n->as_boolean());
}

std::vector<std::string> TableReader::str_list(const std::string& key) {
    std::vector<std::string> out;
    const toml::node* n = get(key);
    if (!n) return out;
    if (!n->is_array()) fail(key, "expected an array of strings");
    for (const auto& e : *n->as_array()) {
        if (!e.is_string()) fail_at(file_, e, path_of(key), "expected a string");
        out.emplace_back(*e.as_string());
    }
    return out;
}

const toml::table* TableReader::table(const std::string& key) {
    const toml::node* n = get(key);
    if (!n) return nullptr;
    if (!n->is_table()) fail(key, "expected a table");
    return n->as_table();
}

const toml::array* TableReader::array(const std::string& key) {
    const toml::node* n = get(key);
    if (!n) return nullptr;
    if (!n->is_array()) fail(key, "expected an array");
    return n->as_array();
}

bool TableReader::tables(const std::string& key, const std::function<void(TableReader&, const toml::node&)>& fn) {
    const toml::array* arr = array(key);
    if (!arr) return false;
    size_t i = 0;
    for (const auto& node : *arr) {
        std::string where = path_of(key) + "[" + std::to_string(i++) + "]";
        if (!node.is_table()) fail_at(file_, node, where, "expected a table");
        TableReader r(file_, *node.as_table(), where);
        fn(r, node);
    }
    return true;
}

std::map<std::string, std::pair<int, int>> TableReader::positions() const {
    std::map<std::string, std::pair<int, int>> out;
    for (const auto& [k, v] : table_) out[std::string(k.str())] = {int(v.source().begin.line), int(v.source().begin.column)};
    return out;
}

void TableReader::done() {
    for (const auto& [k, v] : table_) {
        std::string key(k.str());
        if (!used_.count(key)) {
            // A misspelling of a key this table was asked for and does not
            // hold, required or not (every reader asks for its optional
            // keys too): the nearest such, if one is near.
            std::string nearest;
            size_t best = key.size() >= 5 ? 2 : 1;
            for (const std::string& asked : used_) {
                if (table_.contains(asked) || asked.size() < 3) continue;
                const size_t d = distance(key, asked);
                if (d > best || (d == best && !nearest.empty())) continue;
                nearest = asked;
                best = d;
            }
            const auto& src = k.source();
            throw InputError(file_, int(src.begin.line), int(src.begin.column), path_of(key),
                             nearest.empty() ? "unknown key" : "unknown key (did you mean '" + nearest + "'?)");
        }
    }
}

}  // namespace quiesce
