// Written-page tracking by asynchronous userfaultfd write-protection and PAGEMAP_SCAN.
#include "sim/core/written_pages.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

// The UAPI of Linux 6.7 (linux/fs.h, linux/userfaultfd.h), for headers older
// than the kernel.
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef PAGEMAP_SCAN
struct page_region {
    uint64_t start, end, categories;
};
struct pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted, category_mask,
        category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#endif

namespace quiesce {

size_t page_size() {
    static const size_t p = size_t(::sysconf(_SC_PAGESIZE));
    return p;
}

size_t PageRun::pages() const { return (end - start) / page_size(); }

WrittenPages::~WrittenPages() {
    if (uffd_ >= 0) ::close(uffd_);
    if (pagemap_ >= 0) ::close(pagemap_);
}

bool WrittenPages::open() {
    uffd_ = int(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
    if (uffd_ < 0) {
        error_ = std::string("userfaultfd: ") + std::strerror(errno);
        return false;
    }
    uffdio_api api{};
    api.api = UFFD_API;
    api.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
    if (::ioctl(uffd_, UFFDIO_API, &api) != 0) {
        error_ = std::string("UFFDIO_API with asynchronous write-protection: ") + std::strerror(errno);
        return false;
    }
    pagemap_ = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pagemap_ < 0) {
        error_ = std::string("/proc/self/pagemap: ") + std::strerror(errno);
        return false;
    }
    std::vector<PageRun> probe;
    uintptr_t here = reinterpret_cast<uintptr_t>(&probe) & ~(page_size() - 1);
    if (!present(here, here + page_size(), probe)) {
        error_ = std::string("PAGEMAP_SCAN: ") + std::strerror(errno);
        return false;
    }
    return true;
}

bool WrittenPages::protect(uintptr_t start, size_t len) {
    uffdio_writeprotect wp{};
    wp.range.start = start;
    wp.range.len = len;
    wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
    return ::ioctl(uffd_, UFFDIO_WRITEPROTECT, &wp) == 0;
}

bool WrittenPages::track(uintptr_t start, size_t len) {
    uffdio_register reg{};
    reg.range.start = start;
    reg.range.len = len;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (::ioctl(uffd_, UFFDIO_REGISTER, &reg) != 0) {
        error_ = std::string("UFFDIO_REGISTER: ") + std::strerror(errno);
        return false;
    }
    return protect(start, len);
}

void WrittenPages::untrack(uintptr_t start, size_t len) {
    uffdio_range r{start, len};
    ::ioctl(uffd_, UFFDIO_UNREGISTER, &r);
}

bool WrittenPages::scan(uintptr_t start, uintptr_t end, uint64_t flags, uint64_t category,
                        std::vector<PageRun>& out) {
    page_region vec[512];
    while (start < end) {
        uintptr_t walk_end = 0;
        const long n = scan_raw(start, end, flags, 0, category, 0, category, reinterpret_cast<uint64_t*>(vec),
                                sizeof vec / sizeof vec[0], walk_end);
        if (n < 0) return false;
        for (long i = 0; i < n; ++i) {
            if (!out.empty() && out.back().end == vec[i].start) out.back().end = vec[i].end;
            else out.push_back({vec[i].start, vec[i].end});
        }
        if (walk_end <= start) return false;
        start = walk_end;
    }
    return true;
}

long WrittenPages::scan_raw(uintptr_t start, uintptr_t end, uint64_t flags, uint64_t inverted, uint64_t mask,
                            uint64_t anyof, uint64_t ret, uint64_t* vec, size_t n, uintptr_t& walk_end) const {
    pm_scan_arg a{};
    a.size = sizeof a;
    a.flags = flags;
    a.start = start;
    a.end = end;
    a.vec = reinterpret_cast<uintptr_t>(vec);
    a.vec_len = n;
    a.category_inverted = inverted;
    a.category_mask = mask;
    a.category_anyof_mask = anyof;
    a.return_mask = ret;
    long got = ::ioctl(pagemap_, PAGEMAP_SCAN, &a);
    walk_end = a.walk_end;
    return got;
}

bool WrittenPages::written(uintptr_t start, uintptr_t end, bool rearm, std::vector<PageRun>& out) {
    return scan(start, end, rearm ? PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC : 0, PAGE_IS_WRITTEN, out);
}

bool WrittenPages::present(uintptr_t start, uintptr_t end, std::vector<PageRun>& out) {
    return scan(start, end, 0, PAGE_IS_PRESENT, out);
}

}  // namespace quiesce
