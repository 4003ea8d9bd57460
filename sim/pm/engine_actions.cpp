// What each phase action does (run_phase): firmware, the platform's sleep entry and the wake from it, ACPI NVS,
// the freezer, the image, IRQs, syscore and CPUs; and a power loss in the middle of the transition.
#include "sim/pm/engine.h"
#include "sim/core/sync.h"

#include "sim/kernel/acpi_os.h"
#include "models/cpu/cpu.h"
#include "sim/core/errors.h"
#include "sim/kernel/kernel.h"
#include "sim/pm/engine_detail.h"
#include "sim/pm/runtime.h"

#include <fmt/format.h>

namespace quiesce {

using engine_detail::kResumedFromImage;

namespace {
constexpr uint64_t kContextMagic = 0x51554945534345ULL;  // "QUIESCE"
}  // namespace

// The machine loses power in the middle of the transition. This kernel stops
// where it is; whatever boots next decides: a restore kernel that finds an
// image jumps back into it (as after S4), otherwise the machine boots afresh.
int PmEngine::power_lost(Cpu& cpu, const FaultSpec& cut) {
    hub_.instant(track_, "power-lost", "pm");
    s_.kernel->halt();
    s_.power_cut(cut);
    return wait_for_power(cpu);
}

// After a power loss: firmware starts the boot CPU again. A restore kernel
// that finds the image jumps back into it (as after S4): 0; otherwise the
// machine booted afresh: -1.
int PmEngine::wait_for_power(Cpu& cpu) {
    result_.slept = true;
    result_.power_lost = true;
    uint64_t vector = cpu.wait_for_start();
    if (protocol_.target == 4 && vector == s_.image_restore_point && cpu.read64(s_.context_area) == kContextMagic) {
        if (s_.image_restored) s_.image_restored(cpu);
        not_restored_.clear();  // what the thaw after the snapshot found: a timeline the image undid
        s_.kernel->unhalt();
        result_.resumed = true;
        return 0;
    }
    hub_.instant(track_, "resume-failed", "pm", {{"reason", "power was lost; the machine booted without the image"}});
    return -1;
}

int PmEngine::freeze_stage(Task::Kind kind) {
    std::string refused;
    int rc = s_.kernel->freeze(kind, s_.freeze_timeout, refused);
    if (rc != 0) {  // the freezer has thawed everything again
        hub_.instant(track_, "freeze-failed", "pm", {{"refused", refused}});
        result_.failed_device = refused;
    }
    return rc;
}

void PmEngine::save_processor_state(Cpu& cpu) {
    cpu.write64(s_.context_area, kContextMagic);
    cpu.write64(s_.context_area + 8, cpu.index());
}

int PmEngine::platform_enter(Cpu& cpu) {
    // acpi_enter_sleep_state: no SLP_TYP from the DSDT's _Sx, no sleep
    // (AE_AML_OPERAND_VALUE; acpi_suspend_enter returns -EFAULT).
    if (!s_.acpi->can_enter(protocol_.target)) {
        hub_.instant(track_, "sleep-values-invalid", "pm", {{"state", std::to_string(protocol_.target)}});
        return -14;
    }
    // S3: the context the trampoline will check and reload. S4: it was saved
    // before the snapshot and comes back with the image.
    if (protocol_.target == 3) save_processor_state(cpu);
    result_.slept = true;
    s_.kernel->halt();  // the CPUs stop: no task runs while the platform sleeps
    if (s_.sleep_entered) s_.sleep_entered();
    // The start firmware gave this CPU when it last woke is not this sleep's:
    // from SLP_EN it waits for the next one (a second cycle would otherwise
    // run on at once, while the platform powers down under it).
    cpu.forget_start();
    uint64_t vector = s_.acpi->enter(cpu, protocol_.target, s_.kernel->props().get<bool>("acpi_flush_cpu_cache"),
                                     s_.kernel->props().get<bool>("acpi_gts_bfs"));
    uint64_t expected = protocol_.target == 4 ? s_.image_restore_point : s_.trampoline;
    if (protocol_.target == 4 && vector != expected) {
        hub_.instant(track_, "resume-failed", "pm", {{"reason", "the restore kernel did not restore the image"}});
        return -1;
    }
    if (vector != expected) {
        hub_.instant(track_, "resume-failed", "pm",
                     {{"reason", vector == 0 ? "firmware cold-booted (no waking vector)"
                                             : fmt::format("CPU started at {:#x}, not at the kernel's trampoline", vector)}});
        return -1;
    }
    if (cpu.read64(s_.context_area) != kContextMagic) {
        hub_.instant(track_, "resume-failed", "pm", {{"reason", "saved processor context is corrupt"}});
        return -1;
    }
    if (protocol_.target == 4 && s_.image_restored) {
        s_.image_restored(cpu);
        not_restored_.clear();  // what the thaw after the snapshot found: a timeline the image undid
    }
    // Still one CPU, interrupts off: acpi_leave_sleep_state_prep.
    s_.acpi->leave_prep(cpu, protocol_.target, s_.kernel->props().get<bool>("acpi_gts_bfs"));
    s_.kernel->unhalt();
    result_.resumed = true;
    return 0;
}

int PmEngine::run_phase(const Phase& p, Cpu& cpu, std::set<std::string>* succeeded,
                        const std::set<std::string>* only, bool stop_on_error) {
    using A = PhaseAction;
    const PhaseAction a = phase_action_of(p.action);  // one lookup, not a compare per action
    unsigned target = protocol_.target;
    if (a == A::Callbacks) return run_callbacks(p, cpu, succeeded, only, stop_on_error);
    if (a == A::S2idle || a == A::S2idlePrepare || a == A::S2idleRestore || a == A::Lps0) return s2idle_action(p, cpu);
    if (a == A::Firmware) {
        unsigned arg = p.arg < 0 ? target : unsigned(p.arg);
        if (p.method == "_TTS") s_.acpi->begin(cpu, arg);
        else if (p.method == "_PTS") s_.acpi->prepare(cpu, arg, s_.trampoline);
        else s_.acpi->finish(cpu, arg);
        return 0;
    }
    if (a == A::PlatformBegin) s_.acpi->begin(cpu, target);
    else if (a == A::PlatformPrepare) s_.acpi->prepare(cpu, target, s_.trampoline);
    else if (a == A::PlatformEnter) {
        // From SLP_EN on the machine is the firmware's: a power failure then
        // is the sleep itself (S4, S5) or wakes nothing different (S3).
        bool async = s_.faults && s_.faults->async_power();
        if (async) s_.faults->set_async_power(false);
        int rc = platform_enter(cpu);
        if (async) s_.faults->set_async_power(true);
        return rc;
    }
    else if (a == A::PlatformFinish) s_.acpi->finish(cpu, target);
    else if (a == A::PlatformEnd) s_.acpi->end(cpu);
    // ACPI NVS (drivers/acpi/nvs.c): kernel pages for a copy, the copy after
    // _PTS, the copy back right after the wake, the pages freed.
    else if (a == A::NvsAlloc) return s_.acpi->nvs_alloc(cpu, *s_.kernel, target);
    else if (a == A::NvsSave) s_.acpi->nvs_save(cpu, *s_.kernel);
    else if (a == A::NvsRestore) s_.acpi->nvs_restore(cpu, *s_.kernel);
    else if (a == A::NvsFree) s_.acpi->nvs_free(*s_.kernel);
    else if (a == A::Revoke) {
        // galibert-explicit: the devices that could not restore their state
        // lose every process handle (revoke()): their users get EBADF.
        for (const auto& name : not_restored_) s_.kernel->revoke_handles(name);
        not_restored_.clear();
        // ... and for paths: every open file read again from the disk; a
        // file gone or changed since the snapshot (another OS wrote it while
        // the machine was off) loses its handles, and its stale page cache
        // and metadata are dropped instead of written back over the change.
        s_.kernel->revalidate_files(cpu);
        return 0;
    }
    else if (a == A::Run) {
        // The system keeps running (tasks, I/O, a user running hdparm) while
        // the PM thread waits: the time between Linus's save_state and suspend.
        quiesce::wait(from_ps(p.duration));
        return 0;
    }
    else if (a == A::Sync) {
        // ksys_sync_helper returns nothing: a write error is the page's (it
        // stays dirty, fsync reports it) and never stops the suspend.
        int rc = s_.sync ? s_.sync(cpu) : 0;
        if (rc) hub_.instant(track_, "sync-error", "pm", {{"rc", std::to_string(rc)}});
        return 0;
    }
    else if (a == A::Preallocate) return s_.preallocate ? s_.preallocate(cpu) : -22;
    else if (a == A::Snapshot) {
        if (!s_.snapshot) return -22;
        save_processor_state(cpu);  // swsusp_arch_suspend saves it into the image
        return s_.snapshot(cpu);
    }
    else if (a == A::KexecSave) {
        // kexec-s4: the processor context goes into the image with the
        // rest; the save kernel writes it and returns here (resume point A).
        if (!s_.kexec_save) return -22;
        save_processor_state(cpu);
        return s_.kexec_save(cpu);
    }
    else if (a == A::WriteImage) {
        if (!s_.write_image) return -22;
        int rc = s_.write_image(cpu);
        if (rc == kPowerLost) return power_lost(cpu, *s_.faults->last_fired()) == 0 ? kResumedFromImage : -1;
        return rc;
    }
    else if (a == A::FreezeTasks || a == A::FreezeUserTasks) {
        // suspend_prepare / hibernate: the PM notifiers, then the freezer -
        // user tasks, then (suspend) freezable kernel threads. A freezer
        // failure thaws and sends POST itself (the phase undid what it did).
        if (int rc = notify_prepare(cpu)) return rc;
        int rc = freeze_stage(Task::Kind::User);
        if (!rc && a == A::FreezeTasks) rc = freeze_stage(Task::Kind::KThread);
        if (!rc && a == A::FreezeTasks && s_.runtime) s_.runtime->freeze_workqueue(true);  // freezable pm_wq
        if (rc) notify_post(cpu, s_.notifiers.size());
        return rc;
    }
    else if (a == A::FreezeKernelThreads) {
        int rc = freeze_stage(Task::Kind::KThread);
        if (!rc && s_.runtime) s_.runtime->freeze_workqueue(true);
        return rc;
    }
    else if (a == A::ThawTasks) {
        s_.kernel->thaw_all();
        if (s_.runtime) s_.runtime->freeze_workqueue(false);  // thaw_workqueues
        notify_post(cpu, s_.notifiers.size());  // suspend_finish / hibernate's Exit: after the thaw
    }
    else if (a == A::SuspendDeviceIrqs) s_.kernel->suspend_device_irqs();
    else if (a == A::ResumeDeviceIrqs) s_.kernel->resume_device_irqs(cpu);
    else if (a == A::RestrictGfp) s_.kernel->restrict_gfp(true);   // pm_restrict_gfp_mask
    else if (a == A::RestoreGfp) s_.kernel->restrict_gfp(false);   // pm_restore_gfp_mask
    else if (a == A::IrqsOff) {
        cpu.local_irq_disable();
        // The only online CPU with interrupts off runs nothing else: no task
        // is scheduled until interrupts come back on.
        bool alone = true;
        for (Cpu* c : s_.kernel->cpus()) alone = alone && (c == &cpu || !c->online());
        if (alone) s_.kernel->halt();
    } else if (a == A::IrqsOn) {
        cpu.local_irq_enable();
        s_.kernel->unhalt();
    }
    else if (a == A::SyscoreSuspend) { if (s_.syscore_suspend) s_.syscore_suspend(cpu); }
    else if (a == A::SyscoreResume) { if (s_.syscore_resume) s_.syscore_resume(cpu); }
    else if (a == A::CpusOffline) {
        // freeze_secondary_cpus: on a failure the ones already down come back.
        std::vector<Cpu*> down;
        for (Cpu* c : s_.kernel->cpus()) {
            if (c->index() == 0 || !c->online()) continue;
            if (int rc = c->go_offline()) {
                hub_.instant(track_, "cpu-offline-failed", "pm", {{"cpu", c->path()}, {"rc", std::to_string(rc)}});
                for (Cpu* d : down) d->go_online();
                return rc;
            }
            down.push_back(c);
        }
    } else if (a == A::CpusOnline) {
        for (Cpu* c : s_.kernel->cpus())
            if (c->index() != 0 && !c->online()) c->go_online();
    } else {
        SIM_PANIC("unvalidated action {}", p.action);
    }
    return 0;
}

}  // namespace quiesce
