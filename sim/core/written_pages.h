// Which pages of this process were written since a point: Linux's
// userfaultfd write-protection in asynchronous mode (UFFD_FEATURE_WP_ASYNC,
// Linux 6.7) read and re-armed by the PAGEMAP_SCAN ioctl of
// /proc/self/pagemap. The kernel resolves a write to a protected page by
// itself (no handler, no signal, no copy: the page is made writable and
// marked written), which is what soft-dirty tracking did on kernels built
// with CONFIG_MEM_SOFT_DIRTY - this machine's is not. Used by the in-process
// branching prototype (sim/core/checkpoint.h) and bench/bench_branch.cpp
// (docs/performance.md, "In-process branching").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace quiesce {

struct PageRun {  // [start, end): whole pages
    uintptr_t start = 0, end = 0;
    size_t pages() const;
};

class WrittenPages {
public:
    WrittenPages() = default;
    ~WrittenPages();
    WrittenPages(const WrittenPages&) = delete;
    WrittenPages& operator=(const WrittenPages&) = delete;

    // Opens the userfaultfd; false (and why in error()) when the kernel
    // lacks asynchronous write-protection or PAGEMAP_SCAN.
    bool open();
    const std::string& error() const { return error_; }
    // Tracks [start, start + len) (page aligned) from now on: registered
    // and write-protected, unpopulated pages included.
    bool track(uintptr_t start, size_t len);
    // Stops tracking [start, start + len) (before it is unmapped).
    void untrack(uintptr_t start, size_t len);
    // Appends the runs of pages in [start, end) written since they were last
    // protected; with `rearm`, protects them again in the same walk.
    bool written(uintptr_t start, uintptr_t end, bool rearm, std::vector<PageRun>& out);
    // Appends the runs of pages in [start, end) present in memory (for a
    // snapshot: what is not present reads back as zero or as its file).
    bool present(uintptr_t start, uintptr_t end, std::vector<PageRun>& out);
    // Write-protects [start, start + len) again.
    bool protect(uintptr_t start, size_t len);
    // One PAGEMAP_SCAN walk, allocating nothing (for code that runs while
    // memory is rolled back): up to `n` runs of {start, end, categories}
    // into `vec`; returns how many (-1 on error) and where the walk
    // stopped. The categories are Linux's PAGE_IS_* bits (below).
    long scan_raw(uintptr_t start, uintptr_t end, uint64_t flags, uint64_t inverted, uint64_t mask, uint64_t anyof,
                  uint64_t ret, uint64_t* vec, size_t n, uintptr_t& walk_end) const;
    static constexpr uint64_t kWpAllowed = 1 << 0, kWritten = 1 << 1, kPresent = 1 << 3, kSwapped = 1 << 4;
    static constexpr uint64_t kWpMatching = 1 << 0, kCheckWpAsync = 1 << 1;

private:
    bool scan(uintptr_t start, uintptr_t end, uint64_t flags, uint64_t category, std::vector<PageRun>& out);
    int uffd_ = -1;
    int pagemap_ = -1;
    std::string error_;
};

size_t page_size();

}  // namespace quiesce
