// `[hibernation]` of a scenario: how linux-s4 writes and checks its image.
// The scenario reads it once; hibernation takes it as it is.
#pragma once

#include <cstdint>

namespace quiesce {

struct HibernationSpec {
    bool crc = true;      // SF_CRC32_MODE: the header carries the CRC32 of the data
    bool hw_sig = false;  // acpi_sleep=s4_hwsig: SF_HW_SIG, refuse an image made on other hardware
    bool lz4 = false;     // hibernate.compressor=lz4: LZ4 units of 32 pages (SF_COMPRESSION_ALG_LZ4); implies the CRC
    bool ignore_swap_map = false;      // bug knob: the image writer lays pages out from slot 1 regardless
    bool resume_wait = false;
    // What a fresh boot's swapon does with a swap header holding an image
    // signature: util-linux's rewrites it ("software suspend data detected.
    // Rewriting the swap signature"); false: no swapon of that partition at
    // boot, and the image stays for a later boot to find.
    bool swapon_rewrites = true;  // the resumewait kernel parameter: software_resume waits for the resume device
    bool restore_mounts_root = false;  // bug knob: the restore kernel mounts the root fs (initramfs) first
    uint64_t image_size = 0;           // /sys/power/image_size (bytes); 0: 2/5 of RAM
};

}  // namespace quiesce
