// The executable's code in anonymous 2 MiB pages, for the forked children
// (issue 18 item 2; docs/performance.md, "The executable's code in huge
// pages").
//
// A fork does not copy the page tables of a file's mapping: each forked run
// takes a page fault per 64 KiB window of the executable's code it runs, and
// on a virtual machine with shadow page tables a hidden exit per page besides.
// Copied once into anonymous memory that takes transparent huge pages, the
// code is mapped by a page directory entry per 2 MiB that the fork copies:
// the child runs it without a fault.
#pragma once

#include <cstddef>

namespace quiesce {

// Moves the executable's code segment, where whole 2 MiB of it lie, into
// anonymous memory advised to take huge pages, at the same addresses and
// with the same bytes. Once per process (later calls return what the first
// did); the bytes moved, 0 when nothing was: THP not in `madvise` or
// `always` mode, a layout with no whole 2 MiB of code, a sanitizer build,
// or QUIESCE_ARENA_HUGE_PAGES=0 or QUIESCE_CODE_HUGE_PAGES=0 in the
// environment (`perf record -p`, attached after the move, names no
// function in anonymous code: profile with it off).
size_t code_in_huge_pages();
// Whether code_in_huge_pages() would try now: not a sanitizer build, not
// turned off by the environment, THP in `madvise` or `always` mode.
bool code_pages_wanted();

}  // namespace quiesce
