// In-process branching: writable memory saved at a branch point and rolled back after each variant.
#include "sim/core/checkpoint.h"

#include "sim/core/written_pages.h"

#include <dirent.h>
#include <sys/resource.h>
#include <time.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace quiesce {

namespace {
constexpr size_t kMaxVmas = 4096, kMaxRuns = 1 << 16, kMapsBytes = 1 << 19, kAltStack = 1 << 18, kMaxFds = 4096;

struct Vma {
    uintptr_t start, end;
    int prot;
    bool priv, file, track, redone;
};
struct Run {  // pages present at take()
    uintptr_t start, end;
};

double thread_cpu() {
    timespec t{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return double(t.tv_sec) + double(t.tv_nsec) / 1e9;
}
long minor_faults() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

[[noreturn]] void die(const char* what, uintptr_t a = 0, uintptr_t b = 0) {
    char line[256];
    int n = std::snprintf(line, sizeof line, "checkpoint: %s (errno %d) %lx-%lx\n", what, errno, (unsigned long)a,
                          (unsigned long)b);
    if (n > 0) (void)!::write(2, line, size_t(n));
    ::_exit(70);
}
}  // namespace

struct Checkpoint::Keep {
    WrittenPages pages;
    ucontext_t at{}, alt{};
    size_t rollbacks = 0;
    int resumed = 0;
    volatile int cause = 0, restoring = 0;
    uint64_t kept[8] = {};
    bool taken = false, registered = false;
    uintptr_t brk0 = 0;
    unsigned char fd_open[kMaxFds] = {};
    Vma vmas[kMaxVmas];
    size_t nvmas = 0;
    Vma cur[kMaxVmas];
    size_t ncur = 0;
    Run runs[kMaxRuns];
    size_t nruns = 0;
    pid_t holder = 0;  // a child forked at take() that only waits: its memory is the copy
    iovec iov[IOV_MAX];
    size_t niov = 0, iov_bytes = 0;
    char* alt_stack = nullptr;
    char maps[kMapsBytes];
    uintptr_t excluded[2][2] = {};
    Stats stats;
    pid_t pid = 0;  // the process its descriptors are of (a forked child opens its own)
    bool ok = false;
    std::string why;
};

namespace {
Checkpoint::Keep* volatile g_keep = nullptr;

void* map_aside(size_t len) {  // MAP_NORESERVE: no merging with the mappings rolled back
    void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
}

uintptr_t hex(const char*& p) {
    uintptr_t v = 0;
    for (;; ++p) {
        char c = *p;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return v;
        v = v * 16 + uintptr_t(d);
    }
}

// /proc/self/maps into `out`, less the ranges kept aside; allocates nothing.
size_t read_maps(Checkpoint::Keep* k, Vma* out) {
    int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("cannot open /proc/self/maps");
    size_t len = 0;
    for (ssize_t n; (n = ::read(fd, k->maps + len, kMapsBytes - 1 - len)) > 0;) len += size_t(n);
    ::close(fd);
    if (len >= kMapsBytes - 2) die("/proc/self/maps too long");
    k->maps[len] = 0;
    size_t count = 0;
    for (const char* p = k->maps; *p;) {
        Vma v{};
        v.start = hex(p);
        ++p;
        v.end = hex(p);
        ++p;
        v.prot = (p[0] == 'r' ? PROT_READ : 0) | (p[1] == 'w' ? PROT_WRITE : 0) | (p[2] == 'x' ? PROT_EXEC : 0);
        v.priv = p[3] == 'p';
        p += 5;
        hex(p);  // offset
        ++p;
        while (*p && *p != ' ') ++p;  // device
        ++p;
        bool inode = false;
        for (; *p >= '0' && *p <= '9'; ++p) inode = inode || *p != '0';
        while (*p == ' ') ++p;
        const char* name = p;
        while (*p && *p != '\n') ++p;
        const size_t name_len = size_t(p - name);
        if (*p) ++p;
        const bool special = name_len && name[0] == '[' && std::strncmp(name, "[heap]", 6) != 0 &&
                             std::strncmp(name, "[stack]", 7) != 0 && std::strncmp(name, "[anon", 5) != 0;
        v.file = inode;
        v.track = (v.prot & PROT_WRITE) && v.priv && !special;
        if (special) continue;  // vdso, vvar, vsyscall: the kernel's
        // Less the ranges kept aside (they may sit inside a listed range).
        Vma parts[4] = {v};
        size_t np = 1;
        for (const auto& ex : k->excluded) {
            if (ex[0] == ex[1]) continue;
            size_t m = np;
            for (size_t i = 0; i < m; ++i) {
                Vma& q = parts[i];
                if (q.end <= ex[0] || q.start >= ex[1]) continue;
                Vma hi = q;
                hi.start = ex[1];
                q.end = q.end < ex[0] ? q.end : ex[0];
                if (hi.start < hi.end && np < 4) parts[np++] = hi;
            }
        }
        for (size_t i = 0; i < np; ++i)
            if (parts[i].start < parts[i].end) {
                if (count == kMaxVmas) die("too many mappings");
                out[count++] = parts[i];
            }
    }
    // Sorted by start (the excluded splits may have put a part out of order).
    for (size_t i = 1; i < count; ++i)
        for (size_t j = i; j > 0 && out[j - 1].start > out[j].start; --j) {
            Vma t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return count;
}

void list_fds(Checkpoint::Keep* k, bool close_new) {
    int dir = ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) die("cannot open /proc/self/fd");
    alignas(8) char buf[4096];
    for (long n; (n = ::syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0;) {
        for (long off = 0; off < n;) {
            auto* d = reinterpret_cast<struct dirent64*>(buf + off);
            off += d->d_reclen;
            if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
            long fd = std::strtol(d->d_name, nullptr, 10);
            if (fd == dir || fd < 0 || size_t(fd) >= kMaxFds) continue;
            if (!close_new) k->fd_open[fd] = 1;
            else if (!k->fd_open[fd]) {
                ::close(int(fd));
                ++k->stats.closed;
            }
        }
    }
    ::close(dir);
}

bool registered(Checkpoint::Keep* k, uintptr_t start, size_t len) { return k->pages.track(start, len); }

// The pages queued, read back from the holder (the same addresses there).
void read_back(Checkpoint::Keep* k) {
    if (!k->niov) return;
    const ssize_t n = ::process_vm_readv(k->holder, k->iov, k->niov, k->iov, k->niov, 0);
    if (n != ssize_t(k->iov_bytes)) die("cannot read the pages back from the holder", uintptr_t(n), k->iov_bytes);
    k->niov = k->iov_bytes = 0;
}
void queue_back(Checkpoint::Keep* k, uintptr_t at, size_t len) {
    if (k->niov == IOV_MAX) read_back(k);
    k->iov[k->niov++] = {reinterpret_cast<void*>(at), len};
    k->iov_bytes += len;
}

// Pages [s, e) back as they were at take(): copied where present then,
// dropped (zero, or the file's) where not.
void put_back(Checkpoint::Keep* k, uintptr_t s, uintptr_t e) {
    size_t lo = 0, hi = k->nruns;  // the first run ending after s
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (k->runs[mid].end <= s) lo = mid + 1;
        else hi = mid;
    }
    uintptr_t at = s;
    for (size_t i = lo; i < k->nruns && k->runs[i].start < e && at < e; ++i) {
        const Run& r = k->runs[i];
        if (r.start > at) {
            ::madvise(reinterpret_cast<void*>(at), r.start - at, MADV_DONTNEED);
            k->stats.dropped_pages += (r.start - at) / page_size();
            at = r.start;
        }
        uintptr_t to = r.end < e ? r.end : e;
        queue_back(k, at, to - at);
        k->stats.written_pages += (to - at) / page_size();
        at = to;
    }
    if (at < e) {
        ::madvise(reinterpret_cast<void*>(at), e - at, MADV_DONTNEED);
        k->stats.dropped_pages += (e - at) / page_size();
    }
}

// The holder: a child that waits, dies with its parent, and is killed at release().
void fork_holder(Checkpoint::Keep* k) {
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) die("cannot fork the holder");
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(0);
        for (;;) ::pause();
    }
    k->holder = pid;
}
void end_holder(Checkpoint::Keep* k) {
    if (!k->holder) return;
    ::kill(k->holder, SIGKILL);
    while (::waitpid(k->holder, nullptr, 0) < 0 && errno == EINTR) {
    }
    k->holder = 0;
}

// [s, e) of a tracked mapping made again: mapped afresh, its pages put back,
// tracked again.
void redo(Checkpoint::Keep* k, const Vma& v, uintptr_t s, uintptr_t e) {
    if (v.file) die("a file mapping written since the branch point was unmapped: cannot map it again");
    void* p = ::mmap(reinterpret_cast<void*>(s), e - s, v.prot | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                     -1, 0);
    if (p == MAP_FAILED) die("cannot map a range again");
    put_back(k, s, e);
    read_back(k);
    if (!(v.prot & PROT_WRITE)) ::mprotect(p, e - s, v.prot);
    if (v.track && !registered(k, s, e - s)) die("cannot track a range mapped again");
    ++k->stats.remapped;
}

void restore(Checkpoint::Keep* k) {
    k->stats.written_pages = k->stats.dropped_pages = k->stats.unmapped = k->stats.remapped = k->stats.closed = 0;
    if (::syscall(SYS_brk, k->brk0) != long(k->brk0)) die("cannot set the program break back");
    list_fds(k, true);
    k->ncur = read_maps(k, k->cur);
    // What is mapped now and was not, unmapped; what has other permissions, set back.
    for (size_t i = 0; i < k->ncur; ++i) {
        const Vma& c = k->cur[i];
        uintptr_t at = c.start;
        for (size_t j = 0; j < k->nvmas && at < c.end; ++j) {
            const Vma& v = k->vmas[j];
            if (v.end <= at) continue;
            if (v.start >= c.end) break;
            if (v.start > at) {
                ::munmap(reinterpret_cast<void*>(at), v.start - at);
                ++k->stats.unmapped;
                at = v.start;
            }
            uintptr_t to = v.end < c.end ? v.end : c.end;
            if (v.prot != c.prot) ::mprotect(reinterpret_cast<void*>(at), to - at, v.prot);
            at = to;
        }
        if (at < c.end) {
            ::munmap(reinterpret_cast<void*>(at), c.end - at);
            ++k->stats.unmapped;
        }
    }
    // What was mapped and is not, mapped again.
    for (size_t j = 0; j < k->nvmas; ++j) {
        Vma& v = k->vmas[j];
        v.redone = false;
        uintptr_t at = v.start;
        for (size_t i = 0; i < k->ncur && at < v.end; ++i) {
            const Vma& c = k->cur[i];
            if (c.end <= at) continue;
            if (c.start >= v.end) break;
            if (c.start > at) {
                redo(k, v, at, c.start);
                v.redone = true;
            }
            at = c.end < v.end ? c.end : v.end;
        }
        if (at < v.end) {
            redo(k, v, at, v.end);
            v.redone = true;
        }
    }
    // The pages written since, put back; a range no longer tracked (unmapped
    // and mapped again, by the program or by brk) made again.
    uint64_t vec[3 * 512];
    for (size_t j = 0; j < k->nvmas; ++j) {
        const Vma& v = k->vmas[j];
        if (!v.track) continue;
        for (uintptr_t s = v.start; s < v.end;) {
            uintptr_t walk_end = 0;
            long n = k->pages.scan_raw(s, v.end, 0, WrittenPages::kWpAllowed, 0,
                                       WrittenPages::kWritten | WrittenPages::kWpAllowed,
                                       WrittenPages::kWritten | WrittenPages::kWpAllowed, vec, 512, walk_end);
            if (n < 0) die("PAGEMAP_SCAN failed", s, v.end);
            for (long i = 0; i < n; ++i) {
                const uintptr_t rs = vec[3 * i], re = vec[3 * i + 1];
                if (!(vec[3 * i + 2] & WrittenPages::kWpAllowed)) redo(k, v, rs, re);  // no longer tracked
                else put_back(k, rs, re);
            }
            read_back(k);
            // Only the runs written are protected again (the whole mapping
            // would cost a walk of all its pages each time).
            for (long i = 0; i < n; ++i)
                if ((vec[3 * i + 2] & WrittenPages::kWpAllowed) && !k->pages.protect(vec[3 * i], vec[3 * i + 1] - vec[3 * i]))
                    die("cannot protect again", vec[3 * i], vec[3 * i + 1]);
            if (walk_end <= s) break;
            s = walk_end;
        }
    }
}

void restore_entry() {
    Checkpoint::Keep* k = g_keep;
    restore(k);
    ::setcontext(&k->at);
    die("setcontext failed");
}
}  // namespace

Checkpoint::Checkpoint() {
    void* p = map_aside(sizeof(Keep));
    if (!p) return;
    keep_ = new (p) Keep();
    keep_->alt_stack = static_cast<char*>(map_aside(kAltStack));
    keep_->excluded[0][0] = reinterpret_cast<uintptr_t>(p);
    keep_->excluded[0][1] = (reinterpret_cast<uintptr_t>(p) + sizeof(Keep) + page_size() - 1) & ~(page_size() - 1);
    keep_->excluded[1][0] = reinterpret_cast<uintptr_t>(keep_->alt_stack);
    keep_->excluded[1][1] = keep_->excluded[1][0] + kAltStack;
    keep_->pid = ::getpid();
    keep_->ok = keep_->alt_stack && keep_->pages.open();
    if (!keep_->ok) keep_->why = keep_->alt_stack ? keep_->pages.error() : "cannot map a stack";
}

Checkpoint::~Checkpoint() {
    if (!keep_) return;
    release();
    if (keep_->alt_stack) ::munmap(keep_->alt_stack, kAltStack);
    const size_t len = keep_->excluded[0][1] - keep_->excluded[0][0];
    keep_->~Keep();
    ::munmap(keep_, len);
}

bool Checkpoint::ready(std::string& why) const {
    if (keep_ && keep_->ok) return true;
    why = keep_ ? keep_->why : "cannot map its state";
    return false;
}

bool Checkpoint::available(std::string& why) {
    WrittenPages probe;
    if (probe.open()) return true;
    why = probe.error();
    return false;
}

int Checkpoint::cause() const { return keep_ ? keep_->cause : 0; }

uint64_t* Checkpoint::kept() const { return keep_ ? keep_->kept : nullptr; }

Checkpoint::Stats Checkpoint::stats() const { return keep_ ? keep_->stats : Stats{}; }

__attribute__((noinline)) size_t Checkpoint::take() {
    Keep* k = keep_;
    if (!k || !k->ok) die("take() without a working checkpoint");
    if (k->pid != ::getpid()) {  // forked since: the descriptors are the parent's (its userfaultfd, its pagemap)
        k->pages.~WrittenPages();
        new (&k->pages) WrittenPages();
        k->registered = false;  // a child inherits no registration
        k->taken = false;
        k->pid = ::getpid();
        if (!k->pages.open()) die("cannot track pages in a forked child");
    }
    release();
    k->resumed = 0;
    g_keep = k;
    ::getcontext(&k->at);
    if (g_keep->resumed) {
        g_keep->restoring = 0;
        g_keep->stats.restore_cpu_s = thread_cpu() - g_keep->stats.restore_cpu_s;
        g_keep->stats.restore_faults = minor_faults() - g_keep->stats.restore_faults;
        return g_keep->rollbacks;
    }
    k = g_keep;
    const double started = thread_cpu();
    k->rollbacks = 0;
    k->cause = 0;
    k->stats = Stats{};
    k->brk0 = uintptr_t(::syscall(SYS_brk, 0));
    std::memset(k->fd_open, 0, sizeof k->fd_open);
    list_fds(k, false);
    k->nvmas = read_maps(k, k->vmas);
    // The pages present in each tracked mapping, and room for them aside.
    k->nruns = 0;
    size_t total = 0;
    uint64_t vec[3 * 512];
    for (size_t j = 0; j < k->nvmas; ++j) {
        const Vma& v = k->vmas[j];
        if (!v.track) continue;
        k->stats.tracked_pages += (v.end - v.start) / page_size();
        for (uintptr_t s = v.start; s < v.end;) {
            uintptr_t walk_end = 0;
            long n = k->pages.scan_raw(s, v.end, 0, 0, 0, WrittenPages::kPresent | WrittenPages::kSwapped,
                                       WrittenPages::kPresent, vec, 512, walk_end);
            if (n < 0) die("PAGEMAP_SCAN failed", s, v.end);
            for (long i = 0; i < n; ++i) {
                if (k->nruns == kMaxRuns) die("too many runs of present pages");
                k->runs[k->nruns++] = {vec[3 * i], vec[3 * i + 1]};
                total += vec[3 * i + 1] - vec[3 * i];
            }
            if (walk_end <= s) break;
            s = walk_end;
        }
    }
    k->stats.present_pages = total / page_size();
    fork_holder(k);  // before the tracking: a forked child inherits no registration
    for (size_t j = 0; j < k->nvmas; ++j)
        if (k->vmas[j].track && !registered(k, k->vmas[j].start, k->vmas[j].end - k->vmas[j].start))
            die("cannot track a writable mapping");
    k->registered = true;
    k->taken = true;
    k->stats.take_cpu_s = thread_cpu() - started;
    return 0;
}

void Checkpoint::rollback(int cause) {
    Keep* k = keep_;
    if (!k || !k->taken) die("rollback() without take()");
    if (k->restoring) die("rollback() while rolling back");
    k->restoring = 1;
    k->cause = cause;
    ++k->rollbacks;
    k->resumed = 1;
    k->stats.restore_cpu_s = thread_cpu();
    k->stats.restore_faults = minor_faults();
    g_keep = k;
    ::getcontext(&k->alt);
    k->alt.uc_stack.ss_sp = k->alt_stack;
    k->alt.uc_stack.ss_size = kAltStack;
    k->alt.uc_link = nullptr;
    ::makecontext(&k->alt, restore_entry, 0);
    ::setcontext(&k->alt);
    die("setcontext failed");
}

void Checkpoint::release() {
    Keep* k = keep_;
    if (!k) return;
    if (k->registered) {
        // What is still mapped of the tracked ranges: no longer tracked.
        for (size_t j = 0; j < k->nvmas; ++j)
            if (k->vmas[j].track) k->pages.untrack(k->vmas[j].start, k->vmas[j].end - k->vmas[j].start);
        k->registered = false;
    }
    k->taken = false;
    end_holder(k);
}

}  // namespace quiesce
