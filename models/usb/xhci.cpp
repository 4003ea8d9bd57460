// The xHCI controller core: its registers, reset and run/stop, the
// interrupter and event ring, and the command ring the controller runs.
// Root-hub ports, device slots and endpoints are in xhci_devices.cpp.
#include "models/usb/xhci.h"
#include "sim/core/sync.h"

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
         .cls = SC::Hardware,
         .doc = "R/S 0, HCRST 1 (reads 1 until the reset is done), INTE 2, CSS 8 and CRS 9 (write-only: "
                "Save/Restore State)",
         .fields = {{"RS", 0}, {"HCRST", 1}, {"INTE", 2}, {"CSS", 8}, {"CRS", 9}}},
        {.name = "USBSTS", .offset = USBSTS, .width = 4, .reset = STS_HCH | STS_CNR,
         .ro = STS_HCH | STS_SSS | STS_RSS | STS_CNR | STS_HCE, .w1c = STS_EINT | STS_PCD | STS_SRE,
         .rsvd = ~uint64_t(0x1f19) & all, .cls = SC::Volatile,
         .doc = "HCH 0, EINT 3, PCD 4 (RW1C), SSS 8, RSS 9, SRE 10 (RW1C), CNR 11 (1 from reset until the "
                "controller is ready: operational, runtime and doorbell writes ignored), HCE 12",
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
    : MmioDevice(name, ctx, clock), port_(std::move(port)), kick_("kick"), reset_ev_("reset_ev"), stop_("stop") {
    RegisterBank& b = regs();
    b.set_strict(true);
    for (RegSpec& spec : register_specs()) b.add(std::move(spec));
    // The first power-on was long before the simulated time begins (the
    // firmware's POST, the boot loader): the controller is ready. Every
    // later reset sets CNR again.
    b.reg("USBSTS").set(STS_HCH);
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
        quiesce::notify(kick_, sc_core::SC_ZERO_TIME);
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
                quiesce::notify(kick_, sc_core::SC_ZERO_TIME);
            }
        });
    hub().declare_track({path(), "", "device", clock.name(), clock.hz()});
    props().declare("start_us", int64_t(10), "R/S 1 until HCH clears, in us");
    props().declare("halt_us", int64_t(2000), "R/S 0 until HCH sets, in us (the spec allows 16 ms)");
    props().declare("reset_us", int64_t(500), "HCRST: USBCMD.HCRST reads 1 this long, in us");
    props().declare("ready_us", int64_t(500),
                    "CNR after power-on, a function reset or HCRST: the controller's own initialization before it "
                    "accepts register writes, in us");
    props().declare("save_us", int64_t(500), "Save State (CSS): SSS set this long, in us");
    props().declare("restore_us", int64_t(500), "Restore State (CRS): RSS set this long, in us");
    props().declare("suspend_well", int64_t(0),
                    "1: the Save State area and the root-hub ports are in the suspend well - the internal reset at "
                    "D3hot->D0 without No_Soft_Reset keeps them, losing the registers and the slots (0: loses all)");
    props().declare("command_cycles", int64_t(200), "Controller cycles to execute one command TRB");
    props().declare("port_reset_us", int64_t(10'000), "PR: the port reset signalling, in us");
    props().declare("transaction_us", int64_t(125), "Bus time of one USB transaction (a microframe), in us");
    SC_THREAD(controller);
}

// Writes the controller drops while it is not ready: every operational
// register but USBSTS, the runtime registers, the doorbells (xHCI 1.2
// §5.4.2). The capability registers are read-only anyway.
void XhciCore::mmio_access(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay, uint64_t offset) {
    if (tx.is_write() && not_ready() && offset >= kOp && !(offset >= USBSTS && offset < USBSTS + 4)) {
        const Register* r = regs().at(uint32_t(offset));
        guest_error("xhci.write-while-not-ready",
                    fmt::format("{} written while USBSTS.CNR is set: the controller ignores it",
                                r ? r->name() : fmt::format("{:#x}", offset)),
                    {{"reg", r ? r->name() : fmt::format("{:#x}", offset)}, {"initiator", initiator_of(tx)}});
        delay += cycles_delay(Cycles(1));
        tx.set_response_status(tlm::TLM_OK_RESPONSE);
        return;
    }
    MmioDevice::mmio_access(tx, delay, offset);
}

bool XhciCore::not_ready() const { return regs().reg("USBSTS").value() & STS_CNR; }

Cycles XhciCore::cycles_for_us(const char* key) {
    return clock().cycles_in(ctx().timing.vary(Picos(props().get<int64_t>(key)) * 1'000'000ULL));
}

void XhciCore::clock_stopped(const char* why) {
    if (!in_save_ || save_stopped_) return;
    save_stopped_ = why;
    quiesce::notify(stop_, sc_core::SC_ZERO_TIME);
    hub().instant(path(), "save-state-stopped", "usb", {{"by", why}});
}

void XhciCore::reset(bool keep_saved) {
    if (!keep_saved) clock_stopped("reset");
    // The suspend well's ports keep their state through a core-well reset.
    std::vector<uint64_t> portsc;
    if (keep_saved)
        for (unsigned p = 0; p < kPorts; ++p) portsc.push_back(regs().reg(fmt::format("PORTSC{}", p)).value());
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
    if (keep_saved)
        for (unsigned p = 0; p < kPorts; ++p) regs().reg(fmt::format("PORTSC{}", p)).set(portsc[p]);
    else
        reset_ports();
    irq.set(false);
    // CNR came back with the registers: the controller initializes anew.
    initializing_ = true;
    quiesce::notify(reset_ev_, sc_core::SC_ZERO_TIME);
    quiesce::notify(kick_, sc_core::SC_ZERO_TIME);
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
    quiesce::notify(kick_, sc_core::SC_ZERO_TIME);
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
        wait_cycles(Cycles(ctx().timing.vary(prop_cycles("command_cycles").n)));
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
    // Initialization, reset, halt, start, Save/Restore State and port reset
    // take their property's time, varied within [timing] jitter, in cycles
    // of the controller's clock.
    auto wait_us = [this](const char* key) { wait_cycles(cycles_for_us(key)); };
    for (;;) {
        if (initializing_) {
            // Until ready: CNR set, register writes dropped. A reset meanwhile
            // starts the count again.
            initializing_ = false;
            quiesce::cancel(reset_ev_);  // this thread's own reset (HCRST) is not a new one
            hub().slice_begin(path(), "not-ready", "usb");
            quiesce::wait(cycles_delay(cycles_for_us("ready_us")), reset_ev_);
            const bool restarted = initializing_;
            if (!restarted) set_sts(STS_CNR, false);
            hub().slice_end(path(), "not-ready", "usb", {{"result", restarted ? "reset" : "ready"}});
            continue;
        }
        if (resetting_) {
            resetting_ = false;
            set_sts(STS_CNR, true);
            hub().slice_begin(path(), "HCRST", "usb");
            wait_us("reset_us");
            reset(false);
            hub().slice_end(path(), "HCRST", "usb");
            continue;
        }
        if (halting_) {
            halting_ = false;
            hub().slice_begin(path(), "halt", "usb");
            wait_us("halt_us");
            set_sts(STS_HCH, true);
            hub().slice_end(path(), "halt", "usb");
            continue;
        }
        if (starting_) {
            starting_ = false;
            wait_us("start_us");
            if (regs().reg("USBCMD").value() & CMD_RS) set_sts(STS_HCH, false);
            quiesce::notify(kick_, sc_core::SC_ZERO_TIME);
            continue;
        }
        if (saving_) {
            saving_ = false;
            set_sts(STS_SSS, true);
            hub().slice_begin(path(), "save-state", "usb");
            saved_ = Saved{};  // the area is being rewritten: not valid until the save completes
            in_save_ = true;
            save_stopped_ = nullptr;
            quiesce::wait(cycles_delay(cycles_for_us("save_us")), stop_);
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
            wait_us("restore_us");
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
            wait_us("port_reset_us");
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
        quiesce::wait(kick_);
    }
}

bool XhciCore::halted() const { return regs().reg("USBSTS").value() & STS_HCH; }

}  // namespace quiesce
