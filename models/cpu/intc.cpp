// The platform interrupt controller: level-sensitive inputs, the mask, delivery to CPUs.
#include "models/cpu/intc.h"
#include "sim/core/sync.h"

#include "sim/core/errors.h"

#include <algorithm>

namespace quiesce {

namespace {
const EventWord kAssert("assert"), kDeassert("deassert"), kIrq("irq");  // an input's edges
}  // namespace

InterruptController::InterruptController(const sc_core::sc_module_name& name, RunContext& ctx,
                                         const ClockDomain& clock)
    : MmioDevice(name, ctx, clock), socket("socket"), sample_ev_("sample_ev"), changed_("changed") {
    socket.register_b_transport(this, &InterruptController::b_transport);
    regs().set_strict(true);
    regs().add({.name = "IMR", .offset = IMR, .width = 4, .reset = 0x00ffffff, .rsvd = 0xff000000,
                .cls = StateClass::Hardware, .doc = "Interrupt mask, one bit per input; 1 = masked"})
        .on_write([this](Register&, uint64_t, uint64_t) { quiesce::notify(changed_, sc_core::SC_ZERO_TIME); });
    regs().add({.name = "IRR", .offset = IRR, .width = 4, .ro = 0xffffffff, .cls = StateClass::Volatile,
                .doc = "Inputs currently asserted"})
        .on_read([this](const Register&) { return uint64_t(inputs_); });
    props().declare("sync_cycles", int64_t(2),
                    "Edges of the controller's clock between an input changing and the controller seeing it "
                    "(input synchronizer flops); at least 1");
    hub().declare_track({path(), "", "device", clock.name(), clock.hz()});
    SC_METHOD(sample);
    sensitive << sample_ev_;
    dont_initialize();
}

void InterruptController::set_input(unsigned n, bool level) {
    SIM_ASSERT(n < kLines, "irq input {} out of range", n);
    uint32_t before = lines_;
    if (level) lines_ |= 1u << n;
    else lines_ &= ~(1u << n);
    if (before == lines_) return;
    // The first flop samples on the first edge strictly after the change
    // (a change on an edge misses it: setup time), the last one drives the
    // controller sync_cycles - 1 edges later.
    int64_t sync = std::max<int64_t>(1, props().get<int64_t>("sync_cycles"));
    Picos at = clock().edge_ps(clock().cycles_at(now_ps()) + Cycles(uint64_t(sync)));
    if (in_flight_.empty()) quiesce::notify(sample_ev_, from_ps(at - now_ps()));
    in_flight_.push_back({at, n, level});
}

void InterruptController::sample() {
    Picos now = now_ps();
    uint32_t before = inputs_;
    while (!in_flight_.empty() && in_flight_.front().at <= now) {
        const Change& c = in_flight_.front();
        uint32_t was = inputs_;
        if (c.level) inputs_ |= 1u << c.n;
        else inputs_ &= ~(1u << c.n);
        if (was != inputs_)
            hub().instant(path(), c.level ? kAssert : kDeassert, kIrq, {{"irq", c.n}});
        in_flight_.pop_front();
    }
    if (before != inputs_) quiesce::notify(changed_, sc_core::SC_ZERO_TIME);
    if (!in_flight_.empty()) quiesce::notify(sample_ev_, from_ps(in_flight_.front().at - now));
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
