// A PCI-to-PCI bridge (root port): its type-1 header, bus numbers and forwarding window.
#include "models/pci/bridge.h"

#include <fmt/format.h>

#include <cstring>

namespace quiesce {

using namespace pci;

PciBridge::PciBridge(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
                     const HeaderIdent& ident, PciHostBridge* host)
    : PciFunction(name, ctx, clock, ident), secondary_(host, this),
      secondary_bus_(&config().reg("SECONDARY_BUS")), subordinate_bus_(&config().reg("SUBORDINATE_BUS")),
      mem_base_(&config().reg("MEM_BASE")), mem_limit_(&config().reg("MEM_LIMIT")) {}

bool PciBridge::window_contains(uint64_t addr) const {
    if (!(command() & CMD_MEMORY)) return false;
    uint64_t base = (mem_base_->value() & 0xfff0) << 16;
    uint64_t limit = ((mem_limit_->value() & 0xfff0) << 16) | 0xfffff;
    return base <= limit && addr >= base && addr <= limit;
}

bool PciBridge::forwarding(const char* kind, uint64_t addr) {
    if (dstate() == DState::D0) return true;
    guest_error("io.suspended-device",
                std::string(kind) + " for the secondary bus reached a bridge that is not in D0",
                {{"kind", kind}, {"addr", fmt::format("{:#x}", addr)}, {"dstate", to_string(dstate())}});
    return false;
}

bool PciBridge::forward_config(unsigned bus, uint8_t devfn, uint32_t reg, tlm::tlm_generic_payload& tx,
                               sc_core::sc_time& delay) {
    delay += clock().delay(Cycles(2));
    if (!forwarding("config", (uint64_t(bus) << 20) | (uint64_t(devfn) << 12) | reg)) {
        if (tx.is_read()) std::memset(tx.get_data_ptr(), 0xff, tx.get_data_length());
        tx.set_response_status(tlm::TLM_OK_RESPONSE);
        return true;  // the bridge claimed it; the access ends in a master abort
    }
    return secondary_.config(bus, devfn, reg, tx, delay);
}

bool PciBridge::forward_mmio(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    delay += clock().delay(Cycles(2));
    if (!forwarding("mmio", tx.get_address())) {
        if (tx.is_read()) std::memset(tx.get_data_ptr(), 0xff, tx.get_data_length());
        tx.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        return true;
    }
    if (secondary_.mmio(tx, delay)) return true;
    if (tx.is_read()) std::memset(tx.get_data_ptr(), 0xff, tx.get_data_length());
    tx.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    guest_error("pci.master-abort", "no function behind the bridge claims the address",
                {{"addr", fmt::format("{:#x}", tx.get_address())}});
    return true;
}

bool PciBridge::forward_dma(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    if (!forwarding("dma", tx.get_address())) {
        tx.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
        return false;
    }
    if (!(command() & CMD_MASTER)) {
        guest_error("pci.dma-blocked", "bridge does not forward upstream: bus mastering disabled",
                    {{"addr", fmt::format("{:#x}", tx.get_address())}});
        tx.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
        return false;
    }
    PciBus* up = bus();
    return up->upstream_dma(*this, tx, delay);
}

}  // namespace quiesce
