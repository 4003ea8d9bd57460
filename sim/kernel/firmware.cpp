// The firmware loader: request_firmware from the disk or initramfs, and the firmware cache across sleep.
#include "sim/kernel/firmware.h"

#include "models/cpu/cpu.h"
#include "sim/kernel/block.h"
#include "sim/kernel/kernel.h"

#include <algorithm>

namespace quiesce {

namespace {
constexpr int kENOENT = -2;
}  // namespace

void FirmwareStore::add(const std::string& name, std::vector<uint8_t> data, uint64_t sector) {
    files_[name] = File{std::move(data), sector};
}

// Into a fresh kernel buffer: from the disk through its request queue (a
// queue stopped for suspend holds the read until the disk resumes), or a
// copy out of the initramfs.
int FirmwareStore::read_file(Cpu& cpu, const File& f, Blob& out) {
    if (awaiting_disk_) return kENOENT;
    const uint32_t size = uint32_t(f.data.size());
    out.size = size;
    out.addr = kernel_.alloc(size, 4096);
    if (!disk_) {
        cpu.write_block(out.addr, f.data.data(), size);
        return 0;
    }
    const unsigned ss = disk_->sector_size();
    const uint32_t sectors = (size + ss - 1) / ss;
    uint64_t bounce = kernel_.alloc(uint64_t(sectors) * ss, 4096);
    BlockRequest req;
    req.sector = f.sector;
    req.count = sectors;
    req.buffer = bounce;
    if (int rc = disk_->submit(cpu, req)) return rc;
    std::vector<uint8_t> buf(size);
    cpu.read_block(bounce, buf.data(), size);
    cpu.write_block(out.addr, buf.data(), size);
    return 0;
}

int FirmwareStore::request(Cpu& cpu, const std::string& device, const std::string& name, bool cache, Blob& out) {
    auto f = files_.find(name);
    int rc = kENOENT;
    const char* from = "none";
    if (f != files_.end()) {
        // A call the cache does not cover (FW_OPT_NOCACHE) does not look in
        // it either: it always reads the file.
        if (auto c = cache_.find(name); cache && c != cache_.end()) {
            // From the cache: a copy in memory.
            out.size = c->second.size;
            out.addr = kernel_.alloc(out.size, 4096);
            std::vector<uint8_t> buf(out.size);
            cpu.read_block(c->second.addr, buf.data(), out.size);
            cpu.write_block(out.addr, buf.data(), out.size);
            rc = 0;
            from = "cache";
        } else {
            kernel_.hub().slice_begin(kernel_.path(), "firmware-read", "firmware", {{"file", name}, {"device", device}});
            rc = read_file(cpu, f->second, out);
            kernel_.hub().slice_end(kernel_.path(), "firmware-read", "firmware", {{"rc", std::to_string(rc)}});
            from = disk_ ? "disk" : "initramfs";
        }
        if (rc == 0 && cache) devres_.insert(name);
    }
    kernel_.hub().instant(kernel_.path(), "request-firmware", "firmware",
                          {{"device", device}, {"file", name}, {"from", from}, {"rc", std::to_string(rc)}});
    return rc;
}

int FirmwareStore::cache_all(Cpu& cpu) {
    int first = 0;
    for (const auto& name : devres_) {
        if (cache_.count(name)) continue;
        Blob b;
        int rc = read_file(cpu, files_.at(name), b);
        kernel_.hub().instant(kernel_.path(), "firmware-cached", "firmware", {{"file", name}, {"rc", std::to_string(rc)}});
        if (rc == 0) cache_[name] = b;
        else if (!first) first = rc;
    }
    return first;
}

}  // namespace quiesce
