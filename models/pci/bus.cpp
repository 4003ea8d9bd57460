// A PCI bus segment: its functions and the routing of configuration, memory and DMA transactions.
#include "models/pci/bus.h"

#include "models/pci/bridge.h"
#include "models/pci/host_bridge.h"
#include "sim/core/errors.h"

namespace quiesce {

void PciBus::add(PciFunction& f, uint8_t devfn) {
    SIM_ASSERT(!functions_.count(devfn), "two functions at devfn {:#x}", devfn);
    functions_[devfn] = &f;
    decode_stale_ = true;
    f.attach(this, devfn);
}

PciFunction* PciBus::at(uint8_t devfn) const {
    auto it = functions_.find(devfn);
    return it == functions_.end() ? nullptr : it->second;
}

unsigned PciBus::number() const { return upstream_ ? upstream_->secondary_number() : 0; }

bool PciBus::config(unsigned bus, uint8_t devfn, uint32_t reg, tlm::tlm_generic_payload& tx,
                    sc_core::sc_time& delay) {
    if (bus == number()) {
        PciFunction* f = at(devfn);
        if (!f) return false;
        f->config_access(tx, delay, reg);
        return true;
    }
    for (auto& [f, br] : decode()) {
        if (br && br->powered() && bus >= br->secondary_number() && bus <= br->subordinate_number() &&
            br->secondary_number() != 0)
            return br->forward_config(bus, devfn, reg, tx, delay);
    }
    return false;
}

const std::vector<std::pair<PciFunction*, PciBridge*>>& PciBus::decode() {
    if (decode_stale_) {
        decode_.clear();
        for (auto& [df, f] : functions_) decode_.emplace_back(f, dynamic_cast<PciBridge*>(f));
        decode_stale_ = false;
    }
    return decode_;
}

bool PciBus::mmio(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    uint64_t addr = tx.get_address();
    for (auto& [f, br] : decode()) {
        if (f->decodes(addr)) {
            f->mmio(tx, delay);
            return true;
        }
        if (br && br->window_contains(addr)) return br->forward_mmio(tx, delay);
    }
    return false;
}

namespace {
const sc_core::sc_time& bus_hop() {
    static const sc_core::sc_time hop(4, sc_core::SC_NS);  // one bus hop, converted once
    return hop;
}
}  // namespace

bool PciBus::upstream_dma(PciFunction&, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    delay += bus_hop();
    if (upstream_) return upstream_->forward_dma(tx, delay);
    return host_->dma_to_memory(tx, delay);
}

PciHostBridge* PciBus::direct_route(sc_core::sc_time& delay) const {
    sc_core::sc_time t = delay;
    for (const PciBus* b = this;;) {
        t += bus_hop();
        const PciBridge* up = b->upstream_;
        if (!up) {
            delay = t;
            return b->host_;
        }
        // PciBridge::forward_dma's conditions (forwarding: D0; bus mastering).
        if (up->dstate() != DState::D0 || !(up->command() & pci::CMD_MASTER) || !up->bus()) return nullptr;
        b = up->bus();
    }
}

void PciBus::route_intx(const PciFunction& from, uint8_t pin, bool level) {
    route_intx_from(&from, from.device_number(), pin, level);
}

void PciBus::route_intx_from(const void* source, unsigned device_number, uint8_t pin, bool level) {
    // Standard swizzle: INTx of device d appears as INT((x-1+d) mod 4) upstream.
    uint8_t swizzled = uint8_t(((pin - 1 + device_number) % 4) + 1);
    if (upstream_) {
        PciBus* up = upstream_->bus();
        SIM_ASSERT(up, "bridge without a primary bus");
        up->route_intx_from(source, upstream_->device_number(), swizzled, level);
    } else {
        host_->set_pirq_source(source, swizzled - 1u, level);
    }
}

}  // namespace quiesce
