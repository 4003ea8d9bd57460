// qfs, the journaled filesystem: mkfs, mount with journal replay, writes, fsync, commits and checkpoints.
#include "sim/kernel/journal_fs.h"
#include "sim/core/sync.h"

#include "models/cpu/cpu.h"
#include "sim/core/errors.h"
#include "sim/kernel/kernel.h"

#include <zlib.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace quiesce {

namespace qfs {

Layout Layout::for_file(uint64_t file_blocks, uint64_t partition_blocks) {
    Layout l;
    l.file_blocks = file_blocks;
    l.map_blocks = (file_blocks + kMapEntries - 1) / kMapEntries;
    l.bitmap = kMapFirst + l.map_blocks;
    l.data_first = l.bitmap + 1;
    l.blocks = partition_blocks;
    return l;
}

namespace {

uint64_t word(const std::vector<uint8_t>& b, unsigned off) {
    uint64_t v = 0;
    if (off + 8 <= b.size()) std::memcpy(&v, b.data() + off, 8);
    return v;
}

// The commit block's checksum: CRC32 over the descriptor and the copies.
uint64_t journal_crc(const std::vector<uint8_t>& descriptor, const std::vector<std::vector<uint8_t>>& copies) {
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, descriptor.data(), uInt(descriptor.size()));
    for (const auto& c : copies) crc = crc32(crc, c.data(), uInt(c.size()));
    return crc;
}

constexpr uint64_t kMaxPerTransaction = (kBlock - 24) / 8;

}  // namespace

std::vector<Transaction> scan_journal(const BlockReader& read) {
    std::vector<Transaction> out;
    auto jsb = read(kJournalSuper);
    if (word(jsb, 0) != kJournalMagic) return out;
    uint64_t pos = word(jsb, kJsbStart), tid = word(jsb, kJsbSequence);
    const uint64_t end = kJournalFirst + kJournalBlocks;
    while (pos >= kJournalFirst && pos < end) {
        auto desc = read(pos);
        if (word(desc, 0) != kDescriptorMagic || word(desc, 8) != tid) break;
        uint64_t n = word(desc, 16);
        if (n == 0 || n > kMaxPerTransaction || pos + n + 2 > end) break;
        Transaction t;
        t.tid = tid;
        t.at = pos;
        bool sane = true;
        for (uint64_t i = 0; i < n; ++i) {
            uint64_t home = word(desc, unsigned(24 + 8 * i));
            sane = sane && home != kJournalSuper && (home < kJournalFirst || home >= end);
            t.homes.push_back(home);
            t.copies.push_back(read(pos + 1 + i));
        }
        if (!sane) break;  // a descriptor naming the journal itself is not one of ours
        auto commit = read(pos + n + 1);
        if (word(commit, 0) != kCommitMagic || word(commit, 8) != tid || word(commit, 16) != journal_crc(desc, t.copies))
            break;  // never committed, or torn: recovery ends here
        out.push_back(std::move(t));
        pos += n + 2;
        ++tid;
    }
    return out;
}

FileView view_after_replay(const BlockReader& media) {
    FileView v;
    auto overlay = std::make_shared<std::map<uint64_t, std::vector<uint8_t>>>();
    for (auto& t : scan_journal(media)) {
        for (size_t i = 0; i < t.homes.size(); ++i) (*overlay)[t.homes[i]] = std::move(t.copies[i]);
        ++v.replayed;
    }
    v.read = [overlay, media](uint64_t b) {
        auto it = overlay->find(b);
        return it != overlay->end() ? it->second : media(b);
    };
    auto sb = v.read(kSuper);
    if (word(sb, 0) != kSuperMagic) return v;
    v.formatted = true;
    Layout l = Layout::for_file(std::min(word(sb, kSuperFileBlocks), kMaxFileBlocks), 0);
    for (uint64_t m = 0; m < l.map_blocks; ++m) {
        auto mb = v.read(kMapFirst + m);
        for (uint64_t e = 0; e < kMapEntries && v.map.size() < l.file_blocks; ++e)
            v.map.push_back(word(mb, unsigned(8 * e)));
    }
    return v;
}

namespace {
void set_word(std::vector<uint8_t>& b, unsigned off, uint64_t v) { std::memcpy(b.data() + off, &v, 8); }
std::vector<uint8_t> words_block(std::initializer_list<uint64_t> words) {
    std::vector<uint8_t> b(kBlock, 0);
    unsigned off = 0;
    for (uint64_t w : words) {
        set_word(b, off, w);
        off += 8;
    }
    return b;
}
}  // namespace

FileStat file_stat(const std::vector<uint8_t>& inode, const std::vector<uint8_t>& super) {
    FileStat f;
    f.ino = kFileIno;
    f.exists = word(inode, 0) == kInodeMagic;
    f.generation = word(inode, kInodeGeneration);
    if (f.exists) {
        f.size = word(inode, kInodeSize);
        f.version = word(inode, kInodeWrites);
    }
    f.mounts = word(super, kSuperMounts);
    return f;
}

std::string stale_reason(const FileStat& seen, const FileStat& now) {
    if (!now.exists) return fmt::format("gone: inode {} is free", seen.ino);
    if (now.ino != seen.ino || now.generation != seen.generation)
        return fmt::format("gone: inode {} is another file (generation {}, the handle's {})", now.ino, now.generation,
                           seen.generation);
    if (now.version != seen.version || now.size != seen.size)
        return fmt::format("changed: change counter {} and size {} on the disk, the handle knows {} and {}", now.version,
                           now.size, seen.version, seen.size);
    return "";
}

OfflineResult offline_change(const BlockReader& read, const BlockWriter& write, uint64_t partition_blocks,
                             const OfflineChange& c) {
    OfflineResult res;
    auto put = [&](uint64_t b, const std::vector<uint8_t>& d) {
        write(b, d);
        res.blocks.push_back(b);
    };
    // The mount: recovery replays every committed transaction home and
    // empties the log; the mount counts itself in the superblock.
    auto jsb = read(kJournalSuper);
    if (word(jsb, 0) != kJournalMagic) {
        res.error = "no journal";
        return res;
    }
    uint64_t sequence = word(jsb, kJsbSequence);
    auto txs = scan_journal(read);
    for (const auto& t : txs)
        for (size_t i = 0; i < t.homes.size(); ++i)
            if (t.homes[i] < partition_blocks) put(t.homes[i], t.copies[i]);
    if (!txs.empty()) sequence = txs.back().tid + 1;
    if (word(jsb, kJsbStart) != 0) put(kJournalSuper, words_block({kJournalMagic, 0, sequence}));
    auto sb = read(kSuper);
    const uint64_t file_blocks = word(sb, kSuperFileBlocks);
    if (word(sb, 0) != kSuperMagic || file_blocks == 0 || file_blocks > kMaxFileBlocks) {
        res.error = "no filesystem";
        return res;
    }
    const Layout l = Layout::for_file(file_blocks, partition_blocks);
    auto inode = read(kInode);
    res.before = file_stat(inode, sb);
    set_word(sb, kSuperMounts, word(sb, kSuperMounts) + 1);
    put(kSuper, sb);  // written directly, as ext4_commit_super does
    if (!res.before.exists) {
        res.error = "no file";
        res.after = file_stat(inode, sb);
        return res;
    }
    std::map<uint64_t, std::vector<uint8_t>> changed;  // home -> its new content: the transaction
    auto meta = [&](uint64_t home) -> std::vector<uint8_t>& {
        auto it = changed.find(home);
        return it != changed.end() ? it->second : changed.emplace(home, read(home)).first->second;
    };
    const uint64_t data_blocks = std::min<uint64_t>(partition_blocks - l.data_first, kBlock * 8);
    if (c.remove) {
        // unlink: the blocks freed, the map cleared, the inode freed; its
        // number's next file gets the next generation.
        for (uint64_t m = 0; m < l.map_blocks; ++m) {
            auto mb = read(kMapFirst + m);
            bool any = false;
            for (unsigned e = 0; e < kMapEntries; ++e) {
                const uint64_t blk = word(mb, 8 * e);
                if (!blk) continue;
                any = true;
                set_word(mb, 8 * e, 0);
                if (blk >= l.data_first && blk - l.data_first < data_blocks) {
                    auto& bm = meta(l.bitmap);
                    const uint64_t bit = blk - l.data_first;
                    set_word(bm, unsigned(bit / 64 * 8), word(bm, unsigned(bit / 64 * 8)) & ~(1ULL << (bit % 64)));
                }
            }
            if (any) changed[kMapFirst + m] = mb;
        }
        std::vector<uint8_t> freed(kBlock, 0);
        set_word(freed, kInodeGeneration, res.before.generation + 1);
        changed[kInode] = freed;
    } else {
        if (c.file_block >= file_blocks) {
            res.error = fmt::format("file block {} is beyond the file's {}", c.file_block, file_blocks);
            res.after = res.before;
            return res;
        }
        const uint64_t map_home = kMapFirst + c.file_block / kMapEntries;
        const unsigned slot = unsigned(8 * (c.file_block % kMapEntries));
        auto mb = read(map_home);
        uint64_t blk = word(mb, slot);
        if (blk == 0) {  // a hole: a block allocated from the bitmap
            auto& bm = meta(l.bitmap);
            for (uint64_t bit = 0; bit < data_blocks && !blk; ++bit)
                if (!(word(bm, unsigned(bit / 64 * 8)) & (1ULL << (bit % 64)))) {
                    set_word(bm, unsigned(bit / 64 * 8), word(bm, unsigned(bit / 64 * 8)) | (1ULL << (bit % 64)));
                    blk = l.data_first + bit;
                }
            if (!blk) {
                changed.clear();
                res.error = "no free block";
                res.after = res.before;
                return res;
            }
            set_word(mb, slot, blk);
            changed[map_home] = mb;
        }
        // Its own data: a tag, the file block, its clock, then a pattern.
        std::vector<uint8_t> data(kBlock, 0);
        uint64_t x = c.stamp ^ 0x9e3779b97f4a7c15ULL;
        for (unsigned off = 0; off < kBlock; off += 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            set_word(data, off, x);
        }
        set_word(data, 0, tag("OTHER-OS"));
        set_word(data, 8, c.file_block);
        set_word(data, 16, c.stamp);
        put(blk, data);  // ordered mode: the data home before the metadata that points at it commits
        auto& in = meta(kInode);
        set_word(in, kInodeSize, std::max(word(in, kInodeSize), c.file_block + 1));
        set_word(in, kInodeMtime, c.stamp);
        set_word(in, kInodeWrites, word(in, kInodeWrites) + 1);
    }
    // The transaction at the log's start: the journal superblock says so
    // first, then the descriptor and the copies, then the commit block.
    std::vector<uint8_t> desc = words_block({kDescriptorMagic, sequence, changed.size()});
    std::vector<std::vector<uint8_t>> copies;
    unsigned off = 24;
    for (const auto& [home, content] : changed) {
        set_word(desc, off, home);
        off += 8;
        copies.push_back(content);
    }
    put(kJournalSuper, words_block({kJournalMagic, kJournalFirst, sequence}));
    put(kJournalFirst, desc);
    for (size_t i = 0; i < copies.size(); ++i) put(kJournalFirst + 1 + i, copies[i]);
    put(kJournalFirst + 1 + copies.size(), words_block({kCommitMagic, sequence, journal_crc(desc, copies)}));
    // The clean unmount: a checkpoint writes the metadata home and empties the log.
    for (const auto& [home, content] : changed) put(home, content);
    put(kJournalSuper, words_block({kJournalMagic, 0, sequence + 1}));
    res.tid = sequence;
    res.after = file_stat(changed.count(kInode) ? changed[kInode] : inode, sb);
    return res;
}

}  // namespace qfs

using namespace qfs;

JournalFs::JournalFs(Kernel& kernel, BlockDevice& disk, uint64_t first_sector, uint64_t partition_blocks,
                     bool barrier)
    : kernel_(kernel), disk_(disk), first_sector_(first_sector), barrier_(barrier),
      cache_(kernel, disk, first_sector, partition_blocks) {
    layout_.blocks = partition_blocks;
    state_ = kernel_.image_state().add(
        "journal-fs", [this](StateWriter& w) { save_state(w); }, [this](StateReader& r) { load_state(r); });
}

JournalFs::~JournalFs() { kernel_.image_state().remove(state_); }

namespace {
void save_map(StateWriter& w, const std::map<uint64_t, uint64_t>& m) {
    w.u64(m.size());
    for (const auto& [k, v] : m) {
        w.u64(k);
        w.u64(v);
    }
}
std::map<uint64_t, uint64_t> load_map(StateReader& r) {
    std::map<uint64_t, uint64_t> m;
    for (uint64_t n = r.count(16); n--;) {
        const uint64_t k = r.u64();
        m[k] = r.u64();
    }
    return m;
}
}  // namespace

void JournalFs::save_state(StateWriter& w) const {
    save_map(w, meta_);
    save_map(w, ckpt_);
    save_map(w, unacked_);
    w.boolean(busy_);
    w.u64(mounts_);
    w.u64(replayed_);
}

void JournalFs::load_state(StateReader& r) {
    auto meta = load_map(r), ckpt = load_map(r), unacked = load_map(r);
    for (const auto* m : {&meta, &ckpt, &unacked})
        for (const auto& [k, page] : *m)
            if (!kernel_.owns(page)) r.fail(fmt::format("block {} in buffer {:#x}, not kernel memory", k, page));
    const bool busy = r.boolean();
    const uint64_t mounts = r.u64(), replayed = r.u64();
    // The replaced maps stay allocated until the next load: a task stopped
    // in the middle of an operation when the power went may be iterating
    // one, and runs on in the restored kernel.
    replaced_ = {std::move(meta_), std::move(ckpt_), std::move(unacked_)};
    meta_ = std::move(meta);
    ckpt_ = std::move(ckpt);
    unacked_ = std::move(unacked);
    busy_ = busy;
    mounts_ = mounts;
    replayed_ = replayed;
    quiesce::notify(idle_, sc_core::SC_ZERO_TIME);
}

int JournalFs::io(Cpu& cpu, bool write, uint64_t block, uint64_t buffer, uint32_t blocks, bool fua, bool preflush) {
    const uint32_t spb = kBlock / disk_.sector_size();
    return disk_.submit(cpu, {write, first_sector_ + block * spb, blocks * spb, buffer, fua, preflush});
}

uint64_t JournalFs::jget(Cpu& cpu, unsigned off) { return cpu.read64(journal_ + off); }
void JournalFs::jset(Cpu& cpu, unsigned off, uint64_t v) { cpu.write64(journal_ + off, v); }

std::vector<uint64_t> JournalFs::homes() const {
    std::vector<uint64_t> h{kSuper, kInode};
    for (uint64_t m = 0; m < layout_.map_blocks; ++m) h.push_back(kMapFirst + m);
    h.push_back(layout_.bitmap);
    return h;
}

unsigned JournalFs::bit_of(uint64_t home) const {
    auto h = homes();
    return unsigned(std::find(h.begin(), h.end(), home) - h.begin());
}

void JournalFs::setup_buffers() {
    if (!journal_) {
        journal_ = kernel_.alloc(64, 64);
        bounce_ = kernel_.alloc(kBlock, kBlock);
        jbuf_ = kernel_.alloc(kBlock * (kMaxFileBlocks / kMapEntries + 5), kBlock);
    }
    for (uint64_t h : homes()) {
        if (!meta_.count(h)) meta_[h] = kernel_.alloc(kBlock, kBlock);
        if (!ckpt_.count(h)) ckpt_[h] = kernel_.alloc(kBlock, kBlock);
    }
}

void JournalFs::lock() {
    while (busy_) kernel_.wait_event(idle_, Kernel::kNoTimeout, "the journal");
    busy_ = true;
}

void JournalFs::unlock() {
    busy_ = false;
    quiesce::notify(idle_, sc_core::SC_ZERO_TIME);
}

int JournalFs::write_journal_super(Cpu& cpu, uint64_t start, uint64_t sequence) {
    std::vector<uint8_t> jsb(kBlock, 0);
    uint64_t words[3] = {kJournalMagic, start, sequence};
    std::memcpy(jsb.data(), words, sizeof words);
    cpu.write_block(bounce_, jsb.data(), kBlock);
    return io(cpu, true, kJournalSuper, bounce_, 1, barrier_, barrier_);
}

int JournalFs::mkfs(Cpu& cpu, uint64_t file_blocks) {
    if (file_blocks == 0 || file_blocks > kMaxFileBlocks) return -EINVAL;
    layout_ = Layout::for_file(file_blocks, layout_.blocks);
    if (layout_.data_first + file_blocks > layout_.blocks) return -ENOSPC;
    setup_buffers();
    std::vector<uint8_t> zero(kBlock, 0);
    for (const auto& [home, buf] : meta_) cpu.write_block(buf, zero.data(), kBlock);
    cpu.write64(meta_[kSuper], kSuperMagic);
    cpu.write64(meta_[kSuper] + kSuperFileBlocks, file_blocks);
    cpu.write64(meta_[kInode], kInodeMagic);
    for (const auto& [home, buf] : meta_)
        if (int rc = io(cpu, true, home, buf, 1)) return rc;
    if (int rc = write_journal_super(cpu, 0, 1)) return rc;
    if (int rc = disk_.flush(cpu)) return rc;  // mkfs ends with fsync of the device, barriers or not
    cpu.write_block(journal_, zero.data(), 64);
    jset(cpu, kHead, kJournalFirst);
    jset(cpu, kNextTid, 1);
    jset(cpu, kEmpty, 1);
    mounts_ = 0;
    return 0;
}

qfs::BlockReader JournalFs::disk_reader(Cpu& cpu) {
    return [this, &cpu](uint64_t block) {
        std::vector<uint8_t> data(kBlock, 0);
        if (block < layout_.blocks && io(cpu, false, block, bounce_, 1) == 0) cpu.read_block(bounce_, data.data(), kBlock);
        return data;
    };
}

int JournalFs::mount(Cpu& cpu) {
    if (!bounce_) bounce_ = kernel_.alloc(kBlock, kBlock);
    if (int rc = io(cpu, false, kSuper, bounce_, 1)) return rc;
    uint64_t file_blocks = cpu.read64(bounce_ + kSuperFileBlocks);
    if (cpu.read64(bounce_) != kSuperMagic || file_blocks == 0 || file_blocks > kMaxFileBlocks) return -EINVAL;
    layout_ = Layout::for_file(file_blocks, layout_.blocks);
    setup_buffers();
    uint64_t sequence = 1;
    if (int rc = recover(cpu, sequence)) return rc;
    // The mount counts itself in the superblock, written directly (ext4_commit_super).
    mounts_ = cpu.read64(meta_[kSuper] + kSuperMounts) + 1;
    cpu.write64(meta_[kSuper] + kSuperMounts, mounts_);
    if (int rc = io(cpu, true, kSuper, meta_[kSuper], 1, barrier_, barrier_)) return rc;
    std::vector<uint8_t> zero(64, 0);
    cpu.write_block(journal_, zero.data(), 64);
    jset(cpu, kHead, kJournalFirst);
    jset(cpu, kNextTid, sequence);
    jset(cpu, kEmpty, 1);
    return 0;
}

// Recovery (jbd2_journal_recover): replay every committed transaction, the
// log emptied; then the metadata read into its buffers. `sequence`: the
// next transaction's.
int JournalFs::recover(Cpu& cpu, uint64_t& sequence) {
    qfs::BlockReader read = disk_reader(cpu);
    auto jsb = read(kJournalSuper);
    uint64_t start = 0;
    std::memcpy(&start, jsb.data() + kJsbStart, 8);
    std::memcpy(&sequence, jsb.data() + kJsbSequence, 8);
    auto txs = scan_journal(read);
    for (const auto& t : txs)
        for (size_t i = 0; i < t.homes.size(); ++i) {
            if (t.homes[i] >= layout_.blocks) continue;
            cpu.write_block(bounce_, t.copies[i].data(), kBlock);
            if (int rc = io(cpu, true, t.homes[i], bounce_, 1)) return rc;
        }
    replayed_ = txs.size();
    if (!txs.empty()) sequence = txs.back().tid + 1;
    if (start != 0) {
        if (barrier_)
            if (int rc = disk_.flush(cpu)) return rc;
        if (int rc = write_journal_super(cpu, 0, sequence)) return rc;
    }
    for (const auto& [home, buf] : meta_)
        if (int rc = io(cpu, false, home, buf, 1)) return rc;
    return 0;
}

qfs::FileStat JournalFs::file_in_memory(Cpu& cpu) {
    std::vector<uint8_t> inode(kBlock), super(kBlock);
    cpu.read_block(meta_.at(kInode), inode.data(), kBlock);
    cpu.read_block(meta_.at(kSuper), super.data(), kBlock);
    return qfs::file_stat(inode, super);
}

int JournalFs::stat_on_disk(Cpu& cpu, qfs::FileStat& out) {
    lock();
    int rc = 0;
    qfs::FileView v = qfs::view_after_replay([&](uint64_t block) {
        std::vector<uint8_t> data(kBlock, 0);
        if (block >= layout_.blocks) return data;
        if (int e = io(cpu, false, block, bounce_, 1)) rc = rc ? rc : e;
        else cpu.read_block(bounce_, data.data(), kBlock);
        return data;
    });
    if (rc == 0) out = qfs::file_stat(v.read(kInode), v.read(kSuper));
    unlock();
    return rc;
}

int JournalFs::drop_stale(Cpu& cpu) {
    lock();
    uint64_t dirty = 0;
    const uint64_t dropped = cache_.drop_all(&dirty);
    uint64_t sequence = 1;
    int rc = recover(cpu, sequence);
    if (rc == 0) {
        mounts_ = cpu.read64(meta_[kSuper] + kSuperMounts);
        jset(cpu, kHead, kJournalFirst);
        jset(cpu, kNextTid, sequence);
        jset(cpu, kEmpty, 1);
        jset(cpu, kTxMeta, 0);
        jset(cpu, kCkpt, 0);
        jset(cpu, kDatasyncTid, 0);
        unacked_.clear();
    }
    kernel_.hub().instant(kernel_.path(), "fs-reread", "fs",
                          {{"dropped", std::to_string(dropped)}, {"dirty", std::to_string(dirty)},
                           {"replayed", std::to_string(replayed_)}, {"rc", std::to_string(rc)}});
    unlock();
    return rc;
}

void JournalFs::dirty_meta(Cpu& cpu, uint64_t home) { jset(cpu, kTxMeta, jget(cpu, kTxMeta) | (1ULL << bit_of(home))); }

int JournalFs::allocate(Cpu& cpu, uint64_t& block) {
    const uint64_t bitmap = meta_[layout_.bitmap];
    const uint64_t data_blocks = std::min<uint64_t>(layout_.blocks - layout_.data_first, kBlock * 8);
    for (uint64_t w = 0; w * 64 < data_blocks; ++w) {
        uint64_t bits = cpu.read64(bitmap + w * 8);
        if (bits == ~0ULL) continue;
        for (unsigned b = 0; b < 64 && w * 64 + b < data_blocks; ++b) {
            if (bits & (1ULL << b)) continue;
            cpu.write64(bitmap + w * 8, bits | (1ULL << b));
            dirty_meta(cpu, layout_.bitmap);
            block = layout_.data_first + w * 64 + b;
            return 0;
        }
    }
    return -ENOSPC;
}

int JournalFs::write(Cpu& cpu, uint64_t file_block, const void* data) {
    if (file_block >= layout_.file_blocks) return -EFBIG;
    const uint64_t map_home = kMapFirst + file_block / kMapEntries;
    const uint64_t slot = meta_[map_home] + 8 * (file_block % kMapEntries);
    cpu.compute(Cycles(500));  // ext4_map_blocks
    uint64_t block = cpu.read64(slot);
    // What fdatasync must commit to read the data back: a block allocated,
    // the size grown (ext4_update_inode_fsync_trans with datasync); the mtime
    // and the write count alone are not.
    bool datasync = false;
    if (block == 0) {
        if (int rc = allocate(cpu, block)) return rc;
        cpu.write64(slot, block);
        dirty_meta(cpu, map_home);
        datasync = true;
    }
    uint64_t page = 0;
    if (int rc = cache_.write(cpu, block, data, &page)) return rc;
    const uint64_t inode = meta_[kInode];
    const uint64_t size = cpu.read64(inode + kInodeSize);
    cpu.write64(inode + kInodeSize, std::max(size, file_block + 1));
    datasync = datasync || file_block + 1 > size;
    if (datasync) jset(cpu, kDatasyncTid, jget(cpu, kNextTid));
    cpu.write64(inode + kInodeMtime, now_ps());
    cpu.write64(inode + kInodeWrites, cpu.read64(inode + kInodeWrites) + 1);
    dirty_meta(cpu, kInode);
    unacked_[file_block] = page;
    if (observer_.written) observer_.written(file_block, page);
    return 0;
}

int JournalFs::read(Cpu& cpu, uint64_t file_block, void* out) {
    if (file_block >= layout_.file_blocks) return -EFBIG;
    cpu.compute(Cycles(500));  // ext4_map_blocks
    uint64_t block = cpu.read64(meta_[kMapFirst + file_block / kMapEntries] + 8 * (file_block % kMapEntries));
    if (block == 0) {
        std::memset(out, 0, kBlock);
        return 0;
    }
    return cache_.read(cpu, block, out);
}

void JournalFs::note_pass(Cpu& cpu, uint64_t pass, Picos when) {
    cpu.write64(meta_[kSuper] + kSuperPass, pass);
    cpu.write64(meta_[kSuper] + kSuperTime, when);
    dirty_meta(cpu, kSuper);
}

int JournalFs::commit(Cpu& cpu, bool* did_commit) {
    if (did_commit) *did_commit = false;
    lock();
    const uint64_t mask = jget(cpu, kTxMeta);
    if (mask == 0) {
        unlock();
        return 0;
    }
    // Close the running transaction: freeze copies of its metadata into the
    // journal buffer (what this transaction commits; later changes belong to
    // the next one).
    jset(cpu, kTxMeta, 0);
    const uint64_t tid = jget(cpu, kNextTid);
    jset(cpu, kNextTid, tid + 1);
    std::vector<uint64_t> committed;
    for (uint64_t h : homes())
        if (mask & (1ULL << bit_of(h))) committed.push_back(h);
    std::vector<uint8_t> block(kBlock, 0), desc(kBlock, 0);
    uint64_t head_words[3] = {kDescriptorMagic, tid, committed.size()};
    std::memcpy(desc.data(), head_words, sizeof head_words);
    std::vector<std::vector<uint8_t>> copies;
    for (size_t i = 0; i < committed.size(); ++i) {
        std::memcpy(desc.data() + 24 + 8 * i, &committed[i], 8);
        cpu.read_block(meta_[committed[i]], block.data(), kBlock);
        cpu.write_block(jbuf_ + (1 + i) * kBlock, block.data(), kBlock);
        copies.push_back(block);
    }
    cpu.write_block(jbuf_, desc.data(), kBlock);
    auto finish = [&](int rc) {
        unlock();
        return rc;
    };
    // Ordered mode: the file's data goes home before the metadata that points at it commits.
    if (int rc = cache_.writeback_all(cpu)) return finish(rc);
    const uint64_t need = committed.size() + 2;
    if (jget(cpu, kHead) + need > kJournalFirst + kJournalBlocks)
        if (int rc = checkpoint_locked(cpu)) return finish(rc);
    const uint64_t head = jget(cpu, kHead);
    if (jget(cpu, kEmpty)) {  // the log starts here: the journal superblock must say so first
        if (int rc = write_journal_super(cpu, head, tid)) return finish(rc);
        jset(cpu, kEmpty, 0);
    }
    if (int rc = io(cpu, true, head, jbuf_, uint32_t(committed.size() + 1))) return finish(rc);
    std::vector<uint8_t> commit_block(kBlock, 0);
    uint64_t commit_words[3] = {kCommitMagic, tid, qfs::journal_crc(desc, copies)};
    std::memcpy(commit_block.data(), commit_words, sizeof commit_words);
    const uint64_t commit_buf = jbuf_ + (committed.size() + 1) * kBlock;
    cpu.write_block(commit_buf, commit_block.data(), kBlock);
    // The commit record: REQ_PREFLUSH|REQ_FUA with barriers, so the data and
    // the journal blocks before it are durable when it is.
    if (int rc = io(cpu, true, head + committed.size() + 1, commit_buf, 1, barrier_, barrier_)) return finish(rc);
    jset(cpu, kHead, head + need);
    uint64_t ckpt = jget(cpu, kCkpt);
    for (size_t i = 0; i < committed.size(); ++i) {
        cpu.write_block(ckpt_[committed[i]], copies[i].data(), kBlock);
        ckpt |= 1ULL << bit_of(committed[i]);
    }
    jset(cpu, kCkpt, ckpt);
    if (on_commit_)  // the open handles learn what the disk now says of the file
        for (size_t i = 0; i < committed.size(); ++i)
            if (committed[i] == kInode) on_commit_(qfs::file_stat(copies[i], {}));
    if (did_commit) *did_commit = true;
    kernel_.hub().instant(kernel_.path(), "journal-commit", "fs",
                          {{"tid", std::to_string(tid)}, {"blocks", std::to_string(committed.size())},
                           {"at", std::to_string(head)}});
    return finish(0);
}

int JournalFs::checkpoint_locked(Cpu& cpu) {
    const uint64_t ckpt = jget(cpu, kCkpt);
    if (ckpt == 0 && jget(cpu, kEmpty)) return 0;
    for (uint64_t h : homes())
        if (ckpt & (1ULL << bit_of(h)))
            if (int rc = io(cpu, true, h, ckpt_[h], 1)) return rc;
    if (barrier_)
        if (int rc = disk_.flush(cpu)) return rc;  // home before the log lets go of them
    if (int rc = write_journal_super(cpu, 0, jget(cpu, kNextTid))) return rc;
    jset(cpu, kCkpt, 0);
    jset(cpu, kHead, kJournalFirst);
    jset(cpu, kEmpty, 1);
    return 0;
}

int JournalFs::checkpoint(Cpu& cpu) {
    lock();
    int rc = checkpoint_locked(cpu);
    unlock();
    return rc;
}

int JournalFs::fsync(Cpu& cpu) { return sync_file(cpu, false); }

int JournalFs::fdatasync(Cpu& cpu) { return sync_file(cpu, true); }

int JournalFs::sync_file(Cpu& cpu, bool datasync) {
    std::map<uint64_t, uint64_t> acks;
    acks.swap(unacked_);
    // ext4_sync_file: commit the transaction that holds the inode's changes
    // (its commit record flushes); with no metadata left to commit - or, for
    // fdatasync, none it needs, its transaction closed already - write the
    // data and flush the device.
    bool committed = false;
    int rc = 0;
    if (!datasync || jget(cpu, kDatasyncTid) >= jget(cpu, kNextTid)) {
        rc = commit(cpu, &committed);
    } else {
        lock();  // jbd2_complete_transaction: a commit of it still in flight is waited for
        unlock();
    }
    if (rc == 0 && !committed) {  // another commit took the metadata, or there was none
        rc = cache_.writeback_all(cpu);
        if (rc == 0 && barrier_) rc = disk_.flush(cpu);
    }
    if (rc != 0) {
        for (const auto& [fb, page] : acks) unacked_.emplace(fb, page);
        return rc;
    }
    if (observer_.acknowledged)
        for (const auto& [fb, page] : acks)
            if (!unacked_.count(fb)) observer_.acknowledged(fb, page);  // not rewritten meanwhile
    return 0;
}

int JournalFs::sync(Cpu& cpu) {
    if (int rc = commit(cpu)) return rc;
    if (int rc = cache_.writeback_all(cpu)) return rc;
    return barrier_ ? disk_.flush(cpu) : 0;  // ext4_sync_fs flushes only with barriers
}

}  // namespace quiesce
