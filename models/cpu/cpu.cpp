#include "models/cpu/cpu.h"

#include "sim/core/errors.h"
#include "sim/core/memory.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace quiesce {

Cpu::Cpu(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, unsigned index)
    : Component(name, ctx, clock), socket("socket"), index_(index) {
    hub().declare_track({path(), "", "cpu", clock.name(), clock.hz()});
    props().declare("offline_cycles", int64_t(20000), "Cycles to take this core offline (CPU hotplug)");
    props().declare("online_cycles", int64_t(50000), "Cycles to bring this core online (CPU hotplug)");
    props().declare("irq_entry_cycles", int64_t(100), "Interrupt entry: vectoring and register save");
    props().declare("offline_fails", false, "Taking this core offline fails with -EBUSY (CPU hotplug)");
    props().declare("cache_lines", int64_t(512), "Dirty 64-byte lines this core's write-back cache holds");
    props().declare("wbinvd_line_cycles", int64_t(40), "WBINVD: cycles per dirty line written back");
    SC_THREAD(irq_thread);
}

void Cpu::compute(Cycles n) {
    if (n.n) wait_cycles(n);
}

void Cpu::transport(tlm::tlm_generic_payload& tx) {
    InitiatorExt ext;
    ext.name = path();
    tx.set_extension(&ext);
    tx.set_streaming_width(tx.get_data_length());
    tx.set_byte_enable_ptr(nullptr);
    tx.set_dmi_allowed(false);
    tx.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time delay = clock().delay(Cycles(1));
    socket->b_transport(tx, delay);
    tx.clear_extension(&ext);
    last_ok_ = tx.is_response_ok();
    sc_core::wait(delay);  // no temporal decoupling: the access order is exact
}

uint64_t Cpu::read(uint64_t addr, unsigned len) {
    SIM_ASSERT(len >= 1 && len <= 8, "cpu read of {} bytes", len);
    uint64_t v = 0;
    tlm::tlm_generic_payload tx;
    tx.set_command(tlm::TLM_READ_COMMAND);
    tx.set_address(addr);
    tx.set_data_ptr(reinterpret_cast<unsigned char*>(&v));
    tx.set_data_length(len);
    transport(tx);
    return v;
}

void Cpu::attach_memory(PhysicalMemory* memory, std::vector<Cpu*> peers) {
    memory_ = memory;
    peers_.clear();
    for (Cpu* c : peers)
        if (c != this) peers_.push_back(c);
}

void Cpu::cache_write(uint64_t addr, uint64_t len) {
    if (!memory_ || addr + len > memory_->size()) return;  // MMIO is uncached
    // A task whose core went offline in the middle of an operation really
    // continues on another core (Linux migrates it); it leaves nothing dirty
    // in the dead core's cache.
    if (!online_) return;
    for (uint64_t line = addr & ~(kLine - 1); line < addr + len; line += kLine) {
        auto it = lines_.find(line);
        if (it != lines_.end()) {
            lru_.splice(lru_.end(), lru_, it->second.lru);
            continue;
        }
        Line l;
        bool moved = false;
        for (Cpu* peer : peers_) {  // read-for-ownership: the line leaves the other cache, dirty
            auto pit = peer->lines_.find(line);
            if (pit == peer->lines_.end()) continue;
            l.dram = pit->second.dram;
            peer->lru_.erase(pit->second.lru);
            peer->lines_.erase(pit);
            moved = true;
            break;
        }
        if (!moved) memory_->peek(line, l.dram.data(), kLine);
        // Full: write back the least recently written line. (The capacity is
        // looked up on a miss only: a hit, the common case, needs none.)
        if (lines_.size() >= size_t(std::max<int64_t>(1, props().get<int64_t>("cache_lines")))) {
            lines_.erase(lru_.front());
            lru_.pop_front();
        }
        l.lru = lru_.insert(lru_.end(), line);
        lines_.emplace(line, l);
    }
}

void Cpu::snoop_write(uint64_t addr, uint64_t len) {
    if (lines_.empty()) return;
    for (uint64_t line = addr & ~(kLine - 1); line < addr + len; line += kLine) {
        auto it = lines_.find(line);
        if (it == lines_.end()) continue;
        lru_.erase(it->second.lru);
        lines_.erase(it);
    }
}

size_t Cpu::wbinvd() {
    size_t n = lines_.size();
    hub().slice_begin(path(), "wbinvd", "cache", {{"dirty_lines", std::to_string(n)}});
    wait_cycles(Cycles(2'000) + Cycles(uint64_t(props().get<int64_t>("wbinvd_line_cycles")) * n));
    lines_.clear();
    lru_.clear();
    hub().slice_end(path(), "wbinvd", "cache");
    return n;
}

void Cpu::write(uint64_t addr, uint64_t value, unsigned len) {
    SIM_ASSERT(len >= 1 && len <= 8, "cpu write of {} bytes", len);
    cache_write(addr, len);
    tlm::tlm_generic_payload tx;
    tx.set_command(tlm::TLM_WRITE_COMMAND);
    tx.set_address(addr);
    tx.set_data_ptr(reinterpret_cast<unsigned char*>(&value));
    tx.set_data_length(len);
    transport(tx);
}

void Cpu::read_block(uint64_t addr, void* out, unsigned len) {
    tlm::tlm_generic_payload tx;
    tx.set_command(tlm::TLM_READ_COMMAND);
    tx.set_address(addr);
    tx.set_data_ptr(static_cast<unsigned char*>(out));
    tx.set_data_length(len);
    transport(tx);
}

void Cpu::write_block(uint64_t addr, const void* in, unsigned len) {
    cache_write(addr, len);
    tlm::tlm_generic_payload tx;
    tx.set_command(tlm::TLM_WRITE_COMMAND);
    tx.set_address(addr);
    tx.set_data_ptr(const_cast<unsigned char*>(static_cast<const unsigned char*>(in)));
    tx.set_data_length(len);
    transport(tx);
}

void Cpu::local_irq_disable() {
    if (!irqs_enabled_) return;
    irqs_enabled_ = false;
    hub().instant(path(), "local_irq_disable", "cpu");
}

void Cpu::local_irq_enable() {
    if (irqs_enabled_) return;
    irqs_enabled_ = true;
    hub().instant(path(), "local_irq_enable", "cpu");
    state_changed_.notify(sc_core::SC_ZERO_TIME);
}

int Cpu::go_offline() {
    SIM_ASSERT(online_, "{} offlined twice", path());
    hub().slice_begin(path(), "offline", "hotplug");
    if (props().get<bool>("offline_fails")) {  // e.g. an interrupt or a bound task that cannot move
        wait_cycles(Cycles(prop_cycles("offline_cycles").n / 2));
        hub().slice_end(path(), "offline", "hotplug", {{"result", "-EBUSY"}});
        return -16;
    }
    wbinvd();  // play_dead: the dying core writes its cache back before it halts
    wait_cycles(prop_cycles("offline_cycles"));
    online_ = false;
    hub().slice_end(path(), "offline", "hotplug");
    return 0;
}

void Cpu::go_online() {
    SIM_ASSERT(!online_, "{} onlined twice", path());
    hub().slice_begin(path(), "online", "hotplug");
    wait_cycles(prop_cycles("online_cycles"));
    online_ = true;
    irqs_enabled_ = true;
    hub().slice_end(path(), "online", "hotplug");
    state_changed_.notify(sc_core::SC_ZERO_TIME);
}

void Cpu::lose_context(bool memory_retained) {
    if (memory_retained && !lines_.empty() && memory_) {
        // The data of every dirty line never reaches DRAM: memory keeps what DRAM held.
        std::vector<uint64_t> lost(lru_.begin(), lru_.end());
        std::string first;
        for (size_t i = 0; i < lost.size(); ++i) {
            memory_->poke(lost[i], lines_.at(lost[i]).dram.data(), kLine, path() + " cache loss");
            if (i < 8) first += fmt::format("{}{:#x}", i ? "," : "", lost[i]);
        }
        hub().guest_error(path(), "cache.lost-dirty-lines",
                          fmt::format("{} dirty cache line(s) lost when power was removed (first: {})", lost.size(),
                                      first),
                          {{"lines", std::to_string(lost.size())}, {"first", first}});
    }
    lines_.clear();
    lru_.clear();
    irqs_enabled_ = false;
    online_ = false;
    started_ = false;
    start_vector_ = 0;
    hub().instant(path(), "context-lost", "power");
}

void Cpu::start_at(uint64_t vector) {
    start_vector_ = vector;
    started_ = true;
    online_ = true;
    irqs_enabled_ = false;  // firmware hands over with interrupts off
    hub().instant(path(), "start", "power", {{"vector", fmt::format("{:#x}", vector)}});
    started_ev_.notify(sc_core::SC_ZERO_TIME);
}

void Cpu::power_on_reset() {
    online_ = true;
    irqs_enabled_ = false;
    hub().instant(path(), "reset", "power");
    state_changed_.notify(sc_core::SC_ZERO_TIME);
}

uint64_t Cpu::wait_for_start() {
    while (!started_) sc_core::wait(started_ev_);
    return start_vector_;
}

void Cpu::attach(InterruptController& intc, IrqEntry entry) {
    intc_ = &intc;
    irq_entry_ = std::move(entry);
}

// Interrupt delivery: whenever an unmasked input is asserted and this core is
// online with interrupts enabled, enter the OS's handler. Only the boot CPU
// receives device interrupts (fixed affinity).
void Cpu::irq_thread() {
    if (index_ != 0) return;
    for (;;) {
        int irq = intc_ ? intc_->pending() : -1;
        if (irq < 0 || !online_ || !irqs_enabled_ || !irq_entry_) {
            if (intc_) sc_core::wait(intc_->changed() | state_changed_);
            else sc_core::wait(state_changed_);
            continue;
        }
        in_irq_ = true;
        wait_cycles(prop_cycles("irq_entry_cycles"));
        irq_entry_(*this, unsigned(irq));
        in_irq_ = false;
        wait_cycles(Cycles(50));   // iret
    }
}

}  // namespace quiesce
