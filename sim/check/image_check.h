// Hibernation invariants, checked against the true state of memory, the
// in-flight ledger and the drive:
//   dma.after-quiesce           at the atomic snapshot a device still has a
//                               transfer in flight, or a device writes a page
//                               during the copy
//   image.atomicity             a saved page changed while the atomic copy ran:
//                               the image is not memory at one instant
//   image.integrity             the restore kernel accepted an image whose
//                               pages differ from the snapshot
//   fs.modified-after-snapshot  the root partition was written between the
//                               snapshot and the restore
//   task.torn-update            the snapshot caught a task between the steps
//                               of an update that must stay whole
#pragma once

#include "sim/check/checker.h"
#include "sim/core/ledger.h"
#include "sim/pm/hibernation.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace quiesce {

class PhysicalMemory;
class SataDrive;
class StorageCheck;

class ImageCheck : public SnapshotObserver {
public:
    ImageCheck(Checker& checker, const PhysicalMemory& memory, const Ledger& ledger, const std::string& component);

    // The root partition whose blocks must not change after the snapshot.
    void watch_filesystem(const SataDrive* drive, uint64_t first_sector, uint64_t end_sector, std::string disk);
    // The storage oracle whose beliefs about that filesystem go back to the
    // snapshot's when the image is restored (StorageCheck::image_snapshot).
    void set_storage(StorageCheck* storage) { storage_ = storage; }

    // Tasks in the middle of a multi-step update, as "task: update".
    void set_update_probe(std::function<std::vector<std::string>()> probe) { updates_ = std::move(probe); }

    void copy_started(const std::vector<uint64_t>& pfns) override;
    // `copies[i]` holds the copy of `pfns[i]`.
    void copy_finished(const std::vector<uint64_t>& pfns, const std::vector<uint64_t>& copies) override;
    void page_saved(uint64_t pfn) override;
    // The restore kernel is about to jump into the image: memory must hold
    // the snapshot, and the filesystem must be as it was.
    void restored();
    bool snapshot_taken() const { return snapshot_ps_ != 0; }

private:

    Checker& checker_;
    const PhysicalMemory& memory_;
    const Ledger& ledger_;
    std::string component_;
    const SataDrive* drive_ = nullptr;
    StorageCheck* storage_ = nullptr;
    uint64_t fs_first_ = 0, fs_end_ = 0;
    std::string disk_;
    std::map<uint64_t, uint64_t> versions_;   // pfn -> write version at copy start
    std::map<uint64_t, uint64_t> snapshot_;   // pfn -> content hash in the image
    std::map<uint64_t, uint64_t> saved_;      // kexec-s4: pfn -> content hash when the save kernel read it
    Picos snapshot_ps_ = 0;
    std::function<std::vector<std::string>()> updates_;
};

}  // namespace quiesce
