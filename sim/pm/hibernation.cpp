#include "sim/pm/hibernation.h"

#include "models/cpu/cpu.h"
#include "models/disk/sata_drive.h"
#include "sim/check/image_check.h"
#include "sim/pm/engine.h"
#include "sim/core/memory.h"
#include "sim/kernel/kernel.h"

#include <fmt/format.h>
#include <zlib.h>

#include <cstring>

namespace quiesce {

namespace {
constexpr int kENOMEM = -12, kENOSPC = -28, kEINVAL = -22;
constexpr char kSwapSig[10] = {'S', 'W', 'A', 'P', 'S', 'P', 'A', 'C', 'E', '2'};
constexpr char kImageSig[10] = {'S', '1', 'S', 'U', 'S', 'P', 'E', 'N', 'D', 0};
constexpr uint64_t kInfoMagic = 0x31505355535753ULL;  // "SWSUSP1"

struct Info {  // struct swsusp_info, the first stream page
    uint64_t magic;
    uint64_t image_pages;
    uint64_t pages;        // stream pages: 1 + meta + data
    uint64_t meta_pages;
    uint64_t num_physpages;
};

uint64_t sectors_per_page(const BlockDevice& dev) { return swsusp::kPage / dev.sector_size(); }

int page_io(Cpu& cpu, BlockDevice& dev, uint64_t first, uint64_t page, uint64_t buf, bool write, bool fua) {
    uint64_t spp = sectors_per_page(dev);
    return dev.submit(cpu, {write, first + page * spp, uint32_t(spp), buf, fua, false});
}
}  // namespace

std::vector<uint8_t> swsusp::mkswap_header() {
    std::vector<uint8_t> page(kPage, 0);
    std::memcpy(&page[kSigOff], kSwapSig, 10);
    return page;
}

Hibernation::Hibernation(Kernel& kernel, PhysicalMemory& memory, EventHub& hub, HibernationOptions options)
    : kernel_(kernel), memory_(memory), hub_(hub), options_(options) {}

bool Hibernation::forbidden(uint64_t pfn) const {
    uint64_t base = copy_base_ / swsusp::kPage;
    return copy_pages_ && pfn >= base && pfn < base + copy_pages_;
}

// Saveable: in use (ever written; nothing is freed in this kernel), in a
// normal region (not nosave, not firmware-owned), not hibernation's own pages.
std::vector<uint64_t> Hibernation::saveable() const {
    std::vector<uint64_t> out;
    for (uint64_t pfn : memory_.resident())
        if (memory_.attr_of(pfn * swsusp::kPage) == RegionAttr::Normal && !forbidden(pfn)) out.push_back(pfn);
    return out;
}

int Hibernation::preallocate(Cpu& cpu) {
    hub_.slice_begin(kernel_.path(), "preallocate", "hibernation");
    // Room for every page in use now, the pages the copy itself occupies not
    // counted, plus slack for what drivers allocate during freeze.
    uint64_t need = saveable().size() + 64;
    cpu.compute(Cycles(need * 200));
    copy_pages_ = 0;
    copy_base_ = kernel_.alloc(need * swsusp::kPage, swsusp::kPage);
    copy_pages_ = need;
    hub_.slice_end(kernel_.path(), "preallocate", "hibernation", {{"pages", std::to_string(need)}});
    return 0;
}

int Hibernation::snapshot(Cpu& cpu) {
    if (!copy_pages_) return kENOMEM;
    hub_.slice_begin(kernel_.path(), "snapshot", "hibernation");
    pfns_ = saveable();
    copies_.clear();
    if (pfns_.size() > copy_pages_) {
        hub_.slice_end(kernel_.path(), "snapshot", "hibernation", {{"result", "out of preallocated pages"}});
        return kENOMEM;
    }
    if (check_) check_->copy_started(pfns_);
    std::vector<uint8_t> page(swsusp::kPage);
    for (size_t i = 0; i < pfns_.size(); ++i) {
        uint64_t dst = copy_base_ + i * swsusp::kPage;
        cpu.read_block(pfns_[i] * swsusp::kPage, page.data(), swsusp::kPage);
        cpu.write_block(dst, page.data(), swsusp::kPage);
        copies_.push_back(dst);
    }
    if (check_) check_->copy_finished(pfns_, copies_);
    hub_.slice_end(kernel_.path(), "snapshot", "hibernation", {{"pages", std::to_string(pfns_.size())}});
    return 0;
}

int Hibernation::write_image(Cpu& cpu) {
    if (!swap_) return kEINVAL;
    hub_.slice_begin(kernel_.path(), "write-image", "hibernation");
    auto finish = [&](int rc, const std::string& what) {
        hub_.slice_end(kernel_.path(), "write-image", "hibernation", {{"rc", std::to_string(rc)}, {"result", what}});
        return rc;
    };
    const uint64_t n = pfns_.size();
    const uint64_t meta = (n + swsusp::kPfnsPerPage - 1) / swsusp::kPfnsPerPage;
    const uint64_t stream = 1 + meta + n;
    const uint64_t maps = (stream + swsusp::kMapEntries - 1) / swsusp::kMapEntries;
    const uint64_t swap_pages = swap_sectors_ / sectors_per_page(*swap_);
    if (1 + maps + stream > swap_pages) return finish(kENOSPC, "swap too small");
    uint64_t buf = kernel_.alloc(swsusp::kPage, swsusp::kPage);
    std::vector<uint8_t> page(swsusp::kPage);
    auto put = [&](uint64_t swap_page) {
        cpu.write_block(buf, page.data(), swsusp::kPage);
        return page_io(cpu, *swap_, swap_first_, swap_page, buf, true, false);
    };
    const uint64_t stream_base = 1 + maps;
    // swsusp_info.
    Info info{kInfoMagic, n, stream, meta, memory_.size() / swsusp::kPage};
    std::fill(page.begin(), page.end(), 0);
    std::memcpy(page.data(), &info, sizeof info);
    if (int rc = put(stream_base)) return finish(rc, "I/O error");
    // Metadata: the page-frame numbers.
    for (uint64_t m = 0; m < meta; ++m) {
        std::fill(page.begin(), page.end(), 0xff);  // BM_END_OF_MAP after the last entry
        for (uint64_t k = 0; k < swsusp::kPfnsPerPage && m * swsusp::kPfnsPerPage + k < n; ++k)
            std::memcpy(&page[k * 8], &pfns_[m * swsusp::kPfnsPerPage + k], 8);
        if (int rc = put(stream_base + 1 + m)) return finish(rc, "I/O error");
    }
    // Data pages straight from the copies, by DMA; the CRC over what was sent.
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t i = 0; i < n; ++i) {
        if (options_.crc) {
            cpu.read_block(copies_[i], page.data(), swsusp::kPage);
            crc = crc32(crc, page.data(), swsusp::kPage);
        }
        if (int rc = page_io(cpu, *swap_, swap_first_, stream_base + 1 + meta + i, copies_[i], true, false))
            return finish(rc, "I/O error");
        if (power_loss_after_ >= 0 && i + 1 == uint64_t(power_loss_after_)) {
            hub_.slice_end(kernel_.path(), "write-image", "hibernation", {{"result", "power lost"}});
            return kPowerLost;
        }
    }
    // Swap-map pages: entries = swap offsets of the stream pages, then next.
    for (uint64_t m = 0; m < maps; ++m) {
        std::fill(page.begin(), page.end(), 0);
        for (uint64_t k = 0; k < swsusp::kMapEntries && m * swsusp::kMapEntries + k < stream; ++k) {
            uint64_t off = stream_base + m * swsusp::kMapEntries + k;
            std::memcpy(&page[k * 8], &off, 8);
        }
        uint64_t next = m + 1 < maps ? 1 + m + 1 : 0;
        std::memcpy(&page[swsusp::kMapEntries * 8], &next, 8);
        if (int rc = put(1 + m)) return finish(rc, "I/O error");
    }
    // mark_swapfiles: the header last, and only over a valid swap signature.
    if (int rc = page_io(cpu, *swap_, swap_first_, 0, buf, false, false)) return finish(rc, "I/O error");
    cpu.read_block(buf, page.data(), swsusp::kPage);
    if (std::memcmp(&page[swsusp::kSigOff], kSwapSig, 10) != 0) return finish(kEINVAL, "no swap signature");
    std::memcpy(&page[swsusp::kOrigSigOff], &page[swsusp::kSigOff], 10);
    std::memcpy(&page[swsusp::kSigOff], kImageSig, 10);
    uint32_t flags = swsusp::SF_PLATFORM_MODE | (options_.crc ? swsusp::SF_CRC32_MODE : swsusp::SF_NOCOMPRESS_MODE) |
                     (options_.hw_sig ? swsusp::SF_HW_SIG : 0);
    uint64_t image = 1;
    uint32_t crc32v = uint32_t(crc);
    std::memcpy(&page[swsusp::kFlagsOff], &flags, 4);
    std::memcpy(&page[swsusp::kImageOff], &image, 8);
    std::memcpy(&page[swsusp::kCrcOff], &crc32v, 4);
    std::memcpy(&page[swsusp::kHwSigOff], &options_.hw_signature, 4);
    if (int rc = put(0)) return finish(rc, "I/O error");
    return finish(0, fmt::format("{} pages", n));
}

int64_t flip_image_bit(SataDrive& drive, uint64_t swap_first, uint64_t page) {
    const uint64_t spp = swsusp::kPage / drive.sector_size();
    auto read_page = [&](uint64_t swap_page) {
        std::vector<uint8_t> out;
        for (uint64_t s = 0; s < spp; ++s) {
            auto sec = drive.media(swap_first + swap_page * spp + s);
            out.insert(out.end(), sec.begin(), sec.end());
        }
        return out;
    };
    auto header = read_page(0);
    if (std::memcmp(&header[swsusp::kSigOff], kImageSig, 10) != 0) return -1;
    uint64_t map;
    std::memcpy(&map, &header[swsusp::kImageOff], 8);
    auto map_page = read_page(map);
    uint64_t info_off;
    std::memcpy(&info_off, &map_page[0], 8);
    Info info;
    auto info_page = read_page(info_off);
    std::memcpy(&info, info_page.data(), sizeof info);
    uint64_t index = 1 + info.meta_pages + std::min<uint64_t>(page, info.image_pages - 1);
    if (index >= swsusp::kMapEntries) return -1;  // within the first map page
    uint64_t data_off;
    std::memcpy(&data_off, &map_page[index * 8], 8);
    uint64_t sector = swap_first + data_off * spp + 1;  // a sector inside the page
    auto bytes = drive.media(sector);
    bytes[100] ^= 0x10;
    drive.format(sector, bytes);
    return int64_t(sector);
}

ImageLoad load_image(Kernel& rk, Cpu& cpu, BlockDevice& swap, uint64_t swap_first, uint64_t swap_sectors,
                     const HibernationOptions& options, EventHub& hub) {
    ImageLoad out;
    hub.slice_begin(rk.path(), "load-image", "hibernation");
    auto done = [&](const std::string& reason) {
        out.reason = reason;
        hub.slice_end(rk.path(), "load-image", "hibernation", {{"result", reason.empty() ? "ok" : reason}});
        return out;
    };
    uint64_t buf = rk.alloc(swsusp::kPage, swsusp::kPage);
    std::vector<uint8_t> page(swsusp::kPage);
    auto get = [&](uint64_t swap_page) {
        if (page_io(cpu, swap, swap_first, swap_page, buf, false, false)) return false;
        cpu.read_block(buf, page.data(), swsusp::kPage);
        return true;
    };
    // swsusp_check: the header.
    if (!get(0)) return done("cannot read the swap header");
    if (std::memcmp(&page[swsusp::kSigOff], kImageSig, 10) != 0) return done("no image");
    uint32_t flags, crc_expected, hw_sig;
    uint64_t map_page;
    std::memcpy(&flags, &page[swsusp::kFlagsOff], 4);
    std::memcpy(&crc_expected, &page[swsusp::kCrcOff], 4);
    std::memcpy(&hw_sig, &page[swsusp::kHwSigOff], 4);
    std::memcpy(&map_page, &page[swsusp::kImageOff], 8);
    // The image is single use: the signature goes back before any page is used.
    std::memcpy(&page[swsusp::kSigOff], &page[swsusp::kOrigSigOff], 10);
    cpu.write_block(buf, page.data(), swsusp::kPage);
    if (page_io(cpu, swap, swap_first, 0, buf, true, true)) return done("cannot consume the signature");
    hub.instant(rk.path(), "signature-consumed", "hibernation");
    if ((flags & swsusp::SF_HW_SIG) && hw_sig != options.hw_signature)
        return done(fmt::format("hardware signature changed ({:#x} -> {:#x})", hw_sig, options.hw_signature));
    // The swap map: offsets of the stream pages.
    std::vector<uint64_t> offsets;
    uint64_t swap_pages = swap_sectors / sectors_per_page(swap);
    for (uint64_t m = map_page; m != 0;) {
        if (m >= swap_pages || !get(m)) return done("bad swap map");
        for (unsigned k = 0; k < swsusp::kMapEntries; ++k) {
            uint64_t off;
            std::memcpy(&off, &page[k * 8], 8);
            if (off == 0) break;
            if (off >= swap_pages) return done("bad swap map");
            offsets.push_back(off);
        }
        std::memcpy(&m, &page[swsusp::kMapEntries * 8], 8);
    }
    if (offsets.empty() || !get(offsets[0])) return done("no image stream");
    Info info;
    std::memcpy(&info, page.data(), sizeof info);
    if (info.magic != kInfoMagic || info.pages != offsets.size() || 1 + info.meta_pages + info.image_pages != info.pages)
        return done("image header does not match its stream");
    std::vector<uint64_t> pfns;
    for (uint64_t m = 0; m < info.meta_pages; ++m) {
        if (!get(offsets[1 + m])) return done("cannot read the image metadata");
        for (unsigned k = 0; k < swsusp::kPfnsPerPage && pfns.size() < info.image_pages; ++k) {
            uint64_t pfn;
            std::memcpy(&pfn, &page[k * 8], 8);
            pfns.push_back(pfn);
        }
    }
    // Data: straight into the original frame, unless the restore kernel uses
    // it; then into a bounce page, copied in the atomic step before the jump.
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t i = 0; i < pfns.size(); ++i) {
        uint64_t target = pfns[i] * swsusp::kPage;
        if (pfns[i] >= info.num_physpages) return done("image page beyond memory");
        if (rk.owns(target)) {
            uint64_t bounce = rk.alloc(swsusp::kPage, swsusp::kPage);
            out.pbe.emplace_back(pfns[i], bounce);
            target = bounce;
        }
        if (page_io(cpu, swap, swap_first, offsets[1 + info.meta_pages + i], target, false, false))
            return done("cannot read an image page");
        if (flags & swsusp::SF_CRC32_MODE) {
            cpu.read_block(target, page.data(), swsusp::kPage);
            crc = crc32(crc, page.data(), swsusp::kPage);
        }
    }
    if ((flags & swsusp::SF_CRC32_MODE) && uint32_t(crc) != crc_expected) return done("Invalid image CRC32!");
    out.ok = true;
    return done("");
}

}  // namespace quiesce
