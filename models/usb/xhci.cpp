#include "models/usb/xhci.h"

#include "models/usb/usb_device.h"
#include "sim/core/errors.h"

#include <algorithm>

#include <fmt/format.h>

namespace quiesce {

std::vector<RegSpec> XhciCore::register_specs() {
    using SC = StateClass;
    const uint64_t all = 0xffffffff;
    std::vector<RegSpec> r = {
        {.name = "CAPLENGTH", .offset = CAPLENGTH, .width = 4, .reset = 0x01100020, .ro = all, .cls = SC::Hardware,
         .doc = "CAPLENGTH 7:0 (0x20), HCIVERSION 31:16 (1.1)",
         .fields = {{"CAPLENGTH", 0, 8}, {"HCIVERSION", 16, 16}}},
        {.name = "HCSPARAMS1", .offset = HCSPARAMS1, .width = 4, .reset = (uint64_t(kPorts) << 24) | (1 << 8) | 8,
         .ro = all, .cls = SC::Hardware, .doc = "MaxSlots 7:0 (8), MaxIntrs 18:8 (1), MaxPorts 31:24 (2)",
         .fields = {{"MAXSLOTS", 0, 8}, {"MAXINTRS", 8, 11}, {"MAXPORTS", 24, 8}}},
        {.name = "HCSPARAMS2", .offset = HCSPARAMS2, .width = 4, .ro = all, .cls = SC::Hardware,
         .doc = "No scratchpad buffers, ERST Max 0 (one segment)"},
        {.name = "HCSPARAMS3", .offset = HCSPARAMS3, .width = 4, .ro = all, .cls = SC::Hardware,
         .doc = "Exit latencies (0)"},
        {.name = "HCCPARAMS1", .offset = HCCPARAMS1, .width = 4, .reset = 1, .ro = all, .cls = SC::Hardware,
         .doc = "AC64 0: 64-bit addressing", .fields = {{"AC64", 0}}},
        {.name = "DBOFF", .offset = DBOFF, .width = 4, .reset = kDb, .ro = all, .cls = SC::Hardware,
         .doc = "Doorbell array offset"},
        {.name = "RTSOFF", .offset = RTSOFF, .width = 4, .reset = kRt, .ro = all, .cls = SC::Hardware,
         .doc = "Runtime registers offset"},
        {.name = "USBCMD", .offset = USBCMD, .width = 4,
         .rsvd = ~uint64_t(CMD_RS | CMD_HCRST | CMD_INTE | CMD_CSS | CMD_CRS) & all, .wo = CMD_CSS | CMD_CRS,
         .cls = SC::Hardware, .doc = "R/S 0, HCRST 1, INTE 2, CSS 8 and CRS 9 (write-only: Save/Restore State)",
         .fields = {{"RS", 0}, {"HCRST", 1}, {"INTE", 2}, {"CSS", 8}, {"CRS", 9}}},
        {.name = "USBSTS", .offset = USBSTS, .width = 4, .reset = STS_HCH,
         .ro = STS_HCH | STS_SSS | STS_RSS | STS_CNR | STS_HCE, .w1c = STS_EINT | STS_PCD | STS_SRE,
         .rsvd = ~uint64_t(0x1f19) & all, .cls = SC::Volatile,
         .doc = "HCH 0, EINT 3, PCD 4 (RW1C), SSS 8, RSS 9, SRE 10 (RW1C), CNR 11, HCE 12",
         .fields = {{"HCH", 0}, {"EINT", 3}, {"PCD", 4}, {"SSS", 8}, {"RSS", 9}, {"SRE", 10}, {"CNR", 11},
                    {"HCE", 12}}},
        {.name = "PAGESIZE", .offset = PAGESIZE, .width = 4, .reset = 1, .ro = all, .cls = SC::Hardware,
         .doc = "4 KiB pages"},
        {.name = "DNCTRL", .offset = DNCTRL, .width = 4, .rsvd = ~uint64_t(0xffff) & all, .cls = SC::Hardware,
         .doc = "Device notification enables"},
        {.name = "CRCR", .offset = CRCR, .width = 8, .ro = CRCR_CRR, .rsvd = 0x30, .cls = SC::Driver,
         .doc = "Command ring: RCS 0, CS 1, CA 2, CRR 3 (ro), pointer 63:6; reads back 0 but for CRR",
         .fields = {{"RCS", 0}, {"CS", 1}, {"CA", 2}, {"CRR", 3}}},
        {.name = "DCBAAP", .offset = DCBAAP, .width = 8, .rsvd = 0x3f, .cls = SC::Driver,
         .doc = "Device context base address array pointer"},
        {.name = "CONFIG", .offset = CONFIG, .width = 4, .rsvd = ~uint64_t(0xff) & all, .cls = SC::Hardware,
         .doc = "MaxSlotsEn 7:0", .fields = {{"MAXSLOTSEN", 0, 8}}},
    };
    for (unsigned p = 0; p < kPorts; ++p)
        r.push_back({.name = fmt::format("PORTSC{}", p), .offset = PORTSC0 + 0x10 * p, .width = 4,
                     .reset = PORTSC_PP | (PLS_RXDETECT << PORTSC_PLS_SHIFT),
                     .ro = ~uint64_t(PORTSC_PP | PORTSC_WCE | PORTSC_WDE | PORTSC_WOE | PORTSC_CHANGES) & all,
                     .w1c = PORTSC_CHANGES, .cls = SC::Volatile,
                     .doc = "CCS 0, PED 1 (RW1CS: 1 disables), PR 4, PLS 8:5 (written with LWS 16), PP 9, speed "
                            "13:10, CSC/PEC/WRC/OCC/PRC/PLC/CEC 23:17 (RW1C), WCE/WDE/WOE 27:25",
                     .fields = {{"CCS", 0}, {"PED", 1}, {"PR", 4}, {"PLS", 5, 4}, {"PP", 9}, {"SPEED", 10, 4},
                                {"LWS", 16}, {"CSC", 17}, {"PEC", 18}, {"WRC", 19}, {"OCC", 20}, {"PRC", 21},
                                {"PLC", 22}, {"CEC", 23}, {"WCE", 25}, {"WDE", 26}, {"WOE", 27}}});
    r.push_back({.name = "MFINDEX", .offset = MFINDEX, .width = 4, .ro = all, .cls = SC::Volatile,
                 .doc = "Microframe index"});
    r.push_back({.name = "IMAN", .offset = IMAN, .width = 4, .w1c = IMAN_IP, .rsvd = ~uint64_t(3) & all,
                 .cls = SC::Hardware, .doc = "Interrupter 0: IP 0 (RW1C), IE 1", .fields = {{"IP", 0}, {"IE", 1}}});
    r.push_back({.name = "IMOD", .offset = IMOD, .width = 4, .reset = 4000, .cls = SC::Hardware,
                 .doc = "Interrupt moderation interval (250 ns units)"});
    r.push_back({.name = "ERSTSZ", .offset = ERSTSZ, .width = 4, .rsvd = ~uint64_t(0xffff) & all, .cls = SC::Driver,
                 .doc = "Event ring segment table size"});
    r.push_back({.name = "ERSTBA", .offset = ERSTBA, .width = 8, .rsvd = 0x3f, .cls = SC::Driver,
                 .doc = "Event ring segment table base: writing it (re)starts the event ring"});
    r.push_back({.name = "ERDP", .offset = ERDP, .width = 8, .w1c = ERDP_EHB, .cls = SC::Driver,
                 .doc = "Event ring dequeue pointer (software's), EHB 3 (RW1C)", .fields = {{"EHB", 3}}});
    r.push_back({.name = "DB0", .offset = DB0, .width = 4, .cls = SC::Volatile,
                 .doc = "Doorbell 0: the host controller's command ring"});
    for (unsigned slot = 1; slot <= kSlots; ++slot)
        r.push_back({.name = fmt::format("DB{}", slot), .offset = DB0 + 4 * slot, .width = 4, .cls = SC::Volatile,
                     .doc = fmt::format("Doorbell {}: an endpoint of slot {} (DB target 7:0 = DCI)", slot, slot),
                     .fields = {{"TARGET", 0, 8}}});
    return r;
}

XhciCore::XhciCore(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, Port port)
    : MmioDevice(name, ctx, clock), port_(std::move(port)) {
    RegisterBank& b = regs();
    b.set_strict(true);
    for (RegSpec& spec : register_specs()) b.add(std::move(spec));
    b.reg("USBCMD").on_write([this](Register&, uint64_t old, uint64_t written) { on_usbcmd(old, written); });
    b.reg("USBSTS").on_write([this](Register&, uint64_t, uint64_t) { update_irq(); });
    b.reg("CRCR")
        .on_read([this](const Register&) { return uint64_t(db_pending_ ? CRCR_CRR : 0); })
        .on_write([this](Register& r, uint64_t, uint64_t written) {
            if (!db_pending_) {  // the ring is stopped: the pointer and cycle state take effect
                cmd_deq_ = written & ~uint64_t(0x3f);
                ccs_ = written & CRCR_RCS;
            }
            r.set(0);
        });
    for (unsigned p = 0; p < kPorts; ++p)
        b.reg(fmt::format("PORTSC{}", p)).on_write([this, p](Register&, uint64_t old, uint64_t written) {
            on_portsc(p, old, written);
        });
    b.reg("IMAN").on_write([this](Register&, uint64_t, uint64_t) { update_irq(); });
    b.reg("ERSTBA").on_write([this](Register&, uint64_t, uint64_t written) {
        struct {
            uint64_t base;
            uint32_t size, rsvd;
        } entry{};
        sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
        if (regs().reg("ERSTSZ").value() && port_.dma(written, &entry, sizeof entry, false, delay)) {
            evt_seg_ = entry.base;
            evt_size_ = entry.size;
            evt_enq_ = entry.base;
            evt_pcs_ = true;
        }
    });
    b.reg("DB0").on_write([this](Register& r, uint64_t, uint64_t) {
        r.set(0);
        db_pending_ = true;
        kick_.notify(sc_core::SC_ZERO_TIME);
    });
    for (unsigned slot = 1; slot <= kSlots; ++slot)
        b.reg(fmt::format("DB{}", slot)).on_write([this, slot](Register& r, uint64_t, uint64_t written) {
            r.set(0);
            unsigned dci = unsigned(written & 0xff);
            if (dci >= 1 && dci <= 31) {
                Endpoint& e = slots_[slot].ep[dci];
                if (e.state == EP_STOPPED) e.state = EP_RUNNING;  // ringing restarts a stopped endpoint
                e.nak = false;
                rung_.insert({slot, dci});
                kick_.notify(sc_core::SC_ZERO_TIME);
            }
        });
    hub().declare_track({path(), "", "device", clock.name(), clock.hz()});
    props().declare("start_us", int64_t(10), "R/S 1 until HCH clears, in us");
    props().declare("halt_us", int64_t(2000), "R/S 0 until HCH sets, in us (the spec allows 16 ms)");
    props().declare("reset_us", int64_t(1000), "HCRST: CNR set this long, in us");
    props().declare("save_us", int64_t(500), "Save State (CSS): SSS set this long, in us");
    props().declare("restore_us", int64_t(500), "Restore State (CRS): RSS set this long, in us");
    props().declare("command_cycles", int64_t(200), "Controller cycles to execute one command TRB");
    props().declare("port_reset_us", int64_t(10'000), "PR: the port reset signalling, in us");
    props().declare("transaction_us", int64_t(125), "Bus time of one USB transaction (a microframe), in us");
    SC_THREAD(controller);
}

void XhciCore::clock_stopped(const char* why) {
    if (!in_save_ || save_stopped_) return;
    save_stopped_ = why;
    stop_.notify(sc_core::SC_ZERO_TIME);
    hub().instant(path(), "save-state-stopped", "usb", {{"by", why}});
}

void XhciCore::reset(bool keep_saved) {
    if (!keep_saved) clock_stopped("reset");
    regs().reset();
    cmd_deq_ = 0;
    ccs_ = false;
    evt_seg_ = evt_enq_ = 0;
    evt_size_ = 0;
    evt_pcs_ = true;
    db_pending_ = halting_ = starting_ = resetting_ = saving_ = restoring_ = false;
    if (!keep_saved) saved_ = Saved{};
    for (auto& sl : slots_) sl = Slot{};
    rung_.clear();
    resetting_ports_ = 0;
    reset_ports();
    irq.set(false);
    kick_.notify(sc_core::SC_ZERO_TIME);
}

void XhciCore::set_sts(uint32_t bits, bool on) {
    Register& st = regs().reg("USBSTS");
    st.set(on ? st.value() | bits : st.value() & ~uint64_t(bits));
}

void XhciCore::update_irq() {
    bool level = (regs().reg("USBCMD").value() & CMD_INTE) && (regs().reg("IMAN").value() & IMAN_IE) &&
                 (regs().reg("IMAN").value() & IMAN_IP);
    irq.set(level);
}

void XhciCore::on_usbcmd(uint64_t old, uint64_t now) {
    if (now & CMD_HCRST) resetting_ = true;
    if ((now & CMD_RS) && !(old & CMD_RS)) starting_ = true;
    if (!(now & CMD_RS) && (old & CMD_RS)) halting_ = true;
    const bool halted = regs().reg("USBSTS").value() & STS_HCH;
    if (now & CMD_CSS) {
        if (halted) saving_ = true;
        else set_sts(STS_SRE, true);  // Save State while running: an error (§4.23.2)
    }
    if (now & CMD_CRS) {
        if (halted) restoring_ = true;
        else set_sts(STS_SRE, true);
    }
    update_irq();
    kick_.notify(sc_core::SC_ZERO_TIME);
}

void XhciCore::post_event(uint64_t param, uint32_t status, uint32_t type, uint32_t control) {
    if (!evt_size_) {
        set_sts(STS_HCE, true);  // no event ring: a host controller error
        hub().instant(path(), "host-controller-error", "usb", {{"reason", "no event ring"}});
        return;
    }
    struct {
        uint64_t param;
        uint32_t status, control;
    } trb{param, status, control | (type << 10) | (evt_pcs_ ? TRB_CYCLE : 0)};
    dma(evt_enq_, &trb, kTrb, true);
    evt_enq_ += kTrb;
    if (evt_enq_ >= evt_seg_ + uint64_t(evt_size_) * kTrb) {
        evt_enq_ = evt_seg_;
        evt_pcs_ = !evt_pcs_;
    }
    Register& iman = regs().reg("IMAN");
    iman.set(iman.value() | IMAN_IP);
    set_sts(STS_EINT, true);
    update_irq();
}

// Command TRBs from the internal dequeue pointer while their cycle bit is ours.
void XhciCore::run_commands() {
    db_pending_ = false;
    for (unsigned guard = 0; guard < 4096; ++guard) {
        if (regs().reg("USBSTS").value() & STS_HCH) return;
        struct {
            uint64_t param;
            uint32_t status, control;
        } trb{};
        const uint64_t at = cmd_deq_;
        if (!dma(at, &trb, kTrb, false)) {
            set_sts(STS_HCE, true);
            return;
        }
        if (bool(trb.control & TRB_CYCLE) != ccs_) return;  // the ring is empty
        if (trb_type(trb.control) == TRB_LINK) {
            cmd_deq_ = trb.param & ~uint64_t(0x3f);
            if (trb.control & TRB_TC) ccs_ = !ccs_;
            continue;
        }
        uint64_t id = ctx().ledger.issue(path(), fmt::format("command TRB at {:#x}", at));
        wait_cycles(prop_cycles("command_cycles"));
        unsigned slot = trb.control >> 24;
        uint32_t code = command(trb_type(trb.control), trb.param, trb.control, slot);
        ++executed_;
        hub().instant(path(), "command", "usb",
                      {{"trb", fmt::format("{:#x}", at)}, {"type", std::to_string(trb_type(trb.control))},
                       {"slot", std::to_string(slot)}, {"completion", std::to_string(code)}});
        cmd_deq_ = at + kTrb;
        post_event(at, code << 24, TRB_CMD_COMPLETION, uint32_t(slot) << 24);
        ctx().ledger.retire(id, "done");
    }
}

void XhciCore::controller() {
    auto us = [this](const char* key) { return sc_core::sc_time(double(prop_cycles(key).n), sc_core::SC_US); };
    for (;;) {
        if (resetting_) {
            resetting_ = false;
            set_sts(STS_CNR, true);
            hub().slice_begin(path(), "HCRST", "usb");
            sc_core::wait(us("reset_us"));
            reset(false);
            hub().slice_end(path(), "HCRST", "usb");
            continue;
        }
        if (halting_) {
            halting_ = false;
            hub().slice_begin(path(), "halt", "usb");
            sc_core::wait(us("halt_us"));
            set_sts(STS_HCH, true);
            hub().slice_end(path(), "halt", "usb");
            continue;
        }
        if (starting_) {
            starting_ = false;
            sc_core::wait(us("start_us"));
            if (regs().reg("USBCMD").value() & CMD_RS) set_sts(STS_HCH, false);
            kick_.notify(sc_core::SC_ZERO_TIME);
            continue;
        }
        if (saving_) {
            saving_ = false;
            set_sts(STS_SSS, true);
            hub().slice_begin(path(), "save-state", "usb");
            saved_ = Saved{};  // the area is being rewritten: not valid until the save completes
            in_save_ = true;
            save_stopped_ = nullptr;
            sc_core::wait(us("save_us"), stop_);
            in_save_ = false;
            if (save_stopped_) {
                // Stopped half-way: nothing valid to restore. After D3hot the
                // registers kept their state and SRE reports the error (xHCI
                // 1.2 5.4.2); a power loss has reset them already.
                if (std::string(save_stopped_) == "D3hot") {
                    set_sts(STS_SSS, false);
                    set_sts(STS_SRE, true);
                }
                hub().slice_end(path(), "save-state", "usb", {{"result", "stopped"}, {"by", save_stopped_}});
                continue;
            }
            saved_ = {true, evt_seg_, evt_enq_, evt_size_, evt_pcs_,
                      std::vector<Slot>(std::begin(slots_), std::end(slots_))};
            set_sts(STS_SSS, false);
            hub().slice_end(path(), "save-state", "usb", {{"result", "saved"}});
            continue;
        }
        if (restoring_) {
            restoring_ = false;
            set_sts(STS_RSS, true);
            hub().slice_begin(path(), "restore-state", "usb");
            sc_core::wait(us("restore_us"));
            if (saved_.valid) {
                evt_seg_ = saved_.evt_seg;
                evt_enq_ = saved_.evt_enq;
                evt_size_ = saved_.evt_size;
                evt_pcs_ = saved_.evt_pcs;
                std::copy(saved_.slots.begin(), saved_.slots.end(), slots_);
            } else {
                set_sts(STS_SRE, true);  // nothing saved survived: software must reinitialize
            }
            set_sts(STS_RSS, false);
            hub().slice_end(path(), "restore-state", "usb", {{"result", saved_.valid ? "restored" : "SRE"}});
            continue;
        }
        if (resetting_ports_) {
            sc_core::wait(us("port_reset_us"));
            for (unsigned p = 0; p < kPorts; ++p)
                if (resetting_ports_ & (1u << p)) finish_port_reset(p);
            resetting_ports_ = 0;
            continue;
        }
        if (db_pending_ && !halted()) {
            wait_cycles(Cycles(4));  // doorbell to fetch
            run_commands();
            continue;
        }
        if (!rung_.empty() && !halted()) {
            auto [slot, dci] = *rung_.begin();
            rung_.erase(rung_.begin());
            run_endpoint(slot, dci);
            continue;
        }
        sc_core::wait(kick_);
    }
}

bool XhciCore::halted() const { return regs().reg("USBSTS").value() & STS_HCH; }

// --- root-hub ports ---------------------------------------------------------

void XhciCore::attach(unsigned port, UsbDevice& dev) {
    SIM_ASSERT(port < kPorts && !devices_[port], "xHCI port {} is taken or does not exist", port + 1);
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
        kick_.notify(sc_core::SC_ZERO_TIME);
    };
    reset_ports();
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
        kick_.notify(sc_core::SC_ZERO_TIME);
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

// Address Device: input context = input control context, slot context, EP0
// context (32 bytes each).
uint32_t XhciCore::address_device(unsigned slot, uint64_t input) {
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
    wait_cycles(Cycles(250'000));  // SET_ADDRESS on the bus and the 2 ms recovery interval
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
    uint32_t dw3 = (SLOT_CONFIGURED << 27) | slot;
    dma(out + 12, &dw3, 4, true);
    return CC_SUCCESS;
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
    sc_core::wait(sc_core::sc_time(double(prop_cycles("transaction_us").n) * (data_at ? 3 : 2), sc_core::SC_US));
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
        sc_core::wait(sc_core::sc_time(double(prop_cycles("transaction_us").n), sc_core::SC_US));
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
