// The in-flight ledger: every DMA descriptor, transfer and command from issue to completion.
#include "sim/core/ledger.h"

#include "sim/core/errors.h"
#include "sim/core/events.h"

namespace quiesce {

namespace {
const EventWord kIssue("issue"), kRetire("retire"), kLedger("ledger");
}  // namespace

uint64_t Ledger::issue(const std::string& device, std::string what) {
    uint64_t id = next_id_++;
    const Entry& e = open_.emplace(id, Entry{id, device, std::move(what), now_ps()}).first->second;
    if (hub_) hub_->instant(device, kIssue, kLedger, {{"id", id}, {"what", e.what}});
    return id;
}

void Ledger::retire(uint64_t id, const std::string& outcome) {
    auto it = open_.find(id);
    SIM_ASSERT(it != open_.end(), "ledger: retiring unknown id {}", id);
    if (hub_)
        hub_->instant(it->second.device, kRetire, kLedger,
                      {{"id", id}, {"what", it->second.what}, {"outcome", outcome}});
    open_.erase(it);
}

size_t Ledger::in_flight(const std::string& device) const {
    size_t n = 0;
    for (const auto& [id, e] : open_)
        if (e.device == device) ++n;
    return n;
}

std::vector<Ledger::Entry> Ledger::outstanding() const {
    std::vector<Entry> out;
    for (const auto& [id, e] : open_) out.push_back(e);
    return out;
}

std::vector<Ledger::Entry> Ledger::outstanding(const std::string& device) const {
    std::vector<Entry> out;
    for (const auto& [id, e] : open_)
        if (e.device == device) out.push_back(e);
    return out;
}

}  // namespace quiesce
