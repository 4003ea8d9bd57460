// Suspend-to-idle (kernel/power/suspend.c s2idle_loop / s2idle_enter,
// drivers/acpi/sleep.c acpi_s2idle_prepare / acpi_s2idle_wake /
// acpi_s2idle_restore, drivers/acpi/x86/s2idle.c's LPS0 _DSM): the devices
// are suspended as for S3, then the platform is never entered. The CPUs stay
// online and go to the idle loop with the tick stopped and timekeeping
// suspended; every device interrupt is suspended but the lines armed with
// enable_irq_wake, whose arrival is a wakeup event. A wakeup the platform
// does not confirm (the SCI fired for an EC event) sends the machine back to
// idle; a real one ends the loop and the resume list runs.
#include "sim/pm/engine.h"
#include "sim/core/sync.h"

#include "sim/kernel/acpi_os.h"
#include "models/cpu/cpu.h"
#include "sim/kernel/kernel.h"

namespace quiesce {

int PmEngine::s2idle_action(const Phase& p, Cpu& cpu) {
    const std::string& a = p.action;
    if (a == "s2idle") return s2idle_loop(cpu);
    if (a == "s2idle-prepare") {
        s_.acpi->s2idle_prepare(cpu, *s_.kernel);
        hub_.instant(track_, "enable_irq_wake", "s2idle", {{"irq", std::to_string(s_.acpi->sci_irq())}, {"owner", "acpi"}});
    } else if (a == "s2idle-restore") {
        s_.acpi->s2idle_restore(cpu, *s_.kernel);
    } else if (a == "lps0") {
        // A platform without an LPS0 device: acpi_s2idle_prepare_late_lps0
        // has nothing to call.
        if (s_.acpi->has_lps0()) s_.acpi->lps0(cpu, p.function);
        else hub_.instant(track_, "lps0-absent", "s2idle", {{"function", p.function}});
    }
    return 0;
}

// s2idle_loop: until the platform's wake check (acpi_s2idle_wake) says the
// wakeup is real, idle again.
int PmEngine::s2idle_loop(Cpu& cpu) {
    for (unsigned round = 0;; ++round) {
        if (s_.kernel->wakeup_count() != wakeups_at_start_) {
            std::string why;
            const bool real = s_.acpi->s2idle_wake(cpu, *s_.kernel, why);
            hub_.instant(track_, "s2idle-wake", "s2idle",
                         {{"result", real ? "wakeup" : "spurious"}, {"reason", why},
                          {"events", std::to_string(s_.kernel->wakeup_count() - wakeups_at_start_)}});
            if (real) break;
            // pm_wakeup_clear + rearm_wake_irq: the SCI may wake us again.
            s_.kernel->pm_wakeup_clear();
            wakeups_at_start_ = s_.kernel->wakeup_count();
            s_.kernel->rearm_wake_irq(cpu, s_.acpi->sci_irq());
        }
        s2idle_enter(cpu);
    }
    result_.resumed = true;  // the machine never left S0: the resume list runs
    return 0;
}

// s2idle_enter: every CPU to the idle loop (wake_up_all_idle_cpus), the
// tick stopped and timekeeping suspended once the last one idles (tick_freeze);
// the PM thread waits until a wakeup event (s2idle_wake from
// pm_system_irq_wakeup). No task runs meanwhile: the frozen ones are frozen,
// and the others' timers do not fire with the tick stopped.
void PmEngine::s2idle_enter(Cpu& cpu) {
    if (s_.kernel->wakeup_count() != wakeups_at_start_) return;  // pm_wakeup_pending: not even once
    hub_.slice_begin(track_, "s2idle-enter", "s2idle");
    for (Cpu* c : s_.kernel->cpus())
        if (c->online()) c->idle_enter("s2idle");
    s_.kernel->halt();
    hub_.instant(track_, "timekeeping_suspend", "s2idle");
    while (s_.kernel->wakeup_count() == wakeups_at_start_) quiesce::wait(s_.kernel->wakeup_ev());
    hub_.instant(track_, "timekeeping_resume", "s2idle");
    s_.kernel->unhalt();
    for (Cpu* c : s_.kernel->cpus())
        if (c->online()) c->idle_exit();
    (void)cpu;
    hub_.slice_end(track_, "s2idle-enter", "s2idle");
}

}  // namespace quiesce
