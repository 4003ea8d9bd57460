// The modelled kernel (sim/kernel/kernel.h): boot, memory and page frames,
// tasks, the freezer, kernel waits and khungtaskd, handles; its interrupt
// and wakeup half is kernel_irq.cpp.
#include "sim/kernel/kernel.h"
#include "sim/core/sync.h"

#include "sim/core/errors.h"
#include "sim/fault/injector.h"

#include <fmt/format.h>

#include <algorithm>

namespace quiesce {

namespace {
// A task thread's stack: the deepest task of the regression suite and the
// examples uses 5.2 KiB (docs/performance.md has the measure; a thread that
// ran past its stack would stop at SystemC's guard page, not corrupt memory).
constexpr size_t kTaskStack = 64 * 1024;
}  // namespace

Kernel::Kernel(const sc_core::sc_module_name& name, RunContext& ctx, std::vector<Cpu*> cpus, uint64_t heap_base,
               uint64_t heap_size)
    : Module(name, ctx), cpus_(std::move(cpus)), wakeup_ev_("ev_wakeup"), never_("ev_never"),
      irq_done_("ev_irq_done"), boot_ev_("ev_boot"), heap_base_(heap_base), heap_next_(heap_base),
      heap_end_(heap_base + heap_size), task_changed_("ev_task_changed") {
    SIM_ASSERT(!cpus_.empty(), "kernel without CPUs");
    register_own_state();
    hub().declare_track({path(), "", "pm", cpus_[0]->clock().name(), cpus_[0]->clock().hz()});
    props().declare("nosave_acpi_nvs", true,
                    "The ACPI NVS ranges are registered nosave; false: hibernation saves and restores firmware pages");
    props().declare("acpi_irq_router_resume", true,
                    "irqrouter_resume: syscore resume sets the PCI interrupt links again; false: relies on firmware");
    props().declare("pm_wakeup_checks", true,
                    "pm_wakeup_pending() checks during suspend; false: a wakeup event during suspend is ignored");
    props().declare("pm_async", true,
                    "/sys/power/pm_async: async phases run each device's callback in its own thread; false: one by one");
    props().declare("acpi_flush_cpu_cache", true,
                    "ACPI_FLUSH_CPU_CACHE (WBINVD) before SLP_EN; false: sleep entered with dirty cache lines");
    props().declare("acpi_gts_bfs", false,
                    "Legacy: run _GTS before SLP_EN and _BFS on wake (acpi.gts=1 acpi.bfs=1, Linux before 3.4)");
    props().declare("pm_test", std::string("none"),
                    "/sys/power/pm_test: freezer, devices, platform, processors or core stops the transition after "
                    "that stage, waits pm_test_delay_ms and unwinds without sleeping; none: a real transition");
    props().declare("pm_test_delay_ms", int64_t(5000),
                    "pm_test_delay (kernel/power/suspend.c): how long a pm_test stop waits, in 1 s busy-wait steps");
    props().declare("hung_task_ms", int64_t(5000),
                    "khungtaskd: checked this often outside transitions, a task blocked in one kernel wait this long "
                    "is hung, as is one asked to stop that is still blocked after this long (Linux: "
                    "hung_task_timeout_secs, 120 s; a run's budget is seconds, a drive spins up in 1.5)");
    SC_THREAD(main_thread);
}

void Kernel::attach_intc(InterruptController& intc, uint64_t mmio_base) {
    intc_ = &intc;
    intc_base_ = mmio_base;
    if (!deferred_) take_interrupts();
}

void Kernel::take_interrupts() {
    cpus_[0]->attach(*intc_, [this](Cpu& cpu, unsigned irq) { irq_entry(cpu, irq); });
}

void Kernel::boot() { quiesce::notify(boot_ev_, sc_core::SC_ZERO_TIME); }

void Kernel::main_thread() {
    main_handle_ = sc_core::sc_get_current_process_handle();
    if (!deferred_) {
        if (program_) program_(boot_cpu());
        ran_ = true;
        quiesce::stop();
        return;
    }
    // A kernel booted from disk (the restore kernel of hibernation) boots at
    // every cold boot that loads it, each time from scratch: its memory is
    // the boot loader's fresh copy, none of the last boot's state survives.
    for (;;) {
        quiesce::wait(boot_ev_);
        if (ran_) {
            reset_state();
            ++boots_;
        }
        if (program_) program_(boot_cpu());
        ran_ = true;
    }
}

void Kernel::reset_state() {
    heap_next_ = heap_base_;
    free_list_.clear();
    free_bits_.clear();
    irqs_.clear();
    irqs_suspended_ = false;
    gfp_restricted_ = false;
    wakeup_irq_ = -1;
    handles_.clear();
    files_.clear();
}

uint64_t Kernel::alloc(uint64_t size, uint64_t align) {
    uint64_t base = (heap_next_ + align - 1) & ~(align - 1);
    SIM_ASSERT(base + size <= heap_end_, "kernel heap exhausted ({} bytes asked)", size);
    heap_next_ = base + size;
    return base;
}

int Kernel::alloc_pages(Cpu& cpu, uint64_t n, Gfp gfp, std::vector<uint64_t>& out) {
    cpu.compute(Cycles(100 * n));  // __alloc_pages
    if (fault("alloc-failure", {{"pages", std::to_string(n)}})) return -12;  // -ENOMEM
    if (free_pages() < n && gfp == Gfp::Atomic) return -12;
    if (free_pages() < n) {
        bool may_io = gfp == Gfp::Kernel && !gfp_restricted_;
        // __alloc_pages_slowpath: reclaim again while a round makes
        // progress (others may take what a round freed while it waited for
        // swap I/O), at most MAX_RECLAIM_RETRIES rounds.
        for (int round = 0; free_pages() < n && round < 16; ++round) {
            uint64_t want = n - free_pages();
            hub().slice_begin(path(), "direct-reclaim", "memory",
                              {{"want", std::to_string(want)}, {"may_io", may_io ? "yes" : "no"}});
            uint64_t freed = reclaim(cpu, want, may_io);
            hub().slice_end(path(), "direct-reclaim", "memory", {{"freed", std::to_string(freed)}});
            if (!freed) break;
        }
        if (free_pages() < n) return -12;  // -ENOMEM
    }
    for (uint64_t i = 0; i < n; ++i) {
        if (!free_list_.empty()) {
            out.push_back(free_list_.back());
            mark_free(free_list_.back(), false);
            free_list_.pop_back();
        } else {
            out.push_back(alloc(kPage, kPage));
        }
    }
    return 0;
}

void Kernel::free_page(uint64_t addr) {
    SIM_ASSERT(addr % kPage == 0 && owns(addr), "freeing {:#x}, not a page of this kernel", addr);
    SIM_ASSERT(!page_free(addr / kPage), "page {:#x} freed twice", addr);
    free_list_.push_back(addr);
    mark_free(addr, true);
}

void Kernel::mark_free(uint64_t addr, bool free) {
    const uint64_t i = addr / kPage - heap_base_ / kPage;  // addr is a page of the heap
    if (i / 64 >= free_bits_.size()) {
        if (!free) return;
        free_bits_.resize(i / 64 + 1);
    }
    if (free) free_bits_[i / 64] |= uint64_t(1) << (i % 64);
    else free_bits_[i / 64] &= ~(uint64_t(1) << (i % 64));
}

void Kernel::register_own_state() {
    image_state_.add(
        "kernel", [this](StateWriter& w) { save_own_state(w); }, [this](StateReader& r) { load_own_state(r); });
}

void Kernel::save_own_state(StateWriter& w) const {
    w.u64(heap_next_);
    w.u64s(free_list_);
    w.boolean(gfp_restricted_);
    w.u64(wakeup_count_);
    w.u64(saved_wakeup_count_);
    w.boolean(events_check_enabled_);
    w.u64(uint64_t(int64_t(wakeup_irq_)));
    w.boolean(irqs_suspended_);
    w.u64(irqs_.size());
    for (const auto& [irq, d] : irqs_) {
        w.u64(irq);
        w.boolean(d.pending);
        w.boolean(d.disabled);
        w.boolean(d.wake);
        w.u64(d.unhandled);
        w.u64(d.depth);
    }
    w.u64(handles_.size());
    for (const auto& h : handles_) {
        w.str(h.task);
        w.str(h.device);
        w.str(h.bank);
        w.boolean(h.revoked);
        w.u64(h.settings.size());
        for (const auto& [reg, v] : h.settings) {
            w.str(reg);
            w.u64(v);
        }
    }
}

// Interrupt handlers are code: the lines keep the actions they have; what
// the descriptors hold (nesting depth, wake arming, pending, the spurious
// count) comes from the image. A line the image does not name starts as a
// fresh descriptor would.
void Kernel::load_own_state(StateReader& r) {
    const uint64_t heap_next = r.u64();
    std::vector<uint64_t> free_list = r.u64s();
    for (uint64_t a : free_list)
        if (a % kPage || !owns(a)) r.fail(fmt::format("free page {:#x} is not a kernel page", a));
    if (heap_next < heap_base_ || heap_next > heap_end_) r.fail("the heap pointer is outside the heap");
    const bool gfp = r.boolean();
    const uint64_t wakeups = r.u64(), saved = r.u64();
    const bool check = r.boolean();
    const int wake_irq = int(int64_t(r.u64()));
    const bool suspended = r.boolean();
    std::map<unsigned, IrqDesc> irqs;
    for (uint64_t n = r.count(48); n--;) {
        IrqDesc d;
        const unsigned irq = unsigned(r.u64());
        d.pending = r.boolean();
        d.disabled = r.boolean();
        d.wake = r.boolean();
        d.unhandled = unsigned(r.u64());
        d.depth = unsigned(r.u64());
        irqs[irq] = d;
    }
    std::vector<DeviceHandle> handles(r.count(40));
    for (auto& h : handles) {
        h.task = r.str();
        h.device = r.str();
        h.bank = r.str();
        h.revoked = r.boolean();
        for (uint64_t n = r.count(16); n--;) {
            std::string reg = r.str();
            h.settings.emplace_back(std::move(reg), r.u64());
        }
    }
    heap_next_ = heap_next;
    free_list_ = std::move(free_list);
    free_bits_.clear();
    for (uint64_t a : free_list_) mark_free(a, true);
    gfp_restricted_ = gfp;
    wakeup_count_ = wakeups;
    saved_wakeup_count_ = saved;
    events_check_enabled_ = check;
    wakeup_irq_ = wake_irq;
    irqs_suspended_ = suspended;
    for (auto& [irq, d] : irqs_) {
        auto it = irqs.find(irq);
        IrqDesc from = it == irqs.end() ? IrqDesc{} : it->second;
        from.actions = std::move(d.actions);
        from.running = d.running;
        d = std::move(from);
    }
    for (auto& [irq, d] : irqs) irqs_.emplace(irq, std::move(d));  // lines only the image names
    handles_ = std::move(handles);
}

uint64_t Kernel::reclaim(Cpu& cpu, uint64_t want, bool may_io) {
    uint64_t freed = 0;
    for (auto& [id, shrink] : shrinkers_) {  // registration order: page cache first, then anonymous memory
        if (freed >= want) break;
        freed += shrink(cpu, want - freed, may_io);
    }
    return freed;
}

void Kernel::remove_shrinker(int id) {
    shrinkers_.erase(std::remove_if(shrinkers_.begin(), shrinkers_.end(), [id](const auto& s) { return s.first == id; }),
                     shrinkers_.end());
}

void Kernel::device_pm_wait_for_dev(const std::string& dev, const std::string& other) {
    const bool waits = bool(dpm_waiter_);
    if (waits) dpm_waiter_(other);
    hub().instant(path(), "dpm-wait-for", "pm", {{"device", dev}, {"waits_for", other}, {"waited", waits ? "yes" : "no"}});
}

int Kernel::open_handle(const std::string& task, const std::string& device, const std::string& bank) {
    handles_.push_back({task, device, bank, {}, false});
    hub().instant(path(), "handle-open", "handle",
                  {{"handle", std::to_string(handles_.size())}, {"task", task}, {"device", device}});
    return int(handles_.size());
}

void Kernel::handle_setting(int handle, const std::string& reg, uint64_t value) {
    // A handle the restored kernel does not have (opened after the
    // snapshot, by a task that ran on): nothing to set.
    if (handle < 1 || size_t(handle) > handles_.size()) return;
    DeviceHandle& h = handles_[size_t(handle - 1)];
    for (auto& [r, v] : h.settings)
        if (r == reg) {
            v = value;
            return;
        }
    h.settings.emplace_back(reg, value);
}

int Kernel::use_handle(int handle) {
    // A handle the restored kernel does not have (opened after the
    // snapshot, by a task that ran on): EBADF, as for a closed descriptor.
    if (handle < 1 || size_t(handle) > handles_.size()) {
        hub().instant(path(), "handle-use", "handle", {{"handle", std::to_string(handle)}, {"result", "EBADF"}});
        return -9;
    }
    const DeviceHandle& h = handles_[size_t(handle - 1)];
    std::string settings;
    for (const auto& [r, v] : h.settings) settings += fmt::format("{}{}={:#x}", settings.empty() ? "" : ";", r, v);
    hub().instant(path(), "handle-use", "handle",
                  {{"handle", std::to_string(handle)}, {"task", h.task}, {"device", h.device}, {"bank", h.bank},
                   {"settings", settings}, {"result", h.revoked ? "EBADF" : "ok"}});
    return h.revoked ? -9 : 0;  // -EBADF
}

int Kernel::open_file(const std::string& task, const FileId& id) {
    if (files_state_ < 0)
        files_state_ = image_state_.add(
            "file-handles", [this](StateWriter& w) { w.str(files_text()); },
            [this](StateReader& r) { parse_files_text(r.str(), r); });
    files_.push_back({task, id, now_ps(), false});
    const std::string handle = "f" + std::to_string(files_.size());
    hub().instant(path(), "handle-open", "handle",
                  {{"handle", handle}, {"task", task}, {"path", id.path}, {"ino", std::to_string(id.ino)},
                   {"generation", std::to_string(id.generation)}});
    return int(files_.size());
}

void Kernel::file_committed(const FileId& id) {
    for (auto& f : files_)
        if (!f.revoked && f.id.ino == id.ino && f.id.generation == id.generation) {
            f.id.size = id.size;
            f.id.version = id.version;
        }
}

int Kernel::use_file(int handle) {
    const std::string name = "f" + std::to_string(handle);
    // A handle the restored kernel does not have (opened after the
    // snapshot, by a task that ran on): EBADF, as for a closed descriptor.
    if (handle < 1 || size_t(handle) > files_.size()) {
        hub().instant(path(), "handle-use", "handle", {{"handle", name}, {"result", "EBADF"}});
        return -9;
    }
    const FileHandle& f = files_[size_t(handle - 1)];
    hub().instant(path(), "handle-use", "handle",
                  {{"handle", name}, {"task", f.task}, {"path", f.id.path}, {"ino", std::to_string(f.id.ino)},
                   {"generation", std::to_string(f.id.generation)}, {"size", std::to_string(f.id.size)},
                   {"version", std::to_string(f.id.version)}, {"opened_ps", std::to_string(f.opened)},
                   {"result", f.revoked ? "EBADF" : "ok"}});
    return f.revoked ? -9 : 0;  // -EBADF
}

unsigned Kernel::revalidate_files(Cpu& cpu) {
    if (files_.empty() || !file_owner_.stat) return 0;
    unsigned revoked = 0;
    bool drop = false;
    for (size_t i = 0; i < files_.size(); ++i) {
        FileHandle& f = files_[i];
        if (f.revoked) continue;
        cpu.compute(Cycles(2'000));  // the path looked up again, the inode read
        FileId disk;
        bool exists = false;
        const int rc = file_owner_.stat(cpu, f.id.path, disk, exists);
        std::string why;
        if (rc != 0) why = fmt::format("its filesystem could not be read ({})", rc);
        else if (!exists) why = fmt::format("gone: inode {} is free", f.id.ino);
        else if (disk.ino != f.id.ino || disk.generation != f.id.generation)
            why = fmt::format("gone: {} is another file (inode {} generation {}, the handle's {} generation {})",
                              f.id.path, disk.ino, disk.generation, f.id.ino, f.id.generation);
        else if (disk.version != f.id.version || disk.size != f.id.size)
            why = fmt::format("changed: change counter {} and size {} on the disk, the handle knows {} and {}",
                              disk.version, disk.size, f.id.version, f.id.size);
        hub().instant(path(), "file-revalidate", "handle",
                      {{"handle", "f" + std::to_string(i + 1)}, {"path", f.id.path},
                       {"result", why.empty() ? "valid" : "revoked"}, {"why", why}});
        if (why.empty()) continue;
        f.revoked = true;
        ++revoked;
        drop = drop || rc == 0;
    }
    // What the kernel holds of a changed file (its page cache, the
    // filesystem's metadata) would be written back over the other change.
    if (drop && file_owner_.drop) file_owner_.drop(cpu);
    if (revoked) hub().instant(path(), "revoke-files", "handle", {{"files", std::to_string(revoked)}});
    return revoked;
}

std::string Kernel::files_text() const {
    std::string t;
    for (size_t i = 0; i < files_.size(); ++i) {
        const FileHandle& f = files_[i];
        const std::string p = fmt::format("file.{}.", i + 1);
        t += fmt::format("{}task={}\n{}path={}\n{}ino={}\n{}generation={}\n{}size={}\n{}version={}\n{}opened={}\n"
                         "{}revoked={}\n",
                         p, f.task, p, f.id.path, p, f.id.ino, p, f.id.generation, p, f.id.size, p, f.id.version, p,
                         f.opened, p, f.revoked ? 1 : 0);
    }
    return t;
}

void Kernel::parse_files_text(const std::string& text, StateReader& r) {
    std::vector<FileHandle> files;
    size_t line_no = 0;
    for (size_t pos = 0; pos < text.size();) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        const std::string line = text.substr(pos, nl - pos);
        pos = nl + 1;
        ++line_no;
        if (line.empty()) continue;
        // file.<n>.<name>=<value>, n counting from 1 in order
        const size_t dot1 = line.find('.'), dot2 = line.find('.', dot1 + 1), eq = line.find('=');
        if (line.compare(0, 5, "file.") != 0 || dot2 == std::string::npos || eq == std::string::npos || eq < dot2)
            r.fail(fmt::format("file handle line {} '{}' is not file.N.name=value", line_no, line));
        char* end = nullptr;
        const std::string num = line.substr(dot1 + 1, dot2 - dot1 - 1);
        const unsigned long n = std::strtoul(num.c_str(), &end, 10);
        if (num.empty() || *end || n == 0 || n > files.size() + 1)
            r.fail(fmt::format("file handle line {}: handle '{}' out of order", line_no, num));
        if (n > files.size()) files.emplace_back();
        FileHandle& f = files[n - 1];
        const std::string key = line.substr(dot2 + 1, eq - dot2 - 1), value = line.substr(eq + 1);
        auto number = [&]() {
            char* e = nullptr;
            const uint64_t v = std::strtoull(value.c_str(), &e, 10);
            if (value.empty() || *e) r.fail(fmt::format("file handle line {}: {} '{}' is not a number", line_no, key, value));
            return v;
        };
        if (key == "task") f.task = value;
        else if (key == "path") f.id.path = value;
        else if (key == "ino") f.id.ino = number();
        else if (key == "generation") f.id.generation = number();
        else if (key == "size") f.id.size = number();
        else if (key == "version") f.id.version = number();
        else if (key == "opened") f.opened = number();
        else if (key == "revoked") f.revoked = number() != 0;
        else r.fail(fmt::format("file handle line {}: unknown name '{}'", line_no, key));
    }
    files_ = std::move(files);
}

unsigned Kernel::revoke_handles(const std::string& device) {
    unsigned n = 0;
    for (auto& h : handles_)
        if (h.device == device && !h.revoked) {
            h.revoked = true;
            ++n;
        }
    hub().instant(path(), "revoke", "handle", {{"device", device}, {"handles", std::to_string(n)}});
    return n;
}

Task& Kernel::spawn(const std::string& name, Task::Kind kind, bool freezable, unsigned cpu, Task::Body body) {
    tasks_.push_back(std::make_unique<Task>(*this, name, kind, freezable, cpu, std::move(body)));
    Task* t = tasks_.back().get();
    sc_core::sc_spawn_options opts;
    opts.set_stack_size(kTaskStack);
    // (a task of a later boot: its thread named apart from the killed one's)
    const std::string thread = "task_" + name + (boots_ && !deferred_ ? "_boot" + std::to_string(boots_ + 1) : "");
    task_threads_.push_back(quiesce::spawn([t] { t->run(); }, thread.c_str(), &opts));
    return *t;
}

void Kernel::check_power() { ctx().dead.throw_if_main(sc_core::sc_get_current_process_handle()); }

void Kernel::power_failed() {
    halt();
    DeadSoftware& dead = ctx().dead;
    dead.main = main_handle_;
    dead.others = contexts_;
    quiesce::notify(dead.died, sc_core::SC_ZERO_TIME);
    hub().instant(path(), "power-failed", "task");
}

void Kernel::halt() {
    halted_ = true;
    for (size_t i = 0; i < tasks_.size(); ++i)
        if (!tasks_[i]->exited()) {
            quiesce::suspend(task_threads_[i]);
            for (Cpu* c : cpus_) c->forget(task_threads_[i]);  // off the run queues
        }
    hub().instant(path(), "halt", "task");
}

void Kernel::unhalt() {
    if (!halted_) return;
    halted_ = false;
    for (size_t i = 0; i < tasks_.size(); ++i)
        if (!tasks_[i]->exited()) quiesce::resume(task_threads_[i]);
    for (Cpu* c : cpus_) c->kick();  // resumed tasks queue for their cores again
    hub().instant(path(), "unhalt", "task");
}

void Kernel::kill_task(size_t i) {
    for (Cpu* c : cpus_) c->forget(task_threads_[i]);
    quiesce::kill(task_threads_[i]);
    tasks_[i]->exited_ = true;
}

void Kernel::kill_all_tasks() {
    for (size_t i = 0; i < tasks_.size(); ++i)
        if (!tasks_[i]->exited()) kill_task(i);
}

void Kernel::abandon() {
    kill_all_tasks();
    hub().instant(path(), "abandon", "task");
}

void Kernel::fresh_boot() {
    kill_all_tasks();
    DeadSoftware& dead = ctx().dead;
    dead.others.insert(dead.others.end(), contexts_.begin(), contexts_.end());
    contexts_.clear();
    reset_state();
    shrinkers_.clear();
    image_state_.reset();
    files_state_ = -1;
    register_own_state();
    wakeup_count_ = 0;
    saved_wakeup_count_ = 0;
    events_check_enabled_ = false;
    waits_.clear();
    wait_since_.clear();
    hung_reported_.clear();
    hung_paused_ = false;
    halted_ = false;
    dpm_waiter_ = nullptr;
    ++boots_;
    take_interrupts();
    hub().instant(path(), "fresh-boot", "task", {{"boot", std::to_string(boots_ + 1)}});
}

void Kernel::stop_tasks() {
    for (auto& t : tasks_) t->request_stop();
    const Picos hung_after = Picos(props().get<int64_t>("hung_task_ms")) * 1'000'000'000ULL;
    const Picos asked = now_ps();
    bool reported = false;
    for (;;) {
        bool all = true;
        for (auto& t : tasks_) all &= t->exited();
        if (all) return;
        check_power();  // (the power may have failed before this wait began)
        const Picos waited = now_ps() - asked;
        if (waited < hung_after || reported) {
            // A power failure ends the wait too: the caller learns it (PowerLost).
            if (reported) quiesce::wait(task_changed_ | ctx().dead.died);
            else quiesce::wait(from_ps(hung_after - waited), task_changed_ | ctx().dead.died);
            check_power();
            continue;
        }
        // khungtaskd: a task blocked in the kernel that cannot get out to
        // stop ("INFO: task writer blocked for more than 120 seconds").
        // One that runs or sleeps in user space is left to finish.
        reported = true;
        for (size_t i = 0; i < tasks_.size(); ++i) {
            const std::string what = tasks_[i]->exited() ? "" : waiting_on(task_threads_[i].name());
            if (what.empty()) continue;
            if (hung_reported_.count(tasks_[i]->name())) {  // the periodic check reported this wait already
                kill_task(i);
                continue;
            }
            hub().guest_error(path(), "liveness.hang",
                              fmt::format("task {} blocked for more than {} in the kernel, on {}", tasks_[i]->name(),
                                          format_ps(now_ps() - asked), what),
                              {{"task", tasks_[i]->name()}, {"waits_for", what}, {"kind", "hung-task"}});
            kill_task(i);
        }
    }
}

int Kernel::freeze(Task::Kind kind, Picos timeout, std::string& refused) {
    const char* what = kind == Task::Kind::User ? "freeze user tasks" : "freeze kernel threads";
    hub().slice_begin(path(), what, "freezer");
    std::vector<Task*> targets;
    for (auto& t : tasks_)
        if (t->kind() == kind && t->freezable() && !t->exited()) targets.push_back(t.get());
    for (Task* t : targets) {
        boot_cpu().compute(Cycles(2'000));  // freeze_task: fake signal / wake-up
        // The task is about to sleep uninterruptibly (a fault rule): it
        // reaches its freeze point but cannot freeze.
        if (ctx().faults.armed("freezer-refusal") &&
            ctx().faults.fire("freezer-refusal", t->name(), path(), {{"task", t->name()}}))
            t->refuse_freezing();
        t->set_freezing(true);
    }
    Picos start = now_ps();
    for (;;) {
        refused.clear();
        for (Task* t : targets)
            if (!t->counted_frozen() && !t->exited()) refused += (refused.empty() ? "" : ",") + t->name();
        if (refused.empty()) break;
        Picos waited = now_ps() - start;
        if (waited >= timeout) {
            hub().slice_end(path(), what, "freezer", {{"result", "timeout"}, {"refused", refused}});
            thaw_all();
            return -16;  // -EBUSY: "Freezing of tasks failed"
        }
        quiesce::wait(from_ps(timeout - waited), task_changed_ | ctx().dead.died);
        check_power();
    }
    hub().slice_end(path(), what, "freezer", {{"result", "ok"}});
    return 0;
}

void Kernel::thaw_all() {
    for (auto& t : tasks_)
        if (t->freezing()) t->set_freezing(false);
    hub().instant(path(), "thaw", "freezer");
}

// SystemC leaves a wait's timeout in its timed-event queue when the event
// comes first, until the timeout's time: a driver waiting for each of
// thousands of completions with a 5 ms timeout kept a thousand stale
// entries in that heap, and every timed notification paid for its depth.
// So each thread has a timeout event of its own, armed once: a wait whose
// deadline is later than the one already pending leaves it, and when it
// fires before the deadline of the wait now under way, that wait arms it
// again and goes on waiting. A wait that cannot time out arms nothing.
Kernel::WaitTimer& Kernel::wait_timer() {
    auto& t = wait_timers_[sc_core::sc_get_current_process_handle().get_process_object()];
    if (!t) t = std::make_unique<WaitTimer>();
    return *t;
}

bool Kernel::wait_event(const sc_core::sc_event& ev, Picos timeout, const std::string& what) {
    const Picos start = now_ps();
    std::string thread;
    if (!what.empty()) {
        thread = sc_core::sc_get_current_process_handle().name();
        waits_[thread] = what;
        wait_since_[thread] = start;
    }
    const sc_core::sc_event& died = ctx().dead.died;  // a power failure ends every wait
    if (timeout >= kNoTimeout) {
        quiesce::wait(ev | died);
        check_power();
    } else if (timeout == 0) {
        quiesce::wait(sc_core::SC_ZERO_TIME, ev | died);
        check_power();
    } else {
        const Picos deadline = start + timeout;
        WaitTimer& t = wait_timer();
        if (t.at <= start || t.at > deadline) {
            quiesce::notify(t.ev, from_ps(timeout));
            t.at = deadline;
        }
        for (;;) {
            quiesce::wait(ev | t.ev | died);
            check_power();
            const Picos now = now_ps();
            if (ev.triggered() || died.triggered() || now >= deadline) break;
            quiesce::notify(t.ev, from_ps(deadline - now));  // an earlier wait's timeout
            t.at = deadline;
        }
    }
    if (!thread.empty()) {
        waits_.erase(thread);
        wait_since_.erase(thread);
    }
    return now_ps() - start < timeout;
}

void Kernel::start_hung_task_detector() {
    sc_core::sc_spawn_options opts;
    opts.spawn_method();
    opts.dont_initialize();
    const Picos every = Picos(props().get<int64_t>("hung_task_ms")) * 1'000'000'000ULL;
    auto tick = std::make_shared<sc_core::sc_event>();
    opts.set_sensitivity(tick.get());
    quiesce::spawn(
        [this, tick, every] {
            check_hung_tasks();
            quiesce::notify(*tick, from_ps(every));
        },
        (std::string(name()) + "_khungtaskd").c_str(), &opts);
    quiesce::notify(*tick, from_ps(every));
}

// check_hung_uninterruptible_tasks: a task whose one kernel wait (no
// context switch since) has lasted hung_task_ms.
void Kernel::check_hung_tasks() {
    if (hung_paused_ || halted_) return;
    const Picos hung_after = Picos(props().get<int64_t>("hung_task_ms")) * 1'000'000'000ULL;
    for (size_t i = 0; i < tasks_.size(); ++i) {
        if (tasks_[i]->exited() || hung_reported_.count(tasks_[i]->name())) continue;
        auto since = wait_since_.find(task_threads_[i].name());
        if (since == wait_since_.end() || now_ps() - since->second < hung_after) continue;
        hung_reported_.insert(tasks_[i]->name());
        const std::string what = waiting_on(task_threads_[i].name());
        hub().guest_error(path(), "liveness.hang",
                          fmt::format("task {} blocked for more than {} in the kernel, on {}", tasks_[i]->name(),
                                      format_ps(now_ps() - since->second), what),
                          {{"task", tasks_[i]->name()}, {"waits_for", what}, {"kind", "hung-task"}});
    }
}

std::string Kernel::waiting_on(const std::string& thread) const {
    auto it = waits_.find(thread);
    return it == waits_.end() ? "" : it->second;
}

std::string Kernel::pm_waiting_on() const {
    std::string any;
    for (const auto& [thread, what] : waits_)
        if (thread == main_thread_name()) return what;
        else if (any.empty() && thread.rfind(main_thread_name(), 0) == 0) any = what;
    return any;
}

std::vector<std::pair<std::string, std::string>> Kernel::blocked() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [thread, what] : waits_) {
        std::string who = thread;
        if (thread.rfind(main_thread_name(), 0) == 0) who = "pm";  // the PM thread or a worker of its
        for (size_t i = 0; i < tasks_.size(); ++i)
            if (!tasks_[i]->exited() && task_threads_[i].name() == thread) who = tasks_[i]->name();
        out.emplace_back(who, what);
    }
    return out;
}

}  // namespace quiesce
