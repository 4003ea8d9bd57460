// Storage invariants: what the OS believes about its disk against the media, after resume or a boot.
#include "sim/check/storage_check.h"

#include "models/disk/sata_drive.h"
#include "sim/core/hash.h"
#include "sim/core/memory.h"
#include "sim/kernel/journal_fs.h"
#include "sim/kernel/page_cache.h"

#include <fmt/format.h>

#include <array>

namespace quiesce {

uint64_t content_hash(const uint8_t* data, size_t len) { return hash_bytes(data, len); }

std::string join_first(const std::vector<std::string>& items, size_t n) {
    std::string out;
    for (size_t i = 0; i < items.size() && i < n; ++i) out += (i ? "," : "") + items[i];
    return out;
}

StorageCheck::StorageCheck(Checker& checker, const SataDrive& drive, const PhysicalMemory& memory,
                           std::string component)
    : checker_(checker), drive_(&drive), memory_(memory), component_(std::move(component)) {}

BlockObserver StorageCheck::observer() {
    return {[this](uint64_t sector, uint32_t count, uint64_t buffer, bool durable) {
                written(sector, count, buffer, durable);
            },
            [this](Picos issued) { flushed(issued); }};
}

void StorageCheck::make_durable(Sector& s, uint64_t hash, Picos when) {
    s.durable = true;
    s.durable_hash = hash;
    s.durable_when = when;
    s.later.clear();
}

void StorageCheck::written(uint64_t sector, uint32_t count, uint64_t buffer, bool durable) {
    const unsigned ss = drive_->sector_size();
    std::vector<uint8_t> data(ss);
    for (uint32_t i = 0; i < count; ++i) {
        memory_.peek(buffer + uint64_t(i) * ss, data.data(), ss);
        uint64_t h = content_hash(data.data(), ss);
        Sector& s = sectors_[sector + i];
        s.later.insert(h);
        if (durable) {
            s.pending.clear();
            make_durable(s, h, now_ps());
        } else {
            s.pending.emplace_back(h, now_ps());
        }
    }
}

void StorageCheck::flushed(Picos issued) {
    for (auto& [lba, s] : sectors_) {
        size_t covered = 0;
        while (covered < s.pending.size() && s.pending[covered].second <= issued) ++covered;
        if (!covered) continue;
        make_durable(s, s.pending[covered - 1].first, now_ps());
        for (size_t i = covered; i < s.pending.size(); ++i) s.later.insert(s.pending[i].first);
        s.pending.erase(s.pending.begin(), s.pending.begin() + long(covered));
    }
}

void StorageCheck::sleep_entered() {
    for (auto& [lba, s] : sectors_) {
        if (s.pending.empty()) continue;
        make_durable(s, s.pending.back().first, now_ps());
        s.pending.clear();
    }
}

void StorageCheck::fresh_boot() {
    for (auto& [lba, s] : sectors_) {
        auto media = drive_->media(lba);
        s.pending.clear();
        make_durable(s, content_hash(media.data(), media.size()), now_ps());
    }
    file_.clear();
    fs_ = nullptr;
    cache_ = nullptr;
}

void StorageCheck::image_snapshot(uint64_t first_sector, uint64_t end_sector) {
    snapshot_ = {true, first_sector, end_sector, {}, file_};
    for (auto it = sectors_.lower_bound(first_sector); it != sectors_.end() && it->first < end_sector; ++it)
        snapshot_.sectors.insert(*it);
}

void StorageCheck::image_restored() {
    if (!snapshot_.taken) return;
    sectors_.erase(sectors_.lower_bound(snapshot_.first), sectors_.lower_bound(snapshot_.end));
    sectors_.insert(snapshot_.sectors.begin(), snapshot_.sectors.end());
    file_ = snapshot_.file;
    snapshot_ = {};
}

void StorageCheck::watch_fs(JournalFs* fs) {
    fs_ = fs;
    cache_ = &fs->cache();
    first_sector_ = cache_->sector_of(0);
    sectors_per_block_ = cache_->sectors_per_block();
    JournalFs::Observer o;
    o.written = [this](uint64_t fb, uint64_t page) {
        const uint64_t h = page_hash(memory_, page);
        file_[fb].later.insert(h);
        if (foreign_ && !foreign_->remove && fb == foreign_->file_block && now_ps() > foreign_->when)
            foreign_written_.insert(h);
    };
    o.acknowledged = [this](uint64_t fb, uint64_t page) {
        FileBlock& f = file_[fb];
        f.acked = true;
        f.acked_hash = page_hash(memory_, page);
        f.acked_when = now_ps();
        f.later.clear();
    };
    fs->set_observer(std::move(o));
}

uint64_t page_hash(const PhysicalMemory& memory, uint64_t addr) {
    std::array<uint8_t, PhysicalMemory::kPageSize> data;
    memory.peek(addr, data.data(), data.size());
    return content_hash(data.data(), data.size());
}

std::vector<uint8_t> StorageCheck::disk_block(uint64_t block, bool media) const {
    std::vector<uint8_t> data;
    for (unsigned i = 0; i < sectors_per_block_; ++i) {
        uint64_t lba = first_sector_ + block * sectors_per_block_ + i;
        auto s = media ? drive_->media(lba) : drive_->readable(lba);
        data.insert(data.end(), s.begin(), s.end());
    }
    return data;
}

ForeignChange foreign_change_of(const qfs::FileView& v, bool remove, uint64_t file_block, Picos when) {
    ForeignChange c;
    c.remove = remove;
    c.when = when;
    c.after = qfs::file_stat(v.read(qfs::kInode), v.read(qfs::kSuper));
    c.file_block = file_block;
    if (!remove && file_block < v.map.size() && v.map[file_block]) {
        auto data = v.read(v.map[file_block]);
        c.data_hash = content_hash(data.data(), data.size());
    }
    return c;
}

std::vector<std::string> foreign_change_lost(const ForeignChange& c, const qfs::FileView& now,
                                             const std::set<uint64_t>& written_after) {
    std::vector<std::string> lost;
    if (!now.formatted) return {"no filesystem on the disk"};
    const qfs::FileStat f = qfs::file_stat(now.read(qfs::kInode), now.read(qfs::kSuper));
    const qfs::FileStat& o = c.after;
    if (f.generation < o.generation)
        lost.push_back(fmt::format("inode {} is {} at generation {}, the other OS left {} generation {}", f.ino,
                                   f.exists ? "a file" : "free", f.generation, o.exists ? "a file of" : "it free with",
                                   o.generation));
    else if (f.generation == o.generation && f.exists && o.exists && (f.version < o.version || f.size < o.size))
        lost.push_back(fmt::format("inode {}'s change counter {} and size {} are below the other OS's {} and {}", f.ino,
                                   f.version, f.size, o.version, o.size));
    if (!f.exists && f.generation == o.generation) {
        uint64_t named = 0;
        for (uint64_t b : now.map) named += b != 0;
        if (named) lost.push_back(fmt::format("the deleted file's block map names {} block(s) again", named));
    }
    if (!c.remove && f.exists && f.generation == o.generation) {
        const uint64_t block = c.file_block < now.map.size() ? now.map[c.file_block] : 0;
        if (block == 0) {
            lost.push_back(fmt::format("file block {} the other OS wrote is a hole again", c.file_block));
        } else {
            auto data = now.read(block);
            const uint64_t h = content_hash(data.data(), data.size());
            if (h != c.data_hash && !written_after.count(h))
                lost.push_back(fmt::format("file block {} (block {}) holds neither what the other OS wrote nor "
                                           "anything written to it since",
                                           c.file_block, block));
        }
    }
    if (f.mounts < o.mounts)
        lost.push_back(fmt::format("the superblock's mount count is {}, the other OS left {}", f.mounts, o.mounts));
    return lost;
}

void StorageCheck::foreign_change(bool remove, uint64_t file_block) {
    if (!sectors_per_block_) return;  // no filesystem watched: nothing of it to lose
    qfs::FileView v = qfs::view_after_replay([this](uint64_t b) { return disk_block(b, true); });
    if (!v.formatted) return;
    foreign_ = foreign_change_of(v, remove, file_block, now_ps());
    foreign_written_.clear();
}

void StorageCheck::check_foreign() {
    if (!foreign_) return;
    // What a read returns now (the drive's cache first): the resumed kernel's
    // writes that completed, the journal replayed over them as a mount would.
    qfs::FileView v = qfs::view_after_replay([this](uint64_t b) { return disk_block(b, false); });
    const std::vector<std::string> lost = foreign_change_lost(*foreign_, v, foreign_written_);
    const ForeignChange c = *foreign_;
    foreign_.reset();
    if (lost.empty()) return;
    std::string all;
    for (const auto& l : lost) all += (all.empty() ? "" : "; ") + l;
    checker_.report({"fs.foreign-change-lost", now_ps(), component_, "",
                     fmt::format("the change another OS made to {} while the machine was off ({}) is no longer on "
                                 "the disk: {}",
                                 qfs::kFilePath, c.remove ? "deleted" : fmt::format("wrote file block {}", c.file_block),
                                 all),
                     fmt::format("{{\"path\":\"{}\",\"op\":\"{}\",\"file_block\":\"{}\",\"changed_ps\":\"{}\","
                                 "\"generation\":\"{}\",\"version\":\"{}\",\"mounts\":\"{}\",\"reasons\":\"{}\"}}",
                                 qfs::kFilePath, c.remove ? "delete" : "write", c.file_block, c.when,
                                 c.after.generation, c.after.version, c.after.mounts, lost.size())});
}

// The file as the next mount sees it: the journal replayed over the media.
void StorageCheck::check_file() {
    // The drive's cache is gone at a fresh boot: the platters only.
    qfs::FileView view = qfs::view_after_replay([this](uint64_t b) { return disk_block(b, true); });
    std::vector<std::string> lost;
    std::string first_reason;
    Picos first_acked = 0;
    const unsigned spb = cache_->sectors_per_block();
    for (const auto& [fb, f] : file_) {
        if (!f.acked) continue;
        uint64_t block = view.formatted && fb < view.map.size() ? view.map[fb] : 0;
        bool faulted = false;
        for (unsigned i = 0; block && i < spb; ++i) faulted |= faulted_.count(cache_->sector_of(block) + i) > 0;
        if (faulted) continue;
        std::string reason;
        if (!view.formatted) {
            reason = "no filesystem on the disk";
        } else if (block == 0) {
            reason = "no block mapped";
        } else {
            auto data = view.read(block);
            uint64_t h = content_hash(data.data(), data.size());
            if (h == f.acked_hash || f.later.count(h)) continue;
            reason = "block " + std::to_string(block) + " holds other data";
        }
        if (lost.empty()) {
            first_reason = reason;
            first_acked = f.acked_when;
        }
        lost.push_back(std::to_string(fb));
    }
    if (lost.empty()) return;
    checker_.report({"data.lost-write", now_ps(), component_, "",
                     fmt::format("{} file block(s) fsync acknowledged are not in the file after the next mount "
                                 "replayed {} journal transaction(s) (first: file block {}, {})",
                                 lost.size(), view.replayed, lost[0], first_reason),
                     fmt::format("{{\"file_blocks\":\"{}\",\"count\":\"{}\",\"first_acknowledged_ps\":\"{}\","
                                 "\"replayed\":\"{}\"}}",
                                 join_first(lost), lost.size(), first_acked, view.replayed)});
}

void StorageCheck::check(bool cache_alive) {
    // data.lost-write
    std::vector<std::string> lost;
    Picos first_durable = 0;
    for (const auto& [lba, s] : sectors_) {
        if (!s.durable || faulted_.count(lba)) continue;
        auto media = drive_->media(lba);
        uint64_t h = content_hash(media.data(), media.size());
        if (h == s.durable_hash || s.later.count(h)) continue;
        if (lost.empty()) first_durable = s.durable_when;
        lost.push_back(std::to_string(lba));
    }
    if (!lost.empty())
        checker_.report({"data.lost-write", now_ps(), component_, "",
                         fmt::format("{} sector(s) the OS believed durable hold other data on the media (first: "
                                     "sector {})",
                                     lost.size(), lost[0]),
                         fmt::format("{{\"sectors\":\"{}\",\"count\":\"{}\",\"first_durable_ps\":\"{}\"}}",
                                     join_first(lost), lost.size(), first_durable)});
    if (!cache_alive && fs_) check_file();
    if (!cache_alive || !cache_) return;
    // fs.cache-divergence
    std::vector<std::string> diverged;
    for (const auto& [block, e] : cache_->entries()) {
        if (e.dirty || e.busy) continue;
        auto disk = disk_block(block, false);  // what a read returns
        if (page_hash(memory_, e.page) != content_hash(disk.data(), disk.size()))
            diverged.push_back(std::to_string(block));
    }
    if (!diverged.empty())
        checker_.report({"fs.cache-divergence", now_ps(), component_, "",
                         fmt::format("{} clean page-cache block(s) differ from what the disk returns (first: block {})",
                                     diverged.size(), diverged[0]),
                         fmt::format("{{\"blocks\":\"{}\",\"count\":\"{}\"}}", join_first(diverged), diverged.size())});
}

}  // namespace quiesce
