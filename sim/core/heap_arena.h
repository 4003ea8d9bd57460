// A heap of a forked child's own (issue 18; docs/performance.md, "A heap of
// the child's own"). The executable defines malloc, free and the rest of
// glibc's allocation functions; they forward to glibc's until enter(),
// which a forked child calls right after the fork (sim/scenario/
// fork_runner.cpp does, in every child of the pool). From then on the
// process allocates from a region of its own: chunks packed one after
// another, each freed one kept on the free list of its size class for the
// next request of that class. A chunk allocated before enter() - the
// parent's - is never written: free() leaves it as it is (glibc's
// bookkeeping stays on the parent's pages), realloc() copies out of it. A
// child of a child that entered enters a region of its own again; its
// parent's region is foreign to it as glibc's heap is.
//
// Single-threaded by design: a forked child has one thread, and none is
// started in one. Compiled out (enter() does nothing and returns false)
// under AddressSanitizer, which brings its own malloc. Under valgrind's
// memcheck none of this runs: valgrind replaces the executable's malloc too.
#pragma once

#include <cstddef>

namespace quiesce::heap_arena {

// Allocations from here on come from a region of this process's own. False
// (glibc's malloc kept) when compiled out, when the region cannot be mapped,
// or after too many nested enters (then the region inherited stays in use).
bool enter();
// From here on the region grows in 2 MiB transparent huge pages where the
// kernel has them (THP in madvise mode): a process about to allocate
// megabytes - a child that elaborates a platform - takes one fault per 2 MiB
// instead of one per 4 KiB page it touches, and a fork of it copies a page
// directory entry per 2 MiB, not 512 page table entries. A child forked at a
// pause, which touches a few fresh pages, does not call it: the kernel
// zeroes all of a huge page at its first touch. Nothing when not active, or
// when the environment sets QUIESCE_ARENA_HUGE_PAGES=0 (for measuring).
void prefer_huge_pages();
// glibc's heap (not a child's region) grows from here on in 2 MiB
// transparent huge pages, as glibc itself does with the tunable
// glibc.malloc.hugetlb=1 (which only a starting process's environment can
// set), and keeps what is freed rather than giving it back: for the parent
// of runs, which decodes each run's stream into events (a busy run's: a
// million, their texts and arguments in glibc's heap) and takes every page
// of them fresh, one fault of a zeroed 4 KiB page at a time, run after
// run. Only for a process that forks no runs itself (`quiesce run`: the
// runner forks them, sim/scenario/fork_runner.h): after a fork, each huge
// page the parent or the child writes is split and copied.
// Nothing when QUIESCE_ARENA_HUGE_PAGES=0 or compiled out.
void grow_main_heap_huge();
// Whether the environment sets QUIESCE_ARENA_HUGE_PAGES=0: no huge pages
// asked for anywhere (this heap's, glibc's big blocks, the executable's
// code: sim/core/code_pages.h), for measuring. Read at each call.
bool huge_pages_off();
// Back to glibc's malloc for new allocations (the region's chunks are still
// freed into it): a forked child that goes on as a parent of runs, not as a
// run, calls it.
void leave();
// Whether allocations come from this process's region now.
bool active();
// Whether `p` was allocated from this process's current region.
bool owns(const void* p);
// Bytes of the current region handed out from its top so far (0 when not
// active): what a child's heap has grown to.
std::size_t used();

}  // namespace quiesce::heap_arena
