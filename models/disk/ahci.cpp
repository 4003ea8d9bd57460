// The AHCI HBA core: its registers, the port, command headers and tables in RAM, FISes, interrupts.
#include "models/disk/ahci.h"
#include "sim/core/sync.h"

#include "sim/core/errors.h"

#include <fmt/format.h>

#include <cstring>
#include <vector>

namespace quiesce {

namespace {
struct CmdHeader {
    uint32_t dw0;   // CFL 4:0, W 6, PRDTL 31:16
    uint32_t prdbc; // bytes transferred (written by the HBA)
    uint64_t ctba;  // command table base
    uint32_t rsvd[4];
};
static_assert(sizeof(CmdHeader) == 32, "command header layout");

struct Prd {
    uint64_t dba;
    uint32_t rsvd;
    uint32_t dbc;   // byte count - 1 in 21:0, I in 31
};
static_assert(sizeof(Prd) == 16, "PRD layout");
}  // namespace

std::vector<RegSpec> Ahci::register_specs() {
    using SC = StateClass;
    return {
        {.name = "CAP", .offset = CAP, .width = 4,
         .reset = (1u << 31) | ((kSlots - 1) << 8) /* S64A, NCS, NP = 0; SSS 0 */, .ro = 0xffffffff,
         .cls = SC::Hardware,
         .doc = "HBA capabilities: 64-bit, 8 slots, 1 port; no staggered spin-up (SSS 0: an HBA reset sends COMRESET)",
         .fields = {{"NP", 0, 5}, {"NCS", 8, 5}, {"SSS", 27}, {"S64A", 31}}},
        {.name = "GHC", .offset = GHC, .width = 4, .rsvd = ~uint64_t(GHC_HR | GHC_IE | GHC_AE) & 0xffffffff,
         .cls = SC::Hardware,
         .doc = "Global control: HR 0 (the HBA resets and clears it hr_cycles later; writing 0 does nothing), IE 1, "
                "AE 31 (HR clears AE and IE)",
         .fields = {{"HR", 0}, {"IE", 1}, {"AE", 31}}},
        {.name = "IS", .offset = IS, .width = 4, .w1c = 0x1, .rsvd = 0xfffffffe, .cls = SC::Volatile,
         .doc = "Interrupt status per port (RW1C)", .fields = {{"IPS0", 0}}},
        {.name = "PI", .offset = PI, .width = 4, .reset = 1, .ro = 0xffffffff, .cls = SC::Hardware,
         .doc = "Ports implemented: port 0"},
        {.name = "VS", .offset = VS, .width = 4, .reset = 0x00010300, .ro = 0xffffffff, .cls = SC::Hardware,
         .doc = "AHCI version 1.3"},
        {.name = "PxCLB", .offset = PxCLB, .width = 4, .rsvd = 0x3ff, .cls = SC::Driver,
         .doc = "Command list base (1 KiB aligned): points into RAM"},
        {.name = "PxCLBU", .offset = PxCLBU, .width = 4, .cls = SC::Driver, .doc = "Command list base, upper"},
        {.name = "PxFB", .offset = PxFB, .width = 4, .rsvd = 0xff, .cls = SC::Driver,
         .doc = "Received-FIS base (256-byte aligned): points into RAM"},
        {.name = "PxFBU", .offset = PxFBU, .width = 4, .cls = SC::Driver, .doc = "Received-FIS base, upper"},
        {.name = "PxIS", .offset = PxIS, .width = 4, .ro = PIS_PCS | PIS_PRCS, .w1c = PIS_DHRS | PIS_TFES,
         .rsvd = ~uint64_t(PIS_DHRS | PIS_PCS | PIS_PRCS | PIS_TFES) & 0xffffffff, .cls = SC::Volatile,
         .doc = "Port interrupt status: DHRS 0, TFES 30 (RW1C); PCS 6 and PRCS 22 (ro) mirror PxSERR.DIAG.X and "
                "DIAG.N and clear with them",
         .fields = {{"DHRS", 0}, {"PCS", 6}, {"PRCS", 22}, {"TFES", 30}}},
        {.name = "PxIE", .offset = PxIE, .width = 4,
         .rsvd = ~uint64_t(PIS_DHRS | PIS_PCS | PIS_PRCS | PIS_TFES) & 0xffffffff, .cls = SC::Hardware,
         .doc = "Port interrupt enable", .fields = {{"DHRE", 0}, {"PCE", 6}, {"PRCE", 22}, {"TFEE", 30}}},
        {.name = "PxCMD", .offset = PxCMD, .width = 4, .reset = CMD_SUD | CMD_POD,
         .ro = CMD_FR | CMD_CR | CMD_SUD | CMD_POD,
         .rsvd = ~uint64_t(CMD_ST | CMD_SUD | CMD_POD | CMD_FRE | CMD_FR | CMD_CR) & 0xffffffff,
         .cls = SC::Hardware,
         .doc = "Port command: ST 0, SUD 1 (ro 1: no staggered spin-up), POD 2 (ro 1), FRE 4, CCS 12:8 (ro: the "
                 "slot the HBA issued last, while ST is set), FR 14 (ro), CR 15 (ro)",
         .fields = {{"ST", 0}, {"SUD", 1}, {"POD", 2}, {"FRE", 4}, {"FR", 14}, {"CR", 15}}},
        {.name = "PxTFD", .offset = PxTFD, .width = 4, .reset = TFD_RESET, .ro = 0xffffffff, .cls = SC::Volatile,
         .doc = "Task file data: status (BSY 7, DRDY 6, ERR 0), error; 7Fh from a reset until the drive's first D2H FIS",
         .fields = {{"ERR", 0}, {"DRDY", 6}, {"BSY", 7}, {"ERROR", 8, 8}}},
        {.name = "PxSIG", .offset = PxSIG, .width = 4, .reset = SIG_RESET, .ro = 0xffffffff, .cls = SC::Volatile,
         .doc = "Device signature: ATA (0x101) from the drive's first D2H FIS after a reset; all ones from a reset or COMRESET until then",
         .fields = {{"SECTOR_COUNT", 0, 8}, {"LBA_LOW", 8, 8}, {"LBA_MID", 16, 8}, {"LBA_HIGH", 24, 8}}},
        {.name = "PxSSTS", .offset = PxSSTS, .width = 4, .ro = 0xffffffff, .cls = SC::Volatile,
         .doc = "SATA status: DET 3 (present, phy up), SPD 1, IPM 1 (active) once the link is up; 0 from a reset or "
                "COMRESET until the device answers",
         .fields = {{"DET", 0, 4}, {"SPD", 4, 4}, {"IPM", 8, 4}}},
        {.name = "PxSCTL", .offset = PxSCTL, .width = 4, .cls = SC::Hardware,
         .doc = "SATA control: DET 1 sends COMRESET (the link goes down, the drive resets), DET 0 brings the link up",
         .fields = {{"DET", 0, 4}, {"SPD", 4, 4}, {"IPM", 8, 4}}},
        {.name = "PxSERR", .offset = PxSERR, .width = 4, .w1c = 0xffffffff, .cls = SC::Volatile,
         .doc = "SATA error (RW1C): DIAG.N PhyRdy change, DIAG.W COMWAKE, DIAG.X exchanged (COMINIT)",
         .fields = {{"ERR", 0, 16}, {"DIAG_N", 16}, {"DIAG_W", 18}, {"DIAG_X", 26}}},
        {.name = "PxSACT", .offset = PxSACT, .width = 4, .cls = SC::Volatile, .doc = "NCQ active (unused)"},
        {.name = "PxCI", .offset = PxCI, .width = 4, .rsvd = ~uint64_t((1u << kSlots) - 1) & 0xffffffff,
         .cls = SC::Volatile, .doc = "Command issue: set by software, cleared by the HBA on completion"},
    };
}

Ahci::Ahci(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, SataDrive& drive,
           Port port)
    : MmioDevice(name, ctx, clock), drive_(drive), port_(std::move(port)), kick_("kick"), stop_kick_("stop_kick"),
      idle_("idle"), hr_kick_("hr_kick") {
    RegisterBank& b = regs();
    b.set_strict(true);
    for (RegSpec& spec : register_specs()) b.add(std::move(spec));
    // The platform starts with the link up, as firmware left it before the
    // OS ran: the drive's signature FIS arrived long ago.
    b.reg("PxSSTS").set(SSTS_UP);
    b.reg("PxTFD").set(0x150);
    b.reg("PxSIG").set(SIG_ATA);
    b.reg("GHC").on_write([this](Register& r, uint64_t old, uint64_t) { on_ghc_write(r, old); });
    b.reg("IS").on_write([this](Register&, uint64_t, uint64_t) { update_irq(); });
    b.reg("PxIS").on_write([this](Register&, uint64_t, uint64_t) { update_irq(); });
    b.reg("PxIE").on_write([this](Register&, uint64_t, uint64_t) { update_irq(); });
    b.reg("PxSERR").on_write([this](Register&, uint64_t, uint64_t) { mirror_serr(); });
    b.reg("PxCMD").on_write([this](Register& r, uint64_t old, uint64_t) { on_cmd_write(r, old); });
    // CCS (bits 12:8, ro) is the engine's, presented on reads while ST is set
    // and reset with ST (AHCI 1.3.1 3.3.7); it is not state software restores.
    b.reg("PxCMD").on_read([this](const Register& r) {
        return (r.value() & CMD_ST) ? r.value() | uint64_t(ccs_) << CMD_CCS_SHIFT : r.value();
    });
    b.reg("PxSCTL").on_write([this](Register& r, uint64_t old, uint64_t) { on_sctl_write(old, r.value()); });
    b.reg("PxCI").on_write([this](Register& r, uint64_t old, uint64_t) {
        r.set(r.value() | old);  // writing 0 does not clear a slot
        quiesce::notify(kick_, sc_core::SC_ZERO_TIME);
    });
    props().declare("fetch_cycles", int64_t(16), "HBA cycles to fetch and decode a command");
    props().declare("burst_bytes", int64_t(512), "Bytes per DMA burst between the PRDs and the drive buffer");
    props().declare("cominit_ui", int64_t(15'000'000),
                    "SATA clock cycles (UI_OOB, 666.67 ps) from COMRESET released to the drive's COMINIT: 10 ms, "
                    "the bound of SATA 2.6 8.3.2");
    props().declare("comwake_ui", int64_t(3840),
                    "COMWAKE from the host and the drive's answer: 2 x 6 bursts of 160 UI and gaps of 160 UI");
    props().declare("align_ui", int64_t(81920),
                    "Speed negotiation: the drive's ALIGN block, 2048 Gen1 dwords (54.6 us)");
    props().declare("hr_cycles", int64_t(250'000),
                    "HBA cycles from GHC.HR set to the reset done and HR clear: 1 ms at 250 MHz (the model's pick; "
                    "AHCI 1.3.1 10.4.3 and Linux give it 1 s)");
    props().declare("stop_cycles", int64_t(1000),
                    "HBA cycles from ST (or FRE) cleared, and the command in flight finished, to CR (or FR) "
                    "clear: 4 us at 250 MHz (AHCI 1.3.1 10.1.2 allows 500 ms)");
    hub().declare_track({path(), "", "device", clock.name(), clock.hz()});
    SC_THREAD(engine);
    SC_THREAD(stopper);
    SC_THREAD(resetter);
}

uint64_t Ahci::clb() const {
    return (regs().reg("PxCLBU").value() << 32) | regs().reg("PxCLB").value();
}

uint64_t Ahci::fb() const { return (regs().reg("PxFBU").value() << 32) | regs().reg("PxFB").value(); }

// Every register to its reset value: the link down (PxSSTS 0, PxTFD 7Fh,
// PxSIG all ones), then, with no staggered spin-up, the HBA's own COMRESET
// (AHCI 1.3.1 10.4.3: "the HBA reset shall cause a COMRESET to be sent on
// the port"), released at once - the link comes back through the
// handshake as after software's. Its six bursts (2.6 us) are not timed.
void Ahci::reset() {
    regs().reset();
    ++generation_;
    ccs_ = 0;
    fatal_ = false;
    irq.set(false);
    hub().instant(path(), "hba-reset", "power", {{"cause", "power-on"}});
    comreset();
    release();
    abandoned_ = 0;
    quiesce::notify(kick_, sc_core::SC_ZERO_TIME);
}

// GHC.HR (AHCI 1.3.1 3.1.2, 10.4.3): the HBA stops its data transfer
// state machines at once and resets `hr_cycles` later; HR reads 1 until
// then, and writing 0 meanwhile does nothing. Software that writes other
// registers before HR clears loses what it wrote.
void Ahci::on_ghc_write(Register& r, uint64_t old) {
    if (old & GHC_HR) {
        r.set(r.value() | GHC_HR);
    } else if (r.value() & GHC_HR) {
        ++generation_;  // the command in flight is aborted
        ++link_gen_;    // a handshake in progress stops
        hub().instant(path(), "hba-reset", "link", {{"cause", "GHC.HR"}});
        quiesce::notify(hr_kick_, sc_core::SC_ZERO_TIME);
    }
    update_irq();
}

// The end of GHC.HR: GHC (AE and IE clear), IS and every port register but
// PxCLB/PxCLBU/PxFB/PxFBU take their reset values (10.4.3: those four "are
// not affected"; CAP, PI and VS are read-only here), HR clears, and the
// port sends COMRESET as after a power-on reset.
void Ahci::resetter() {
    for (;;) {
        quiesce::wait(hr_kick_);
        const Cycles t0 = now_cycles();
        wait_cycles(prop_cycles("hr_cycles"));
        RegisterBank& b = regs();
        if (!(b.reg("GHC").value() & GHC_HR)) continue;  // a power-on reset came first
        const char* kept[] = {"PxCLB", "PxCLBU", "PxFB", "PxFBU"};
        uint64_t values[4];
        for (int i = 0; i < 4; ++i) values[i] = b.reg(kept[i]).value();
        b.reset();
        for (int i = 0; i < 4; ++i) b.reg(kept[i]).set(values[i]);
        ++generation_;
        irq.set(false);
        hub().instant(path(), "hba-reset-done", "link", {{"cycles", std::to_string((now_cycles() - t0).n)}});
        comreset();
        release();
        abandoned_ = 0;
        ccs_ = 0;
        fatal_ = false;
        quiesce::notify(kick_, sc_core::SC_ZERO_TIME);
    }
}

// ST and FRE start and stop the command list and FIS receive engines. CR and
// FR are set at once when software sets ST and FRE, and clear some time after
// it clears them (AHCI 1.3.1 10.1.2: software waits up to 500 ms for each):
// the stopper clears CR once the command in flight, if any, has finished and
// `stop_cycles` more HBA cycles have passed, and FR the same time after that.
// Clearing FRE while CR is set is what software "shall not" do (3.3.7): the
// FIS receive engine the running command list engine needs does not stop -
// the HBA ignores the write, FRE stays set and FR with it.
void Ahci::on_cmd_write(Register& r, uint64_t old) {
    uint64_t v = r.value() & ~uint64_t(CMD_CR | CMD_FR);
    if ((old & CMD_FRE) && !(v & CMD_FRE) && (old & CMD_CR)) {
        v |= CMD_FRE;
        hub().instant(path(), "fre-clear-ignored", "disk", {{"pxcmd", fmt::format("{:#x}", old)}});
    }
    // In ERR:Fatal the engine stays stopped (CR clear) until ST goes 0, then 1.
    if (((v & CMD_ST) && !(fatal_ && (old & CMD_ST))) || (old & CMD_CR)) v |= CMD_CR;
    if ((v & CMD_FRE) || (old & CMD_FR)) v |= CMD_FR;
    if (!(v & CMD_ST)) {
        regs().reg("PxCI").set(0);  // clearing ST clears PxCI
        abandoned_ = 0;
        ccs_ = 0;
        fatal_ = false;
    }
    r.set(v);
    if ((v & CMD_CR && !(v & CMD_ST)) || (v & CMD_FR && !(v & CMD_FRE)))
        quiesce::notify(stop_kick_, sc_core::SC_ZERO_TIME);
    quiesce::notify(kick_, sc_core::SC_ZERO_TIME);
}

void Ahci::stopper() {
    for (;;) {
        quiesce::wait(stop_kick_);
        for (;;) {
            Register& cmd = regs().reg("PxCMD");
            const bool cr = (cmd.value() & CMD_CR) && !(cmd.value() & CMD_ST);
            const bool fr = (cmd.value() & CMD_FR) && !(cmd.value() & CMD_FRE);
            if (!cr && !fr) break;
            if (cr && running_) {  // the command list engine stops after the command it runs
                quiesce::wait(idle_);
                continue;
            }
            const Cycles t0 = now_cycles();
            wait_cycles(prop_cycles("stop_cycles"));
            const uint64_t v = cmd.value();
            if ((v & CMD_CR) && !(v & CMD_ST) && !running_) {
                cmd.set(v & ~uint64_t(CMD_CR));
                hub().instant(path(), "cr-clear", "disk", {{"cycles", std::to_string((now_cycles() - t0).n)}});
            } else if ((v & CMD_FR) && !(v & CMD_FRE) && !(v & CMD_CR)) {
                cmd.set(v & ~uint64_t(CMD_FR));
                hub().instant(path(), "fr-clear", "disk", {{"cycles", std::to_string((now_cycles() - t0).n)}});
            }
        }
    }
}

bool Ahci::link_ready() const {
    const RegisterBank& b = regs();
    return (b.reg("PxSSTS").value() & 0xf) == 3 && !(b.reg("PxTFD").value() & (TFD_BSY | TFD_DRQ));
}

// PxSCTL.DET: 1 asserts COMRESET, anything else releases it (AHCI 1.3
// 3.3.11; 4h, the phy offline, is not modelled). Only a change does anything:
// writing the same DET again (a restore of the register) is no event.
void Ahci::on_sctl_write(uint64_t old, uint64_t now) {
    const bool was = (old & 0xf) == 1, is = (now & 0xf) == 1;
    if (is && !was) comreset();
    if (was && !is) release();
}

void Ahci::release() {
    const uint64_t link = link_gen_;
    hub().instant(path(), "comreset-release", "link");
    quiesce::spawn([this, link] { link_up(link); },
                   sc_core::sc_gen_unique_name((std::string(basename()) + "_link").c_str()));
}

// AHCI 1.3 10.4.2: with DET 1 the HBA sets PxTFD.STS to 7Fh and PxSSTS.DET
// to 0 (the whole of PxSSTS reads its reset value, 0: Intel 6-series
// datasheet 14.4.2.10); PxSIG reads all ones until a signature arrives. The
// drive resets: the command it executes ends without an answer - the HBA
// abandons its slot (no D2H FIS, PxCI stays set, no interrupt) until
// software clears PxCMD.ST, as libata's error handler does. A link that was
// up loses PhyRdy: PxSERR.DIAG.N.
void Ahci::comreset() {
    RegisterBank& b = regs();
    ++link_gen_;
    const bool was_up = (b.reg("PxSSTS").value() & 0xf) == 3;
    std::vector<Arg> args;
    // The command the drive runs ends without an answer. Only one still
    // issued (its PxCI bit set) keeps its slot abandoned: one software took
    // back by clearing ST, and may issue again, does not.
    if (running_) {
        if (b.reg("PxCI").value() & (1u << (running_ - 1))) abandoned_ |= 1u << (running_ - 1);
        ++generation_;
        args.push_back({"abandoned_slot", std::to_string(running_ - 1)});
    }
    b.reg("PxSSTS").set(0);
    b.reg("PxTFD").set(TFD_RESET);
    b.reg("PxSIG").set(SIG_RESET);
    hub().instant(path(), "comreset", "link", args);
    if (was_up) set_serr(SERR_DIAG_N);
    drive_.comreset();
}

// The OOB handshake after DET 0, in the SATA clock domain: the drive answers
// with COMINIT (DET 1, BSY, DIAG.X), COMWAKE both ways and the speed
// negotiation follow (DET 3, SPD 1, IPM 1, DIAG.N and W), then the drive
// finishes its reset and sends its signature D2H register FIS (PxSIG,
// PxTFD ready). A later COMRESET stops it at the next step.
void Ahci::link_up(uint64_t link) {
    RegisterBank& b = regs();
    const Cycles t0 = sata_.now();
    wait_cycles(prop_cycles("cominit_ui"), sata_);
    if (link != link_gen_ || drive_.power() == SataDrive::Power::Off) return;  // no answer: the link stays down
    b.reg("PxSSTS").set(1);
    b.reg("PxTFD").set(TFD_BSY);
    hub().instant(path(), "cominit", "link", {{"det", "1"}, {"sata_cycles", std::to_string((sata_.now() - t0).n)}});
    set_serr(SERR_DIAG_X);
    wait_cycles(prop_cycles("comwake_ui") + prop_cycles("align_ui"), sata_);
    if (link != link_gen_) return;
    b.reg("PxSSTS").set(SSTS_UP);
    hub().instant(path(), "link-up", "link",
                  {{"det", "3"}, {"spd", "1"}, {"ipm", "1"}, {"sata_cycles", std::to_string((sata_.now() - t0).n)}});
    set_serr(SERR_DIAG_N | SERR_DIAG_W);
    if (!drive_.reset_ready() || link != link_gen_) return;
    // The signature: status 50h, error 01h (no error), sector count 1, LBA 1/0/0 (ATA).
    uint8_t d2h[20] = {0x34, 0x00, 0x50, 0x01, 0x01, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0x01};
    if (b.reg("PxCMD").value() & CMD_FRE) dma(fb() + kD2hFisOffset, d2h, sizeof d2h, true);
    b.reg("PxSIG").set(SIG_ATA);
    b.reg("PxTFD").set(0x150);
    hub().instant(path(), "signature", "link",
                  {{"sig", fmt::format("{:#x}", SIG_ATA)}, {"tfd", "0x150"},
                   {"sata_cycles", std::to_string((sata_.now() - t0).n)}});
    quiesce::notify(kick_, sc_core::SC_ZERO_TIME);
}

// The HBA sets PxSERR bits; PxIS.PCS reflects DIAG.X and PxIS.PRCS DIAG.N
// (AHCI 1.3.1 3.3.5: each clears only when software clears the DIAG bit),
// and they interrupt when PxIE enables them (3.3.6). A `port-change`
// instant says which became set and whether the interrupt was raised.
void Ahci::set_serr(uint32_t bits) {
    Register& serr = regs().reg("PxSERR");
    serr.set(serr.value() | bits);
    mirror_serr();
}

void Ahci::mirror_serr() {
    RegisterBank& b = regs();
    const uint64_t serr = b.reg("PxSERR").value();
    Register& pis = b.reg("PxIS");
    const uint64_t before = pis.value();
    uint64_t now = before & ~uint64_t(PIS_PCS | PIS_PRCS);
    if (serr & SERR_DIAG_X) now |= PIS_PCS;
    if (serr & SERR_DIAG_N) now |= PIS_PRCS;
    pis.set(now);
    update_irq();
    if (const uint64_t set = now & ~before & (PIS_PCS | PIS_PRCS))
        hub().instant(path(), "port-change", "link",
                      {{"pcs", (set & PIS_PCS) ? "1" : "0"}, {"prcs", (set & PIS_PRCS) ? "1" : "0"},
                       {"pxie", fmt::format("{:#x}", b.reg("PxIE").value())}, {"irq", irq.level() ? "1" : "0"}});
}

void Ahci::update_irq() {
    RegisterBank& b = regs();
    bool port = (b.reg("PxIS").value() & b.reg("PxIE").value()) != 0;
    Register& is = b.reg("IS");
    if (port) is.set(is.value() | 1);
    irq.set((b.reg("GHC").value() & GHC_IE) && (is.value() & 1));
}

// A D2H register FIS with ERR set (RegFIS:Entry, AHCI 1.3.1 5.3.x) is a
// task-file error: TFES without DHRS, the slot's PxCI bit left set, and the
// port in ERR:Fatal (6.2.2) - CR clears and no new command is issued until
// software clears ST (which clears PxCI) and sets it again.
void Ahci::complete(unsigned slot, bool ok, uint8_t status) {
    RegisterBank& b = regs();
    // Device-to-host register FIS into the received-FIS area.
    uint8_t d2h[20] = {0x34, 0x40, status, uint8_t(ok ? 0 : 0x04)};
    if (b.reg("PxCMD").value() & CMD_FRE) dma(fb() + kD2hFisOffset, d2h, sizeof d2h, true);
    b.reg("PxTFD").set(uint64_t(status) | (uint64_t(ok ? 0 : 0x04) << 8));
    if (ok) {
        b.reg("PxCI").set(b.reg("PxCI").value() & ~(1ULL << slot));
    } else {
        fatal_ = true;
        Register& cmd = b.reg("PxCMD");
        cmd.set(cmd.value() & ~uint64_t(CMD_CR));
        hub().instant(path(), "task-file-error", "disk",
                      {{"slot", std::to_string(slot)}, {"status", fmt::format("{:#04x}", status)}});
    }
    Register& pis = b.reg("PxIS");
    pis.set(pis.value() | (ok ? PIS_DHRS : PIS_TFES));
    update_irq();
}

void Ahci::run_slot(unsigned slot, uint64_t generation) {
    uint64_t id = ctx().ledger.issue(path(), fmt::format("slot {}", slot));
    hub().slice_begin(path(), "command", "disk", {{"slot", std::to_string(slot)}});
    auto done = [&](const char* outcome) {
        hub().slice_end(path(), "command", "disk", {{"outcome", outcome}});
        ctx().ledger.retire(id, outcome);
    };
    wait_cycles(prop_cycles("fetch_cycles"));
    CmdHeader h{};
    uint64_t hdr_addr = clb() + uint64_t(slot) * sizeof(CmdHeader);
    uint8_t cfis[64];
    bool ok = dma(hdr_addr, &h, sizeof h, false) && dma(h.ctba, cfis, sizeof cfis, false);
    if (generation != generation_) return done("aborted");
    unsigned prdtl = h.dw0 >> 16;
    std::vector<Prd> prds(prdtl);
    if (ok && prdtl) ok = dma(h.ctba + 0x80, prds.data(), unsigned(prdtl * sizeof(Prd)), false);
    if (!ok || cfis[0] != 0x27 || !(cfis[1] & 0x80)) {
        if (generation != generation_) return done("aborted");
        done("error");
        complete(slot, false, 0x51);
        return;
    }
    uint8_t command = cfis[2];
    uint64_t lba = uint64_t(cfis[4]) | uint64_t(cfis[5]) << 8 | uint64_t(cfis[6]) << 16 | uint64_t(cfis[8]) << 24 |
                   uint64_t(cfis[9]) << 32 | uint64_t(cfis[10]) << 40;
    uint32_t count = uint32_t(cfis[12]) | uint32_t(cfis[13]) << 8;
    bool is_write = h.dw0 & (1u << 6);
    uint64_t total = 0;
    for (const Prd& p : prds) total += (p.dbc & 0x3fffff) + 1;
    std::vector<uint8_t> data;
    const unsigned burst = unsigned(props().get<int64_t>("burst_bytes"));
    // Moves data between the PRD buffers and `data`, in bursts.
    auto move = [&](bool to_memory) {
        uint64_t off = 0;
        for (const Prd& p : prds) {
            uint64_t n = (p.dbc & 0x3fffff) + 1;
            for (uint64_t done_bytes = 0; done_bytes < n && off < data.size(); done_bytes += burst) {
                unsigned len = unsigned(std::min<uint64_t>({burst, n - done_bytes, data.size() - off}));
                if (!dma(p.dba + done_bytes, &data[off], len, to_memory)) return false;
                if (generation != generation_) return false;
                off += len;
            }
        }
        return true;
    };
    if (is_write) {
        data.assign(total, 0);
        ok = move(false);
    }
    // The link drops under the command (a cable or PHY glitch, a drive
    // that resets itself): the drive resets and answers with COMINIT again
    // - the link comes back as after a COMRESET - and the HBA abandons the
    // slot (no FIS, no interrupt, PxCI kept). PxSERR.DIAG.N (PhyRdy
    // change) and then DIAG.X (COMINIT) tell the driver.
    if (ok && generation == generation_)
        if (fault("sata-link-drop", {{"slot", std::to_string(slot)}, {"command", fmt::format("{:#04x}", cfis[2])}})) {
            hub().instant(path(), "link-drop", "link", {{"slot", std::to_string(slot)}});
            comreset();
            release();
            return done("aborted");
        }
    if (ok && generation == generation_) {
        hub().instant(path(), "ata", "disk",
                      {{"command", fmt::format("{:#04x}", command)}, {"lba", std::to_string(lba)},
                       {"count", std::to_string(count)}});
        ok = drive_.execute(command, lba, count, data);
    }
    if (ok && !is_write && !data.empty() && generation == generation_) ok = move(true);
    if (generation != generation_) return done("aborted");
    h.prdbc = uint32_t(ok ? std::min<uint64_t>(total, data.size()) : 0);
    dma(hdr_addr + 4, &h.prdbc, 4, true);
    done(ok ? "done" : "error");
    complete(slot, ok, ok ? 0x50 : 0x51);
}

void Ahci::engine() {
    for (;;) {
        RegisterBank& b = regs();
        uint32_t ci = uint32_t(b.reg("PxCI").value()) & ~abandoned_;
        bool running = (b.reg("PxCMD").value() & CMD_ST) && (b.reg("GHC").value() & GHC_AE) && !fatal_;
        // AHCI 5.3.2 P:Idle: no command FIS while the link is down or BSY/DRQ are set.
        if (!running || ci == 0 || !link_ready() || (b.reg("GHC").value() & GHC_HR)) {
            quiesce::wait(kick_);
            continue;
        }
        unsigned slot = 0;
        while (!(ci & (1u << slot))) ++slot;
        running_ = slot + 1;
        ccs_ = slot;
        run_slot(slot, generation_);
        running_ = 0;
        quiesce::notify(idle_, sc_core::SC_ZERO_TIME);
    }
}

}  // namespace quiesce
