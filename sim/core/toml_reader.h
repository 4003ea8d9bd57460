// Strict TOML reading: every key is either consumed or reported as unknown;
// every error names file:line:column and the dotted key.
#pragma once

#include "sim/core/errors.h"
#include "sim/core/time.h"

#include <toml++/toml.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace quiesce {

toml::table parse_toml_file(const std::string& path);

// A file a run's inputs were read from: its path as the loader named it,
// its size and a hash of its bytes (sim/core/hash.h).
struct InputFile {
    std::string path;
    uint64_t bytes = 0;
    uint64_t hash = 0;
};

// While one lives (on this thread), every file parse_toml_file reads is
// noted in it, once per path, in the order first read: what a scenario's
// run depends on besides its seed - the scenario, its platform, protocols,
// driver and device files. Logs nest: an inner one's files are the outer's too.
class InputLog {
public:
    InputLog();
    ~InputLog();
    InputLog(const InputLog&) = delete;
    InputLog& operator=(const InputLog&) = delete;
    const std::vector<InputFile>& files() const { return files_; }
    static void note(const std::string& path, const std::string& bytes);

private:
    std::vector<InputFile> files_;
    InputLog* outer_;
};

class TableReader {
public:
    TableReader(std::string file, const toml::table& table, std::string prefix);

    std::optional<std::string> str(const std::string& key);
    // A quantity with its unit ("5us", "1GHz"): its text, or a bare
    // number's decimal text, which the unit's parser then refuses by name
    // ("'5' needs a unit: ...") instead of "expected a string".
    std::optional<std::string> quantity(const std::string& key);
    // A duration ("5us", parse_duration): what it does not read fails at
    // the key with parse_duration's reason ("'5' needs a unit: ...").
    std::optional<Picos> duration(const std::string& key);
    // A size ("4KiB", parse_size; a bare number is "expected a string"):
    // what it does not read fails at the key with parse_size's reason.
    std::optional<uint64_t> size(const std::string& key);
    std::string str(const std::string& key, const std::string& def) { return str(key).value_or(def); }
    std::string required_str(const std::string& key);
    std::optional<int64_t> integer(const std::string& key);
    // An integer in [lo, hi]; anything else fails with "must be lo to hi".
    std::optional<int64_t> integer(const std::string& key, int64_t lo, int64_t hi);
    std::optional<double> number(const std::string& key);  // an integer or a float
    std::optional<bool> boolean(const std::string& key);
    // Whether `key` is present and a string (for keys that take either).
    bool is_string(const std::string& key) const {
        const toml::node* n = table_.get(key);
        return n && n->is_string();
    }
    std::vector<std::string> str_list(const std::string& key);
    const toml::table* table(const std::string& key);
    const toml::array* array(const std::string& key);
    // Reads the array of tables [[key]]: calls fn with a reader for each
    // table, named key[i] in errors, and its node (for the source line).
    // Returns false if the key is absent.
    bool tables(const std::string& key, const std::function<void(TableReader&, const toml::node&)>& fn);
    // Reports any key that was not read as unknown.
    void done();

    [[noreturn]] void fail(const std::string& key, const std::string& message) const;
    const std::string& file() const { return file_; }
    int line() const { return int(table_.source().begin.line); }  // where the table starts
    int column() const { return int(table_.source().begin.column); }
    // Where each key's value starts (line, column): for errors found after
    // the table is gone.
    std::map<std::string, std::pair<int, int>> positions() const;
    const std::string& prefix() const { return prefix_; }  // the table's own dotted path
    std::string path_of(const std::string& key) const { return prefix_.empty() ? key : prefix_ + "." + key; }

private:
    const toml::node* get(const std::string& key);
    std::string file_;
    const toml::table& table_;
    std::string prefix_;
    std::set<std::string> used_;
};

[[noreturn]] void fail_at(const std::string& file, const toml::node& node, const std::string& key,
                          const std::string& message);

}  // namespace quiesce
