// The parts of a run (run_part.h) and the list that assembles them: the
// storage workload with its durability oracle, hibernation with the image
// oracle, the DMA workload and the tasks that use the DMA engine, the wake
// inputs a person gives, the syscore ops, PM notifiers and runtime PM.
#include "sim/scenario/run_part.h"
#include "sim/core/sync.h"

#include "sim/check/image_check.h"
#include "sim/pm/hibernation.h"
#include "sim/scenario/dma_workload.h"
#include "sim/scenario/storage_workload.h"

#include <algorithm>

namespace quiesce {
namespace {

// [workload]'s storage: the filesystem and its tasks on the first disk, and
// the disk's durability oracle fed by every driver of that disk.
class StoragePart : public RunPart {
public:
    explicit StoragePart(Run& run) {
        if (Platform::Disk disk = run.platform.disk(); disk.drive) {
            check_ = std::make_unique<StorageCheck>(run.checker, *disk.drive, run.platform.memory(), disk.name);
            disk_ = disk.name;
            run.platform.set_block_observer(check_->observer());
            // A bit flipped on the media by a fault is not a write the OS lost.
            // The two instants this reads, and its interest says so.
            static constexpr std::string_view kOfflineWrite = "offline-fs-write", kBitFlipped = "image-bit-flipped";
            run.ctx.hub.subscribe(kind_bit(EvKind::Instant), [check = check_.get(), &checker = run.checker](const Event& ev) {
                if (ev.name == kOfflineWrite) {
                    // Another OS's writes while the machine was off: not writes
                    // the OS lost; what they changed, the checker holds handles to.
                    const std::string sectors = arg_value(ev, "sectors");
                    for (size_t p = 0; p < sectors.size();) {
                        size_t c = sectors.find(',', p);
                        if (c == std::string::npos) c = sectors.size();
                        check->faulted(std::stoull(sectors.substr(p, c - p)));
                        p = c + 1;
                    }
                    if (arg_value(ev, "error").empty()) {
                        const bool remove = arg_value(ev, "op") == "delete";
                        checker.file_changed_offline(std::stoull(arg_value(ev, "ino")), ev.ts,
                                                     remove ? "deleted" : "wrote");
                        check->foreign_change(remove, std::stoull(arg_value(ev, "file_block")));
                    }
                    return;
                }
                if (ev.name != kBitFlipped) return;
                std::string sector = arg_value(ev, "sector");
                if (!sector.empty() && sector != "-1") check->faulted(std::stoull(sector));
            },
            [](EvKind, std::string_view, std::string_view name) {
                return name == kOfflineWrite || name == kBitFlipped;
            });
        }
        workload_ = std::make_unique<StorageWorkloadRun>(run.platform, run.ctx, check_.get(), run.s);
    }
    SwapMap* swap_map() { return workload_->swap_map(); }
    StorageCheck* check() { return check_.get(); }

    void boot(Run&, Cpu&) override { workload_->start(); }
    void services(Run&, Cpu&, PmServices& svc) override {
        svc.sync = [w = workload_.get()](Cpu& c) { return w->sync(c); };
        if (check_) svc.sleep_entered = [check = check_.get()] { check->sleep_entered(); };
    }
    void transition_ended(Run& run, const PmEngine::Result& r, bool back) override {
        if (!check_) return;
        // A USB disk swapped while the machine slept: the OS's disk may be
        // another medium now.
        if (const SataDrive* m = run.platform.medium(disk_)) check_->set_medium(*m);
        if (back) check_->check(true);
        else if (r.slept) check_->check(false);  // a fresh boot: only what was durable counts
    }
    void drain(Run& run, bool after_resume) override {
        // The tasks go on running: what they see now is what the suspend did to them.
        if (after_resume && run.s.storage.run_after) run.kernel().sleep(run.s.storage.run_after, "the tasks after the resume");
        if (run.s.storage.ops) workload_->wait_results(run.s.sim_limit);
    }
    void booted_afresh(Run&) override {
        if (check_) check_->check(false);  // a fresh boot: only what was durable counts
    }
    // The resumed kernel has run on and committed: is what another OS
    // changed while the machine was off still on the disk?
    void stopped(Run&, bool) override {
        if (check_) check_->check_foreign();
    }
    void fresh_boot(Run&) override {
        if (check_) check_->fresh_boot();
        workload_->fresh_boot();
    }

private:
    std::unique_ptr<StorageCheck> check_;
    std::string disk_;
    std::unique_ptr<StorageWorkloadRun> workload_;
};

// Hibernation: the image machinery ([hibernation]) and its oracle.
class HibernationPart : public RunPart {
public:
    explicit HibernationPart(Run& run) {
        HibernationOptions opts(run.s.hibernation);
        opts.hw_signature = run.s.platform.hw_signature;
        opts.current_hw_signature = [&p = run.platform] {
            return p.memory().peek32(p.firmware().facs() + AcpiFirmware::FACS_HW_SIGNATURE);
        };
        Kernel& k = run.kernel();
        hibernation_ = std::make_unique<Hibernation>(k, run.platform.memory(), run.ctx.hub, opts);
        image_check_ = std::make_unique<ImageCheck>(run.checker, run.platform.memory(), run.ctx.ledger, k.path());
        hibernation_->set_check(image_check_.get());
        image_check_->set_update_probe([&k] {
            std::vector<std::string> torn;
            for (const auto& t : k.tasks())
                if (!t->exited() && !t->update_in_progress().empty())
                    torn.push_back(t->name() + ": " + t->update_in_progress());
            return torn;
        });
        run.platform.set_restore(opts, image_check_.get());
    }

    void fresh_boot(Run&) override { fresh_ = true; }
    // A fresh boot swapons the swap partition (fstab), which a run's first
    // boot finds as mkswap left it: util-linux's swapon takes back a
    // signature no boot consumed ([hibernation] swapon).
    void boot(Run& run, Cpu& cpu) override {
        if (!fresh_) return;
        fresh_ = false;
        Platform::Disk disk = run.platform.disk();
        if (!disk.driver || !run.s.hibernation.swapon_rewrites) return;
        bool rewritten = false;
        const int rc = swapon_check(run.kernel(), cpu, *disk.driver, disk.swap_first, rewritten);
        run.ctx.hub.instant(run.kernel().path(), "swapon", "hibernation",
                            {{"device", disk.name}, {"rc", std::to_string(rc)},
                             {"signature", rewritten ? "image signature rewritten" : "swap"}});
    }
    void services(Run& run, Cpu&, PmServices& svc) override {
        if (auto* storage = run.find<StoragePart>()) hibernation_->set_swap_map(storage->swap_map());
        hibernation_->set_faults(&run.ctx.faults);
        if (!run.s.hibernates()) return;
        Platform::Disk disk = run.platform.disk();
        hibernation_->set_swap(disk.driver, disk.swap_first, disk.drive->sectors() - disk.swap_first);
        image_check_->watch_filesystem(disk.drive, 0, disk.root_sectors, disk.name);
        if (auto* storage = run.find<StoragePart>()) image_check_->set_storage(storage->check());
        Hibernation* h = hibernation_.get();
        svc.preallocate = [h](Cpu& c) { return h->preallocate(c); };
        svc.snapshot = [h](Cpu& c) { return h->snapshot(c); };
        svc.write_image = [h](Cpu& c) { return h->write_image(c); };
        svc.kexec_save = [h, &p = run.platform](Cpu& c) { return p.kexec_save(c, *h); };
        svc.image_restored = [h](Cpu& c) { h->image_restored(c); };
        svc.image_restore_point = Platform::kImageRestorePoint;
    }

private:
    std::unique_ptr<Hibernation> hibernation_;
    std::unique_ptr<ImageCheck> image_check_;
    bool fresh_ = false;
};

// The DMA copies and USB No-Op commands before and after each transition
// (dma_workload.cpp); the first that went wrong is the run's `workload`.
class DmaWorkloadPart : public RunPart {
public:
    void boot(Run& run, Cpu& cpu) override { workload_ = dma_workload(run.platform, run.ctx, cpu, run.s, "before", buffers_); }
    void cycle_begin(Run& run, Cpu& cpu, unsigned) override { note(dma_workload(run.platform, run.ctx, cpu, run.s, "before", buffers_)); }
    void resumed(Run& run, Cpu& cpu, unsigned) override { note(dma_workload(run.platform, run.ctx, cpu, run.s, "after", buffers_)); }
    void summary(Run&, RunSummary& out) override { out.workload = workload_.empty() ? "ok" : workload_; }
    void fresh_boot(Run&) override { buffers_.clear(); }  // they were in the old kernel's heap

private:
    void note(std::string what) {
        if (workload_.empty()) workload_ = std::move(what);
    }
    DmaBuffers buffers_;
    std::string workload_;
};

// [workload] dma_streamer: a driver's own worker (not freezable) streaming
// copies on the last core. It runs alongside the PM thread until that core
// goes offline, then migrates to the boot CPU. dma_streamer_threads > 1:
// that many such workers on the same engine, each with its own buffers, so
// the ring holds a descriptor queued behind the one in flight.
class DmaStreamerPart : public RunPart {
public:
    void boot(Run& run, Cpu&) override {
        auto dma = run.platform.dma_drivers();
        if (dma.empty()) return;
        Kernel& k = run.kernel();
        DmaEngineDriver* drv = dma[0].second;
        const uint32_t size = run.s.copy_size;
        unsigned core = unsigned(k.cpus().size() - 1);
        for (unsigned i = 0; i < run.s.storage.dma_streamer_threads; ++i) {
            uint64_t src = k.alloc(size, 4096), dst = k.alloc(size, 4096);
            const std::string name = i == 0 ? "dma-streamer" : "dma-streamer" + std::to_string(i + 1);
            k.spawn(name, Task::Kind::KThread, false, core, [drv, src, dst, size](Task& t) {
                while (!t.should_stop())
                    if (drv->copy(t.cpu(), src, dst, size) != 0)
                        quiesce::wait(from_ps(1'000'000'000ULL));  // stopped: retry in 1 ms
            });
        }
    }
};

// [workload] handle_user: a process with the DMA engine's device node open
// (a "player"). It sets the engine's burst through its handle and relies on
// it for every copy it issues - before the suspend and after it.
class HandleUserPart : public RunPart {
public:
    void boot(Run& run, Cpu&) override {
        Kernel& k = run.kernel();
        DmaEngineDriver* drv = nullptr;
        for (auto& [name, d] : run.platform.dma_drivers())
            if (name == run.s.storage.handle_user) drv = d;
        uint64_t src = k.alloc(4096, 4096), dst = k.alloc(4096, 4096);
        std::string device = run.s.storage.handle_user;
        k.spawn("player", Task::Kind::User, true, 0, [drv, src, dst, device](Task& t) {
            Kernel& kk = t.kernel();
            const int h = kk.open_handle("player", device, device);
            drv->set_burst(t.cpu(), 512);  // ioctl(fd, SET_BURST, 512)
            kk.handle_setting(h, "BURST", 512);
            while (!t.should_stop()) {
                if (kk.use_handle(h) != 0) {  // revoked: EBADF, and the process gives up
                    kk.hub().instant(kk.path(), "task-ebadf", "workload", {{"task", "player"}, {"device", device}});
                    return;
                }
                drv->copy(t.cpu(), src, dst, 4096);
                t.sleep_freezable(2'000'000'000ULL);  // 2 ms
            }
        });
    }
};

// [workload] hdparm_burst: a user tunes the engine while the first
// transition runs (Linus's hdparm) - a user task, frozen like any other
// when the freezer runs.
class HdparmPart : public RunPart {
public:
    void transition_started(Run& run, unsigned cycle) override {
        if (cycle != 1 || run.platform.dma_drivers().empty()) return;
        Kernel& k = run.kernel();
        DmaEngineDriver* drv = run.platform.dma_drivers()[0].second;
        const Picos after = run.s.storage.hdparm_after;
        const int64_t burst = run.s.storage.hdparm_burst;
        k.spawn("hdparm", Task::Kind::User, true, unsigned(k.cpus().size() - 1), [drv, after, burst](Task& t) {
            t.sleep_freezable(after);
            drv->set_burst(t.cpu(), uint32_t(burst));
            t.kernel().hub().instant(t.kernel().path(), "hdparm", "workload", {{"burst", std::to_string(burst)}});
        });
    }
};

// [wake] button_after / key_after: a person presses the power button, or
// a key on the first USB keyboard, this long after the first transition's
// initiator decides - whatever the machine is doing then.
class WakeInputsPart : public RunPart {
public:
    void arm(Run& run, unsigned cycle) override {
        if (cycle != 1) return;
        if (run.s.button_after)
            quiesce::spawn([&p = run.platform, after = run.s.button_after] {
                quiesce::wait(from_ps(after));
                p.acpi_pm().press_power_button();
            });
        if (UsbKeyboard* kbd = run.platform.keyboard(); kbd && run.s.key_after)
            quiesce::spawn([kbd, after = run.s.key_after] {
                quiesce::wait(from_ps(after));
                kbd->press_key(0x04);  // 'a'
            });
    }
};

// syscore ops: the interrupt controller's mask is hardware state the
// chipset loses in S3, kept in memory across sleep; the ACPI PCI interrupt
// links as the OS found them at boot (_CRS of LNKA-D), which
// irqrouter_resume sets again (_SRS); drivers' own syscore ops
// (register_syscore_ops), suspended in reverse order of registration and
// resumed in order, after the interrupt controller's.
class SyscorePart : public RunPart {
public:
    void services(Run& run, Cpu& cpu, PmServices& svc) override {
        Kernel& k = run.kernel();
        Platform& p = run.platform;
        const uint64_t imr_save = k.alloc(8, 8);
        const uint64_t links = k.alloc(8, 8);
        PciDev* host = p.pci_core().find(0, 0);
        if (host) cpu.write32(links, p.pci_core().cfg_read(cpu, *host, PciHostBridge::PIRQ_ROUT, 4));
        svc.syscore_suspend = [&run, imr_save](Cpu& c) {
            drivers(run, "syscore_suspend", c);
            c.write32(imr_save, c.read32(Platform::kIntcBase + InterruptController::IMR));
        };
        svc.syscore_resume = [&run, imr_save, links, host](Cpu& c) {
            Platform& pl = run.platform;
            if (host && run.kernel().props().get<bool>("acpi_irq_router_resume"))
                pl.pci_core().cfg_write(c, *host, PciHostBridge::PIRQ_ROUT, c.read32(links), 4);
            c.write32(Platform::kIntcBase + InterruptController::IMR, c.read32(imr_save));
            drivers(run, "syscore_resume", c);
        };
    }

private:
    static void drivers(Run& run, const std::string& cb, Cpu& c) {
        auto list = run.platform.dma_drivers();
        if (cb == "syscore_suspend") std::reverse(list.begin(), list.end());
        for (auto& [name, drv] : list) {
            if (!drv->runner().has(cb)) continue;
            run.ctx.hub.slice_begin(drv->track(), cb, "syscore", {{"device", name}});
            const int rc = drv->syscore(cb, c);
            run.ctx.hub.slice_end(drv->track(), cb, "syscore", {{"device", name}, {"rc", std::to_string(rc)}});
        }
    }
};

// Drivers with a PM notifier (register_pm_notifier), in the order they probed.
class PmNotifiersPart : public RunPart {
public:
    void services(Run& run, Cpu&, PmServices& svc) override {
        for (const auto& d : run.s.platform.devices)
            for (const std::string& n : {d.name, d.has_disk() ? d.disk : std::string()}) {
                auto it = run.s.drivers.find(n);
                if (n.empty() || it == run.s.drivers.end() || !it->second) continue;
                for (const char* cb : {"pm_suspend_prepare", "pm_post_suspend", "pm_hibernation_prepare",
                                       "pm_post_hibernation"})
                    if (it->second->callback(cb)) {
                        svc.notifiers.push_back(n);
                        break;
                    }
            }
    }
};

// Runtime PM (started when the drivers bound): what system sleep does with
// it, and at the end of a run the system came back from, every get has had
// its put.
class RuntimePmPart : public RunPart {
public:
    void services(Run& run, Cpu&, PmServices& svc) override { svc.runtime = run.platform.runtime_pm(); }
    void stopped(Run& run, bool back) override {
        RuntimePm* rpm = run.platform.runtime_pm();
        if (!back || !rpm) return;
        for (const std::string& problem : rpm->unbalanced())
            run.ctx.hub.guest_error(run.kernel().path(), "rpm.usage-unbalanced", problem, {{"kind", "end-of-run"}});
    }
};

template <class P>
std::unique_ptr<RunPart> make(Run& run) {
    if constexpr (std::is_constructible_v<P, Run&>) return std::make_unique<P>(run);
    else return std::make_unique<P>();
}

}  // namespace

std::vector<std::unique_ptr<RunPart>> assemble_parts(Run& run) {
    // Every part a run may have, the scenario's switch for it, in the order
    // the parts are built and called. A new part is a line here.
    using Make = std::unique_ptr<RunPart> (*)(Run&);
    const Scenario& s = run.s;
    const std::pair<bool, Make> kParts[] = {
        {true, make<DmaWorkloadPart>},
        {s.storage.dma_streamer, make<DmaStreamerPart>},
        {true, make<StoragePart>},
        {s.hibernates(), make<HibernationPart>},
        {!s.storage.handle_user.empty(), make<HandleUserPart>},
        {s.storage.hdparm_burst != 0, make<HdparmPart>},
        {s.button_after || s.key_after, make<WakeInputsPart>},
        {true, make<SyscorePart>},
        {true, make<PmNotifiersPart>},
        {true, make<RuntimePmPart>},
    };
    std::vector<std::unique_ptr<RunPart>> parts;
    for (const auto& [on, build] : kParts)
        if (on) parts.push_back(build(run));
    return parts;
}

}  // namespace quiesce
