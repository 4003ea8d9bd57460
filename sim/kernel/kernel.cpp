#include "sim/kernel/kernel.h"

#include "sim/core/errors.h"

namespace quiesce {

Kernel::Kernel(const sc_core::sc_module_name& name, RunContext& ctx, std::vector<Cpu*> cpus, uint64_t heap_base,
               uint64_t heap_size)
    : Module(name, ctx), cpus_(std::move(cpus)), heap_next_(heap_base), heap_end_(heap_base + heap_size) {
    SIM_ASSERT(!cpus_.empty(), "kernel without CPUs");
    hub().declare_track({path(), "", "pm", cpus_[0]->clock().name(), cpus_[0]->clock().hz()});
    SC_THREAD(main_thread);
}

void Kernel::attach_intc(InterruptController& intc, uint64_t mmio_base) {
    intc_ = &intc;
    intc_base_ = mmio_base;
    cpus_[0]->attach(intc, [this](Cpu& cpu, unsigned irq) { irq_entry(cpu, irq); });
}

void Kernel::main_thread() {
    if (program_) program_(boot_cpu());
    sc_core::sc_stop();
}

uint64_t Kernel::alloc(uint64_t size, uint64_t align) {
    uint64_t base = (heap_next_ + align - 1) & ~(align - 1);
    SIM_ASSERT(base + size <= heap_end_, "kernel heap exhausted ({} bytes asked)", size);
    heap_next_ = base + size;
    return base;
}

void Kernel::request_irq(Cpu& cpu, unsigned irq, const std::string& owner, IrqHandler handler) {
    irqs_[irq].actions.emplace_back(owner, std::move(handler));
    set_masked(cpu, irq, false);
}

void Kernel::set_masked(Cpu& cpu, unsigned irq, bool masked) {
    if (!intc_) return;
    uint64_t imr = intc_base_ + InterruptController::IMR;
    uint32_t v = cpu.read32(imr);
    cpu.write32(imr, masked ? (v | (1u << irq)) : (v & ~(1u << irq)));
}

// Linux handle_level_irq + note_interrupt, with IRQS_SUSPENDED: an interrupt
// arriving while device IRQs are suspended is masked and marked pending, and
// replayed by resume_device_irqs.
void Kernel::irq_entry(Cpu& cpu, unsigned irq) {
    IrqDesc& d = irqs_[irq];
    if (irqs_suspended_ || d.actions.empty() || d.disabled) {
        d.pending = irqs_suspended_;
        set_masked(cpu, irq, true);
        if (!irqs_suspended_ && !d.disabled)
            guest_error("irq.spurious", "interrupt with no handler", {{"irq", std::to_string(irq)}});
        return;
    }
    hub().slice_begin(cpu.path(), "irq " + std::to_string(irq), "irq");
    bool handled = false;
    for (auto& [owner, handler] : d.actions) handled |= handler(cpu);
    hub().slice_end(cpu.path(), "irq " + std::to_string(irq), "irq", {{"handled", handled ? "1" : "0"}});
    if (handled) {
        d.unhandled = 0;
    } else if (++d.unhandled >= 1000) {
        d.disabled = true;
        set_masked(cpu, irq, true);
        guest_error("irq.nobody-cared", "interrupt disabled after 1000 unhandled deliveries",
                    {{"irq", std::to_string(irq)}});
    }
}

void Kernel::suspend_device_irqs() {
    irqs_suspended_ = true;
    hub().instant(path(), "suspend_device_irqs", "irq");
}

void Kernel::resume_device_irqs(Cpu& cpu) {
    irqs_suspended_ = false;
    hub().instant(path(), "resume_device_irqs", "irq");
    for (auto& [irq, d] : irqs_) {
        if (d.actions.empty() || d.disabled) continue;
        d.pending = false;
        set_masked(cpu, irq, false);  // the controller re-delivers if the line is still asserted
    }
}

bool Kernel::wait_event(const sc_core::sc_event& ev, Picos timeout) {
    Picos start = now_ps();
    sc_core::wait(from_ps(timeout), ev);
    return now_ps() - start < timeout;
}

}  // namespace quiesce
