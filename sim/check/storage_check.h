// Storage invariants: what the OS believes about its disk against the
// drive's true state.
//   data.lost-write      a sector the OS believes durable holds other data on
//                        the media after resume or the next boot (and no later
//                        write explains it). Durable means: written with FUA
//                        or through a disk without a write cache, covered by a
//                        cache flush issued after it completed, or completed
//                        before the OS put the system to sleep (the contract
//                        of sd's suspend/poweroff flush).
//                        At the next boot it is also checked through the
//                        filesystem: every file block fsync acknowledged must
//                        be what the file holds once the next mount has
//                        replayed the journal (or a later write of it) - the
//                        application's view, which a commit without a flush
//                        (nobarrier) or lost metadata breaks even where each
//                        sector's own contract holds.
//   fs.cache-divergence  after resume, a clean page-cache block differs from
//                        what the disk returns for it
#pragma once

#include "sim/check/checker.h"
#include "sim/kernel/block.h"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace quiesce {

class SataDrive;
class PhysicalMemory;
class PageCache;
class JournalFs;

class StorageCheck {
public:
    StorageCheck(Checker& checker, const SataDrive& drive, const PhysicalMemory& memory, std::string component);

    // The hooks to give every driver of this disk (the restore kernel's too).
    BlockObserver observer();
    void watch_cache(const PageCache* cache) { cache_ = cache; }
    // The root filesystem: its cache, and what fsync acknowledged of the file.
    void watch_fs(JournalFs* fs);
    // The OS enters a sleep state: every completed write is believed durable.
    void sleep_entered();
    // An injected fault changed this sector on the media: not the OS's doing.
    void faulted(uint64_t sector) { faulted_.insert(sector); }

    // Run once the system is back (resume finished, or the next boot). After
    // a fresh boot the page cache is gone: only durability is checked.
    void check(bool cache_alive = true);
    // The machine booted afresh and the run goes on (after check(false)):
    // what the platters hold now is the baseline - every sector durable as it
    // is, nothing pending, no file block acknowledged - until the new
    // kernel's filesystem is watched (watch_fs).
    void fresh_boot();
    // Hibernation: what the OS believes about the root filesystem's sectors
    // and its file is kernel state - the page cache, the journal, what
    // fsync acknowledged. The image carries it: at the restore the beliefs
    // go back to those of the snapshot instant, and whatever the image
    // kernel wrote there after the snapshot (a thread the freezer missed)
    // is a change the restored kernel knows nothing about. The swap
    // partition's beliefs stay: hibernation itself writes there after the
    // snapshot, into slots the swap map kept free.
    void image_snapshot(uint64_t first_sector, uint64_t end_sector);
    void image_restored();

private:
    void written(uint64_t sector, uint32_t count, uint64_t buffer, bool durable);
    void flushed(Picos issued);
    // A filesystem block from the drive: what a read returns (its cache
    // first), or with `media` what the platters hold.
    std::vector<uint8_t> disk_block(uint64_t block, bool media) const;
    void check_file();

    struct Sector {
        std::vector<std::pair<uint64_t, Picos>> pending;  // completed, not yet durable: (hash, when)
        bool durable = false;
        uint64_t durable_hash = 0;
        Picos durable_when = 0;
        std::set<uint64_t> later;  // written after the durable point: may be on the media
    };
    void make_durable(Sector& s, uint64_t hash, Picos when);

    Checker& checker_;
    const SataDrive& drive_;
    const PhysicalMemory& memory_;
    const PageCache* cache_ = nullptr;
    std::string component_;
    std::map<uint64_t, Sector> sectors_;
    struct FileBlock {
        bool acked = false;
        uint64_t acked_hash = 0;
        Picos acked_when = 0;
        std::set<uint64_t> later;  // written after the acknowledgement
    };
    std::map<uint64_t, FileBlock> file_;
    struct Beliefs {
        bool taken = false;
        uint64_t first = 0, end = 0;
        std::map<uint64_t, Sector> sectors;  // the root filesystem's, at the snapshot
        std::map<uint64_t, FileBlock> file;
    } snapshot_;
    const JournalFs* fs_ = nullptr;
    std::set<uint64_t> faulted_;
};

uint64_t content_hash(const uint8_t* data, size_t len);
// The content hash of the 4 KiB page at `addr` (zero time).
uint64_t page_hash(const PhysicalMemory& memory, uint64_t addr);
// "a,b,c" of the first `n` items: the evidence lists of violations.
std::string join_first(const std::vector<std::string>& items, size_t n = 16);

}  // namespace quiesce
