// The driver-step interpreter: each step a timed primitive on the models.
#include "sim/drivers/interpreter.h"

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
}  // namespace

DriverRunner::DriverRunner(DriverProgram program, DriverHost& host, Kernel& kernel)
    : program_(std::move(program)), host_(host), kernel_(kernel), target_(find_driver_target(program_.binds)) {
    SIM_ASSERT(target_, "driver {} binds to {}, which takes no driver file", program_.name, program_.binds);
    auto note = [&](const std::vector<Step>& steps) {
        for (const auto& s : steps) {
            if (s.op == "set") var_index_.emplace(s.name, unsigned(var_index_.size()));
            if (s.when.kind == StepCondition::Kind::Var) var_index_.emplace(s.when.var, unsigned(var_index_.size()));
        }
    };
    for (const auto& [cb, steps] : program_.callbacks) note(steps);
    for (const auto& [w, steps] : program_.work) note(steps);
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
            buffers_ = std::move(buffers);
        });
    // Work items run beside the callbacks: their steps go on a track of
    // their own under the device's, so slices on each track stay nested.
    if (!program_.work.empty()) {
        // Found first, declared after: declare_track grows the vector of
        // tracks, which a loop over it would go on reading once freed.
        const std::string dev = host_.track();
        const auto& tracks = kernel_.hub().tracks();
        const auto t = std::find_if(tracks.begin(), tracks.end(), [&](const TrackInfo& i) { return i.name == dev; });
        if (t != tracks.end()) kernel_.hub().declare_track({dev + ".kworker", dev, "device", t->domain, t->hz});
    }
    if (program_.callback("io_begin") || program_.callback("io_end")) {
        const std::string dev = host_.track();
        const auto& tracks = kernel_.hub().tracks();
        const auto t = std::find_if(tracks.begin(), tracks.end(), [&](const TrackInfo& i) { return i.name == dev; });
        if (t != tracks.end()) kernel_.hub().declare_track({dev + ".io", dev, "device", t->domain, t->hz});
    }
    if (!var_index_.empty()) vars_ = kernel_.alloc(8 * var_index_.size(), 64);
}

bool DriverRunner::runtime_active() const { return !rpm_ || rpm_->active(host_.device_name()); }

int DriverRunner::run_io(const std::string& hook, Cpu& cpu) {
    const std::vector<Step>* steps = program_.callback(hook);
    return steps ? run_steps(*steps, hook, cpu) : 0;
}

uint64_t DriverRunner::slot(const std::string& reg) const {
    const auto& regs = target_->registers;
    const auto it = std::find_if(regs.begin(), regs.end(), [&](const RegSpec& r) { return r.name == reg; });
    SIM_ASSERT(it != regs.end(), "driver {}: no register {}", program_.name, reg);
    return save_area_ + 8 * uint64_t(it - regs.begin());
}

uint64_t DriverRunner::var(Cpu& cpu, const std::string& name) {
    auto it = var_index_.find(name);
    SIM_ASSERT(it != var_index_.end(), "driver {} has no variable {}", program_.name, name);
    return cpu.read64(vars_ + 8 * it->second);
}

void DriverRunner::set_var(Cpu& cpu, const std::string& name, uint64_t value) {
    auto it = var_index_.find(name);
    SIM_ASSERT(it != var_index_.end(), "driver {} has no variable {}", program_.name, name);
    cpu.write64(vars_ + 8 * it->second, value);
}

int DriverRunner::run(const std::string& cb, Cpu& cpu) {
    const std::vector<Step>* steps = program_.callback(cb);
    if (!steps) return 0;
    callback_ = cb;
    const int rc = run_steps(*steps, cb, cpu);
    callback_.clear();
    return rc;
}

const RegSpec& DriverRunner::spec(const std::string& reg) const {
    for (const auto& r : target_->registers)
        if (r.name == reg) return r;
    SIM_PANIC("driver {}: no register {} (validation missed it)", program_.name, reg);
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
bool compare(int64_t a, const std::string& op, int64_t b) {
    if (op == "==") return a == b;
    if (op == "!=") return a != b;
    if (op == "<") return a < b;
    if (op == ">") return a > b;
    if (op == "<=") return a <= b;
    return a >= b;
}
}  // namespace

bool DriverRunner::holds(const StepCondition& c, const Frame& f, Cpu& cpu) {
    switch (c.kind) {
        case StepCondition::Kind::Always: return true;
        case StepCondition::Kind::Rc: return compare(f.rc, c.op, c.value);
        case StepCondition::Kind::Var: {
            if (c.var == "runtime_suspended") {  // pm_runtime_status_suspended()
                const bool v = rpm_ && rpm_->suspended(host_.device_name());
                return v != c.negate;
            }
            const uint64_t v = var(cpu, c.var);
            return c.op.empty() ? (v != 0) != c.negate : compare(int64_t(v), c.op, c.value);
        }
        case StepCondition::Kind::Reg: {
            const RegSpec& r = spec(c.reg);
            uint64_t v = read_reg(cpu, host_.mmio_base(), r);
            if (!c.field.empty()) v = field_of(r, c.field, v);
            return compare(int64_t(v), c.op, c.value);
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
        if (s.op == "goto") {
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
        if (traced) kernel_.hub().slice_begin(track, s.label, "step", {{"op", s.op}, {"callback", where}});
        const int rc = s.op == "return" ? s.err : exec(s, f, cpu);
        if (traced) kernel_.hub().slice_end(track, s.label, "step", {{"rc", std::to_string(rc)}});
        f.rc = rc;
        if (s.op == "return") return rc ? rc : f.deferred;
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
    else if (s.op == "wait-irq" && kernel_.irq_line_suspended(host_.irq_line()))
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
    sc_core::sc_process_handle h = sc_core::sc_spawn(
        [this, name, c] {
            sc_core::wait(sc_core::SC_ZERO_TIME);  // after the caller goes on
            const int rc = run_steps(program_.work.at(name), "work." + name, *c);
            kernel_.hub().instant(host_.track(), "work-done", "driver",
                                  {{"device", host_.device_name()}, {"work", name}, {"rc", std::to_string(rc)}});
            Work& done = work_[name];
            done.pending = false;
            done.done.notify(sc_core::SC_ZERO_TIME);
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
    const std::string dev = s.device.empty() ? host_.device_name() : host_.param(s.device.substr(1));
    if (!rpm_ || !rpm_->has(dev)) return kENODEV;
    using R = RuntimePm;
    const std::string& op = s.op;
    cpu.compute(Cycles(50));  // the helper's lock and counters
    int rc = 0;
    if (op == "rpm-get-sync") rc = rpm_->get(dev, cpu, 0);
    else if (op == "rpm-resume-and-get") {
        rc = rpm_->get(dev, cpu, 0);
        if (rc < 0) rpm_->put_noidle(dev);
    } else if (op == "rpm-get") {
        rc = rpm_->get(dev, cpu, R::kAsync);
        if (rc == kEINPROGRESS) rc = 0;
    } else if (op == "rpm-get-noresume") rpm_->get_noresume(dev);
    else if (op == "rpm-put") rpm_->put(dev, cpu, R::kAsync);
    else if (op == "rpm-put-sync") rpm_->put(dev, cpu, 0);
    else if (op == "rpm-put-autosuspend") rpm_->put(dev, cpu, R::kAsync | R::kAuto);
    else if (op == "rpm-put-noidle") rpm_->put_noidle(dev);
    else if (op == "rpm-mark-last-busy") rpm_->mark_last_busy(dev);
    else if (op == "rpm-resume") rc = rpm_->resume(dev, cpu, 0);
    else if (op == "rpm-suspend") rc = rpm_->suspend(dev, cpu, 0);
    else if (op == "rpm-idle") rc = rpm_->idle(dev, cpu, 0);
    else if (op == "rpm-force-suspend") rc = rpm_->force_suspend(dev, cpu);
    else if (op == "rpm-force-resume") rc = rpm_->force_resume(dev, cpu);
    else if (op == "rpm-enable") rpm_->enable(dev);
    else if (op == "rpm-disable") rpm_->disable(dev);
    else if (op == "rpm-set-active") rc = rpm_->set_active(dev);
    else if (op == "rpm-set-suspended") rpm_->set_suspended(dev);
    return rc < 0 ? rc : 0;
}

int DriverRunner::exec(const Step& s, Frame& f, Cpu& cpu) {
    const std::string& op = s.op;
    if (find_step_op(op)->may_sleep) might_sleep(s, f, cpu);
    PciCore* core = host_.pci_core();
    PciDev* dev = host_.pci_dev();
    if (op == "read") {
        read_reg(cpu, reg_base(s), spec(s.reg));
        return 0;
    }
    if (op == "write") {
        const RegSpec& r = spec(s.reg);
        write_reg(cpu, reg_base(s), r, s.field.empty() ? *s.value : with_field(r, s.field, 0, *s.value));
        return 0;
    }
    if (op == "rmw") {
        const RegSpec& r = spec(s.reg);
        const uint64_t base = reg_base(s);
        write_reg(cpu, base, r, with_field(r, s.field, read_reg(cpu, base, r), *s.value));
        return 0;
    }
    if (op == "poll") {
        const RegSpec& r = spec(s.reg);
        const uint64_t base = reg_base(s);
        return poll(s, cpu, [&] {
            uint64_t v = read_reg(cpu, base, r);
            return (s.field.empty() ? v : field_of(r, s.field, v)) == *s.value;
        });
    }
    if (op == "save" || op == "restore") {
        for (const auto& name : s.regs) {
            const RegSpec& r = spec(name);
            if (op == "save") cpu.write64(slot(name), read_reg(cpu, host_.mmio_base(), r));
            else write_reg(cpu, host_.mmio_base(), r, cpu.read64(slot(name)));
        }
        return 0;
    }
    if (op == "rederive") return host_.rederive(cpu, s.reg);
    if (op == "set") {
        set_var(cpu, s.name, *s.value);
        return 0;
    }
    if (op.rfind("pci-", 0) == 0) {
        if (!core || !dev) return -19;  // -ENODEV: not a PCI device
        if (op == "pci-save-state") core->save_state(cpu, *dev);
        else if (op == "pci-restore-state") core->restore_state(cpu, *dev);
        else if (op == "pci-wake") core->set_pme(cpu, *dev, s.enable);
        else if (op == "pci-set-power")
            return core->set_power_state(cpu, *dev, s.state == "D0" ? DState::D0 : s.state == "D3hot" ? DState::D3hot
                                                                                                   : DState::D3cold);
        return 0;
    }
    if (op.rfind("irq-", 0) == 0) {
        const unsigned irq = host_.irq_line();
        if (op == "irq-request") host_.request_irq(cpu);
        else if (op == "irq-free") host_.free_irq(cpu);
        else if (irq == 0xff) return 0;  // no interrupt line: nothing to do
        else if (op == "irq-disable") kernel_.disable_irq(cpu, irq);
        else if (op == "irq-enable") kernel_.enable_irq(cpu, irq);
        else if (op == "irq-sync") kernel_.synchronize_irq(irq);
        else if (op == "irq-wake") kernel_.set_irq_wake(irq, s.enable);
        cpu.compute(Cycles(200));  // the descriptor lock and the chip's mask
        return 0;
    }
    if (op == "wait-irq") {
        return kernel_.wait_event(host_.irq_event(), s.timeout, "the interrupt of " + host_.device_name())
                   ? 0
                   : (s.err ? s.err : kETIMEDOUT);
    }
    if (op == "queue-stop") {
        host_.queue_stop(cpu);
        return 0;
    }
    if (op == "queue-start") {
        host_.queue_start(cpu);
        return 0;
    }
    if (op == "drain") {
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
    if (op == "schedule-work") return schedule_work(s.name, cpu);
    if (op == "flush-work") return flush_work(s, cpu);
    if (op == "command") return host_.command(cpu, s.name, *this);
    if (op.rfind("rpm-", 0) == 0) return runtime_step(s, cpu);
    if (op == "alloc") return alloc(s, cpu);
    if (op == "free") {
        for (uint64_t p : buffers_[s.name]) kernel_.free_page(p);
        buffers_[s.name].clear();
        cpu.compute(Cycles(100));
        return 0;
    }
    if (op == "request-firmware") {
        FirmwareStore* store = kernel_.firmware();
        FirmwareStore::Blob b;
        const int rc = store ? store->request(cpu, host_.device_name(), s.name, s.cache, b) : -2;  // -ENOENT
        if (rc == 0) firmware_[s.name] = b;
        return rc;
    }
    if (op == "release-firmware") {
        firmware_.erase(s.name);  // (the buffer is kernel heap: not reused)
        return 0;
    }
    if (op == "wait-for-dev") {
        const std::string other = s.device[0] == '$' ? host_.param(s.device.substr(1)) : s.device;
        kernel_.device_pm_wait_for_dev(host_.device_name(), other);
        return 0;
    }
    if (op == "call") {
        if (++depth_ > 8) SIM_PANIC("driver {}: calls nest deeper than 8", program_.name);
        const int rc = run_steps(*program_.callback(s.name), s.name, cpu);
        --depth_;
        return rc;
    }
    if (op == "compute") {
        cpu.compute(Cycles(s.cycles));
        return 0;
    }
    if (op == "sleep") {
        kernel_.sleep(s.duration, host_.device_name() + " sleeps in " + f.where);
        return 0;
    }
    SIM_PANIC("driver {}: step {} has no semantics", program_.name, op);
}

}  // namespace quiesce
