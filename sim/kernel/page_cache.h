// The page cache of one block device partition: 4 KiB blocks cached in
// kernel memory pages, dirty until written back. writeback() sends a dirty
// block to the disk (acknowledged once the drive has it, possibly only in its
// volatile cache); fsync()/sync() write back and then flush the disk cache,
// which is what makes data durable. Every acknowledgement is reported to
// the storage observer so the checker knows what the OS believes.
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

class PageCache {
public:
    static constexpr unsigned kBlockSize = 4096;

    // What the checker is told (zero-time observers, given block contents).
    struct Observer {
        std::function<void(uint64_t block, const std::vector<uint8_t>& data)> written_back;  // acked, maybe cached
        std::function<void(uint64_t block, const std::vector<uint8_t>& data)> durable;      // acked after a flush
    };

    PageCache(Kernel& kernel, BlockDevice& disk, uint64_t first_sector, uint64_t blocks);

    void set_observer(Observer o) { observer_ = std::move(o); }
    uint64_t blocks() const { return blocks_; }

    int write(Cpu& cpu, uint64_t block, const void* data);  // into the cache: dirty
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

private:
    Entry& entry(Cpu& cpu, uint64_t block);
    std::vector<uint8_t> contents(Cpu& cpu, uint64_t page);

    Kernel& kernel_;
    BlockDevice& disk_;
    uint64_t first_sector_;
    uint64_t blocks_;
    std::map<uint64_t, Entry> entries_;
    std::map<uint64_t, std::vector<uint8_t>> written_since_flush_;  // block -> what was written
    Observer observer_;
    sc_core::sc_event idle_;
};

}  // namespace quiesce
