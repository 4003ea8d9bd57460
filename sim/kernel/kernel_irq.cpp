// The kernel's interrupt and wakeup half (sim/kernel/kernel.h): request_irq
// with IRQF_NO_SUSPEND / IRQF_COND_SUSPEND, the level-triggered flow with
// IRQS_SUSPENDED, disable/enable/synchronize_irq, suspend_device_irqs and
// resume_device_irqs, wake IRQs and the wakeup-event count.
#include "sim/kernel/kernel.h"
#include "sim/core/sync.h"

#include "sim/core/errors.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <vector>

namespace quiesce {

namespace {
const EventWord kIrq("irq");
// The name of IRQ n's handler slice, "irq n", interned at its first use.
const EventWord& irq_slice(unsigned irq) {
    static std::vector<std::optional<EventWord>> words;
    if (irq >= words.size()) words.resize(irq + 1);
    if (!words[irq]) words[irq].emplace("irq " + std::to_string(irq));
    return *words[irq];
}
}  // namespace

bool Kernel::IrqDesc::no_suspend() const {
    for (const auto& a : actions)
        if (a.flags & kIrqNoSuspend) return true;
    return false;
}

void Kernel::request_irq(Cpu& cpu, unsigned irq, const std::string& owner, IrqHandler handler, unsigned flags) {
    IrqDesc& d = irqs_[irq];
    d.actions.push_back({owner, std::move(handler), flags});
    // irq_pm_install_action: NO_SUSPEND users share a line only with each
    // other or with COND_SUSPEND users; anyone else's handler would run on
    // a suspended device (WARN_ON_ONCE in Linux).
    size_t no_suspend = 0, cond = 0;
    std::string plain;
    for (const auto& a : d.actions) {
        if (a.flags & kIrqNoSuspend) ++no_suspend;
        else if (a.flags & kIrqCondSuspend) ++cond;
        else if (plain.empty()) plain = a.owner;
    }
    if (no_suspend && no_suspend + cond != d.actions.size())
        guest_error("irq.no-suspend-shared",
                    fmt::format("IRQ {} mixes IRQF_NO_SUSPEND with {}, which is neither NO_SUSPEND nor COND_SUSPEND",
                                irq, plain),
                    {{"irq", std::to_string(irq)}, {"owner", owner}, {"plain", plain}});
    if (!line_suspended(d)) set_masked(cpu, irq, false);
}

void Kernel::free_irq(unsigned irq, const std::string& owner) {
    auto it = irqs_.find(irq);
    if (it == irqs_.end()) return;
    auto& a = it->second.actions;
    a.erase(std::remove_if(a.begin(), a.end(), [&](const auto& act) { return act.owner == owner; }), a.end());
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
    const bool suspended = line_suspended(d);
    if (suspended && d.wake && !d.actions.empty()) {
        // A wakeup IRQ while device IRQs are suspended: pm_system_irq_wakeup.
        hub().instant(path(), "irq-wakeup", "irq", {{"irq", std::to_string(irq)}, {"owner", d.actions[0].owner}});
        wakeup_irq_ = int(irq);
        pm_wakeup_event("irq " + std::to_string(irq));
    } else if (suspended && !d.actions.empty()) {
        // Not armed (no enable_irq_wake): it stays pending, disabled, and wakes nothing.
        hub().instant(path(), "irq-suspended", "irq", {{"irq", std::to_string(irq)}, {"owner", d.actions[0].owner}});
    }
    if (suspended || d.actions.empty() || d.disabled || d.depth) {
        d.pending = suspended || d.depth;
        set_masked(cpu, irq, true);
        if (!suspended && !d.disabled && !d.depth)
            guest_error("irq.spurious", "interrupt with no handler", {{"irq", std::to_string(irq)}});
        return;
    }
    hub().slice_begin(cpu.path(), irq_slice(irq), kIrq);
    bool handled = false;
    ++d.running;
    for (auto& [owner, handler, flags] : d.actions) {
        // A line kept live through suspend_device_irqs by a NO_SUSPEND user
        // runs its COND_SUSPEND users' handlers on suspended devices by
        // design: they promised to cope (touch nothing, report a wakeup).
        const bool copes = irqs_suspended_ && (flags & kIrqCondSuspend);
        if (handler_power_ && !copes) {
            HandlerPower p = handler_power_(owner);
            if (!p.why.empty())
                hub().guest_error(p.track, "irq.suspended-handler",
                                  fmt::format("{}'s handler for IRQ {} runs while {}", owner, irq, p.why),
                                  {{"device", owner}, {"irq", std::to_string(irq)}, {"state", p.why}});
        }
        handled |= handler(cpu);
    }
    --d.running;
    quiesce::notify(irq_done_, sc_core::SC_ZERO_TIME);
    hub().slice_end(cpu.path(), irq_slice(irq), kIrq, {{"handled", handled ? "1" : "0"}});
    if (handled) {
        d.unhandled = 0;
    } else if (++d.unhandled >= 1000) {
        d.disabled = true;
        set_masked(cpu, irq, true);
        guest_error("irq.nobody-cared", "interrupt disabled after 1000 unhandled deliveries",
                    {{"irq", std::to_string(irq)}});
    }
}

void Kernel::disable_irq(Cpu& cpu, unsigned irq) {
    IrqDesc& d = irqs_[irq];
    if (d.depth++ == 0) set_masked(cpu, irq, true);
    synchronize_irq(irq);
}

void Kernel::enable_irq(Cpu& cpu, unsigned irq) {
    IrqDesc& d = irqs_[irq];
    if (d.depth == 0) {
        guest_error("irq.unbalanced-enable", "enable_irq of a line that is not disabled", {{"irq", std::to_string(irq)}});
        return;
    }
    if (--d.depth == 0 && !line_suspended(d) && !d.disabled) {
        d.pending = false;
        set_masked(cpu, irq, false);  // a level line still asserted interrupts again
    }
}

void Kernel::synchronize_irq(unsigned irq) {
    while (irqs_[irq].running) quiesce::wait(irq_done_);
}

int Kernel::save_wakeup_count(uint64_t count) {
    events_check_enabled_ = count == wakeup_count_;
    if (events_check_enabled_) saved_wakeup_count_ = count;
    return events_check_enabled_ ? 0 : -22;  // -EINVAL
}

void Kernel::rearm_wake_irq(Cpu& cpu, unsigned irq) {
    IrqDesc& d = irqs_[irq];
    if (!line_suspended(d) || !d.wake) return;
    d.pending = false;
    hub().instant(path(), "rearm_wake_irq", "irq", {{"irq", std::to_string(irq)}});
    set_masked(cpu, irq, false);  // the controller re-delivers if the line is still asserted
}

void Kernel::pm_wakeup_event(const std::string& source) {
    ++wakeup_count_;
    quiesce::notify(wakeup_ev_, sc_core::SC_ZERO_TIME);
    hub().instant(path(), "wakeup-event", "wake", {{"source", source}, {"count", std::to_string(wakeup_count_)}});
}

void Kernel::suspend_device_irqs() {
    irqs_suspended_ = true;
    hub().instant(path(), "suspend_device_irqs", "irq");
}

void Kernel::resume_device_irqs(Cpu& cpu) {
    irqs_suspended_ = false;
    hub().instant(path(), "resume_device_irqs", "irq");
    for (auto& [irq, d] : irqs_) {
        if (d.actions.empty() || d.disabled || d.depth) continue;  // (a disabled line waits for enable_irq)
        d.pending = false;
        set_masked(cpu, irq, false);  // the controller re-delivers if the line is still asserted
    }
}

}  // namespace quiesce
