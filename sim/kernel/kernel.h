// The modelled OS (first slice): a kernel memory allocator, the IRQ descriptor
// table with Linux's suspend_device_irqs / resume_device_irqs semantics, and
// the boot CPU's main thread that runs the run's program (boot, workload,
// system sleep transition) as timed code.
#pragma once

#include "models/cpu/cpu.h"
#include "sim/core/sync.h"
#include "sim/core/module.h"
#include "sim/kernel/image_state.h"
#include "sim/kernel/task.h"

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace quiesce {

class FirmwareStore;

class Kernel : public Module {
public:
    SC_HAS_PROCESS(Kernel);
    using IrqHandler = std::function<bool(Cpu&)>;  // returns true if handled
    using Program = std::function<void(Cpu&)>;

    Kernel(const sc_core::sc_module_name& name, RunContext& ctx, std::vector<Cpu*> cpus, uint64_t heap_base,
           uint64_t heap_size);

    Cpu& boot_cpu() { return *cpus_.at(0); }
    const std::vector<Cpu*>& cpus() const { return cpus_; }
    void set_program(Program p) { program_ = std::move(p); }
    // A kernel that boots later (the restore kernel of hibernation): its
    // program starts on boot(), and the simulation does not stop after it.
    void set_deferred_boot() { deferred_ = true; }
    void boot();
    // What a boot starts from: an empty heap and free list, no interrupt
    // handlers, nothing suspended. A deferred kernel's every boot after its
    // first begins so; kexec's jump into a loaded kernel too.
    void reset_state();
    // This kernel takes over the boot CPU's interrupt entry (its IDT).
    void take_interrupts();
    uint64_t heap_used() const { return heap_next_; }
    bool owns(uint64_t addr) const { return addr >= heap_base_ && addr < heap_end_; }

    // The firmware loader (sim/kernel/firmware.h), set by the platform.
    void set_firmware(FirmwareStore* f) { firmware_ = f; }
    FirmwareStore* firmware() const { return firmware_; }

    // Kernel memory: bump allocation in the normal RAM region, for what lives
    // as long as the kernel (driver structs, rings, tables).
    uint64_t alloc(uint64_t size, uint64_t align = 64);

    // Page frames that come and go (page cache, anonymous memory, driver
    // buffers): freed frames are reused before the heap grows. Under
    // pressure an allocation reclaims through the shrinkers first; GFP_NOIO
    // - and every allocation while pm_restrict_gfp_mask is in force - may
    // only reclaim what needs no I/O; GFP_ATOMIC does not reclaim at all.
    // Returns 0, or -ENOMEM (nothing taken).
    enum class Gfp { Kernel, NoIO, Atomic };
    int alloc_pages(Cpu& cpu, uint64_t n, Gfp gfp, std::vector<uint64_t>& out);
    void free_page(uint64_t addr);
    uint64_t free_pages() const {
        uint64_t next = (heap_next_ + kPage - 1) & ~(kPage - 1);  // a page from the heap is page-aligned
        return (next < heap_end_ ? (heap_end_ - next) / kPage : 0) + free_list_.size();
    }
    uint64_t total_pages() const { return (heap_end_ - heap_base_) / kPage; }
    // Asked of every page of every device write into RAM (the checker's
    // dma.use-after-free): a bit by page number from the heap's base.
    bool page_free(uint64_t pfn) const {
        const uint64_t first = heap_base_ / kPage;
        if (pfn < first) return false;
        const uint64_t i = pfn - first;
        return i / 64 < free_bits_.size() && ((free_bits_[i / 64] >> (i % 64)) & 1);
    }
    // A shrinker frees up to `want` pages (calling free_page) and returns how
    // many it freed; `may_io` says whether it may write to disk to do so.
    using Shrinker = std::function<uint64_t(Cpu&, uint64_t want, bool may_io)>;
    int add_shrinker(Shrinker s) {
        shrinkers_.emplace_back(++shrinker_ids_, std::move(s));
        return shrinker_ids_;
    }
    void remove_shrinker(int id);
    // Reclaims up to `want` pages (shrink_all_memory); returns the number freed.
    uint64_t reclaim(Cpu& cpu, uint64_t want, bool may_io);
    // What the hibernation image carries besides plain memory: the state of
    // C++ objects that stands for kernel memory (sim/kernel/image_state.h).
    // The kernel's own (the allocator, interrupt descriptors, the wakeup
    // count, handles) is registered first, so it loads first.
    ImageState& image_state() { return image_state_; }
    // pm_restrict_gfp_mask / pm_restore_gfp_mask.
    void restrict_gfp(bool on) { gfp_restricted_ = on; }
    bool gfp_restricted() const { return gfp_restricted_; }

    // Interrupts. request_irq's flags (include/linux/interrupt.h):
    // IRQF_NO_SUSPEND - suspend_device_irqs leaves the line live (its
    // handlers run while devices are suspended); IRQF_COND_SUSPEND - a
    // handler sharing such a line says it copes with running then. A line
    // with NO_SUSPEND users must have only NO_SUSPEND or COND_SUSPEND users
    // (irq_pm_install_action's WARN; a guest error here).
    static constexpr unsigned kIrqNoSuspend = 1, kIrqCondSuspend = 2;
    void request_irq(Cpu& cpu, unsigned irq, const std::string& owner, IrqHandler handler, unsigned flags = 0);
    // Removes `owner`'s handlers of `irq` (the line stays unmasked for the others).
    void free_irq(unsigned irq, const std::string& owner);
    // Tells, for a handler's owner, why its device cannot take an interrupt
    // now (empty if it can) and the device's track: the platform knows the
    // devices' power states.
    struct HandlerPower {
        std::string why, track;
    };
    void set_handler_power_check(std::function<HandlerPower(const std::string& owner)> check) {
        handler_power_ = std::move(check);
    }
    void irq_entry(Cpu& cpu, unsigned irq);
    // disable_irq / enable_irq: a nesting depth per line; while disabled the
    // line is masked and an arrival stays pending until enable_irq.
    // synchronize_irq waits until no handler of the line runs.
    void disable_irq(Cpu& cpu, unsigned irq);
    void enable_irq(Cpu& cpu, unsigned irq);
    void synchronize_irq(unsigned irq);
    void set_irq_wake(unsigned irq, bool on) { irqs_[irq].wake = on; }
    // An IRQ that stays armed while device IRQs are suspended (enable_irq_wake,
    // IRQF_NO_SUSPEND for the SCI): its arrival is a wakeup event.
    void set_irq_wake(unsigned irq) { irqs_[irq].wake = true; }
    bool irq_wake(unsigned irq) const {
        auto it = irqs_.find(irq);
        return it != irqs_.end() && it->second.wake;
    }
    // Suspend-to-idle (kernel/irq/pm.c, drivers/base/power/wakeup.c): the
    // IRQ whose armed arrival last woke the system (pm_wakeup_irq, -1: none),
    // cleared by pm_wakeup_clear; rearm_wake_irq lets that line fire again
    // (its arrival was dealt with). wakeup_ev is notified at every wakeup
    // event (what s2idle_enter waits for).
    int pm_wakeup_irq() const { return wakeup_irq_; }
    void pm_wakeup_clear() { wakeup_irq_ = -1; }
    void rearm_wake_irq(Cpu& cpu, unsigned irq);
    const sc_core::sc_event& wakeup_ev() const { return wakeup_ev_; }
    // The wakeup-source framework: pm_wakeup_event() counts, and a transition
    // asks whether any arrived since it began (pm_wakeup_pending).
    void pm_wakeup_event(const std::string& source);
    uint64_t wakeup_count() const { return wakeup_count_; }
    // /sys/power/wakeup_count written back (pm_save_wakeup_count): -EINVAL
    // if a wakeup event arrived since `count` was read; else the count is
    // saved and events_check_enabled, so the transition checks against it.
    int save_wakeup_count(uint64_t count);
    bool events_check_enabled() const { return events_check_enabled_; }
    uint64_t saved_wakeup_count() const { return saved_wakeup_count_; }
    void suspend_device_irqs();
    void resume_device_irqs(Cpu& cpu);
    bool device_irqs_suspended() const { return irqs_suspended_; }
    // Whether `irq` is stopped now: device IRQs suspended and the line not
    // kept live by an IRQF_NO_SUSPEND user.
    bool irq_line_suspended(unsigned irq) const {
        auto it = irqs_.find(irq);
        return it == irqs_.end() ? irqs_suspended_ : line_suspended(it->second);
    }
    void attach_intc(InterruptController& intc, uint64_t mmio_base);

    // Blocks the calling software thread until `ev` or `timeout`; true if `ev`.
    // `what` names what the thread waits for (the evidence of liveness.hang).
    // A timeout of kNoTimeout or more never comes.
    bool wait_event(const sc_core::sc_event& ev, Picos timeout, const std::string& what = "");
    static constexpr Picos kNoTimeout = ~0ULL >> 2;
    // device_pm_wait_for_dev: a driver's one-off wait, inside its PM
    // callback, for another device's callback of the same phase (EHCI waits
    // so for its companion controllers). As dpm_wait, it waits only when the
    // phase runs its callbacks asynchronously; a `dpm-wait-for` instant says
    // what was declared (the checker's order.dependency holds it).
    void device_pm_wait_for_dev(const std::string& dev, const std::string& other);
    // Set by the PM engine for an asynchronous phase: waits until `other`
    // finished its callback (or does not take part).
    void set_dpm_waiter(std::function<void(const std::string& other)> w) { dpm_waiter_ = std::move(w); }
    // Process handles to devices (an open file descriptor of a device
    // node): what the process configured through one (register = value in
    // `bank`, the component whose registers hold it) is what it relies on.
    // use_handle: 0, or -EBADF once revoked; each use is a `handle-use`
    // instant (the checker's revoke.stale-handle compares the settings with
    // the device). revoke_handles: every handle to `device` (galibert's
    // revoke() of a device that could not restore its state).
    int open_handle(const std::string& task, const std::string& device, const std::string& bank);
    void handle_setting(int handle, const std::string& reg, uint64_t value);
    int use_handle(int handle);
    unsigned revoke_handles(const std::string& device);
    // Process handles to files (an open file descriptor of a regular file):
    // the path, the file's identity (inode number, generation) and what the
    // handle knows of it (size, change counter) - set at open and updated
    // at every commit of the inode (file_committed), so it is what the disk
    // says of the file. The table is kernel memory: the image carries it as
    // explicit name=value text ("file.1.path=/data", ...), parsed back at
    // restore. use_file: 0, or -EBADF once revoked; each use is a
    // `handle-use` instant (the checker's revoke.stale-handle compares the
    // handle with what happened to the file). revalidate_files (galibert's
    // revoke() for paths): each handle's file read again from the disk
    // through its filesystem (`FileOwner`); a file gone or changed has its
    // handles revoked and its filesystem's stale state dropped.
    struct FileId {
        std::string path;
        uint64_t ino = 0, generation = 0, size = 0, version = 0;
    };
    struct FileOwner {
        // The file as the disk has it now ("" and `out`), or why it could not be read.
        std::function<int(Cpu&, const std::string& path, FileId& out, bool& exists)> stat;
        // Drops what the kernel holds of the changed file (page cache, metadata).
        std::function<int(Cpu&)> drop;
    };
    int open_file(const std::string& task, const FileId& id);
    void file_committed(const FileId& id);
    int use_file(int handle);
    void set_file_owner(FileOwner o) { file_owner_ = std::move(o); }
    unsigned revalidate_files(Cpu& cpu);
    // The file-handle table as its name=value text, and back (StateError
    // from `r` for a line it cannot take).
    std::string files_text() const;
    void parse_files_text(const std::string& text, StateReader& r);
    // msleep: the calling software thread sleeps `d`.
    void sleep(Picos d, const std::string& what = "") { wait_event(never_, d, what); }
    // khungtaskd: every hung_task_ms, a task blocked in one kernel wait for
    // longer than that is reported (liveness.hang, kind hung-task), once.
    // Off between PM_SUSPEND_PREPARE and PM_POST_SUSPEND (hung_task_pm_notify):
    // `pause(true)` when a transition starts, `pause(false)` after it.
    void start_hung_task_detector();
    void pause_hung_task_detector(bool paused) { hung_paused_ = paused; }
    // What a thread (by SystemC process name) is waiting for now, or "".
    std::string waiting_on(const std::string& thread) const;
    // What the PM thread waits for, or else what one of its workers waits for.
    std::string pm_waiting_on() const;
    // Every software thread blocked now, as (who, what it waits for): a
    // task by its name, the PM thread and its workers as "pm", any other by
    // its process name.
    std::vector<std::pair<std::string, std::string>> blocked() const;
    bool halted() const { return halted_; }
    std::string main_thread_name() const { return std::string(name()) + ".main_thread"; }

    // Tasks.
    Task& spawn(const std::string& name, Task::Kind kind, bool freezable, unsigned cpu, Task::Body body);
    const std::vector<std::unique_ptr<Task>>& tasks() const { return tasks_; }
    void task_changed() { quiesce::notify(task_changed_, sc_core::SC_ZERO_TIME); }
    // Asks every task to stop and waits until all have exited (end of run).
    void stop_tasks();
    // The CPUs stop (sleep state entered): no task runs until unhalt(),
    // whatever it was doing - frozen or not. A kernel whose image is never
    // resumed abandons its tasks.
    void halt();
    void unhalt();
    // The power failed under this kernel (an asynchronous power loss): its
    // tasks stop, its main thread gets PowerLost at its next operation, and
    // its other threads (async PM callbacks) stop at theirs.
    void power_failed();
    // A deferred kernel (the restore kernel) boots once; true once it has run.
    bool ran() const { return ran_; }
    unsigned boots() const { return boots_ + (ran_ ? 1 : 0); }
    // In the main thread after a wait: throws PowerLost if the power failed.
    void check_power();
    // A thread running on this kernel's behalf (an async PM callback).
    void adopt_context(const sc_core::sc_process_handle& h) { contexts_.push_back(h); }
    void abandon();
    // A fresh boot of this kernel on the machine it ran on (the last boot
    // found no image, or the power was cut): its tasks killed, every context
    // it had (callback workers, runtime PM workqueues, driver contexts) left
    // parked for good, and it starts from what reset_state() gives, with no
    // shrinkers, no wakeup count, no waits and no open handles.
    void fresh_boot();

    // The freezer: user tasks, or freezable kernel threads. Waits up to
    // `timeout` for every targeted task to reach a freeze point; on timeout
    // it thaws everything and returns -EBUSY naming the refusing tasks in
    // `refused`.
    int freeze(Task::Kind kind, Picos timeout, std::string& refused);
    void thaw_all();

private:
    FirmwareStore* firmware_ = nullptr;
    ImageState image_state_{*this};
    void register_own_state();
    void save_own_state(StateWriter& w) const;
    void load_own_state(StateReader& r);
    // Ends task i's thread where it is (it is gone with its kernel, or hung).
    void kill_task(size_t i);
    void kill_all_tasks();  // every task not yet exited
    struct IrqAction {
        std::string owner;
        IrqHandler handler;
        unsigned flags = 0;  // kIrqNoSuspend, kIrqCondSuspend
    };
    struct IrqDesc {
        std::vector<IrqAction> actions;
        bool pending = false;    // arrived while suspended: replayed on resume
        bool disabled = false;   // "nobody cared"
        bool wake = false;       // armed for wakeup while device IRQs are suspended
        unsigned unhandled = 0;
        unsigned depth = 0;      // disable_irq nesting
        unsigned running = 0;    // handlers running now (synchronize_irq)
        // Whether suspend_device_irqs stops this line: not while an
        // IRQF_NO_SUSPEND user has it (desc->no_suspend_depth).
        bool no_suspend() const;
    };
    bool line_suspended(const IrqDesc& d) const { return irqs_suspended_ && !d.no_suspend(); }
    void main_thread();
    void set_masked(Cpu& cpu, unsigned irq, bool masked);

    static constexpr uint64_t kPage = 4096;
    std::vector<Cpu*> cpus_;
    Program program_;
    std::vector<uint64_t> free_list_;
    // The pages on free_list_, as bits from the heap's base page, grown to
    // the highest one freed (no std::set: a lookup per page of every device
    // write, and a forked variant's insert rebalanced the stem's nodes).
    std::vector<uint64_t> free_bits_;
    void mark_free(uint64_t addr, bool free);
    std::vector<std::pair<int, Shrinker>> shrinkers_;
    int shrinker_ids_ = 0;
    bool gfp_restricted_ = false;
    uint64_t wakeup_count_ = 0;
    int wakeup_irq_ = -1;
    sc_core::sc_event wakeup_ev_;
    sc_core::sc_event never_;
    sc_core::sc_event irq_done_;  // a handler finished (synchronize_irq)  // what sleep() waits on besides its timeout
    std::function<void(const std::string&)> dpm_waiter_;
    struct DeviceHandle {
        std::string task, device, bank;
        std::vector<std::pair<std::string, uint64_t>> settings;
        bool revoked = false;
    };
    std::vector<DeviceHandle> handles_;
    struct FileHandle {
        std::string task;
        FileId id;
        Picos opened = 0;
        bool revoked = false;
    };
    std::vector<FileHandle> files_;
    FileOwner file_owner_;
    int files_state_ = -1;  // the image-state section of the table, once a file is open
    std::function<HandlerPower(const std::string&)> handler_power_;
    bool deferred_ = false;
    sc_core::sc_event boot_ev_;
    uint64_t heap_base_;
    uint64_t heap_next_;
    uint64_t heap_end_;
    std::map<unsigned, IrqDesc> irqs_;
    bool irqs_suspended_ = false;
    std::vector<std::unique_ptr<Task>> tasks_;
    std::vector<sc_core::sc_process_handle> task_threads_;
    std::map<std::string, std::string> waits_;  // thread -> what it waits for
    std::map<std::string, Picos> wait_since_;   // thread -> when its current kernel wait began
    // Each waiting thread's own timeout: one pending notification at most,
    // left armed when the wait ends first (see wait_event).
    struct WaitTimer {
        sc_core::sc_event ev;
        Picos at = 0;  // when its pending notification fires (none if <= now)
    };
    std::unordered_map<const sc_core::sc_object*, std::unique_ptr<WaitTimer>> wait_timers_;
    WaitTimer& wait_timer();
    std::set<std::string> hung_reported_;       // tasks khungtaskd reported
    bool hung_paused_ = false;
    void check_hung_tasks();
    bool halted_ = false;
    bool events_check_enabled_ = false;
    uint64_t saved_wakeup_count_ = 0;
    bool ran_ = false;
    unsigned boots_ = 0;  // boots before the current one (a deferred kernel boots again)
    sc_core::sc_process_handle main_handle_;
    std::vector<sc_core::sc_process_handle> contexts_;
    sc_core::sc_event task_changed_;
    InterruptController* intc_ = nullptr;
    uint64_t intc_base_ = 0;
};

}  // namespace quiesce
