// Physical memory: sparse 4 KiB pages with a per-page write version, last
// writer and last write time, and region attributes (DESIGN.md §5). A TLM
// target; the checker and the loader read it directly ("the simulation knows
// the true state of everything").
#pragma once

#include "sim/core/module.h"
#include "sim/core/target_socket.h"

#include <array>
#include <cstdint>
#include <memory>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

namespace quiesce {

enum class RegionAttr { Normal, Nosave, Firmware, MmioHole };
const char* to_string(RegionAttr a);

struct MemRegion {
    std::string name;
    uint64_t base = 0;
    uint64_t size = 0;
    RegionAttr attr = RegionAttr::Normal;
};

class PhysicalMemory : public Component {
public:
    static constexpr uint64_t kPageSize = 4096;

    struct PageInfo {
        uint64_t version = 0;      // writes to this page so far
        std::string last_writer;   // initiator name
        Picos last_write = 0;
    };

    PhysicalMemory(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
                   uint64_t size);

    TargetSocket<PhysicalMemory> socket;

    uint64_t size() const { return size_; }
    void add_region(MemRegion region);
    const std::vector<MemRegion>& regions() const { return regions_; }
    RegionAttr attr_of(uint64_t addr) const;

    // Direct (zero-time) access for loaders, checkers and tests.
    void peek(uint64_t addr, void* out, uint64_t len) const;
    void poke(uint64_t addr, const void* in, uint64_t len, const std::string& writer);
    uint32_t peek32(uint64_t addr) const { uint32_t v; peek(addr, &v, 4); return v; }
    uint64_t peek64(uint64_t addr) const { uint64_t v; peek(addr, &v, 8); return v; }

    // Told of every write that arrives over the bus (initiator, range): the
    // CPUs' caches snoop device writes through it.
    void set_write_observer(std::function<void(const std::string& initiator, uint64_t addr, uint64_t len)> o) {
        write_observer_ = std::move(o);
    }

    // The bus's direct path to RAM (SystemBus::direct_access; issue 18 item
    // 3, in the spirit of TLM DMI): what an access over the socket does here
    // - the contents, the page's version and last writer, the write observer,
    // the latency annotated on `delay` - without a payload. False, doing
    // nothing, where the socket would answer an address error.
    bool direct_read(uint64_t addr, void* out, unsigned len, Picos& delay);
    bool direct_write(uint64_t addr, const void* in, unsigned len, const std::string& initiator, Picos& delay);
    bool in_range(uint64_t addr, unsigned len) const { return len != 0 && addr < size_ && len <= size_ - addr; }

    const PageInfo* page_info(uint64_t pfn) const;
    // Resident page frame numbers, ascending.
    std::vector<uint64_t> resident() const;
    // Power removed (S4, S5): every page is gone.
    void lose_contents();
    size_t resident_pages() const { return pages_.size(); }
    // hash_bytes over every resident page (pfn + contents), in pfn order.
    uint64_t digest() const;

private:
    struct Page {
        std::array<uint8_t, kPageSize> data{};
        PageInfo info;
    };
    void b_transport(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    Page& page_for_write(uint64_t pfn);
    // The page at `pfn`, nullptr when never written. The last two lookups
    // are remembered, absent or not: an access and the bursts of a DMA
    // transfer fall in the page of the one before, and a copy alternates
    // between its source's page and its destination's (a DMA engine's
    // bursts, the hibernation image's pages), where one remembered page
    // missed every time. A hash lookup costs more than the copy of a
    // burst's bytes: the bucket is the key modulo the bucket count, a
    // 64-bit division (issue 18 item 3). Pages are held by unique_ptr and
    // only page_for_write adds one (and remembers it), only lose_contents
    // removes them (and forgets).
    const Page* find_page(uint64_t pfn) const {
        if (seen_[0].pfn == pfn) return seen_[0].page;
        if (seen_[1].pfn == pfn) return seen_[1].page;
        auto it = pages_.find(pfn);
        seen_[1] = seen_[0];
        seen_[0] = {pfn, it == pages_.end() ? nullptr : it->second.get()};
        return seen_[0].page;
    }
    struct Seen {
        uint64_t pfn = ~uint64_t(0);
        Page* page = nullptr;
    };
    mutable std::array<Seen, 2> seen_;
    Cycles access_cycles(unsigned len) const {
        return Cycles(uint64_t(*latency_cycles_)) + Cycles((len + kBytesPerCycle - 1) / kBytesPerCycle);
    }

    uint64_t size_;
    std::vector<MemRegion> regions_;
    std::unordered_map<uint64_t, std::unique_ptr<Page>> pages_;
    // The contents the last power cut lost, freed at the next cut or with
    // the memory rather than at the cut: a forked run ends without tearing
    // its models down, and freeing thousands of pages it shares with its
    // parent would make the kernel copy each page the frees touch
    // (copy-on-write). At most one generation is kept.
    std::unordered_map<uint64_t, std::unique_ptr<Page>> lost_;
    static constexpr unsigned kBytesPerCycle = 16;  // a shift, not a division
    const int64_t* latency_cycles_ = nullptr;  // the property, resolved once
    std::function<void(const std::string&, uint64_t, uint64_t)> write_observer_;
};

}  // namespace quiesce
