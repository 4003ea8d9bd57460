// The table of interned words: their texts by id, and an index by text.
#include "sim/core/interned.h"

#include "sim/core/errors.h"

#include <deque>
#include <unordered_map>

namespace quiesce {

namespace {
struct Table {
    // Room for far more words than a run interns (83 in s3-basic's, 128 in
    // s4-storage's), made before any fork: a forked variant that interns a
    // word its stem had not met would otherwise rehash the table and
    // rewrite every node's link - the
    // stem's pages, each a copy-on-write fault (14-15 a variant of
    // s3-basic's phase sweep, by perf).
    Table() { ids.reserve(1024); }
    std::deque<std::string> texts{std::string()};  // by id; 0 is none. A deque keeps them in place as it grows.
    std::unordered_map<std::string_view, uint32_t> ids;  // views of `texts`
};
Table& table() {
    static Table t;
    return t;
}
}  // namespace

uint32_t intern_word(std::string_view text) {
    Table& t = table();
    auto it = t.ids.find(text);
    if (it != t.ids.end()) return it->second;
    const auto id = static_cast<uint32_t>(t.texts.size());
    t.texts.emplace_back(text);
    t.ids.emplace(t.texts.back(), id);
    return id;
}

std::string_view interned_text(uint32_t id) {
    const Table& t = table();
    SIM_ASSERT(id != 0 && id < t.texts.size(), "interned_text: no word has id {}", id);
    return t.texts[id];
}

uint32_t interned_words() { return static_cast<uint32_t>(table().texts.size()); }

}  // namespace quiesce
