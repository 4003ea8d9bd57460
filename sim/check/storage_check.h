// Storage invariants: the OS's beliefs (what the page cache says was written
// back, what fsync/sync acknowledged durable) against the drive's true state.
//   data.lost-write      a block acknowledged durable holds other data on the
//                        media after resume (and no later write explains it)
//   fs.cache-divergence  after resume, a clean page-cache block differs from
//                        what the disk returns for it
#pragma once

#include "sim/check/checker.h"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace quiesce {

class SataDrive;
class PhysicalMemory;
class PageCache;

class StorageCheck {
public:
    StorageCheck(Checker& checker, const SataDrive& drive, const PhysicalMemory& memory, const PageCache& cache,
                 std::string component);

    // Observer hooks (PageCache::Observer).
    void written_back(uint64_t block, const std::vector<uint8_t>& data);
    void durable(uint64_t block, const std::vector<uint8_t>& data);

    // Run once the system is back (resume finished). After a fresh boot the
    // page cache is gone: only durability is checked.
    void check(bool cache_alive = true);

private:
    // Hash of a block as the platters hold it, or as a read returns it.
    uint64_t block_hash(uint64_t block, bool media_only) const;

    Checker& checker_;
    const SataDrive& drive_;
    const PhysicalMemory& memory_;
    const PageCache& cache_;
    std::string component_;
    struct Durable {
        uint64_t hash;
        Picos when;
    };
    std::map<uint64_t, Durable> durable_;             // latest durable content per block
    std::map<uint64_t, std::set<uint64_t>> later_;    // written back since (may legitimately be on media)
};

uint64_t content_hash(const uint8_t* data, size_t len);
// "a,b,c" of the first `n` items: the evidence lists of violations.
std::string join_first(const std::vector<std::string>& items, size_t n = 16);

}  // namespace quiesce
