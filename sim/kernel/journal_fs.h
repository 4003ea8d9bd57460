// A small journaled filesystem ("qfs") on the root partition, shaped like
// ext4 with jbd2 in data=ordered mode: one file, its data blocks in the page
// cache, its metadata (superblock, inode, block map, allocation bitmap) in
// kernel buffers that change only inside a running transaction.
//
// A commit (fsync, the periodic commit of the flusher, sync) closes the
// running transaction, freezes copies of its metadata, writes the file's
// dirty data home first (ordered mode), then a descriptor and the copies to
// the journal and a commit block carrying a CRC32 of them - with
// REQ_PREFLUSH|REQ_FUA when barriers are on, so everything before it is
// durable when it is. A checkpoint writes the committed metadata home,
// flushes and marks the journal empty in the journal superblock. Mounting
// replays every committed transaction the journal holds (a commit block of
// the right sequence and checksum) and stops at the first that is not
// complete, as jbd2's recovery does; a mount also counts itself in the
// superblock - which is why mounting before resuming from hibernation
// changes the disk under the image.
//
// Layout in 4 KiB blocks: 0 superblock, 1 journal superblock, the journal
// (kJournalBlocks), the inode, the block map (512 entries a block), the
// allocation bitmap, then the data blocks.
#pragma once

#include "sim/kernel/block.h"
#include "sim/kernel/page_cache.h"

#include <systemc>

#include <array>
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

namespace qfs {

constexpr unsigned kBlock = PageCache::kBlockSize;
constexpr uint64_t kSuper = 0;
constexpr uint64_t kJournalSuper = 1;
constexpr uint64_t kJournalFirst = 2;
constexpr uint64_t kJournalBlocks = 32;
constexpr uint64_t kInode = kJournalFirst + kJournalBlocks;
constexpr uint64_t kMapFirst = kInode + 1;
constexpr uint64_t kMapEntries = kBlock / 8;  // block numbers per map block
constexpr uint64_t kMaxFileBlocks = 4096;

// An 8-character tag as the little-endian u64 at the start of a block.
constexpr uint64_t tag(const char (&s)[9]) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | uint8_t(s[i]);
    return v;
}
constexpr uint64_t kSuperMagic = tag("QFS2SUPR");
constexpr uint64_t kJournalMagic = tag("QJSB0001");
constexpr uint64_t kDescriptorMagic = tag("QJDESC01");
constexpr uint64_t kCommitMagic = tag("QJCOMMIT");
constexpr uint64_t kInodeMagic = tag("QINODE01");
// Superblock words: magic, flusher pass, its time, mount count, file blocks.
constexpr unsigned kSuperPass = 8, kSuperTime = 16, kSuperMounts = 24, kSuperFileBlocks = 32;
// Journal superblock words: magic, s_start (0: empty), s_sequence.
constexpr unsigned kJsbStart = 8, kJsbSequence = 16;
// Inode words: magic, size in blocks, mtime, writes (the change counter,
// i_version: every write bumps it), generation (i_generation: a freed inode
// keeps its number and gets the next generation, so a handle to the old file
// never names the new one).
constexpr unsigned kInodeSize = 8, kInodeMtime = 16, kInodeWrites = 24, kInodeGeneration = 32;
// The filesystem's one file: its path and inode number (the inode's block).
constexpr const char* kFilePath = "/data";
constexpr uint64_t kFileIno = kInode;

// Where things are, from the superblock.
struct Layout {
    uint64_t file_blocks = 0;  // capacity of the file
    uint64_t map_blocks = 0;
    uint64_t bitmap = 0;
    uint64_t data_first = 0;
    uint64_t blocks = 0;       // the partition
    static Layout for_file(uint64_t file_blocks, uint64_t partition_blocks);
};

// One committed transaction found in the journal.
struct Transaction {
    uint64_t tid = 0;
    uint64_t at = 0;  // its descriptor's block
    std::vector<uint64_t> homes;
    std::vector<std::vector<uint8_t>> copies;
};

using BlockReader = std::function<std::vector<uint8_t>(uint64_t block)>;

// jbd2's recovery scan: from the journal superblock's start, each descriptor
// of the expected sequence whose commit block matches it (sequence, CRC32 of
// the descriptor and copies). Stops at the first that does not.
std::vector<Transaction> scan_journal(const BlockReader& read);

// The filesystem as the next mount would see it, computed from a reader of
// the media (the checker's fsck): the journal replayed over the home blocks,
// then the file's block map. Block 0 in the map: a hole.
struct FileView {
    bool formatted = false;
    uint64_t replayed = 0;  // transactions replayed
    std::vector<uint64_t> map;
    BlockReader read;       // blocks after replay
};
FileView view_after_replay(const BlockReader& media);

// What a file is, as an inode says: whether it exists (an allocated inode),
// its number and generation (its identity), its size in blocks and its
// change counter; with the superblock's mount count.
struct FileStat {
    bool exists = false;
    uint64_t ino = 0, generation = 0, size = 0, version = 0, mounts = 0;
    bool operator==(const FileStat& o) const {
        return exists == o.exists && ino == o.ino && generation == o.generation && size == o.size &&
               version == o.version;
    }
    bool operator!=(const FileStat& o) const { return !(*this == o); }
};
// The file from an inode block and a superblock.
FileStat file_stat(const std::vector<uint8_t>& inode, const std::vector<uint8_t>& super);
// Why a handle that knows `seen` cannot go on with the file as `now` is ("" if it can).
std::string stale_reason(const FileStat& seen, const FileStat& now);

// Another OS with the partition mounted (the disk moved to another machine,
// or a second OS booted while this one hibernates): it mounts - replaying
// the journal and counting the mount in the superblock -, changes the file in
// one journalled transaction (data home first, then the descriptor, the
// metadata copies and a commit block with its CRC32; then the checkpoint)
// and unmounts cleanly (the journal empty). `remove`: it deletes the file
// (its blocks freed in the bitmap, the map cleared, the inode freed with the
// next generation); else it writes file block `file_block` (allocating it if
// it is a hole) with its own data, bumping the size, mtime and change counter.
using BlockWriter = std::function<void(uint64_t block, const std::vector<uint8_t>& data)>;
struct OfflineChange {
    bool remove = false;
    uint64_t file_block = 0;
    uint64_t stamp = 0;  // the other OS's clock: its mtime and the data it writes
};
struct OfflineResult {
    std::string error;             // "" or why nothing was changed (no filesystem, no file)
    FileStat before, after;
    uint64_t tid = 0;              // the transaction it committed
    std::vector<uint64_t> blocks;  // every block it wrote, in order
};
OfflineResult offline_change(const BlockReader& read, const BlockWriter& write, uint64_t partition_blocks,
                             const OfflineChange& change);

}  // namespace qfs

class JournalFs {
public:
    static constexpr unsigned kBlockSize = qfs::kBlock;
    struct Observer {
        // The file block's page-cache page was written (zero time).
        std::function<void(uint64_t file_block, uint64_t page)> written;
        // fsync returned success for a block written before it.
        std::function<void(uint64_t file_block, uint64_t page)> acknowledged;
    };

    // `barrier`: commits with REQ_PREFLUSH|REQ_FUA and flushes before a
    // checkpoint frees the journal (ext4's default); false is nobarrier.
    JournalFs(Kernel& kernel, BlockDevice& disk, uint64_t first_sector, uint64_t partition_blocks, bool barrier);
    ~JournalFs();
    JournalFs(const JournalFs&) = delete;
    JournalFs& operator=(const JournalFs&) = delete;

    // Formats the partition for a file of `file_blocks` (durable when it returns).
    int mkfs(Cpu& cpu, uint64_t file_blocks);
    // Recovers the journal and reads the metadata. -EINVAL: no filesystem.
    int mount(Cpu& cpu);

    int write(Cpu& cpu, uint64_t file_block, const void* data);
    // A block of the file (zeros for a hole), through the page cache.
    int read(Cpu& cpu, uint64_t file_block, void* out);
    // fsync(2): the data, then the commit of every metadata change of the
    // file (its commit record flushes); with none left to commit, a cache
    // flush after the data.
    int fsync(Cpu& cpu);
    // fdatasync(2): the same, but only the metadata needed to read the data
    // back (a block allocated, the size grown) is waited for; an overwrite in
    // place changes only the mtime, which stays in the running transaction,
    // and fdatasync is the data plus a cache flush (ext4_sync_file's
    // needs_barrier when the transaction it waits for has committed already).
    int fdatasync(Cpu& cpu);
    // kjournald2: commits the running transaction; `committed` says whether
    // there was one (its commit record flushed what came before it).
    int commit(Cpu& cpu, bool* committed = nullptr);
    int checkpoint(Cpu& cpu);  // committed metadata home; the journal empty
    int sync(Cpu& cpu);        // ksys_sync: commit, all data, flush
    // The flusher's periodic record in the superblock (journaled metadata).
    void note_pass(Cpu& cpu, uint64_t pass, Picos when);

    PageCache& cache() { return cache_; }
    const qfs::Layout& layout() const { return layout_; }
    uint64_t mount_count() const { return mounts_; }
    uint64_t replayed() const { return replayed_; }
    void set_observer(Observer o) { observer_ = std::move(o); }

    // The file as this kernel has it in memory, and as its last commit put
    // it on the disk (what an open handle knows of it: the kernel updates
    // its handles at every commit of the inode through on_commit).
    qfs::FileStat file_in_memory(Cpu& cpu);
    void set_commit_hook(std::function<void(const qfs::FileStat&)> f) { on_commit_ = std::move(f); }
    // The file as the disk has it now, read through the driver (the journal
    // replayed over the home blocks in memory, as a mount would see it).
    int stat_on_disk(Cpu& cpu, qfs::FileStat& out);
    // The file changed on the disk under this kernel: its page cache is
    // dropped - dirty pages unwritten, rather than written back over the
    // other change - and the metadata read back from the disk (journal
    // replayed), the running transaction and the journal state discarded.
    int drop_stale(Cpu& cpu);

private:
    int io(Cpu& cpu, bool write, uint64_t block, uint64_t buffer, uint32_t blocks, bool fua = false,
           bool preflush = false);
    void setup_buffers();
    std::vector<uint64_t> homes() const;  // the metadata blocks, in journal_t's bit order
    unsigned bit_of(uint64_t home) const;
    void dirty_meta(Cpu& cpu, uint64_t home);
    int allocate(Cpu& cpu, uint64_t& block);
    int write_journal_super(Cpu& cpu, uint64_t start, uint64_t sequence);
    int checkpoint_locked(Cpu& cpu);
    int sync_file(Cpu& cpu, bool datasync);
    int recover(Cpu& cpu, uint64_t& sequence);
    qfs::BlockReader disk_reader(Cpu& cpu);
    void lock();
    void unlock();
    // journal_t lives in kernel memory, like everything the image must carry:
    // a restore from hibernation brings back these words as they were at the
    // snapshot. Offsets of its words (kDatasyncTid: the file's
    // i_datasync_tid, the transaction holding its last change fdatasync must
    // commit; below kNextTid, the running one, it is closed):
    static constexpr unsigned kHead = 0, kNextTid = 8, kEmpty = 16, kTxMeta = 24, kCkpt = 32, kDatasyncTid = 40;
    uint64_t jget(Cpu& cpu, unsigned off);
    void jset(Cpu& cpu, unsigned off, uint64_t v);

    // The C++-held half of the filesystem's kernel state, in the image
    // (sim/kernel/image_state.h).
    void save_state(StateWriter& w) const;
    void load_state(StateReader& r);
    int state_ = 0;

    Kernel& kernel_;
    BlockDevice& disk_;
    uint64_t first_sector_;
    bool barrier_;
    PageCache cache_;
    qfs::Layout layout_;
    std::map<uint64_t, uint64_t> meta_;  // home block -> its buffer
    std::map<uint64_t, uint64_t> ckpt_;  // home block -> its committed copy (checkpointed when the bit is set)
    uint64_t journal_ = 0;               // journal_t
    uint64_t jbuf_ = 0;                  // descriptor + copies + commit under construction
    uint64_t bounce_ = 0;                // one block for reads and the journal superblock
    std::array<std::map<uint64_t, uint64_t>, 3> replaced_;  // by the last image load (load_state)
    std::map<uint64_t, uint64_t> unacked_;  // file block -> page, written since the last fsync
    bool busy_ = false;
    uint64_t mounts_ = 0, replayed_ = 0;
    sc_core::sc_event idle_;
    Observer observer_;
    std::function<void(const qfs::FileStat&)> on_commit_;
};

}  // namespace quiesce
