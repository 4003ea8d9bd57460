// Physical memory: sparse pages with write versions, the bus target, and the memory digest.
#include "sim/core/memory.h"

#include "sim/core/errors.h"
#include "sim/core/hash.h"

#include <algorithm>
#include <cstring>
#include <map>

namespace quiesce {

const char* to_string(RegionAttr a) {
    switch (a) {
        case RegionAttr::Normal: return "normal";
        case RegionAttr::Nosave: return "nosave";
        case RegionAttr::Firmware: return "firmware";
        case RegionAttr::MmioHole: return "mmio-hole";
    }
    return "?";
}

PhysicalMemory::PhysicalMemory(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
                               uint64_t size)
    : Component(name, ctx, clock), socket("socket"), size_(size) {
    SIM_ASSERT(size_ % kPageSize == 0, "memory size {} is not a whole number of pages", size_);
    socket.register_b_transport(this, &PhysicalMemory::b_transport);
    props().declare("latency_cycles", int64_t(40), "DRAM access latency before the first beat");
    latency_cycles_ = &props().ref<int64_t>("latency_cycles");
    hub().declare_track({path(), "", "memory", clock.name(), clock.hz()});
}

void PhysicalMemory::add_region(MemRegion region) {
    SIM_ASSERT(region.base % kPageSize == 0 && region.size % kPageSize == 0,
               "region {} is not page aligned", region.name);
    regions_.push_back(std::move(region));
}

RegionAttr PhysicalMemory::attr_of(uint64_t addr) const {
    for (const auto& r : regions_)
        if (addr >= r.base && addr < r.base + r.size) return r.attr;
    return RegionAttr::Normal;
}

namespace {
// Knowing a copy's length is at most a page, GCC copies and clears it
// inline with `rep movsq` / `rep stosq`, whose start-up cost is most of
// the copy of a 64-byte burst (half of peek's and poke's samples in a busy
// run, by perf annotate); a length it knows nothing of goes to glibc's
// memcpy and memset, which copy a burst in a few vector moves.
inline void hide_bound(uint64_t& n) { asm("" : "+r"(n)); }
}  // namespace

void PhysicalMemory::peek(uint64_t addr, void* out, uint64_t len) const {
    SIM_ASSERT(addr + len <= size_, "peek outside memory at {:#x}", addr);
    auto* dst = static_cast<uint8_t*>(out);
    while (len) {
        uint64_t pfn = addr / kPageSize, off = addr % kPageSize;
        uint64_t n = std::min(len, kPageSize - off);
        hide_bound(n);
        if (const Page* p = find_page(pfn)) std::memcpy(dst, p->data.data() + off, n);
        else std::memset(dst, 0, n);
        dst += n; addr += n; len -= n;
    }
}

PhysicalMemory::Page& PhysicalMemory::page_for_write(uint64_t pfn) {
    Seen* s = seen_[0].pfn == pfn ? &seen_[0] : seen_[1].pfn == pfn ? &seen_[1] : nullptr;
    if (s && s->page) return *s->page;
    auto& slot = pages_[pfn];
    if (!slot) slot = std::make_unique<Page>();
    // Remembered: in the entry that remembered it absent, if one did.
    if (!s) {
        seen_[1] = seen_[0];
        s = &seen_[0];
        s->pfn = pfn;
    }
    s->page = slot.get();
    return *slot;
}

void PhysicalMemory::poke(uint64_t addr, const void* in, uint64_t len, const std::string& writer) {
    SIM_ASSERT(addr + len <= size_, "poke outside memory at {:#x}", addr);
    const auto* src = static_cast<const uint8_t*>(in);
    Picos t = now_ps();
    while (len) {
        uint64_t pfn = addr / kPageSize, off = addr % kPageSize;
        uint64_t n = std::min(len, kPageSize - off);
        hide_bound(n);
        Page& p = page_for_write(pfn);
        std::memcpy(p.data.data() + off, src, n);
        p.info.version++;
        if (p.info.last_writer != writer) p.info.last_writer = writer;  // mostly the writer before
        p.info.last_write = t;
        src += n; addr += n; len -= n;
    }
}

const PhysicalMemory::PageInfo* PhysicalMemory::page_info(uint64_t pfn) const {
    const Page* p = find_page(pfn);
    return p ? &p->info : nullptr;
}

std::vector<uint64_t> PhysicalMemory::resident() const {
    std::vector<uint64_t> out;
    out.reserve(pages_.size());
    for (const auto& [pfn, p] : pages_) out.push_back(pfn);
    std::sort(out.begin(), out.end());
    return out;
}

void PhysicalMemory::lose_contents() {
    hub().instant(path(), "contents-lost", "power", {{"pages", std::to_string(pages_.size())}});
    lost_ = std::move(pages_);
    pages_.clear();
    seen_ = {};  // the pages remembered are lost_'s now
}

uint64_t PhysicalMemory::digest() const {
    std::map<uint64_t, const Page*> ordered;
    for (const auto& [pfn, p] : pages_) ordered[pfn] = p.get();
    uint64_t h = kHashSeed;
    for (const auto& [pfn, p] : ordered) {
        h = hash_bytes(&pfn, sizeof pfn, h);
        h = hash_bytes(p->data.data(), kPageSize, h);
    }
    return h;
}

bool PhysicalMemory::direct_read(uint64_t addr, void* out, unsigned len, Picos& delay) {
    if (!in_range(addr, len)) return false;
    // Read when the access completes; one the power cut short reads all ones.
    if (complete(delay, access_cycles(len))) peek(addr, out, len);
    else std::memset(out, 0xff, len);
    return true;
}

bool PhysicalMemory::direct_write(uint64_t addr, const void* in, unsigned len, const std::string& initiator,
                                  Picos& delay) {
    if (!in_range(addr, len)) return false;
    // Written when the access completes; one the power cut short writes nothing.
    if (!complete(delay, access_cycles(len))) return true;
    poke(addr, in, len, initiator);
    if (write_observer_) write_observer_(initiator, addr, len);
    return true;
}

void PhysicalMemory::b_transport(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    uint64_t addr = tx.get_address();
    unsigned len = tx.get_data_length();
    Picos d = to_ps(delay);
    bool ok = tx.is_read() ? direct_read(addr, tx.get_data_ptr(), len, d)
                           : in_range(addr, len) && direct_write(addr, tx.get_data_ptr(), len, initiator_of(tx), d);
    delay = d ? from_ps(d) : sc_core::SC_ZERO_TIME;
    tx.set_response_status(ok ? tlm::TLM_OK_RESPONSE : tlm::TLM_ADDRESS_ERROR_RESPONSE);
}

}  // namespace quiesce
