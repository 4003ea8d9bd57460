// The firmware loader (drivers/base/firmware_loader/): request_firmware()
// finds a file under /lib/firmware - on the root filesystem's disk, read
// through its request queue like any file, or in the initramfs - into a
// kernel buffer. The firmware cache (Documentation/driver-api/firmware/
// firmware_cache.rst): every file a device requested with a caching call
// (request_firmware, not request_firmware_into_buf) is read into memory
// again by the PM_SUSPEND_PREPARE / PM_HIBERNATION_PREPARE notifier, before
// tasks freeze; while cached, a request is answered from memory without
// touching the disk. (Linux drops the cache 10 s after resume; runs here are
// shorter, so it is never dropped.)
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace quiesce {

class BlockDevice;
class Cpu;
class Kernel;

class FirmwareStore {
public:
    explicit FirmwareStore(Kernel& kernel) : kernel_(kernel) {}

    struct Blob {
        uint64_t addr = 0;  // kernel memory
        uint32_t size = 0;
    };
    // A file of /lib/firmware. On a disk it starts at `sector` (the
    // platform wrote it there); without a disk it is in the initramfs.
    void add(const std::string& name, std::vector<uint8_t> data, uint64_t sector = 0);
    // /lib/firmware is on a disk whose driver has not probed yet: no root
    // filesystem, every read fails with -ENOENT until set_disk.
    void expect_disk() { awaiting_disk_ = true; }
    void set_disk(BlockDevice* disk) {
        disk_ = disk;
        awaiting_disk_ = false;
    }
    bool on_disk() const { return disk_ != nullptr; }
    // A fresh boot: the files stay where they are; the cache and the names
    // requested with caching went with the old kernel's memory, and the disk
    // has no driver until its own probes again.
    void fresh_boot() {
        if (disk_) awaiting_disk_ = true;
        disk_ = nullptr;
        devres_.clear();
        cache_.clear();
    }

    // request_firmware (cache = true) or a call the cache does not cover
    // (cache = false). 0, or -ENOENT (no such file), or the disk's error.
    int request(Cpu& cpu, const std::string& device, const std::string& name, bool cache, Blob& out);
    // The PM notifier's device_cache_fw_images(): reads every file a device
    // requested with caching into memory. 0 or the first error.
    int cache_all(Cpu& cpu);
    bool cached(const std::string& name) const { return cache_.count(name) > 0; }

private:
    struct File {
        std::vector<uint8_t> data;
        uint64_t sector = 0;
    };
    int read_file(Cpu& cpu, const File& f, Blob& out);

    Kernel& kernel_;
    BlockDevice* disk_ = nullptr;
    bool awaiting_disk_ = false;
    std::map<std::string, File> files_;
    std::set<std::string> devres_;  // names requested with caching (fw_add_devm_name)
    std::map<std::string, Blob> cache_;
};

}  // namespace quiesce
