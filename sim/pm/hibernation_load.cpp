// Hibernation in the restore kernel: finding and checking the image on
// swap (signature, swsusp_info, CRC32, hardware signature), reading it with
// LZ4 units undone, and the injected fault that flips a bit of it on the media.
#include "sim/pm/hibernation.h"

#include "models/cpu/cpu.h"
#include "models/disk/sata_drive.h"
#include "sim/core/memory.h"
#include "sim/kernel/kernel.h"

#include <fmt/format.h>
#include <lz4.h>
#include <zlib.h>

#include <cstring>

namespace quiesce {

using namespace swsusp;

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
    uint32_t flags;
    std::memcpy(&flags, &header[swsusp::kFlagsOff], 4);
    uint64_t index, byte;
    if (flags & swsusp::SF_COMPRESSION_ALG_LZ4) {
        // Compressed: data pages are not addressable one by one; damage the
        // first unit's payload, `page` bytes in (within its length).
        index = 1;
        uint64_t unit_off, len;
        std::memcpy(&unit_off, &map_page[8], 8);
        auto unit = read_page(unit_off);
        std::memcpy(&len, unit.data(), 8);
        byte = 8 + std::min<uint64_t>(len - 1, 100 + page);
    } else {
        index = 1 + info.meta_pages + std::min<uint64_t>(page, info.image_pages - 1);
        byte = 612;
    }
    if (index >= swsusp::kMapEntries || index >= info.pages) return -1;  // within the first map page
    uint64_t data_off;
    std::memcpy(&data_off, &map_page[index * 8], 8);
    uint64_t sector = swap_first + data_off * spp + byte / drive.sector_size();
    auto bytes = drive.media(sector);
    bytes[byte % drive.sector_size()] ^= 0x10;
    drive.format(sector, bytes);
    return int64_t(sector);
}

int swapon_check(Kernel& k, Cpu& cpu, BlockDevice& swap, uint64_t swap_first, bool& rewritten) {
    rewritten = false;
    uint64_t buf = k.alloc(swsusp::kPage, swsusp::kPage);
    std::vector<uint8_t> page(swsusp::kPage);
    if (int rc = page_io(cpu, swap, swap_first, 0, buf, false, false)) return rc;
    cpu.read_block(buf, page.data(), swsusp::kPage);
    if (std::memcmp(&page[swsusp::kSigOff], swsusp::kImageSig, 10) != 0) return 0;
    std::memcpy(&page[swsusp::kSigOff], swsusp::kSwapSig, 10);
    cpu.write_block(buf, page.data(), swsusp::kPage);
    if (int rc = page_io(cpu, swap, swap_first, 0, buf, true, true)) return rc;
    rewritten = true;
    return 0;
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
    if (info.magic != kInfoMagic || info.pages != offsets.size())
        return done("image header does not match its stream");
    const bool lz4 = flags & swsusp::SF_COMPRESSION_ALG_LZ4;
    const uint64_t meta = info.meta_pages, body = meta + info.image_pages;
    std::vector<uint64_t> pfns;
    uLong crc = crc32(0L, Z_NULL, 0);
    // Where data page i goes: its original frame, unless the restore kernel
    // uses that frame; then a bounce page, copied in the atomic step.
    auto target_of = [&](uint64_t i) {
        uint64_t target = pfns[i] * swsusp::kPage;
        if (!rk.owns(target)) return target;
        uint64_t bounce = rk.alloc(swsusp::kPage, swsusp::kPage);
        out.pbe.emplace_back(pfns[i], bounce);
        return bounce;
    };
    auto take_meta = [&](const uint8_t* data) {
        for (unsigned e = 0; e < swsusp::kPfnsPerPage && pfns.size() < info.image_pages; ++e) {
            uint64_t pfn;
            std::memcpy(&pfn, &data[e * 8], 8);
            pfns.push_back(pfn);
        }
    };
    auto bad_pfn = [&](uint64_t i) { return pfns[i] >= info.num_physpages; };
    if (!lz4) {
        if (offsets.size() != 1 + body) return done("image header does not match its stream");
        for (uint64_t k = 0; k < body; ++k) {
            if (k < meta) {
                if (!get(offsets[1 + k])) return done("cannot read the image metadata");
                take_meta(page.data());
                if (flags & swsusp::SF_CRC32_MODE) crc = crc32(crc, page.data(), swsusp::kPage);
                continue;
            }
            uint64_t i = k - meta;
            if (bad_pfn(i)) return done("image page beyond memory");
            uint64_t target = target_of(i);  // straight from the disk into the frame, by DMA
            if (page_io(cpu, swap, swap_first, offsets[1 + k], target, false, false))
                return done("cannot read an image page");
            if (flags & swsusp::SF_CRC32_MODE) {
                cpu.read_block(target, page.data(), swsusp::kPage);
                crc = crc32(crc, page.data(), swsusp::kPage);
            }
        }
    } else {
        std::vector<uint8_t> frame, unc(kUnitPages * swsusp::kPage);
        uint64_t k = 0;  // next body page
        for (size_t at = 1; k < body;) {
            if (at >= offsets.size() || !get(offsets[at])) return done("image stream ends early");
            uint64_t len;
            std::memcpy(&len, page.data(), 8);
            if (len == 0 || len > uint64_t(LZ4_compressBound(int(unc.size())))) return done("bad compressed unit");
            uint64_t pages = unit_frame_pages(len);
            frame.assign(page.begin(), page.end());
            for (uint64_t p = 1; p < pages; ++p) {
                if (at + p >= offsets.size() || !get(offsets[at + p])) return done("image stream ends early");
                frame.insert(frame.end(), page.begin(), page.end());
            }
            at += pages;
            int got = LZ4_decompress_safe(reinterpret_cast<const char*>(&frame[8]), reinterpret_cast<char*>(unc.data()),
                                          int(len), int(unc.size()));
            // Validated as Linux does: whole pages, at most one unit.
            if (got <= 0 || got % int(swsusp::kPage) != 0) return done("bad compressed unit");
            cpu.compute(Cycles(uint64_t(got) / 2));
            crc = crc32(crc, unc.data(), uInt(got));
            for (int off = 0; off < got && k < body; off += int(swsusp::kPage), ++k) {
                if (k < meta) {
                    take_meta(&unc[size_t(off)]);
                    continue;
                }
                if (bad_pfn(k - meta)) return done("image page beyond memory");
                cpu.write_block(target_of(k - meta), &unc[size_t(off)], swsusp::kPage);
            }
        }
    }
    if ((flags & swsusp::SF_CRC32_MODE) && uint32_t(crc) != crc_expected) return done("Invalid image CRC32!");
    out.ok = true;
    return done("");
}

}  // namespace quiesce
