// The PCI host bridge: the ECAM window, the memory window and the PIRQ routing register.
#include "models/pci/host_bridge.h"

#include "sim/core/errors.h"

#include <fmt/format.h>

#include <cstring>

namespace quiesce {

using namespace pci;

namespace {
HeaderIdent host_ident() {
    HeaderIdent id;
    id.vendor = 0x8086;
    id.device = 0x29c0;
    id.class_code = 0x060000;  // host bridge
    id.no_soft_reset = true;
    return id;
}
}  // namespace

PciHostBridge::PciHostBridge(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
                             InterruptController& intc)
    : PciFunction(name, ctx, clock, host_ident()), ecam_socket("ecam_socket"), mmio_socket("mmio_socket"),
      dma_socket("dma_socket"), intc_(intc), root_(this, nullptr) {
    ecam_socket.register_b_transport(this, &PciHostBridge::ecam);
    mmio_socket.register_b_transport(this, &PciHostBridge::window);
    for (unsigned i = 0; i < 4; ++i) {
        pirq_rout_[i] = &config()
            .add({.name = fmt::format("PIRQ{}_ROUT", char('A' + i)), .offset = PIRQ_ROUT + i, .width = 1,
                  .reset = ROUT_DISABLE, .rsvd = 0x70, .cls = StateClass::Hardware,
                  .doc = "PIRQ route control: bits 3:0 platform IRQ, bit 7 disable"})
            .on_write([this](Register&, uint64_t, uint64_t) { update_irqs(); });
    }
    root_.add(*this, 0);
    hub().declare_track({path(), "", "device", clock.name(), clock.hz()});
}

void PciHostBridge::ecam(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    uint64_t off = tx.get_address();
    unsigned bus = unsigned(off >> 20) & 0xff;
    uint8_t devfn = uint8_t(off >> 12);
    uint32_t reg = uint32_t(off & 0xfff);
    delay += clock().delay(Cycles(2));
    if (reg >= 0x100 || !root_.config(bus, devfn, reg, tx, delay)) {
        // No function answers: the host bridge completes reads with all ones.
        if (tx.is_read()) std::memset(tx.get_data_ptr(), 0xff, tx.get_data_length());
        tx.set_response_status(tlm::TLM_OK_RESPONSE);
    }
}

void PciHostBridge::window(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    delay += clock().delay(Cycles(2));
    if (root_.mmio(tx, delay)) return;
    if (tx.is_read()) std::memset(tx.get_data_ptr(), 0xff, tx.get_data_length());
    tx.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    guest_error("pci.master-abort", "no PCI function claims the address",
                {{"addr", fmt::format("{:#x}", tx.get_address())}, {"initiator", initiator_of(tx)}});
}

bool PciHostBridge::dma_to_memory(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    if (ram_.covers(tx.get_address(), tx.get_data_length())) {
        ram_access(tx.is_write(), tx.get_address(), tx.get_data_ptr(), tx.get_data_length(), initiator_of(tx), delay);
        tx.set_response_status(tlm::TLM_OK_RESPONSE);
        return true;
    }
    delay += clock().delay(Cycles(2));
    dma_socket->b_transport(tx, delay);
    return tx.is_response_ok();
}

void PciHostBridge::ram_access(bool write, uint64_t addr, unsigned char* data, unsigned len,
                               const std::string& initiator, sc_core::sc_time& delay) {
    Picos d = to_ps(delay) + clock().delay_ps(Cycles(2));
    sysbus_->direct_access(write, addr, data, len, initiator, d);
    delay = d ? from_ps(d) : sc_core::SC_ZERO_TIME;
}

void PciHostBridge::set_pirq_source(const void* source, unsigned pirq, bool level) {
    SIM_ASSERT(pirq < 4, "pirq {} out of range", pirq);
    if (level) asserted_[source] = pirq;
    else asserted_.erase(source);
    if (level && pirq_irq(pirq) < 0)  // nowhere to deliver it: no handler will ever see it
        hub().guest_error(path(), "irq.lost",
                          fmt::format("an interrupt on PIRQ{} was raised while its route is disabled", char('A' + pirq)),
                          {{"pirq", std::string(1, char('A' + pirq))},
                           {"route", fmt::format("{:#x}", pirq_rout_[pirq]->value())}});
    update_irqs();
}

int PciHostBridge::pirq_irq(unsigned pirq) const {
    SIM_ASSERT(pirq < 4, "pirq {} out of range", pirq);
    uint64_t v = pirq_rout_[pirq]->value();
    if (v & ROUT_DISABLE) return -1;
    return int(v & 0x0f);
}

void PciHostBridge::update_irqs() {
    uint32_t want = 0;
    for (const auto& [src, pirq] : asserted_) {
        int irq = pirq_irq(pirq);
        if (irq >= 0) want |= 1u << irq;
    }
    for (unsigned n = 0; n < 16; ++n) {
        bool was = (driven_ >> n) & 1, now = (want >> n) & 1;
        if (was != now) intc_.set_input(n, now);
    }
    driven_ = want;
}

}  // namespace quiesce
