#include "models/usb/xhci.h"

#include "sim/core/errors.h"

#include <fmt/format.h>

namespace quiesce {

XhciCore::XhciCore(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, Port port)
    : MmioDevice(name, ctx, clock), port_(std::move(port)) {
    using SC = StateClass;
    RegisterBank& b = regs();
    b.set_strict(true);
    const uint64_t all = 0xffffffff;
    b.add({.name = "CAPLENGTH", .offset = CAPLENGTH, .width = 4, .reset = 0x01100020, .ro = all, .cls = SC::Hardware,
           .doc = "CAPLENGTH 7:0 (0x20), HCIVERSION 31:16 (1.1)"});
    b.add({.name = "HCSPARAMS1", .offset = HCSPARAMS1, .width = 4, .reset = (uint64_t(kPorts) << 24) | (1 << 8) | 8,
           .ro = all, .cls = SC::Hardware, .doc = "MaxSlots 7:0 (8), MaxIntrs 18:8 (1), MaxPorts 31:24 (2)"});
    b.add({.name = "HCSPARAMS2", .offset = HCSPARAMS2, .width = 4, .ro = all, .cls = SC::Hardware,
           .doc = "No scratchpad buffers, ERST Max 0 (one segment)"});
    b.add({.name = "HCSPARAMS3", .offset = HCSPARAMS3, .width = 4, .ro = all, .cls = SC::Hardware,
           .doc = "Exit latencies (0)"});
    b.add({.name = "HCCPARAMS1", .offset = HCCPARAMS1, .width = 4, .reset = 1, .ro = all, .cls = SC::Hardware,
           .doc = "AC64 0: 64-bit addressing"});
    b.add({.name = "DBOFF", .offset = DBOFF, .width = 4, .reset = kDb, .ro = all, .cls = SC::Hardware,
           .doc = "Doorbell array offset"});
    b.add({.name = "RTSOFF", .offset = RTSOFF, .width = 4, .reset = kRt, .ro = all, .cls = SC::Hardware,
           .doc = "Runtime registers offset"});
    b.add({.name = "USBCMD", .offset = USBCMD, .width = 4, .rsvd = ~uint64_t(CMD_RS | CMD_HCRST | CMD_INTE | CMD_CSS |
                                                                               CMD_CRS) & all,
           .wo = CMD_CSS | CMD_CRS, .cls = SC::Hardware,
           .doc = "R/S 0, HCRST 1, INTE 2, CSS 8 and CRS 9 (write-only: Save/Restore State)"})
        .on_write([this](Register&, uint64_t old, uint64_t written) { on_usbcmd(old, written); });
    b.add({.name = "USBSTS", .offset = USBSTS, .width = 4, .reset = STS_HCH,
           .ro = STS_HCH | STS_SSS | STS_RSS | STS_CNR | STS_HCE, .w1c = STS_EINT | STS_PCD | STS_SRE,
           .rsvd = ~uint64_t(0x1f19) & all, .cls = SC::Volatile,
           .doc = "HCH 0, EINT 3, PCD 4 (RW1C), SSS 8, RSS 9, SRE 10 (RW1C), CNR 11, HCE 12"})
        .on_write([this](Register&, uint64_t, uint64_t) { update_irq(); });
    b.add({.name = "PAGESIZE", .offset = PAGESIZE, .width = 4, .reset = 1, .ro = all, .cls = SC::Hardware,
           .doc = "4 KiB pages"});
    b.add({.name = "DNCTRL", .offset = DNCTRL, .width = 4, .rsvd = ~uint64_t(0xffff) & all, .cls = SC::Hardware,
           .doc = "Device notification enables"});
    b.add({.name = "CRCR", .offset = CRCR, .width = 8, .ro = CRCR_CRR, .rsvd = 0x30, .cls = SC::Driver,
           .doc = "Command ring: RCS 0, CS 1, CA 2, CRR 3 (ro), pointer 63:6; reads back 0 but for CRR"})
        .on_read([this](const Register&) { return uint64_t(db_pending_ ? CRCR_CRR : 0); })
        .on_write([this](Register& r, uint64_t, uint64_t written) {
            if (!db_pending_) {  // the ring is stopped: the pointer and cycle state take effect
                cmd_deq_ = written & ~uint64_t(0x3f);
                ccs_ = written & CRCR_RCS;
            }
            r.set(0);
        });
    b.add({.name = "DCBAAP", .offset = DCBAAP, .width = 8, .rsvd = 0x3f, .cls = SC::Driver,
           .doc = "Device context base address array pointer"});
    b.add({.name = "CONFIG", .offset = CONFIG, .width = 4, .rsvd = ~uint64_t(0xff) & all, .cls = SC::Hardware,
           .doc = "MaxSlotsEn 7:0"});
    for (unsigned p = 0; p < kPorts; ++p)
        b.add({.name = fmt::format("PORTSC{}", p), .offset = PORTSC0 + 0x10 * p, .width = 4, .reset = 1u << 9,
               .ro = 1u << 0, .w1c = 1u << 17, .cls = SC::Volatile,
               .doc = "CCS 0 (nothing attached), PED 1, PP 9, CSC 17 (RW1C)"});
    b.add({.name = "MFINDEX", .offset = MFINDEX, .width = 4, .ro = all, .cls = SC::Volatile,
           .doc = "Microframe index"});
    b.add({.name = "IMAN", .offset = IMAN, .width = 4, .w1c = IMAN_IP, .rsvd = ~uint64_t(3) & all,
           .cls = SC::Hardware, .doc = "Interrupter 0: IP 0 (RW1C), IE 1"})
        .on_write([this](Register&, uint64_t, uint64_t) { update_irq(); });
    b.add({.name = "IMOD", .offset = IMOD, .width = 4, .reset = 4000, .cls = SC::Hardware,
           .doc = "Interrupt moderation interval (250 ns units)"});
    b.add({.name = "ERSTSZ", .offset = ERSTSZ, .width = 4, .rsvd = ~uint64_t(0xffff) & all, .cls = SC::Driver,
           .doc = "Event ring segment table size"});
    b.add({.name = "ERSTBA", .offset = ERSTBA, .width = 8, .rsvd = 0x3f, .cls = SC::Driver,
           .doc = "Event ring segment table base: writing it (re)starts the event ring"})
        .on_write([this](Register&, uint64_t, uint64_t written) {
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
    b.add({.name = "ERDP", .offset = ERDP, .width = 8, .w1c = ERDP_EHB, .cls = SC::Driver,
           .doc = "Event ring dequeue pointer (software's), EHB 3 (RW1C)"});
    b.add({.name = "DB0", .offset = DB0, .width = 4, .cls = SC::Volatile,
           .doc = "Doorbell 0: the host controller's command ring"})
        .on_write([this](Register& r, uint64_t, uint64_t) {
            r.set(0);
            db_pending_ = true;
            kick_.notify(sc_core::SC_ZERO_TIME);
        });
    hub().declare_track({path(), "", "device", clock.name(), clock.hz()});
    props().declare("start_us", int64_t(10), "R/S 1 until HCH clears, in us");
    props().declare("halt_us", int64_t(2000), "R/S 0 until HCH sets, in us (the spec allows 16 ms)");
    props().declare("reset_us", int64_t(1000), "HCRST: CNR set this long, in us");
    props().declare("save_us", int64_t(500), "Save State (CSS): SSS set this long, in us");
    props().declare("restore_us", int64_t(500), "Restore State (CRS): RSS set this long, in us");
    props().declare("command_cycles", int64_t(200), "Controller cycles to execute one command TRB");
    SC_THREAD(controller);
}

void XhciCore::reset(bool keep_saved) {
    regs().reset();
    cmd_deq_ = 0;
    ccs_ = false;
    evt_seg_ = evt_enq_ = 0;
    evt_size_ = 0;
    evt_pcs_ = true;
    db_pending_ = halting_ = starting_ = resetting_ = saving_ = restoring_ = false;
    if (!keep_saved) saved_ = Saved{};
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

void XhciCore::post_event(uint64_t param, uint32_t status, uint32_t type) {
    if (!evt_size_) {
        set_sts(STS_HCE, true);  // no event ring: a host controller error
        hub().instant(path(), "host-controller-error", "usb", {{"reason", "no event ring"}});
        return;
    }
    struct {
        uint64_t param;
        uint32_t status, control;
    } trb{param, status, (type << 10) | (evt_pcs_ ? TRB_CYCLE : 0)};
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
        uint32_t code = trb_type(trb.control) == TRB_NOOP_CMD ? CC_SUCCESS : CC_TRB_ERROR;
        ++executed_;
        hub().instant(path(), "command", "usb",
                      {{"trb", fmt::format("{:#x}", at)}, {"type", std::to_string(trb_type(trb.control))},
                       {"completion", std::to_string(code)}});
        cmd_deq_ = at + kTrb;
        post_event(at, code << 24, TRB_CMD_COMPLETION);
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
            sc_core::wait(us("save_us"));
            saved_ = {true, evt_seg_, evt_enq_, evt_size_, evt_pcs_};
            set_sts(STS_SSS, false);
            hub().slice_end(path(), "save-state", "usb");
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
            } else {
                set_sts(STS_SRE, true);  // nothing saved survived: software must reinitialize
            }
            set_sts(STS_RSS, false);
            hub().slice_end(path(), "restore-state", "usb", {{"result", saved_.valid ? "restored" : "SRE"}});
            continue;
        }
        if (db_pending_ && !(regs().reg("USBSTS").value() & STS_HCH)) {
            wait_cycles(Cycles(4));  // doorbell to fetch
            run_commands();
            continue;
        }
        sc_core::wait(kick_);
    }
}

}  // namespace quiesce
