// A phase's action and the PM callbacks by name, resolved once: their ids, a callback's event and level.
#include "sim/pm/pm_ids.h"

#include "sim/core/lexicon.h"

namespace quiesce {

PhaseAction phase_action_of(std::string_view name) {
    using A = PhaseAction;
    static const Lexicon<A> actions = {
        {"callbacks", A::Callbacks},
        {"firmware", A::Firmware},
        {"platform-begin", A::PlatformBegin},
        {"platform-prepare", A::PlatformPrepare},
        {"platform-enter", A::PlatformEnter},
        {"platform-finish", A::PlatformFinish},
        {"platform-end", A::PlatformEnd},
        {"suspend-device-irqs", A::SuspendDeviceIrqs},
        {"resume-device-irqs", A::ResumeDeviceIrqs},
        {"cpus-offline", A::CpusOffline},
        {"cpus-online", A::CpusOnline},
        {"irqs-off", A::IrqsOff},
        {"irqs-on", A::IrqsOn},
        {"syscore-suspend", A::SyscoreSuspend},
        {"syscore-resume", A::SyscoreResume},
        {"sync", A::Sync},
        {"freeze-tasks", A::FreezeTasks},
        {"thaw-tasks", A::ThawTasks},
        {"preallocate", A::Preallocate},
        {"snapshot", A::Snapshot},
        {"write-image", A::WriteImage},
        {"freeze-user-tasks", A::FreezeUserTasks},
        {"freeze-kernel-threads", A::FreezeKernelThreads},
        {"restrict-gfp", A::RestrictGfp},
        {"restore-gfp", A::RestoreGfp},
        {"run", A::Run},
        {"revoke", A::Revoke},
        {"kexec-save", A::KexecSave},
        {"nvs-alloc", A::NvsAlloc},
        {"nvs-save", A::NvsSave},
        {"nvs-restore", A::NvsRestore},
        {"nvs-free", A::NvsFree},
        {"s2idle-prepare", A::S2idlePrepare},
        {"s2idle-restore", A::S2idleRestore},
        {"lps0", A::Lps0},
        {"s2idle", A::S2idle}};
    return actions(name);
}

PmCallback pm_callback_of(std::string_view name) {
    using C = PmCallback;
    static const Lexicon<C> callbacks = {
        {"save_state", C::SaveState},         {"prepare", C::Prepare},
        {"complete", C::Complete},            {"suspend", C::Suspend},
        {"suspend_late", C::SuspendLate},     {"suspend_noirq", C::SuspendNoirq},
        {"resume_noirq", C::ResumeNoirq},     {"resume_early", C::ResumeEarly},
        {"resume", C::Resume},                {"freeze", C::Freeze},
        {"freeze_late", C::FreezeLate},       {"freeze_noirq", C::FreezeNoirq},
        {"thaw_noirq", C::ThawNoirq},         {"thaw_early", C::ThawEarly},
        {"thaw", C::Thaw},                    {"poweroff", C::Poweroff},
        {"poweroff_late", C::PoweroffLate},   {"poweroff_noirq", C::PoweroffNoirq},
        {"restore_noirq", C::RestoreNoirq},   {"restore_early", C::RestoreEarly},
        {"restore", C::Restore},              {"save_explicit", C::SaveExplicit},
        {"restore_explicit", C::RestoreExplicit}, {"runtime_suspend", C::RuntimeSuspend},
        {"runtime_resume", C::RuntimeResume}, {"runtime_idle", C::RuntimeIdle}};
    return callbacks(name);
}

char pm_event_of(PmCallback cb) {
    using C = PmCallback;
    switch (cb) {
        case C::Suspend: case C::SuspendLate: case C::SuspendNoirq: return 'S';
        case C::Freeze: case C::FreezeLate: case C::FreezeNoirq: return 'F';
        case C::Poweroff: case C::PoweroffLate: case C::PoweroffNoirq: return 'H';
        case C::Resume: case C::ResumeEarly: case C::ResumeNoirq: return 'R';
        case C::Thaw: case C::ThawEarly: case C::ThawNoirq: return 'T';
        case C::Restore: case C::RestoreEarly: case C::RestoreNoirq: return 'E';
        default: return 0;
    }
}

PmLevel pm_level_of(PmCallback cb) {
    using C = PmCallback;
    switch (cb) {
        case C::SuspendLate: case C::FreezeLate: case C::PoweroffLate:
        case C::ResumeEarly: case C::ThawEarly: case C::RestoreEarly: return PmLevel::Late;
        case C::SuspendNoirq: case C::FreezeNoirq: case C::PoweroffNoirq:
        case C::ResumeNoirq: case C::ThawNoirq: case C::RestoreNoirq: return PmLevel::Noirq;
        default: return PmLevel::Main;
    }
}

}  // namespace quiesce
