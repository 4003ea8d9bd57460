// The ACPI PM register block and sleep state machine: PM1 events and control, GPEs, the RTC alarm.
#include "models/acpi/acpi_pm.h"
#include "sim/core/sync.h"

#include <fmt/format.h>

#include "sim/core/errors.h"

namespace quiesce {

AcpiPm::AcpiPm(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock)
    : MmioDevice(name, ctx, clock), socket("socket"), sleep_req_("sleep_req"), wake_ev_("wake_ev"),
      alarm_set_("alarm_set"), cut_ev_("cut_ev") {
    socket.register_b_transport(this, &AcpiPm::b_transport);
    using SC = StateClass;
    RegisterBank& b = regs();
    b.set_strict(true);
    b.add({.name = "PM1_STS", .offset = PM1_STS, .width = 2, .w1c = 0xc731, .rsvd = uint16_t(~0xc731),
           .cls = SC::Volatile, .doc = "PM1a status: PWRBTN 8, RTC 10, WAK_STS 15 (RW1C)"})
        .on_write([this](Register&, uint64_t, uint64_t) { update_sci(); });
    b.add({.name = "PM1_EN", .offset = PM1_EN, .width = 2, .rsvd = uint16_t(~0x0721), .cls = SC::Hardware,
           .doc = "PM1a enable: TMR 0, GBL 5, PWRBTN 8, SLPBTN 9, RTC 10"})
        .on_write([this](Register&, uint64_t, uint64_t) { update_sci(); });
    b.add({.name = "PM1_CNT", .offset = PM1_CNT, .width = 4, .rsvd = ~uint64_t(0x3c07) & 0xffffffff,
           .wo = CNT_SLP_EN | (1u << 2), .cls = SC::Hardware,
           .doc = "PM1a control: SCI_EN 0, BM_RLD 1, SLP_TYP 12:10, SLP_EN 13 (write-only trigger)"})
        .on_write([this](Register& r, uint64_t, uint64_t written) {
            on_cnt_write(r, written);
            update_sci();
        });
    b.add({.name = "RTC_ALARM", .offset = RTC_ALARM, .width = 8, .cls = SC::Hardware,
           .doc = "RTC alarm, microseconds since power-on (0 = off); battery well"})
        .on_write([this](Register&, uint64_t, uint64_t) { quiesce::notify(alarm_set_, sc_core::SC_ZERO_TIME); });
    b.add({.name = "GPE0_STS", .offset = GPE0_STS, .width = 4, .w1c = 0xffffffff, .cls = SC::Volatile,
           .doc = "GPE0 status (GPE0_BLK first half): one bit per general-purpose event, RW1C"})
        .on_write([this](Register&, uint64_t, uint64_t) {
            latch_gpes();  // a level input still asserted sets its bit again
            update_sci();
        });
    b.add({.name = "GPE0_EN", .offset = GPE0_EN, .width = 4, .cls = SC::Hardware,
           .doc = "GPE0 enable (GPE0_BLK second half): runtime GPEs in S0, wake GPEs at SLP_EN"})
        .on_write([this](Register&, uint64_t, uint64_t) {
            update_sci();
            quiesce::notify(wake_ev_, sc_core::SC_ZERO_TIME);
        });
    b.add({.name = "EC_SC", .offset = EC_SC, .width = 1, .rsvd = 0, .cls = SC::Volatile,
           .doc = "Embedded controller status (read: SCI_EVT 5) / command (write: QR_EC 0x84 queries the event)"})
        .on_write([this](Register& r, uint64_t, uint64_t written) {
            const bool event = ec_query_ != 0;
            r.set(event ? EC_SCI_EVT : 0);  // the status is the EC's; a write is a command
            if (written != EC_QR) return;
            regs().reg("EC_DATA").set(ec_query_);
            ec_query_ = 0;
            r.set(0);
            set_gpe_input(23, false);  // SCI_EVT handled: the EC drops its GPE
        });
    b.add({.name = "EC_DATA", .offset = EC_DATA, .width = 1, .cls = SC::Volatile,
           .doc = "Embedded controller data: the query number after QR_EC"});
    props().declare("ec_event_ms", int64_t(0),
                    "The embedded controller raises one event (a battery status change, query 0x20: SCI_EVT and its "
                    "GPE 23) this many ms after power-on; 0: none. Not a wakeup: in suspend-to-idle it is the "
                    "spurious wakeup acpi_s2idle_wake sends back to idle");
    pm1_sts_ = &b.reg("PM1_STS");
    pm1_en_ = &b.reg("PM1_EN");
    pm1_cnt_ = &b.reg("PM1_CNT");
    gpe0_sts_ = &b.reg("GPE0_STS");
    gpe0_en_ = &b.reg("GPE0_EN");
    hub().declare_track({path(), "", "firmware", clock.name(), clock.hz()});
    SC_THREAD(ec_watch);
    SC_THREAD(sleep_machine);
    SC_THREAD(alarm_watch);
}

void AcpiPm::b_transport(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    mmio_access(tx, delay, tx.get_address());
}

void AcpiPm::on_cnt_write(Register& r, uint64_t written) {
    if (!(written & CNT_SLP_EN)) return;
    r.set(r.value() & ~uint64_t(CNT_SLP_EN));  // write-only trigger
    requested_ = unsigned((r.value() & CNT_SLP_TYP_MASK) >> CNT_SLP_TYP_SHIFT);
    unsigned state = 0;
    for (unsigned s = 1; s <= 5; ++s)
        if (typ_[s] == requested_) state = s;
    // What the platform sees at SLP_EN: the checker judges the entry sequence (acpi.sequence).
    hub().instant(path(), "sleep-request", "acpi",
                  {{"slp_typ", std::to_string(requested_)},
                   {"state", std::to_string(state)},
                   {"pm1_sts", fmt::format("{:#x}", regs().reg("PM1_STS").value())},
                   {"pm1_en", fmt::format("{:#x}", regs().reg("PM1_EN").value())},
                   {"gpe0_sts", fmt::format("{:#x}", regs().reg("GPE0_STS").value())},
                   {"gpe0_en", fmt::format("{:#x}", regs().reg("GPE0_EN").value())},
                   {"waking_vector", fmt::format("{:#x}", hooks_.waking_vector ? hooks_.waking_vector() : 0)}});
    quiesce::notify(sleep_req_, clock().delay(Cycles(2)));
}

void AcpiPm::update_sci() {
    uint64_t sts = pm1_sts_->value(), en = pm1_en_->value();
    bool gpe = gpe0_sts_->value() & gpe0_en_->value();
    bool on = (pm1_cnt_->value() & CNT_SCI_EN) && sleeping_ == 0 &&
              ((sts & en & (STS_RTC | STS_PWRBTN)) || gpe);
    sci.set(on);
}

bool AcpiPm::wake_pending() const {
    uint64_t sts = pm1_sts_->value(), en = pm1_en_->value();
    bool gpe = gpe0_sts_->value() & gpe0_en_->value();
    return (sts & STS_PWRBTN) || ((sts & STS_RTC) && (en & EN_RTC)) || gpe;
}

void AcpiPm::latch_gpes() {
    Register& sts = regs().reg("GPE0_STS");
    sts.set(sts.value() | gpe_inputs_);
}

void AcpiPm::set_gpe_input(unsigned bit, bool level) {
    const uint32_t mask = 1u << bit;
    if (level == bool(gpe_inputs_ & mask)) return;
    gpe_inputs_ = level ? gpe_inputs_ | mask : gpe_inputs_ & ~mask;
    if (!level) return;
    latch_gpes();
    const bool enabled = regs().reg("GPE0_EN").value() & mask;
    hub().instant(path(), "gpe", "wake",
                  {{"gpe", std::to_string(bit)}, {"enabled", enabled ? "yes" : "no"},
                   {"gpe0_en", fmt::format("{:#x}", regs().reg("GPE0_EN").value())},
                   {"sleeping", std::to_string(sleeping_)}});
    quiesce::notify(wake_ev_, sc_core::SC_ZERO_TIME);
    update_sci();
}

void AcpiPm::rtc_alarm_now() {
    regs().reg("RTC_ALARM").set(std::max<uint64_t>(1, now_ps() / 1'000'000ULL));
    quiesce::notify(alarm_set_, sc_core::SC_ZERO_TIME);
}

void AcpiPm::press_power_button() {
    Register& sts = regs().reg("PM1_STS");
    sts.set(sts.value() | STS_PWRBTN);
    hub().instant(path(), "power-button", "wake");
    quiesce::notify(wake_ev_, sc_core::SC_ZERO_TIME);
    update_sci();
}

void AcpiPm::power_cut(Picos restore_after) {
    cut_restore_after_ = restore_after;
    cut_pending_ = true;
    quiesce::notify(cut_ev_, sc_core::SC_ZERO_TIME);
}

// A power cut: no OS sequence at all. Everything loses power (memory too);
// when power returns, firmware boots the machine.
void AcpiPm::power_loss_cycle() {
    cut_pending_ = false;
    hub().slice_begin(path(), "power-lost", "power");
    sleeping_ = 5;
    mains_lost_ = true;
    if (hooks_.power_down) hooks_.power_down(5);
    wait_time(cut_restore_after_);
    mains_lost_ = false;
    if (hooks_.power_up) hooks_.power_up(5);
    regs().reset();  // mains loss: the resume well is gone too
    gpe_inputs_ = 0;
    sleeping_ = 0;
    hub().slice_end(path(), "power-lost", "power");
    if (hooks_.firmware_wake) hooks_.firmware_wake(5);
}

void AcpiPm::alarm_watch() {
    for (;;) {
        uint64_t alarm_us = regs().reg("RTC_ALARM").value();
        Picos at = alarm_us * 1'000'000ULL;
        if (alarm_us == 0 || at <= now_ps()) {
            if (alarm_us != 0) {
                Register& sts = regs().reg("PM1_STS");
                sts.set(sts.value() | STS_RTC);
                regs().reg("RTC_ALARM").set(0);
                hub().instant(path(), "rtc-alarm", "wake");
                quiesce::notify(wake_ev_, sc_core::SC_ZERO_TIME);
                update_sci();
            }
            quiesce::wait(alarm_set_);
            continue;
        }
        quiesce::wait(time_delay(at - now_ps()), alarm_set_);
    }
}

void AcpiPm::ec_watch() {
    const int64_t at_ms = props().get<int64_t>("ec_event_ms");
    if (at_ms <= 0) return;
    wait_time(Picos(at_ms) * 1'000'000'000ULL);
    if (sleeping_ || mains_lost_) return;  // the EC's events wait for S0 (it is powered with the machine)
    ec_query_ = 0x20;
    regs().reg("EC_SC").set(EC_SCI_EVT);
    hub().instant(path(), "ec-event", "acpi", {{"query", "0x20"}, {"gpe", "23"}});
    set_gpe_input(23, true);
}

void AcpiPm::sleep_machine() {
    for (;;) {
        quiesce::wait(sleep_req_ | cut_ev_);
        if (cut_pending_) {
            power_loss_cycle();
            continue;
        }
        unsigned state = 0;
        for (unsigned s = 1; s <= 5; ++s)
            if (typ_[s] == requested_) state = s;
        if (state == 0 || (state != 3 && state != 4 && state != 5)) {
            hub().instant(path(), "sleep-request-ignored", "power", {{"slp_typ", std::to_string(requested_)}});
            continue;
        }
        hub().slice_begin(path(), "S" + std::to_string(state), "power");
        sleeping_ = state;
        sci.set(false);
        ++sleeps_;
        if (hooks_.power_down) hooks_.power_down(state);
        if (state == 5) {
            hub().slice_end(path(), "S5", "power");
            continue;  // soft-off: only a power button boot would follow
        }
        // Wake logic: an enabled wake event ends S3. Status bits set before
        // SLP_EN count as an immediate wake (that is why the OS clears them).
        while (!wake_pending()) quiesce::wait(wake_ev_);
        if (hooks_.power_up) hooks_.power_up(state);
        Register& sts = regs().reg("PM1_STS");
        sts.set(sts.value() | STS_WAK);
        // SLP_TYP keeps what the OS wrote: setting it back to S0 is the
        // OS's (acpi_leave_sleep_state_prep).
        sleeping_ = 0;
        update_sci();
        hub().slice_end(path(), "S" + std::to_string(state), "power");
        if (hooks_.firmware_wake) hooks_.firmware_wake(state);
    }
}

}  // namespace quiesce
