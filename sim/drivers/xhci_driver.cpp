// The xHCI controller's OS driver: probe, the command and event rings, No-Op commands, its PM state.
#include "sim/drivers/xhci_driver.h"
#include "sim/core/sync.h"

#include "models/cpu/cpu.h"
#include "models/pci/pci_core.h"
#include "models/usb/usb_device.h"
#include "models/usb/xhci.h"
#include "sim/core/errors.h"
#include "sim/core/memory.h"
#include "sim/kernel/kernel.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace quiesce {

namespace {
constexpr int kEIO = -5, kEINVAL = -22, kENODEV = -19, kETIMEDOUT = -110;
constexpr Picos kCommandTimeout = 10'000'000'000ULL;  // 10 ms
using X = XhciCore;
}  // namespace

XhciDriver::XhciDriver(std::string name, std::string track, Kernel& kernel, PciCore& core, SharedProgram program)
    : PciDataDriver(std::move(name), std::move(track), kernel, core, std::move(program)) {}

bool XhciDriver::wait_status(Cpu& cpu, uint32_t mask, uint32_t want, uint64_t timeout_us) {
    return wait_reg(cpu, X::USBSTS, mask, want, timeout_us);
}

bool XhciDriver::wait_reg(Cpu& cpu, uint32_t reg, uint32_t mask, uint32_t want, uint64_t timeout_us) {
    for (uint64_t waited = 0;; waited += 50) {
        uint32_t st = cpu.read32(mmio(reg));
        if (st == 0xffffffff) return false;  // the function is gone
        if ((st & mask) == want) return true;
        if (waited >= timeout_us) return false;
        const char* what = reg == X::USBCMD ? ": USBCMD" : ": USBSTS";
        kernel_.wait_event(done_, 50'000'000ULL, name_ + what);  // udelay(50), or an interrupt
    }
}

// xhci_halt + xhci_reset, then xhci_init + xhci_run: from reset, with empty
// rings. xhci_reset waits for USBCMD.HCRST to clear, then for USBSTS.CNR:
// "xHCI cannot write to any doorbells or operational registers other than
// status until the Controller Not Ready flag is cleared" (XHCI_RESET_SHORT_USEC,
// 250 ms, each).
int XhciDriver::init(Cpu& cpu) {
    cpu.write32(mmio(X::USBCMD), 0);
    if (!wait_status(cpu, X::STS_HCH, X::STS_HCH, 16'000)) return kETIMEDOUT;
    cpu.write32(mmio(X::USBCMD), X::CMD_HCRST);
    if (!wait_reg(cpu, X::USBCMD, X::CMD_HCRST, 0, 250'000)) return kETIMEDOUT;
    if (!wait_status(cpu, X::STS_CNR, 0, 250'000)) return kETIMEDOUT;
    const uint64_t ring = cpu.read64(drv_ + F_CMD_RING), seg = cpu.read64(drv_ + F_EVT_SEG);
    const uint64_t erst = cpu.read64(drv_ + F_ERST), dcbaa = cpu.read64(drv_ + F_DCBAA);
    std::vector<uint8_t> zero(kRingTrbs * X::kTrb, 0);
    init_ring(cpu, drv_ + F_CMD_RING, ring);
    cpu.write_block(seg, zero.data(), unsigned(zero.size()));
    cpu.write64(erst, seg);
    cpu.write32(erst + 8, kRingTrbs);
    cpu.write64(drv_ + F_CMD_DEQ, ring);
    // Every slot is gone: the transfers in flight with them.
    std::vector<uint8_t> none((X::kSlots + 1) * 32 * kXferEntry, 0);
    cpu.write_block(xfer_, none.data(), unsigned(none.size()));
    completions_.clear();
    cpu.write32(drv_ + F_PORT_WAKE, 0);
    cpu.write32(drv_ + F_GENERATION, cpu.read32(drv_ + F_GENERATION) + 1);
    cpu.write_block(dcbaa, zero.data(), 8 * (X::kSlots + 1));
    cpu.write64(drv_ + F_EVT_DEQ, seg);
    cpu.write32(drv_ + F_EVT_CCS, 1);
    cpu.write64(drv_ + F_PENDING, 0);
    cpu.write32(mmio(X::CONFIG), 8);
    cpu.write64(mmio(X::DCBAAP), dcbaa);
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
    xfer_ = kernel_.alloc((X::kSlots + 1) * 32 * kXferEntry, 64);
    cpu.write64(drv_ + F_XFER, xfer_);
    cpu.write64(drv_ + F_CMD_RING, kernel_.alloc(kRingTrbs * X::kTrb, 64));
    cpu.write64(drv_ + F_EVT_SEG, kernel_.alloc(kRingTrbs * X::kTrb, 64));
    cpu.write64(drv_ + F_ERST, kernel_.alloc(64, 64));
    cpu.write64(drv_ + F_DCBAA, kernel_.alloc(4096, 4096));
    runner_.bind();
    if (int rc = init(cpu)) return rc;
    request_irq(cpu);
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
                cpu.write32(drv_ + F_PENDING_SLOT, control >> 24);
                cpu.write64(drv_ + F_PENDING, 0);
                quiesce::notify(done_, sc_core::SC_ZERO_TIME);
            } else {
                kernel_.hub().guest_error(kernel_.path(), "xhci.unexpected-completion",
                                          fmt::format("{}: completion for command TRB {:#x}, which is not pending",
                                                      name_, param),
                                          {{"device", name_}, {"trb", fmt::format("{:#x}", param)}});
            }
            // The controller moved past it (and past the link TRB at the end: inc_deq).
            uint64_t next = param + X::kTrb, ring = cpu.read64(drv_ + F_CMD_RING);
            cpu.write64(drv_ + F_CMD_DEQ, next == ring + (kRingTrbs - 1) * X::kTrb ? ring : next);
        } else if (X::trb_type(control) == X::TRB_TRANSFER_EVENT) {
            transfer_event(cpu, param, status, control);
        } else if (X::trb_type(control) == X::TRB_PORT_STATUS_CHANGE) {
            port_event(cpu, unsigned(param >> 24));
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
    int cc = command(cpu, X::TRB_NOOP_CMD, 0, 0);
    return cc < 0 ? cc : cc == int(X::CC_SUCCESS) ? 0 : kEIO;
}

void XhciDriver::init_ring(Cpu& cpu, uint64_t ring, uint64_t base) {
    std::vector<uint8_t> zero(kRingTrbs * X::kTrb, 0);
    cpu.write_block(base, zero.data(), unsigned(zero.size()));
    // The link TRB at the end toggles the cycle state.
    cpu.write64(base + (kRingTrbs - 1) * X::kTrb, base);
    cpu.write32(base + (kRingTrbs - 1) * X::kTrb + 12, (X::TRB_LINK << 10) | X::TRB_TC);
    cpu.write64(ring, base);
    cpu.write64(ring + 8, base);
    cpu.write32(ring + 16, 1);
}

uint64_t XhciDriver::new_ring(Cpu& cpu) {
    uint64_t ring = kernel_.alloc(32, 32);
    init_ring(cpu, ring, kernel_.alloc(kRingTrbs * X::kTrb, 64));
    return ring;
}

// Writes one TRB at the ring's enqueue pointer (its cycle bit last: the
// controller may see it from then on) and moves past it, handing the link
// TRB over at the end.
uint64_t XhciDriver::enqueue(Cpu& cpu, uint64_t ring, uint64_t param, uint32_t status, uint32_t control) {
    const uint64_t base = cpu.read64(ring);
    uint64_t enq = cpu.read64(ring + 8);
    uint32_t pcs = cpu.read32(ring + 16);
    cpu.write64(enq, param);
    cpu.write32(enq + 8, status);
    cpu.write32(enq + 12, (control & ~X::TRB_CYCLE) | pcs);
    const uint64_t at = enq;
    enq += X::kTrb;
    if (enq == base + (kRingTrbs - 1) * X::kTrb) {
        cpu.write32(enq + 12, (X::TRB_LINK << 10) | X::TRB_TC | pcs);
        pcs ^= 1;
        enq = base;
    }
    cpu.write64(ring + 8, enq);
    cpu.write32(ring + 16, pcs);
    return at;
}

int XhciDriver::command(Cpu& cpu, uint32_t type, uint64_t param, uint32_t control, unsigned* slot) {
    uint64_t trb = enqueue(cpu, drv_ + F_CMD_RING, param, 0, (type << 10) | control);
    cpu.write64(drv_ + F_PENDING, trb);
    cpu.write32(mmio(X::DB0), 0);
    const Picos until = now_ps() + kCommandTimeout;
    while (cpu.read64(drv_ + F_PENDING) != 0) {
        if (now_ps() >= until || !kernel_.wait_event(done_, until - now_ps(), name_ + ": command completion"))
            if (cpu.read64(drv_ + F_PENDING) != 0) return kETIMEDOUT;
    }
    if (slot) *slot = cpu.read32(drv_ + F_PENDING_SLOT);
    return int(cpu.read64(drv_ + F_PENDING_CC));
}

uint32_t XhciDriver::generation(Cpu& cpu) const { return cpu.read32(drv_ + F_GENERATION); }

uint64_t XhciDriver::dcbaa(Cpu& cpu) const { return cpu.read64(drv_ + F_DCBAA); }

void XhciDriver::ring_doorbell(Cpu& cpu, unsigned slot, unsigned dci) {
    cpu.write32(mmio(X::DB0 + 4 * slot), dci);
}

// A Transfer Event: the TD it ends (its last TRB, or a short packet on the way).
void XhciDriver::transfer_event(Cpu& cpu, uint64_t param, uint32_t status, uint32_t control) {
    const unsigned slot = control >> 24, dci = (control >> 16) & 0x1f;
    if (slot < 1 || slot > X::kSlots) return;
    const uint64_t e = xfer_entry(slot, dci);
    const uint32_t cc = status >> 24, residue = status & 0xffffff;
    const uint64_t pending = cpu.read64(e);
    if (param != pending || pending == 0) {
        if (cc == X::CC_SHORT_PACKET) cpu.write32(e + 12, residue);  // the data stage of a control TD
        return;
    }
    cpu.write64(e, 0);
    cpu.write32(e + 8, cc);
    if (cc == X::CC_SHORT_PACKET) cpu.write32(e + 12, residue);
    auto it = completions_.find({slot, dci});
    if (it != completions_.end()) {
        Completion done = std::move(it->second);
        completions_.erase(it);
        const unsigned len = cpu.read32(pending + 8) & 0x1ffff;
        done(cpu, cc, len - std::min<unsigned>(len, cpu.read32(e + 12)));
        return;
    }
    quiesce::notify(done_, sc_core::SC_ZERO_TIME);
}

int XhciDriver::control(Cpu& cpu, unsigned slot, uint64_t ring, const SetupPacket& sp, uint64_t buf,
                        unsigned& actual) {
    const bool in = sp.request_type & 0x80;
    const unsigned len = sp.length;
    const uint32_t trt = len == 0 ? 0 : in ? 3 : 2;  // transfer type: no data, OUT, IN
    enqueue(cpu, ring, sp.raw(), 8, (X::TRB_SETUP << 10) | X::TRB_IDT | (trt << 16));
    if (len) enqueue(cpu, ring, buf, len, (X::TRB_DATA << 10) | (in ? X::TRB_DIR_IN : 0));
    uint64_t status = enqueue(cpu, ring, 0, 0, (X::TRB_STATUS << 10) | X::TRB_IOC | (len && in ? 0 : X::TRB_DIR_IN));
    const uint64_t e = xfer_entry(slot, 1);
    cpu.write64(e, status);
    cpu.write32(e + 12, 0);
    ring_doorbell(cpu, slot, 1);
    const Picos until = now_ps() + 5'000'000'000'000ULL;  // USB_CTRL_GET_TIMEOUT: 5 s
    while (cpu.read64(e) == status) {
        if (now_ps() >= until) return kETIMEDOUT;
        kernel_.wait_event(done_, until - now_ps(), name_ + ": control transfer");
    }
    const uint32_t cc = cpu.read32(e + 8);
    if (cc == X::CC_STALL) return -32;  // -EPIPE
    if (cc != X::CC_SUCCESS) return -71;  // -EPROTO
    actual = len - std::min<unsigned>(len, cpu.read32(e + 12));
    return 0;
}

void XhciDriver::submit(Cpu& cpu, unsigned slot, unsigned dci, uint64_t ring, uint64_t buf, unsigned len,
                        Completion done) {
    uint64_t trb = enqueue(cpu, ring, buf, len, (X::TRB_NORMAL << 10) | X::TRB_IOC | X::TRB_ISP);
    const uint64_t e = xfer_entry(slot, dci);
    cpu.write64(e, trb);
    cpu.write32(e + 12, 0);
    completions_[{slot, dci}] = std::move(done);
    ring_doorbell(cpu, slot, dci);
}

int XhciDriver::stop_endpoint(Cpu& cpu, unsigned slot, unsigned dci) {
    int cc = command(cpu, X::TRB_STOP_EP, 0, (slot << 24) | (dci << 16));
    return cc < 0 ? cc : (cc == int(X::CC_SUCCESS) || cc == int(X::CC_CONTEXT_STATE)) ? 0 : kEIO;
}

uint32_t XhciDriver::portsc(Cpu& cpu, unsigned port) { return cpu.read32(mmio(X::PORTSC0 + 0x10 * (port - 1))); }

void XhciDriver::port_write(Cpu& cpu, unsigned port, uint32_t bits) {
    uint32_t neutral = portsc(cpu, port) & (X::PORTSC_PP | X::PORTSC_WCE | X::PORTSC_WDE | X::PORTSC_WOE);
    cpu.write32(mmio(X::PORTSC0 + 0x10 * (port - 1)), neutral | bits);
}

// hub_port_reset: PR, then poll until the reset is over (PRC), clear PRC.
int XhciDriver::reset_port(Cpu& cpu, unsigned port) {
    if (!(portsc(cpu, port) & X::PORTSC_CCS)) return kENODEV;
    port_write(cpu, port, X::PORTSC_PR);
    for (unsigned ms = 0; ms < 200; ms += 10) {
        kernel_.sleep(10'000'000'000ULL, name_ + ": port reset");
        uint32_t sc = portsc(cpu, port);
        if (sc & X::PORTSC_PRC) {
            port_write(cpu, port, X::PORTSC_PRC | X::PORTSC_CSC);
            return (sc & X::PORTSC_PED) ? 0 : kENODEV;
        }
    }
    return kETIMEDOUT;
}

// USB_PORT_FEAT_SUSPEND: the link to U3, then 10 ms for it to settle.
int XhciDriver::suspend_port(Cpu& cpu, unsigned port) {
    uint32_t sc = portsc(cpu, port);
    if (!(sc & X::PORTSC_PED)) return kENODEV;
    if (((sc & X::PORTSC_PLS) >> X::PORTSC_PLS_SHIFT) == X::PLS_U3) return 0;
    port_write(cpu, port, X::PORTSC_LWS | (X::PLS_U3 << X::PORTSC_PLS_SHIFT));
    kernel_.sleep(10'000'000'000ULL, name_ + ": port suspend");
    return ((portsc(cpu, port) & X::PORTSC_PLS) >> X::PORTSC_PLS_SHIFT) == X::PLS_U3 ? 0 : -16;  // -EBUSY
}

// USB 2.0 resume: Resume signalling for 20 ms (USB_RESUME_TIMEOUT) - unless
// the device is already signalling it (remote wakeup) - then U0; PLC cleared.
int XhciDriver::resume_port(Cpu& cpu, unsigned port) {
    uint32_t sc = portsc(cpu, port);
    if (!(sc & X::PORTSC_PED)) return kENODEV;
    unsigned pls = (sc & X::PORTSC_PLS) >> X::PORTSC_PLS_SHIFT;
    if (pls == X::PLS_U0) return 0;
    if (pls == X::PLS_U3) port_write(cpu, port, X::PORTSC_LWS | (X::PLS_RESUME << X::PORTSC_PLS_SHIFT));
    kernel_.sleep(20'000'000'000ULL, name_ + ": port resume");
    port_write(cpu, port, X::PORTSC_LWS | (X::PLS_U0 << X::PORTSC_PLS_SHIFT));
    sc = portsc(cpu, port);
    port_write(cpu, port, X::PORTSC_PLC);
    cpu.write32(drv_ + F_PORT_WAKE, cpu.read32(drv_ + F_PORT_WAKE) & ~(1u << port));
    return ((sc & X::PORTSC_PLS) >> X::PORTSC_PLS_SHIFT) == X::PLS_U0 ? 0 : kEIO;
}

// A port changed: a port in Resume is a device's remote wakeup
// (usb_wakeup_notification: a wakeup event for that device).
void XhciDriver::port_event(Cpu& cpu, unsigned port) {
    if (port < 1 || port > X::kPorts) return;
    uint32_t sc = portsc(cpu, port);
    if (sc == 0xffffffff) return;
    if (((sc & X::PORTSC_PLS) >> X::PORTSC_PLS_SHIFT) == X::PLS_RESUME && (sc & X::PORTSC_PLC)) {
        port_write(cpu, port, X::PORTSC_PLC);
        cpu.write32(drv_ + F_PORT_WAKE, cpu.read32(drv_ + F_PORT_WAKE) | (1u << port));
        auto it = owners_.find(port);
        kernel_.pm_wakeup_event(it != owners_.end() ? it->second : name_);
    }
}

// xhci_bus_suspend: the root hub stops - unless a device asked to wake.
int XhciDriver::bus_suspend(Cpu& cpu) {
    for (unsigned port = 1; port <= X::kPorts; ++port) {
        uint32_t sc = portsc(cpu, port);
        if (!(sc & X::PORTSC_PED)) continue;
        unsigned pls = (sc & X::PORTSC_PLS) >> X::PORTSC_PLS_SHIFT;
        if (pls == X::PLS_RESUME || (cpu.read32(drv_ + F_PORT_WAKE) & (1u << port))) {
            kernel_.hub().instant(kernel_.path(), "usb-wakeup-pending", "driver",
                                  {{"device", name_}, {"port", std::to_string(port)}});
            return -16;  // -EBUSY: "port resume in progress"
        }
        uint32_t wake = wakeup_ ? (X::PORTSC_WCE | X::PORTSC_WDE | X::PORTSC_WOE) : 0;
        if (pls == X::PLS_U0) port_write(cpu, port, wake | X::PORTSC_LWS | (X::PLS_U3 << X::PORTSC_PLS_SHIFT));
        else if (wake) port_write(cpu, port, wake);
    }
    return 0;
}

// xhci_clear_command_ring: CRCR holds only a 64-byte aligned pointer, so
// the ring starts over - zeroed, enqueue and dequeue at its start, cycle
// state 1 - and CRCR points there.
void XhciDriver::clear_command_ring(Cpu& cpu) {
    const uint64_t ring = cpu.read64(drv_ + F_CMD_RING);
    init_ring(cpu, drv_ + F_CMD_RING, ring);
    cpu.write64(drv_ + F_CMD_DEQ, ring);
    cpu.write64(mmio(X::CRCR), ring | X::CRCR_RCS);
}

// xhci_set_cmd_ring_deq: where the controller must fetch the next command,
// from the ring in memory.
int XhciDriver::rederive(Cpu& cpu, const std::string& reg) {
    if (reg != "CRCR") return kEINVAL;
    cpu.write64(mmio(X::CRCR), cpu.read64(drv_ + F_CMD_DEQ) | cpu.read32(drv_ + F_CMD_PCS));
    return 0;
}

int XhciDriver::command(Cpu& cpu, const std::string& name, DriverRunner& runner) {
    if (name == "bus-suspend") return bus_suspend(cpu);
    if (name == "clear-command-ring") {
        clear_command_ring(cpu);
        return 0;
    }
    if (name == "reinit") {  // "xHC error in resume" / power lost: start over with empty rings
        kernel_.hub().instant(kernel_.path(), "xhci-reinit", "driver",
                              {{"device", name_}, {"reason", runner.callback() == "restore" ? "hibernation"
                                                                                             : "state lost"}});
        return init(cpu);
    }
    SIM_PANIC("xhci driver: no command {} (validation missed it)", name);
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

uint64_t XhciDriver::software_dcbaa(const PhysicalMemory& mem) const { return drv_ ? mem.peek64(drv_ + F_DCBAA) : 0; }

}  // namespace quiesce
