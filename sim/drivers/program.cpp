// Driver files: the step vocabulary, reading steps and callbacks, loading a driver, finding a driver file.
#include "sim/drivers/program.h"
#include "sim/drivers/program_read.h"

#include "sim/drivers/device_file.h"

#include "sim/core/errors.h"
#include "sim/core/interned.h"
#include "sim/core/toml_reader.h"
#include "sim/core/errno_names.h"

#include <algorithm>
#include <filesystem>

namespace quiesce {

using program_detail::name_steps;
using program_detail::read_step_fields;
using program_detail::read_steps;

const std::vector<StepOp>& step_ops() {
    static const std::vector<StepOp> ops = {
        {"read", false, "readl(): a register by name, through the bus", StepCode::Read},
        {"write", false, "writel(): a register by name", StepCode::Write},
        {"rmw", false, "readl/modify one field/writel", StepCode::Rmw},
        {"poll", false, "readl_poll_timeout_atomic(): a field until a value, with a timeout", StepCode::Poll},
        {"save", false, "the driver copies registers into its struct in memory", StepCode::Save},
        {"restore", false, "the driver writes registers back from its struct", StepCode::Restore},
        {"rederive", false, "a driver-state register programmed from the memory it mirrors", StepCode::Rederive},
        {"set", false, "a field of the driver struct (a flag)", StepCode::Set},
        {"pci-save-state", false, "pci_save_state()", StepCode::PciSaveState},
        {"pci-restore-state", false, "pci_restore_state()", StepCode::PciRestoreState},
        {"pci-set-power", true, "pci_set_power_state() (sleeps out the D3hot delay)", StepCode::PciSetPower},
        {"pci-wake", false, "pci_enable_wake(): PME_En", StepCode::PciWake},
        {"irq-disable", true, "disable_irq(): masks the line, waits for running handlers", StepCode::IrqDisable},
        {"irq-enable", false, "enable_irq()", StepCode::IrqEnable},
        {"irq-sync", true, "synchronize_irq()", StepCode::IrqSync},
        {"irq-free", true, "free_irq()", StepCode::IrqFree},
        {"irq-request", true, "request_irq()", StepCode::IrqRequest},
        {"irq-wake", false, "enable_irq_wake() / disable_irq_wake()", StepCode::IrqWake},
        {"wait-irq", true, "wait_for_completion_timeout() on a completion its interrupt handler completes", StepCode::WaitIrq},
        {"queue-stop", false, "blk_mq_quiesce_queue() / netif_stop_queue(): no new requests", StepCode::QueueStop},
        {"queue-start", false, "blk_mq_unquiesce_queue() / netif_wake_queue()", StepCode::QueueStart},
        {"drain", true, "wait until the device's own queue is empty, with a timeout", StepCode::Drain},
        {"schedule-work", false, "schedule_work(): the item runs after the callback returns", StepCode::ScheduleWork},
        {"flush-work", true, "flush_work(): wait for a scheduled item", StepCode::FlushWork},
        {"command", true, "a command the device model offers (its driver waits for it)", StepCode::Command},
        {"alloc", true, "alloc_pages(gfp): GFP_KERNEL and GFP_NOIO may sleep to reclaim", StepCode::Alloc},
        {"free", false, "__free_pages()", StepCode::Free},
        {"wait-for-dev", true, "device_pm_wait_for_dev()", StepCode::WaitForDev},
        {"request-firmware", true,
         "request_firmware() (cache = false: request_firmware_into_buf(), which the firmware cache does not cover)", StepCode::RequestFirmware},
        {"release-firmware", false, "release_firmware()", StepCode::ReleaseFirmware},
        {"compute", false, "CPU work: cycles on the CPU running the callback", StepCode::Compute},
        {"sleep", true, "msleep()/usleep_range()", StepCode::Sleep},
        {"rpm-get-sync", true, "pm_runtime_get_sync(): usage count up, runtime-resume now (the count stays up if it fails)", StepCode::RpmGetSync},
        {"rpm-resume-and-get", true, "pm_runtime_resume_and_get(): the same, with the count dropped again on failure", StepCode::RpmResumeAndGet},
        {"rpm-get", false, "pm_runtime_get(): usage count up, the resume queued on pm_wq", StepCode::RpmGet},
        {"rpm-get-noresume", false, "pm_runtime_get_noresume(): usage count up only", StepCode::RpmGetNoresume},
        {"rpm-put", false, "pm_runtime_put(): usage count down, at 0 an idle check queued on pm_wq", StepCode::RpmPut},
        {"rpm-put-sync", true, "pm_runtime_put_sync(): usage count down, at 0 idle (and suspend) now", StepCode::RpmPutSync},
        {"rpm-put-autosuspend", false,
         "pm_runtime_put_autosuspend(): usage count down, at 0 suspend once the autosuspend delay has passed", StepCode::RpmPutAutosuspend},
        {"rpm-put-noidle", false, "pm_runtime_put_noidle(): usage count down only", StepCode::RpmPutNoidle},
        {"rpm-mark-last-busy", false, "pm_runtime_mark_last_busy(): the autosuspend delay counts from now", StepCode::RpmMarkLastBusy},
        {"rpm-resume", true, "pm_runtime_resume()", StepCode::RpmResume},
        {"rpm-suspend", true, "pm_runtime_suspend()", StepCode::RpmSuspend},
        {"rpm-idle", true, "pm_runtime_idle()", StepCode::RpmIdle},
        {"rpm-force-suspend", true, "pm_runtime_force_suspend(): runtime PM off, runtime_suspend unless suspended", StepCode::RpmForceSuspend},
        {"rpm-force-resume", true, "pm_runtime_force_resume(): runtime_resume if force_suspend suspended it, runtime PM on", StepCode::RpmForceResume},
        {"rpm-enable", false, "pm_runtime_enable()", StepCode::RpmEnable},
        {"rpm-disable", true, "pm_runtime_disable() (waits for a runtime transition in progress)", StepCode::RpmDisable},
        {"rpm-set-active", false, "pm_runtime_set_active() (runtime PM disabled)", StepCode::RpmSetActive},
        {"rpm-set-suspended", false, "pm_runtime_set_suspended() (runtime PM disabled)", StepCode::RpmSetSuspended},
        {"call", false, "calls another callback's function (a shared helper: foo_suspend from foo_freeze)", StepCode::Call},
        {"return", false, "return -ERRNO (return 0 without err)", StepCode::Return},
        {"goto", false, "goto label (with `when`, a conditional jump)", StepCode::Goto},
    };
    return ops;
}

const StepOp* find_step_op(const std::string& op) {
    for (const auto& o : step_ops())
        if (op == o.name) return &o;
    return nullptr;
}

StepCode step_code(const std::string& op) {
    const StepOp* o = find_step_op(op);
    return o ? o->code : StepCode::Unknown;
}

const std::vector<std::string>& driver_callbacks() {
    static const std::vector<std::string> c = {
        "prepare", "suspend", "suspend_late", "suspend_noirq", "resume_noirq", "resume_early", "resume", "complete",
        "freeze", "freeze_late", "freeze_noirq", "thaw_noirq", "thaw_early", "thaw", "poweroff", "poweroff_late",
        "poweroff_noirq", "restore_noirq", "restore_early", "restore", "runtime_suspend", "runtime_resume",
        "runtime_idle", "save_state", "save_explicit", "restore_explicit", "syscore_suspend", "syscore_resume",
        "pm_suspend_prepare", "pm_post_suspend", "pm_hibernation_prepare", "pm_post_hibernation", "io_begin",
        "io_end"};
    return c;
}

bool known_callback(const std::string& cb) {
    return std::find(driver_callbacks().begin(), driver_callbacks().end(), cb) != driver_callbacks().end();
}

size_t find_label(const std::vector<Step>& steps, const std::string& label) {
    for (size_t i = 0; i < steps.size(); ++i)
        if (steps[i].label == label) return i;
    return steps.size();
}

namespace {

StepCondition parse_condition(TableReader& r, const std::string& text) {
    StepCondition c;
    c.text = text;
    std::string s = text;
    s.erase(std::remove(s.begin(), s.end(), ' '), s.end());
    static const char* ops[] = {"==", "!=", "<=", ">=", "<", ">"};
    static const StepCondition::Cmp cmps[] = {StepCondition::Cmp::Eq, StepCondition::Cmp::Ne, StepCondition::Cmp::Le,
                                              StepCondition::Cmp::Ge, StepCondition::Cmp::Lt, StepCondition::Cmp::Gt};
    size_t at = std::string::npos;
    for (size_t i = 0; i < 6; ++i)
        if ((at = s.find(ops[i])) != std::string::npos) {
            c.op = ops[i];
            c.cmp = cmps[i];
            break;
        }
    std::string lhs = at == std::string::npos ? s : s.substr(0, at);
    if (at != std::string::npos) {
        const std::string rhs = s.substr(at + c.op.size());
        try {
            size_t used = 0;
            c.value = int64_t(std::stoull(rhs[0] == '-' ? rhs.substr(1) : rhs, &used, 0));
            if (rhs[0] == '-') c.value = -c.value, ++used;
            if (used != rhs.size()) throw std::invalid_argument("trailing");
        } catch (const std::exception&) {
            r.fail("when", "'" + rhs + "' is not a number");
        }
    }
    if (!lhs.empty() && lhs[0] == '!') {
        c.negate = true;
        lhs = lhs.substr(1);
    }
    if (lhs.empty()) r.fail("when", "a condition names a register, $variable or rc");
    if (lhs[0] == '$') {
        c.kind = StepCondition::Kind::Var;
        c.var = lhs.substr(1);
    } else if (lhs == "rc") {
        c.kind = StepCondition::Kind::Rc;
    } else {
        c.kind = StepCondition::Kind::Reg;
        const size_t dot = lhs.find('.');
        c.reg = lhs.substr(0, dot);
        if (dot != std::string::npos) c.field = lhs.substr(dot + 1);
    }
    if (c.negate && (c.kind != StepCondition::Kind::Var || !c.op.empty()))
        r.fail("when", "'!' goes before a $variable alone");
    if (c.kind != StepCondition::Kind::Var && c.op.empty())
        r.fail("when", "a register or rc is compared: ==, !=, <, >, <= or >=");
    return c;
}

}  // namespace

namespace program_detail {

// Sets the fields of `s` that `r` names (all of a new step, or some of a
// patched one).
void read_step_fields(TableReader& r, Step& s) {
    if (auto v = r.str("op")) {
        s.op = *v;
        s.code = step_code(s.op);
    }
    if (auto v = r.str("label")) {
        s.label = *v;
        s.label_word = intern_word(s.label);
    }
    if (auto v = r.str("reg")) s.reg = *v;
    if (auto v = r.str("field")) s.field = *v;
    if (r.array("regs")) s.regs = r.str_list("regs");
    if (auto v = r.integer("value")) {
        if (*v < 0) r.fail("value", "must not be negative");
        s.value = uint64_t(*v);
    }
    if (auto v = r.str("state")) s.state = *v;
    if (auto v = r.boolean("enable")) s.enable = *v;
    if (auto v = r.str("name")) s.name = *v;
    if (auto v = r.str("device")) s.device = *v;
    if (auto v = r.str("gfp")) s.gfp = *v;
    if (auto v = r.boolean("cache")) s.cache = *v;
    if (r.is_string("pages")) s.pages = *r.str("pages");
    else if (auto v = r.integer("pages", 1, 1 << 18)) s.pages = std::to_string(*v);
    if (auto t = r.duration("timeout")) s.timeout = *t;
    if (auto t = r.duration("interval")) s.interval = *t;
    if (auto t = r.duration("duration")) s.duration = *t;
    if (auto v = r.integer("cycles", 0, int64_t(1) << 40)) s.cycles = uint64_t(*v);
    if (auto v = r.str("err")) {
        s.err = parse_errno(*v);
        if (!s.err) r.fail("err", "unknown errno '" + *v + "' (" + errno_help() + ")");
    }
    if (auto v = r.str("on_fail")) s.on_fail = *v;
    if (auto v = r.str("goto")) s.go = *v;
    if (auto v = r.str("when")) s.when = parse_condition(r, *v);
}

void check_op(TableReader& r, const Step& s) {
    if (s.code != StepCode::Unknown) return;
    std::string known;
    for (const auto& o : step_ops()) known += (known.empty() ? "" : ", ") + std::string(o.name);
    r.fail("op", "unknown step '" + s.op + "' (" + known + ")");
}

std::vector<Step> read_steps(TableReader& r, const std::string& key) {
    std::vector<Step> steps;
    if (!r.tables(key, [&](TableReader& sr, const toml::node&) { steps.push_back(parse_step(sr)); }))
        r.fail(key, "is required");
    return steps;
}

// Steps without a label get their op's name, numbered from the second
// (`save`, `save-2`): every step can be named by a patch.
void name_steps(std::vector<Step>& steps) {
    std::map<std::string, unsigned> seen;
    for (auto& s : steps)
        if (!s.label.empty()) seen[s.label]++;
    for (auto& s : steps) {
        if (!s.label.empty()) continue;
        std::string l = s.op;
        for (unsigned n = 2; seen.count(l); ++n) l = s.op + "-" + std::to_string(n);
        seen[l]++;
        s.label = l;
        s.label_word = intern_word(s.label);
    }
}

}  // namespace program_detail

namespace {

void read_callbacks(TableReader& r, const char* key, std::map<std::string, std::vector<Step>>& into, bool known_only,
                    std::map<std::string, std::string>* aliases) {
    const toml::table* t = r.table(key);
    if (!t) return;
    TableReader cr(r.file(), *t, r.path_of(key));
    for (const auto& [k, v] : *t) {
        const std::string cb(k.str());
        if (known_only && !known_callback(cb))
            cr.fail(cb, "unknown callback '" + cb + "'");
        if (aliases && v.is_string()) {
            (*aliases)[cb] = cr.required_str(cb);
            into.erase(cb);
            continue;
        }
        if (aliases) aliases->erase(cb);
        into[cb] = read_steps(cr, cb);
        name_steps(into[cb]);
    }
    if (aliases)
        for (const auto& [cb, target] : *aliases)
            if (t->get(cb) && !into.count(target))
                cr.fail(cb, "'" + target + "' is not a callback with steps (an alias names one)");
    cr.done();
}

}  // namespace

Step parse_step(TableReader& r) {
    Step s;
    s.source = std::make_shared<const StepSource>(StepSource{r.file(), r.prefix(), r.line(), r.column(), r.positions()});
    read_step_fields(r, s);
    r.done();
    if (s.op.empty()) r.fail("op", "is required");
    program_detail::check_op(r, s);
    return s;
}

namespace {
// A list of flag names read into bits (the i-th name is bit i); unknown
// names are input errors at the key. Nothing set when the key is absent.
bool read_flag_list(TableReader& r, const char* key, const std::vector<std::string>& names, unsigned& bits) {
    if (!r.array(key)) return false;
    bits = 0;
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    for (const auto& f : r.str_list(key)) {
        auto it = std::find(names.begin(), names.end(), f);
        if (it == names.end()) r.fail(key, "unknown flag '" + f + "' (" + known + ")");
        bits |= 1u << unsigned(it - names.begin());
    }
    return true;
}

// `flags = ["SMART_SUSPEND", ...]`: dev_pm_set_driver_flags. True if written.
bool read_dpm_flags(TableReader& r, DriverProgram& p) {
    return read_flag_list(r, "flags", {"NO_DIRECT_COMPLETE", "SMART_SUSPEND", "MAY_SKIP_RESUME"}, p.dpm_flags);
}

// `irq_flags = ["NO_SUSPEND"]`: request_irq's IRQF_NO_SUSPEND / IRQF_COND_SUSPEND.
bool read_irq_flags(TableReader& r, DriverProgram& p) {
    if (!read_flag_list(r, "irq_flags", {"NO_SUSPEND", "COND_SUSPEND"}, p.irq_flags)) return false;
    if (p.irq_flags == 3) r.fail("irq_flags", "NO_SUSPEND and COND_SUSPEND exclude each other");
    return true;
}
}  // namespace

void apply_driver_table(DriverProgram& p, TableReader& r) {
    if (auto b = r.boolean("legacy_pm")) p.legacy_pm = *b, p.patched = true;
    if (read_dpm_flags(r, p)) p.patched = true;
    if (read_irq_flags(r, p)) p.patched = true;
    if (r.table("work")) p.patched = true;
    read_callbacks(r, "work", p.work, false, nullptr);  // new or replaced work items
    if (apply_patches(p, r, "patch")) p.patched = true;
}

DriverProgram load_driver(const std::string& path) {
    toml::table top = parse_toml_file(path);
    TableReader r(path, top, "");
    const toml::table* d = r.table("driver");
    if (!d) r.fail("driver", "a driver file opens with a [driver] table");
    TableReader dr(path, *d, "driver");
    DriverProgram p;
    if (auto base = dr.str("base")) {
        // A derived driver: the base, then this file's patches.
        const std::string file = resolve_driver(dr, "base", *base);
        std::error_code ec;
        if (std::filesystem::equivalent(file, path, ec) && !ec) dr.fail("base", "a driver cannot derive from itself");
        static int depth = 0;  // A derives from B derives from A...
        if (depth >= 16) dr.fail("base", "drivers derive from each other in a loop (or deeper than 16)");
        struct Nest {
            Nest() { ++depth; }
            ~Nest() { --depth; }
        } nest;
        p = load_driver(file);
    }
    p.file = path;
    p.name = dr.required_str("name");
    if (auto b = dr.str("binds")) p.binds = *b;
    if (p.binds.empty()) dr.fail("binds", "is required (the device type the driver drives)");
    // A device described by a file (scenarios/devices/) becomes a target when loaded.
    if (!find_driver_target(p.binds))
        if (std::string dev = find_device_file(path, p.binds); !dev.empty()) load_device_file(dev);
    if (!find_driver_target(p.binds))
        dr.fail("binds", "no device model or device file '" + p.binds + "' takes a driver file");
    p.description = dr.str("description", p.description);
    if (auto b = dr.boolean("legacy_pm")) p.legacy_pm = *b;
    read_dpm_flags(dr, p);
    read_irq_flags(dr, p);
    if (auto b = dr.boolean("autosuspend")) p.use_autosuspend = *b;
    dr.done();
    read_callbacks(r, "callbacks", p.callbacks, true, &p.aliases);
    read_callbacks(r, "work", p.work, false, nullptr);
    apply_patches(p, r, "patch");
    r.done();
    validate_driver(p);
    return p;
}

std::vector<std::string> DriverProgram::defined() const {
    std::vector<std::string> out;
    for (const auto& [cb, steps] : callbacks) out.push_back(cb);
    for (const auto& [cb, target] : aliases) out.push_back(cb);
    std::sort(out.begin(), out.end());
    return out;
}

std::string driver_binding(const std::string& type) {
    return type == "usb-keyboard" || type == "usb-storage" ? "usb" : type;
}

// Every target has a built-in driver file of its own name
// (scenarios/drivers/dma-engine.toml, xhci, ahci, sd, usb).
std::string default_driver(const std::string& type) {
    const std::string binds = driver_binding(type);
    const DriverTarget* t = find_driver_target(binds);
    return !t ? "" : t->driver.empty() ? binds : t->driver;
}

std::string find_driver_file(const std::string& near, const std::string& name) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (name.empty() || name.find('/') != std::string::npos) return "";
    const fs::path dir = fs::path(near).parent_path();
    std::vector<fs::path> cands = {dir / "drivers" / (name + ".toml")};
    if (dir.filename() == "drivers") cands.push_back(dir / (name + ".toml"));
    // A tree's own drivers/ beside its scenario directory, as platforms and
    // protocols are found (docs/scenarios.md): a checkout's scenarios run
    // its own driver files, not those of the tree the binary was built in.
    cands.push_back((dir / ".." / "drivers" / (name + ".toml")).lexically_normal());
    cands.push_back(fs::path(QUIESCE_DATA_DIR) / "drivers" / (name + ".toml"));
    for (const fs::path& cand : cands)
        if (fs::is_regular_file(cand, ec)) return cand.string();
    return "";
}

std::string resolve_driver(TableReader& r, const std::string& key, const std::string& name) {
    std::string file = find_driver_file(r.file(), name);
    if (file.empty()) r.fail(key, "no driver file named '" + name + "' (drivers/" + name + ".toml)");
    return file;
}

}  // namespace quiesce
