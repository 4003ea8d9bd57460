// Swap: the slot map of the swap partition, and anonymous memory swapped out and back in.
#include "sim/kernel/swap.h"
#include "sim/core/sync.h"

#include "models/cpu/cpu.h"
#include "sim/core/errors.h"
#include "sim/kernel/kernel.h"

#include <fmt/format.h>

#include <algorithm>

namespace quiesce {

namespace {
constexpr uint64_t kPage = 4096;
}

SwapMap::SwapMap(Kernel& kernel, BlockDevice& dev, uint64_t first_sector, uint64_t sectors)
    : kernel_(kernel), dev_(dev), first_(first_sector), slots_(sectors / (kPage / dev.sector_size())) {}

void SwapMap::init(Cpu& cpu) {
    map_ = kernel_.alloc((slots_ + kPage - 1) / kPage * kPage, kPage);
    std::vector<uint8_t> zero(slots_, 0);
    zero[0] = 1;  // the header
    cpu.write_block(map_, zero.data(), unsigned(zero.size()));
}

// The lowest free slot (the swap allocator fills clusters from the start of
// the partition): read the map, claim the slot.
int64_t SwapMap::alloc(Cpu& cpu) {
    std::vector<uint8_t> map(slots_);
    cpu.read_block(map_, map.data(), unsigned(slots_));
    for (uint64_t slot = 1; slot < slots_; ++slot)
        if (map[slot] == 0) {
            cpu.write8(map_ + slot, 1);
            return int64_t(slot);
        }
    return -1;
}

void SwapMap::free(Cpu& cpu, uint64_t slot) {
    SIM_ASSERT(slot > 0 && slot < slots_, "freeing swap slot {}", slot);
    cpu.write8(map_ + slot, 0);
}

int SwapMap::io(Cpu& cpu, uint64_t slot, uint64_t buffer, bool write) {
    uint32_t spp = uint32_t(kPage / dev_.sector_size());
    return dev_.submit(cpu, {write, first_ + slot * spp, spp, buffer, false, false});
}

AnonMemory::AnonMemory(Kernel& kernel, SwapMap& swap, uint64_t pages, uint64_t resident_limit)
    : kernel_(kernel), swap_(swap), ptes_(pages), resident_limit_(std::max<uint64_t>(1, resident_limit)) {
    shrinker_ = kernel_.add_shrinker([this](Cpu& cpu, uint64_t want, bool may_io) {
        uint64_t freed = 0;
        while (may_io && freed < want && !lru_.empty() && evict(cpu) == 0) ++freed;
        return freed;
    });
    state_ = kernel_.image_state().add(
        "anon-memory", [this](StateWriter& w) { save_state(w); }, [this](StateReader& r) { load_state(r); });
}

AnonMemory::~AnonMemory() {
    kernel_.remove_shrinker(shrinker_);
    kernel_.image_state().remove(state_);
}

void AnonMemory::save_state(StateWriter& w) const {
    w.u64(ptes_.size());
    for (const Pte& p : ptes_) {
        w.boolean(p.present);
        w.boolean(p.busy);
        w.u64(p.frame);
        w.u64(uint64_t(p.slot));
    }
    w.u64s({lru_.begin(), lru_.end()});
    w.u64(resident_);
    w.u64(swapped_);
    w.u64(faults_);
}

void AnonMemory::load_state(StateReader& r) {
    std::vector<Pte> ptes(r.count(32));
    if (ptes.size() != ptes_.size()) r.fail(fmt::format("{} pages, the task has {}", ptes.size(), ptes_.size()));
    for (Pte& p : ptes) {
        p.present = r.boolean();
        p.busy = r.boolean();
        p.frame = r.u64();
        p.slot = int64_t(r.u64());
        if (p.present && !kernel_.owns(p.frame)) r.fail(fmt::format("a page in frame {:#x}", p.frame));
        if (p.slot < -1 || (p.slot >= 0 && uint64_t(p.slot) >= swap_.slots()))
            r.fail(fmt::format("a page in swap slot {}", p.slot));
    }
    std::vector<uint64_t> lru = r.u64s();
    for (uint64_t v : lru)
        if (v >= ptes.size()) r.fail(fmt::format("page {} on the LRU", v));
    const uint64_t resident = r.u64(), swapped = r.u64(), faults = r.u64();
    // In place (the sizes match): a task stopped in the middle of a swap
    // I/O when the power went holds a reference into the table, and must
    // not find it freed when it runs on in the restored kernel.
    std::copy(ptes.begin(), ptes.end(), ptes_.begin());
    lru_.assign(lru.begin(), lru.end());
    resident_ = resident;
    swapped_ = swapped;
    faults_ = faults;
    quiesce::notify(io_done_, sc_core::SC_ZERO_TIME);
}

int AnonMemory::evict(Cpu& cpu) {
    uint64_t victim = lru_.front();
    lru_.pop_front();
    Pte& pte = ptes_[victim];
    int64_t slot = swap_.alloc(cpu);
    if (slot < 0) {
        lru_.push_front(victim);
        return -12;  // -ENOMEM: swap full
    }
    pte.busy = true;
    int rc = swap_.io(cpu, uint64_t(slot), pte.frame, true);
    pte.busy = false;
    quiesce::notify(io_done_, sc_core::SC_ZERO_TIME);
    if (rc) {
        swap_.free(cpu, uint64_t(slot));
        lru_.push_front(victim);
        return rc;
    }
    kernel_.hub().instant(kernel_.path(), "swap-out", "swap",
                          {{"vpage", std::to_string(victim)}, {"slot", std::to_string(slot)}});
    pte.present = false;
    pte.slot = slot;
    kernel_.free_page(pte.frame);
    --resident_;
    ++swapped_;
    return 0;
}

int AnonMemory::touch(Cpu& cpu, uint64_t vpage, uint64_t& frame) {
    SIM_ASSERT(vpage < ptes_.size(), "anonymous page {} out of range", vpage);
    Pte& pte = ptes_[vpage];
    while (pte.busy) kernel_.wait_event(io_done_, Kernel::kNoTimeout, "swap-out");
    if (pte.present) {
        lru_.remove(vpage);
        lru_.push_back(vpage);
        frame = pte.frame;
        return 0;
    }
    ++faults_;
    cpu.compute(Cycles(1'500));  // the page fault
    if (resident_ >= resident_limit_)
        if (int rc = evict(cpu)) return rc;
    std::vector<uint64_t> frame_of;
    if (int rc = kernel_.alloc_pages(cpu, 1, Kernel::Gfp::Kernel, frame_of)) return rc;
    uint64_t f = frame_of[0];
    if (pte.slot >= 0) {  // swap in
        if (int rc = swap_.io(cpu, uint64_t(pte.slot), f, false)) {
            kernel_.free_page(f);
            return rc;
        }
        kernel_.hub().instant(kernel_.path(), "swap-in", "swap",
                              {{"vpage", std::to_string(vpage)}, {"slot", std::to_string(pte.slot)}});
        swap_.free(cpu, uint64_t(pte.slot));
        pte.slot = -1;
    } else {
        std::vector<uint8_t> zero(kPage, 0);  // a new anonymous page is zero-filled
        cpu.write_block(f, zero.data(), unsigned(kPage));
    }
    pte.present = true;
    pte.frame = f;
    ++resident_;
    lru_.push_back(vpage);
    frame = f;
    return 0;
}

}  // namespace quiesce
