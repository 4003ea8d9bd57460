// The storage workload of a run: the journaled filesystem on the first
// disk's root partition (mounted, or formatted when blank), a user task
// writing a file through it with fsync, the flusher kernel thread (journal
// commits and data writeback; freezable or not), optionally a task stuck in
// an uninterruptible wait, and the storage check fed by the filesystem.
#pragma once

#include "sim/check/storage_check.h"
#include "sim/kernel/journal_fs.h"
#include "sim/kernel/swap.h"
#include "sim/scenario/platform.h"

#include "sim/core/rng.h"

#include <systemc>

#include <memory>

namespace quiesce {

class StorageWorkloadRun {
public:
    // `check` (may be null) is told about the page cache for fs.cache-divergence.
    StorageWorkloadRun(Platform& platform, RunContext& ctx, StorageCheck* check, const Scenario& s)
        : platform_(platform), ctx_(ctx), check_(check), s_(s) {}

    bool active() const { return fs_ != nullptr; }
    // After boot: mounts the root filesystem of the first disk, spawns the
    // tasks and lets them run for `suspend_after`. Does nothing without a
    // disk; no writer with writer_blocks = 0.
    void start();
    int sync(Cpu& cpu) { return fs_ ? fs_->sync(cpu) : 0; }
    // With [workload] ops: waits until every task reported its result (or
    // `timeout`); true if all did.
    bool wait_results(Picos timeout);
    SwapMap* swap_map() { return swap_.get(); }
    // The kernel the tasks ran on is gone (a fresh boot): its filesystem,
    // swap map and anonymous memory are dropped - kept alive, never used
    // again - and start() mounts the disk anew (replaying its journal).
    void fresh_boot();

private:
    Platform& platform_;
    RunContext& ctx_;
    StorageCheck* check_;
    const Scenario& s_;
    std::unique_ptr<JournalFs> fs_;
    std::unique_ptr<SwapMap> swap_;
    std::unique_ptr<AnonMemory> anon_;
    void start_writer();
    void start_toucher();
    // A task's own generator: its data does not depend on how it interleaves with others.
    Rng task_rng(const std::string& task) const;
    // The task finished its ops: its digest as a "task-result" instant.
    void result(const std::string& task, uint64_t ops, uint64_t digest);
    unsigned pending_ = 0;
    sc_core::sc_event results_ev_;
    bool disk_gone_ = false;  // the writer reported its disk gone
    unsigned fresh_boots_ = 0;
    std::vector<std::shared_ptr<void>> retired_;  // earlier boots' (their killed tasks pointed at them)
};

}  // namespace quiesce
