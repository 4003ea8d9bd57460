// Hibernation invariants: the atomic copy and the restored memory against the true state.
#include "sim/check/image_check.h"

#include "models/disk/sata_drive.h"
#include "sim/check/storage_check.h"
#include "sim/core/memory.h"

#include <fmt/format.h>

namespace quiesce {

ImageCheck::ImageCheck(Checker& checker, const PhysicalMemory& memory, const Ledger& ledger,
                       const std::string& component)
    : checker_(checker), memory_(memory), ledger_(ledger), component_(component) {}

void ImageCheck::watch_filesystem(const SataDrive* drive, uint64_t first_sector, uint64_t end_sector,
                                  std::string disk) {
    drive_ = drive;
    fs_first_ = first_sector;
    fs_end_ = end_sector;
    disk_ = std::move(disk);
}


void ImageCheck::copy_started(const std::vector<uint64_t>& pfns) {
    if (updates_) {
        auto torn = updates_();
        if (!torn.empty()) {
            std::string list;
            for (const auto& t : torn) list += (list.empty() ? "" : "; ") + t;
            checker_.report({"task.torn-update", now_ps(), component_, "snapshot",
                             fmt::format("the snapshot splits {} multi-step update(s) (first: {})", torn.size(), torn[0]),
                             fmt::format("{{\"updates\":\"{}\"}}", list)});
        }
    }
    versions_.clear();
    snapshot_.clear();
    saved_.clear();  // this image's pages only (an earlier cycle's may be free memory now)
    for (uint64_t pfn : pfns) {
        const auto* info = memory_.page_info(pfn);
        versions_[pfn] = info ? info->version : 0;
    }
    auto busy = ledger_.outstanding();
    if (!busy.empty()) {
        std::string list;
        for (const auto& e : busy) list += (list.empty() ? "" : "; ") + e.device + ": " + e.what;
        checker_.report({"dma.after-quiesce", now_ps(), busy[0].device, "snapshot",
                         fmt::format("{} transfer(s) still in flight at the atomic snapshot (first: {} {})",
                                     busy.size(), busy[0].device, busy[0].what),
                         fmt::format("{{\"in_flight\":\"{}\"}}", list)});
    }
}

void ImageCheck::page_saved(uint64_t pfn) { saved_[pfn] = page_hash(memory_, pfn * PhysicalMemory::kPageSize); }

void ImageCheck::copy_finished(const std::vector<uint64_t>& pfns, const std::vector<uint64_t>& copies) {
    snapshot_ps_ = now_ps();
    if (storage_ && drive_) storage_->image_snapshot(fs_first_, fs_end_);
    std::vector<std::string> changed, by_device;
    std::string writer;
    for (size_t i = 0; i < pfns.size(); ++i) {
        auto read = saved_.find(pfns[i]);
        snapshot_[pfns[i]] = read != saved_.end() ? read->second : page_hash(memory_, copies[i]);
        const auto* info = memory_.page_info(pfns[i]);
        if (info && info->version != versions_[pfns[i]]) {
            changed.push_back(fmt::format("{:#x}", pfns[i] * PhysicalMemory::kPageSize));
            if (writer.empty()) writer = info->last_writer;
            if (info->last_writer.rfind("cpu", 0) != 0) by_device.push_back(info->last_writer);
        }
    }
    if (changed.empty()) return;
    std::string list = join_first(changed);
    checker_.report({"image.atomicity", now_ps(), component_, "snapshot",
                     fmt::format("{} saved page(s) changed while the atomic copy ran (first at {}, written by {})",
                                 changed.size(), changed[0], writer),
                     fmt::format("{{\"pages\":\"{}\",\"count\":\"{}\",\"last_writer\":\"{}\"}}", list, changed.size(),
                                 writer)});
    if (!by_device.empty())
        checker_.report({"dma.after-quiesce", now_ps(), by_device[0], "snapshot",
                         fmt::format("{} wrote memory by DMA during the atomic snapshot", by_device[0]),
                         fmt::format("{{\"pages\":\"{}\"}}", list)});
}

void ImageCheck::restored() {
    // image.nosave-restored: the image carried pages the OS does not own.
    std::vector<std::string> foreign;
    for (const auto& [pfn, hash] : snapshot_) {
        RegionAttr attr = memory_.attr_of(pfn * PhysicalMemory::kPageSize);
        if (attr == RegionAttr::Firmware || attr == RegionAttr::Nosave)
            foreign.push_back(fmt::format("{:#x}", pfn * PhysicalMemory::kPageSize));
    }
    if (!foreign.empty())
        checker_.report({"image.nosave-restored", now_ps(), component_, "restore",
                         fmt::format("the restore wrote {} page(s) of nosave or firmware-owned memory back from the "
                                     "image (first at {}): what firmware put there since is lost",
                                     foreign.size(), foreign[0]),
                         fmt::format("{{\"pages\":\"{}\",\"count\":\"{}\"}}", join_first(foreign), foreign.size())});
    std::vector<std::string> wrong;
    for (const auto& [pfn, hash] : snapshot_)
        if (page_hash(memory_, pfn * PhysicalMemory::kPageSize) != hash)
            wrong.push_back(fmt::format("{:#x}", pfn * PhysicalMemory::kPageSize));
    if (!wrong.empty()) {
        std::string list = join_first(wrong);
        checker_.report({"image.integrity", now_ps(), component_, "restore",
                         fmt::format("the restore kernel accepted an image: {} of {} page(s) differ from the snapshot "
                                     "(first at {})",
                                     wrong.size(), snapshot_.size(), wrong[0]),
                         fmt::format("{{\"pages\":\"{}\",\"count\":\"{}\"}}", list, wrong.size())});
    }
    if (!drive_) return;
    if (storage_) storage_->image_restored();
    auto sectors = drive_->written_since(snapshot_ps_, fs_first_, fs_end_);
    if (sectors.empty()) return;
    std::vector<std::string> names;
    for (uint64_t s : sectors) names.push_back(std::to_string(s));
    std::string list = join_first(names);
    checker_.report({"fs.modified-after-snapshot", now_ps(), disk_, "restore",
                     fmt::format("{} sector(s) of the mounted root filesystem were written after the snapshot "
                                 "(first: sector {})",
                                 sectors.size(), sectors[0]),
                     fmt::format("{{\"sectors\":\"{}\",\"count\":\"{}\"}}", list, sectors.size())});
}

}  // namespace quiesce
