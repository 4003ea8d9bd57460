// The page cache of one partition: cached blocks, dirty tracking, writeback and read-back.
#include "sim/kernel/page_cache.h"
#include "sim/core/sync.h"

#include "models/cpu/cpu.h"
#include "sim/core/errors.h"
#include "sim/kernel/kernel.h"

#include <fmt/format.h>

namespace quiesce {

PageCache::PageCache(Kernel& kernel, BlockDevice& disk, uint64_t first_sector, uint64_t blocks)
    : kernel_(kernel), disk_(disk), first_sector_(first_sector), blocks_(blocks) {
    shrinker_ = kernel_.add_shrinker([this](Cpu&, uint64_t want, bool) { return shrink(want); });
    state_ = kernel_.image_state().add(
        "page-cache", [this](StateWriter& w) { save_state(w); }, [this](StateReader& r) { load_state(r); });
}

PageCache::~PageCache() {
    kernel_.remove_shrinker(shrinker_);
    kernel_.image_state().remove(state_);
}

void PageCache::save_state(StateWriter& w) const {
    w.u64(entries_.size());
    for (const auto& [block, e] : entries_) {
        w.u64(block);
        w.u64(e.page);
        w.boolean(e.dirty);
        w.boolean(e.busy);
    }
}

void PageCache::load_state(StateReader& r) {
    std::map<uint64_t, Entry> entries;
    for (uint64_t n = r.count(32); n--;) {
        const uint64_t block = r.u64();
        Entry e;
        e.page = r.u64();
        e.dirty = r.boolean();
        e.busy = r.boolean();
        if (block >= blocks_ || e.page % kBlockSize || !kernel_.owns(e.page))
            r.fail(fmt::format("block {} cached in page {:#x}", block, e.page));
        entries[block] = e;
    }
    // A task stopped in the middle of an operation when the power went runs
    // on in the restored kernel: it holds no reference into the map across
    // a wait (each operation finds its entry again, same()).
    entries_ = std::move(entries);
    quiesce::notify(idle_, sc_core::SC_ZERO_TIME);  // whoever waited on a writeback the image does not have
}

uint64_t PageCache::drop_all(uint64_t* dirty) {
    uint64_t dropped = 0, was_dirty = 0;
    for (auto it = entries_.begin(); it != entries_.end();) {
        if (it->second.busy) {
            ++it;
            continue;
        }
        was_dirty += it->second.dirty ? 1 : 0;
        kernel_.free_page(it->second.page);
        it = entries_.erase(it);
        ++dropped;
    }
    if (dirty) *dirty = was_dirty;
    return dropped;
}

unsigned PageCache::sectors_per_block() const { return kBlockSize / disk_.sector_size(); }

uint64_t PageCache::sector_of(uint64_t block) const { return first_sector_ + block * sectors_per_block(); }

PageCache::Entry* PageCache::entry(Cpu& cpu, uint64_t block, int& rc) {
    SIM_ASSERT(block < blocks_, "block {} beyond the partition ({} blocks)", block, blocks_);
    rc = 0;
    auto it = entries_.find(block);
    if (it != entries_.end()) return &it->second;
    cpu.compute(Cycles(300));  // find_or_create_page
    std::vector<uint64_t> page;
    if ((rc = kernel_.alloc_pages(cpu, 1, Kernel::Gfp::Kernel, page))) return nullptr;
    Entry e;
    e.page = page[0];
    return &(entries_[block] = e);
}

uint64_t PageCache::shrink(uint64_t want) {
    uint64_t freed = 0;
    for (auto it = entries_.begin(); it != entries_.end() && freed < want;) {
        if (it->second.dirty || it->second.busy) {
            ++it;
            continue;
        }
        kernel_.free_page(it->second.page);
        it = entries_.erase(it);
        ++freed;
    }
    return freed;
}

PageCache::Entry* PageCache::same(uint64_t block, uint64_t page) {
    auto it = entries_.find(block);
    return it != entries_.end() && it->second.page == page ? &it->second : nullptr;
}

int PageCache::write(Cpu& cpu, uint64_t block, const void* data, uint64_t* written_page) {
    for (;;) {
        int rc = 0;
        Entry* e = entry(cpu, block, rc);
        if (!e) return rc;
        if (e->busy) {  // wait_on_page_writeback; the page may be gone after it
            kernel_.wait_event(idle_, Kernel::kNoTimeout);
            continue;
        }
        const uint64_t page = e->page;
        cpu.write_block(page, data, kBlockSize);
        // Found again: while the copy ran the shrinker may have taken the
        // clean page (then the data went nowhere: write again), or an image
        // load replaced the map.
        e = same(block, page);
        if (!e) continue;
        e->dirty = true;
        if (written_page) *written_page = page;
        return 0;
    }
}

int PageCache::read(Cpu& cpu, uint64_t block, void* out) {
    bool cached = entries_.count(block);
    int rc = 0;
    Entry* e = entry(cpu, block, rc);
    if (!e) return rc;
    const uint64_t page = e->page;
    if (!cached) {
        e->busy = true;  // locked while the read fills it: no shrinker takes it
        rc = disk_.submit(cpu, {false, sector_of(block), sectors_per_block(), page, false, false});
        // Found again: an image load may have replaced the map meanwhile.
        Entry* now = same(block, page);
        if (now) now->busy = false;
        quiesce::notify(idle_, sc_core::SC_ZERO_TIME);
        if (rc) {
            if (now) {
                kernel_.free_page(page);
                entries_.erase(block);
            }
            return rc;
        }
    }
    cpu.read_block(page, out, kBlockSize);
    return 0;
}

int PageCache::writeback(Cpu& cpu, uint64_t block) {
    auto it = entries_.find(block);
    if (it == entries_.end() || !it->second.dirty || it->second.busy) return 0;
    const uint64_t page = it->second.page;
    it->second.busy = true;
    it->second.dirty = false;  // cleared before the I/O: a write during it re-dirties
    BlockRequest rq{true, sector_of(block), sectors_per_block(), page, false, false};
    int rc = disk_.submit(cpu, rq);
    // Found again: an image load may have replaced the map meanwhile.
    if (Entry* e = same(block, page)) {
        e->busy = false;
        if (rc != 0) e->dirty = true;
    }
    quiesce::notify(idle_, sc_core::SC_ZERO_TIME);
    return rc;
}

int PageCache::writeback_all(Cpu& cpu) {
    std::vector<uint64_t> dirty;
    for (const auto& [b, e] : entries_)
        if (e.dirty) dirty.push_back(b);
    for (uint64_t b : dirty)
        if (int rc = writeback(cpu, b)) return rc;
    return 0;
}

int PageCache::fsync(Cpu& cpu, const std::set<uint64_t>& blocks) {
    for (uint64_t b : blocks) {
        // filemap_write_and_wait: wait for writeback already under way.
        for (auto it = entries_.find(b); it != entries_.end() && it->second.busy; it = entries_.find(b))
            kernel_.wait_event(idle_, Kernel::kNoTimeout);
        if (int rc = writeback(cpu, b)) return rc;
    }
    return disk_.flush(cpu);  // durable: what was written back before it
}

int PageCache::sync(Cpu& cpu) {
    if (int rc = writeback_all(cpu)) return rc;
    return fsync(cpu, {});
}

}  // namespace quiesce
