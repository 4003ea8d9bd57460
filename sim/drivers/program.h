// A driver's power-management behaviour as data (docs/drivers.md): for each
// PM callback an ordered list of steps, each a timed primitive on the models.
// Loaded from scenarios/drivers/NAME.toml, patched by a scenario or by
// explore --mutate, run by the interpreter (sim/drivers/interpreter.h).
#pragma once

#include "sim/core/registers.h"
#include "sim/core/time.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace quiesce {

class TableReader;

// `when = "..."`: a condition on a register (read through the bus), a driver
// variable, or the previous step's result.
//   "CTRL.ENABLE == 1"  "STATUS != 0xffffffff"  "$saved"  "!$saved"  "rc < 0"
struct StepCondition {
    enum class Kind { Always, Reg, Var, Rc };
    Kind kind = Kind::Always;
    std::string reg, field, var;  // Reg: reg[.field]; Var: the variable
    std::string op;               // ==, !=, <, >, <=, >= ("" for a variable's truth)
    enum class Cmp : uint8_t { Eq, Ne, Lt, Gt, Le, Ge };
    Cmp cmp = Cmp::Ge;            // op, resolved when parsed ("" reads as >=, never used)
    int64_t value = 0;
    bool negate = false;          // "!$var"
    std::string text;
};

// A step's operation, resolved from its name once when the step is read
// (read_step_fields; a DriverRunner refuses a step left unresolved): the
// interpreter dispatches on it instead of comparing names. In the order of
// step_ops(), which holds each one's name.
enum class StepCode : uint8_t {
    Read, Write, Rmw, Poll, Save, Restore, Rederive, Set,
    PciSaveState, PciRestoreState, PciSetPower, PciWake,
    IrqDisable, IrqEnable, IrqSync, IrqFree, IrqRequest, IrqWake, WaitIrq,
    QueueStop, QueueStart, Drain, ScheduleWork, FlushWork, Command, Alloc, Free, WaitForDev,
    RequestFirmware, ReleaseFirmware, Compute, Sleep,
    RpmGetSync, RpmResumeAndGet, RpmGet, RpmGetNoresume, RpmPut, RpmPutSync, RpmPutAutosuspend, RpmPutNoidle,
    RpmMarkLastBusy, RpmResume, RpmSuspend, RpmIdle, RpmForceSuspend, RpmForceResume, RpmEnable, RpmDisable,
    RpmSetActive, RpmSetSuspended,
    Call, Return, Goto,
    Unknown,  // a name step_ops() does not hold (parse_step rejects it)
};

// Where a step was written, for the errors validate_driver finds after
// reading: its file, its table's dotted path there, the start of that table
// and of each key's value.
struct StepSource {
    std::string file;  // a driver file, or a scenario's patch
    std::string path;  // "callbacks.suspend[2]", "drivers.dma0.patch[0].append[0]"
    int line = 0, column = 0;
    std::map<std::string, std::pair<int, int>> keys;  // key -> (line, column)
};

struct Step {
    std::string op;       // see step_ops()
    StepCode code = StepCode::Unknown;  // op, resolved (step_code())
    std::string label;    // a name patches, jumps and reports use
    uint32_t label_word = 0;  // label interned (sim/core/interned.h) where it is set: its slices' name
    std::string reg, field;
    std::vector<std::string> regs;
    std::optional<uint64_t> value;
    std::string state;    // pci-set-power: D0, D3hot, D3cold
    bool enable = true;   // pci-wake, irq-wake
    std::string name;     // command, work item, buffer or variable
    std::string device;   // another device (wait-for-dev, a peer's register); "$param": a scenario parameter
    std::string gfp;      // alloc: KERNEL, NOIO, ATOMIC
    std::string pages;    // alloc: a count, or "device-memory"
    bool cache = true;    // request-firmware: a call the firmware cache covers (request_firmware)
    Picos timeout = 0;    // poll, drain, wait-irq, flush-work
    Picos interval = 0;   // poll, drain: between checks
    Picos duration = 0;   // sleep
    uint64_t cycles = 0;  // compute
    int err = 0;          // return: the errno; poll/drain/wait-irq: what a timeout returns
    std::string on_fail;  // when the step fails: a label to go to, "continue" (return the error at the
                          // end, as `ret = f(); ... return ret;`) or "ignore"; "" returns the errno
    std::string go;       // goto: the label
    StepCondition when;
    std::shared_ptr<const StepSource> source;  // shared by its copies
};

struct DriverProgram {
    std::string name, file, description;
    std::string binds;       // the device model it drives (a platform device type)
    bool legacy_pm = false;  // struct pci_driver .suspend/.resume: the PCI core neither saves nor powers down
    bool patched = false;    // a scenario changed it ([drivers.NAME] patches): no longer the file's driver
    unsigned dpm_flags = 0;  // DPM_FLAG_*: NO_DIRECT_COMPLETE 1, SMART_SUSPEND 2, MAY_SKIP_RESUME 4 (sim/pm/runtime.h)
    bool use_autosuspend = false;  // pm_runtime_use_autosuspend at probe
    unsigned irq_flags = 0;  // request_irq: IRQF_NO_SUSPEND 1, IRQF_COND_SUSPEND 2 (Kernel::kIrq*)
    std::map<std::string, std::vector<Step>> callbacks;
    std::map<std::string, std::vector<Step>> work;  // work items schedule-work queues
    // A callback that is another's function (`freeze = "suspend"`, as
    // SET_SYSTEM_SLEEP_PM_OPS does): patches to the other change both.
    std::map<std::string, std::string> aliases;

    const std::vector<Step>* callback(const std::string& cb) const {
        auto a = aliases.find(cb);
        auto it = callbacks.find(a == aliases.end() ? cb : a->second);
        return it == callbacks.end() ? nullptr : &it->second;
    }
    // Every callback it defines, its own or an alias.
    std::vector<std::string> defined() const;
};
// A program as runs hold it: loaded (or patched, or mutated) once, then
// shared by every scenario copy, device and runner that runs it unchanged.
using SharedProgram = std::shared_ptr<const DriverProgram>;

// What a driver file may name on the device it binds to: its registers
// (the model's bank, as data), the commands its model and driver offer, the
// driver-state registers it can re-derive from memory, and the parameters a
// scenario may set ([drivers.NAME] companion = "dma1").
struct DriverTarget {
    std::string type;
    std::vector<RegSpec> registers;
    std::vector<std::string> commands;
    std::vector<std::string> rederive;
    std::vector<std::string> params;
    bool pci = true;
    std::string driver;  // its built-in driver file ("" = the type's name)
};
const DriverTarget* find_driver_target(const std::string& type);
// A device file's target (sim/drivers/device_file.h), replacing one of its name.
void register_driver_target(DriverTarget t);

struct StepOp {
    const char* name;
    bool may_sleep;     // Linux may schedule inside it (context.sleep-in-atomic)
    const char* counterpart;  // its Linux counterpart, for docs and reports
    StepCode code;
};
// Every op, in StepCode's order (step_ops()[i].code == StepCode(i)).
const std::vector<StepOp>& step_ops();
const StepOp* find_step_op(const std::string& op);
// The code of an op's name, StepCode::Unknown if it has none.
StepCode step_code(const std::string& op);
// The op of a code (not Unknown).
inline const StepOp& step_op(StepCode c) { return step_ops()[size_t(c)]; }
// Every callback a driver file may define: dev_pm_ops, runtime PM, the seed
// protocols' callbacks, and syscore ops.
const std::vector<std::string>& driver_callbacks();
bool known_callback(const std::string& cb);
// The index of the step labelled `label`, or steps.size().
size_t find_label(const std::vector<Step>& steps, const std::string& label);

// Loads a driver file (a whole driver, or `base = "NAME"` plus patches).
// Throws InputError naming file:line:column and key.
DriverProgram load_driver(const std::string& path);
// Finds a driver file by name next to `near` (its drivers/ folder, or the
// folder a driver file sits in) or in the built-in set; "" if none.
std::string find_driver_file(const std::string& near, const std::string& name);
// The same, or the error for `key`: "no driver file named ...".
std::string resolve_driver(TableReader& r, const std::string& key, const std::string& name);
// The built-in driver of a device type ("" if it has none as data): the
// file named as the target it binds to.
std::string default_driver(const std::string& type);
// What a driver for a device type binds to (its `binds`): the type itself,
// or "usb" for every USB device (the USB core's side of it).
std::string driver_binding(const std::string& type);

// Applies the patches in the array of tables `key` of `r` ([[patch]] in a
// driver file, [[drivers.NAME.patch]] in a scenario) and returns how many.
// A patch that matches nothing is an input error.
size_t apply_patches(DriverProgram& p, TableReader& r, const std::string& key);
// Applies top-level overrides (legacy_pm) and patches from `r`.
void apply_driver_table(DriverProgram& p, TableReader& r);
// Checks every step against the target's registers, fields, commands and
// the program's labels; throws InputError at the offending step.
void validate_driver(const DriverProgram& p);
// Parses one step table ({ op = "write", reg = "CTRL", value = 0 }).
Step parse_step(TableReader& r);

}  // namespace quiesce
