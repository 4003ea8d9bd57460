// A SATA drive: sparse media of configurable size and sector size, a volatile
// write cache (a cached write is acknowledged before it is durable; FLUSH
// CACHE makes it durable; FUA bypasses it), power states (active, idle,
// standby with a spin-up delay), and power loss that drops the cache
// (reference/linux-pm.md §6.1-6.3). The drive is the true state of the disk:
// checkers read it directly.
//
// FLUSH CACHE destages in the order the drive chooses, as real drives do
// (an elevator sweep from where the head is, not the order the writes
// came): ascending LBA from a cached sector the drive's own seeded
// generator picks, then wrapping to the lowest. The pick is a function of
// the run's seed (and, under [timing] jitter, of the timing stream), so a
// power cut in the middle of a flush leaves a different, reproducible
// subset on the media per seed. A full cache evicts its oldest sector.
#pragma once

#include "sim/core/module.h"
#include "sim/core/rng.h"

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

namespace quiesce {

class SataDrive : public Component {
public:
    enum class Power { Active, Idle, Standby, Off };
    static const char* to_string(Power p);

    // ATA commands the drive understands.
    static constexpr uint8_t READ_DMA_EXT = 0x25, WRITE_DMA_EXT = 0x35, WRITE_DMA_FUA_EXT = 0x3d,
                             READ_VERIFY = 0x40, READ_VERIFY_EXT = 0x42, FLUSH_CACHE_EXT = 0xea,
                             STANDBY_IMMEDIATE = 0xe0, IDLE_IMMEDIATE = 0xe1, IDENTIFY = 0xec;

    SataDrive(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, uint64_t size_bytes,
              unsigned sector_size);

    unsigned sector_size() const { return sector_size_; }
    uint64_t sectors() const { return sectors_; }
    Power power() const { return power_; }

    // Executes one command: blocks the calling thread for its duration.
    // `data` holds count sectors (written) or receives them (read). Returns
    // false for an error (bad LBA, unknown command, no power).
    bool execute(uint8_t command, uint64_t lba, uint32_t count, std::vector<uint8_t>& data);

    void power_off();   // cache lost
    void power_on();    // back in standby: the first media access spins up

    // COMRESET (the HBA's PxSCTL.DET = 1): a hardware reset. The command the
    // drive is executing is aborted at once - it ends without a result and
    // touches neither cache nor media afterwards; nothing else changes yet.
    void comreset();
    // The drive's side of the reset once the link is up again: it writes its
    // volatile cache to the media (a hardware reset keeps the cache and
    // destages it before the drive reports ready: docs/models.md), then is
    // ready to send its signature. Blocks for the destage; false when the
    // power went or another COMRESET came meanwhile. The power state and the
    // write-cache setting stay (software settings preservation).
    bool reset_ready();
    uint64_t resets() const { return resets_; }

    // True state, for checkers and tests (zero time).
    std::vector<uint8_t> media(uint64_t lba) const;      // what the platters hold
    std::vector<uint8_t> readable(uint64_t lba) const;   // what a read returns (cache first)
    size_t cached_sectors() const { return cache_.size(); }
    // Sectors written (into the cache or the media) at or after `since`, in [first, end).
    std::vector<uint64_t> written_since(Picos since, uint64_t first, uint64_t end) const;
    // Direct media write (the disk image a platform starts with: mkswap).
    void format(uint64_t lba, const std::vector<uint8_t>& data) { media_[lba] = data; }
    uint64_t flushes() const { return flushes_; }
    // The LBA the last flush started its sweep at (tests, traces).
    uint64_t last_destage_start() const { return destage_start_; }

private:
    // Standby to active; false when the power went meanwhile.
    bool spin_up();
    void write_media(uint64_t lba, const uint8_t* data);
    void persistence_point(const char* what, uint64_t lba, uint32_t count);
    // Writes the cache to the media in the drive's order; false when the power went meanwhile.
    bool flush_cache();
    bool reset_since(uint64_t rgen) const { return rgen != resets_; }
    // The LBAs of the cache in the order a flush destages them now.
    std::vector<uint64_t> destage_order();
    void set_power(Power p);

    uint64_t size_;
    unsigned sector_size_;
    uint64_t sectors_;
    Power power_ = Power::Active;
    uint64_t power_cycles_ = 0;  // power losses so far: a command or spin-up that spans one is lost
    uint64_t resets_ = 0;        // COMRESETs so far: a command that spans one is aborted
    std::map<uint64_t, std::vector<uint8_t>> media_;
    std::map<uint64_t, std::vector<uint8_t>> cache_;  // lba -> data
    std::deque<uint64_t> cache_order_;                 // oldest first
    std::map<uint64_t, Picos> written_at_;             // lba -> last write accepted
    uint64_t flushes_ = 0;
    sc_core::sc_event reset_or_power_;                 // a COMRESET or a power loss: a hung command ends
    Rng destage_rng_;                                  // where a flush starts its sweep
    uint64_t destage_start_ = 0;
};

}  // namespace quiesce
