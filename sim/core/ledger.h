// The in-flight ledger (DESIGN.md §5): every DMA descriptor, transfer or
// request gets an id when issued and is retired on completion. "Quiesced" is
// computed from the ledger, never taken from a driver's word.
#pragma once

#include "sim/core/time.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace quiesce {

class EventHub;

class Ledger {
public:
    struct Entry {
        uint64_t id;
        std::string device;
        std::string what;
        Picos issued;
    };

    explicit Ledger(EventHub* hub = nullptr) : hub_(hub) {}

    uint64_t issue(const std::string& device, std::string what);
    // Retires an id; `outcome` is "done", "aborted", "error"... Retiring an
    // unknown id is a model bug.
    void retire(uint64_t id, const std::string& outcome = "done");

    size_t in_flight(const std::string& device) const;
    std::vector<Entry> outstanding(const std::string& device) const;
    std::vector<Entry> outstanding() const;
    uint64_t issued_total() const { return next_id_ - 1; }

private:
    EventHub* hub_;
    uint64_t next_id_ = 1;
    std::map<uint64_t, Entry> open_;
};

}  // namespace quiesce
