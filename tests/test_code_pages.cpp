// The executable's code moved into anonymous huge pages (sim/core/code_pages.h).
#include "sim/core/code_pages.h"
#include "tests/smaps.h"

#include <catch2/catch.hpp>

#include <link.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

using namespace quiesce;

namespace {

uintptr_t addr_of_code() { return reinterpret_cast<uintptr_t>(&code_in_huge_pages); }

// The /proc/self/maps line of the mapping holding `a`, and its bounds.
struct MapLine {
    uintptr_t lo = 0, hi = 0;
    std::string line;
};
MapLine map_line(uintptr_t a) {
    std::ifstream in("/proc/self/maps");
    for (std::string line; std::getline(in, line);) {
        unsigned long lo = 0, hi = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && a >= lo && a < hi) return {lo, hi, line};
    }
    return {};
}

// The program's executable segment as loaded: its start, its end, its file offset.
struct Segment {
    uintptr_t start = 0, end = 0, offset = 0;
};
Segment program_code() {
    Segment s;
    ::dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* out) -> int {
            for (int i = 0; i < info->dlpi_phnum; ++i) {
                const ElfW(Phdr)& ph = info->dlpi_phdr[i];
                if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
                    *static_cast<Segment*>(out) = {info->dlpi_addr + ph.p_vaddr,
                                                   info->dlpi_addr + ph.p_vaddr + ph.p_memsz, ph.p_offset};
                    break;
                }
            }
            return 1;
        },
        &s);
    return s;
}

// Minor faults a forked child takes reading one byte of each 4 KiB page of [lo, hi).
long child_faults_reading(uintptr_t lo, uintptr_t hi) {
    int fd[2];
    REQUIRE(::pipe(fd) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        rusage a{}, b{};
        ::getrusage(RUSAGE_SELF, &a);
        unsigned sum = 0;
        for (uintptr_t p = lo; p < hi; p += 4096) sum += *reinterpret_cast<const volatile unsigned char*>(p);
        ::getrusage(RUSAGE_SELF, &b);
        const long n = b.ru_minflt - a.ru_minflt + long(sum & 0);
        ssize_t w = ::write(fd[1], &n, sizeof n);
        ::_exit(w == sizeof n ? 0 : 1);
    }
    ::close(fd[1]);
    long n = -1;
    CHECK(::read(fd[0], &n, sizeof n) == ssize_t(sizeof n));
    ::close(fd[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    return n;
}

int thrown_and_caught() {
    try {
        throw std::runtime_error("through moved code");
    } catch (const std::runtime_error& e) {
        return int(std::strlen(e.what()));
    }
}

}  // namespace

TEST_CASE("code pages: the environment turns the move off", "[code_pages]") {
    ::setenv("QUIESCE_CODE_HUGE_PAGES", "0", 1);
    CHECK_FALSE(code_pages_wanted());
    ::unsetenv("QUIESCE_CODE_HUGE_PAGES");
    ::setenv("QUIESCE_ARENA_HUGE_PAGES", "0", 1);
    CHECK_FALSE(code_pages_wanted());
    ::unsetenv("QUIESCE_ARENA_HUGE_PAGES");
}

TEST_CASE("code pages: the code moves to anonymous memory with its bytes and a fork copies its page tables",
          "[code_pages]") {
    const Segment seg = program_code();
    REQUIRE(seg.start != 0);
    // Any fork through the pool (the tests' children) has moved it already.
    const size_t moved = code_in_huge_pages();
    if (!code_pages_wanted()) {
        CHECK(moved == 0);
        WARN("not moved here (sanitizer build, or no transparent huge pages)");
        return;
    }
    const MapLine m = map_line(addr_of_code());
    INFO(m.line);
    if (moved == 0) {
        // Moved only into huge pages: where the kernel had none free, the
        // code stays in the file's mapping, whole.
        CHECK(m.line.find('/') != std::string::npos);
        WARN("not moved here: the kernel gave no huge pages for it");
        return;
    }
    CHECK(m.hi - m.lo == moved);
    CHECK(m.lo % (size_t(2) << 20) == 0);
    CHECK(m.hi % (size_t(2) << 20) == 0);
    // No file behind it now, read and executable only.
    CHECK(m.line.find('/') == std::string::npos);
    CHECK(m.line.find(" r-xp ") != std::string::npos);
    // The same bytes as the executable's file, all of the code that moved.
    std::ifstream exe("/proc/self/exe", std::ios::binary);
    std::string file((std::istreambuf_iterator<char>(exe)), std::istreambuf_iterator<char>());
    const uintptr_t lo = std::max<uintptr_t>(m.lo, seg.start), hi = std::min<uintptr_t>(m.hi, seg.end);
    REQUIRE(hi > lo);
    const size_t off = seg.offset + (lo - seg.start);
    REQUIRE(off + (hi - lo) <= file.size());
    CHECK(std::memcmp(reinterpret_cast<const void*>(lo), file.data() + off, hi - lo) == 0);
    // It runs: calls, and an exception unwound through it.
    CHECK(thrown_and_caught() == 18);
    // A child reads all of it without a fault per 64 KiB window (the file's
    // mapping would take one for each: its page tables are not copied).
    const long faults = child_faults_reading(m.lo, m.hi);
    const long windows = long(moved / 65536);
    INFO("faults " << faults << " for " << windows << " windows of 64 KiB");
    CHECK(faults < windows / 4);
    // In huge pages, all of it (or it would not have moved).
    CHECK(test::mapping_of(reinterpret_cast<const void*>(m.lo)).huge_kb * 1024 == moved);
}
