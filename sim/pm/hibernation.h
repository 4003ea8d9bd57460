// Hibernation (reference/linux-pm.md §1.9-1.10, §6.4-6.5): preallocation of
// the copy pages, the atomic snapshot (one CPU, interrupts off: every saveable
// page copied), the image written to the swap partition through the real
// driver, and the restore kernel's loader.
//
// Swap layout: page 0 is the swap header (the image signature at its end is
// written last: "S1SUSPEND" while an image is present, the original
// "SWAPSPACE2" kept beside it); pages 1.. hold swap-map pages (511 entries
// and a next pointer each) listing the stream pages; the stream is one
// swsusp_info page, the metadata pages of page-frame numbers (512 a page),
// then the data pages in the same order. With SF_CRC32_MODE the header
// carries the CRC32 of the stream after swsusp_info, uncompressed. With LZ4
// that part of the stream is compressed in units of 32 pages, each framed as
// a 64-bit length and the data, padded to whole pages.
#pragma once

#include "sim/fault/injector.h"

#include "sim/kernel/block.h"
#include "sim/kernel/kernel.h"
#include "sim/pm/hibernation_spec.h"

#include <cstdint>
#include <deque>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace quiesce {

class Cpu;
class Kernel;
class SwapMap;
class PhysicalMemory;
class EventHub;

namespace swsusp {
constexpr unsigned kPage = 4096;
constexpr size_t kSigOff = 4086, kOrigSigOff = 4076, kFlagsOff = 4072, kImageOff = 4064, kCrcOff = 4060,
                 kHwSigOff = 4056;
constexpr uint32_t SF_PLATFORM_MODE = 1, SF_NOCOMPRESS_MODE = 2, SF_CRC32_MODE = 4, SF_HW_SIG = 8,
                   SF_COMPRESSION_ALG_LZ4 = 16;
constexpr unsigned kMapEntries = 511, kPfnsPerPage = 512;
constexpr uint64_t kEndOfMap = ~0ULL;
// The page a freshly made swap partition starts with (mkswap).
std::vector<uint8_t> mkswap_header();
inline constexpr char kSwapSig[10] = {'S', 'W', 'A', 'P', 'S', 'P', 'A', 'C', 'E', '2'};
inline constexpr char kImageSig[10] = {'S', '1', 'S', 'U', 'S', 'P', 'E', 'N', 'D', 0};
inline constexpr uint64_t kInfoMagic = 0x31505355535753ULL;  // "SWSUSP1"

struct Info {  // struct swsusp_info, the first stream page
    uint64_t magic;
    uint64_t image_pages;
    uint64_t pages;        // stream pages: 1 + meta + data
    uint64_t meta_pages;
    uint64_t num_physpages;
};

// LZ4 units: up to 32 stream pages (LZO_UNC_PAGES), framed as a 64-bit
// compressed length and the data, padded to whole pages.
inline constexpr uint64_t kUnitPages = 32;
inline uint64_t unit_frame_pages(uint64_t compressed) { return (8 + compressed + kPage - 1) / kPage; }

inline uint64_t sectors_per_page(const BlockDevice& dev) { return kPage / dev.sector_size(); }
// Page `page` of the swap partition at sector `first`, to or from `buf`.
int page_io(Cpu& cpu, BlockDevice& dev, uint64_t first, uint64_t page, uint64_t buf, bool write, bool fua);
}  // namespace swsusp

// Who watches the atomic copy (the image oracle, sim/check/image_check.h):
// the frames about to be copied, then where each copy went.
class SnapshotObserver {
public:
    virtual void copy_started(const std::vector<uint64_t>& pfns) = 0;
    // `copies[i]` holds the copy of `pfns[i]`.
    virtual void copy_finished(const std::vector<uint64_t>& pfns, const std::vector<uint64_t>& copies) = 0;
    // kexec-s4 has no copy: the save kernel writes each page from where it
    // is, so the atomic window lasts until the last is written, and what the
    // image holds of a page is what memory held when it was read out.
    virtual void page_saved(uint64_t pfn) = 0;

protected:
    ~SnapshotObserver() = default;
};

// The scenario's [hibernation] and what the platform adds to it.
struct HibernationOptions : HibernationSpec {
    HibernationOptions() = default;
    explicit HibernationOptions(const HibernationSpec& spec) : HibernationSpec(spec) {}
    uint32_t hw_signature = 0;  // the FACS signature the image kernel read at boot (s4_hardware_signature)
    // The FACS signature now (after a restore): acpi_hibernation_leave compares.
    std::function<uint32_t()> current_hw_signature;
};

class Hibernation {
public:
    Hibernation(Kernel& kernel, PhysicalMemory& memory, EventHub& hub, HibernationOptions options);

    void set_check(SnapshotObserver* check) { check_ = check; }
    // The swap slot map the image takes its slots from (alloc_swapdev_block).
    void set_swap_map(SwapMap* map) { swap_map_ = map; }
    // Injected fault: power fails after this many image pages were written.
    // The fault plan: a power-loss rule with after_pages strikes the writer.
    void set_faults(FaultInjector* faults) { faults_ = faults; }
    void set_swap(BlockDevice* dev, uint64_t first_sector, uint64_t sectors) {
        swap_ = dev;
        swap_first_ = first_sector;
        swap_sectors_ = sectors;
    }

    int preallocate(Cpu& cpu);   // hibernate_preallocate_memory: reclaim toward image_size first
    int snapshot(Cpu& cpu);      // swsusp_save, with interrupts off
    int write_image(Cpu& cpu);   // swsusp_write: header last
    // kexec-s4 (seeds/004): no copy. At the jump the image kernel reserves
    // the swap slots the image will take and fixes its saveable pages where
    // they are (the atomic point); then the save kernel writes them, from
    // its own memory and with its own disk driver, while the image kernel
    // does not run.
    int kexec_prepare(Cpu& cpu);
    int kexec_write(Cpu& cpu, Kernel& save_kernel, BlockDevice& disk);
    // The image kernel runs again: its allocator as at the snapshot, minus
    // the copy pages (swsusp_free).
    // Its C++-held state is parsed back from the restored memory first.
    void image_restored(Cpu& cpu);
    size_t image_pages() const { return pfns_.size(); }

private:
    std::vector<uint64_t> saveable() const;
    int save_kernel_state(Cpu& cpu);
    bool forbidden(uint64_t pfn) const;
    int write_stream(Cpu& cpu, BlockDevice& dev, Kernel& buffers, std::deque<uint64_t> reserved);
    // Stream pages (swsusp_info, PFN metadata, data) and swap-map pages for n pages.
    void stream_size(uint64_t n, uint64_t& meta, uint64_t& body, uint64_t& worst, uint64_t& maps) const;
    int64_t image_slot(Cpu& cpu, uint64_t& sequential);
    void release_slots(Cpu& cpu, const std::vector<uint64_t>& slots);
    std::deque<uint64_t> kexec_slots_;
    bool kexec_window_ = false;  // from kexec_prepare until the save kernel wrote the image

    Kernel& kernel_;
    PhysicalMemory& memory_;
    EventHub& hub_;
    HibernationOptions options_;
    SnapshotObserver* check_ = nullptr;
    BlockDevice* swap_ = nullptr;
    uint64_t swap_first_ = 0, swap_sectors_ = 0;
    std::vector<uint64_t> copy_pages_;  // preallocated, in the order the snapshot fills them
    std::set<uint64_t> copy_set_;        // their pfns
    std::vector<uint64_t> pfns_, copies_;
    FaultInjector* faults_ = nullptr;
    SwapMap* swap_map_ = nullptr;
};

// Injected fault: flips one bit of image data page `page` on the drive's
// media (the machine is off). Returns the sector, or -1 if there is no image.
class SataDrive;
int64_t flip_image_bit(SataDrive& drive, uint64_t swap_first, uint64_t page);

// The restore kernel's loader (software_resume -> swsusp_check, swsusp_read).
struct ImageLoad {
    bool ok = false;
    std::string reason;  // why the image was not used ("no image", "Invalid image CRC32"...)
    std::vector<std::pair<uint64_t, uint64_t>> pbe;  // (pfn, bounce page): copied at the jump
};
// A fresh boot's swapon of the swap partition, as util-linux does it: a
// header holding an image signature (an image no boot resumed) gets the
// swap signature back, so no later boot resumes that image. Returns 0, or
// the I/O error; `rewritten` says whether there was an image signature.
int swapon_check(Kernel& k, Cpu& cpu, BlockDevice& swap, uint64_t swap_first, bool& rewritten);
ImageLoad load_image(Kernel& restore_kernel, Cpu& cpu, BlockDevice& swap, uint64_t swap_first, uint64_t swap_sectors,
                     const HibernationOptions& options, EventHub& hub);

}  // namespace quiesce
