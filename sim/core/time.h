// Simulated time: Cycles counted in one ClockDomain, and integer picoseconds.
// Models never tick a free-running clock: they compute the edge they need and
// wait for it (DESIGN.md §3).
#pragma once

#include <systemc>

#include <cstdint>
#include <string>

namespace quiesce {

// Integer picoseconds: the kernel's time resolution and the trace time unit.
using Picos = uint64_t;

struct Cycles {
    uint64_t n = 0;
    constexpr Cycles() = default;
    constexpr explicit Cycles(uint64_t v) : n(v) {}
    constexpr Cycles operator+(Cycles o) const { return Cycles(n + o.n); }
    constexpr Cycles operator-(Cycles o) const { return Cycles(n - o.n); }
    constexpr Cycles operator*(uint64_t k) const { return Cycles(n * k); }
    Cycles& operator+=(Cycles o) { n += o.n; return *this; }
    constexpr bool operator==(Cycles o) const { return n == o.n; }
    constexpr bool operator!=(Cycles o) const { return n != o.n; }
    constexpr bool operator<(Cycles o) const { return n < o.n; }
    constexpr bool operator<=(Cycles o) const { return n <= o.n; }
    constexpr bool operator>(Cycles o) const { return n > o.n; }
    constexpr bool operator>=(Cycles o) const { return n >= o.n; }
};

inline Picos to_ps(const sc_core::sc_time& t) { return t.value(); }
inline sc_core::sc_time from_ps(Picos p) { return sc_core::sc_time::from_value(p); }
// The simulation context's time, read inline: sc_time_stamp() returns the
// same field through a call into the library, and the models read the time
// several times an access (issue 18 item 3).
inline Picos kernel_now_ps() { return sc_core::sc_get_curr_simcontext()->time_stamp().value(); }

// How far the running thread is ahead of SystemC's time (sim/core/sync.h):
// a thread whose timed wait nobody else could notice (no other process has
// anything to do before it would end) goes on without waiting, its time
// kept here, and waits it out before anything another process could see
// when (a notification, a spawn, any other wait). Only its owner, the
// thread that went ahead, reads it.
struct Ahead {
    Picos ps = 0;
    const sc_core::sc_process_b* owner = nullptr;
    // Going ahead stays strictly before this time, the end of the running
    // sc_start (0: never go ahead; see set_horizon).
    Picos horizon = 0;
    // A thread whose wait nobody else could notice but which ends at or
    // past the horizon waits on `resume` (notified as the next sc_start
    // begins) instead of SystemC's timed queue, until `parked` (0: none):
    // a run paused there leaves SystemC's queue as a run that was not.
    sc_core::sc_event* resume = nullptr;
    Picos parked = 0;
    // While `owner` is ahead: when SystemC next has something else to do.
    Picos due = 0;
    // Timed waits asked for, and of them those gone ahead (bench_s3).
    uint64_t waits = 0, gone = 0;
};
inline Ahead ahead;

// How far the running process is ahead: 0 unless it went ahead itself.
inline Picos ahead_ps() {
    return ahead.ps && ahead.owner == sc_core::sc_get_current_process_b() ? ahead.ps : 0;
}
// The time the running process is at: SystemC's, plus how far it went ahead.
inline Picos now_ps() { return kernel_now_ps() + ahead_ps(); }

// A clock domain: cycle k starts at floor(k * 1e12 / hz) ps. Exact for any
// frequency (no accumulated rounding), so cycle counts are reproducible.
// The fastest clock a ClockDomain represents: edges fall on whole
// picoseconds, so at most one cycle per picosecond (1000GHz).
constexpr uint64_t kMaxClockHz = 1'000'000'000'000ULL;

class ClockDomain {
public:
    ClockDomain(std::string name, uint64_t hz);

    const std::string& name() const { return name_; }
    uint64_t hz() const { return hz_; }

    // time of the edge that starts cycle c
    Picos edge_ps(Cycles c) const { return period_ ? c.n * period_ : edge_ps_general(c); }
    Cycles cycles_at(Picos t) const {         // cycles completed at t (floor)
        return period_ ? Cycles(split(t).q) : cycles_at_general(t);
    }
    // first edge at or after t
    Cycles ceil_cycles(Picos t) const {
        if (!period_) return ceil_cycles_general(t);
        const Split s = split(t);
        return Cycles(s.q + (s.r != 0));
    }
    Picos next_edge_ps(Picos t) const { return edge_ps(ceil_cycles(t)); }
    Cycles cycles_in(Picos duration) const;   // cycles needed to cover a duration (ceil)

    // Delay from now to the edge that lies n cycles after the current-or-next edge.
    // Inline with the two above: every device access on the DMA path takes
    // one or more (issue 18 item 3).
    sc_core::sc_time delay(Cycles n) const { return from_ps(delay_ps(n)); }
    // The same in picoseconds: sc_time's constructor is a call into the
    // library, which the direct path to RAM makes once an access, not once
    // a hop.
    Picos delay_ps(Cycles n) const {
        const Picos now = now_ps();
        return edge_ps(ceil_cycles(now) + n) - now;
    }
    Cycles now() const { return cycles_at(now_ps()); }

private:
    // The three without an exact period: 128-bit arithmetic and corrections.
    Picos edge_ps_general(Cycles c) const;
    Cycles cycles_at_general(Picos t) const;
    Cycles ceil_cycles_general(Picos t) const;

    // t / period_ and t % period_, exactly, by a multiply instead of a
    // division: a 64-bit division took 40-90 cycles on this project's
    // machine class, and a device access on the DMA path took several (the
    // hottest instructions of a busy run; issue 18 item 3). reciprocal_ is
    // floor((2^64 - 1) / period_) >= 2^64 / period_ - 1, so the high half of
    // t * reciprocal_ lies in (t / period_ - 1, t / period_] for any t below
    // 2^64: the quotient or one less, which the remainder corrects.
    struct Split {
        uint64_t q, r;
    };
    Split split(Picos t) const {
        uint64_t q = static_cast<uint64_t>((static_cast<unsigned __int128>(t) * reciprocal_) >> 64);
        uint64_t r = t - q * period_;
        if (r >= period_) {
            ++q;
            r -= period_;
        }
        return {q, r};
    }

    std::string name_;
    uint64_t hz_;
    // 1e12 / hz when it divides exactly (every clock of the platforms:
    // 1 GHz, 100 MHz, 32768 Hz does not): then edge k is k * period_ and the
    // conversions are one 64-bit multiply or divide instead of a 128-bit
    // division and its corrections (issue 18 item 3). 0 otherwise.
    Picos period_ = 0;
    uint64_t reciprocal_ = 0;  // floor((2^64 - 1) / period_), with period_
};

// "10ms", "150us", "2.5ns", "1s", "250ps" -> picoseconds. Throws std::invalid_argument.
Picos parse_duration(const std::string& text);
// "16MiB", "4KiB", "512", "1GiB" -> bytes. Throws std::invalid_argument.
uint64_t parse_size(const std::string& text);
// "1GHz", "100MHz", "32768Hz" -> hertz. Throws std::invalid_argument.
uint64_t parse_hz(const std::string& text);
// 12345678 ps -> "12.345678us"
std::string format_ps(Picos p);

}  // namespace quiesce
