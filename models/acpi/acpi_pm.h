// The ACPI PM register block and sleep state machine (reference/linux-pm.md
// §3.3-3.4): PM1 status/enable/control, the GPE0 block (32 general-purpose
// events: a status half, RW1C, and an enable half), an RTC alarm (battery
// well, survives sleep), and the hardware side of S3/S5 entry: on SLP_EN the
// platform removes power from everything but memory in self-refresh and the
// wake logic; a wake event restores power, sets WAK_STS and lets firmware
// resume the boot CPU.
//
// GPE inputs are levels (a PCI function's PME#, wired by the chipset): while
// an input is asserted its status bit is set again after every clear. An
// enabled GPE with its status set raises the SCI while running and wakes
// the platform from S3/S4 (only the enable bits the OS left on at SLP_EN).
#pragma once

#include "sim/core/irq.h"
#include "sim/core/module.h"
#include "sim/core/target_socket.h"

#include <functional>

namespace quiesce {

class AcpiPm : public MmioDevice {
public:
    SC_HAS_PROCESS(AcpiPm);

    static constexpr uint32_t PM1_STS = 0x00, PM1_EN = 0x02, PM1_CNT = 0x04, RTC_ALARM = 0x08;
    static constexpr uint32_t GPE0_STS = 0x10, GPE0_EN = 0x14, kGpe0Len = 8;
    // The embedded controller's command/status and data ports (ACPI 6.x
    // §12.2): SCI_EVT says an event waits; the OS's QR_EC query returns its
    // number in EC_DATA and clears it.
    static constexpr uint32_t EC_SC = 0x20, EC_DATA = 0x21;
    static constexpr uint8_t EC_SCI_EVT = 1u << 5, EC_QR = 0x84;
    static constexpr uint16_t STS_PWRBTN = 1u << 8, STS_RTC = 1u << 10, STS_WAK = 1u << 15;
    static constexpr uint16_t EN_PWRBTN = 1u << 8, EN_RTC = 1u << 10;
    static constexpr uint32_t CNT_SCI_EN = 1u << 0, CNT_SLP_TYP_SHIFT = 10, CNT_SLP_TYP_MASK = 7u << 10,
                              CNT_SLP_EN = 1u << 13;

    struct Hooks {
        std::function<void(unsigned sleep_state)> power_down;  // devices, CPUs, chipset lose power
        std::function<void(unsigned sleep_state)> power_up;    // power back, devices in reset
        std::function<void(unsigned sleep_state)> firmware_wake;  // firmware resume path
        std::function<uint64_t()> waking_vector;  // the FACS waking vector (memory), for the trace
    };

    AcpiPm(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock);

    TargetSocket<AcpiPm> socket;
    // The SCI (level, IRQ 9 on a PC): an enabled fixed event's status bit is
    // set while SCI_EN is on and the platform is running.
    IrqLine sci{"sci"};

    void set_hooks(Hooks h) { hooks_ = std::move(h); }

    // Platform sleep state: 0 while running, else the S-state entered.
    unsigned sleeping() const { return sleeping_; }
    // Mains power is gone (a power cut, not a sleep state): no standby
    // power either, for wake logic or anything armed on auxiliary power.
    bool mains_lost() const { return mains_lost_; }
    unsigned sleeps() const { return sleeps_; }
    // Power button pressed (a wake source; a status event while running).
    void press_power_button();
    // The RTC alarm goes off now (a wake-event fault with source = "rtc").
    void rtc_alarm_now();
    // A GPE input (PME# of a function the chipset wires to GPE `bit`).
    void set_gpe_input(unsigned bit, bool level);

    // Mains power lost now (an injected fault): everything goes off as in S5;
    // power returns `restore_after` later and the machine boots normally.
    void power_cut(Picos restore_after);

private:
    void b_transport(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    void on_cnt_write(Register& r, uint64_t written);
    void sleep_machine();
    void alarm_watch();
    void ec_watch();
    uint8_t ec_query_ = 0;
    bool wake_pending() const;
    void update_sci();

    void latch_gpes();

    // The registers update_sci and wake_pending read (at every write of
    // one), held rather than found by name each time.
    const Register* pm1_sts_ = nullptr;
    const Register* pm1_en_ = nullptr;
    const Register* pm1_cnt_ = nullptr;
    const Register* gpe0_sts_ = nullptr;
    const Register* gpe0_en_ = nullptr;
    Hooks hooks_;
    uint32_t gpe_inputs_ = 0;
    unsigned typ_[6] = {0, 1, 2, 5, 6, 7};  // the SLP_TYP value that enters each state on this chipset (ICH)
    unsigned requested_ = 0;
    unsigned sleeping_ = 0;
    unsigned sleeps_ = 0;
    sc_core::sc_event sleep_req_;
    sc_core::sc_event wake_ev_;
    sc_core::sc_event alarm_set_;
    sc_core::sc_event cut_ev_;
    Picos cut_restore_after_ = 0;
    bool cut_pending_ = false;
    bool mains_lost_ = false;
    void power_loss_cycle();
};

}  // namespace quiesce
