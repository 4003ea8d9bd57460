// A phase's action and the PM callbacks by name, resolved once (issue 18
// item 3): where the engine runs a phase and where the PM core and the PCI
// bus type dispatch a callback, a test of an id instead of the name compared
// with one literal after another. The names are known_actions(),
// known_callbacks() (sim/pm/protocol.h) and the runtime PM callbacks.
#pragma once

#include <cstdint>
#include <string_view>

namespace quiesce {

enum class PhaseAction : uint8_t {
    Other,  // any other name (validation lets none through)
    Callbacks, Firmware, PlatformBegin, PlatformPrepare, PlatformEnter, PlatformFinish, PlatformEnd,
    SuspendDeviceIrqs, ResumeDeviceIrqs, CpusOffline, CpusOnline, IrqsOff, IrqsOn, SyscoreSuspend, SyscoreResume,
    Sync, FreezeTasks, ThawTasks, Preallocate, Snapshot, WriteImage, FreezeUserTasks, FreezeKernelThreads,
    RestrictGfp, RestoreGfp, Run, Revoke, KexecSave, NvsAlloc, NvsSave, NvsRestore, NvsFree,
    S2idlePrepare, S2idleRestore, Lps0, S2idle,
};

PhaseAction phase_action_of(std::string_view name);

enum class PmCallback : uint8_t {
    Other,  // any other name
    SaveState, Prepare, Complete,
    Suspend, SuspendLate, SuspendNoirq, ResumeNoirq, ResumeEarly, Resume,
    Freeze, FreezeLate, FreezeNoirq, ThawNoirq, ThawEarly, Thaw,
    Poweroff, PoweroffLate, PoweroffNoirq, RestoreNoirq, RestoreEarly, Restore,
    SaveExplicit, RestoreExplicit,
    RuntimeSuspend, RuntimeResume, RuntimeIdle,
};

PmCallback pm_callback_of(std::string_view name);

// The pm_message event of a callback: 'S'USPEND, 'F'REEZE, 'H'IBERNATE,
// 'R'ESUME, 'T'HAW, 'E' RESTORE; 0 for prepare, complete and the others.
char pm_event_of(PmCallback cb);

// The stage of its event a callback runs at: the main one, late (suspend
// side) or early (resume side), or noirq.
enum class PmLevel : uint8_t { Main, Late, Noirq };
PmLevel pm_level_of(PmCallback cb);

}  // namespace quiesce
