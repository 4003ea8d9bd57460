// The block layer's view of a disk (struct gendisk + request queue): requests
// of whole sectors between a physical buffer and the disk, with Linux's
// REQ_PREFLUSH and REQ_FUA. Calls block the calling software thread until
// completion. Returns 0 or a negative errno.
#pragma once

#include <cstdint>
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
