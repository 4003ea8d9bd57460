// The storage workload of a run: a page cache over the first disk's root
// partition, a user task writing a file through it with fsync, the writeback
// flusher kernel thread (freezable or not), optionally a task stuck in an
// uninterruptible wait, and the storage check fed by the page cache.
#pragma once

#include "sim/check/storage_check.h"
#include "sim/kernel/page_cache.h"
#include "sim/kernel/swap.h"
#include "sim/scenario/platform.h"

#include <memory>

namespace quiesce {

class StorageWorkloadRun {
public:
    // `check` (may be null) is told about the page cache for fs.cache-divergence.
    StorageWorkloadRun(Platform& platform, RunContext& ctx, StorageCheck* check, const Scenario& s)
        : platform_(platform), ctx_(ctx), check_(check), s_(s) {}

    bool active() const { return cache_ != nullptr; }
    // After boot: builds the page cache on the first disk's root partition,
    // spawns the tasks and lets them run for `suspend_after`. Does nothing
    // without a disk or with writer_blocks = 0.
    void start();
    int sync(Cpu& cpu) { return cache_ ? cache_->sync(cpu) : 0; }
    SwapMap* swap_map() { return swap_.get(); }

private:
    Platform& platform_;
    RunContext& ctx_;
    StorageCheck* check_;
    const Scenario& s_;
    std::unique_ptr<PageCache> cache_;
    std::unique_ptr<SwapMap> swap_;
    std::unique_ptr<AnonMemory> anon_;
    void start_writer();
    void start_toucher();
};

}  // namespace quiesce
