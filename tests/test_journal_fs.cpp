// The journaled filesystem on the real AHCI disk: ordered data before the
// journal, a flushed commit record, recovery of what was committed and
// nothing else, checkpoints, and nobarrier.
#include "bench_platform.h"

#include "models/disk/sata_drive.h"
#include "sim/kernel/journal_fs.h"

#include <fmt/format.h>

#include <map>
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
