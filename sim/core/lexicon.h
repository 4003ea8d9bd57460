// A fixed set of words, each with its id, looked up by text: what resolves
// a name once (an event's name, a phase's callback or action) where code
// compared it against literal after literal. Words are kept by length: a
// text is compared only with the words of its length, most of them with
// none. Id must have an `Other` value: the id of any text not among them.
#pragma once

#include <cstring>
#include <initializer_list>
#include <string_view>
#include <utility>
#include <vector>

namespace quiesce {

template <class Id>
class Lexicon {
public:
    Lexicon(std::initializer_list<std::pair<const char*, Id>> words) {
        for (const auto& [w, id] : words) {
            const std::string_view v(w);
            if (v.size() >= by_size_.size()) by_size_.resize(v.size() + 1);
            by_size_[v.size()].emplace_back(v, id);
        }
    }
    Id operator()(std::string_view s) const {
        if (s.size() >= by_size_.size()) return Id::Other;
        for (const auto& [w, id] : by_size_[s.size()])
            if (std::memcmp(w.data(), s.data(), s.size()) == 0) return id;
        return Id::Other;
    }

private:
    std::vector<std::vector<std::pair<std::string_view, Id>>> by_size_;
};

}  // namespace quiesce
