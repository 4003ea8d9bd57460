// The SATA drive's write cache destages in the order the drive chooses: an
// elevator sweep from a cached sector its own seeded generator picks -
// reproducible per seed, different across seeds, not oldest first.
#include "bench_platform.h"

#include <set>

using namespace quiesce;
using quiesce::test::Facts;
using quiesce::test::on_booted;
using quiesce::test::pattern;

namespace {

// Nine one-sector writes, newest at the lowest LBA (oldest first would
// start at 900), then FLUSH CACHE: where the sweep started.
Facts flush_with_seed(uint64_t seed) {
    return on_booted(
        "s3-storage",
        [](Platform& p, Cpu& cpu, Facts& f) {
            Platform::Disk d = p.disk();
            uint64_t buf = p.kernel().alloc(512, 512);
            auto data = pattern(512, 5);
            cpu.write_block(buf, data.data(), 512);
            for (uint64_t lba = 900; lba >= 100; lba -= 100) d.ahci->submit(cpu, {true, lba, 1, buf, false, false});
            f["cached"] = std::to_string(d.drive->cached_sectors());
            f["flush"] = std::to_string(d.ahci->flush(cpu));
            f["start"] = std::to_string(d.drive->last_destage_start());
            f["left"] = std::to_string(d.drive->cached_sectors());
            f["media"] = d.drive->media(500) == data ? "yes" : "no";
        },
        [seed](Scenario& s) { s.seed = seed; });
}

}  // namespace

TEST_CASE("sata drive: FLUSH destages from a sector the seed picks, the same for the same seed", "[disk][drive]") {
    std::set<std::string> starts;
    for (uint64_t seed = 1; seed <= 6; ++seed) {
        Facts f = flush_with_seed(seed);
        CHECK(f["cached"] == "9");
        CHECK(f["flush"] == "0");
        CHECK(f["left"] == "0");
        CHECK(f["media"] == "yes");
        starts.insert(f["start"]);
    }
    CHECK(starts.size() > 1);  // the seed moves the sweep's start
    CHECK(flush_with_seed(3)["start"] == flush_with_seed(3)["start"]);  // and nothing else does
}

TEST_CASE("sata drive: a power cut in the middle of a flush leaves the sweep's first sectors on the media",
          "[disk][drive]") {
    Facts f = on_booted("s3-storage", [](Platform& p, Cpu& cpu, Facts& f) {
        Platform::Disk d = p.disk();
        uint64_t buf = p.kernel().alloc(512, 512);
        auto data = pattern(512, 7);
        cpu.write_block(buf, data.data(), 512);
        for (uint64_t lba = 100; lba <= 900; lba += 100) d.ahci->submit(cpu, {true, lba, 1, buf, false, false});
        // FLUSH on its own thread; the power goes after three sectors' media time.
        sc_core::sc_spawn([&] {
            sc_core::wait(sc_core::sc_time(20 + 3 * 4 + 2, sc_core::SC_US));  // command overhead, 3 sectors, a bit
            d.drive->power_off();
        });
        d.ahci->flush(cpu);
        std::string on_media;
        for (uint64_t lba = 100; lba <= 900; lba += 100)
            on_media += d.drive->media(lba) == data ? "1" : "0";
        f["on_media"] = on_media;
        f["start"] = std::to_string(d.drive->last_destage_start());
    });
    // Exactly the sectors from the sweep's start upward, up to three of them.
    const std::string& m = f["on_media"];
    const size_t first = (std::stoul(f["start"]) / 100) - 1;
    size_t n = 0;
    for (char c : m) n += c == '1';
    CHECK(n >= 1);
    CHECK(n <= 4);
    for (size_t i = 0; i < n; ++i) CHECK(m[(first + i) % m.size()] == '1');
}
