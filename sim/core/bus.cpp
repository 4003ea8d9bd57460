// The system interconnect: address decoding to RAM, MMIO and PCI windows, and its timing.
#include "sim/core/bus.h"

#include "sim/core/errors.h"

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

SystemBus::DirectGrant SystemBus::direct_grant(uint64_t addr) const {
    const Range* r = decode(addr);
    if (!r || !r->memory || r->relative) return {};
    for (const Range* o = ranges_.data(); o != r; ++o)
        if (o->base < r->base + r->size && r->base < o->base + o->size) return {};  // shadows part of it
    return {r->base, r->size};
}

void SystemBus::direct_access(bool write, uint64_t addr, unsigned char* data, unsigned len,
                              const std::string& initiator, Picos& delay) {
    const Range* r = decode(addr);
    SIM_ASSERT(r && r->memory && r->memory->in_range(addr, len), "direct access outside a grant at {:#x}", addr);
    delay += clock().delay_ps(Cycles(uint64_t(*hop_cycles_)));
    if (write) r->memory->direct_write(addr, data, len, initiator, delay);
    else r->memory->direct_read(addr, data, len, delay);
    if (hub().wants(EvKind::Transaction)) note(r, addr, len, write, initiator, tlm::TLM_OK_RESPONSE);
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
    if (hub().wants(EvKind::Transaction))
        note(r, addr, tx.get_data_length(), tx.is_write(), initiator_of(tx), tx.get_response_status());
}

void SystemBus::note(const Range* r, uint64_t addr, unsigned len, bool write, std::string initiator,
                     tlm::tlm_response_status status) {
    Event ev;
    ev.kind = EvKind::Transaction;
    ev.ts = now_ps();
    ev.track = path();
    ev.name = r ? r->name : "master-abort";
    ev.addr = addr;
    ev.size = len;
    ev.write = write;
    ev.initiator = std::move(initiator);
    ev.data = static_cast<uint64_t>(status);
    hub().emit(std::move(ev));
}

}  // namespace quiesce
