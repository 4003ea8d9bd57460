// The block layer's view of a disk (struct gendisk + request queue): requests
// of whole sectors between a physical buffer and the disk, with Linux's
// REQ_PREFLUSH and REQ_FUA. Calls block the calling software thread until
// completion. Returns 0 or a negative errno.
#pragma once

#include "sim/core/time.h"

#include <cstdint>
#include <functional>
#include <string>

namespace quiesce {

class Cpu;

struct BlockRequest {
    bool write = false;
    uint64_t sector = 0;
    uint32_t count = 0;     // sectors
    uint64_t buffer = 0;    // physical address of count * sector_size bytes
    bool fua = false;       // REQ_FUA: durable when acknowledged
    bool preflush = false;  // REQ_PREFLUSH: flush the cache first
};

// What a disk driver tells the checker as the OS learns it (zero time).
struct BlockObserver {
    // A write completed: `count` sectors from `buffer`; `durable` when it
    // bypassed a volatile cache (FUA, or no write cache).
    std::function<void(uint64_t sector, uint32_t count, uint64_t buffer, bool durable)> written;
    // A cache flush issued at `issued` completed: what was written before is durable.
    std::function<void(Picos issued)> flushed;
};

class BlockDevice {
public:
    virtual ~BlockDevice() = default;
    virtual const std::string& disk_name() const = 0;
    virtual unsigned sector_size() const = 0;
    virtual uint64_t capacity() const = 0;  // sectors
    virtual int submit(Cpu& cpu, const BlockRequest& req) = 0;
    virtual int flush(Cpu& cpu) = 0;        // an empty REQ_PREFLUSH
};

}  // namespace quiesce
