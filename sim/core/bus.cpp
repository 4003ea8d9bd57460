// The system interconnect: address decoding to RAM, MMIO and PCI windows, and its timing.
#include "sim/core/bus.h"

#include <fmt/format.h>

#include <cstring>

namespace quiesce {

SystemBus::SystemBus(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock)
    : Component(name, ctx, clock), targ("targ"), init("init") {
    targ.register_b_transport(this, &SystemBus::b_transport);
    props().declare("hop_cycles", int64_t(2), "Latency of one pass through the interconnect");
    hop_cycles_ = &props().ref<int64_t>("hop_cycles");
}

const SystemBus::Range* SystemBus::decode(uint64_t addr) const {
    for (const auto& r : ranges_)
        if (addr >= r.base && addr - r.base < r.size) return &r;
    return nullptr;
}

std::string SystemBus::decode_name(uint64_t addr) const {
    const Range* r = decode(addr);
    return r ? r->name : std::string();
}

void SystemBus::b_transport(int, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    uint64_t addr = tx.get_address();
    const Range* r = decode(addr);
    delay += clock().delay(Cycles(uint64_t(*hop_cycles_)));
    if (!r) {
        // Master abort: nobody decodes the address. Reads return all ones.
        if (tx.is_read()) std::memset(tx.get_data_ptr(), 0xff, tx.get_data_length());
        tx.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        hub().guest_error(path(), "bus.master-abort", "no target decodes the address",
                          {{"addr", fmt::format("{:#x}", addr)}, {"initiator", initiator_of(tx)}});
    } else {
        if (r->relative) tx.set_address(addr - r->base);
        init[r->port]->b_transport(tx, delay);
        tx.set_address(addr);
    }
    if (hub().wants(EvKind::Transaction)) {
        Event ev;
        ev.kind = EvKind::Transaction;
        ev.ts = now_ps();
        ev.track = path();
        ev.name = r ? r->name : "master-abort";
        ev.addr = addr;
        ev.size = tx.get_data_length();
        ev.write = tx.is_write();
        ev.initiator = initiator_of(tx);
        ev.data = static_cast<uint64_t>(tx.get_response_status());
        hub().emit(std::move(ev));
    }
}

}  // namespace quiesce
