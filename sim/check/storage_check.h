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
//   fs.foreign-change-lost  another OS changed the file while the machine was
//                        off (offline-fs-write); at the end of the run the
//                        disk, journal replayed, no longer holds that change:
//                        the resumed kernel wrote what it held from before
//                        it (page cache, metadata) back over it
#pragma once

#include "sim/check/checker.h"
#include "sim/kernel/block.h"
#include "sim/kernel/journal_fs.h"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace quiesce {

class SataDrive;
class PhysicalMemory;
class PageCache;

// What another OS left of the file while the machine was off, read from the
// platters right after its transaction (the journal replayed): the file's
// inode and the superblock's mount count, and for a write the file block it
// wrote and the hash of what it put there.
struct ForeignChange {
    bool remove = false;
    Picos when = 0;
    qfs::FileStat after;
    uint64_t file_block = 0;
    uint64_t data_hash = 0;
};
// The change as `v` (the platters right after it, journal replayed) holds it.
ForeignChange foreign_change_of(const qfs::FileView& v, bool remove, uint64_t file_block, Picos when);
// fs.foreign-change-lost: why the filesystem as `now` holds it (journal
// replayed) no longer holds `c` - each a reason; none: it does. A change the
// resumed kernel may make on top of it stays quiet: a later generation, a
// higher change counter or size, a mount counted on top, and in the file
// block anything this machine's kernel wrote there after the change
// (`written_after`: the hashes). Going back is what is caught: the inode's
// generation, change counter or size below what the other OS left, a deleted
// file's block map naming blocks again, the superblock's mount count below,
// the written block a hole again or holding data from before the change.
std::vector<std::string> foreign_change_lost(const ForeignChange& c, const qfs::FileView& now,
                                             const std::set<uint64_t>& written_after);

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
    // offline-fs-write: another OS changed the file (`remove`: deleted it,
    // else wrote `file_block`) just now; what it left is read from the
    // platters (fs.foreign-change-lost).
    void foreign_change(bool remove, uint64_t file_block);
    // The run's end: is the other OS's change still on the disk?
    void check_foreign();

    // The medium the disk's requests reach now (a USB disk swapped while the
    // machine slept and taken for the old one by persist): what the OS
    // believes about its disk is checked against that one from now on.
    void set_medium(const SataDrive& drive) { drive_ = &drive; }

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
    // first), or with `media` what the platters hold - by the root
    // filesystem's geometry kept from watch_fs (the page cache may be gone
    // since: a fresh boot).
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
    const SataDrive* drive_;
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
    uint64_t first_sector_ = 0, sectors_per_block_ = 0;  // the root filesystem's, once watched
    std::optional<ForeignChange> foreign_;
    std::set<uint64_t> foreign_written_;  // hashes this machine wrote to its file block after it
};

uint64_t content_hash(const uint8_t* data, size_t len);
// The content hash of the 4 KiB page at `addr` (zero time).
uint64_t page_hash(const PhysicalMemory& memory, uint64_t addr);
// "a,b,c" of the first `n` items: the evidence lists of violations.
std::string join_first(const std::vector<std::string>& items, size_t n = 16);

}  // namespace quiesce
