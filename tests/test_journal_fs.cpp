// The journaled filesystem on the real AHCI disk: ordered data before the
// journal, a flushed commit record, recovery of what was committed and
// nothing else, checkpoints, and nobarrier.
#include "bench_platform.h"

#include "models/disk/sata_drive.h"
#include "sim/check/storage_check.h"
#include "sim/kernel/image_state.h"
#include "sim/kernel/journal_fs.h"
#include "sim/kernel/kernel.h"

#include <fmt/format.h>

#include <cstring>
#include <map>
#include <memory>
#include <set>

using namespace quiesce;
using quiesce::test::Facts;
using quiesce::test::on_disk;

namespace {

constexpr uint64_t kPartition = 4096;  // blocks: 16 MiB of the 48 MiB root partition

std::vector<uint8_t> content(uint64_t file_block, uint64_t version) {
    std::vector<uint8_t> v(qfs::kBlock);
    for (size_t i = 0; i < v.size(); ++i) v[i] = uint8_t(file_block * 31 + version * 7 + i);
    return v;
}

// Blocks as the platters hold them: what the next boot reads.
qfs::BlockReader media(const SataDrive& drive) {
    return [&drive](uint64_t block) {
        std::vector<uint8_t> out;
        const unsigned spb = qfs::kBlock / drive.sector_size();
        for (unsigned i = 0; i < spb; ++i) {
            auto s = drive.media(block * spb + i);
            out.insert(out.end(), s.begin(), s.end());
        }
        return out;
    };
}

// What file block `fb` holds in `view`: "hole", "v<N>" for content(fb, N), or "other".
std::string holds(const qfs::FileView& view, uint64_t fb, int versions = 4) {
    if (fb >= view.map.size() || view.map[fb] == 0) return "hole";
    auto data = view.read(view.map[fb]);
    for (int v = 0; v < versions; ++v)
        if (data == content(fb, uint64_t(v))) return "v" + std::to_string(v);
    return "other";
}

}  // namespace

TEST_CASE("qfs: fsync writes the data, then the journal, then a flushed commit record", "[fs]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        JournalFs fs(p.kernel(), drv, 0, kPartition, true);
        f["mount_blank"] = std::to_string(fs.mount(cpu));
        REQUIRE(fs.mkfs(cpu, 64) == 0);
        REQUIRE(fs.mount(cpu) == 0);
        const uint64_t data_first = fs.layout().data_first, spb = qfs::kBlock / drv.sector_size();
        std::string log;
        drv.set_observer({[&](uint64_t sector, uint32_t, uint64_t, bool durable) {
                              uint64_t b = sector / spb;
                              log += b >= data_first ? "D" : b >= qfs::kJournalFirst && b < qfs::kInode ? "J" : "M";
                              if (durable) log += "!";
                          },
                          [&](Picos) { log += "F"; }});
        for (uint64_t fb = 0; fb < 3; ++fb) REQUIRE(fs.write(cpu, fb, content(fb, 1).data()) == 0);
        REQUIRE(fs.fsync(cpu) == 0);
        f["log"] = log;
        drive.power_off();  // the drive's cache is gone: only the media counts
        qfs::FileView view = qfs::view_after_replay(media(drive));
        f["replayed"] = std::to_string(view.replayed);
        for (uint64_t fb = 0; fb < 4; ++fb) f["fb" + std::to_string(fb)] = holds(view, fb);
        f["mounts"] = std::to_string(fs.mount_count());
    });
    REQUIRE(f["mount_blank"] == std::to_string(-EINVAL));
    // Three data blocks; the journal was empty, so first the journal
    // superblock says where the log starts (flushed, FUA); one journal write
    // (descriptor + inode, map, bitmap copies); then the commit record with
    // REQ_PREFLUSH (F) and FUA (!).
    REQUIRE(f["log"] == "DDDFM!JFJ!");
    REQUIRE(f["replayed"] == "1");
    REQUIRE(f["fb0"] == "v1");
    REQUIRE(f["fb2"] == "v1");
    REQUIRE(f["fb3"] == "hole");
    REQUIRE(f["mounts"] == "1");
}

// fdatasync (ext4_sync_file with datasync): a write that allocates a block
// or grows the file needs its metadata to read the data back, so fdatasync
// commits it like fsync; an overwrite in place changes only the mtime, and
// fdatasync is then the data and a cache flush, with no journal write - the
// flush is all that makes the overwrite durable. fsync after it still
// commits the mtime.
TEST_CASE("qfs: fdatasync commits an allocation, and after an overwrite in place writes the data and flushes", "[fs]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        JournalFs fs(p.kernel(), drv, 0, kPartition, true);
        REQUIRE(fs.mkfs(cpu, 64) == 0);
        REQUIRE(fs.mount(cpu) == 0);
        const uint64_t data_first = fs.layout().data_first, spb = qfs::kBlock / drv.sector_size();
        std::string log;
        drv.set_observer({[&](uint64_t sector, uint32_t, uint64_t, bool durable) {
                              uint64_t b = sector / spb;
                              log += b >= data_first ? "D" : b >= qfs::kJournalFirst && b < qfs::kInode ? "J" : "M";
                              if (durable) log += "!";
                          },
                          [&](Picos) { log += "F"; }});
        std::string acked;
        fs.set_observer({nullptr, [&](uint64_t fb, uint64_t) { acked += std::to_string(fb); }});
        for (uint64_t fb = 0; fb < 3; ++fb) REQUIRE(fs.write(cpu, fb, content(fb, 1).data()) == 0);
        REQUIRE(fs.fdatasync(cpu) == 0);
        f["allocate"] = log + " acked " + acked;
        log.clear();
        acked.clear();
        REQUIRE(fs.write(cpu, 1, content(1, 2).data()) == 0);
        REQUIRE(fs.fdatasync(cpu) == 0);
        f["overwrite"] = log + " acked " + acked;
        // The power fails now: the overwrite must be on the platters.
        qfs::FileView view = qfs::view_after_replay(media(drive));
        f["after_fdatasync"] = holds(view, 0) + " " + holds(view, 1) + " " + holds(view, 2);
        log.clear();
        REQUIRE(fs.fsync(cpu) == 0);  // the mtime is still to commit
        f["fsync_after"] = log;
        log.clear();
        REQUIRE(fs.write(cpu, 5, content(5, 1).data()) == 0);  // a new block, the size grown
        REQUIRE(fs.fdatasync(cpu) == 0);
        f["grow"] = log;
        drive.power_off();
        view = qfs::view_after_replay(media(drive));
        f["after_power_loss"] = holds(view, 1) + " " + holds(view, 5);
    });
    // As fsync: the data, the journal superblock, the journal, the flushed commit record.
    REQUIRE(f["allocate"] == "DDDFM!JFJ! acked 012");
    // The overwritten block and a flush; nothing journaled.
    REQUIRE(f["overwrite"] == "DF acked 1");
    REQUIRE(f["after_fdatasync"] == "v1 v2 v1");
    REQUIRE(f["fsync_after"] == "JFJ!");
    REQUIRE(f["grow"] == "DJFJ!");
    REQUIRE(f["after_power_loss"] == "v2 v1");
}

TEST_CASE("qfs: recovery replays committed transactions and stops at one that is not", "[fs]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        {
            JournalFs fs(p.kernel(), drv, 0, kPartition, false);  // nobarrier: we flush by hand
            REQUIRE(fs.mkfs(cpu, 64) == 0);
            REQUIRE(fs.mount(cpu) == 0);
            REQUIRE(fs.write(cpu, 0, content(0, 1).data()) == 0);
            REQUIRE(fs.commit(cpu) == 0);
            REQUIRE(drv.flush(cpu) == 0);  // transaction 1 is on the media
            REQUIRE(fs.write(cpu, 1, content(1, 1).data()) == 0);
            REQUIRE(fs.commit(cpu) == 0);  // transaction 2 only in the drive's cache
            drive.power_off();
            drive.power_on();
        }
        auto view = qfs::view_after_replay(media(drive));
        f["view"] = fmt::format("{} {} {}", view.replayed, holds(view, 0), holds(view, 1));
        // A commit record whose checksum does not match ends recovery too.
        qfs::BlockReader torn = [&drive](uint64_t b) {
            auto data = media(drive)(b);
            if (b == qfs::kJournalFirst + 1) data[100] ^= 1;  // inside the first transaction's first copy
            return data;
        };
        f["torn"] = std::to_string(qfs::scan_journal(torn).size());
        // The next boot's mount replays what the view predicted.
        JournalFs again(p.kernel(), drv, 0, kPartition, true);
        REQUIRE(again.mount(cpu) == 0);
        f["mount"] = fmt::format("{} {}", again.replayed(), again.mount_count());
        auto after = qfs::view_after_replay(media(drive));
        f["after"] = fmt::format("{} {} {}", after.replayed, holds(after, 0), holds(after, 1));
    });
    REQUIRE(f["view"] == "1 v1 hole");
    REQUIRE(f["torn"] == "0");
    REQUIRE(f["mount"] == "1 2");
    // Replayed home and the journal marked empty: nothing left to replay, same file.
    REQUIRE(f["after"] == "0 v1 hole");
}

TEST_CASE("qfs: a full journal is checkpointed home and starts again", "[fs]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        JournalFs fs(p.kernel(), drv, 0, kPartition, true);
        REQUIRE(fs.mkfs(cpu, 64) == 0);
        REQUIRE(fs.mount(cpu) == 0);
        std::vector<std::string> at;
        for (uint64_t n = 0; n < 12; ++n) {
            REQUIRE(fs.write(cpu, n % 5, content(n % 5, n / 5 + 1).data()) == 0);
            REQUIRE(fs.fsync(cpu) == 0);
            auto txs = qfs::scan_journal(media(drive));
            at.push_back(std::to_string(txs.empty() ? 0 : txs.back().at));
        }
        std::string joined;
        for (const auto& a : at) joined += a + " ";
        f["heads"] = joined;
        drive.power_off();
        auto view = qfs::view_after_replay(media(drive));
        std::string file;
        for (uint64_t fb = 0; fb < 5; ++fb) file += holds(view, fb) + " ";
        f["file"] = file;
    });
    // Each transaction takes a descriptor, its copies and a commit record;
    // when the next one does not fit in the 32 journal blocks, the committed
    // metadata goes home and the log restarts at block 2.
    std::string heads = f["heads"];
    INFO(heads);
    REQUIRE(heads.rfind("2 ", 0) == 0);
    REQUIRE(heads.find(" 2 ", 3) != std::string::npos);  // came back to the start
    // Writes 10 and 11 rewrote file blocks 0 and 1 (version 3); 2..4 hold version 2.
    REQUIRE(f["file"] == "v3 v3 v2 v2 v2 ");
}

TEST_CASE("qfs: nobarrier commits and fsyncs without a flush", "[fs]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        JournalFs fs(p.kernel(), drv, 0, kPartition, false);
        REQUIRE(fs.mkfs(cpu, 64) == 0);
        REQUIRE(fs.mount(cpu) == 0);
        int flushes = 0, fua = 0;
        drv.set_observer({[&](uint64_t, uint32_t, uint64_t, bool durable) { fua += durable; },
                          [&](Picos) { ++flushes; }});
        std::vector<std::string> acked;
        fs.set_observer({nullptr, [&](uint64_t fb, uint64_t) { acked.push_back(std::to_string(fb)); }});
        REQUIRE(fs.write(cpu, 7, content(7, 1).data()) == 0);
        REQUIRE(fs.fsync(cpu) == 0);
        REQUIRE(fs.sync(cpu) == 0);
        f["flushes"] = std::to_string(flushes);
        f["fua"] = std::to_string(fua);
        f["acked"] = acked.empty() ? "" : acked[0];
        drive.power_off();
        f["after_power_loss"] = holds(qfs::view_after_replay(media(drive)), 7);
    });
    REQUIRE(f["flushes"] == "0");
    REQUIRE(f["fua"] == "0");
    REQUIRE(f["acked"] == "7");  // the application was told it is durable
    REQUIRE(f["after_power_loss"] == "hole");
}

// CrashMonkey's question at every persistence point: if the power went now,
// would the next mount find everything fsync or fdatasync acknowledged? The media is
// examined after every operation (the drive's volatile cache does not
// count). With barriers the answer is always yes; with nobarrier it is not.
TEST_CASE("qfs: after every operation, what fsync or fdatasync acknowledged survives a power cut only with barriers", "[fs]") {
    for (bool barrier : {true, false}) {
        Facts f = on_disk([barrier](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
            JournalFs fs(p.kernel(), drv, 0, kPartition, barrier);
            REQUIRE(fs.mkfs(cpu, 16) == 0);
            REQUIRE(fs.mount(cpu) == 0);
            std::map<uint64_t, int> acked;              // file block -> version fsync acknowledged
            std::map<uint64_t, std::set<int>> written;  // every version written since
            std::map<uint64_t, int> version;
            uint64_t state = 12345;
            int checks = 0, broken = 0;
            for (int step = 0; step < 40; ++step) {
                state = state * 6364136223846793005ULL + 1442695040888963407ULL;
                uint64_t fb = (state >> 33) % 6;
                int v = ++version[fb];
                REQUIRE(fs.write(cpu, fb, content(fb, uint64_t(v)).data()) == 0);
                written[fb].insert(v);
                if (step % 3 == 2) {
                    // fdatasync every other time: after the first writes most are overwrites in place
                    REQUIRE((step % 2 ? fs.fsync(cpu) : fs.fdatasync(cpu)) == 0);
                    for (const auto& [b, ver] : version) {
                        acked[b] = ver;
                        written[b] = {ver};
                    }
                }
                qfs::FileView view = qfs::view_after_replay(media(drive));
                for (const auto& [b, ver] : acked) {
                    ++checks;
                    bool ok = false;
                    if (b < view.map.size() && view.map[b] != 0) {
                        auto data = view.read(view.map[b]);
                        for (int w : written[b]) ok = ok || data == content(b, uint64_t(w));
                    }
                    broken += !ok;
                }
            }
            f["checks"] = std::to_string(checks);
            f["broken"] = std::to_string(broken);
        });
        INFO((barrier ? "barrier" : "nobarrier"));
        REQUIRE(std::stoi(f["checks"]) > 100);
        if (barrier) REQUIRE(f["broken"] == "0");
        else REQUIRE(std::stoi(f["broken"]) > 0);
    }
}

namespace {
// Blocks written to the platters directly, as another machine's OS leaves them.
qfs::BlockWriter media_writer(SataDrive& drive) {
    return [&drive](uint64_t block, const std::vector<uint8_t>& data) {
        const unsigned ss = drive.sector_size(), spb = qfs::kBlock / ss;
        for (unsigned i = 0; i < spb; ++i)
            drive.format(block * spb + i, std::vector<uint8_t>(data.begin() + i * ss, data.begin() + (i + 1) * ss));
    };
}
std::string stat_text(const qfs::FileStat& s) {
    return fmt::format("{} g{} size {} v{}", s.exists ? "file" : "free", s.generation, s.size, s.version);
}
}  // namespace

TEST_CASE("qfs: another OS's write is one journalled transaction, and the kernel that slept sees it only by reading "
          "the disk again",
          "[fs]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        JournalFs fs(p.kernel(), drv, 0, kPartition, true);
        REQUIRE(fs.mkfs(cpu, 64) == 0);
        REQUIRE(fs.mount(cpu) == 0);
        for (uint64_t b = 0; b < 4; ++b) REQUIRE(fs.write(cpu, b, content(b, 1).data()) == 0);
        REQUIRE(fs.fsync(cpu) == 0);
        REQUIRE(drv.flush(cpu) == 0);
        f["memory"] = stat_text(fs.file_in_memory(cpu));
        // The other OS: what it writes goes through the journal; it leaves it empty.
        std::vector<uint64_t> written;
        qfs::BlockWriter w = media_writer(drive);
        auto r = qfs::offline_change(media(drive),
                                     [&](uint64_t b, const std::vector<uint8_t>& d) {
                                         written.push_back(b);
                                         w(b, d);
                                     },
                                     kPartition, {false, 0, 12345});
        f["error"] = r.error;
        f["change"] = stat_text(r.before) + " -> " + stat_text(r.after);
        f["mounts"] = std::to_string(r.after.mounts - r.before.mounts);
        bool journalled = false;
        for (uint64_t b : written) journalled |= b == qfs::kJournalFirst;
        f["journalled"] = journalled ? "yes" : "no";
        auto view = qfs::view_after_replay(media(drive));
        f["replay"] = std::to_string(view.replayed);  // a clean unmount: nothing left in the log
        f["block0"] = holds(view, 0, 2);
        f["block1"] = holds(view, 1, 2);
        // The kernel that slept through it: memory says one thing, the disk another.
        qfs::FileStat disk;
        REQUIRE(fs.stat_on_disk(cpu, disk) == 0);
        f["disk"] = stat_text(disk);
        f["same"] = disk == fs.file_in_memory(cpu) ? "yes" : "no";
        f["cached"] = std::to_string(fs.cache().entries().size());
        REQUIRE(fs.drop_stale(cpu) == 0);
        f["cached after"] = std::to_string(fs.cache().entries().size());
        f["memory after"] = stat_text(fs.file_in_memory(cpu));
        std::vector<uint8_t> buf(qfs::kBlock);
        REQUIRE(fs.read(cpu, 0, buf.data()) == 0);
        uint64_t tag = 0;
        std::memcpy(&tag, buf.data(), 8);
        f["read0"] = tag == qfs::tag("OTHER-OS") ? "other OS" : "old";
        // The kernel goes on from the disk's state: its next commit keeps the other OS's change.
        REQUIRE(fs.write(cpu, 2, content(2, 2).data()) == 0);
        REQUIRE(fs.fsync(cpu) == 0);
        auto later = qfs::view_after_replay(media(drive));
        f["later"] = holds(later, 0, 2) + " " + holds(later, 2, 3);
    });
    REQUIRE(f["error"] == "");
    REQUIRE(f["memory"] == "file g0 size 4 v4");
    REQUIRE(f["change"] == "file g0 size 4 v4 -> file g0 size 4 v5");
    REQUIRE(f["mounts"] == "1");
    REQUIRE(f["journalled"] == "yes");
    REQUIRE(f["replay"] == "0");
    REQUIRE(f["block0"] == "other");
    REQUIRE(f["block1"] == "v1");
    REQUIRE(f["disk"] == "file g0 size 4 v5");
    REQUIRE(f["same"] == "no");
    REQUIRE(f["cached"] == "4");
    REQUIRE(f["cached after"] == "0");
    REQUIRE(f["memory after"] == "file g0 size 4 v5");
    REQUIRE(f["read0"] == "other OS");
    REQUIRE(f["later"] == "other v2");
}

TEST_CASE("qfs: another OS's delete frees the inode with the next generation and the file's blocks", "[fs]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        JournalFs fs(p.kernel(), drv, 0, kPartition, true);
        REQUIRE(fs.mkfs(cpu, 64) == 0);
        REQUIRE(fs.mount(cpu) == 0);
        for (uint64_t b = 0; b < 3; ++b) REQUIRE(fs.write(cpu, b, content(b, 1).data()) == 0);
        REQUIRE(fs.fsync(cpu) == 0);
        REQUIRE(drv.flush(cpu) == 0);
        auto r = qfs::offline_change(media(drive), media_writer(drive), kPartition, {true, 0, 1});
        f["error"] = r.error;
        f["after"] = stat_text(r.after);
        auto view = qfs::view_after_replay(media(drive));
        f["mapped"] = holds(view, 0) + " " + holds(view, 2);
        qfs::FileStat disk;
        REQUIRE(fs.stat_on_disk(cpu, disk) == 0);
        f["reason"] = qfs::stale_reason(fs.file_in_memory(cpu), disk);
        // A second delete finds no file: nothing changes but the mount count.
        auto again = qfs::offline_change(media(drive), media_writer(drive), kPartition, {true, 0, 2});
        f["again"] = again.error;
    });
    REQUIRE(f["error"] == "");
    REQUIRE(f["after"] == "free g1 size 0 v0");
    REQUIRE(f["mapped"] == "hole hole");
    REQUIRE(f["reason"] == "gone: inode 34 is free");
    REQUIRE(f["again"] == "no file");
}

TEST_CASE("kernel file handles: name=value text in the image, revoked when the disk says the file changed", "[fs]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        Kernel& k = p.kernel();
        JournalFs fs(k, drv, 0, kPartition, true);
        REQUIRE(fs.mkfs(cpu, 64) == 0);
        REQUIRE(fs.mount(cpu) == 0);
        auto id = [](const qfs::FileStat& s) { return Kernel::FileId{qfs::kFilePath, s.ino, s.generation, s.size, s.version}; };
        const int h = k.open_file("writer", id(fs.file_in_memory(cpu)));
        fs.set_commit_hook([&](const qfs::FileStat& s) { k.file_committed(id(s)); });
        Kernel::FileOwner owner;
        owner.stat = [&](Cpu& c, const std::string&, Kernel::FileId& out, bool& exists) {
            qfs::FileStat s;
            if (int rc = fs.stat_on_disk(c, s)) return rc;
            out = id(s);
            exists = s.exists;
            return 0;
        };
        unsigned drops = 0;
        owner.drop = [&](Cpu& c) {
            ++drops;
            return fs.drop_stale(c);
        };
        k.set_file_owner(owner);
        REQUIRE(fs.write(cpu, 0, content(0, 1).data()) == 0);
        REQUIRE(fs.fsync(cpu) == 0);  // the commit tells the handle: v1, size 1
        std::string shown = k.files_text();  // one line: the opening time as T
        const size_t at = shown.find("opened=") + 7;
        shown.replace(at, shown.find('\n', at) - at, "T");
        for (auto& c : shown)
            if (c == '\n') c = '|';
        f["text"] = shown;
        // Nothing changed on the disk: the handle stays.
        const unsigned none = k.revalidate_files(cpu);
        f["valid"] = fmt::format("{} {}", none, k.use_file(h));
        // The text parses back; a name the kernel does not know is refused.
        std::string text = k.files_text();
        StateReader r(nullptr, 0, "file-handles");
        k.parse_files_text(text, r);
        f["round trip"] = k.files_text() == text ? "yes" : "no";
        try {
            k.parse_files_text("file.1.colour=blue\n", r);
            f["bad"] = "accepted";
        } catch (const StateError& e) {
            f["bad"] = "refused";
        }
        k.parse_files_text(text, r);
        // Another OS writes the file: the next revalidation revokes the handle and drops the stale state.
        REQUIRE(drv.flush(cpu) == 0);
        qfs::offline_change(media(drive), media_writer(drive), kPartition, {false, 1, 7});
        const unsigned revoked = k.revalidate_files(cpu);
        const int use = k.use_file(h);
        f["revoked"] = fmt::format("{} {} {}", revoked, use, drops);
    });
    REQUIRE(f["text"] ==
            "file.1.task=writer|file.1.path=/data|file.1.ino=34|file.1.generation=0|file.1.size=1|file.1.version=1|"
            "file.1.opened=T|file.1.revoked=0|");
    REQUIRE(f["valid"] == "0 0");
    REQUIRE(f["round trip"] == "yes");
    REQUIRE(f["bad"] == "refused");
    REQUIRE(f["revoked"] == "1 -9 1");
}

// fs.foreign-change-lost on its own: another OS changes the file under a
// kernel that slept with it mounted; the kernel goes on either with what it
// held from before (its page cache and metadata) or after drop_stale.
namespace {
// `remove`: delete, else write file block 0. `drop`: the kernel reads the
// filesystem again before going on. `rewrite`: it then writes file block 0
// itself (after the change: its hash is one written since). The reasons the
// check gives, "; "-joined ("" when it is quiet).
std::string foreign_lost(bool remove, bool drop, bool rewrite = false) {
    Facts f = on_disk([&](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive& drive, Facts& f) {
        JournalFs fs(p.kernel(), drv, 0, kPartition, true);
        REQUIRE(fs.mkfs(cpu, 64) == 0);
        REQUIRE(fs.mount(cpu) == 0);
        for (uint64_t b = 0; b < 3; ++b) REQUIRE(fs.write(cpu, b, content(b, 1).data()) == 0);
        REQUIRE(fs.fsync(cpu) == 0);
        // The state the machine slept with: block 0 rewritten, not yet written back or committed.
        REQUIRE(fs.write(cpu, 0, content(0, 2).data()) == 0);
        REQUIRE(drv.flush(cpu) == 0);
        auto r = qfs::offline_change(media(drive), media_writer(drive), kPartition, {remove, 0, 4242});
        REQUIRE(r.error == "");
        const ForeignChange c = foreign_change_of(qfs::view_after_replay(media(drive)), remove, 0, 1);
        std::set<uint64_t> since;
        if (drop) REQUIRE(fs.drop_stale(cpu) == 0);
        if (rewrite) {
            auto d = content(0, 3);
            REQUIRE(fs.write(cpu, 0, d.data()) == 0);
            since.insert(content_hash(d.data(), d.size()));
        }
        // The kernel's next commits: the flusher's pass in the superblock,
        // sync, and the checkpoint that writes the metadata home (until then
        // a mount would not replay the stale kernel's transactions: the other
        // OS left the journal empty).
        fs.note_pass(cpu, 9, 9);
        REQUIRE(fs.sync(cpu) == 0);
        REQUIRE(fs.checkpoint(cpu) == 0);
        REQUIRE(drv.flush(cpu) == 0);
        std::string all;
        for (const auto& l : foreign_change_lost(c, qfs::view_after_replay(media(drive)), since))
            all += (all.empty() ? "" : "; ") + l;
        f["lost"] = all;
    });
    return f["lost"];
}
}  // namespace

TEST_CASE("fs.foreign-change-lost: a kernel that kept its cache and metadata writes them back over another OS's "
          "change, one that read the disk again does not",
          "[fs][check]") {
    SECTION("delete, the metadata kept: the file is back") {
        const std::string lost = foreign_lost(true, false);
        INFO(lost);
        CHECK(lost.find("inode 34 is a file at generation 0, the other OS left it free with generation 1") !=
              std::string::npos);
        CHECK(lost.find("the superblock's mount count is 1, the other OS left 2") != std::string::npos);
    }
    SECTION("delete, dropped and read again: quiet") { CHECK(foreign_lost(true, true) == ""); }
    SECTION("write, the dirty page kept: written back over the other OS's block") {
        const std::string lost = foreign_lost(false, false);
        INFO(lost);
        CHECK(lost.find("file block 0 (block") != std::string::npos);
        CHECK(lost.find("holds neither what the other OS wrote") != std::string::npos);
    }
    SECTION("write, dropped and read again: quiet") { CHECK(foreign_lost(false, true) == ""); }
    SECTION("write, dropped, then the block written anew by this kernel: quiet") {
        CHECK(foreign_lost(false, true, true) == "");
    }
}

TEST_CASE("fs.foreign-change-lost: each way back from the other OS's result is named, what goes on from it is not",
          "[fs][check]") {
    // A hand-made filesystem view: the superblock, the inode and a one-block map.
    auto view = [](bool exists, uint64_t generation, uint64_t size, uint64_t version, uint64_t mounts,
                   uint64_t block0, uint64_t data_tag) {
        auto blocks = std::make_shared<std::map<uint64_t, std::vector<uint8_t>>>();
        auto put = [&](uint64_t b, unsigned off, uint64_t v) {
            auto& d = (*blocks)[b];
            d.resize(qfs::kBlock);
            std::memcpy(d.data() + off, &v, 8);
        };
        put(qfs::kSuper, 0, qfs::kSuperMagic);
        put(qfs::kSuper, qfs::kSuperMounts, mounts);
        put(qfs::kSuper, qfs::kSuperFileBlocks, 4);
        put(qfs::kInode, 0, exists ? qfs::kInodeMagic : 0);
        put(qfs::kInode, qfs::kInodeGeneration, generation);
        put(qfs::kInode, qfs::kInodeSize, size);
        put(qfs::kInode, qfs::kInodeWrites, version);
        put(qfs::kMapFirst, 0, block0);
        if (block0) put(block0, 0, data_tag);
        qfs::FileView v;
        v.formatted = true;
        v.map = {block0, 0, 0, 0};
        v.read = [blocks](uint64_t b) {
            auto it = blocks->find(b);
            return it != blocks->end() ? it->second : std::vector<uint8_t>(qfs::kBlock, 0);
        };
        return v;
    };
    auto hash_of = [](const qfs::FileView& v) {
        auto d = v.read(v.map[0]);
        return content_hash(d.data(), d.size());
    };
    // The other OS wrote file block 0 (into block 100, tag 7): generation 3, size 2, version 5, mounts 4.
    const ForeignChange wrote = foreign_change_of(view(true, 3, 2, 5, 4, 100, 7), false, 0, 1);
    const std::set<uint64_t> none;
    CHECK(foreign_change_lost(wrote, view(true, 3, 2, 5, 4, 100, 7), none).empty());
    CHECK(foreign_change_lost(wrote, view(true, 4, 0, 0, 5, 0, 0), none).empty());  // a later file: on top of it
    CHECK(foreign_change_lost(wrote, view(true, 3, 3, 6, 5, 100, 7), none).empty());  // grown, counted on
    CHECK(foreign_change_lost(wrote, view(true, 2, 2, 5, 4, 100, 7), none).size() == 1);  // an older generation
    CHECK(foreign_change_lost(wrote, view(true, 3, 2, 4, 4, 100, 7), none).size() == 1);  // the counter back
    CHECK(foreign_change_lost(wrote, view(true, 3, 1, 5, 4, 100, 7), none).size() == 1);  // the size back
    CHECK(foreign_change_lost(wrote, view(true, 3, 2, 5, 3, 100, 7), none).size() == 1);  // the mount undone
    CHECK(foreign_change_lost(wrote, view(true, 3, 2, 5, 4, 0, 0), none).size() == 1);  // a hole again
    const qfs::FileView other = view(true, 3, 2, 6, 4, 100, 8);  // block 0 holds something else
    CHECK(foreign_change_lost(wrote, other, none).size() == 1);
    CHECK(foreign_change_lost(wrote, other, {hash_of(other)}).empty());  // ... written since by this kernel
    // The other OS deleted it: inode free at generation 4.
    const ForeignChange deleted = foreign_change_of(view(false, 4, 0, 0, 5, 0, 0), true, 0, 1);
    CHECK(foreign_change_lost(deleted, view(false, 4, 0, 0, 5, 0, 0), none).empty());
    CHECK(foreign_change_lost(deleted, view(true, 4, 1, 1, 5, 101, 9), none).empty());  // a new file in its place
    CHECK(foreign_change_lost(deleted, view(true, 3, 2, 5, 5, 100, 7), none).size() == 1);  // the old one back
    CHECK(foreign_change_lost(deleted, view(false, 4, 0, 0, 5, 100, 7), none).size() == 1);  // its map back
    qfs::FileView blank = view(false, 4, 0, 0, 5, 0, 0);
    blank.formatted = false;
    CHECK(foreign_change_lost(deleted, blank, none) == std::vector<std::string>{"no filesystem on the disk"});
}
