// The fault plan of a scenario (DESIGN.md §4, docs/faults.md): rules
// {kind, trigger, once} from `[[fault]]` tables and `--fault` options.
//
// A kind is either an *operation* fault - an operation of a model or of the
// kernel goes wrong when the rule fires at it (a callback fails, a disk
// write errors, an allocation fails) - or a *point* fault - something
// happens to the machine at a phase boundary or a moment (power fails, a wake
// event arrives, firmware clobbers a region).
//
// Triggers, combined with AND; a rule without any fires at its first
// opportunity:
//   phase (+ when)   operation faults: while that phase runs; point faults:
//                    at its start (when = "before", the default) or end
//                    ("after")
//   device           only at that device (a callback's device, the disk, a
//                    PCI function, a task's name for freezer-refusal)
//   at               not before this simulated time
//   nth              the Nth opportunity that meets the other conditions
//   cycle            only in that cycle of a run with [cycles] (1-based):
//                    from the end of the cycle before to the end of this
//                    one's resume and copies
//   probability      each opportunity with this probability, from the run's
//                    seed (one stream per rule)
// once (default true): the rule fires one time; false: at every opportunity
// that meets its trigger.
#pragma once

#include "sim/core/time.h"

#include <cstdint>
#include <string>
#include <vector>

namespace quiesce {

struct FaultKindInfo {
    const char* name;
    bool point;              // fires at a phase boundary (or a moment), not at an operation
    const char* params;      // the kind's own keys, comma separated
    const char* description;
};

// Every kind, in the order docs/faults.md lists them.
const std::vector<FaultKindInfo>& fault_kinds();
const FaultKindInfo* find_fault_kind(const std::string& name);

struct FaultSpec {
    std::string kind;
    // Trigger.
    std::string phase;
    std::string when = "before";  // point faults: "before" or "after" the phase
    std::string device;           // acpi-method-error: the method (_TTS, _PTS, _WAK)
    Picos at = 0;
    uint64_t nth = 0;             // 0: any
    uint64_t cycle = 0;           // only in this cycle of a [cycles] run (1-based; 0: any)
    double probability = -1;      // < 0: always
    bool once = true;
    // Parameters.
    int64_t err = -5;             // callback-fail, disk-write-error: the errno (-EIO)
    Picos duration = 0;           // dma-delay, slow-spin-up: the extra time
    int64_t after_pages = -1;     // power-loss in write-image
    uint64_t page = 0;            // image-bit-flip
    Picos restore_after = 1'000'000'000'000ULL;  // power-loss: 1 s off
    int64_t irq = -1;             // spurious-irq: the line (default: the first device's)
    std::string source = "power-button";  // wake-event: power-button, rtc or usb-key
    uint64_t signature = 0;       // hw-signature-change: the new value (0: the old one + 1)
    std::string op = "write";     // offline-fs-write: "write" a file block or "delete" the file
    uint64_t file_block = 0;      // offline-fs-write: the file block it writes
    bool identical = false;       // usb-swap: the new device has the old one's descriptors and serial
    // Where the rule comes from: "file.toml:12" or "--fault 1".
    std::string origin;
    int line = 0;
};

struct FaultPlan {
    std::vector<FaultSpec> faults;
    const FaultSpec* find(const std::string& kind) const {
        for (const auto& f : faults)
            if (f.kind == kind) return &f;
        return nullptr;
    }
    bool has(const std::string& kind) const { return find(kind) != nullptr; }
};

}  // namespace quiesce
