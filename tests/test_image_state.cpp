// The hibernation image holds the kernel (issue 21 item 1): the state C++
// objects hold for kernel memory (the page allocator, the page cache, the
// filesystem's buffers and acknowledgements, anonymous memory, tasks'
// variables) is serialized into kernel pages at the snapshot and rebuilt
// from the restored memory, so a change made after the snapshot is undone
// in the restored system - and what it left on the disk is then wrong for
// that system, which the existing invariants name.
#include "bench_platform.h"
#include "files.h"

#include "models/disk/sata_drive.h"
#include "sim/core/memory.h"
#include "sim/kernel/image_state.h"
#include "sim/kernel/journal_fs.h"
#include "sim/scenario/executor.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <map>

using namespace quiesce;
using quiesce::test::Facts;
using quiesce::test::on_disk;

namespace {

std::vector<uint8_t> content(uint64_t file_block, uint64_t version) {
    std::vector<uint8_t> v(qfs::kBlock);
    for (size_t i = 0; i < v.size(); ++i) v[i] = uint8_t(file_block * 31 + version * 7 + i);
    return v;
}

// What file block `fb` reads as: "zeros" (a hole), "v<N>" or "other".
std::string reads(JournalFs& fs, Cpu& cpu, uint64_t fb) {
    std::vector<uint8_t> out(qfs::kBlock);
    if (fs.read(cpu, fb, out.data()) != 0) return "error";
    if (out == std::vector<uint8_t>(qfs::kBlock, 0)) return "zeros";
    for (uint64_t v = 0; v < 4; ++v)
        if (out == content(fb, v)) return "v" + std::to_string(v);
    return "other";
}

std::string cached_blocks(const PageCache& cache) {
    std::string out;
    for (const auto& [block, e] : cache.entries()) out += fmt::format("{}{}{}", out.empty() ? "" : ",", block, e.dirty ? "d" : "");
    return out;
}

// A fresh filesystem, mounted, with file block 0 written (version 1).
void mount_with_block0(JournalFs& fs, Cpu& cpu) {
    REQUIRE(fs.mkfs(cpu, 64) == 0);
    REQUIRE(fs.mount(cpu) == 0);
    REQUIRE(fs.write(cpu, 0, content(0, 1).data()) == 0);
}

// Every resident page, as the atomic copy takes it (zero time).
std::map<uint64_t, std::vector<uint8_t>> copy_memory(const PhysicalMemory& m) {
    std::map<uint64_t, std::vector<uint8_t>> pages;
    for (uint64_t pfn : m.resident()) {
        auto& page = pages[pfn];
        page.resize(PhysicalMemory::kPageSize);
        m.peek(pfn * PhysicalMemory::kPageSize, page.data(), page.size());
    }
    return pages;
}

void restore_memory(PhysicalMemory& m, const std::map<uint64_t, std::vector<uint8_t>>& pages) {
    for (const auto& [pfn, page] : pages) m.poke(pfn * PhysicalMemory::kPageSize, page.data(), page.size(), "restore");
}

}  // namespace

TEST_CASE("image state: words, strings and counts round-trip, and a short or lying stream is refused",
          "[image-state]") {
    StateWriter w;
    w.u64(0x0123456789abcdefULL);
    w.str("page-cache");
    w.u64s({7, 8, 9});
    w.boolean(true);
    {
        StateReader r(w.bytes().data(), w.bytes().size(), "t");
        CHECK(r.u64() == 0x0123456789abcdefULL);
        CHECK(r.str() == "page-cache");
        CHECK(r.u64s() == std::vector<uint64_t>{7, 8, 9});
        CHECK(r.boolean());
        CHECK(r.at_end());
    }
    {  // cut short inside the last word
        StateReader r(w.bytes().data(), w.bytes().size() - 3, "t");
        r.u64();
        r.str();
        r.u64s();
        CHECK_THROWS_AS(r.boolean(), StateError);
    }
    {  // a count larger than what follows can hold
        StateWriter lie;
        lie.u64(1'000'000);
        lie.u64(1);
        StateReader r(lie.bytes().data(), lie.bytes().size(), "t");
        CHECK_THROWS_WITH(r.u64s(), Catch::Contains("count of 1000000"));
    }
}

TEST_CASE("image state: a restore undoes what the kernel did after the snapshot - the page cache, the file, the "
          "allocator",
          "[image-state][hibernation]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive&, Facts& f) {
        Kernel& k = p.kernel();
        JournalFs fs(k, drv, 0, 4096, true);
        mount_with_block0(fs, cpu);
        REQUIRE(fs.fsync(cpu) == 0);
        REQUIRE(fs.write(cpu, 2, content(2, 1).data()) == 0);  // dirty at the snapshot
        f["cache_at_snapshot"] = cached_blocks(fs.cache());
        f["free_at_snapshot"] = std::to_string(k.free_pages());

        // The snapshot instant: the state into kernel pages, then the copy.
        REQUIRE(k.image_state().save(cpu) == 0);
        const uint64_t free_with_state = k.free_pages();
        auto image = copy_memory(p.memory());

        // After the snapshot the kernel goes on: a new block, an overwrite, an fsync.
        REQUIRE(fs.write(cpu, 1, content(1, 2).data()) == 0);
        REQUIRE(fs.write(cpu, 0, content(0, 2).data()) == 0);
        REQUIRE(fs.fsync(cpu) == 0);
        f["cache_after"] = cached_blocks(fs.cache());

        // The image comes back; the kernel parses its state out of it.
        restore_memory(p.memory(), image);
        f["load"] = k.image_state().load(cpu);
        f["cache_restored"] = cached_blocks(fs.cache());
        f["free_restored"] = std::to_string(k.free_pages());
        f["free_with_state"] = std::to_string(free_with_state);
        f["fb0"] = reads(fs, cpu, 0);
        f["fb1"] = reads(fs, cpu, 1);
        f["fb2"] = reads(fs, cpu, 2);
    });
    INFO(f["guest_errors"]);
    CHECK(f["load"] == "");
    CHECK(f["cache_after"] != f["cache_at_snapshot"]);
    // The cache is the snapshot's: block 2 still dirty, nothing of the
    // blocks written after it; the state's own pages are free again, all
    // but its root page (a kernel variable, taken from the heap once).
    CHECK(f["cache_restored"] == f["cache_at_snapshot"]);
    CHECK(std::stoull(f["free_restored"]) == std::stoull(f["free_at_snapshot"]) - 1);
    CHECK(std::stoull(f["free_with_state"]) < std::stoull(f["free_at_snapshot"]));
    // The file as the restored kernel sees it: block 0 as fsynced before,
    // block 1 a hole again (its allocation is undone with the block map),
    // block 2 the dirty data of the snapshot - though the disk holds what
    // the lost timeline fsynced.
    CHECK(f["fb0"] == "v1");
    CHECK(f["fb1"] == "zeros");
    CHECK(f["fb2"] == "v1");
}

TEST_CASE("image state: a state whose pages came back damaged is refused, and nothing is loaded",
          "[image-state][hibernation]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive&, Facts& f) {
        Kernel& k = p.kernel();
        JournalFs fs(k, drv, 0, 4096, true);
        mount_with_block0(fs, cpu);
        REQUIRE(k.image_state().save(cpu) == 0);
        const std::string before = cached_blocks(fs.cache());
        REQUIRE(fs.write(cpu, 1, content(1, 1).data()) == 0);
        // One bit of the state's first data page (the root page names it).
        const uint64_t first = p.memory().peek64(k.image_state().root() + 32);
        uint8_t b = 0;
        p.memory().peek(first + 20, &b, 1);
        b ^= 0x10;
        p.memory().poke(first + 20, &b, 1, "fault");
        f["load"] = k.image_state().load(cpu);
        f["kept"] = cached_blocks(fs.cache()) == before ? "snapshot" : "after";
    });
    CHECK_THAT(f["load"], Catch::Contains("CRC32"));
    CHECK(f["kept"] == "after");  // nothing loaded: the objects as they were
}

TEST_CASE("image state: the restored kernel's beliefs are the snapshot's - a flusher that wrote after it overwrote "
          "what the restored kernel believes durable",
          "[image-state][hibernation]") {
    RunResult r = execute(load_scenario(test::regression("s4-flusher-not-freezable")));
    REQUIRE(r.status == "passed");
    Picos snapshot = 0;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::SliceEnd && ev.name == "snapshot" && ev.category == "hibernation") snapshot = ev.ts;
    REQUIRE(snapshot > 0);
    bool found = false;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::Violation && ev.name == "data.lost-write") {
            found = true;
            // Durable before the snapshot: a belief the image brought back,
            // not one the lost timeline formed after it.
            const std::string evidence = arg_value(ev, "evidence");
            auto at = evidence.find("\"first_durable_ps\":\"");
            REQUIRE(at != std::string::npos);
            CHECK(std::stoull(evidence.substr(at + 20)) < snapshot);
        }
    CHECK(found);
}

// The model cannot rewind a task's C++ stack to the snapshot: a task that
// was not frozen (naive-atomic) and stopped in the middle of an operation
// runs on in the restored kernel with references it took before the load.
// The load must leave them valid: the page cache's map replaced under a
// read in flight once made the read throw (std::out_of_range) or write
// freed memory (a heap corruption seen as crashes of naive-atomic runs).
TEST_CASE("image state: a read in flight while the image state is loaded finishes, and the cache is the image's",
          "[image-state][hibernation]") {
    Facts f = on_disk([](Platform& p, Cpu& cpu, AhciDriver& drv, SataDrive&, Facts& f) {
        Kernel& k = p.kernel();
        JournalFs fs(k, drv, 0, 4096, true);
        mount_with_block0(fs, cpu);
        REQUIRE(fs.fsync(cpu) == 0);
        PageCache& cache = fs.cache();
        f["cache_at_snapshot"] = cached_blocks(cache);
        REQUIRE(k.image_state().save(cpu) == 0);
        auto image = copy_memory(p.memory());
        // A block nothing cached: the reader's read goes to the disk.
        const uint64_t block = 1000;
        bool done = false;
        int rc = -1;
        k.spawn("reader", Task::Kind::KThread, false, 0, [&](Task& t) {
            std::vector<uint8_t> out(qfs::kBlock);
            rc = cache.read(t.cpu(), block, out.data());
            done = true;
        });
        while (!cache.entries().count(block)) k.sleep(1'000'000);  // 1 us: until the read is under way
        f["in_flight"] = std::to_string(cache.entries().at(block).busy);
        restore_memory(p.memory(), image);
        f["load"] = k.image_state().load(cpu);
        for (int i = 0; i < 1000 && !done; ++i) k.sleep(1'000'000'000);  // 1 ms
        f["done"] = std::to_string(done);
        f["rc"] = std::to_string(rc);
        f["cache_restored"] = cached_blocks(cache);
    });
    CHECK(f["in_flight"] == "1");
    CHECK(f["load"] == "");
    CHECK(f["done"] == "1");
    CHECK(f["rc"] == "0");
    CHECK(f["cache_restored"] == f["cache_at_snapshot"]);  // the block read for the lost timeline is not the image's
}
