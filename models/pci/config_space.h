// PCI configuration-space layout (PCI Local Bus 3.0, PCI PM 1.2): offsets,
// bits, and the builders that declare a type-0 or type-1 header plus the PM
// capability into a register bank. See reference/linux-pm.md §4.
#pragma once

#include "sim/core/registers.h"

#include <cstdint>

namespace quiesce::pci {

// Header offsets.
constexpr uint32_t VENDOR_ID = 0x00, DEVICE_ID = 0x02, COMMAND = 0x04, STATUS = 0x06;
constexpr uint32_t REVISION = 0x08, CLASS_CODE = 0x09, CACHE_LINE = 0x0c, LATENCY = 0x0d;
constexpr uint32_t HEADER_TYPE = 0x0e, BAR0 = 0x10, SUBSYSTEM = 0x2c, CAP_PTR = 0x34;
constexpr uint32_t HEADER_MULTI_FUNCTION = 0x80;  // HEADER_TYPE bit 7: functions 1-7 may exist
constexpr uint32_t INT_LINE = 0x3c, INT_PIN = 0x3d;
// Type-1 (bridge) header.
constexpr uint32_t PRIMARY_BUS = 0x18, SECONDARY_BUS = 0x19, SUBORDINATE_BUS = 0x1a;
constexpr uint32_t SEC_STATUS = 0x1e, MEM_BASE = 0x20, MEM_LIMIT = 0x22, BRIDGE_CONTROL = 0x3e;
// Power-management capability.
constexpr uint32_t PM_CAP = 0x40, PMC = PM_CAP + 2, PMCSR = PM_CAP + 4;

// COMMAND bits.
constexpr uint16_t CMD_IO = 1u << 0, CMD_MEMORY = 1u << 1, CMD_MASTER = 1u << 2, CMD_SERR = 1u << 8,
                   CMD_INTX_DISABLE = 1u << 10;
// STATUS bits.
constexpr uint16_t STS_INTERRUPT = 1u << 3, STS_CAP_LIST = 1u << 4, STS_RCV_MASTER_ABORT = 1u << 13;
// PMCSR bits.
constexpr uint16_t PMCSR_STATE_MASK = 0x3, PMCSR_NO_SOFT_RESET = 1u << 3, PMCSR_PME_EN = 1u << 8,
                   PMCSR_PME_STATUS = 1u << 15;

// Number of BARs in a header of this type.
inline unsigned bar_count(bool bridge) { return bridge ? 2 : 6; }

struct HeaderIdent {
    uint16_t vendor = 0;
    uint16_t device = 0;
    uint32_t class_code = 0;   // 24 bits: base class, subclass, prog-if
    uint8_t revision = 1;
    bool bridge = false;
    uint8_t int_pin = 0;       // 0 none, 1 INTA# ... 4 INTD#
    bool no_soft_reset = false;
    uint32_t bar_size[6] = {0, 0, 0, 0, 0, 0};  // 0 = BAR not implemented
};

// Declares the header and PM capability of `id` into `bank`.
void declare_header(RegisterBank& bank, const HeaderIdent& id);

}  // namespace quiesce::pci
