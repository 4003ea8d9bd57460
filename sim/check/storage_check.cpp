#include "sim/check/storage_check.h"

#include "models/disk/sata_drive.h"
#include "sim/core/memory.h"
#include "sim/kernel/page_cache.h"

#include <fmt/format.h>

namespace quiesce {

uint64_t content_hash(const uint8_t* data, size_t len) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; ++i) {
        h ^= data[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

StorageCheck::StorageCheck(Checker& checker, const SataDrive& drive, const PhysicalMemory& memory,
                           const PageCache& cache, std::string component)
    : checker_(checker), drive_(drive), memory_(memory), cache_(cache), component_(std::move(component)) {}

void StorageCheck::written_back(uint64_t block, const std::vector<uint8_t>& data) {
    later_[block].insert(content_hash(data.data(), data.size()));
}

void StorageCheck::durable(uint64_t block, const std::vector<uint8_t>& data) {
    durable_[block] = {content_hash(data.data(), data.size()), now_ps()};
    later_[block].clear();
}

std::string join_first(const std::vector<std::string>& items, size_t n) {
    std::string out;
    for (size_t i = 0; i < items.size() && i < n; ++i) out += (i ? "," : "") + items[i];
    return out;
}

uint64_t StorageCheck::block_hash(uint64_t block, bool media_only) const {
    std::vector<uint8_t> data;
    for (unsigned i = 0; i < cache_.sectors_per_block(); ++i) {
        uint64_t sector = cache_.sector_of(block) + i;
        auto s = media_only ? drive_.media(sector) : drive_.readable(sector);
        data.insert(data.end(), s.begin(), s.end());
    }
    return content_hash(data.data(), data.size());
}

void StorageCheck::check(bool cache_alive) {
    // data.lost-write
    std::vector<std::string> lost;
    Picos first_ack = 0;
    for (const auto& [block, d] : durable_) {
        uint64_t media = block_hash(block, true);
        if (media == d.hash || later_[block].count(media)) continue;
        if (lost.empty()) first_ack = d.when;
        lost.push_back(std::to_string(block));
    }
    if (!lost.empty()) {
        std::string list = join_first(lost);
        checker_.report({"data.lost-write", now_ps(), component_, "",
                         fmt::format("{} block(s) acknowledged durable hold other data on the media after resume "
                                     "(first: block {})",
                                     lost.size(), lost[0]),
                         fmt::format("{{\"blocks\":\"{}\",\"count\":\"{}\",\"first_acknowledged_ps\":\"{}\"}}", list,
                                     lost.size(), first_ack)});
    }
    if (!cache_alive) return;
    // fs.cache-divergence
    std::vector<std::string> diverged;
    for (const auto& [block, e] : cache_.entries()) {
        if (e.dirty || e.busy) continue;
        std::vector<uint8_t> page(PageCache::kBlockSize);
        memory_.peek(e.page, page.data(), page.size());
        if (content_hash(page.data(), page.size()) != block_hash(block, false)) diverged.push_back(std::to_string(block));
    }
    if (!diverged.empty()) {
        std::string list = join_first(diverged);
        checker_.report({"fs.cache-divergence", now_ps(), component_, "",
                         fmt::format("{} clean page-cache block(s) differ from what the disk returns (first: block {})",
                                     diverged.size(), diverged[0]),
                         fmt::format("{{\"blocks\":\"{}\",\"count\":\"{}\"}}", list, diverged.size())});
    }
}

}  // namespace quiesce
