// PCI configuration space: the header and the PM capability, their fields and write masks.
#include "models/pci/config_space.h"

#include "sim/core/errors.h"

#include <string>

namespace quiesce::pci {

namespace {
using SC = StateClass;

void declare_bars(RegisterBank& bank, const HeaderIdent& id) {
    for (unsigned i = 0; i < bar_count(id.bridge); ++i) {
        uint32_t size = id.bar_size[i];
        RegSpec s{.name = "BAR" + std::to_string(i), .offset = BAR0 + 4 * i, .width = 4,
                  .cls = SC::Hardware, .doc = "Base address register"};
        if (size == 0) {
            s.ro = 0xffffffff;  // not implemented: reads 0, size probing sees 0
            s.doc = "Base address register (not implemented)";
        } else {
            SIM_ASSERT((size & (size - 1)) == 0 && size >= 16, "BAR{} size {} is not a power of two >= 16", i, size);
            // Bits below the size are hard-wired to 0 (memory, 32-bit, not
            // prefetchable): writing all ones reads back ~(size-1).
            s.ro = (size - 1);
            s.doc = "32-bit memory BAR of " + std::to_string(size) + " bytes";
        }
        bank.add(s);
    }
}
}  // namespace

void declare_header(RegisterBank& bank, const HeaderIdent& id) {
    bank.add({.name = "VENDOR_ID", .offset = VENDOR_ID, .width = 2, .reset = id.vendor, .ro = 0xffff,
              .cls = SC::Hardware, .doc = "Vendor identification"});
    bank.add({.name = "DEVICE_ID", .offset = DEVICE_ID, .width = 2, .reset = id.device, .ro = 0xffff,
              .cls = SC::Hardware, .doc = "Device identification"});
    bank.add({.name = "COMMAND", .offset = COMMAND, .width = 2, .reset = 0,
              .rsvd = uint16_t(~(CMD_IO | CMD_MEMORY | CMD_MASTER | CMD_SERR | CMD_INTX_DISABLE)),
              .cls = SC::Hardware, .doc = "I/O, memory space, bus master, SERR#, INTx disable"});
    bank.add({.name = "STATUS", .offset = STATUS, .width = 2, .reset = STS_CAP_LIST,
              .ro = STS_INTERRUPT | STS_CAP_LIST, .w1c = 0xf900, .cls = SC::Volatile,
              .doc = "Interrupt status, capability list, error bits (RW1C)"});
    bank.add({.name = "REVISION", .offset = REVISION, .width = 1, .reset = id.revision, .ro = 0xff,
              .cls = SC::Hardware, .doc = "Revision"});
    // Class code is 3 bytes at 0x09: declared as the three bytes of one field.
    bank.add({.name = "PROG_IF", .offset = CLASS_CODE, .width = 1, .reset = id.class_code & 0xff, .ro = 0xff,
              .cls = SC::Hardware, .doc = "Class code: programming interface"});
    bank.add({.name = "SUBCLASS", .offset = CLASS_CODE + 1, .width = 1, .reset = (id.class_code >> 8) & 0xff,
              .ro = 0xff, .cls = SC::Hardware, .doc = "Class code: subclass"});
    bank.add({.name = "BASE_CLASS", .offset = CLASS_CODE + 2, .width = 1, .reset = (id.class_code >> 16) & 0xff,
              .ro = 0xff, .cls = SC::Hardware, .doc = "Class code: base class"});
    bank.add({.name = "CACHE_LINE", .offset = CACHE_LINE, .width = 1, .cls = SC::Hardware,
              .doc = "Cache line size"});
    bank.add({.name = "LATENCY", .offset = LATENCY, .width = 1, .cls = SC::Hardware, .doc = "Latency timer"});
    bank.add({.name = "HEADER_TYPE", .offset = HEADER_TYPE, .width = 1, .reset = id.bridge ? 1u : 0u,
              .ro = 0xff, .cls = SC::Hardware, .doc = "0 = endpoint, 1 = PCI-to-PCI bridge; bit 7: multi-function"});
    declare_bars(bank, id);
    if (id.bridge) {
        bank.add({.name = "PRIMARY_BUS", .offset = PRIMARY_BUS, .width = 1, .cls = SC::Hardware,
                  .doc = "Primary bus number"});
        bank.add({.name = "SECONDARY_BUS", .offset = SECONDARY_BUS, .width = 1, .cls = SC::Hardware,
                  .doc = "Secondary bus number: type-1 accesses to it become type 0"});
        bank.add({.name = "SUBORDINATE_BUS", .offset = SUBORDINATE_BUS, .width = 1, .cls = SC::Hardware,
                  .doc = "Highest bus number behind the bridge"});
        bank.add({.name = "SEC_STATUS", .offset = SEC_STATUS, .width = 2, .w1c = 0xf900, .cls = SC::Volatile,
                  .doc = "Secondary status (RW1C)"});
        bank.add({.name = "MEM_BASE", .offset = MEM_BASE, .width = 2, .ro = 0x000f, .cls = SC::Hardware,
                  .doc = "Memory window base, address bits 31:20 in bits 15:4"});
        bank.add({.name = "MEM_LIMIT", .offset = MEM_LIMIT, .width = 2, .ro = 0x000f, .cls = SC::Hardware,
                  .doc = "Memory window limit, address bits 31:20 in bits 15:4"});
        bank.add({.name = "BRIDGE_CONTROL", .offset = BRIDGE_CONTROL, .width = 2, .rsvd = 0xf000,
                  .cls = SC::Hardware, .doc = "Bridge control"});
    } else {
        bank.add({.name = "SUBSYSTEM", .offset = SUBSYSTEM, .width = 4,
                  .reset = (uint32_t(id.device) << 16) | id.vendor, .ro = 0xffffffff, .cls = SC::Hardware,
                  .doc = "Subsystem vendor and ID"});
    }
    bank.add({.name = "CAP_PTR", .offset = CAP_PTR, .width = 1, .reset = PM_CAP, .ro = 0xff,
              .cls = SC::Hardware, .doc = "First capability: power management"});
    bank.add({.name = "INT_LINE", .offset = INT_LINE, .width = 1, .reset = 0xff, .cls = SC::Hardware,
              .doc = "Interrupt line (platform IRQ written by software)"});
    bank.add({.name = "INT_PIN", .offset = INT_PIN, .width = 1, .reset = id.int_pin, .ro = 0xff,
              .cls = SC::Hardware, .doc = "Interrupt pin: 1 = INTA#"});
    // Power-management capability.
    bank.add({.name = "PM_CAP_ID", .offset = PM_CAP, .width = 1, .reset = 0x01, .ro = 0xff,
              .cls = SC::Hardware, .doc = "Capability ID 01h: power management"});
    bank.add({.name = "PM_NEXT", .offset = PM_CAP + 1, .width = 1, .reset = 0, .ro = 0xff,
              .cls = SC::Hardware, .doc = "Next capability: none"});
    bank.add({.name = "PMC", .offset = PMC, .width = 2, .reset = 0x4803 /* v1.2, PME from D0 and D3hot */,
              .ro = 0xffff, .cls = SC::Hardware, .doc = "PM capabilities: version 3, PME_Support D0|D3hot"});
    bank.add({.name = "PMCSR", .offset = PMCSR, .width = 2,
              .reset = id.no_soft_reset ? uint64_t(PMCSR_NO_SOFT_RESET) : 0,
              .ro = PMCSR_NO_SOFT_RESET, .w1c = PMCSR_PME_STATUS, .rsvd = 0x7ef4, .cls = SC::Hardware,
              .doc = "PowerState 1:0, No_Soft_Reset 3, PME_En 8, PME_Status 15 (RW1C)"});
}

}  // namespace quiesce::pci
