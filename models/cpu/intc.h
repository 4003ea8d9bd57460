// The platform interrupt controller (IOAPIC-like): 24 level-sensitive inputs,
// a mask register (hardware state: syscore saves and restores it), and
// delivery of the lowest pending unmasked input to the boot CPU.
#pragma once

#include "sim/core/irq.h"
#include "sim/core/module.h"

#include <tlm_utils/simple_target_socket.h>

#include <array>
#include <functional>

namespace quiesce {

class InterruptController : public MmioDevice {
public:
    static constexpr unsigned kLines = 24;
    // Register offsets.
    static constexpr uint32_t IMR = 0x00;   // 1 = masked (hardware state)
    static constexpr uint32_t IRR = 0x04;   // asserted inputs (volatile, read-only)

    InterruptController(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock);

    tlm_utils::simple_target_socket<InterruptController> socket;

    // Input line n (platform IRQ number n) changes level.
    void set_input(unsigned n, bool level);
    // Lowest asserted, unmasked input, or -1.
    int pending() const;
    bool asserted(unsigned n) const { return (inputs_ >> n) & 1; }
    // Raised whenever pending() may have changed.
    const sc_core::sc_event& changed() const { return changed_; }
    // Loses all state (S3/S4 power removed from the chipset core well).
    void power_off();

private:
    void b_transport(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    uint32_t inputs_ = 0;
    sc_core::sc_event changed_;
};

}  // namespace quiesce
