// The SystemC threads a process creates, seen through their stacks:
// SystemC 2.3.4's QuickThreads package maps every thread's stack with
// mmap (sc_cor_pkg_qt::create) and unmaps it when the thread object goes
// (~sc_cor_qt), both through the PLT. stack_probe.cpp defines mmap and
// munmap: linked into a benchmark (or preloaded, QUIESCE_STACK_PROBE) it
// sees every stack, counts them by size and, when asked, measures how deep
// each was used (the lowest non-zero word: a fresh anonymous page is zero).
#pragma once

#include <cstddef>
#include <cstdint>

namespace quiesce::bench {

struct StackClass {
    size_t len = 0;        // bytes mapped (the stack size, page-rounded)
    uint64_t created = 0;  // stacks of this size mapped so far
    size_t max_depth = 0;  // deepest use seen, bytes (with scanning on)
};

struct StackStats {
    uint64_t created = 0;
    size_t classes = 0;
    StackClass by_len[8];
};

// Measure each stack's depth as it is unmapped (costs a scan of it).
void stack_probe_scan(bool on);
// What this process mapped so far; with `scan_live`, the stacks still
// mapped are measured too.
StackStats stack_stats(bool scan_live);

}  // namespace quiesce::bench
