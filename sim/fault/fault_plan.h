// The fault plan of a scenario (`[[fault]]` rules). This first slice has the
// faults hibernation needs; the protocols/faults issue generalises kinds and
// triggers (cycle, Nth event, probability).
//   power-loss      the platform loses power: at the start of `phase`, or,
//                   with phase = "write-image", after `after_pages` image
//                   pages were written; power comes back `restore_after`
//                   later and the machine boots normally
//   image-bit-flip  while the machine is off after S4, one bit of image data
//                   page `page` flips on the swap partition
#pragma once

#include "sim/core/time.h"

#include <cstdint>
#include <string>
#include <vector>

namespace quiesce {

struct FaultSpec {
    std::string kind;
    std::string phase;            // power-loss
    int64_t after_pages = -1;     // power-loss in write-image
    uint64_t page = 0;            // image-bit-flip
    Picos restore_after = 1'000'000'000'000ULL;  // power-loss: 1 s off
    int line = 0;
};

struct FaultPlan {
    std::vector<FaultSpec> faults;
    const FaultSpec* find(const std::string& kind) const {
        for (const auto& f : faults)
            if (f.kind == kind) return &f;
        return nullptr;
    }
    // A power loss at the start of `phase`?
    const FaultSpec* power_loss_before(const std::string& phase) const {
        for (const auto& f : faults)
            if (f.kind == "power-loss" && f.phase == phase && f.after_pages < 0) return &f;
        return nullptr;
    }
    static const std::vector<std::string>& kinds() {
        static const std::vector<std::string> k = {"power-loss", "image-bit-flip"};
        return k;
    }
};

}  // namespace quiesce
