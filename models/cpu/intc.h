// The platform interrupt controller (IOAPIC-like): 24 level-sensitive inputs,
// a mask register (hardware state: syscore saves and restores it), and
// delivery of the lowest pending unmasked input to the boot CPU.
// Inputs come from other clock domains (devices, the ACPI block) and pass
// through a synchronizer: a change of a line is seen by the controller on the
// `sync_cycles`-th edge of its own clock after the change (a two-flop
// synchronizer by default), and only then shows in IRR and is delivered.
#pragma once

#include "sim/core/irq.h"
#include "sim/core/module.h"
#include "sim/core/target_socket.h"

#include <array>
#include <deque>
#include <functional>

namespace quiesce {

class InterruptController : public MmioDevice {
public:
    static constexpr unsigned kLines = 24;
    // Register offsets.
    static constexpr uint32_t IMR = 0x00;   // 1 = masked (hardware state)
    static constexpr uint32_t IRR = 0x04;   // asserted inputs (volatile, read-only)

    InterruptController(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock);

    TargetSocket<InterruptController> socket;

    SC_HAS_PROCESS(InterruptController);

    // Input line n (platform IRQ number n) changes level now; the controller
    // sees the change `sync_cycles` edges of its clock later.
    void set_input(unsigned n, bool level);
    // Lowest asserted (as synchronized), unmasked input, or -1.
    int pending() const;
    bool asserted(unsigned n) const { return (inputs_ >> n) & 1; }
    // Raised whenever pending() may have changed.
    const sc_core::sc_event& changed() const { return changed_; }
    // Loses all state (S3/S4 power removed from the chipset core well).
    void power_off();

private:
    void b_transport(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    void sample();  // SC_METHOD: applies the changes whose synchronizer edge has come
    struct Change {
        Picos at;  // the clock edge on which the controller sees it
        unsigned n;
        bool level;
    };
    uint32_t lines_ = 0;   // the input lines as driven now
    uint32_t inputs_ = 0;  // as the controller sees them, through the synchronizer
    std::deque<Change> in_flight_;  // in time order
    sc_core::sc_event sample_ev_;
    sc_core::sc_event changed_;
};

}  // namespace quiesce
