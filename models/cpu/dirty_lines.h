// The dirty lines of one core's write-back cache (models/cpu/cpu.h): each a
// line address and what DRAM holds under it until write-back, in order of
// their last write (least recently written first).
//
// Slots in one vector, kept across clears, linked in write order by index,
// and found through an open-addressed table of slot numbers (linear
// probing, deletion by shifting back): after warm-up a write, an eviction
// or a snoop allocates nothing (issue 18 item 3: the map and list this
// replaces allocated two nodes per line missed and freed two per line
// evicted - about 4% of a default S3 cycle's simulation).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace quiesce {

class DirtyLines {
public:
    static constexpr uint64_t kLine = 64;
    struct Line {
        uint64_t addr = 0;
        std::array<uint8_t, kLine> dram{};  // what DRAM holds until write-back
        uint32_t older = kNil, newer = kNil;
    };

    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

    // The line at `addr`, or nullptr. Valid until the next insert.
    Line* find(uint64_t addr) {
        if (size_ == 0) return nullptr;
        for (size_t i = home(addr);; i = (i + 1) & mask_) {
            const uint32_t s = index_[i];
            if (s == kNil) return nullptr;
            if (slots_[s].addr == addr) return &slots_[s];
        }
    }
    // A new line at `addr` (not held), the most recently written; its dram
    // is for the caller to fill. Valid until the next insert.
    Line& insert(uint64_t addr) {
        if (2 * (size_ + 1) > index_.size()) grow();
        uint32_t s;
        if (!free_.empty()) {
            s = free_.back();
            free_.pop_back();
        } else {
            s = uint32_t(slots_.size());
            slots_.emplace_back();
        }
        Line& l = slots_[s];
        l.addr = addr;
        link_newest(s);
        size_t i = home(addr);
        while (index_[i] != kNil) i = (i + 1) & mask_;
        index_[i] = s;
        ++size_;
        return l;
    }
    // Written again: the most recently written.
    void touch(Line& l) {
        const uint32_t s = slot_of(l);
        if (s == newest_) return;
        unlink(s);
        link_newest(s);
    }
    void erase(Line& l) {
        const uint32_t s = slot_of(l);
        unlink(s);
        size_t i = home(l.addr);
        while (index_[i] != s) i = (i + 1) & mask_;
        // Shift back the entries after the hole whose home lies at or before it.
        for (size_t j = (i + 1) & mask_; index_[j] != kNil; j = (j + 1) & mask_) {
            const size_t h = home(slots_[index_[j]].addr);
            if (((j - h) & mask_) >= ((j - i) & mask_)) {
                index_[i] = index_[j];
                i = j;
            }
        }
        index_[i] = kNil;
        free_.push_back(s);
        --size_;
    }
    // The least recently written line (size() > 0).
    Line& oldest() { return slots_[oldest_]; }
    // Each line, least recently written first.
    template <typename F>
    void each_oldest_first(F&& f) const {
        for (uint32_t s = oldest_; s != kNil; s = slots_[s].newer) f(slots_[s]);
    }
    // Empty; the slots and the table stay allocated for the lines to come.
    void clear() {
        if (size_ == 0) return;
        for (uint32_t s = oldest_; s != kNil; s = slots_[s].newer) free_.push_back(s);
        std::fill(index_.begin(), index_.end(), kNil);
        oldest_ = newest_ = kNil;
        size_ = 0;
    }

private:
    static constexpr uint32_t kNil = ~0u;
    size_t home(uint64_t addr) const { return size_t(((addr / kLine) * 0x9E3779B97F4A7C15ull) >> shift_) & mask_; }
    uint32_t slot_of(const Line& l) const { return uint32_t(&l - slots_.data()); }
    void link_newest(uint32_t s) {
        slots_[s].older = newest_;
        slots_[s].newer = kNil;
        if (newest_ != kNil) slots_[newest_].newer = s;
        else oldest_ = s;
        newest_ = s;
    }
    void unlink(uint32_t s) {
        Line& l = slots_[s];
        if (l.older != kNil) slots_[l.older].newer = l.newer;
        else oldest_ = l.newer;
        if (l.newer != kNil) slots_[l.newer].older = l.older;
        else newest_ = l.older;
    }
    void grow() {
        const size_t n = index_.empty() ? 64 : 2 * index_.size();
        index_.assign(n, kNil);
        mask_ = n - 1;
        shift_ = 64;
        for (size_t k = n; k > 1; k /= 2) --shift_;
        for (uint32_t s = oldest_; s != kNil; s = slots_[s].newer) {
            size_t i = home(slots_[s].addr);
            while (index_[i] != kNil) i = (i + 1) & mask_;
            index_[i] = s;
        }
    }

    std::vector<Line> slots_;
    std::vector<uint32_t> free_;
    std::vector<uint32_t> index_;  // slot numbers, kNil where empty; a power of two long
    size_t mask_ = 0;
    unsigned shift_ = 63;  // 64 - log2(index_.size()), once grown
    uint32_t oldest_ = kNil, newest_ = kNil;
    size_t size_ = 0;
};

}  // namespace quiesce
