// Typed, documented properties of a module (VCML-style). Scenario files set
// them by key; each carries a docstring for generated docs.
#pragma once

#include "sim/core/errors.h"

#include <cstdint>
#include <map>
#include <string>
#include <variant>

namespace quiesce {

using PropValue = std::variant<bool, int64_t, std::string>;

class Properties {
public:
    void declare(const std::string& key, PropValue def, std::string doc) {
        entries_[key] = Entry{std::move(def), std::move(doc)};
    }
    bool has(const std::string& key) const { return entries_.count(key) != 0; }
    void set(const std::string& key, PropValue v) {
        auto it = entries_.find(key);
        SIM_ASSERT(it != entries_.end(), "property {} not declared", key);
        SIM_ASSERT(it->second.value.index() == v.index(), "property {} set with the wrong type", key);
        it->second.value = std::move(v);
    }
    template <class T>
    T get(const std::string& key) const {
        auto it = entries_.find(key);
        SIM_ASSERT(it != entries_.end(), "property {} not declared", key);
        return std::get<T>(it->second.value);
    }
    // The value of a declared property, to be read on a hot path without a
    // lookup by name: it stays valid, and follows set(), for as long as the
    // property is not declared again (set() keeps the type, so assigns in
    // place).
    template <class T>
    const T& ref(const std::string& key) const {
        auto it = entries_.find(key);
        SIM_ASSERT(it != entries_.end(), "property {} not declared", key);
        return std::get<T>(it->second.value);
    }
    struct Entry {
        PropValue value;
        std::string doc;
    };
    const std::map<std::string, Entry>& entries() const { return entries_; }

private:
    std::map<std::string, Entry> entries_;
};

}  // namespace quiesce
