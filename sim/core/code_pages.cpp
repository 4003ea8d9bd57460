// The executable's code moved into anonymous huge pages (code_pages.h).
#include "sim/core/code_pages.h"

#include "sim/core/heap_arena.h"

#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25  // Linux 6.1
#endif

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#if defined(__SANITIZE_ADDRESS__)
#define QUIESCE_CODE_PAGES 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QUIESCE_CODE_PAGES 0
#endif
#endif
#ifndef QUIESCE_CODE_PAGES
#define QUIESCE_CODE_PAGES 1
#endif

namespace quiesce {

namespace {

constexpr uintptr_t kHuge = uintptr_t(2) << 20;

bool env_off(const char* name) {
    const char* v = std::getenv(name);
    return v && std::strcmp(v, "0") == 0;
}

// Whether the kernel hands out transparent huge pages to a range advised so.
bool thp_advisable() {
    std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string line;
    if (!std::getline(f, line)) return false;
    return line.find("[madvise]") != std::string::npos || line.find("[always]") != std::string::npos;
}

// How much of the mapping holding `at` is in huge pages, in KiB.
size_t huge_kb(uintptr_t at) {
    std::ifstream in("/proc/self/smaps");
    bool inside = false;
    for (std::string line; std::getline(in, line);) {
        unsigned long a = 0, b = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx ", &a, &b) == 2 && line.find(':') > line.find(' ')) {
            if (inside) break;
            inside = at >= a && at < b;
            continue;
        }
        if (inside && line.rfind("AnonHugePages:", 0) == 0) return std::strtoul(line.c_str() + 14, nullptr, 10);
    }
    return 0;
}

struct Segment {
    uintptr_t start = 0, end = 0;  // the executable's code, as loaded
    uintptr_t next = 0;            // where the executable's next segment starts (0: none)
};

// The main program's executable PT_LOAD segment: the first object
// dl_iterate_phdr reports is the program itself.
Segment code_segment() {
    Segment s;
    ::dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* out) -> int {
            auto* seg = static_cast<Segment*>(out);
            for (int i = 0; i < info->dlpi_phnum; ++i) {
                const ElfW(Phdr)& ph = info->dlpi_phdr[i];
                if (ph.p_type != PT_LOAD) continue;
                const uintptr_t at = info->dlpi_addr + ph.p_vaddr;
                if ((ph.p_flags & PF_X) && !seg->start) {
                    seg->start = at;
                    seg->end = at + ph.p_memsz;
                } else if (seg->start && at >= seg->end && (!seg->next || at < seg->next)) {
                    seg->next = at;
                }
            }
            return 1;  // the program only
        },
        &s);
    return s;
}

size_t move_code() {
    if (!code_pages_wanted()) return 0;
    const Segment seg = code_segment();
    if (!seg.start) return 0;
    const uintptr_t page = uintptr_t(::getpagesize());
    const uintptr_t from = (seg.start + kHuge - 1) & ~(kHuge - 1);
    const uintptr_t code_end = (seg.end + page - 1) & ~(page - 1);
    // The last 2 MiB the code reaches into, whole, when the rest of it is a
    // gap before the next segment (a layout aligned to 2 MiB leaves one):
    // mapped there, past the code, zeroes nothing reads.
    uintptr_t to = code_end & ~(kHuge - 1);
    const uintptr_t tail = (code_end + kHuge - 1) & ~(kHuge - 1);
    if (tail > to && (!seg.next || tail <= seg.next)) {
        void* gap = ::mmap(reinterpret_cast<void*>(code_end), tail - code_end, PROT_NONE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (gap == reinterpret_cast<void*>(code_end)) to = tail;  // free: taken until the move
        else if (gap != MAP_FAILED) ::munmap(gap, tail - code_end);
    }
    if (to <= from) return 0;
    const size_t len = to - from;
    void* raw = ::mmap(nullptr, len + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return 0;
    char* copy = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(raw) + kHuge - 1) & ~(kHuge - 1));
    const uintptr_t raw_end = reinterpret_cast<uintptr_t>(raw) + len + kHuge;
    if (copy != raw) ::munmap(raw, size_t(copy - static_cast<char*>(raw)));
    if (raw_end > reinterpret_cast<uintptr_t>(copy) + len)
        ::munmap(copy + len, raw_end - (reinterpret_cast<uintptr_t>(copy) + len));
    bool ok = ::madvise(copy, len, MADV_HUGEPAGE) == 0;
    const uintptr_t copied_to = code_end < to ? code_end : to;
    std::memcpy(copy, reinterpret_cast<const void*>(from), copied_to - from);
    // In huge pages or not at all: in small ones, a fork would copy 512
    // entries per 2 MiB and a virtual machine with shadow page tables would
    // still exit on the child's first touch of each page (docs/performance.md).
    if (huge_kb(reinterpret_cast<uintptr_t>(copy)) < len / 1024 &&
        (::madvise(copy, len, MADV_COLLAPSE) != 0 || huge_kb(reinterpret_cast<uintptr_t>(copy)) < len / 1024))
        ok = false;
    if (!ok || ::mprotect(copy, len, PROT_READ | PROT_EXEC) != 0 ||
        ::mremap(copy, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, reinterpret_cast<void*>(from)) == MAP_FAILED) {
        ::munmap(copy, len);
        if (to > code_end) ::munmap(reinterpret_cast<void*>(code_end), to - code_end);
        return 0;
    }
    return len;
}

}  // namespace

bool code_pages_wanted() {
    return QUIESCE_CODE_PAGES && !heap_arena::huge_pages_off() && !env_off("QUIESCE_CODE_HUGE_PAGES") &&
           thp_advisable();
}

size_t code_in_huge_pages() {
#if QUIESCE_CODE_PAGES
    static const size_t moved = move_code();
    return moved;
#else
    return 0;
#endif
}

}  // namespace quiesce
