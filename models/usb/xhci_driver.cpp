#include "models/usb/xhci_driver.h"

#include "models/cpu/cpu.h"
#include "models/pci/pci_core.h"
#include "models/usb/xhci.h"
#include "sim/core/memory.h"
#include "sim/kernel/kernel.h"

#include <fmt/format.h>

#include <vector>

namespace quiesce {

namespace {
constexpr int kEIO = -5, kEINVAL = -22, kENODEV = -19, kETIMEDOUT = -110;
constexpr Picos kCommandTimeout = 10'000'000'000ULL;  // 10 ms
using X = XhciCore;
}  // namespace

bool XhciDriver::parse_variant(const std::string& s, Variant& out) {
    if (s == "fixed") out = Variant::Fixed;
    else if (s == "crcr-from-saved") out = Variant::CrcrFromSaved;
    else if (s == "ignore-sre") out = Variant::IgnoreSre;
    else return false;
    return true;
}

XhciDriver::XhciDriver(std::string name, Kernel& kernel, PciCore& core, Variant variant)
    : name_(std::move(name)), kernel_(kernel), core_(core), variant_(variant) {}

bool XhciDriver::wait_status(Cpu& cpu, uint32_t mask, uint32_t want, uint64_t timeout_us) {
    for (uint64_t waited = 0;; waited += 50) {
        uint32_t st = cpu.read32(mmio(X::USBSTS));
        if (st == 0xffffffff) return false;  // the function is gone
        if ((st & mask) == want) return true;
        if (waited >= timeout_us) return false;
        kernel_.wait_event(done_, 50'000'000ULL, name_ + ": USBSTS");  // udelay(50), or an interrupt
    }
}

// xhci_init + xhci_run: from reset, with empty rings.
int XhciDriver::init(Cpu& cpu) {
    cpu.write32(mmio(X::USBCMD), 0);
    if (!wait_status(cpu, X::STS_HCH, X::STS_HCH, 16'000)) return kETIMEDOUT;
    cpu.write32(mmio(X::USBCMD), X::CMD_HCRST);
    if (!wait_status(cpu, X::STS_CNR, 0, 100'000)) return kETIMEDOUT;
    const uint64_t ring = cpu.read64(drv_ + F_CMD_RING), seg = cpu.read64(drv_ + F_EVT_SEG);
    const uint64_t erst = cpu.read64(drv_ + F_ERST), dcbaa = cpu.read64(drv_ + F_DCBAA);
    std::vector<uint8_t> zero(kRingTrbs * X::kTrb, 0);
    cpu.write_block(ring, zero.data(), unsigned(zero.size()));
    cpu.write_block(seg, zero.data(), unsigned(zero.size()));
    // The link TRB at the end of the command ring toggles the cycle state.
    cpu.write64(ring + (kRingTrbs - 1) * X::kTrb, ring);
    cpu.write32(ring + (kRingTrbs - 1) * X::kTrb + 12, (X::TRB_LINK << 10) | X::TRB_TC);
    cpu.write64(erst, seg);
    cpu.write32(erst + 8, kRingTrbs);
    cpu.write64(drv_ + F_CMD_ENQ, ring);
    cpu.write64(drv_ + F_CMD_DEQ, ring);
    cpu.write32(drv_ + F_CMD_PCS, 1);
    cpu.write64(drv_ + F_EVT_DEQ, seg);
    cpu.write32(drv_ + F_EVT_CCS, 1);
    cpu.write64(drv_ + F_PENDING, 0);
    cpu.write32(mmio(X::CONFIG), 8);
    cpu.write64(mmio(X::DCBAAP), dcbaa);
    cpu.write64(drv_ + F_CRCR_INIT, ring | X::CRCR_RCS);
    cpu.write64(mmio(X::CRCR), ring | X::CRCR_RCS);
    cpu.write32(mmio(X::ERSTSZ), 1);
    cpu.write64(mmio(X::ERDP), seg);
    cpu.write64(mmio(X::ERSTBA), erst);
    cpu.write32(mmio(X::IMOD), 160);
    cpu.write32(mmio(X::IMAN), X::IMAN_IE);
    cpu.write32(mmio(X::USBCMD), X::CMD_RS | X::CMD_INTE);
    if (!wait_status(cpu, X::STS_HCH, 0, 16'000)) return kETIMEDOUT;
    kernel_.hub().instant(kernel_.path(), "xhci-init", "driver", {{"device", name_}});
    return 0;
}

int XhciDriver::probe(Cpu& cpu, PciDev& dev) {
    dev_ = &dev;
    mmio_base_ = core_.cfg_read(cpu, dev, pci::BAR0, 4) & ~0xfu;
    if ((cpu.read32(mmio(X::CAPLENGTH)) & 0xff) != X::kOp) return kENODEV;
    drv_ = kernel_.alloc(256, 64);
    cpu.write64(drv_ + F_CMD_RING, kernel_.alloc(kRingTrbs * X::kTrb, 64));
    cpu.write64(drv_ + F_EVT_SEG, kernel_.alloc(kRingTrbs * X::kTrb, 64));
    cpu.write64(drv_ + F_ERST, kernel_.alloc(64, 64));
    cpu.write64(drv_ + F_DCBAA, kernel_.alloc(4096, 4096));
    if (int rc = init(cpu)) return rc;
    if (dev.irq != 0xff) kernel_.request_irq(cpu, dev.irq, name_, [this](Cpu& c) { return irq(c); });
    return 0;
}

// The interrupt: every event the controller posted, then ERDP.
bool XhciDriver::irq(Cpu& cpu) {
    uint32_t iman = cpu.read32(mmio(X::IMAN));
    if (iman == 0xffffffff || !(iman & X::IMAN_IP)) return false;
    cpu.write32(mmio(X::IMAN), iman);  // IP is RW1C
    cpu.write32(mmio(X::USBSTS), X::STS_EINT);
    const uint64_t seg = cpu.read64(drv_ + F_EVT_SEG);
    uint64_t deq = cpu.read64(drv_ + F_EVT_DEQ);
    uint32_t ccs = cpu.read32(drv_ + F_EVT_CCS);
    for (unsigned n = 0; n < kRingTrbs; ++n) {
        uint64_t param = cpu.read64(deq);
        uint32_t status = cpu.read32(deq + 8), control = cpu.read32(deq + 12);
        if ((control & X::TRB_CYCLE) != ccs) break;
        if (X::trb_type(control) == X::TRB_CMD_COMPLETION) {
            uint64_t pending = cpu.read64(drv_ + F_PENDING);
            if (param == pending && pending != 0) {
                cpu.write64(drv_ + F_PENDING_CC, status >> 24);
                cpu.write64(drv_ + F_PENDING, 0);
                done_.notify(sc_core::SC_ZERO_TIME);
            } else {
                kernel_.hub().guest_error(kernel_.path(), "xhci.unexpected-completion",
                                          fmt::format("{}: completion for command TRB {:#x}, which is not pending",
                                                      name_, param),
                                          {{"device", name_}, {"trb", fmt::format("{:#x}", param)}});
            }
            // The controller moved past it (and past the link TRB at the end: inc_deq).
            uint64_t next = param + X::kTrb, ring = cpu.read64(drv_ + F_CMD_RING);
            cpu.write64(drv_ + F_CMD_DEQ, next == ring + (kRingTrbs - 1) * X::kTrb ? ring : next);
        }
        deq += X::kTrb;
        if (deq >= seg + kRingTrbs * X::kTrb) {
            deq = seg;
            ccs ^= 1;
        }
    }
    cpu.write64(drv_ + F_EVT_DEQ, deq);
    cpu.write32(drv_ + F_EVT_CCS, ccs);
    cpu.write64(mmio(X::ERDP), deq | X::ERDP_EHB);
    return true;
}

int XhciDriver::noop(Cpu& cpu) {
    const uint64_t ring = cpu.read64(drv_ + F_CMD_RING);
    uint64_t enq = cpu.read64(drv_ + F_CMD_ENQ);
    uint32_t pcs = cpu.read32(drv_ + F_CMD_PCS);
    cpu.write64(enq, 0);
    cpu.write32(enq + 8, 0);
    cpu.write32(enq + 12, (X::TRB_NOOP_CMD << 10) | pcs);
    cpu.write64(drv_ + F_PENDING, enq);
    enq += X::kTrb;
    if (enq == ring + (kRingTrbs - 1) * X::kTrb) {  // hand the link TRB over, then wrap
        cpu.write32(enq + 12, (X::TRB_LINK << 10) | X::TRB_TC | pcs);
        pcs ^= 1;
        enq = ring;
    }
    cpu.write64(drv_ + F_CMD_ENQ, enq);
    cpu.write32(drv_ + F_CMD_PCS, pcs);
    cpu.write32(mmio(X::DB0), 0);
    const Picos until = now_ps() + kCommandTimeout;
    while (cpu.read64(drv_ + F_PENDING) != 0) {
        if (now_ps() >= until || !kernel_.wait_event(done_, until - now_ps(), name_ + ": command completion"))
            if (cpu.read64(drv_ + F_PENDING) != 0) return kETIMEDOUT;
    }
    return cpu.read64(drv_ + F_PENDING_CC) == X::CC_SUCCESS ? 0 : kEIO;
}

int XhciDriver::suspend(Cpu& cpu) {
    cpu.write32(mmio(X::USBCMD), cpu.read32(mmio(X::USBCMD)) & ~X::CMD_RS);
    if (!wait_status(cpu, X::STS_HCH, X::STS_HCH, 16'000)) return kETIMEDOUT;
    cpu.write32(drv_ + F_S_USBCMD, cpu.read32(mmio(X::USBCMD)) | X::CMD_RS);
    cpu.write32(drv_ + F_S_DNCTRL, cpu.read32(mmio(X::DNCTRL)));
    cpu.write64(drv_ + F_S_DCBAAP, cpu.read64(mmio(X::DCBAAP)));
    cpu.write32(drv_ + F_S_CONFIG, cpu.read32(mmio(X::CONFIG)));
    cpu.write32(drv_ + F_S_ERSTSZ, cpu.read32(mmio(X::ERSTSZ)));
    cpu.write64(drv_ + F_S_ERSTBA, cpu.read64(mmio(X::ERSTBA)));
    cpu.write64(drv_ + F_S_ERDP, cpu.read64(mmio(X::ERDP)));
    cpu.write32(drv_ + F_S_IMAN, cpu.read32(mmio(X::IMAN)));
    cpu.write32(drv_ + F_S_IMOD, cpu.read32(mmio(X::IMOD)));
    cpu.write32(mmio(X::USBCMD), cpu.read32(mmio(X::USBCMD)) | X::CMD_CSS);
    if (!wait_status(cpu, X::STS_SSS, 0, 10'000)) return kETIMEDOUT;
    if (cpu.read32(mmio(X::USBSTS)) & X::STS_SRE) return kEINVAL;  // "WARN: xHC save state error"
    return 0;
}

int XhciDriver::resume(Cpu& cpu, bool hibernated) {
    uint32_t st = cpu.read32(mmio(X::USBSTS));
    bool lost = hibernated || st == 0xffffffff || (st & (X::STS_CNR | X::STS_HCE));
    if (!lost) {
        // xhci_restore_registers, then the command ring from memory, then CRS.
        cpu.write32(mmio(X::DNCTRL), cpu.read32(drv_ + F_S_DNCTRL));
        cpu.write64(mmio(X::DCBAAP), cpu.read64(drv_ + F_S_DCBAAP));
        cpu.write32(mmio(X::CONFIG), cpu.read32(drv_ + F_S_CONFIG));
        cpu.write32(mmio(X::ERSTSZ), cpu.read32(drv_ + F_S_ERSTSZ));
        cpu.write64(mmio(X::ERSTBA), cpu.read64(drv_ + F_S_ERSTBA));
        cpu.write64(mmio(X::ERDP), cpu.read64(drv_ + F_S_ERDP));
        cpu.write32(mmio(X::IMAN), cpu.read32(drv_ + F_S_IMAN));
        cpu.write32(mmio(X::IMOD), cpu.read32(drv_ + F_S_IMOD));
        uint64_t crcr = variant_ == Variant::CrcrFromSaved
                            ? cpu.read64(drv_ + F_CRCR_INIT)
                            : cpu.read64(drv_ + F_CMD_DEQ) | cpu.read32(drv_ + F_CMD_PCS);  // xhci_set_cmd_ring_deq
        cpu.write64(mmio(X::CRCR), crcr);
        cpu.write32(mmio(X::USBCMD), cpu.read32(mmio(X::USBCMD)) | X::CMD_CRS);
        if (!wait_status(cpu, X::STS_RSS, 0, 10'000)) return kETIMEDOUT;
        lost = variant_ != Variant::IgnoreSre && (cpu.read32(mmio(X::USBSTS)) & X::STS_SRE);
    }
    if (lost) {  // "xHC error in resume" / power lost: start over with empty rings
        kernel_.hub().instant(kernel_.path(), "xhci-reinit", "driver",
                              {{"device", name_}, {"reason", hibernated ? "hibernation" : "state lost"}});
        return init(cpu);
    }
    cpu.write32(mmio(X::USBCMD), cpu.read32(drv_ + F_S_USBCMD));
    return wait_status(cpu, X::STS_HCH, 0, 16'000) ? 0 : kETIMEDOUT;
}

int XhciDriver::pm(const std::string& cb, Cpu& cpu, PciDev&) {
    if (cb == "suspend" || cb == "freeze" || cb == "poweroff") return suspend(cpu);
    if (cb == "resume" || cb == "thaw") return resume(cpu, false);
    if (cb == "restore") return resume(cpu, true);
    return 0;
}

uint64_t XhciDriver::software_command_dequeue(const PhysicalMemory& mem) const {
    return drv_ ? mem.peek64(drv_ + F_CMD_DEQ) : 0;
}

bool XhciDriver::software_command_cycle(const PhysicalMemory& mem) const {
    return drv_ && (mem.peek32(drv_ + F_CMD_PCS) & 1);
}

uint64_t XhciDriver::software_event_dequeue(const PhysicalMemory& mem) const {
    return drv_ ? mem.peek64(drv_ + F_EVT_DEQ) : 0;
}

bool XhciDriver::software_event_cycle(const PhysicalMemory& mem) const {
    return drv_ && (mem.peek32(drv_ + F_EVT_CCS) & 1);
}

}  // namespace quiesce
