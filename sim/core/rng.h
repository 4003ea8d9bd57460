// The one seeded generator of a run (DESIGN.md §4). splitmix64: the same
// sequence on every platform and library, unlike std:: distributions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace quiesce {

class Rng {
public:
    explicit Rng(uint64_t seed = 0) : state_(seed) {}
    uint64_t next() {
        uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    // Uniform in [lo, hi], without modulo bias.
    uint64_t uniform(uint64_t lo, uint64_t hi) {
        uint64_t span = hi - lo + 1;
        if (span == 0) return next();
        uint64_t limit = UINT64_MAX - UINT64_MAX % span;
        uint64_t v;
        do v = next(); while (v >= limit);
        return lo + v % span;
    }
    // n bytes, eight from each next() (its bytes from the lowest up; the
    // last step's low ones when n is not a multiple of eight): a workload's
    // data, at an eighth of the generator steps one byte a step took.
    void fill_bytes(uint8_t* out, size_t n) {
        Rng local(state_);  // in a register: a byte store may alias state_
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t v = local.next();
            // One store of the eight bytes, lowest first (GCC 12 stored
            // them one at a time: 4% of an S3 cycle's instructions).
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
            v = __builtin_bswap64(v);
#endif
            std::memcpy(out + i, &v, 8);
        }
        if (i < n) {
            const uint64_t v = local.next();
            for (size_t b = 0; i + b < n; ++b) out[i + b] = uint8_t(v >> (8 * b));
        }
        state_ = local.state_;
    }
    uint64_t seed_state() const { return state_; }

private:
    uint64_t state_;
};

}  // namespace quiesce
