// A forked child's heap of its own: malloc and the rest defined here, glibc's until enter().
#include "sim/core/heap_arena.h"

#include <dlfcn.h>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__)
#define QUIESCE_HEAP_ARENA 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QUIESCE_HEAP_ARENA 0
#endif
#endif
#ifndef QUIESCE_HEAP_ARENA
#define QUIESCE_HEAP_ARENA 1
#endif

namespace quiesce::heap_arena {
bool huge_pages_off() {
    const char* off = ::getenv("QUIESCE_ARENA_HUGE_PAGES");
    return off && std::strcmp(off, "0") == 0;
}
}  // namespace quiesce::heap_arena

#if QUIESCE_HEAP_ARENA

// glibc's own entry points (exported, not declared in its headers).
extern "C" {
void* __libc_malloc(size_t);
void __libc_free(void*);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void* __libc_valloc(size_t);
void* __libc_pvalloc(size_t);
}

namespace {

// Chunks are packed one after another as they are asked for, each an
// 8-byte header (its size) before what it holds, so that what a child
// allocates lies on as few pages as it can; a freed chunk goes to the free
// list of its size class, which the next request of that class takes
// first. Sizes are rounded up to a class: by 16 bytes up to 1 KiB, then four
// classes a power of two.
constexpr size_t kRegion = size_t(64) << 30;     // address space reserved by each enter()
constexpr size_t kCommit = size_t(2) << 20;      // made readable and writable at a time
constexpr size_t kHuge = size_t(1) << 20;        // a freed chunk this big gives its pages back
constexpr int kClasses = 64 + 30 * 4;
constexpr int kGenerations = 16;                 // regions inherited from ancestors, at most
constexpr uint64_t kInner = 1;                   // a header's flag: an aligned pointer inside a chunk

struct Free {
    Free* next;
};

struct Region {
    char* base;
    bool holds(const void* p) const {
        return base && static_cast<const char*>(p) >= base && static_cast<const char*>(p) < base + kRegion;
    }
};

// All of it zero-initialised: usable before any constructor has run.
struct Arena {
    bool active;
    Region mine;                       // this process's region (its own since its enter())
    Region older[kGenerations];        // ancestors' regions, foreign here
    int nolder;
    char* top;                         // the next chunk's header; 8 past a multiple of 16
    char* committed;                   // readable and writable up to here
    Free* free_[kClasses];
};
Arena g;
bool g_huge;                           // new commits in transparent huge pages (prefer_huge_pages)
size_t (*glibc_usable)(void*);
size_t page;

__attribute__((constructor)) void find_glibc_usable() {
    glibc_usable = reinterpret_cast<size_t (*)(void*)>(::dlsym(RTLD_NEXT, "malloc_usable_size"));
    page = size_t(::getpagesize());
}

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// A block of glibc's this big from calloc or realloc (malloc's take
// big_block, below) is asked to take huge pages where whole 2 MiB of it
// lie (glibc maps it fresh, or it lies in fresh heap): glibc does this
// itself with the tunable glibc.malloc.hugetlb=1, which only the
// environment of a starting process can set.
constexpr size_t kHugeBlock = size_t(4) << 20;
void* huge_block(void* p, size_t n) {
    if (p && n >= kHugeBlock && !quiesce::heap_arena::huge_pages_off()) {
        const uintptr_t from = round_up(reinterpret_cast<uintptr_t>(p), kCommit);
        const uintptr_t to = (reinterpret_cast<uintptr_t>(p) + n) / kCommit * kCommit;
        if (to > from) ::madvise(reinterpret_cast<void*>(from), to - from, MADV_HUGEPAGE);
    }
    return p;
}

// glibc's heap (its main arena, grown by brk) advised to take huge pages as
// it grows (grow_main_heap_huge), checked at each allocation: the break
// when last advised (0: not asked), and the break when asked (nothing below
// it is advised).
uintptr_t g_main_end;
uintptr_t g_main_floor;

void advise_main_heap() {
    const uintptr_t end = reinterpret_cast<uintptr_t>(::sbrk(0)) / page * page;
    if (end <= g_main_end) return;
    // From the start of the 2 MiB block holding the last advice's end: the
    // advised ranges merge into one mapping, and a huge page fits wherever
    // whole 2 MiB of it lie.
    const uintptr_t block = g_main_end / kCommit * kCommit;
    const uintptr_t from = round_up(block > g_main_floor ? block : g_main_floor, page);
    if (end > from) ::madvise(reinterpret_cast<void*>(from), end - from, MADV_HUGEPAGE);
    g_main_end = end;
}

// A block of glibc's of 2 MiB or more asked for by malloc starts on a 2 MiB
// boundary, its size rounded up to a multiple of that, and is asked to take
// huge pages whole: SystemC's library zeroes a 3 MiB heap of its own
// (sc_temp_heap) while it loads, before main, which took 768 faults of a
// small page in every process that started (68% of quiesce's faults at
// start; docs/performance.md).
void* big_block(size_t n) {
    if (n < kCommit || quiesce::heap_arena::huge_pages_off()) return __libc_malloc(n);
    const size_t whole = round_up(n, kCommit);
    if (whole < n) return __libc_malloc(n);  // n near SIZE_MAX: glibc says no
    void* p = __libc_memalign(kCommit, whole);
    if (p) ::madvise(p, whole, MADV_HUGEPAGE);
    return p;
}

// A chunk's size (header included, a multiple of 16) by its class, and back.
int class_of(size_t total) {
    if (total <= 1024) return int(total / 16) - 1;
    const int p = 63 - __builtin_clzll((unsigned long long)(total - 1));  // total in (2^p, 2^(p+1)]
    return 64 + (p - 10) * 4 + int((total - 1 - (size_t(1) << p)) >> (p - 2));
}
size_t class_size(int c) {
    if (c < 64) return size_t(c + 1) * 16;
    const int p = 10 + (c - 64) / 4;
    return (size_t(1) << p) + size_t((c - 64) % 4 + 1) * (size_t(1) << (p - 2));
}

uint64_t& header(const void* p) { return reinterpret_cast<uint64_t*>(const_cast<void*>(p))[-1]; }

// The chunk an aligned pointer lies in: what malloc handed out.
char* outer(const void* p) {
    const uint64_t h = header(p);
    return static_cast<char*>(const_cast<void*>(p)) - (h & kInner ? h & ~uint64_t(15) : 0);
}
size_t usable(const void* p) {
    const char* o = outer(p);
    return header(o) - 8 - size_t(static_cast<const char*>(p) - o);
}

// A chunk of `total` bytes off the top: fresh (zero) memory past its header;
// nullptr when the region is used up.
char* from_top(size_t total) {
    if (total > size_t(g.mine.base + kRegion - g.top)) return nullptr;
    char* c = g.top;
    // Mapped anew rather than unprotected: pages past the top are zero even
    // when a checkpoint's rollback (sim/core/checkpoint.h) protected again a
    // range it had made writable, leaving what was written in it.
    while (g.committed < c + total) {
        if (::mmap(g.committed, kCommit, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
            MAP_FAILED)
            return nullptr;
        if (g_huge) ::madvise(g.committed, kCommit, MADV_HUGEPAGE);
        g.committed += kCommit;
    }
    g.top = c + total;
    return c;
}

void* arena_alloc(size_t n, bool& fresh) {
    if (n > kRegion) {
        errno = ENOMEM;
        return nullptr;
    }
    const int c = class_of(round_up(n + 8, 16));
    if (Free* f = g.free_[c]) {
        g.free_[c] = f->next;
        fresh = false;
        return f;
    }
    const size_t total = class_size(c);
    char* chunk = from_top(total);
    if (!chunk) {
        errno = ENOMEM;
        return nullptr;
    }
    reinterpret_cast<uint64_t*>(chunk)[0] = total;
    fresh = true;
    return chunk + 8;
}

const Region* older_holding(const void* p) {
    for (int i = 0; i < g.nolder; ++i)
        if (g.older[i].holds(p)) return &g.older[i];
    return nullptr;
}

void arena_free(void* p) {
    char* o = outer(p);
    const size_t total = header(o);
    if (total >= kHuge) {  // its pages back, its addresses kept
        const uintptr_t from = round_up(reinterpret_cast<uintptr_t>(o) + sizeof(Free), page);
        const uintptr_t to = (reinterpret_cast<uintptr_t>(o) - 8 + total) / page * page;
        if (to > from) ::madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
    }
    Free* f = reinterpret_cast<Free*>(o);
    const int c = class_of(total);
    f->next = g.free_[c];
    g.free_[c] = f;
}

void* aligned(size_t align, size_t n) {
    if (!g.active) return __libc_memalign(align, n);
    bool fresh = false;
    if (align <= 16) return arena_alloc(n, fresh);
    if (n > kRegion || align > kRegion) {
        errno = ENOMEM;
        return nullptr;
    }
    char* o = static_cast<char*>(arena_alloc(n + align + 16, fresh));
    if (!o || reinterpret_cast<uintptr_t>(o) % align == 0) return o;
    char* p = reinterpret_cast<char*>(round_up(reinterpret_cast<uintptr_t>(o) + 16, align));
    header(p) = uint64_t(p - o) | kInner;
    return p;
}

}  // namespace

extern "C" {

void* malloc(size_t n) noexcept {
    if (!g.active) {
        void* p = big_block(n);
        if (g_main_end) advise_main_heap();
        return p;
    }
    bool fresh = false;
    return arena_alloc(n, fresh);
}

void free(void* p) noexcept {
    if (!p) return;
    if (g.mine.holds(p)) arena_free(p);
    else if (!g.active && !older_holding(p)) __libc_free(p);
    // Else a chunk of a parent's heap, glibc's or an arena's: left as it is.
}

void* calloc(size_t a, size_t b) noexcept {
    if (!g.active) {
        void* p = huge_block(__libc_calloc(a, b), a * b);
        if (g_main_end) advise_main_heap();
        return p;
    }
    size_t n = 0;
    if (__builtin_mul_overflow(a, b, &n)) {
        errno = ENOMEM;
        return nullptr;
    }
    bool fresh = false;
    void* p = arena_alloc(n, fresh);
    if (p && !fresh) std::memset(p, 0, n);
    return p;
}

size_t malloc_usable_size(void* p) noexcept {
    if (!p) return 0;
    if (g.mine.holds(p) || older_holding(p)) return usable(p);
    return glibc_usable ? glibc_usable(p) : 0;
}

void* realloc(void* p, size_t n) noexcept {
    if (!p) return malloc(n);
    if (n == 0) {
        free(p);
        return nullptr;
    }
    const bool mine = g.mine.holds(p);
    if (!g.active && !mine && !older_holding(p)) {
        void* q = huge_block(__libc_realloc(p, n), n);
        if (g_main_end) advise_main_heap();
        return q;
    }
    const size_t old = malloc_usable_size(p);
    // Kept where it is while it fits in no more than twice what it needs.
    if (mine && n <= old && n > old / 2) return p;
    void* q = malloc(n);
    if (!q) return nullptr;
    std::memcpy(q, p, n < old ? n : old);
    free(p);
    return q;
}

int posix_memalign(void** out, size_t align, size_t n) noexcept {
    if (align % sizeof(void*) || (align & (align - 1)) || !align) return EINVAL;
    void* p = aligned(align, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void* aligned_alloc(size_t align, size_t n) noexcept {
    if (!align || (align & (align - 1))) {
        errno = EINVAL;
        return nullptr;
    }
    return aligned(align, n);
}

void* memalign(size_t align, size_t n) noexcept {
    if (!g.active) return __libc_memalign(align, n);
    if (align & (align - 1))  // as glibc: up to a power of two
        align = size_t(1) << (64 - __builtin_clzll((unsigned long long)align));
    return aligned(align, n);
}

void* valloc(size_t n) noexcept {
    if (!g.active) return __libc_valloc(n);
    return aligned(page, n);
}

void* pvalloc(size_t n) noexcept {
    if (!g.active) return __libc_pvalloc(n);
    return aligned(page, round_up(n ? n : 1, page));
}

}  // extern "C"

namespace quiesce::heap_arena {

bool enter() {
    if (g.mine.base && g.nolder == kGenerations) return false;  // the inherited region goes on
    void* r = ::mmap(nullptr, kRegion + kCommit, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) return false;
    r = reinterpret_cast<void*>(round_up(reinterpret_cast<uintptr_t>(r), kCommit));
    g_huge = false;
    if (g.mine.base) g.older[g.nolder++] = g.mine;
    g.mine = {static_cast<char*>(r)};
    g.committed = g.mine.base;
    g.top = g.mine.base + 8;  // what each chunk holds starts at a multiple of 16
    std::memset(g.free_, 0, sizeof g.free_);
    g.active = true;
    return true;
}

void prefer_huge_pages() {
    if (!g.active || g_huge) return;
    if (huge_pages_off()) return;
    g_huge = true;
    // The commits made so far are mapped without the advice (and have pages
    // touched, so the kernel would back the rest with small pages): what
    // follows starts at the next commit, the rest of the last one left as
    // address space, never touched.
    g.top = g.committed + 8;
}

void leave() { g.active = false; }

void grow_main_heap_huge() {
    if (g_main_end || huge_pages_off()) return;
    // The break ahead of what is handed out by 32 MiB (glibc's default is
    // 128 KiB): a huge page is only given where whole 2 MiB of the advised
    // mapping lie, and the heap's last partial 2 MiB takes small pages.
    // Nothing given back at a free (glibc trims a free top of 128 KiB or
    // more by default): the next run's events would fault the same memory
    // in again. Chunks below 2 MiB from the heap, not a mapping each (the
    // threshold is fixed once these are set); from 2 MiB big_block's.
    ::mallopt(M_TOP_PAD, 32 << 20);
    ::mallopt(M_TRIM_THRESHOLD, INT32_MAX);
    ::mallopt(M_MMAP_THRESHOLD, int(kCommit));
    g_main_floor = reinterpret_cast<uintptr_t>(::sbrk(0));
    g_main_end = g_main_floor / page * page;
}

bool active() { return g.active; }

bool owns(const void* p) { return g.mine.holds(p); }

size_t used() { return g.active ? size_t(g.top - g.mine.base) : 0; }

}  // namespace quiesce::heap_arena

#else  // compiled out

namespace quiesce::heap_arena {
bool enter() { return false; }
void prefer_huge_pages() {}
void grow_main_heap_huge() {}
void leave() {}
bool active() { return false; }
bool owns(const void*) { return false; }
std::size_t used() { return 0; }
}  // namespace quiesce::heap_arena

#endif
