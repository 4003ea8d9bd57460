// See stack_probe.h. Built into the benchmarks, and as libstack_probe.so for
// LD_PRELOAD (STACK_PROBE_PRELOAD): there each process that mapped stacks
// appends one line to the file $QUIESCE_STACK_PROBE when it ends - `quiesce
// run` of the regression suite under it gives the deepest use of every
// stack size over every scenario:
//   pid 1234 stacks 71 262144:71:23456
// (size:count:deepest bytes).
#include "bench/stack_probe.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kMaxLive = 16384;

struct Live {
    uintptr_t base;
    size_t len;
};
Live live[kMaxLive];
size_t n_live = 0;
quiesce::bench::StackStats stats;
bool scanning = false;

// A SystemC stack as mapped: anonymous, private, read-write, at least 16 KiB
// (malloc maps its large blocks through glibc's internal mmap, not this one).
bool is_stack(size_t len, int prot, int flags, int fd) {
    return fd == -1 && (flags & MAP_ANONYMOUS) && (flags & MAP_PRIVATE) && prot == (PROT_READ | PROT_WRITE) &&
           len >= 16384;
}

quiesce::bench::StackClass& class_of(size_t len) {
    for (size_t i = 0; i < stats.classes; ++i)
        if (stats.by_len[i].len == len) return stats.by_len[i];
    size_t i = stats.classes < 8 ? stats.classes++ : 7;
    stats.by_len[i] = {len, 0, 0};
    return stats.by_len[i];
}

// Bytes used from the top: the stack grows down, its lowest page is
// SystemC's guard (PROT_NONE while the thread lives).
void measure(const Live& s) {
    size_t depth = 0;
    for (uintptr_t p = s.base + kPage; p < s.base + s.len; p += sizeof(uint64_t))
        if (*reinterpret_cast<const uint64_t*>(p)) {
            depth = s.base + s.len - p;
            break;
        }
    auto& c = class_of(s.len);
    if (depth > c.max_depth) c.max_depth = depth;
}

}  // namespace

extern "C" void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
    void* p = reinterpret_cast<void*>(syscall(SYS_mmap, addr, len, prot, flags, fd, off));
    if (p != MAP_FAILED && is_stack(len, prot, flags, fd)) {
        ++stats.created;
        ++class_of(len).created;
        if (n_live < kMaxLive) live[n_live++] = {reinterpret_cast<uintptr_t>(p), len};
    }
    return p;
}

extern "C" int munmap(void* addr, size_t len) {
    for (size_t i = 0; i < n_live; ++i)
        if (live[i].base == reinterpret_cast<uintptr_t>(addr)) {
            if (scanning) measure(live[i]);
            live[i] = live[--n_live];
            break;
        }
    return int(syscall(SYS_munmap, addr, len));
}

namespace quiesce::bench {

void stack_probe_scan(bool on) { scanning = on; }

StackStats stack_stats(bool scan_live) {
    if (scan_live)
        for (size_t i = 0; i < n_live; ++i) measure(live[i]);
    return stats;
}

}  // namespace quiesce::bench

#ifdef STACK_PROBE_PRELOAD
namespace {

void report() {
    const char* path = std::getenv("QUIESCE_STACK_PROBE");
    if (!path || !stats.created) return;
    quiesce::bench::StackStats s = quiesce::bench::stack_stats(true);
    char line[512];
    int n = std::snprintf(line, sizeof line, "pid %d stacks %llu", int(getpid()), (unsigned long long)s.created);
    for (size_t i = 0; i < s.classes && n < int(sizeof line) - 64; ++i)
        n += std::snprintf(line + n, sizeof line - size_t(n), " %zu:%llu:%zu", s.by_len[i].len,
                           (unsigned long long)s.by_len[i].created, s.by_len[i].max_depth);
    line[n++] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return;
    (void)!write(fd, line, size_t(n));
    close(fd);
    stats.created = 0;  // once per process
}

struct Start {
    Start() { scanning = std::getenv("QUIESCE_STACK_PROBE") != nullptr; }
    ~Start() { report(); }
} start;

}  // namespace

// Forked runs end with _exit: report first.
extern "C" void _exit(int status) {
    report();
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}
#endif
