// The page cache of one block device partition: 4 KiB blocks cached in
// kernel memory pages, dirty until written back. writeback() sends a dirty
// block to the disk (acknowledged once the drive has it, possibly only in its
// volatile cache); fsync()/sync() write back and then flush the disk cache,
// which is what makes data durable (the block layer tells the checker).
// Its pages come from the kernel's page allocator, and under memory pressure
// its shrinker gives back clean ones.
#pragma once

#include "sim/kernel/block.h"

#include <systemc>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace quiesce {

class Cpu;
class Kernel;
class StateReader;
class StateWriter;

class PageCache {
public:
    static constexpr unsigned kBlockSize = 4096;

    PageCache(Kernel& kernel, BlockDevice& disk, uint64_t first_sector, uint64_t blocks);
    ~PageCache();
    PageCache(const PageCache&) = delete;
    PageCache& operator=(const PageCache&) = delete;

    uint64_t blocks() const { return blocks_; }

    // `written_page`, when given, is the page the data went to.
    int write(Cpu& cpu, uint64_t block, const void* data, uint64_t* written_page = nullptr);  // into the cache: dirty
    int read(Cpu& cpu, uint64_t block, void* out);
    int writeback(Cpu& cpu, uint64_t block);
    int writeback_all(Cpu& cpu);
    int fsync(Cpu& cpu, const std::set<uint64_t>& blocks);
    int sync(Cpu& cpu);  // ksys_sync: every dirty block, then a flush

    struct Entry {
        uint64_t page = 0;   // physical address of the cached copy
        bool dirty = false;
        bool busy = false;   // under writeback
    };
    const std::map<uint64_t, Entry>& entries() const { return entries_; }
    uint64_t sector_of(uint64_t block) const;
    unsigned sectors_per_block() const;

    // The shrinker: drops clean pages not under write-back (no I/O needed).
    uint64_t shrink(uint64_t want);
    // invalidate_inode_pages: every page not under write-back dropped,
    // dirty ones unwritten (what they hold is no longer the file's: another
    // OS changed it). Returns how many were dropped, of which `dirty` dirty.
    uint64_t drop_all(uint64_t* dirty = nullptr);

    // The radix tree in the image (sim/kernel/image_state.h).
    void save_state(StateWriter& w) const;
    void load_state(StateReader& r);

private:
    Entry* entry(Cpu& cpu, uint64_t block, int& rc);
    // The entry of `block` if it still caches it in `page` (after a wait), or nullptr.
    Entry* same(uint64_t block, uint64_t page);

    Kernel& kernel_;
    BlockDevice& disk_;
    uint64_t first_sector_;
    uint64_t blocks_;
    std::map<uint64_t, Entry> entries_;
    sc_core::sc_event idle_;
    int shrinker_ = 0;
    int state_ = 0;
};

}  // namespace quiesce
