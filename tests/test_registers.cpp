#include "sim/core/events.h"
#include "sim/core/registers.h"

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

    b.reset();                             // power loss
    REQUIRE(b.reg("CTRL").value() == 0x1);
    REQUIRE(b.compare(hw, StateClass::Hardware).size() == 1);
    REQUIRE(b.compare(hw, StateClass::Hardware)[0].reg == "CTRL");

    b.restore(hw);
    auto again = b.save(StateClass::Hardware);
    REQUIRE(again == hw);                  // save -> restore -> save is identical
    REQUIRE(b.compare(hw, StateClass::Hardware).empty());
}

TEST_CASE("registers: comparisons ignore status and trigger bits", "[registers]") {
    RegisterBank b("dev", nullptr);
    b.add({.name = "PMCSR", .offset = 0, .width = 2, .ro = 0x8, .w1c = 0x8000, .cls = StateClass::Hardware, .doc = "test"});
    auto before = b.save(StateClass::Hardware);
    b.reg("PMCSR").set(0x8000);            // PME_Status is a status bit
    REQUIRE(b.compare(before, StateClass::Hardware).empty());
    b.reg("PMCSR").set(0x0003);            // the power state is state
    REQUIRE(b.compare(before, StateClass::Hardware).size() == 1);
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
