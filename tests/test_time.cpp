#include "sim/core/rng.h"
#include "sim/core/time.h"

#include <catch2/catch.hpp>

#include <stdexcept>
#include <vector>

using namespace quiesce;

TEST_CASE("clock domain: integer periods convert exactly", "[time]") {
    ClockDomain cpu("cpu", 1'000'000'000);
    REQUIRE(cpu.edge_ps(Cycles(0)) == 0);
    REQUIRE(cpu.edge_ps(Cycles(1)) == 1000);
    REQUIRE(cpu.edge_ps(Cycles(1'000'000)) == 1'000'000'000);
    REQUIRE(cpu.cycles_at(999) == Cycles(0));
    REQUIRE(cpu.cycles_at(1000) == Cycles(1));
    REQUIRE(cpu.ceil_cycles(1001) == Cycles(2));
    REQUIRE(cpu.next_edge_ps(1000) == 1000);
    REQUIRE(cpu.cycles_in(10'000'000'000ULL) == Cycles(10'000'000));  // 10 ms
}

TEST_CASE("clock domain: fractional periods never drift", "[time]") {
    ClockDomain fast("fast", 3'000'000'000ULL);  // 333.33 ps
    REQUIRE(fast.edge_ps(Cycles(3)) == 1000);
    REQUIRE(fast.edge_ps(Cycles(3'000'000'000ULL)) == 1'000'000'000'000ULL);  // exactly 1 s
    for (uint64_t c : {1ULL, 2ULL, 7ULL, 1'000'001ULL, 2'999'999'999ULL}) {
        Picos t = fast.edge_ps(Cycles(c));
        REQUIRE(fast.cycles_at(t) == Cycles(c));
        REQUIRE(fast.ceil_cycles(t) == Cycles(c));
        REQUIRE(fast.cycles_at(t - 1) == Cycles(c - 1));
        REQUIRE(fast.ceil_cycles(t - 1) == Cycles(c));
    }
    ClockDomain acpi("acpi", 3'579'545);  // the ACPI PM timer
    Picos one = acpi.edge_ps(Cycles(1));
    REQUIRE(one == 279365);  // floor(1e12 / 3579545)
    REQUIRE(acpi.cycles_at(acpi.edge_ps(Cycles(3'579'545))) == Cycles(3'579'545));
}

// The exact-period fast path (1e12 divisible by hz) gives what the general
// 128-bit formula gives, everywhere a run's times reach.
TEST_CASE("clock domain: an exact period converts as the general formula", "[time]") {
    const unsigned __int128 ps = 1'000'000'000'000ULL;
    auto edge = [&](uint64_t hz, uint64_t c) { return Picos(static_cast<unsigned __int128>(c) * ps / hz); };
    auto floor_at = [&](uint64_t hz, Picos t) { return uint64_t(static_cast<unsigned __int128>(t) * hz / ps); };
    auto ceil_in = [&](uint64_t hz, Picos t) {
        return uint64_t((static_cast<unsigned __int128>(t) * hz + ps - 1) / ps);
    };
    for (uint64_t hz : {1ULL, 32'000ULL, 1'000'000ULL, 100'000'000ULL, 125'000'000ULL, 800'000'000ULL,
                        1'000'000'000ULL, 4'000'000'000ULL, 1'000'000'000'000ULL}) {
        ClockDomain d("d", hz);
        for (Picos t : {Picos(0), Picos(1), Picos(999), Picos(1000), Picos(1001), Picos(1'250), Picos(320'262'867'250ULL),
                        Picos(10'000'000'000'000ULL), Picos(18'000'000'000'000'000'000ULL)}) {
            INFO(hz << " Hz at " << uint64_t(t) << " ps");
            const uint64_t c = floor_at(hz, t);
            REQUIRE(d.cycles_at(t) == Cycles(c));
            REQUIRE(d.ceil_cycles(t) == Cycles(edge(hz, c) == t ? c : c + 1));
            REQUIRE(d.cycles_in(t) == Cycles(ceil_in(hz, t)));
            REQUIRE(d.edge_ps(Cycles(c)) == edge(hz, c));
            REQUIRE(d.edge_ps(Cycles(c + 7)) == edge(hz, c + 7));
        }
    }
}

// The exact period's quotient by a multiply (ClockDomain::split) is the
// division's, for every period a frequency gives - 1 ps and 1 s included -
// and for times up to 2^64 - 1, where the multiply's estimate is one short.
TEST_CASE("clock domain: an exact period divides by a multiply as by a division", "[time]") {
    Rng rng(7);
    for (uint64_t hz : {1ULL, 32'000ULL, 40'000'000ULL, 100'000'000ULL,
                        125'000'000ULL, 500'000'000ULL, 800'000'000ULL, 1'000'000'000ULL, 250'000'000'000ULL,
                        1'000'000'000'000ULL}) {
        if (1'000'000'000'000ULL % hz) continue;
        const uint64_t period = 1'000'000'000'000ULL / hz;
        ClockDomain d("d", hz);
        std::vector<uint64_t> ts = {0, 1, period - 1, period, period + 1, ~uint64_t(0), ~uint64_t(0) - 1,
                                    ~uint64_t(0) / period * period, ~uint64_t(0) / period * period - 1};
        for (int i = 0; i < 20'000; ++i) ts.push_back(rng.next() >> (i % 64));
        for (uint64_t t : ts) {
            INFO(hz << " Hz at " << t << " ps");
            REQUIRE(d.cycles_at(t) == Cycles(t / period));
            REQUIRE(d.ceil_cycles(t) == Cycles(t / period + (t % period != 0)));
            REQUIRE(d.cycles_in(t) == Cycles(t / period + (t % period != 0)));
        }
    }
}

TEST_CASE("durations, sizes and frequencies parse with units", "[time]") {
    REQUIRE(parse_duration("10ms") == 10'000'000'000ULL);
    REQUIRE(parse_duration("150us") == 150'000'000ULL);
    REQUIRE(parse_duration("2.5ns") == 2500);
    REQUIRE(parse_duration("1s") == 1'000'000'000'000ULL);
    REQUIRE(parse_duration("250ps") == 250);
    REQUIRE(parse_size("16MiB") == 16ULL << 20);
    REQUIRE(parse_size("4KiB") == 4096);
    REQUIRE(parse_size("512") == 512);
    REQUIRE(parse_hz("1GHz") == 1'000'000'000ULL);
    REQUIRE(parse_hz("3.579545MHz") == 3'579'545);
    REQUIRE_THROWS_AS(parse_duration("10"), std::invalid_argument);
    REQUIRE_THROWS_AS(parse_duration("ms"), std::invalid_argument);
    REQUIRE_THROWS_AS(parse_duration("1.5ps"), std::invalid_argument);
    REQUIRE_THROWS_AS(parse_size("3MB"), std::invalid_argument);
    REQUIRE_THROWS_AS(parse_hz("0Hz"), std::invalid_argument);
}

TEST_CASE("a number of dots and digits that is no number says so, not the library's word", "[time]") {
    // std::stold's own error text is its name ("stold"): the message must
    // say what is wrong with the input instead.
    for (const char* text : {"..5ms", "1..5ms", "1.2.3us", ".._us"}) {
        INFO(text);
        REQUIRE_THROWS_WITH(parse_duration(text), "'" + std::string(text) + "' is not a number");
    }
    REQUIRE_THROWS_WITH(parse_size("..5KiB"), "'..5KiB' is not a number");
}

TEST_CASE("picoseconds format for people", "[time]") {
    REQUIRE(format_ps(0) == "0ps");
    REQUIRE(format_ps(1500) == "1.5ns");
    REQUIRE(format_ps(320'262'867'250ULL) == "320.262ms");
    REQUIRE(format_ps(2'000'000'000'000ULL) == "2s");
}

TEST_CASE("rng: fill_bytes gives eight bytes of each next(), lowest first", "[time][rng]") {
    for (size_t n : {0, 1, 7, 8, 9, 4099}) {
        INFO(n);
        Rng a(42), b(42);
        std::vector<uint8_t> fast(n), slow;
        a.fill_bytes(fast.data(), fast.size());
        while (slow.size() < n) {
            const uint64_t v = b.next();
            for (int k = 0; k < 8 && slow.size() < n; ++k) slow.push_back(uint8_t(v >> (8 * k)));
        }
        REQUIRE(fast == slow);
        REQUIRE(a.next() == b.next());  // the same state after: ceil(n / 8) steps
    }
}
