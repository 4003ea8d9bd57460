// A PCI function: configuration space, PM states and their effect on its registers and DMA.
#include "models/pci/function.h"

#include "models/pci/bus.h"
#include "models/pci/host_bridge.h"
#include "sim/core/errors.h"
#include "sim/fault/fault_plan.h"

#include <cstring>

namespace quiesce {

using namespace pci;

const char* to_string(DState d) {
    switch (d) {
        case DState::D0: return "D0";
        case DState::D1: return "D1";
        case DState::D2: return "D2";
        case DState::D3hot: return "D3hot";
        case DState::D3cold: return "D3cold";
    }
    return "?";
}

namespace {
constexpr Picos kD3hotDelay = 10'000'000'000ULL;  // 10 ms, PCI PM 1.1 §5.6.1
}

PciFunction::PciFunction(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
                         const HeaderIdent& ident)
    : Component(name, ctx, clock), ident_(ident), config_(path() + ".config", &ctx.hub) {
    dma_ext_.name = path();
    declare_header(config_, ident_);
    command_ = &config_.reg("COMMAND");
    for (unsigned i = 0; i < bar_count(ident_.bridge); ++i) bars_.at(i) = &config_.reg("BAR" + std::to_string(i));
    config_.reg("PMCSR").on_write([this](Register& r, uint64_t old, uint64_t) {
        on_pmcsr_write(r, old);
        update_pme();
    });
    config_.reg("COMMAND").on_write([this](Register&, uint64_t, uint64_t) { route_intx(); });
    config_.reg("STATUS").on_read([this](const Register& r) {
        return (r.value() & ~uint64_t(STS_INTERRUPT)) | (intx_level_ ? STS_INTERRUPT : 0);
    });
}

void PciFunction::attach(PciBus* bus, uint8_t devfn) {
    bus_ = bus;
    devfn_ = devfn;
}

uint32_t PciFunction::bar_base(unsigned i) const {
    if (i >= bar_count(ident_.bridge) || ident_.bar_size[i] == 0) return 0;
    return uint32_t(bars_[i]->value()) & ~0xfu;
}

bool PciFunction::recovering() const { return now_ps() < ready_at_; }

void PciFunction::config_access(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay, uint32_t reg) {
    unsigned len = tx.get_data_length();
    tx.set_response_status(tlm::TLM_OK_RESPONSE);
    // Handled when the access completes; one the power cut short is not.
    const bool completed = complete(delay, Cycles(4));
    if (!completed || !powered() || recovering()) {
        // No response: the host bridge completes with all ones.
        if (tx.is_read()) std::memset(tx.get_data_ptr(), 0xff, len);
        if (completed && recovering())
            guest_error("pci.d3-recovery", "config access before the 10 ms D3hot->D0 recovery time elapsed",
                        {{"reg", std::to_string(reg)}});
        return;
    }
    if (tx.is_read()) {
        uint64_t v = config_.read(reg, len, initiator_of(tx));
        std::memcpy(tx.get_data_ptr(), &v, len);
    } else {
        uint64_t v = 0;
        std::memcpy(&v, tx.get_data_ptr(), len);
        config_.write(reg, len, v, initiator_of(tx));
    }
}

bool PciFunction::decodes(uint64_t addr) const {
    if (!(command() & CMD_MEMORY)) return false;
    for (unsigned i = 0; i < bar_count(ident_.bridge); ++i) {
        uint32_t size = ident_.bar_size[i], base = bar_base(i);
        if (size && base && addr >= base && addr - base < size) return true;
    }
    return false;
}

void PciFunction::mmio(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    uint64_t addr = tx.get_address();
    if (dstate_ != DState::D0 || recovering()) {
        if (tx.is_read()) std::memset(tx.get_data_ptr(), 0xff, tx.get_data_length());
        tx.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
        guest_error("io.suspended-device", "MMIO reached a function that is not in D0",
                    {{"kind", "mmio"}, {"addr", fmt::format("{:#x}", addr)}, {"dstate", to_string(dstate_)},
                     {"access", tx.is_read() ? "read" : "write"}, {"initiator", initiator_of(tx)}});
        return;
    }
    for (unsigned i = 0; i < bar_count(ident_.bridge); ++i) {
        uint32_t size = ident_.bar_size[i], base = bar_base(i);
        if (size && base && addr >= base && addr - base < size) {
            bar_access(i, addr - base, tx, delay);
            return;
        }
    }
    SIM_PANIC("{}: mmio at {:#x} not decoded", path(), addr);
}

void PciFunction::bar_access(unsigned, uint64_t, tlm::tlm_generic_payload& tx, sc_core::sc_time&) {
    if (tx.is_read()) std::memset(tx.get_data_ptr(), 0xff, tx.get_data_length());
    tx.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
}

bool PciFunction::dma(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    std::string why;
    if (!powered() || dstate_ != DState::D0) why = std::string("function is in ") + to_string(dstate_);
    else if (!(command() & CMD_MASTER)) why = "bus mastering is disabled";
    if (!why.empty()) {
        guest_error(dstate_ == DState::D0 ? "pci.dma-blocked" : "io.suspended-device",
                    "device DMA not issued: " + why,
                    {{"kind", "dma"}, {"addr", fmt::format("{:#x}", tx.get_address())}});
        tx.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
        return false;
    }
    SIM_ASSERT(bus_, "{} has no bus", path());
    return bus_->upstream_dma(*this, tx, delay);
}

bool PciFunction::dma_buffer(uint64_t addr, void* buf, unsigned len, bool write, sc_core::sc_time& delay) {
    // An access every hop lets through - this function powered, in D0 and
    // bus mastering (dma()'s conditions), each bridge up forwarding
    // (PciBus::direct_route), the RAM's direct path at the top - goes there
    // without a payload: the same delays, the same direct access, nothing
    // reported on the way. Anything else takes dma(), which says why not.
    if (powered() && dstate_ == DState::D0 && (command() & CMD_MASTER) && bus_) {
        sc_core::sc_time t = delay;
        if (PciHostBridge* host = bus_->direct_route(t); host && host->ram_covers(addr, len)) {
            host->ram_access(write, addr, static_cast<unsigned char*>(buf), len, path(), t);
            delay = t;
            return true;
        }
    }
    PayloadPool::Lease lease(dma_payloads_);  // given back however dma() leaves
    tlm::tlm_generic_payload& tx = *lease;
    tx.set_extension(&dma_ext_);
    struct Detach {  // the extension is this function's: off the payload before it goes back
        tlm::tlm_generic_payload& tx;
        InitiatorExt* ext;
        ~Detach() { tx.clear_extension(ext); }
    } detach{tx, &dma_ext_};
    tx.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
    tx.set_address(addr);
    tx.set_data_ptr(static_cast<unsigned char*>(buf));
    tx.set_data_length(len);
    tx.set_streaming_width(len);
    // What a new payload holds, but for the fields set here.
    tx.set_byte_enable_ptr(nullptr);
    tx.set_byte_enable_length(0);
    tx.set_dmi_allowed(false);
    tx.set_gp_option(tlm::TLM_MIN_PAYLOAD);
    tx.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    return dma(tx, delay) && tx.is_response_ok();
}

void PciFunction::set_intx(bool level) {
    intx_level_ = level;
    route_intx();
}

bool PciFunction::intx_output() const {
    return intx_level_ && powered() && ident_.int_pin != 0 && !(command() & CMD_INTX_DISABLE);
}

void PciFunction::route_intx() {
    bool out = intx_output();
    if (out == intx_routed_ || !bus_) return;
    intx_routed_ = out;
    bus_->route_intx(*this, ident_.int_pin, out);
}

void PciFunction::on_pmcsr_write(Register& r, uint64_t old) {
    auto from = DState(old & PMCSR_STATE_MASK);
    auto to = DState(r.value() & PMCSR_STATE_MASK);
    if (to == DState::D1 || to == DState::D2) {
        // Not supported by PMC: the write of the state field is ignored.
        r.set((r.value() & ~uint64_t(PMCSR_STATE_MASK)) | (old & PMCSR_STATE_MASK));
        return;
    }
    if (from == to) return;
    dstate_ = to;
    hub().counter(path(), "dstate", double(int(to)));
    hub().instant(path(), std::string("pci.") + to_string(from) + "->" + to_string(to), "power");
    if (from == DState::D3hot && to == DState::D0) {
        ready_at_ = clock().next_edge_ps(now_ps() + kD3hotDelay);
        // A function that advertises No_Soft_Reset may still reset (an
        // erratum): the bar-loss fault.
        if (!(r.value() & PMCSR_NO_SOFT_RESET) || fault("bar-loss")) {
            // "D0 uninitialized": internal reset. PME context survives.
            uint64_t pme_bits = r.value() & (PMCSR_PME_EN | PMCSR_PME_STATUS);
            reset_config();
            config_.reg("PMCSR").set(config_.reg("PMCSR").value() | pme_bits);
            soft_reset();
            hub().instant(path(), "soft-reset", "power");
        }
    } else if (to == DState::D3hot) {
        ready_at_ = clock().next_edge_ps(now_ps() + kD3hotDelay);
    }
    route_intx();
    dstate_changed(from, to);
}

void PciFunction::set_multi_function() {
    multi_function_ = true;
    Register& h = config_.reg("HEADER_TYPE");
    h.set(h.value() | pci::HEADER_MULTI_FUNCTION);
}

void PciFunction::reset_config() {
    config_.reset();
    if (multi_function_) set_multi_function();
    intx_level_ = false;
    update_pme();
}

void PciFunction::update_pme() {
    uint64_t pmcsr = config_.reg("PMCSR").value();
    pme.set((pmcsr & PMCSR_PME_EN) && (pmcsr & PMCSR_PME_STATUS));
}

void PciFunction::signal_pme() {
    if (!powered()) return;
    Register& r = config_.reg("PMCSR");
    r.set(r.value() | PMCSR_PME_STATUS);
    hub().instant(path(), "pme", "wake", {{"pme_en", (r.value() & PMCSR_PME_EN) ? "1" : "0"}});
    update_pme();
}

void PciFunction::power_off() {
    if (!powered()) return;
    DState from = dstate_;
    dstate_ = DState::D3cold;
    route_intx();
    reset_config();
    function_reset();
    hub().counter(path(), "dstate", double(int(DState::D3cold)));
    hub().instant(path(), "power-off", "power");
    dstate_changed(from, DState::D3cold);
}

void PciFunction::power_on() {
    if (powered()) return;
    dstate_ = DState::D0;
    ready_at_ = clock().next_edge_ps(now_ps() + 100'000'000'000ULL);  // D3cold->D0: 100 ms before config access
    reset_config();
    function_reset();
    hub().counter(path(), "dstate", 0);
    hub().instant(path(), "power-on", "power");
    dstate_changed(DState::D3cold, DState::D0);
}

}  // namespace quiesce
