// An xHCI host controller core (bus-agnostic; XhciPci is its PCI glue): the
// capability, operational, runtime and doorbell registers, a command ring and
// an event ring in RAM, two root-hub ports, and Save/Restore State.
//
// Register state classes (Linus's example in the seeds: BARs and routing are
// hardware state, the rings in memory and the pointers into them are driver
// state):
//   hardware  capability registers, USBCMD, DNCTRL, CONFIG, IMAN, IMOD
//   driver    CRCR (reads back 0 but for CRR), DCBAAP, ERSTSZ, ERSTBA, ERDP
//   volatile  USBSTS, PORTSC, MFINDEX, the doorbell
//
// Behaviour, in the spec's terms (xHCI 1.2 §4.2, §4.9, §4.23.2, §5.4):
// - R/S 1 starts the controller (HCH clears after `start_us`); R/S 0 halts it
//   once the command in progress is done, `halt_us` later (halting takes time).
// - HCRST resets the registers and internal state; CNR stays set `reset_us`.
// - Ringing doorbell 0 makes the controller fetch command TRBs at its
//   internal dequeue pointer (set by writing CRCR while the ring is stopped)
//   while their cycle bit equals its cycle state; a Link TRB jumps (and with
//   TC toggles the cycle state); No-Op is executed, anything else fails with
//   TRB Error. Each command completes with a Command Completion Event on the
//   event ring (segment from the ERST at ERSTBA), IMAN.IP and USBSTS.EINT
//   set, and the interrupt raised when USBCMD.INTE and IMAN.IE allow.
// - CSS (only while halted) saves the internal state - the event ring's
//   enqueue pointer and cycle state - in `save_us` (SSS set meanwhile); CRS
//   restores it in `restore_us` (RSS set meanwhile), or sets SRE if there is
//   nothing to restore (power was lost). The command ring pointer is not
//   part of it: software writes CRCR before CRS (Linux's xhci_resume).
// - A reset (power-on, D3hot->D0 without No_Soft_Reset) loses everything,
//   the saved state included; a function kept on auxiliary power keeps it.
#pragma once

#include "sim/core/dma_port.h"
#include "sim/core/irq.h"
#include "sim/core/module.h"

#include <functional>

namespace quiesce {

class XhciCore : public MmioDevice {
public:
    SC_HAS_PROCESS(XhciCore);

    // Offsets in BAR0.
    static constexpr uint32_t CAPLENGTH = 0x00, HCSPARAMS1 = 0x04, HCSPARAMS2 = 0x08, HCSPARAMS3 = 0x0c,
                              HCCPARAMS1 = 0x10, DBOFF = 0x14, RTSOFF = 0x18;
    static constexpr uint32_t kOp = 0x20;
    static constexpr uint32_t USBCMD = kOp + 0x00, USBSTS = kOp + 0x04, PAGESIZE = kOp + 0x08, DNCTRL = kOp + 0x14,
                              CRCR = kOp + 0x18, DCBAAP = kOp + 0x30, CONFIG = kOp + 0x38;
    static constexpr uint32_t PORTSC0 = kOp + 0x400;  // + 0x10 per port
    static constexpr uint32_t kRt = 0x1000;
    static constexpr uint32_t MFINDEX = kRt, IMAN = kRt + 0x20, IMOD = kRt + 0x24, ERSTSZ = kRt + 0x28,
                              ERSTBA = kRt + 0x30, ERDP = kRt + 0x38;
    static constexpr uint32_t kDb = 0x2000, DB0 = kDb;
    static constexpr unsigned kPorts = 2;

    static constexpr uint32_t CMD_RS = 1u << 0, CMD_HCRST = 1u << 1, CMD_INTE = 1u << 2, CMD_CSS = 1u << 8,
                              CMD_CRS = 1u << 9;
    static constexpr uint32_t STS_HCH = 1u << 0, STS_EINT = 1u << 3, STS_PCD = 1u << 4, STS_SSS = 1u << 8,
                              STS_RSS = 1u << 9, STS_SRE = 1u << 10, STS_CNR = 1u << 11, STS_HCE = 1u << 12;
    static constexpr uint64_t CRCR_RCS = 1u << 0, CRCR_CS = 1u << 1, CRCR_CA = 1u << 2, CRCR_CRR = 1u << 3;
    static constexpr uint32_t IMAN_IP = 1u << 0, IMAN_IE = 1u << 1;
    static constexpr uint64_t ERDP_EHB = 1u << 3;
    // TRBs: 16 bytes {parameter, status, control}; control: cycle 0, TC 1 (link), type 15:10.
    static constexpr unsigned kTrb = 16;
    static constexpr uint32_t TRB_CYCLE = 1u << 0, TRB_TC = 1u << 1;
    static constexpr uint32_t TRB_LINK = 6, TRB_NOOP_CMD = 23, TRB_CMD_COMPLETION = 33;
    static constexpr uint32_t CC_SUCCESS = 1, CC_TRB_ERROR = 5;
    static uint32_t trb_type(uint32_t control) { return (control >> 10) & 0x3f; }

    using Port = DmaPort;  // how the core reaches memory: provided by the bus glue

    XhciCore(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, Port port);

    IrqLine irq{"irq"};

    // Internal reset: registers and internal state; `keep_saved` keeps the
    // Save State area (auxiliary power).
    void reset(bool keep_saved = false);

    // The controller's own view, for the checker (zero time).
    uint64_t command_dequeue() const { return cmd_deq_; }
    bool command_cycle() const { return ccs_; }
    uint64_t commands_executed() const { return executed_; }
    uint64_t event_enqueue() const { return evt_enq_; }
    bool event_cycle() const { return evt_pcs_; }

private:
    void controller();
    void on_usbcmd(uint64_t old, uint64_t now);
    bool dma(uint64_t addr, void* buf, unsigned len, bool write) { return port_.transfer(addr, buf, len, write); }
    void run_commands();
    void post_event(uint64_t param, uint32_t status, uint32_t type);
    void update_irq();
    void set_sts(uint32_t bits, bool on);

    Port port_;
    sc_core::sc_event kick_;
    bool db_pending_ = false;
    bool halting_ = false, starting_ = false, resetting_ = false, saving_ = false, restoring_ = false;
    // Internal state.
    uint64_t cmd_deq_ = 0;
    bool ccs_ = false;
    uint64_t evt_seg_ = 0, evt_enq_ = 0;
    uint32_t evt_size_ = 0;
    bool evt_pcs_ = true;
    uint64_t executed_ = 0;
    // The Save State area.
    struct Saved {
        bool valid = false;
        uint64_t evt_seg = 0, evt_enq = 0;
        uint32_t evt_size = 0;
        bool evt_pcs = true;
    } saved_;
};

}  // namespace quiesce
