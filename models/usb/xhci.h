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
// - Controller Not Ready (§5.4.2): USBSTS.CNR resets to 1 - at power-on, at a
//   function reset (D3hot->D0 without No_Soft_Reset) and at HCRST - and the
//   controller clears it `ready_us` later, once its own initialization is
//   done. Until then it ignores writes to every operational register but
//   USBSTS, to the runtime registers and to the doorbells (software "shall
//   not write" them: an `xhci.write-while-not-ready` guest error says one
//   was dropped). Reads answer.
// - R/S 1 starts the controller (HCH clears after `start_us`); R/S 0 halts it
//   once the command in progress is done, `halt_us` later (halting takes time).
// - HCRST resets the registers and internal state: USBCMD.HCRST reads 1 for
//   `reset_us`, then the registers are at their reset values with CNR set
//   until `ready_us` later.
// - Every such wait is a number of the controller's clock cycles: it ends
//   on an edge of its clock domain.
// - Ringing doorbell 0 makes the controller fetch command TRBs at its
//   internal dequeue pointer (set by writing CRCR while the ring is stopped)
//   while their cycle bit equals its cycle state; a Link TRB jumps (and with
//   TC toggles the cycle state); No-Op is executed, anything else fails with
//   TRB Error. Each command completes with a Command Completion Event on the
//   event ring (segment from the ERST at ERSTBA), IMAN.IP and USBSTS.EINT
//   set, and the interrupt raised when USBCMD.INTE and IMAN.IE allow.
// - Root-hub ports (§4.19, §5.4.8): a device attached to a port shows CCS
//   and CSC; PR resets the port (`port_reset_us`, the device returns to its
//   Default state) and enables it (PED, PRC, PLS U0, the device's speed);
//   PLS written with LWS moves the link: U3 suspends the device, Resume then
//   U0 (or U0 directly) resumes it and sets PLC. A suspended device's remote
//   wakeup puts the port in Resume with PLC; every change bit that turns on
//   posts a Port Status Change Event while the controller runs, and while it
//   is halted the wake is signalled as PME (the PCI glue sets PME_Status).
// - Device slots (§4.5, §4.6): Enable Slot, Address Device (input context ->
//   output device context at DCBAA[slot], SET_ADDRESS to the device, EP0
//   running), Configure Endpoint (the data endpoints), Stop Endpoint (the
//   dequeue pointer written back into the output endpoint context), Reset
//   Device (the slot back to Default, EP0 only), Disable Slot. Doorbell n (n > 0) rings slot n's endpoint (DCI in bits 7:0).
// - Transfer rings (§4.11): Setup/Data/Status TDs on EP0 run a control
//   transfer on the device, Normal TRBs a transaction on a data endpoint;
//   each takes `transaction_us` of bus time. A NAK leaves the TD in place
//   until the device has data; a STALL halts the endpoint. IOC (and a short
//   packet) posts a Transfer Event with the completion code and residue.
// - CSS (only while halted) saves the internal state - the event ring's
//   enqueue pointer and cycle state, the slots and their endpoints' dequeue
//   pointers - in `save_us` (SSS set meanwhile) into the Save State area,
//   which is on the controller's auxiliary (suspend-well) power; CRS
//   restores it in `restore_us` (RSS set meanwhile), or sets SRE if there is
//   nothing to restore (power was lost). The command ring pointer is not
//   part of it: software writes CRCR before CRS (Linux's xhci_resume).
// - The save runs on the controller's core power and clocks: the function
//   leaving D0 (D3hot gates them) or losing power (D3cold, an S3 power-off
//   without auxiliary power) while SSS is set stops it half-way and leaves
//   the area invalid - after D3hot SRE says so at once, and a later Restore
//   State reports SRE either way.
// - A reset (power-on, D3hot->D0 without No_Soft_Reset, HCRST) loses
//   everything, the saved state included, and resets the ports: attached
//   devices return to their Default state and show as new connections. A
//   function kept on auxiliary power keeps it all.
// - `suspend_well` 1: a controller whose Save State area and root-hub ports
//   sit in its suspend (auxiliary) well, as the spec's suspend flow assumes
//   (xHCI 1.2 §4.23.2: Save State, power removed, CNR after power returns,
//   registers written back, Restore State). Its internal reset at D3hot->D0
//   without No_Soft_Reset loses the registers and the internal state - the
//   slots, the rings' pointers - and keeps the saved area and the ports:
//   software must write the registers back, and Restore State brings back
//   the slots and the event ring. (Default 0: that reset loses it all.)
#pragma once

#include "sim/core/dma_port.h"
#include "sim/core/irq.h"
#include "sim/core/module.h"

#include <functional>
#include <set>
#include <utility>
#include <vector>

namespace quiesce {

class UsbDevice;

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
    static constexpr unsigned kPorts = 2, kSlots = 8, kCtx = 32;
    static constexpr uint32_t PORTSC_CCS = 1u << 0, PORTSC_PED = 1u << 1, PORTSC_PR = 1u << 4, PORTSC_PLS_SHIFT = 5,
                              PORTSC_PLS = 0xfu << 5, PORTSC_PP = 1u << 9, PORTSC_SPEED_SHIFT = 10,
                              PORTSC_SPEED = 0xfu << 10, PORTSC_LWS = 1u << 16, PORTSC_CSC = 1u << 17,
                              PORTSC_PEC = 1u << 18, PORTSC_WRC = 1u << 19, PORTSC_OCC = 1u << 20,
                              PORTSC_PRC = 1u << 21, PORTSC_PLC = 1u << 22, PORTSC_CEC = 1u << 23,
                              PORTSC_WCE = 1u << 25, PORTSC_WDE = 1u << 26, PORTSC_WOE = 1u << 27;
    static constexpr uint32_t PORTSC_CHANGES = 0x7fu << 17;
    static constexpr unsigned PLS_U0 = 0, PLS_U3 = 3, PLS_RXDETECT = 5, PLS_POLLING = 7, PLS_RESUME = 15;

    static constexpr uint32_t CMD_RS = 1u << 0, CMD_HCRST = 1u << 1, CMD_INTE = 1u << 2, CMD_CSS = 1u << 8,
                              CMD_CRS = 1u << 9;
    static constexpr uint32_t STS_HCH = 1u << 0, STS_EINT = 1u << 3, STS_PCD = 1u << 4, STS_SSS = 1u << 8,
                              STS_RSS = 1u << 9, STS_SRE = 1u << 10, STS_CNR = 1u << 11, STS_HCE = 1u << 12;
    static constexpr uint64_t CRCR_RCS = 1u << 0, CRCR_CS = 1u << 1, CRCR_CA = 1u << 2, CRCR_CRR = 1u << 3;
    static constexpr uint32_t IMAN_IP = 1u << 0, IMAN_IE = 1u << 1;
    static constexpr uint64_t ERDP_EHB = 1u << 3;
    // TRBs: 16 bytes {parameter, status, control}; control: cycle 0, TC 1 (link), type 15:10.
    static constexpr unsigned kTrb = 16;
    static constexpr uint32_t TRB_CYCLE = 1u << 0, TRB_TC = 1u << 1, TRB_ISP = 1u << 2, TRB_IOC = 1u << 5,
                              TRB_IDT = 1u << 6, TRB_DIR_IN = 1u << 16;
    static constexpr uint32_t TRB_NORMAL = 1, TRB_SETUP = 2, TRB_DATA = 3, TRB_STATUS = 4, TRB_LINK = 6,
                              TRB_ENABLE_SLOT = 9, TRB_DISABLE_SLOT = 10, TRB_ADDRESS_DEVICE = 11,
                              TRB_CONFIGURE_EP = 12, TRB_STOP_EP = 15, TRB_RESET_DEVICE = 17,
                              TRB_NOOP_CMD = 23, TRB_TRANSFER_EVENT = 32,
                              TRB_CMD_COMPLETION = 33, TRB_PORT_STATUS_CHANGE = 34;
    static constexpr uint32_t CC_SUCCESS = 1, CC_TRANSACTION_ERROR = 4, CC_TRB_ERROR = 5, CC_STALL = 6,
                              CC_NO_SLOTS = 9, CC_SLOT_NOT_ENABLED = 11, CC_SHORT_PACKET = 13,
                              CC_CONTEXT_STATE = 19;
    // Slot and endpoint context states.
    static constexpr unsigned SLOT_DEFAULT = 1, SLOT_ADDRESSED = 2, SLOT_CONFIGURED = 3;
    static constexpr unsigned EP_RUNNING = 1, EP_HALTED = 2, EP_STOPPED = 3;
    static uint32_t trb_type(uint32_t control) { return (control >> 10) & 0x3f; }

    using Port = DmaPort;  // how the core reaches memory: provided by the bus glue

    XhciCore(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, Port port);
    // The register bank, with named fields (driver files use them).
    static std::vector<RegSpec> register_specs();

    IrqLine irq{"irq"};
    // A wake event while the controller is halted (the glue signals PME).
    std::function<void()> on_wake;

    // Plugs `dev` into root-hub port `port` (0-based) before the run.
    void attach(unsigned port, UsbDevice& dev);
    // Hot-plug while the simulation runs (a person at the port, e.g. while
    // the machine sleeps). unplug: the device loses VBUS and the port goes
    // to Disconnected (xHCI 1.2 §4.19.1.1: CCS 0, PED 0, PLS RxDetect, speed
    // 0) with CSC set. plug: `dev` arrives at the empty port, in its Default
    // state: CCS 1 and CSC, the port Disabled (PLS Polling) until software
    // resets it. Each change bit posts a Port Status Change Event while the
    // controller runs; while it is halted, a disconnect with WDE or a
    // connect with WCE set signals a wake (PME).
    void unplug(unsigned port);
    void plug(unsigned port, UsbDevice& dev);
    UsbDevice* device(unsigned port) const { return port < kPorts ? devices_[port] : nullptr; }

    // Internal reset: registers and internal state. `keep_saved`: the reset
    // of the core well alone - the suspend well keeps the Save State area
    // and the root-hub ports (their link states, the devices behind them
    // suspended with their addresses).
    void reset(bool keep_saved = false);
    // The function left D0 (D3hot gates the controller's clocks) or lost
    // power: a Save State in progress stops where it is - its area is left
    // invalid, and after D3hot SRE says so.
    void clock_stopped(const char* why);

    // MMIO through the bank, but for the writes the controller ignores
    // while CNR is set.
    void mmio_access(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay, uint64_t offset);

    // The controller's own view, for the checker (zero time).
    uint64_t command_dequeue() const { return cmd_deq_; }
    bool command_cycle() const { return ccs_; }
    uint64_t commands_executed() const { return executed_; }
    uint64_t event_enqueue() const { return evt_enq_; }
    bool event_cycle() const { return evt_pcs_; }
    unsigned enabled_slots() const {
        unsigned n = 0;
        for (unsigned s = 1; s <= kSlots; ++s) n += slots_[s].enabled;
        return n;
    }

private:
    void controller();
    void on_usbcmd(uint64_t old, uint64_t now);
    bool dma(uint64_t addr, void* buf, unsigned len, bool write) { return port_.transfer(addr, buf, len, write); }
    void run_commands();
    void post_event(uint64_t param, uint32_t status, uint32_t type, uint32_t control = 0);
    void update_irq();
    void set_sts(uint32_t bits, bool on);
    bool halted() const;
    bool not_ready() const;
    // `key`'s time in microseconds (varied within [timing] jitter) as a
    // number of this controller's clock cycles.
    Cycles cycles_for_us(const char* key);
    // Ports.
    void on_portsc(unsigned p, uint64_t old, uint64_t written);
    void port_change(unsigned p, uint32_t bits);
    void set_pls(unsigned p, unsigned pls);
    void finish_port_reset(unsigned p);
    void remote_wakeup(unsigned p);
    void reset_ports();
    void hook(unsigned port, UsbDevice& dev);
    // Slots and transfers.
    bool slot_enabled(unsigned slot) const { return slot >= 1 && slot <= kSlots && slots_[slot].enabled; }
    uint32_t command(uint32_t type, uint64_t param, uint32_t control, unsigned& slot_out);
    uint32_t address_device(unsigned slot, uint64_t input);
    uint32_t configure_endpoints(unsigned slot, uint64_t input);
    uint32_t stop_endpoint(unsigned slot, unsigned dci);
    uint32_t reset_device(unsigned slot);
    uint64_t output_context(unsigned slot);
    void write_slot_context(uint64_t out, unsigned entries, uint32_t dw3);
    void run_endpoint(unsigned slot, unsigned dci);
    bool control_td(unsigned slot, unsigned dci, uint64_t setup_at);
    void transfer_event(uint64_t trb, uint32_t cc, uint32_t residue, unsigned slot, unsigned dci);

    Port port_;
    sc_core::sc_event kick_;
    bool db_pending_ = false;
    bool halting_ = false, starting_ = false, resetting_ = false, saving_ = false, restoring_ = false;
    bool in_save_ = false;             // SSS: a Save State is running
    bool initializing_ = false;        // CNR: counting down ready_us
    sc_core::sc_event reset_ev_;       // a reset restarts that count
    const char* save_stopped_ = nullptr;  // why the running save stopped (D3hot, power lost)
    sc_core::sc_event stop_;
    // Internal state.
    uint64_t cmd_deq_ = 0;
    bool ccs_ = false;
    uint64_t evt_seg_ = 0, evt_enq_ = 0;
    uint32_t evt_size_ = 0;
    bool evt_pcs_ = true;
    uint64_t executed_ = 0;
    struct Endpoint {
        unsigned state = 0;
        uint64_t deq = 0;
        bool ccs = false;
        uint8_t address = 0;  // the USB endpoint address (bit 7: IN)
        bool nak = false;     // the TD at deq was NAKed: wait for the device
    };
    struct Slot {
        bool enabled = false;
        unsigned port = 0;  // root hub port number (1-based)
        unsigned state = 0;
        Endpoint ep[32];
    };
    Slot slots_[kSlots + 1];
    UsbDevice* devices_[kPorts] = {};
    uint32_t resetting_ports_ = 0;
    std::set<std::pair<unsigned, unsigned>> rung_;  // (slot, DCI) doorbells not yet served
    // The Save State area.
    struct Saved {
        bool valid = false;
        uint64_t evt_seg = 0, evt_enq = 0;
        uint32_t evt_size = 0;
        bool evt_pcs = true;
        std::vector<Slot> slots;
    } saved_;
};

}  // namespace quiesce
