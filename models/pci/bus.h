// A PCI bus segment: the functions on it, and the routing of configuration,
// memory, DMA and INTx through bridges up to the host bridge.
#pragma once

#include <tlm>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace quiesce {

class PciFunction;
class PciBridge;
class PciHostBridge;

class PciBus {
public:
    PciBus(PciHostBridge* host, PciBridge* upstream) : host_(host), upstream_(upstream) {}

    void add(PciFunction& f, uint8_t devfn);
    PciFunction* at(uint8_t devfn) const;
    const std::map<uint8_t, PciFunction*>& functions() const { return functions_; }
    PciBridge* upstream() const { return upstream_; }
    PciHostBridge* host() const { return host_; }
    // The bus number: 0 for the root bus, else the upstream bridge's SECONDARY_BUS.
    unsigned number() const;

    // Downstream: a configuration access addressed to bus `bus`. Returns false
    // if no function or bridge on this segment answers.
    bool config(unsigned bus, uint8_t devfn, uint32_t reg, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    // Downstream: a memory access. Returns false if nothing here claims it.
    bool mmio(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    // Upstream: a bus-master access from a function on this segment.
    bool upstream_dma(PciFunction& from, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    // What upstream_dma and the bridges above do with a bus-master access
    // that every one of them lets through (each bridge in D0 with bus
    // mastering on): each hop's delay added to `delay`, and the host bridge
    // at the top. Null, `delay` as it was, where a bridge would not forward
    // (upstream_dma then reports why).
    PciHostBridge* direct_route(sc_core::sc_time& delay) const;
    // Upstream: INTx from a function on this segment, swizzled per bridge.
    void route_intx(const PciFunction& from, uint8_t pin, bool level);
    void route_intx_from(const void* source, unsigned device_number, uint8_t pin, bool level);

private:
    PciHostBridge* host_;
    PciBridge* upstream_;
    std::map<uint8_t, PciFunction*> functions_;
    // The functions in devfn order, each with itself as a bridge or null:
    // what mmio() and config() walk on every access, resolved once (the
    // first access after the last add) instead of a dynamic_cast per
    // function per access.
    const std::vector<std::pair<PciFunction*, PciBridge*>>& decode();
    std::vector<std::pair<PciFunction*, PciBridge*>> decode_;
    bool decode_stale_ = true;
};

}  // namespace quiesce
