// Swap: the slot map of the swap partition and anonymous memory that is
// paged out to it under memory pressure.
//
// SwapMap: one byte per swap page in kernel memory (like the kernel's
// swap_map), read and written through the CPU. Page 0 is the swap header.
// Swapped-out pages and the hibernation image both take slots from it
// (alloc_swapdev_block), so the image never overwrites swapped-out data.
//
// AnonMemory: a task's anonymous pages with at most `resident_limit` in
// frames (its memory limit); touching a page that is out faults it in from
// its slot, evicting the least recently used resident page to a new slot
// first. Frames come from the kernel's page allocator; under global memory
// pressure its shrinker swaps the least recently used pages out - which
// needs I/O to the swap disk, so it does nothing when I/O is not allowed.
#pragma once

#include "sim/kernel/block.h"

#include <systemc>

#include <cstdint>
#include <list>
#include <map>
#include <vector>

namespace quiesce {

class Cpu;
class Kernel;
class StateReader;
class StateWriter;

class SwapMap {
public:
    SwapMap(Kernel& kernel, BlockDevice& dev, uint64_t first_sector, uint64_t sectors);

    void init(Cpu& cpu);              // swapon: every slot free
    int64_t alloc(Cpu& cpu);          // a free slot, or -1 when swap is full
    void free(Cpu& cpu, uint64_t slot);
    uint64_t slots() const { return slots_; }
    BlockDevice& device() { return dev_; }
    uint64_t first_sector() const { return first_; }
    // Page I/O on a slot (blocking).
    int io(Cpu& cpu, uint64_t slot, uint64_t buffer, bool write);

private:
    Kernel& kernel_;
    BlockDevice& dev_;
    uint64_t first_;
    uint64_t slots_;
    uint64_t map_ = 0;   // the map, in kernel memory
};

class AnonMemory {
public:
    AnonMemory(Kernel& kernel, SwapMap& swap, uint64_t pages, uint64_t resident_limit);
    ~AnonMemory();
    AnonMemory(const AnonMemory&) = delete;
    AnonMemory& operator=(const AnonMemory&) = delete;

    // The frame holding virtual page `vpage`, faulting it in if needed.
    // Returns 0 and sets `frame`, or a negative errno (swap full, I/O error).
    int touch(Cpu& cpu, uint64_t vpage, uint64_t& frame);
    uint64_t swapped_out() const { return swapped_; }
    uint64_t faults() const { return faults_; }

private:
    struct Pte {
        bool present = false;
        bool busy = false;   // being swapped out: a touch waits
        uint64_t frame = 0;
        int64_t slot = -1;
    };
    int evict(Cpu& cpu);
    // The page table and LRU in the image (sim/kernel/image_state.h).
    void save_state(StateWriter& w) const;
    void load_state(StateReader& r);
    int state_ = 0;

    Kernel& kernel_;
    SwapMap& swap_;
    std::vector<Pte> ptes_;
    std::list<uint64_t> lru_;  // resident vpages, least recent first
    uint64_t resident_limit_;
    uint64_t resident_ = 0;
    uint64_t swapped_ = 0, faults_ = 0;
    int shrinker_ = 0;
    sc_core::sc_event io_done_;
};

}  // namespace quiesce
