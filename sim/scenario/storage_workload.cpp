// The storage workload: the root filesystem, the writer, flusher, toucher, updater and stuck tasks.
#include "sim/scenario/storage_workload.h"
#include "sim/core/sync.h"

#include "sim/core/errors.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <set>

namespace quiesce {

namespace {
// A task's own variables (what Linux keeps on its stack and in its
// task_struct), registered with the kernel's image state: a restore from
// hibernation brings them back as they were at the snapshot.
struct TaskVars {
    uint64_t n = 0;
    Rng rng;
    std::vector<uint64_t> words;
};
std::shared_ptr<TaskVars> task_vars(Kernel& k, const std::string& task, Rng rng = Rng(0), size_t words = 0) {
    auto v = std::make_shared<TaskVars>();
    v->rng = rng;
    v->words.assign(words, 0);
    k.image_state().add(
        "task " + task,
        [v](StateWriter& w) {
            w.u64(v->n);
            w.u64(v->rng.seed_state());
            w.u64s(v->words);
        },
        [v](StateReader& r) {
            const uint64_t n = r.u64(), rng = r.u64();
            std::vector<uint64_t> words = r.u64s();
            if (words.size() != v->words.size()) r.fail(fmt::format("{} words, the task has {}", words.size(), v->words.size()));
            v->n = n;
            v->rng = Rng(rng);
            std::copy(words.begin(), words.end(), v->words.begin());  // in place: the task may hold a reference
        });
    return v;
}
}  // namespace

void StorageWorkloadRun::start() {
    Platform::Disk disk = platform_.disk();
    const StorageWorkload& w = s_.storage;
    if (!disk.driver) return;
    Kernel& k = platform_.kernel();
    if (w.writer_blocks) start_writer();
    if (w.toucher_pages) start_toucher();
    if (w.updater) {
        // A transfer between two accounts in one page of memory: debit, then
        // credit, a little work in between. Freeze points only between
        // transfers: a frozen updater is never caught in the middle.
        uint64_t accounts = k.alloc(PageCache::kBlockSize, PageCache::kBlockSize);
        ++pending_;
        auto vars = task_vars(k, "updater");
        k.spawn("updater", Task::Kind::User, true, 0, [this, accounts, &w, vars](Task& t) {
            uint64_t& n = vars->n;
            for (; !t.should_stop() && (!w.ops || n < w.ops); ++n) {
                t.begin_update("transfer " + std::to_string(n));
                t.cpu().write64(accounts, t.cpu().read64(accounts) - 10);
                quiesce::wait(from_ps(200'000'000ULL));  // 200 us of work, not interruptible by the freezer
                t.cpu().write64(accounts + 8, t.cpu().read64(accounts + 8) + 10);
                t.end_update();
                t.sleep_freezable(50'000'000ULL);
            }
            if (w.ops && n == w.ops) {
                uint64_t balances[2] = {t.cpu().read64(accounts), t.cpu().read64(accounts + 8)};
                result("updater", n, content_hash(reinterpret_cast<const uint8_t*>(balances), sizeof balances));
            }
        });
    }
    if (w.skip_sleeper != "none") {
        // A poller that sleeps outside the freezer's count (the old
        // freezable_schedule pattern). The correct one calls freezer_count()
        // as soon as it wakes; the buggy one polls its device first.
        bool buggy = w.skip_sleeper == "buggy";
        uint64_t status = k.alloc(64, 64);
        auto vars = task_vars(k, "poller");
        k.spawn("poller", Task::Kind::User, true, 0, [buggy, status, vars](Task& t) {
            for (uint64_t& n = vars->n; !t.should_stop(); ++n) {
                t.freezer_do_not_count();
                quiesce::wait(from_ps(1'000'000'000ULL));  // 1 ms
                if (!buggy) t.freezer_count();
                t.cpu().compute(Cycles(1'000));
                t.cpu().write64(status, n);  // the poll result
                if (buggy) t.freezer_count();
            }
        });
    }
    if (w.stuck_task) {
        // Uninterruptible sleep (D state) in the kernel, e.g. on a dead NFS
        // server: no freeze point for 60 s, and khungtaskd sees the wait.
        k.spawn("stuck", Task::Kind::User, true, 0, [](Task& t) {
            while (!t.should_stop()) {
                t.try_to_freeze();
                t.cpu().compute(Cycles(1'000));
                t.kernel().sleep(60'000'000'000'000ULL, "an NFS server that does not answer");
            }
        });
    }
    quiesce::wait(from_ps(w.suspend_after));
}

void StorageWorkloadRun::fresh_boot() {
    retire_into(retired_, fs_);
    retire_into(retired_, anon_);
    retire_into(retired_, swap_);
    pending_ = 0;
    disk_gone_ = false;
    ++fresh_boots_;
}

Rng StorageWorkloadRun::task_rng(const std::string& task) const {
    uint64_t h = s_.seed;
    for (char c : task) h = h * 1099511628211ULL ^ uint8_t(c);
    return Rng(h);
}

void StorageWorkloadRun::result(const std::string& task, uint64_t ops, uint64_t digest) {
    ctx_.hub.instant(platform_.kernel().path(), "task-result", "workload",
                     {{"task", task}, {"ops", std::to_string(ops)}, {"digest", fmt::format("{:016x}", digest)}});
    if (pending_) --pending_;
    quiesce::notify(results_ev_, sc_core::SC_ZERO_TIME);
}

bool StorageWorkloadRun::wait_results(Picos timeout) {
    const Picos end = now_ps() + timeout;
    while (pending_ && now_ps() < end) platform_.kernel().wait_event(results_ev_, end - now_ps(), "task results");
    return pending_ == 0;
}

// The file writer (block after block, fsync - or fdatasync - every `fsync_every` writes)
// through the journaled filesystem on the root partition, and the flusher.
void StorageWorkloadRun::start_writer() {
    Platform::Disk disk = platform_.disk();
    Kernel& k = platform_.kernel();
    Cpu& cpu = k.boot_cpu();
    const StorageWorkload& w = s_.storage;
    uint64_t spb = PageCache::kBlockSize / disk.driver->sector_size();
    fs_ = std::make_unique<JournalFs>(k, *disk.driver, 0, disk.root_sectors / spb, w.barrier);
    // Boot mounts the root filesystem; a blank disk is formatted first.
    int rc = fs_->mount(cpu);
    if (rc == -EINVAL) {
        if (fs_->mkfs(cpu, w.writer_blocks) == 0) rc = fs_->mount(cpu);
    }
    if (rc != 0) {
        ctx_.hub.guest_error(k.path(), "mount", "the root filesystem did not mount", {{"rc", std::to_string(rc)}});
        fs_.reset();
        return;
    }
    if (fresh_boots_)  // a later boot's mount: what the journal replay found
        ctx_.hub.instant(k.path(), "mount-root", "boot",
                         {{"device", disk.name}, {"replayed", std::to_string(fs_->replayed())},
                          {"mount_count", std::to_string(fs_->mount_count())}});
    if (check_) check_->watch_fs(fs_.get());
    const uint64_t blocks = fs_->layout().file_blocks;

    ++pending_;
    auto vars = task_vars(k, "writer", task_rng("writer"));
    // [workload] file_handle: the writer's open file is a handle in the
    // kernel's table (open(2) right after the mount), which the filesystem
    // keeps told of each commit of the inode and galibert-s4 revalidates
    // against the disk after a restore.
    int file = 0;
    if (w.file_handle) {
        JournalFs* fs = fs_.get();
        auto id = [](const qfs::FileStat& st) {
            return Kernel::FileId{qfs::kFilePath, st.ino, st.generation, st.size, st.version};
        };
        file = k.open_file("writer", id(fs->file_in_memory(cpu)));
        fs->set_commit_hook([&k, id](const qfs::FileStat& st) { k.file_committed(id(st)); });
        Kernel::FileOwner owner;
        owner.stat = [fs, id](Cpu& c, const std::string& path, Kernel::FileId& out, bool& exists) {
            qfs::FileStat st;
            if (path != qfs::kFilePath) return -2;  // -ENOENT: the filesystem has one file
            if (int rc = fs->stat_on_disk(c, st)) return rc;
            out = id(st);
            exists = st.exists;
            return 0;
        };
        // file_revoke_drop = false: a filesystem whose revoke takes the
        // handles away and keeps what it holds of the changed file.
        if (w.file_revoke_drop) owner.drop = [fs](Cpu& c) { return fs->drop_stale(c); };
        k.set_file_owner(std::move(owner));
    }
    k.spawn("writer", Task::Kind::User, true, 1, [this, blocks, &w, vars, file](Task& t) {
        std::vector<uint8_t> buf(PageCache::kBlockSize);
        Rng& rng = vars->rng;
        uint64_t& seq = vars->n;
        for (; !t.should_stop() && (!w.ops || seq < w.ops); ++seq) {
            if (file && t.kernel().use_file(file) != 0) {  // revoked: EBADF, and the writer gives up
                ctx_.hub.instant(t.kernel().path(), "task-ebadf", "workload", {{"task", "writer"}, {"path", qfs::kFilePath}});
                return;
            }
            uint64_t block = seq % blocks;
            for (size_t i = 0; i < buf.size(); i += 8) {
                uint64_t v = rng.next();
                std::memcpy(&buf[i], &v, 8);
            }
            std::memcpy(&buf[0], &block, 8);
            std::memcpy(&buf[8], &seq, 8);
            t.cpu().compute(Cycles(2'000));  // the write(2) path
            fs_->write(t.cpu(), block, buf.data());
            if (w.fsync_every && (seq + 1) % w.fsync_every == 0) {
                int rc = w.fdatasync ? fs_->fdatasync(t.cpu()) : fs_->fsync(t.cpu());
                ctx_.hub.instant(platform_.kernel().path(), w.fdatasync ? "fdatasync" : "fsync", "workload",
                                 {{"rc", std::to_string(rc)}});
                // The file's disk is gone (a USB disk disconnected across the
                // suspend): what the application sees differs from a run
                // without one, and it says so - not a silent loss.
                // A person took the disk out while the machine slept
                // (usb-unplug, usb-swap): the error is the truth, told to
                // the application - recorded, not a divergence.
                if (rc == -ENODEV && !disk_gone_ && platform_.disk_removed(platform_.disk().name)) {
                    disk_gone_ = true;
                    ctx_.hub.instant(platform_.kernel().path(), "task-io-error", "workload",
                                     {{"task", "writer"}, {"call", w.fdatasync ? "fdatasync" : "fsync"},
                                      {"rc", std::to_string(rc)}, {"reason", "the disk was unplugged"}});
                }
                if (rc == -ENODEV && !disk_gone_) {
                    disk_gone_ = true;
                    ctx_.hub.guest_error(platform_.kernel().path(), "transparency.diverged",
                                         fmt::format("writer: {} failed with -ENODEV: the filesystem's disk is gone",
                                                     w.fdatasync ? "fdatasync" : "fsync"),
                                         {{"task", "writer"}, {"rc", std::to_string(rc)}});
                }
            }
            t.sleep_freezable(w.writer_period);
        }
        if (w.ops && seq == w.ops) {  // what the application sees: the file read back
            fs_->fsync(t.cpu());
            uint64_t digest = 0;
            for (uint64_t b = 0; b < std::min<uint64_t>(seq, blocks); ++b) {
                fs_->read(t.cpu(), b, buf.data());
                digest = digest * 31 + content_hash(buf.data(), buf.size());
            }
            result("writer", seq, digest);
        }
    });
    // The filesystem's kernel threads. The writeback flusher writes dirty
    // data home every flusher_period (no flush: that waits for a commit) and
    // records its pass in the superblock - metadata, which goes through the
    // journal. The journal thread (kjournald2) commits every commit_period.
    // Freezable ones sleep with wait_event_freezable; threads that are not
    // never reach a freeze point and keep writing while the image is made.
    auto fs_thread = [this, &w](const char* name, Picos period, std::function<void(Task&, uint64_t)> pass) {
        auto vars = task_vars(platform_.kernel(), name);
        vars->n = 1;
        platform_.kernel().spawn(name, Task::Kind::KThread, w.flusher_freezable, 0, [&w, period, pass, vars](Task& t) {
            for (uint64_t& n = vars->n; !t.should_stop(); ++n) {
                if (w.flusher_freezable) t.sleep_freezable(period);
                else quiesce::wait(from_ps(period));
                if (t.should_stop()) break;
                pass(t, n);
            }
        });
    };
    fs_thread("flusher", w.flusher_period, [this](Task& t, uint64_t n) {
        fs_->note_pass(t.cpu(), n, now_ps());
        fs_->cache().writeback_all(t.cpu());
    });
    fs_thread("jbd2", w.commit_period, [this](Task& t, uint64_t) { fs_->commit(t.cpu()); });
}

// The anonymous-memory toucher: more pages than it may keep in memory, so
// every few touches one goes out to swap. It checks each page holds what it
// last wrote there - as it always does without suspending: anything else is
// a result that a suspend changed (transparency.diverged).
void StorageWorkloadRun::start_toucher() {
    Platform::Disk disk = platform_.disk();
    Kernel& k = platform_.kernel();
    const StorageWorkload& w = s_.storage;
    swap_ = std::make_unique<SwapMap>(k, *disk.driver, disk.swap_first, disk.drive->sectors() - disk.swap_first);
    swap_->init(k.boot_cpu());
    anon_ = std::make_unique<AnonMemory>(k, *swap_, w.toucher_pages, w.toucher_resident);
    ++pending_;
    auto vars = task_vars(k, "toucher", task_rng("toucher"), w.toucher_pages);
    vars->n = 1;
    k.spawn("toucher", Task::Kind::User, true, 1, [this, &w, vars](Task& t) {
        std::vector<uint64_t>& expected = vars->words;
        Rng& rng = vars->rng;
        uint64_t& n = vars->n;
        for (; !t.should_stop() && (!w.ops || n <= w.ops); ++n) {
            uint64_t vpage = rng.uniform(0, w.toucher_pages - 1);
            uint64_t frame = 0;
            if (anon_->touch(t.cpu(), vpage, frame) == 0) {
                uint64_t got = t.cpu().read64(frame);
                if (got != expected[vpage])
                    ctx_.hub.guest_error(platform_.kernel().path(), "transparency.diverged",
                                         "toucher: anonymous page " + std::to_string(vpage) + " lost its contents",
                                         {{"task", "toucher"}, {"vpage", std::to_string(vpage)},
                                          {"expected", std::to_string(expected[vpage])}, {"got", std::to_string(got)}});
                t.cpu().write64(frame, n);
                expected[vpage] = n;
            }
            t.sleep_freezable(100'000'000ULL);  // 100 us
        }
        if (w.ops && n == uint64_t(w.ops) + 1) {  // what it sees: every page's first word
            uint64_t digest = 0;
            for (uint64_t vpage = 0; vpage < w.toucher_pages; ++vpage) {
                uint64_t frame = 0;
                uint64_t v = anon_->touch(t.cpu(), vpage, frame) == 0 ? t.cpu().read64(frame) : ~0ULL;
                digest = digest * 31 + v;
            }
            result("toucher", w.ops, digest);
        }
    });
}

}  // namespace quiesce
