// The driver-step interpreter: each step a timed primitive on the models.
#include "sim/drivers/interpreter.h"
#include "sim/core/sync.h"

#include "models/cpu/cpu.h"
#include "models/pci/pci_core.h"
#include "sim/core/errno_names.h"
#include "sim/core/errors.h"
#include "sim/kernel/firmware.h"
#include "sim/kernel/kernel.h"
#include "sim/pm/runtime.h"

#include <algorithm>

namespace quiesce {

namespace {
constexpr int kETIMEDOUT = -110, kENOMEM = -12, kENODEV = -19, kEINPROGRESS = -115;
constexpr Picos kDefaultInterval = 10'000'000;  // 10 us between polls
const EventWord kStep("step");  // the category of each step's slice
}  // namespace

DriverRunner::DriverRunner(SharedProgram program, DriverHost& host, Kernel& kernel)
    : program_(std::move(program)), host_(host), kernel_(kernel), target_(find_driver_target(program_->binds)) {
    SIM_ASSERT(target_, "driver {} binds to {}, which takes no driver file", program_->name, program_->binds);
    // Each step's op was resolved when it was read (read_step_fields sets
    // code with op): exec dispatches on the code, and nothing here compares
    // names again (issue 18: resolving every step of every driver anew was
    // 2% of a default S3 cycle's simulation).
    auto resolve = [&](const std::vector<Step>& steps) {
        for (const auto& s : steps)
            SIM_ASSERT(s.code != StepCode::Unknown, "driver {}: step {} has an unresolved op {}", program_->name,
                       s.label, s.op);
    };
    for (const auto& [cb, steps] : program_->callbacks) resolve(steps);
    for (const auto& [w, steps] : program_->work) resolve(steps);
    auto note = [&](const std::vector<Step>& steps) {
        for (const auto& s : steps) {
            if (s.code == StepCode::Set) var_index_.emplace(s.name, unsigned(var_index_.size()));
            if (s.when.kind == StepCondition::Kind::Var) var_index_.emplace(s.when.var, unsigned(var_index_.size()));
        }
    };
    for (const auto& [cb, steps] : program_->callbacks) note(steps);
    for (const auto& [w, steps] : program_->work) note(steps);
}

DriverRunner::~DriverRunner() {
    if (state_) kernel_.image_state().remove(state_);
}

void DriverRunner::bind() {
    if (!target_->registers.empty()) save_area_ = kernel_.alloc(8 * target_->registers.size(), 64);
    // The save area and the variables are kernel memory; the named buffers'
    // page lists are the driver's struct fields: the image carries them.
    if (state_) kernel_.image_state().remove(state_);
    state_ = kernel_.image_state().add(
        "driver " + host_.device_name(),
        [this](StateWriter& w) {
            w.u64(buffers_.size());
            for (const auto& [name, pages] : buffers_) {
                w.str(name);
                w.u64s(pages);
            }
        },
        [this](StateReader& r) {
            std::map<std::string, std::vector<uint64_t>> buffers;
            for (uint64_t n = r.count(16); n--;) {
                std::string name = r.str();
                buffers[name] = r.u64s();
                for (uint64_t p : buffers[name])
                    if (!kernel_.owns(p)) r.fail(fmt::format("buffer {} in page {:#x}, not kernel memory", name, p));
            }
            replaced_buffers_ = std::move(buffers_);  // a step stopped mid-way may hold a reference
            buffers_ = std::move(buffers);
        });
    // Work items run beside the callbacks: their steps go on a track of
    // their own under the device's, so slices on each track stay nested.
    if (!program_->work.empty()) {
        // Found first, declared after: declare_track grows the vector of
        // tracks, which a loop over it would go on reading once freed.
        const std::string dev = host_.track();
        const auto& tracks = kernel_.hub().tracks();
        const auto t = std::find_if(tracks.begin(), tracks.end(), [&](const TrackInfo& i) { return i.name == dev; });
        if (t != tracks.end()) kernel_.hub().declare_track({dev + ".kworker", dev, "device", t->domain, t->hz});
    }
    if (program_->callback("io_begin") || program_->callback("io_end")) {
        const std::string dev = host_.track();
        const auto& tracks = kernel_.hub().tracks();
        const auto t = std::find_if(tracks.begin(), tracks.end(), [&](const TrackInfo& i) { return i.name == dev; });
        if (t != tracks.end()) kernel_.hub().declare_track({dev + ".io", dev, "device", t->domain, t->hz});
    }
    if (!var_index_.empty()) vars_ = kernel_.alloc(8 * var_index_.size(), 64);
}

bool DriverRunner::runtime_active() const { return !rpm_dev_ || rpm_->active(*rpm_dev_); }

int DriverRunner::run_io(const std::string& hook, Cpu& cpu) {
    const std::vector<Step>* steps = program_->callback(hook);
    return steps ? run_steps(*steps, hook, cpu) : 0;
}

uint64_t DriverRunner::slot(const std::string& reg) const {
    const auto& regs = target_->registers;
    const auto it = std::find_if(regs.begin(), regs.end(), [&](const RegSpec& r) { return r.name == reg; });
    SIM_ASSERT(it != regs.end(), "driver {}: no register {}", program_->name, reg);
    return save_area_ + 8 * uint64_t(it - regs.begin());
}

uint64_t DriverRunner::var(Cpu& cpu, const std::string& name) {
    auto it = var_index_.find(name);
    SIM_ASSERT(it != var_index_.end(), "driver {} has no variable {}", program_->name, name);
    return cpu.read64(vars_ + 8 * it->second);
}

void DriverRunner::set_var(Cpu& cpu, const std::string& name, uint64_t value) {
    auto it = var_index_.find(name);
    SIM_ASSERT(it != var_index_.end(), "driver {} has no variable {}", program_->name, name);
    cpu.write64(vars_ + 8 * it->second, value);
}

int DriverRunner::run(const std::string& cb, Cpu& cpu) {
    const std::vector<Step>* steps = program_->callback(cb);
    if (!steps) return 0;
    callback_ = cb;
    const int rc = run_steps(*steps, cb, cpu);
    callback_.clear();
    return rc;
}

const RegSpec& DriverRunner::spec(const std::string& reg) const {
    for (const auto& r : target_->registers)
        if (r.name == reg) return r;
    SIM_PANIC("driver {}: no register {} (validation missed it)", program_->name, reg);
}

uint64_t DriverRunner::reg_base(const Step& s) const {
    if (s.device.empty()) return host_.mmio_base();
    return host_.peer_mmio_base(host_.param(s.device.substr(1)));
}

uint64_t DriverRunner::read_reg(Cpu& cpu, uint64_t base, const RegSpec& r) {
    return cpu.read(base + r.offset, r.width);
}

void DriverRunner::write_reg(Cpu& cpu, uint64_t base, const RegSpec& r, uint64_t v) {
    cpu.write(base + r.offset, v, r.width);
}

namespace {
uint64_t field_of(const RegSpec& r, const std::string& field, uint64_t v) {
    for (const auto& f : r.fields)
        if (f.name == field) return (v & f.mask()) >> f.lsb;
    return v;
}
uint64_t with_field(const RegSpec& r, const std::string& field, uint64_t v, uint64_t fv) {
    for (const auto& f : r.fields)
        if (f.name == field) return (v & ~f.mask()) | ((fv << f.lsb) & f.mask());
    return fv;
}
bool compare(int64_t a, StepCondition::Cmp op, int64_t b) {
    switch (op) {
        case StepCondition::Cmp::Eq: return a == b;
        case StepCondition::Cmp::Ne: return a != b;
        case StepCondition::Cmp::Lt: return a < b;
        case StepCondition::Cmp::Gt: return a > b;
        case StepCondition::Cmp::Le: return a <= b;
        case StepCondition::Cmp::Ge: break;
    }
    return a >= b;
}
}  // namespace

bool DriverRunner::holds(const StepCondition& c, const Frame& f, Cpu& cpu) {
    switch (c.kind) {
        case StepCondition::Kind::Always: return true;
        case StepCondition::Kind::Rc: return compare(f.rc, c.cmp, c.value);
        case StepCondition::Kind::Var: {
            if (c.var == "runtime_suspended") {  // pm_runtime_status_suspended()
                const bool v = rpm_dev_ && rpm_->suspended(*rpm_dev_);
                return v != c.negate;
            }
            const uint64_t v = var(cpu, c.var);
            return c.op.empty() ? (v != 0) != c.negate : compare(int64_t(v), c.cmp, c.value);
        }
        case StepCondition::Kind::Reg: {
            const RegSpec& r = spec(c.reg);
            uint64_t v = read_reg(cpu, host_.mmio_base(), r);
            if (!c.field.empty()) v = field_of(r, c.field, v);
            return compare(int64_t(v), c.cmp, c.value);
        }
    }
    return true;
}

int DriverRunner::run_steps(const std::vector<Step>& steps, const std::string& where, Cpu& cpu) {
    Frame f{where};
    // Work items and the I/O path's hooks run beside the callbacks: on tracks of their own.
    const std::string track = where.rfind("work.", 0) == 0 ? host_.track() + ".kworker"
                              : where.rfind("io_", 0) == 0 ? host_.track() + ".io"
                                                            : host_.track();
    for (size_t pc = 0; pc < steps.size();) {
        const Step& s = steps[pc];
        if (s.code == StepCode::Goto) {
            cpu.compute(Cycles(2));  // a branch: a loop made of jumps still takes time
            pc = holds(s.when, f, cpu) ? find_label(steps, s.go) : pc + 1;
            continue;
        }
        if (!s.device.empty() && s.device[0] == '$' && host_.param(s.device.substr(1)).empty()) {
            ++pc;  // a step on a peer the scenario did not name
            continue;
        }
        if (!holds(s.when, f, cpu)) {
            ++pc;
            continue;
        }
        const bool traced = kernel_.hub().wants(EvKind::SliceBegin);
        EvText label(s.label);  // interned where the label was set (0 when not: read as text)
        label.id = s.label_word;
        if (traced) kernel_.hub().slice_begin(track, label, kStep, {{"op", s.op}, {"callback", where}});
        const int rc = s.code == StepCode::Return ? s.err : exec(s, f, cpu);
        if (traced) kernel_.hub().slice_end(track, label, kStep, {{"rc", rc}});
        f.rc = rc;
        if (s.code == StepCode::Return) return rc ? rc : f.deferred;
        if (rc < 0) {
            if (s.on_fail.empty()) return rc;
            if (s.on_fail == "continue" || s.on_fail == "ignore") {
                if (s.on_fail == "continue" && !f.deferred) f.deferred = rc;
                ++pc;
                continue;
            }
            pc = find_label(steps, s.on_fail);
            continue;
        }
        ++pc;
    }
    return f.deferred;
}

// Linux's might_sleep(): a step that may schedule, where it may not.
void DriverRunner::might_sleep(const Step& s, const Frame& f, Cpu& cpu) {
    std::string context;
    if (cpu.irqs_disabled_here()) context = "interrupts disabled on " + cpu.path();
    else if (s.code == StepCode::WaitIrq && kernel_.irq_line_suspended(host_.irq_line()))
        context = "device interrupts suspended: its handler cannot run";
    if (context.empty()) return;
    kernel_.hub().instant(host_.track(), "sleep-in-atomic", "driver",
                          {{"device", host_.device_name()}, {"callback", f.where}, {"step", s.label},
                           {"op", s.op}, {"context", context}});
}

int DriverRunner::poll(const Step& s, Cpu& cpu, const std::function<bool()>& done) {
    const Picos start = now_ps(), interval = s.interval ? s.interval : kDefaultInterval;
    for (;;) {
        if (done()) return 0;
        if (now_ps() - start >= s.timeout) return s.err ? s.err : kETIMEDOUT;
        cpu.delay(cpu.clock().cycles_in(interval));  // udelay between checks
    }
}

int DriverRunner::alloc(const Step& s, Cpu& cpu) {
    const uint64_t n = s.pages == "device-memory" ? host_.device_memory_pages() : std::stoull(s.pages);
    if (n == 0) return 0;
    const Kernel::Gfp gfp = s.gfp == "ATOMIC" ? Kernel::Gfp::Atomic : s.gfp == "NOIO" ? Kernel::Gfp::NoIO
                                                                                    : Kernel::Gfp::Kernel;
    std::vector<uint64_t> pages;
    const int rc = kernel_.alloc_pages(cpu, n, gfp, pages);
    kernel_.hub().instant(host_.track(), "alloc", "driver",
                          {{"device", host_.device_name()}, {"buffer", s.name}, {"pages", std::to_string(n)},
                           {"gfp", s.gfp}, {"rc", std::to_string(rc)}});
    if (rc) return rc < 0 ? rc : kENOMEM;
    auto& buf = buffers_[s.name];
    buf.insert(buf.end(), pages.begin(), pages.end());
    return 0;
}

int DriverRunner::schedule_work(const std::string& name, Cpu& cpu) {
    Work& w = work_[name];
    if (w.pending) return 0;  // queue_work on a pending item does nothing
    w.pending = true;
    Cpu* c = &cpu;
    const std::string thread = "kworker_" + host_.device_name() + "_" + name + "_" + std::to_string(++work_threads_);
    sc_core::sc_process_handle h = quiesce::spawn(
        [this, name, c] {
            quiesce::wait(sc_core::SC_ZERO_TIME);  // after the caller goes on
            const int rc = run_steps(program_->work.at(name), "work." + name, *c);
            kernel_.hub().instant(host_.track(), "work-done", "driver",
                                  {{"device", host_.device_name()}, {"work", name}, {"rc", std::to_string(rc)}});
            Work& done = work_[name];
            done.pending = false;
            quiesce::notify(done.done, sc_core::SC_ZERO_TIME);
        },
        thread.c_str());
    kernel_.adopt_context(h);
    return 0;
}

int DriverRunner::flush_work(const Step& s, Cpu&) {
    Work& w = work_[s.name];
    const Picos timeout = s.timeout ? s.timeout : 10'000'000'000'000ULL;
    while (w.pending)
        if (!kernel_.wait_event(w.done, timeout, "work " + s.name + " of " + host_.device_name()))
            return s.err ? s.err : kETIMEDOUT;
    return 0;
}

// The runtime PM helpers, on this device or a peer ($param). Their results
// as drivers see them: a get or resume fails with its errno, the puts'
// results (busy, too early) are ignored as drivers ignore them.
int DriverRunner::runtime_step(const Step& s, Cpu& cpu) {
    RuntimePm::Dev* const found =
        s.device.empty() ? rpm_dev_ : rpm_ ? rpm_->find(host_.param(s.device.substr(1))) : nullptr;
    if (!found) return kENODEV;
    RuntimePm::Dev& dev = *found;
    using R = RuntimePm;
    cpu.compute(Cycles(50));  // the helper's lock and counters
    int rc = 0;
    switch (s.code) {
        case StepCode::RpmGetSync: rc = rpm_->get(dev, cpu, 0); break;
        case StepCode::RpmResumeAndGet:
            rc = rpm_->get(dev, cpu, 0);
            if (rc < 0) rpm_->put_noidle(dev);
            break;
        case StepCode::RpmGet:
            rc = rpm_->get(dev, cpu, R::kAsync);
            if (rc == kEINPROGRESS) rc = 0;
            break;
        case StepCode::RpmGetNoresume: rpm_->get_noresume(dev); break;
        case StepCode::RpmPut: rpm_->put(dev, cpu, R::kAsync); break;
        case StepCode::RpmPutSync: rpm_->put(dev, cpu, 0); break;
        case StepCode::RpmPutAutosuspend: rpm_->put(dev, cpu, R::kAsync | R::kAuto); break;
        case StepCode::RpmPutNoidle: rpm_->put_noidle(dev); break;
        case StepCode::RpmMarkLastBusy: rpm_->mark_last_busy(dev); break;
        case StepCode::RpmResume: rc = rpm_->resume(dev, cpu, 0); break;
        case StepCode::RpmSuspend: rc = rpm_->suspend(dev, cpu, 0); break;
        case StepCode::RpmIdle: rc = rpm_->idle(dev, cpu, 0); break;
        case StepCode::RpmForceSuspend: rc = rpm_->force_suspend(dev, cpu); break;
        case StepCode::RpmForceResume: rc = rpm_->force_resume(dev, cpu); break;
        case StepCode::RpmEnable: rpm_->enable(dev); break;
        case StepCode::RpmDisable: rpm_->disable(dev); break;
        case StepCode::RpmSetActive: rc = rpm_->set_active(dev); break;
        case StepCode::RpmSetSuspended: rpm_->set_suspended(dev); break;
        default: break;
    }
    return rc < 0 ? rc : 0;
}

int DriverRunner::exec(const Step& s, Frame& f, Cpu& cpu) {
    if (step_op(s.code).may_sleep) might_sleep(s, f, cpu);
    PciCore* core = host_.pci_core();
    PciDev* dev = host_.pci_dev();
    switch (s.code) {
        case StepCode::Read: read_reg(cpu, reg_base(s), spec(s.reg)); return 0;
        case StepCode::Write: {
            const RegSpec& r = spec(s.reg);
            write_reg(cpu, reg_base(s), r, s.field.empty() ? *s.value : with_field(r, s.field, 0, *s.value));
            return 0;
        }
        case StepCode::Rmw: {
            const RegSpec& r = spec(s.reg);
            const uint64_t base = reg_base(s);
            write_reg(cpu, base, r, with_field(r, s.field, read_reg(cpu, base, r), *s.value));
            return 0;
        }
        case StepCode::Poll: {
            const RegSpec& r = spec(s.reg);
            const uint64_t base = reg_base(s);
            return poll(s, cpu, [&] {
                uint64_t v = read_reg(cpu, base, r);
                return (s.field.empty() ? v : field_of(r, s.field, v)) == *s.value;
            });
        }
        case StepCode::Save:
        case StepCode::Restore:
            for (const auto& name : s.regs) {
                const RegSpec& r = spec(name);
                if (s.code == StepCode::Save) cpu.write64(slot(name), read_reg(cpu, host_.mmio_base(), r));
                else write_reg(cpu, host_.mmio_base(), r, cpu.read64(slot(name)));
            }
            return 0;
        case StepCode::Rederive: return host_.rederive(cpu, s.reg);
        case StepCode::Set: set_var(cpu, s.name, *s.value); return 0;
        case StepCode::PciSaveState:
        case StepCode::PciRestoreState:
        case StepCode::PciWake:
        case StepCode::PciSetPower:
            if (!core || !dev) return -19;  // -ENODEV: not a PCI device
            if (s.code == StepCode::PciSaveState) core->save_state(cpu, *dev);
            else if (s.code == StepCode::PciRestoreState) core->restore_state(cpu, *dev);
            else if (s.code == StepCode::PciWake) core->set_pme(cpu, *dev, s.enable);
            else
                return core->set_power_state(cpu, *dev, s.state == "D0"      ? DState::D0
                                                        : s.state == "D3hot" ? DState::D3hot
                                                                             : DState::D3cold);
            return 0;
        case StepCode::IrqRequest:
        case StepCode::IrqFree:
        case StepCode::IrqDisable:
        case StepCode::IrqEnable:
        case StepCode::IrqSync:
        case StepCode::IrqWake: {
            const unsigned irq = host_.irq_line();
            if (s.code == StepCode::IrqRequest) host_.request_irq(cpu);
            else if (s.code == StepCode::IrqFree) host_.free_irq(cpu);
            else if (irq == 0xff) return 0;  // no interrupt line: nothing to do
            else if (s.code == StepCode::IrqDisable) kernel_.disable_irq(cpu, irq);
            else if (s.code == StepCode::IrqEnable) kernel_.enable_irq(cpu, irq);
            else if (s.code == StepCode::IrqSync) kernel_.synchronize_irq(irq);
            else kernel_.set_irq_wake(irq, s.enable);
            cpu.compute(Cycles(200));  // the descriptor lock and the chip's mask
            return 0;
        }
        case StepCode::WaitIrq:
            return kernel_.wait_event(host_.irq_event(), s.timeout, "the interrupt of " + host_.device_name())
                       ? 0
                       : (s.err ? s.err : kETIMEDOUT);
        case StepCode::QueueStop: host_.queue_stop(cpu); return 0;
        case StepCode::QueueStart: host_.queue_start(cpu); return 0;
        case StepCode::Drain: {
            // A sleeping wait (blk_mq_freeze_queue_wait): woken by the device's
            // completion interrupt, checking at least every `interval`.
            const Picos start = now_ps(), interval = s.interval ? s.interval : kDefaultInterval;
            while (!host_.drained(cpu)) {
                const Picos waited = now_ps() - start;
                if (waited >= s.timeout) return s.err ? s.err : kETIMEDOUT;
                kernel_.wait_event(host_.irq_event(), std::min(interval, s.timeout - waited),
                                   host_.device_name() + ": draining its queue");
            }
            return 0;
        }
        case StepCode::ScheduleWork: return schedule_work(s.name, cpu);
        case StepCode::FlushWork: return flush_work(s, cpu);
        case StepCode::Command: return host_.command(cpu, s.name, *this);
        case StepCode::RpmGetSync:
        case StepCode::RpmResumeAndGet:
        case StepCode::RpmGet:
        case StepCode::RpmGetNoresume:
        case StepCode::RpmPut:
        case StepCode::RpmPutSync:
        case StepCode::RpmPutAutosuspend:
        case StepCode::RpmPutNoidle:
        case StepCode::RpmMarkLastBusy:
        case StepCode::RpmResume:
        case StepCode::RpmSuspend:
        case StepCode::RpmIdle:
        case StepCode::RpmForceSuspend:
        case StepCode::RpmForceResume:
        case StepCode::RpmEnable:
        case StepCode::RpmDisable:
        case StepCode::RpmSetActive:
        case StepCode::RpmSetSuspended: return runtime_step(s, cpu);
        case StepCode::Alloc: return alloc(s, cpu);
        case StepCode::Free:
            for (uint64_t p : buffers_[s.name]) kernel_.free_page(p);
            buffers_[s.name].clear();
            cpu.compute(Cycles(100));
            return 0;
        case StepCode::RequestFirmware: {
            FirmwareStore* store = kernel_.firmware();
            FirmwareStore::Blob b;
            const int rc = store ? store->request(cpu, host_.device_name(), s.name, s.cache, b) : -2;  // -ENOENT
            if (rc == 0) firmware_[s.name] = b;
            return rc;
        }
        case StepCode::ReleaseFirmware:
            firmware_.erase(s.name);  // (the buffer is kernel heap: not reused)
            return 0;
        case StepCode::WaitForDev: {
            const std::string other = s.device[0] == '$' ? host_.param(s.device.substr(1)) : s.device;
            kernel_.device_pm_wait_for_dev(host_.device_name(), other);
            return 0;
        }
        case StepCode::Call: {
            if (++depth_ > 8) SIM_PANIC("driver {}: calls nest deeper than 8", program_->name);
            const int rc = run_steps(*program_->callback(s.name), s.name, cpu);
            --depth_;
            return rc;
        }
        case StepCode::Compute: cpu.compute(Cycles(s.cycles)); return 0;
        case StepCode::Sleep: kernel_.sleep(s.duration, host_.device_name() + " sleeps in " + f.where); return 0;
        case StepCode::Return:
        case StepCode::Goto:
        case StepCode::Unknown: break;  // run_steps does return and goto itself
    }
    SIM_PANIC("driver {}: step {} has no semantics", program_->name, s.op);
}

}  // namespace quiesce
