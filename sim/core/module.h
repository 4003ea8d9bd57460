// Module bases (style.md §Synthesis 1):
//   Module      sc_module + run context + hierarchical name + logger + properties
//   Component   Module + a clock domain: waits in cycles, never ticks
//   MmioDevice  Component + a register bank that decodes MMIO with latencies
#pragma once

#include "sim/core/context.h"
#include "sim/core/properties.h"
#include "sim/core/registers.h"
#include "sim/core/sync.h"
#include "sim/core/time.h"

#include <systemc>
#include <tlm>

#include <string>

namespace quiesce {

class Module : public sc_core::sc_module {
public:
    Module(const sc_core::sc_module_name& name, RunContext& ctx);

    RunContext& ctx() const { return ctx_; }
    EventHub& hub() const { return ctx_.hub; }
    // Hierarchical path used as the trace track ("pci0.rp0.dma0"), fixed
    // when the module is built.
    const std::string& path() const { return path_; }
    Properties& props() { return props_; }
    const Properties& props() const { return props_; }
    // An integer property read as a cycle count.
    Cycles prop_cycles(const std::string& key) const { return Cycles(uint64_t(props_.get<int64_t>(key))); }

    void guest_error(const std::string& name, const std::string& message, std::vector<Arg> args = {});
    // The fault rule that makes this module's operation of `kind` go wrong
    // now (a `device` trigger names the first part of the path: "dma0" for
    // "dma0.core", "cpu1", "sda"), or nullptr. Recorded as a fault on this
    // track. (Defined with the injector, sim/fault/injector.cpp.)
    const FaultSpec* fault(const std::string& kind, std::vector<Arg> site = {});
    // What a `device` trigger names for this module: its path's first part.
    std::string fault_device() const { return path_.substr(0, path_.find('.')); }
    void log(const std::string& message) const;  // to stderr when QUIESCE_LOG is set

private:
    RunContext& ctx_;
    std::string path_;
    Properties props_;
};

class Component : public Module {
public:
    Component(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock);

    const ClockDomain& clock() const { return clock_; }
    Cycles now_cycles() const { return clock_.now(); }
    // Blocks the calling SC_THREAD until the edge n cycles from now, of this
    // component's clock or of another domain it also runs in.
    void wait_cycles(Cycles n) { wait_cycles(n, clock_); }
    void wait_cycles(Cycles n, const ClockDomain& clock) {
        wait_ps(clock.delay_ps(n));
        ctx().timing.break_tie();
    }
    sc_core::sc_time cycles_delay(Cycles n) const { return clock_.delay(n); }
    // A fixed delay given in time (a datasheet's microseconds, a drive's
    // media time) ends on an edge of this component's clock: the first edge
    // at or after `d` from now. Hardware counts such delays in its own cycles.
    void wait_time(Picos d) {
        wait_ps(time_delay_ps(d));
        ctx().timing.break_tie();
    }
    sc_core::sc_time time_delay(Picos d) const { return from_ps(time_delay_ps(d)); }
    Picos time_delay_ps(Picos d) const {
        Picos now = now_ps();
        return clock_.next_edge_ps(now + d) - now;
    }
    // A bus transaction's data takes effect when it completes. A target
    // calls this before it reads or writes: the transaction reaches it
    // `delay` from now (the initiator's issue cycle, the hops annotated so
    // far) and completes `own` cycles of this component's clock after the
    // first edge at or after that; the initiator's thread waits until then,
    // and `delay` comes back zero. False if power was removed from the
    // machine meanwhile: the transaction never completed, and the target
    // must do nothing. Outside an SC_THREAD (elaboration, an SC_METHOD)
    // nothing can wait: the cycles are added to `delay` for the caller.
    bool complete(sc_core::sc_time& delay, Cycles own);
    bool complete(Picos& delay, Cycles own);  // the same, `delay` in picoseconds

private:
    const ClockDomain& clock_;
};

class MmioDevice : public Component {
public:
    MmioDevice(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
               Cycles read_latency = Cycles(2), Cycles write_latency = Cycles(1));

    RegisterBank& regs() { return regs_; }
    const RegisterBank& regs() const { return regs_; }
    // Decodes a TLM access against the bank and annotates the device latency.
    void mmio_access(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay, uint64_t offset);

private:
    RegisterBank regs_;
    Cycles read_latency_;
    Cycles write_latency_;
};

// The name of the initiator of a transaction (CPU core, DMA engine), carried
// as a TLM extension so that memory can record its last writer.
struct InitiatorExt : tlm::tlm_extension<InitiatorExt> {
    std::string name;
    tlm::tlm_extension_base* clone() const override { return new InitiatorExt(*this); }
    void copy_from(const tlm::tlm_extension_base& o) override { name = static_cast<const InitiatorExt&>(o).name; }
};
// The initiator's name an access carries ("?" without one): a reference to
// the extension's string, valid while the payload keeps it.
const std::string& initiator_of(tlm::tlm_generic_payload& tx);

}  // namespace quiesce
