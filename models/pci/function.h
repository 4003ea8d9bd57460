// A PCI function: configuration space (type-0 or type-1 header plus the PM
// capability), BAR decode, the D-state machine, bus mastering and INTx.
// Device cores (DMA engine, xHCI, AHCI...) plug in through the virtual hooks;
// the function knows nothing of what the device does.
//
// Facts modelled (reference/linux-pm.md §4):
//  - config space stays accessible in D1..D3hot; memory decoding does not:
//    MMIO to a function not in D0 master-aborts (reads all ones) and is
//    reported as io.suspended-device;
//  - D3hot->D0 needs 10 ms before the function may be accessed again;
//  - with No_Soft_Reset = 0, D3hot->D0 resets the function ("D0
//    uninitialized"): BARs, COMMAND and the device core lose their state;
//  - D3cold (power removed) loses everything; power-on comes up in D0
//    uninitialized;
//  - PME: the core signals a wake event; PME_Status is set whatever PME_En
//    says, and PME# is asserted while both are set, until software clears
//    PME_Status (RW1C). PME context survives an internal reset.
#pragma once

#include "models/pci/config_space.h"
#include "sim/core/irq.h"
#include "sim/core/module.h"
#include "sim/core/payload_pool.h"

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace quiesce {

class PciBus;

enum class DState { D0 = 0, D1 = 1, D2 = 2, D3hot = 3, D3cold = 4 };
const char* to_string(DState d);

class PciFunction : public Component {
public:
    PciFunction(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
                const pci::HeaderIdent& ident);

    RegisterBank& config() { return config_; }
    const RegisterBank& config() const { return config_; }
    const pci::HeaderIdent& ident() const { return ident_; }

    // Topology.
    void attach(PciBus* bus, uint8_t devfn);
    PciBus* bus() const { return bus_; }
    uint8_t devfn() const { return devfn_; }
    uint8_t device_number() const { return devfn_ >> 3; }
    uint8_t function_number() const { return devfn_ & 7; }
    // Function 0 of a slot with other functions: HEADER_TYPE bit 7, which
    // tells enumeration to look at functions 1-7 (a reset keeps it: it is
    // what the silicon is).
    void set_multi_function();

    DState dstate() const { return dstate_; }
    bool powered() const { return dstate_ != DState::D3cold; }
    uint16_t command() const { return uint16_t(command_->value()); }
    uint32_t bar_base(unsigned i) const;

    // --- bus side ----------------------------------------------------------
    void config_access(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay, uint32_t reg);
    // Whether this function claims the address (memory space on, inside a BAR).
    bool decodes(uint64_t addr) const;
    void mmio(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);

    // --- device side -------------------------------------------------------
    // A bus-master access from the device core towards memory. Fails (and is
    // reported) without bus mastering, outside D0, or when a bridge on the
    // way up does not forward.
    bool dma(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    // The same for a plain buffer: what device cores' DMA ports call.
    bool dma_buffer(uint64_t addr, void* buf, unsigned len, bool write, sc_core::sc_time& delay);
    void set_intx(bool level);
    bool intx_output() const;
    // A wake event of the device core (PCI PM 1.2 §3.2.4).
    void signal_pme();
    // PME#, wired by the platform (to a GPE on a PC chipset).
    IrqLine pme{"pme"};

    // --- platform power ------------------------------------------------------
    void power_off();   // D3cold
    void power_on();    // D0 uninitialized

    // Snapshot of hardware-state registers (config space) for the checker.
    RegisterBank::Saved hardware_state() const { return config_.save(StateClass::Hardware); }

protected:
    // MMIO at `offset` inside BAR `bar`; the function has checked D0.
    virtual void bar_access(unsigned bar, uint64_t offset, tlm::tlm_generic_payload& tx,
                            sc_core::sc_time& delay);
    // The device core must reset (internal reset or power-on).
    virtual void function_reset() {}
    // D3hot->D0 without No_Soft_Reset ("D0 uninitialized"): the function's
    // internal reset, with its power kept. By default function_reset; a
    // device with state in an auxiliary power well keeps that.
    virtual void soft_reset() { function_reset(); }
    // Called after the D-state changed.
    virtual void dstate_changed(DState, DState) {}

private:
    void on_pmcsr_write(Register& r, uint64_t old);
    void reset_config();
    void route_intx();
    void update_pme();
    bool recovering() const;

    pci::HeaderIdent ident_;
    RegisterBank config_;
    // Registers read on every DMA and MMIO decode, resolved once (issue 18
    // item 3: a lookup by name per access): COMMAND and the BARs.
    const Register* command_ = nullptr;
    std::array<const Register*, 6> bars_{};
    PciBus* bus_ = nullptr;
    uint8_t devfn_ = 0;
    bool multi_function_ = false;
    DState dstate_ = DState::D0;
    Picos ready_at_ = 0;         // end of the D3hot->D0 recovery time
    bool intx_level_ = false;
    bool intx_routed_ = false;   // last level sent upstream
    // dma_buffer's payloads, reused (one per access in flight), and the
    // initiator extension they carry: no allocation per access.
    PayloadPool dma_payloads_;
    InitiatorExt dma_ext_;
};

}  // namespace quiesce
