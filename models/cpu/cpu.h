// A CPU core that runs software as timed operations (DESIGN.md §3): compute N
// cycles, memory and MMIO accesses over TLM (waiting out the annotated delay),
// the local interrupt flag, online/offline, and loss of context in sleep.
// Software (the PM core, drivers, firmware methods) calls these from the
// SC_THREAD that is "running on" this core.
#pragma once

#include "models/cpu/intc.h"
#include "sim/core/module.h"

#include <tlm_utils/simple_initiator_socket.h>

#include <functional>

namespace quiesce {

class Cpu : public Component {
public:
    SC_HAS_PROCESS(Cpu);
    // The OS's interrupt entry: called on this core's interrupt context with
    // the platform IRQ number.
    using IrqEntry = std::function<void(Cpu&, unsigned irq)>;

    Cpu(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, unsigned index);

    tlm_utils::simple_initiator_socket<Cpu> socket;

    unsigned index() const { return index_; }

    // --- timed software operations --------------------------------------
    void compute(Cycles n);
    uint64_t read(uint64_t addr, unsigned len);
    void write(uint64_t addr, uint64_t value, unsigned len);
    uint8_t read8(uint64_t a) { return uint8_t(read(a, 1)); }
    uint16_t read16(uint64_t a) { return uint16_t(read(a, 2)); }
    uint32_t read32(uint64_t a) { return uint32_t(read(a, 4)); }
    uint64_t read64(uint64_t a) { return read(a, 8); }
    void write8(uint64_t a, uint8_t v) { write(a, v, 1); }
    void write16(uint64_t a, uint16_t v) { write(a, v, 2); }
    void write32(uint64_t a, uint32_t v) { write(a, v, 4); }
    void write64(uint64_t a, uint64_t v) { write(a, v, 8); }
    void read_block(uint64_t addr, void* out, unsigned len);
    void write_block(uint64_t addr, const void* in, unsigned len);
    // Whether the last access completed (false after a master abort).
    bool last_access_ok() const { return last_ok_; }

    // --- interrupt flag --------------------------------------------------
    void local_irq_disable();
    void local_irq_enable();
    bool irqs_enabled() const { return irqs_enabled_; }

    // --- hotplug and sleep -----------------------------------------------
    bool online() const { return online_; }
    // Timed offline/online sequences (run by the boot CPU on behalf of this one).
    void go_offline();
    void go_online();
    // Power removed in S3/S4: registers, interrupt flag and caches are gone.
    void lose_context();
    // Firmware starts this core at a vector (the FACS waking vector).
    void start_at(uint64_t vector);
    // Power-on reset for a normal boot: online, interrupts off, no vector
    // handed to a sleeping kernel.
    void power_on_reset();
    // Blocks the calling software thread until firmware starts the core.
    uint64_t wait_for_start();

    void attach(InterruptController& intc, IrqEntry entry);

private:
    void transport(tlm::tlm_generic_payload& tx);
    void irq_thread();

    unsigned index_;
    bool irqs_enabled_ = true;
    bool online_ = true;
    bool last_ok_ = true;
    bool in_irq_ = false;
    uint64_t start_vector_ = 0;
    bool started_ = false;
    sc_core::sc_event state_changed_;
    sc_core::sc_event started_ev_;
    InterruptController* intc_ = nullptr;
    IrqEntry irq_entry_;
};

}  // namespace quiesce
