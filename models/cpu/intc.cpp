// The platform interrupt controller: level-sensitive inputs, the mask, delivery to CPUs.
#include "models/cpu/intc.h"

#include "sim/core/errors.h"

namespace quiesce {

InterruptController::InterruptController(const sc_core::sc_module_name& name, RunContext& ctx,
                                         const ClockDomain& clock)
    : MmioDevice(name, ctx, clock), socket("socket") {
    socket.register_b_transport(this, &InterruptController::b_transport);
    regs().set_strict(true);
    regs().add({.name = "IMR", .offset = IMR, .width = 4, .reset = 0x00ffffff, .rsvd = 0xff000000,
                .cls = StateClass::Hardware, .doc = "Interrupt mask, one bit per input; 1 = masked"})
        .on_write([this](Register&, uint64_t, uint64_t) { changed_.notify(sc_core::SC_ZERO_TIME); });
    regs().add({.name = "IRR", .offset = IRR, .width = 4, .ro = 0xffffffff, .cls = StateClass::Volatile,
                .doc = "Inputs currently asserted"})
        .on_read([this](const Register&) { return uint64_t(inputs_); });
    hub().declare_track({path(), "", "device", clock.name(), clock.hz()});
}

void InterruptController::set_input(unsigned n, bool level) {
    SIM_ASSERT(n < kLines, "irq input {} out of range", n);
    uint32_t before = inputs_;
    if (level) inputs_ |= 1u << n;
    else inputs_ &= ~(1u << n);
    if (before != inputs_) {
        hub().instant(path(), level ? "assert" : "deassert", "irq", {{"irq", std::to_string(n)}});
        changed_.notify(sc_core::SC_ZERO_TIME);
    }
}

int InterruptController::pending() const {
    uint32_t active = inputs_ & ~static_cast<uint32_t>(regs().reg("IMR").value());
    for (unsigned n = 0; n < kLines; ++n)
        if (active & (1u << n)) return int(n);
    return -1;
}

void InterruptController::power_off() {
    regs().reset();
    hub().instant(path(), "power-off", "power");
}

void InterruptController::b_transport(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    mmio_access(tx, delay, tx.get_address());
}

}  // namespace quiesce
