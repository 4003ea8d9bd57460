// The xHCI controller's side of USB devices: root-hub ports (connect,
// reset, link states, remote wakeup), device slots and their contexts, and
// the endpoints' transfer rings.
#include "models/usb/xhci.h"
#include "sim/core/sync.h"

#include "models/usb/usb_device.h"
#include "sim/core/errors.h"

#include <algorithm>

#include <fmt/format.h>

namespace quiesce {

// --- root-hub ports ---------------------------------------------------------

void XhciCore::attach(unsigned port, UsbDevice& dev) {
    SIM_ASSERT(port < kPorts && !devices_[port], "xHCI port {} is taken or does not exist", port + 1);
    hook(port, dev);
    reset_ports();
}

void XhciCore::hook(unsigned port, UsbDevice& dev) {
    devices_[port] = &dev;
    dev.on_remote_wakeup = [this, port] { remote_wakeup(port); };
    dev.on_data_ready = [this, port] {
        // The controller polls the device's endpoints again: NAKed TDs retry.
        for (unsigned s = 1; s <= kSlots; ++s)
            if (slots_[s].enabled && slots_[s].port == port + 1)
                for (unsigned dci = 2; dci < 32; ++dci)
                    if (slots_[s].ep[dci].nak) {
                        slots_[s].ep[dci].nak = false;
                        rung_.insert({s, dci});
                    }
        quiesce::notify(kick_, sc_core::SC_ZERO_TIME);
    };
}

void XhciCore::unplug(unsigned port) {
    SIM_ASSERT(port < kPorts && devices_[port], "xHCI port {}: nothing to unplug", port + 1);
    UsbDevice* dev = devices_[port];
    devices_[port] = nullptr;
    dev->on_remote_wakeup = nullptr;
    dev->on_data_ready = nullptr;
    dev->vbus_lost();  // out of the port: no VBUS
    Register& r = regs().reg(fmt::format("PORTSC{}", port));
    const uint64_t was = r.value();
    r.set((was & ~uint64_t(PORTSC_CCS | PORTSC_PED | PORTSC_PR | PORTSC_PLS | PORTSC_SPEED)) |
          (uint64_t(PLS_RXDETECT) << PORTSC_PLS_SHIFT));
    resetting_ports_ &= ~(1u << port);
    hub().instant(path(), "port-disconnect", "usb",
                  {{"port", std::to_string(port + 1)}, {"device", dev->path()}, {"halted", halted() ? "1" : "0"}});
    port_change(port, PORTSC_CSC);
    if (halted() && (was & PORTSC_WDE) && on_wake) on_wake();
    update_irq();
}

void XhciCore::plug(unsigned port, UsbDevice& dev) {
    SIM_ASSERT(port < kPorts && !devices_[port], "xHCI port {} is taken or does not exist", port + 1);
    hook(port, dev);
    dev.bus_reset();  // VBUS on: a power-on reset, the Default state
    Register& r = regs().reg(fmt::format("PORTSC{}", port));
    const uint64_t was = r.value();
    r.set((was & ~uint64_t(PORTSC_PED | PORTSC_PLS | PORTSC_SPEED)) | PORTSC_CCS |
          (uint64_t(PLS_POLLING) << PORTSC_PLS_SHIFT));
    hub().instant(path(), "port-connect", "usb",
                  {{"port", std::to_string(port + 1)}, {"device", dev.path()}, {"halted", halted() ? "1" : "0"}});
    port_change(port, PORTSC_CSC);
    if (halted() && (was & PORTSC_WCE) && on_wake) on_wake();
    update_irq();
}

// After a controller reset (or at power-on) the ports are powered and every
// attached device - reset, its address and configuration gone - shows as a
// new connection.
void XhciCore::reset_ports() {
    for (unsigned p = 0; p < kPorts; ++p) {
        Register& r = regs().reg(fmt::format("PORTSC{}", p));
        r.set(r.spec().reset);
        if (!devices_[p]) continue;
        devices_[p]->bus_reset();
        r.set(PORTSC_PP | PORTSC_CCS | PORTSC_CSC | (PLS_POLLING << PORTSC_PLS_SHIFT));
    }
}

void XhciCore::set_pls(unsigned p, unsigned pls) {
    Register& r = regs().reg(fmt::format("PORTSC{}", p));
    r.set((r.value() & ~uint64_t(PORTSC_PLS)) | (uint64_t(pls) << PORTSC_PLS_SHIFT));
}

void XhciCore::port_change(unsigned p, uint32_t bits) {
    Register& r = regs().reg(fmt::format("PORTSC{}", p));
    const bool news = bits & ~r.value();
    r.set(r.value() | bits);
    if (!news) return;
    if (!halted()) {
        post_event(uint64_t(p + 1) << 24, CC_SUCCESS << 24, TRB_PORT_STATUS_CHANGE);
        set_sts(STS_PCD, true);
    }
}

void XhciCore::on_portsc(unsigned p, uint64_t old, uint64_t written) {
    Register& r = regs().reg(fmt::format("PORTSC{}", p));
    UsbDevice* dev = devices_[p];
    if ((written & PORTSC_PED) && (old & PORTSC_PED)) {  // software disables the port
        r.set(r.value() & ~uint64_t(PORTSC_PED));
        hub().instant(path(), "port-disabled", "usb", {{"port", std::to_string(p + 1)}});
    }
    if ((written & PORTSC_PR) && (r.value() & PORTSC_CCS) && !(r.value() & PORTSC_PR)) {
        r.set((r.value() | PORTSC_PR) & ~uint64_t(PORTSC_PED));
        resetting_ports_ |= 1u << p;
        hub().slice_begin(path(), fmt::format("port{}-reset", p + 1), "usb");
        quiesce::notify(kick_, sc_core::SC_ZERO_TIME);
    }
    if ((written & PORTSC_LWS) && dev && (r.value() & PORTSC_PED)) {
        const unsigned to = unsigned((written & PORTSC_PLS) >> PORTSC_PLS_SHIFT);
        const unsigned from = unsigned((old & PORTSC_PLS) >> PORTSC_PLS_SHIFT);
        if (to == PLS_U3 && from == PLS_U0) {
            set_pls(p, PLS_U3);
            dev->set_suspended(true);
        } else if (to == PLS_RESUME && from == PLS_U3) {
            set_pls(p, PLS_RESUME);  // host-initiated resume signalling (software times it)
        } else if (to == PLS_U0 && (from == PLS_U3 || from == PLS_RESUME)) {
            set_pls(p, PLS_U0);
            dev->set_suspended(false);
            port_change(p, PORTSC_PLC);
        }
    }
    update_irq();
}

void XhciCore::finish_port_reset(unsigned p) {
    Register& r = regs().reg(fmt::format("PORTSC{}", p));
    hub().slice_end(path(), fmt::format("port{}-reset", p + 1), "usb");
    r.set(r.value() & ~uint64_t(PORTSC_PR));
    UsbDevice* dev = devices_[p];
    if (!dev || !(r.value() & PORTSC_CCS)) return;
    dev->bus_reset();
    r.set((r.value() & ~uint64_t(PORTSC_SPEED)) | PORTSC_PED | (uint64_t(dev->speed()) << PORTSC_SPEED_SHIFT));
    set_pls(p, PLS_U0);
    port_change(p, PORTSC_PRC);
}

// A suspended device signals resume: the port goes to Resume with PLC; a
// halted controller (suspended, in D3hot) can only signal a wake (PME).
void XhciCore::remote_wakeup(unsigned p) {
    Register& r = regs().reg(fmt::format("PORTSC{}", p));
    if (((r.value() & PORTSC_PLS) >> PORTSC_PLS_SHIFT) != PLS_U3) return;
    set_pls(p, PLS_RESUME);
    hub().instant(path(), "port-resume", "wake", {{"port", std::to_string(p + 1)}, {"halted", halted() ? "1" : "0"}});
    port_change(p, PORTSC_PLC);
    if (halted() && on_wake) on_wake();
    update_irq();
}

// --- slots and endpoints ----------------------------------------------------

uint64_t XhciCore::output_context(unsigned slot) {
    uint64_t out = 0;
    dma(regs().reg("DCBAAP").value() + 8 * slot, &out, 8, false);
    return out & ~uint64_t(0x3f);
}

uint32_t XhciCore::command(uint32_t type, uint64_t param, uint32_t control, unsigned& slot) {
    switch (type) {
    case TRB_NOOP_CMD:
        slot = 0;
        return CC_SUCCESS;
    case TRB_ENABLE_SLOT:
        for (unsigned s = 1; s <= kSlots; ++s)
            if (!slots_[s].enabled) {
                slots_[s] = Slot{};
                slots_[s].enabled = true;
                slot = s;
                return CC_SUCCESS;
            }
        slot = 0;
        return CC_NO_SLOTS;
    case TRB_DISABLE_SLOT:
        if (!slot_enabled(slot)) return CC_SLOT_NOT_ENABLED;
        slots_[slot] = Slot{};
        return CC_SUCCESS;
    case TRB_ADDRESS_DEVICE:
        if (!slot_enabled(slot)) return CC_SLOT_NOT_ENABLED;
        return address_device(slot, param & ~uint64_t(0xf));
    case TRB_CONFIGURE_EP:
        if (!slot_enabled(slot)) return CC_SLOT_NOT_ENABLED;
        return configure_endpoints(slot, param & ~uint64_t(0xf));
    case TRB_STOP_EP:
        return stop_endpoint(slot, (control >> 16) & 0x1f);
    case TRB_RESET_DEVICE:
        return reset_device(slot);
    default:
        return CC_TRB_ERROR;
    }
}

uint32_t XhciCore::stop_endpoint(unsigned slot, unsigned dci) {
    if (!slot_enabled(slot)) return CC_SLOT_NOT_ENABLED;
    if (dci < 1 || dci > 31) return CC_TRB_ERROR;
    Endpoint& e = slots_[slot].ep[dci];
    if (e.state != EP_RUNNING) return CC_CONTEXT_STATE;
    e.state = EP_STOPPED;
    e.nak = false;
    rung_.erase({slot, dci});
    // The dequeue pointer goes back to memory, in the output endpoint context.
    uint64_t at = output_context(slot) + kCtx * dci;
    uint32_t dw0 = 0;
    dma(at, &dw0, 4, false);
    dw0 = (dw0 & ~7u) | EP_STOPPED;
    dma(at, &dw0, 4, true);
    uint64_t trdp = e.deq | (e.ccs ? 1 : 0);
    dma(at + 8, &trdp, 8, true);
    return CC_SUCCESS;
}

// Reset Device (xHCI 1.2 §4.6.11): software reset the device at its port
// (it is in its Default state, address 0) and tells the controller, which
// keeps the slot: the slot goes to Default with context entries 1, every
// endpoint but EP0 is disabled, and the output slot context says so. Only
// an Addressed or Configured slot can be reset.
uint32_t XhciCore::reset_device(unsigned slot) {
    if (!slot_enabled(slot)) return CC_SLOT_NOT_ENABLED;
    Slot& s = slots_[slot];
    if (s.state != SLOT_ADDRESSED && s.state != SLOT_CONFIGURED) return CC_CONTEXT_STATE;
    s.state = SLOT_DEFAULT;
    for (unsigned dci = 2; dci < 32; ++dci) {
        s.ep[dci] = Endpoint{};
        rung_.erase({slot, dci});
    }
    const uint64_t out = output_context(slot);
    write_slot_context(out, 1, SLOT_DEFAULT << 27);
    for (unsigned dci = 2; dci < 32; ++dci) {
        uint32_t dw0 = 0;
        dma(out + kCtx * dci, &dw0, 4, false);
        if (!(dw0 & 7)) continue;
        dw0 &= ~7u;  // Disabled
        dma(out + kCtx * dci, &dw0, 4, true);
    }
    hub().instant(path(), "reset-device", "usb", {{"slot", std::to_string(slot)}, {"port", std::to_string(s.port)}});
    return CC_SUCCESS;
}

// Address Device: input context = input control context, slot context, EP0
// context (32 bytes each). A slot that already has an address must be reset
// first (Reset Device): Context State Error.
uint32_t XhciCore::address_device(unsigned slot, uint64_t input) {
    if (slots_[slot].state != 0 && slots_[slot].state != SLOT_DEFAULT) return CC_CONTEXT_STATE;
    uint32_t icc[8] = {}, sctx[8] = {}, ep0[8] = {};
    dma(input, icc, kCtx, false);
    dma(input + kCtx, sctx, kCtx, false);
    dma(input + 2 * kCtx, ep0, kCtx, false);
    if ((icc[1] & 3) != 3) return CC_TRB_ERROR;  // A0 and A1 must be set
    const unsigned port = (sctx[1] >> 16) & 0xff;
    if (port < 1 || port > kPorts) return CC_TRB_ERROR;
    UsbDevice* dev = devices_[port - 1];
    const uint64_t portsc = regs().reg(fmt::format("PORTSC{}", port - 1)).value();
    if (!dev || !(portsc & PORTSC_PED)) return CC_TRANSACTION_ERROR;  // nobody answers SET_ADDRESS
    wait_cycles(Cycles(ctx().timing.vary(250'000)));  // SET_ADDRESS on the bus and the 2 ms recovery interval
    dev->set_address(uint8_t(slot));
    Slot& s = slots_[slot];
    s.port = port;
    s.state = SLOT_ADDRESSED;
    Endpoint& e = s.ep[1];
    uint64_t trdp = uint64_t(ep0[2]) | uint64_t(ep0[3]) << 32;
    e = Endpoint{EP_RUNNING, trdp & ~uint64_t(0xf), bool(trdp & 1), 0, false};
    const uint64_t out = output_context(slot);
    sctx[3] = (SLOT_ADDRESSED << 27) | slot;
    ep0[0] = (ep0[0] & ~7u) | EP_RUNNING;
    dma(out, sctx, kCtx, true);
    dma(out + kCtx, ep0, kCtx, true);
    hub().instant(path(), "address-device", "usb",
                  {{"slot", std::to_string(slot)}, {"port", std::to_string(port)}, {"device", dev->path()}});
    return CC_SUCCESS;
}

uint32_t XhciCore::configure_endpoints(unsigned slot, uint64_t input) {
    Slot& s = slots_[slot];
    if (s.state < SLOT_ADDRESSED) return CC_CONTEXT_STATE;
    uint32_t icc[8] = {};
    dma(input, icc, kCtx, false);
    const uint64_t out = output_context(slot);
    for (unsigned dci = 2; dci < 32; ++dci) {
        if (icc[0] & (1u << dci)) s.ep[dci] = Endpoint{};  // drop
        if (!(icc[1] & (1u << dci))) continue;
        uint32_t ep[8] = {};
        dma(input + kCtx * (dci + 1), ep, kCtx, false);
        uint64_t trdp = uint64_t(ep[2]) | uint64_t(ep[3]) << 32;
        uint8_t address = uint8_t(dci / 2) | ((dci & 1) ? 0x80 : 0);
        s.ep[dci] = Endpoint{EP_RUNNING, trdp & ~uint64_t(0xf), bool(trdp & 1), address, false};
        ep[0] = (ep[0] & ~7u) | EP_RUNNING;
        dma(out + kCtx * dci, ep, kCtx, true);
    }
    s.state = SLOT_CONFIGURED;
    // The output slot context: Context Entries, the last valid endpoint
    // context (§4.6.6), and the slot state.
    unsigned last = 1;
    for (unsigned dci = 2; dci < 32; ++dci)
        if (s.ep[dci].state) last = dci;
    write_slot_context(out, last, (SLOT_CONFIGURED << 27) | slot);
    return CC_SUCCESS;
}

// The output slot context's first 16 bytes, read and written back with
// Context Entries (dword 0, bits 31:27) and dword 3 (slot state, address).
void XhciCore::write_slot_context(uint64_t out, unsigned entries, uint32_t dw3) {
    uint32_t sctx[4] = {};
    dma(out, sctx, 16, false);
    sctx[0] = (sctx[0] & ~(0x1fu << 27)) | (entries << 27);
    sctx[3] = dw3;
    dma(out, sctx, 16, true);
}

void XhciCore::transfer_event(uint64_t trb, uint32_t cc, uint32_t residue, unsigned slot, unsigned dci) {
    post_event(trb, (cc << 24) | (residue & 0xffffff), TRB_TRANSFER_EVENT, (uint32_t(slot) << 24) | (dci << 16));
}

namespace {
struct Trb {
    uint64_t param;
    uint32_t status, control;
};
}  // namespace

// A control TD from its Setup TRB: Setup, an optional Data stage, Status.
// False when the TD is not complete in the ring yet.
bool XhciCore::control_td(unsigned slot, unsigned dci, uint64_t setup_at) {
    Endpoint& e = slots_[slot].ep[dci];
    Trb setup{}, trb{};
    dma(setup_at, &setup, kTrb, false);
    uint64_t at = setup_at + kTrb, data_at = 0, status_at = 0;
    bool ccs = e.ccs;
    Trb data{};
    for (unsigned n = 0; n < 4 && !status_at; ++n) {
        if (!dma(at, &trb, kTrb, false) || bool(trb.control & TRB_CYCLE) != ccs) return false;
        uint32_t t = trb_type(trb.control);
        if (t == TRB_LINK) {
            if (trb.control & TRB_TC) ccs = !ccs;
            at = trb.param & ~uint64_t(0xf);
            continue;
        }
        if (t == TRB_DATA) data = trb, data_at = at;
        else if (t == TRB_STATUS) status_at = at;
        else return false;
        at += kTrb;
    }
    if (!status_at) return false;
    UsbDevice* dev = devices_[slots_[slot].port - 1];
    SetupPacket sp = SetupPacket::from(setup.param);
    std::vector<uint8_t> buf;
    const unsigned len = data_at ? (data.status & 0x1ffff) : 0;
    if (data_at && !(sp.request_type & 0x80)) {
        buf.resize(len);
        dma(data.param, buf.data(), len, false);
    }
    // Setup, data and status stages: each a bus transaction, varied within [timing] jitter.
    wait_time(ctx().timing.vary(prop_cycles("transaction_us").n * 1'000'000ULL * (data_at ? 3 : 2)));
    UsbResult r = dev ? dev->control(sp, buf) : UsbResult::Stall;
    hub().instant(path(), "control", "usb",
                  {{"slot", std::to_string(slot)},
                   {"request", fmt::format("{:#04x}/{:#04x}", sp.request_type, sp.request)},
                   {"value", fmt::format("{:#x}", sp.value)},
                   {"result", r == UsbResult::Ack ? "ack" : "stall"}});
    e.deq = at;
    e.ccs = ccs;
    if (r == UsbResult::Stall) {
        e.state = EP_HALTED;
        transfer_event(data_at ? data_at : status_at, CC_STALL, len, slot, dci);
        return true;
    }
    uint32_t residue = 0;
    if (data_at && (sp.request_type & 0x80)) {
        unsigned n = std::min<unsigned>(unsigned(buf.size()), len);
        if (n) dma(data.param, buf.data(), n, true);
        residue = len - n;
        if (residue) transfer_event(data_at, CC_SHORT_PACKET, residue, slot, dci);
    }
    transfer_event(status_at, CC_SUCCESS, 0, slot, dci);
    return true;
}

void XhciCore::run_endpoint(unsigned slot, unsigned dci) {
    if (!slot_enabled(slot) || !slots_[slot].port) return;
    UsbDevice* dev = devices_[slots_[slot].port - 1];
    for (unsigned guard = 0; guard < 256; ++guard) {
        Endpoint& e = slots_[slot].ep[dci];
        if (e.state != EP_RUNNING || e.nak || halted()) return;
        Trb trb{};
        if (!dma(e.deq, &trb, kTrb, false)) {
            set_sts(STS_HCE, true);
            return;
        }
        if (bool(trb.control & TRB_CYCLE) != e.ccs) return;  // the ring is empty
        const uint32_t t = trb_type(trb.control);
        if (t == TRB_LINK) {
            e.deq = trb.param & ~uint64_t(0xf);
            if (trb.control & TRB_TC) e.ccs = !e.ccs;
            continue;
        }
        if (t == TRB_SETUP && dci == 1) {
            if (!control_td(slot, dci, e.deq)) return;
            continue;
        }
        if (t != TRB_NORMAL || dci == 1) {
            transfer_event(e.deq, CC_TRB_ERROR, 0, slot, dci);
            e.state = EP_HALTED;
            return;
        }
        const unsigned len = trb.status & 0x1ffff;
        const bool in = e.address & 0x80;
        std::vector<uint8_t> buf;
        if (!in) {
            buf.resize(len);
            dma(trb.param, buf.data(), len, false);
        }
        wait_time(ctx().timing.vary(prop_cycles("transaction_us").n * 1'000'000ULL));
        Endpoint& now = slots_[slot].ep[dci];  // (a reset may have come while the bus was busy)
        if (now.state != EP_RUNNING || !dev) return;
        UsbResult r = dev->transfer(e.address, buf, len);
        if (r == UsbResult::Nak) {
            e.nak = true;  // retried when the device has data
            return;
        }
        const uint64_t at = e.deq;
        e.deq += kTrb;
        if (r == UsbResult::Stall) {
            e.state = EP_HALTED;
            transfer_event(at, CC_STALL, len, slot, dci);
            return;
        }
        uint32_t residue = 0;
        if (in) {
            unsigned n = std::min<unsigned>(unsigned(buf.size()), len);
            if (n) dma(trb.param, buf.data(), n, true);
            residue = len - n;
        }
        if (residue) transfer_event(at, CC_SHORT_PACKET, residue, slot, dci);
        else if (trb.control & TRB_IOC) transfer_event(at, CC_SUCCESS, 0, slot, dci);
    }
}

}  // namespace quiesce
