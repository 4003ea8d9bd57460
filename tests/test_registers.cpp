#include "sim/core/events.h"
#include "sim/core/registers.h"
#include "sim/core/rng.h"
#include "sim/scenario/fork_runner.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace quiesce;

namespace {
RegisterBank make_bank(EventHub* hub = nullptr) {
    RegisterBank b("dev", hub);
    b.add({.name = "CTRL", .offset = 0x0, .width = 4, .reset = 0x1, .rsvd = 0xffff0000, .cls = StateClass::Hardware, .doc = "test"});
    b.add({.name = "STATUS", .offset = 0x4, .width = 4, .reset = 0, .ro = 0x1, .w1c = 0x6,
           .cls = StateClass::Volatile, .doc = "test"});
    b.add({.name = "RING", .offset = 0x8, .width = 8, .cls = StateClass::Driver, .doc = "test"});
    b.add({.name = "DOORBELL", .offset = 0x10, .width = 2, .wo = 0xffff, .cls = StateClass::Hardware, .doc = "test"});
    b.add({.name = "LO", .offset = 0x14, .width = 1, .cls = StateClass::Hardware, .doc = "test"});
    b.add({.name = "HI", .offset = 0x15, .width = 1, .reset = 0xab, .ro = 0xff, .cls = StateClass::Hardware, .doc = "test"});
    return b;
}
}  // namespace

TEST_CASE("registers: read-only, reserved and write-1-to-clear masks", "[registers]") {
    RegisterBank b = make_bank();
    REQUIRE(b.read(0x0, 4, "t") == 0x1);
    b.write(0x0, 4, 0xdeadbeef, "t");
    REQUIRE(b.read(0x0, 4, "t") == 0xbeef);  // reserved bits ignore writes and read 0

    b.reg("STATUS").set(0x7);             // hardware sets BUSY (ro) and two events
    b.write(0x4, 4, 0x2 | 0x1, "t");      // clear bit 1; writing the ro bit does nothing
    REQUIRE(b.read(0x4, 4, "t") == 0x5);
    b.write(0x4, 4, 0x0, "t");            // writing 0 clears nothing
    REQUIRE(b.read(0x4, 4, "t") == 0x5);

    int fired = 0;
    uint64_t seen = 0;
    b.reg("DOORBELL").on_write([&](Register&, uint64_t, uint64_t written) { ++fired; seen = written; });
    b.write(0x10, 2, 0x1234, "t");
    REQUIRE(fired == 1);
    REQUIRE(seen == 0x1234);
    REQUIRE(b.read(0x10, 2, "t") == 0);   // write-only: reads 0
}

TEST_CASE("registers: accesses narrower and wider than a register", "[registers]") {
    RegisterBank b = make_bank();
    b.write(0x8, 8, 0x1122334455667788ULL, "t");
    REQUIRE(b.read(0x8, 4, "t") == 0x55667788);
    REQUIRE(b.read(0xc, 2, "t") == 0x3344);
    b.write(0xa, 1, 0xff, "t");           // one byte in the middle of RING
    REQUIRE(b.reg("RING").value() == 0x1122334455ff7788ULL);
    REQUIRE(b.read(0x14, 2, "t") == 0xab00);  // spans LO and HI
    b.write(0x14, 2, 0x5566, "t");
    REQUIRE(b.reg("LO").value() == 0x66);
    REQUIRE(b.reg("HI").value() == 0xab);  // read-only
}

TEST_CASE("registers: declared out of order, found by offset, gaps read as 0", "[registers]") {
    // A bank finds the registers an access covers by their offsets, however
    // they were declared: one access over a gap and three registers.
    RegisterBank b("dev", nullptr);
    b.add({.name = "C", .offset = 0x8, .width = 2, .reset = 0x3333, .cls = StateClass::Hardware, .doc = "test"});
    b.add({.name = "A", .offset = 0x0, .width = 2, .reset = 0x1111, .cls = StateClass::Hardware, .doc = "test"});
    b.add({.name = "D", .offset = 0xc, .width = 4, .reset = 0x44444444, .cls = StateClass::Hardware, .doc = "test"});
    b.add({.name = "B", .offset = 0x4, .width = 1, .reset = 0x22, .cls = StateClass::Hardware, .doc = "test"});
    std::vector<std::string> order;
    for (const auto& r : b.registers()) order.push_back(r->name());
    REQUIRE(order == std::vector<std::string>{"A", "B", "C", "D"});
    REQUIRE(b.read(0x0, 8, "t") == 0x0000002200001111ULL);  // A, a gap, B, a gap
    REQUIRE(b.read(0x2, 4, "t") == 0x00220000ULL);          // starts in a gap
    REQUIRE(b.read(0x9, 4, "t") == 0x44000033ULL);          // the end of C, a gap, D
    REQUIRE(b.read(0x10, 4, "t") == 0);                     // past the last
    b.write(0x4, 8, 0xaabbccdd'eeff0099ULL, "t");           // B, a gap, C, a gap
    REQUIRE(b.reg("B").value() == 0x99);
    REQUIRE(b.reg("C").value() == 0xccdd);
    REQUIRE(b.reg("A").value() == 0x1111);
    REQUIRE(b.reg("D").value() == 0x44444444);
}

TEST_CASE("registers: save and restore cover exactly one state class", "[registers]") {
    RegisterBank b = make_bank();
    b.write(0x0, 4, 0x00f3, "t");
    b.write(0x8, 8, 0x100000, "t");
    auto hw = b.save(StateClass::Hardware);
    REQUIRE(hw.count("CTRL"));
    REQUIRE_FALSE(hw.count("RING"));       // driver state is re-derived, never saved
    REQUIRE_FALSE(hw.count("STATUS"));     // volatile
    RegisterBank::Snapshot snap;
    b.snapshot(StateClass::Hardware, snap);
    REQUIRE(snap.size() == hw.size());

    b.reset();                             // power loss
    REQUIRE(b.reg("CTRL").value() == 0x1);
    REQUIRE(b.compare(snap).size() == 1);
    REQUIRE(b.compare(snap)[0].reg == "CTRL");

    b.restore(hw);
    auto again = b.save(StateClass::Hardware);
    REQUIRE(again == hw);                  // save -> restore -> save is identical
    REQUIRE(b.compare(snap).empty());
}

TEST_CASE("registers: comparisons ignore status and trigger bits", "[registers]") {
    RegisterBank b("dev", nullptr);
    b.add({.name = "PMCSR", .offset = 0, .width = 2, .ro = 0x8, .w1c = 0x8000, .cls = StateClass::Hardware, .doc = "test"});
    RegisterBank::Snapshot before;
    b.snapshot(StateClass::Hardware, before);
    b.reg("PMCSR").set(0x8000);            // PME_Status is a status bit
    REQUIRE(b.compare(before).empty());
    b.reg("PMCSR").set(0x0003);            // the power state is state
    REQUIRE(b.compare(before).size() == 1);
}

namespace {
// The checker's comparison as it was before snapshots: the class's
// registers saved by name, and each register of the class now looked up in
// them, in bank order (one declared since is not in the save).
std::vector<RegisterBank::Diff> compare_by_name(const RegisterBank& b, const RegisterBank::Saved& before,
                                                StateClass cls) {
    std::vector<RegisterBank::Diff> out;
    for (const auto& r : b.registers()) {
        if (r->spec().cls != cls) continue;
        auto it = before.find(r->name());
        if (it == before.end()) continue;
        const uint64_t m = r->state_mask();
        if ((it->second & m) != (r->value() & m)) out.push_back({r->name(), it->second & m, r->value() & m});
    }
    return out;
}
}  // namespace

TEST_CASE("registers: a snapshot finds what a save by name finds, in the same order", "[registers]") {
    Rng rng(18);
    RegisterBank b("dev", nullptr);
    unsigned declared = 0;
    // Registers at offsets 8 apart, declared out of order and some after a
    // snapshot was taken, of every class and width, with status and
    // trigger bits.
    auto declare = [&] {
        const uint32_t slot = uint32_t(rng.uniform(0, 4095));
        if (b.at(slot * 8)) return;
        const unsigned width = 1u << rng.uniform(0, 3);
        const auto cls = static_cast<StateClass>(rng.uniform(0, 2));
        b.add({.name = "R" + std::to_string(declared++), .offset = slot * 8, .width = width, .reset = rng.next(),
               .w1c = rng.uniform(0, 3) == 0 ? rng.next() : 0, .wo = rng.uniform(0, 3) == 0 ? rng.next() : 0,
               .cls = cls, .doc = "test"});
    };
    for (int i = 0; i < 40; ++i) declare();
    RegisterBank::Snapshot snap;  // taken again and again into the same object
    size_t diffs_seen = 0, added_after = 0;
    for (int round = 0; round < 300; ++round) {
        const auto cls = static_cast<StateClass>(rng.uniform(0, 2));
        const RegisterBank::Saved saved = b.save(cls);
        b.snapshot(cls, snap);
        REQUIRE(snap.size() == saved.size());
        const size_t before_adds = b.registers().size();
        for (uint64_t n = rng.uniform(0, 2); n > 0; --n) declare();
        added_after += b.registers().size() - before_adds;
        for (uint64_t n = rng.uniform(0, 6); n > 0; --n) {
            const auto& r = b.registers()[rng.uniform(0, b.registers().size() - 1)];
            r->set(rng.uniform(0, 1) ? rng.next() : r->value() ^ (uint64_t(1) << rng.uniform(0, 63)));
        }
        const auto want = compare_by_name(b, saved, cls);
        const auto got = b.compare(snap);
        REQUIRE(got.size() == want.size());
        for (size_t i = 0; i < want.size(); ++i) {
            CHECK(got[i].reg == want[i].reg);
            CHECK(got[i].expected == want[i].expected);
            CHECK(got[i].actual == want[i].actual);
        }
        diffs_seen += want.size();
    }
    REQUIRE(diffs_seen > 100);    // the comparisons found differences
    REQUIRE(added_after > 100);   // and registers were declared after snapshots
}

TEST_CASE("registers: a snapshot is compared only with its own bank", "[registers]") {
    RegisterBank a = make_bank(), other = make_bank();
    other.set_owner("other");
    RegisterBank::Snapshot snap;
    a.snapshot(StateClass::Hardware, snap);
    REQUIRE(a.compare(snap).empty());
    REQUIRE(other.compare(RegisterBank::Snapshot{}).empty());  // none taken yet: nothing to compare
    ChildResult r = run_forked([&](int) { other.compare(snap); }, 10);
    REQUIRE(r.status == ChildResult::Status::Crashed);
    REQUIRE(r.error_tail.find("other: compared with a snapshot of dev") != std::string::npos);
}

TEST_CASE("registers: every access is a trace record", "[registers]") {
    EventHub hub;
    std::vector<Event> seen;
    hub.subscribe(kind_bit(EvKind::RegAccess), [&](const Event& e) { seen.push_back(e); });
    RegisterBank b = make_bank(&hub);
    b.write(0x0, 4, 0x3, "cpu0");
    b.read(0x8, 8, "cpu0");
    REQUIRE(seen.size() == 2);
    REQUIRE(seen[0].name == "CTRL");
    REQUIRE(seen[0].write);
    REQUIRE(seen[0].data == 0x3);
    REQUIRE(seen[0].initiator == "cpu0");
    REQUIRE(seen[0].category == "hardware");
    REQUIRE(seen[1].name == "RING");
    REQUIRE(seen[1].category == "driver");
}
