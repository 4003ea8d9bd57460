// The content hash of the checkers and the memory digest: a 64-bit hash of
// bytes, eight at a time (xor, multiply by an odd constant, fold the high
// half down), the tail a byte at a time. Not cryptographic: it tells
// contents apart, fast, the same on every run and machine (little-endian
// words, as on every host quiesce builds for).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace quiesce {

constexpr uint64_t kHashSeed = 0xcbf29ce484222325ULL;

inline uint64_t hash_bytes(const void* data, size_t len, uint64_t h = kHashSeed) {
    const auto* p = static_cast<const uint8_t*>(data);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        std::memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 32;
    }
    for (; i < len; ++i) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

}  // namespace quiesce
