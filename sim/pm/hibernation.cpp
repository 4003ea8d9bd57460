// Hibernation in the image kernel: preallocating the copy pages, the atomic
// snapshot, and writing the image to swap (or, kexec-s4, having the save
// kernel write it). The restore kernel's side is in hibernation_load.cpp.
#include "sim/pm/hibernation.h"

#include "models/cpu/cpu.h"
#include "models/disk/sata_drive.h"
#include "sim/pm/engine.h"
#include "sim/core/memory.h"
#include "sim/core/errors.h"
#include "sim/kernel/kernel.h"
#include "sim/kernel/swap.h"

#include <fmt/format.h>
#include <lz4.h>
#include <zlib.h>

#include <cstring>

namespace quiesce {

namespace {
constexpr int kENOMEM = -12, kENOSPC = -28, kEINVAL = -22;
}  // namespace

using namespace swsusp;

int swsusp::page_io(Cpu& cpu, BlockDevice& dev, uint64_t first, uint64_t page, uint64_t buf, bool write, bool fua) {
    uint64_t spp = sectors_per_page(dev);
    return dev.submit(cpu, {write, first + page * spp, uint32_t(spp), buf, fua, false});
}

std::vector<uint8_t> swsusp::mkswap_header() {
    std::vector<uint8_t> page(kPage, 0);
    std::memcpy(&page[kSigOff], kSwapSig, 10);
    return page;
}

Hibernation::Hibernation(Kernel& kernel, PhysicalMemory& memory, EventHub& hub, HibernationOptions options)
    : kernel_(kernel), memory_(memory), hub_(hub), options_(options) {}

bool Hibernation::forbidden(uint64_t pfn) const { return copy_set_.count(pfn) > 0; }

// Saveable: in use (written, and not free in the kernel's page allocator), in
// a normal region (not nosave, not firmware-owned), not hibernation's own pages.
std::vector<uint64_t> Hibernation::saveable() const {
    // Linux registers the e820 ACPI NVS ranges as nosave; a kernel that does
    // not (the property off) saves - and restores - firmware-owned pages.
    const bool nvs_nosave = kernel_.props().get<bool>("nosave_acpi_nvs");
    std::vector<uint64_t> out;
    for (uint64_t pfn : memory_.resident()) {
        RegionAttr attr = memory_.attr_of(pfn * swsusp::kPage);
        bool wanted = attr == RegionAttr::Normal || (attr == RegionAttr::Firmware && !nvs_nosave);
        if (wanted && !forbidden(pfn) && !kernel_.page_free(pfn)) out.push_back(pfn);
    }
    return out;
}

// hibernate_preallocate_memory: shrink memory toward image_size (reclaim may
// write to swap: devices are still active), then take a copy page for every
// page the image will hold, plus slack for what drivers allocate during
// freeze. With too little memory for the copy, -ENOMEM.
int Hibernation::preallocate(Cpu& cpu) {
    hub_.slice_begin(kernel_.path(), "preallocate", "hibernation");
    const uint64_t limit = options_.image_size ? options_.image_size / swsusp::kPage : kernel_.total_pages() * 2 / 5;
    uint64_t in_use = saveable().size(), freed = 0;
    if (in_use > limit) {
        freed = kernel_.reclaim(cpu, in_use - limit, true);
        hub_.instant(kernel_.path(), "shrink-memory", "memory",
                     {{"image_size_pages", std::to_string(limit)}, {"in_use", std::to_string(in_use)},
                      {"freed", std::to_string(freed)}});
        in_use = saveable().size();
    }
    const uint64_t need = in_use + 64;
    cpu.compute(Cycles(need * 200));
    copies_.clear();
    copy_set_.clear();
    std::vector<uint64_t> pages;
    if (int rc = kernel_.alloc_pages(cpu, need, Kernel::Gfp::Kernel, pages)) {
        hub_.slice_end(kernel_.path(), "preallocate", "hibernation",
                       {{"rc", std::to_string(rc)}, {"result", "not enough memory for the copy"}});
        return rc;
    }
    copy_pages_ = std::move(pages);
    for (uint64_t p : copy_pages_) copy_set_.insert(p / swsusp::kPage);
    hub_.slice_end(kernel_.path(), "preallocate", "hibernation",
                   {{"pages", std::to_string(need)}, {"image_size_pages", std::to_string(limit)},
                    {"reclaimed", std::to_string(freed)}, {"free_after", std::to_string(kernel_.free_pages())}});
    return 0;
}

// The kernel state that lives in C++ objects goes into kernel pages first
// (sim/kernel/image_state.h), hibernation's own list of copy pages with it,
// so the snapshot takes it like any other memory. -ENOMEM when its pages
// cannot be had.
int Hibernation::save_kernel_state(Cpu& cpu) {
    kernel_.image_state().add(
        "hibernation", [this](StateWriter& w) { w.u64s(copy_pages_); },
        [this](StateReader& r) {
            std::vector<uint64_t> pages = r.u64s();
            for (uint64_t p : pages)
                if (p % swsusp::kPage || !kernel_.owns(p)) r.fail(fmt::format("copy page {:#x} is not a kernel page", p));
            copy_pages_ = std::move(pages);
            copy_set_.clear();
            for (uint64_t p : copy_pages_) copy_set_.insert(p / swsusp::kPage);
        });
    return kernel_.image_state().save(cpu);
}

int Hibernation::snapshot(Cpu& cpu) {
    if (copy_pages_.empty()) return kENOMEM;
    hub_.slice_begin(kernel_.path(), "snapshot", "hibernation");
    // The state's pages are saveable too: room for them in the copy.
    const uint64_t need = saveable().size() + kernel_.image_state().pages_needed();
    copies_.clear();
    if (need > copy_pages_.size()) {  // swsusp_alloc: the rest from free memory, without reclaim
        std::vector<uint64_t> more;
        if (kernel_.alloc_pages(cpu, need - copy_pages_.size(), Kernel::Gfp::Atomic, more) == 0) {
            for (uint64_t p : more) {
                copy_pages_.push_back(p);
                copy_set_.insert(p / swsusp::kPage);
            }
        }
    }
    if (need > copy_pages_.size() || save_kernel_state(cpu) != 0) {
        hub_.slice_end(kernel_.path(), "snapshot", "hibernation", {{"result", "out of preallocated pages"}});
        return kENOMEM;
    }
    pfns_ = saveable();
    SIM_ASSERT(pfns_.size() <= copy_pages_.size(), "kernel state took more pages than counted");
    if (check_) check_->copy_started(pfns_);
    std::vector<uint8_t> page(swsusp::kPage);
    for (size_t i = 0; i < pfns_.size(); ++i) {
        uint64_t dst = copy_pages_[i];
        cpu.read_block(pfns_[i] * swsusp::kPage, page.data(), swsusp::kPage);
        cpu.write_block(dst, page.data(), swsusp::kPage);
        copies_.push_back(dst);
    }
    if (check_) check_->copy_finished(pfns_, copies_);
    hub_.slice_end(kernel_.path(), "snapshot", "hibernation", {{"pages", std::to_string(pfns_.size())}});
    return 0;
}

void Hibernation::image_restored(Cpu& cpu) {
    // acpi_hibernation_leave: "Hardware changed while hibernated, success doubtful!"
    if (options_.current_hw_signature) {
        uint32_t now = options_.current_hw_signature();
        if (now != options_.hw_signature)
            hub_.guest_error(kernel_.path(), "acpi.sequence",
                             fmt::format("resumed an image made on other hardware: the FACS hardware signature "
                                         "was {:#x} at boot and is {:#x} now",
                                         options_.hw_signature, now),
                             {{"before", fmt::format("{:#x}", options_.hw_signature)},
                              {"after", fmt::format("{:#x}", now)}});
    }
    // The kernel's C++-held state, back from the restored memory. A state
    // that does not parse is memory the image brought back wrong; Linux
    // would crash somewhere later, here the objects keep what they hold.
    const std::string why = kernel_.image_state().load(cpu);
    if (!why.empty())
        hub_.guest_error(kernel_.path(), "kernel-state-unreadable",
                         "the restored kernel's state is not what the snapshot saved: " + why, {{"why", why}});
    for (uint64_t p : copy_pages_) kernel_.free_page(p);  // swsusp_free
    copy_pages_.clear();
    copy_set_.clear();
}


void Hibernation::stream_size(uint64_t n, uint64_t& meta, uint64_t& body, uint64_t& worst, uint64_t& maps) const {
    meta = (n + swsusp::kPfnsPerPage - 1) / swsusp::kPfnsPerPage;
    body = meta + n;  // stream pages after swsusp_info
    const uint64_t units = (body + kUnitPages - 1) / kUnitPages;
    worst = 1 + (options_.lz4 ? units * unit_frame_pages(LZ4_compressBound(int(kUnitPages * swsusp::kPage)))
                            : body);
    maps = (worst + swsusp::kMapEntries - 1) / swsusp::kMapEntries;
}

// alloc_swapdev_block: the next slot of the image - from the swap map, so
// pages swapped out keep theirs, or (no map, or the ignore-swap-map bug)
// the next one from page 1 on. -1 when swap is full.
int64_t Hibernation::image_slot(Cpu& cpu, uint64_t& sequential) {
    if (!swap_map_ || options_.ignore_swap_map) return int64_t(sequential++);
    return swap_map_->alloc(cpu);
}

// The slots of an image that will not be written go back to the swap map
// (those laid out from page 1 on were never taken from it).
void Hibernation::release_slots(Cpu& cpu, const std::vector<uint64_t>& slots) {
    if (!swap_map_ || options_.ignore_swap_map) return;
    for (uint64_t s : slots) swap_map_->free(cpu, s);
}

int Hibernation::kexec_prepare(Cpu& cpu) {
    hub_.slice_begin(kernel_.path(), "kexec-prepare", "hibernation");
    copy_pages_.clear();  // no copy: nothing for swsusp_free
    copy_set_.clear();
    // "The first kernel is going to specify what to backup and where":
    // the slots first (the swap map's bits are part of the image), then the
    // pages, fixed where they are - the kernel state's among them, so it is
    // serialized first and its pages counted.
    if (save_kernel_state(cpu) != 0) {
        hub_.slice_end(kernel_.path(), "kexec-prepare", "hibernation", {{"result", "no memory for the kernel state"}});
        return kENOMEM;
    }
    uint64_t meta, body, worst, maps;
    stream_size(saveable().size(), meta, body, worst, maps);
    kexec_slots_.clear();
    uint64_t sequential = 1;
    for (uint64_t i = 0; i < maps + worst; ++i) {
        int64_t s = image_slot(cpu, sequential);
        if (s <= 0) {
            release_slots(cpu, {kexec_slots_.begin(), kexec_slots_.end()});
            kexec_slots_.clear();
            kernel_.image_state().discard(cpu);
            hub_.slice_end(kernel_.path(), "kexec-prepare", "hibernation", {{"result", "swap full"}});
            return kENOSPC;
        }
        kexec_slots_.push_back(uint64_t(s));
    }
    // The slots were taken after the state was serialized: the swap map's
    // words in memory hold them, and it is those the image carries.
    pfns_ = saveable();
    copies_.clear();
    for (uint64_t pfn : pfns_) copies_.push_back(pfn * swsusp::kPage);  // the pages themselves
    // The atomic point; the "copy" ends when the save kernel has written
    // the last page (kexec_write).
    if (check_) check_->copy_started(pfns_);
    kexec_window_ = true;
    hub_.slice_end(kernel_.path(), "kexec-prepare", "hibernation",
                   {{"pages", std::to_string(pfns_.size())}, {"slots", std::to_string(kexec_slots_.size())}});
    return 0;
}

int Hibernation::kexec_write(Cpu& cpu, Kernel& save_kernel, BlockDevice& disk) {
    const int rc = write_stream(cpu, disk, save_kernel, kexec_slots_);
    kexec_window_ = false;
    if (check_) check_->copy_finished(pfns_, copies_);
    return rc;
}

int Hibernation::write_image(Cpu& cpu) {
    if (!swap_) return kEINVAL;
    return write_stream(cpu, *swap_, kernel_, {});
}

// The image stream to `dev`, in buffers from `buffers`' memory; slots from
// `reserved` (taken beforehand) or else from the swap map.
int Hibernation::write_stream(Cpu& cpu, BlockDevice& dev, Kernel& buffers, std::deque<uint64_t> reserved) {
    hub_.slice_begin(kernel_.path(), "write-image", "hibernation");
    auto finish = [&](int rc, const std::string& what) {
        hub_.slice_end(kernel_.path(), "write-image", "hibernation", {{"rc", std::to_string(rc)}, {"result", what}});
        return rc;
    };
    const bool lz4 = options_.lz4;
    const bool crc_on = options_.crc || lz4;  // SF_CRC32_MODE whenever compressing
    const uint64_t n = pfns_.size();
    uint64_t meta, body, worst, maps;
    stream_size(n, meta, body, worst, maps);
    const uint64_t swap_pages = swap_sectors_ / sectors_per_page(dev);
    if (1 + maps + worst > swap_pages) return finish(kENOSPC, "swap too small");
    uint64_t buf = buffers.alloc(swsusp::kPage, swsusp::kPage);
    std::vector<uint8_t> page(swsusp::kPage);
    std::vector<uint64_t> offsets;  // swap page of each stream page, in order
    // alloc_swapdev_block: slots come from the swap map, so pages swapped out
    // before the snapshot keep theirs. Without a map (or with the bug), the
    // image is laid out from page 1 on.
    std::vector<uint64_t> taken;
    uint64_t sequential = 1;
    auto slot = [&]() -> int64_t {
        int64_t s = -1;
        if (!reserved.empty()) {
            s = int64_t(reserved.front());
            reserved.pop_front();
        } else {
            s = image_slot(cpu, sequential);
        }
        if (s > 0) taken.push_back(uint64_t(s));
        return s;
    };
    auto release = [&](int rc, const std::string& what) {  // a failed write frees its slots
        if (rc != kPowerLost) release_slots(cpu, taken);
        return finish(rc, what);
    };
    std::vector<uint64_t> map_slots;
    for (uint64_t m = 0; m < maps; ++m) {
        int64_t s = slot();
        if (s <= 0) return release(kENOSPC, "swap full");
        map_slots.push_back(uint64_t(s));
    }
    // Writes one stream page from `from` (kernel memory) to a new slot.
    auto emit_from = [&](uint64_t from) {
        int64_t s = slot();
        if (s <= 0) return kENOSPC;
        offsets.push_back(uint64_t(s));
        return page_io(cpu, dev, swap_first_, uint64_t(s), from, true, false);
    };
    auto emit = [&](const uint8_t* data) {
        cpu.write_block(buf, data, swsusp::kPage);
        return emit_from(buf);
    };
    // A power-loss rule with after_pages: asked after each page (the info
    // page first), it strikes once after_pages image pages are on the disk.
    auto power_lost = [&] {
        return faults_ && faults_->armed("power-loss") &&
               faults_->fire("power-loss", "", "kernel",
                             {{"pages", std::to_string(offsets.size() - 1)}});
    };
    // The stream page k after swsusp_info: PFN metadata first, then data.
    auto body_page = [&](uint64_t k, uint8_t* out) {
        if (k < meta) {
            std::memset(out, 0xff, swsusp::kPage);  // BM_END_OF_MAP after the last entry
            for (uint64_t e = 0; e < swsusp::kPfnsPerPage && k * swsusp::kPfnsPerPage + e < n; ++e)
                std::memcpy(&out[e * 8], &pfns_[k * swsusp::kPfnsPerPage + e], 8);
        } else {
            cpu.read_block(copies_[k - meta], out, swsusp::kPage);
        }
    };

    Info info{kInfoMagic, n, 0, meta, memory_.size() / swsusp::kPage};
    std::fill(page.begin(), page.end(), 0);
    std::memcpy(page.data(), &info, sizeof info);
    if (int rc = emit(page.data())) return release(rc, "I/O error");
    if (power_lost()) return release(kPowerLost, "power lost");
    uLong crc = crc32(0L, Z_NULL, 0);
    if (!lz4) {
        for (uint64_t k = 0; k < body; ++k) {
            if (k < meta || crc_on) body_page(k, page.data());
            if (crc_on) crc = crc32(crc, page.data(), swsusp::kPage);
            // Data pages go by DMA straight from the copies.
            int rc = k < meta ? emit(page.data()) : emit_from(copies_[k - meta]);
            if (k >= meta && kexec_window_ && check_) check_->page_saved(pfns_[k - meta]);
            if (rc) return release(rc, "I/O error");
            if (power_lost()) return release(kPowerLost, "power lost");
        }
    } else {
        std::vector<uint8_t> unc(kUnitPages * swsusp::kPage);
        std::vector<uint8_t> frame(8 + size_t(LZ4_compressBound(int(unc.size()))) + swsusp::kPage);
        for (uint64_t first = 0; first < body; first += kUnitPages) {
            uint64_t count = std::min<uint64_t>(kUnitPages, body - first);
            for (uint64_t k = 0; k < count; ++k) {
                body_page(first + k, &unc[k * swsusp::kPage]);
                if (first + k >= meta && kexec_window_ && check_) check_->page_saved(pfns_[first + k - meta]);
            }
            size_t bytes = count * swsusp::kPage;
            crc = crc32(crc, unc.data(), uInt(bytes));
            int packed = LZ4_compress_default(reinterpret_cast<const char*>(unc.data()),
                                              reinterpret_cast<char*>(&frame[8]), int(bytes), int(frame.size() - 8));
            if (packed <= 0) return release(kEINVAL, "compression failed");
            cpu.compute(Cycles(bytes));  // about one cycle per byte for LZ4
            uint64_t len = uint64_t(packed);
            std::memcpy(frame.data(), &len, 8);
            uint64_t pages = unit_frame_pages(len);
            std::memset(&frame[8 + len], 0, pages * swsusp::kPage - 8 - len);
            for (uint64_t p = 0; p < pages; ++p) {
                if (int rc = emit(&frame[p * swsusp::kPage])) return release(rc, "I/O error");
                if (power_lost()) return release(kPowerLost, "power lost");
            }
        }
    }
    // swsusp_info learns the stream length only now: rewrite it.
    info.pages = offsets.size();
    std::fill(page.begin(), page.end(), 0);
    std::memcpy(page.data(), &info, sizeof info);
    cpu.write_block(buf, page.data(), swsusp::kPage);
    if (int rc = page_io(cpu, dev, swap_first_, offsets[0], buf, true, false)) return release(rc, "I/O error");
    // Swap-map pages: the offsets of the stream pages, then next.
    for (uint64_t m = 0; m < maps; ++m) {
        std::fill(page.begin(), page.end(), 0);
        for (uint64_t k = 0; k < swsusp::kMapEntries && m * swsusp::kMapEntries + k < offsets.size(); ++k)
            std::memcpy(&page[k * 8], &offsets[m * swsusp::kMapEntries + k], 8);
        uint64_t next_map = m + 1 < maps ? map_slots[m + 1] : 0;
        std::memcpy(&page[swsusp::kMapEntries * 8], &next_map, 8);
        cpu.write_block(buf, page.data(), swsusp::kPage);
        if (int rc = page_io(cpu, dev, swap_first_, map_slots[m], buf, true, false))
            return release(rc, "I/O error");
    }
    // mark_swapfiles: the header last, and only over a valid swap signature.
    if (int rc = page_io(cpu, dev, swap_first_, 0, buf, false, false)) return release(rc, "I/O error");
    cpu.read_block(buf, page.data(), swsusp::kPage);
    if (std::memcmp(&page[swsusp::kSigOff], kSwapSig, 10) != 0) return release(kEINVAL, "no swap signature");
    std::memcpy(&page[swsusp::kOrigSigOff], &page[swsusp::kSigOff], 10);
    std::memcpy(&page[swsusp::kSigOff], kImageSig, 10);
    uint32_t flags = swsusp::SF_PLATFORM_MODE | (crc_on ? swsusp::SF_CRC32_MODE : 0) |
                     (lz4 ? swsusp::SF_COMPRESSION_ALG_LZ4 : swsusp::SF_NOCOMPRESS_MODE) |
                     (options_.hw_sig ? swsusp::SF_HW_SIG : 0);
    uint64_t image = map_slots[0];
    uint32_t crc32v = uint32_t(crc);
    std::memcpy(&page[swsusp::kFlagsOff], &flags, 4);
    std::memcpy(&page[swsusp::kImageOff], &image, 8);
    std::memcpy(&page[swsusp::kCrcOff], &crc32v, 4);
    std::memcpy(&page[swsusp::kHwSigOff], &options_.hw_signature, 4);
    cpu.write_block(buf, page.data(), swsusp::kPage);
    if (int rc = page_io(cpu, dev, swap_first_, 0, buf, true, false)) return release(rc, "I/O error");
    return finish(0, fmt::format("{} pages in {} stream pages{}", n, offsets.size(), lz4 ? " (lz4)" : ""));
}

}  // namespace quiesce
