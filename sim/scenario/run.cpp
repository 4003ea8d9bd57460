#include "sim/scenario/run.h"

#include "sim/check/image_check.h"
#include "sim/pm/engine.h"
#include "sim/pm/hibernation.h"
#include "sim/scenario/platform.h"
#include "sim/scenario/dma_workload.h"
#include "sim/scenario/storage_workload.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include <vector>

namespace quiesce {

uint32_t trace_mask(TraceLevel level) {
    uint32_t m = kind_bit(EvKind::SliceBegin) | kind_bit(EvKind::SliceEnd) | kind_bit(EvKind::Violation) |
                 kind_bit(EvKind::GuestError) | kind_bit(EvKind::Fault);
    if (level >= TraceLevel::Events) m |= kind_bit(EvKind::Instant) | kind_bit(EvKind::Counter);
    if (level >= TraceLevel::Bus) m |= kind_bit(EvKind::RegAccess) | kind_bit(EvKind::Transaction);
    return m;
}

bool per_operation(const Event& ev) {
    if (ev.kind != EvKind::SliceBegin && ev.kind != EvKind::SliceEnd) return false;
    return ev.category == "irq" || ev.category == "dma" || ev.category == "step" ||
           (ev.category == "disk" && ev.name == "command");
}


void set_timing_and_schedule(RunContext& ctx, const Scenario& s) {
    ctx.timing = TimingJitter{};
    if (s.timing.ties) {
        ctx.timing.ties = true;
        ctx.timing.tie_rng = Rng((s.timing.seed ? s.timing.seed : s.seed) ^ 0x7469657300000000ULL);
    }
    if (s.timing.jitter) {
        ctx.timing.percent = s.timing.jitter;
        ctx.timing.rng = Rng((s.timing.seed ? s.timing.seed : s.seed) ^ 0x74696d696e670000ULL);
    }
    ctx.pct = PctSchedule{};
    if (s.schedule.pct) {  // change points: depth-1 distinct steps in [1, steps]
        PctSchedule& pct = ctx.pct;
        pct.on = true;
        pct.depth = s.schedule.depth;
        pct.steps = s.schedule.steps;
        pct.rng = Rng((s.schedule.seed ? s.schedule.seed : s.seed) ^ 0x7063740000000000ULL);
        while (pct.change_points.size() + 1 < pct.depth) {
            uint64_t k = pct.rng.uniform(1, pct.steps);
            if (std::find(pct.change_points.begin(), pct.change_points.end(), k) == pct.change_points.end())
                pct.change_points.push_back(k);
            if (pct.change_points.size() >= pct.steps) break;
        }
        std::sort(pct.change_points.begin(), pct.change_points.end());
    }
}

RunSummary simulate(const Scenario& s, const std::function<void(const Event&)>& sink) {
    return simulate(s, sink, {}, {});
}

RunSummary simulate(const Scenario& s, const std::function<void(const Event&)>& sink,
                    const std::function<std::optional<Picos>()>& next, const std::function<void(BranchSite&)>& branch,
                    const std::function<void(const RunSummary&)>& end) {
    // sc_stop() ends every run; SystemC's "stopped by user" note is noise.
    sc_core::sc_report_handler::set_actions("/OSCI/SystemC", sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
    RunContext ctx(s.seed);
    ctx.faults.load(s.faults, s.seed);
    ctx.faults.note_persistence(s.note_persistence);
    set_timing_and_schedule(ctx, s);
    if (s.trace == TraceLevel::Summary)  // the run's structure, without its per-operation slices
        ctx.hub.subscribe(trace_mask(s.trace), [&sink](const Event& ev) {
            if (!per_operation(ev)) sink(ev);
        });
    else
        ctx.hub.subscribe(trace_mask(s.trace), sink);
    Platform platform(s, ctx);
    Checker checker(ctx.hub, platform.graph());
    {
        std::set<std::string> wake_sources;  // device_may_wakeup
        for (const auto& d : s.platform.devices)
            if (d.wake) wake_sources.insert(d.name);
        checker.set_wake_sources(std::move(wake_sources));
    }
    checker.set_callback_budget(s.callback_budget, [&platform] {
        return platform.kernel().pm_waiting_on();
    });
    // The disk's durability oracle, fed by every driver of the first disk.
    std::unique_ptr<StorageCheck> storage_check;
    if (Platform::Disk disk = platform.disk(); disk.drive) {
        storage_check = std::make_unique<StorageCheck>(checker, *disk.drive, platform.memory(), disk.name);
        platform.set_block_observer(storage_check->observer());
        // A bit flipped on the media by a fault is not a write the OS lost.
        ctx.hub.subscribe(kind_bit(EvKind::Instant), [&storage_check](const Event& ev) {
            if (ev.name != "image-bit-flipped") return;
            std::string sector = arg_value(ev, "sector");
            if (!sector.empty() && sector != "-1") storage_check->faulted(std::stoull(sector));
        });
    }
    StorageWorkloadRun storage(platform, ctx, storage_check.get(), s);
    // Hibernation: the image machinery and its checks.
    HibernationOptions hopts;
    hopts.crc = s.hibernation.crc;
    hopts.compress = s.hibernation.lz4;
    hopts.ignore_swap_map = s.hibernation.ignore_swap_map;
    hopts.restore_mounts_root = s.hibernation.restore_mounts_root;
    hopts.hw_sig = s.hibernation.hw_sig;
    hopts.image_size = s.hibernation.image_size;
    hopts.hw_signature = s.platform.hw_signature;
    hopts.current_hw_signature = [&platform] {
        return platform.memory().peek32(platform.firmware().facs() + AcpiFirmware::FACS_HW_SIGNATURE);
    };
    Hibernation hibernation(platform.kernel(), platform.memory(), ctx.hub, hopts);
    ImageCheck image_check(checker, platform.memory(), ctx.ledger, platform.kernel().path());
    hibernation.set_check(&image_check);
    image_check.set_update_probe([&platform] {
        std::vector<std::string> torn;
        for (const auto& t : platform.kernel().tasks())
            if (!t->exited() && !t->update_in_progress().empty())
                torn.push_back(t->name() + ": " + t->update_in_progress());
        return torn;
    });
    platform.set_restore(hopts, &image_check);
    checker.set_freezer_probe(platform.kernel().path(), [&platform](bool user, bool kthreads) {
        std::vector<std::string> left;
        for (const auto& t : platform.kernel().tasks())
            if (!t->exited() && t->freezable() && !t->counted_frozen() &&
                (t->kind() == Task::Kind::User ? user : kthreads))
                left.push_back(t->name());
        return left;
    });
    RunSummary out;
    out.outcome = "sim-time-limit";
    std::string workload;
    bool finished = false;
    unsigned cycles_completed = 0;  // cycles that came back resumed

    platform.kernel().set_program([&](Cpu& cpu) {
        Kernel& k = platform.kernel();
        k.start_hung_task_detector();
        ctx.hub.slice_begin(k.path(), "boot", "boot");
        SIM_ASSERT(platform.acpi_os().init(cpu), "the kernel found no valid FADT");
        platform.pci_core().enumerate(cpu);
        platform.bind_devices(cpu);
        platform.watch(checker);  // (from boot on: a runtime suspend snapshots what its resume must give back)
        // The ACPI SCI: fixed events (RTC alarm, power button) and GPEs are
        // wakeup events, and the SCI stays armed while device IRQs are suspended.
        const unsigned sci = platform.acpi_os().sci_irq();
        k.request_irq(cpu, sci, "acpi", [&](Cpu& c) { return platform.acpi_os().sci(c, k); });
        k.set_irq_wake(sci);
        platform.acpi_os().enable_power_button(cpu);
        ctx.hub.slice_end(k.path(), "boot", "boot");
        DmaBuffers dma_buffers;
        workload = dma_workload(platform, ctx, cpu, s, "before", dma_buffers);
        auto dma = platform.dma_drivers();
        if (s.storage.dma_streamer && !dma.empty()) {
            // A driver's own worker (not freezable) streaming copies, on the
            // last core: it runs alongside the PM thread until that core
            // goes offline, then migrates to the boot CPU.
            DmaEngineDriver* drv = dma[0].second;
            uint64_t src = k.alloc(s.copy_size, 4096), dst = k.alloc(s.copy_size, 4096);
            unsigned core = unsigned(k.cpus().size() - 1);
            k.spawn("dma-streamer", Task::Kind::KThread, false, core, [drv, src, dst, &s](Task& t) {
                while (!t.should_stop())
                    if (drv->copy(t.cpu(), src, dst, s.copy_size) != 0)
                        sc_core::wait(from_ps(1'000'000'000ULL));  // stopped: retry in 1 ms
            });
        }
        storage.start();
        hibernation.set_swap_map(storage.swap_map());
        if (!s.storage.handle_user.empty()) {
            // A process with the DMA engine's device node open (a "player"):
            // it sets the engine's burst through its handle and relies on it
            // for every copy it issues - before the suspend and after it.
            DmaEngineDriver* drv = nullptr;
            for (auto& [name, d] : platform.dma_drivers())
                if (name == s.storage.handle_user) drv = d;
            uint64_t src = k.alloc(4096, 4096), dst = k.alloc(4096, 4096);
            std::string device = s.storage.handle_user;
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

        // The machine idles (devices may runtime-suspend) before the transition.
        if (s.idle) k.sleep(s.idle, "the idle machine");
        uint64_t imr_save = k.alloc(8, 8);
        // The ACPI PCI interrupt links as the OS found them at boot (_CRS of
        // LNKA-D): irqrouter_resume, a syscore resume op, sets them again (_SRS).
        uint64_t links = k.alloc(8, 8);
        PciDev* host = platform.pci_core().find(0, 0);
        if (host) cpu.write32(links, platform.pci_core().cfg_read(cpu, *host, PciHostBridge::PIRQ_ROUT, 4));
        PmServices svc;
        svc.kernel = &k;
        svc.acpi = &platform.acpi_os();
        svc.graph = &platform.graph();
        svc.devices = platform.pm_devices();
        svc.trampoline = Platform::kTrampoline;
        svc.context_area = Platform::kContextArea;
        // syscore: the interrupt controller's mask is hardware state the
        // chipset loses in S3; the kernel keeps it in memory across sleep.
        // Drivers' syscore ops (register_syscore_ops): suspend in reverse
        // order of registration, resume in order.
        auto driver_syscore = [&](const std::string& cb, Cpu& c) {
            auto drivers = platform.dma_drivers();
            if (cb == "syscore_suspend") std::reverse(drivers.begin(), drivers.end());
            for (auto& [name, drv] : drivers) {
                if (!drv->runner().has(cb)) continue;
                ctx.hub.slice_begin(drv->track(), cb, "syscore", {{"device", name}});
                const int rc = drv->syscore(cb, c);
                ctx.hub.slice_end(drv->track(), cb, "syscore", {{"device", name}, {"rc", std::to_string(rc)}});
            }
        };
        svc.syscore_suspend = [&, imr_save, driver_syscore](Cpu& c) {
            driver_syscore("syscore_suspend", c);  // (registered after the interrupt controller's)
            c.write32(imr_save, c.read32(Platform::kIntcBase + InterruptController::IMR));
        };
        svc.syscore_resume = [&, imr_save, links, host, driver_syscore](Cpu& c) {
            if (host && k.props().get<bool>("acpi_irq_router_resume"))
                platform.pci_core().cfg_write(c, *host, PciHostBridge::PIRQ_ROUT, c.read32(links), 4);
            c.write32(Platform::kIntcBase + InterruptController::IMR, c.read32(imr_save));
            driver_syscore("syscore_resume", c);
        };
        svc.sync = [&](Cpu& c) { return storage.sync(c); };
        svc.pm_prepare = [&](Cpu& c) { platform.firmware_store().cache_all(c); };
        for (const auto& d : s.platform.devices)  // drivers with a PM notifier, as they probed
            for (const std::string& n : {d.name, d.has_disk() ? d.disk : std::string()}) {
                auto it = s.drivers.find(n);
                if (n.empty() || it == s.drivers.end() || !it->second) continue;
                for (const char* cb : {"pm_suspend_prepare", "pm_post_suspend", "pm_hibernation_prepare",
                                       "pm_post_hibernation"})
                    if (it->second->callback(cb)) {
                        svc.notifiers.push_back(n);
                        break;
                    }
            }
        if (storage_check) svc.sleep_entered = [&] { storage_check->sleep_entered(); };
        if (s.hibernates()) {
            Platform::Disk disk = platform.disk();
            uint64_t sectors = disk.drive->sectors();
            hibernation.set_swap(disk.driver, disk.swap_first, sectors - disk.swap_first);
            image_check.watch_filesystem(disk.drive, 0, disk.root_sectors, disk.name);
            svc.preallocate = [&](Cpu& c) { return hibernation.preallocate(c); };
            svc.snapshot = [&](Cpu& c) { return hibernation.snapshot(c); };
            svc.write_image = [&](Cpu& c) { return hibernation.write_image(c); };
            svc.kexec_save = [&](Cpu& c) { return platform.kexec_save(c, hibernation); };
            svc.image_restored = [&] { hibernation.image_restored(); };
            svc.image_restore_point = Platform::kImageRestorePoint;
        }
        // The fault plan: point faults at phase boundaries (a power loss
        // stops the kernel there) or at their time; the image writer asks
        // after each page.
        svc.faults = &ctx.faults;
        svc.runtime = platform.runtime_pm();
        platform.install_faults();
        svc.power_cut = [&platform](const FaultSpec& cut) { platform.cut_power(cut.restore_after); };
        hibernation.set_faults(&ctx.faults);
        ctx.faults.start_timers();
        // The machine runs: the control run, or the cycles and what follows
        // them. A timed power cut may strike at any moment of it; inside a
        // transition the PM engine deals with it, outside one it ends here.
        auto run_machine = [&] {
            if (s.control) {  // the control run: the same tasks, no transition
                out.outcome = "control";
                storage.wait_results(s.sim_limit);
                k.stop_tasks();
                finished = true;
                return;
            }
            // [cycles]: the transition `count` times. Each cycle arms the alarm,
            // decides, suspends and resumes; one that comes back resumed runs
            // the copies after it, and the next starts `between` later with
            // copies before it. One that does not come back resumed (aborted,
            // no resume, a pm_test stop) ends the run there, as a single one does.
            const unsigned count = s.cycles.count;
            const bool multi = count > 1;  // (a single cycle's trace is the run's as it was)
            // One engine per protocol the cycles run ([cycles] protocols mixes them).
            std::map<std::string, std::unique_ptr<PmEngine>> engines;
            auto engine_of = [&](unsigned cycle) -> PmEngine& {
                const Protocol& p = s.protocol_of_cycle(cycle);
                auto& e = engines[p.name];
                if (!e) e = std::make_unique<PmEngine>(svc, p, ctx.hub);
                return *e;
            };
            PmEngine::Result r;
            bool back = false;
            for (unsigned cycle = 1;; ++cycle) {
                ctx.faults.set_cycle(cycle);
                if (cycle > 1) {
                    if (s.cycles.between) k.sleep(s.cycles.between, "the machine between cycles");
                    std::string before = dma_workload(platform, ctx, cpu, s, "before", dma_buffers);
                    if (workload.empty()) workload = before;
                    if (s.idle) k.sleep(s.idle, "the idle machine");
                }
                platform.acpi_os().set_rtc_alarm(cpu, s.wake_after);  // rtcwake, again each cycle
                if (s.button_after && cycle == 1) {  // a person presses the power button, whatever the machine is doing
                    sc_core::sc_spawn([&platform, after = s.button_after] {
                        sc_core::wait(from_ps(after));
                        platform.acpi_pm().press_power_button();
                    });
                }
                if (UsbKeyboard* kbd = platform.keyboard(); kbd && s.key_after && cycle == 1) {  // a key on the USB keyboard
                    sc_core::sc_spawn([kbd, after = s.key_after] {
                        sc_core::wait(from_ps(after));
                        kbd->press_key(0x04);  // 'a'
                    });
                }
                // The initiator decides to suspend (the button and key timers above
                // count from here), thinks, and writes the state - after writing
                // back the wakeup count it read, if it uses the handshake.
                const uint64_t wakeups = k.wakeup_count();
                if (s.wakeup_count || s.think)  // (an initiator that writes the state at once leaves no trace)
                    ctx.hub.instant(k.path(), "suspend-decided", "wake",
                                    {{"wakeup_count", std::to_string(wakeups)}, {"handshake", s.wakeup_count ? "yes" : "no"}});
                checker.suspend_decided();
                if (s.think) k.sleep(s.think, "the suspend initiator");
                if (s.wakeup_count) {
                    const int rc = k.save_wakeup_count(wakeups);
                    ctx.hub.instant(k.path(), "wakeup-count-write", "wake",
                                    {{"count", std::to_string(wakeups)}, {"now", std::to_string(k.wakeup_count())},
                                     {"rc", std::to_string(rc)}});
                    if (rc != 0) {  // a wakeup event came first: no suspend this time
                        out.outcome = "aborted:wakeup-count";
                        checker.suspend_cancelled();
                        if (s.storage.ops) storage.wait_results(s.sim_limit);
                        k.stop_tasks();
                        finished = true;
                        return;
                    }
                }
                checker.transition_started();
                if (s.storage.hdparm_burst && !platform.dma_drivers().empty() && cycle == 1) {
                    // A user tunes the engine while the transition runs (Linus's
                    // hdparm): a user task, frozen like any other when the freezer runs.
                    DmaEngineDriver* drv = platform.dma_drivers()[0].second;
                    k.spawn("hdparm", Task::Kind::User, true, unsigned(k.cpus().size() - 1), [drv, &s](Task& t) {
                        t.sleep_freezable(s.storage.hdparm_after);
                        drv->set_burst(t.cpu(), uint32_t(s.storage.hdparm_burst));
                        t.kernel().hub().instant(t.kernel().path(), "hdparm", "workload",
                                                 {{"burst", std::to_string(s.storage.hdparm_burst)}});
                    });
                }
                ctx.faults.set_outside_transition(false);
                ctx.faults.set_async_power(true);  // power may fail at any moment of the transition
                k.pause_hung_task_detector(true);  // hung_task_pm_notify: PM_SUSPEND_PREPARE ... PM_POST_SUSPEND
                r = engine_of(cycle).run(cpu, multi ? cycle : 0);
                k.pause_hung_task_detector(false);
                ctx.faults.set_async_power(false);
                ctx.faults.set_outside_transition(true);
                // A pm_test stop never slept: the system runs on, as after a resume.
                back = r.resumed || r.error || !r.test_level.empty();
                if (r.error) out.outcome = "aborted:" + r.failed_phase;
                else if (!r.test_level.empty()) out.outcome = "pm-test:" + r.test_level;
                else if (!r.resumed) out.outcome = "no-resume";
                else out.outcome = "resumed";
                if (back) {
                    checker.transition_resumed();
                    if (storage_check) storage_check->check(true);
                } else if (r.slept && storage_check) {
                    storage_check->check(false);  // a fresh boot: only what was durable counts
                }
                if (!back) break;
                if (s.idle) k.sleep(s.idle, "the idle machine");
                std::string after = dma_workload(platform, ctx, cpu, s, "after", dma_buffers);
                if (workload.empty()) workload = after;
                if (out.outcome != "resumed") break;
                cycles_completed = cycle;
                if (multi)  // what a cycle left behind: a fixed kernel's heap and free pages do not move
                    ctx.hub.instant(k.path(), "cycle-end", "run",
                                    {{"cycle", std::to_string(cycle)}, {"heap_used", std::to_string(k.heap_used())},
                                     {"free_pages", std::to_string(k.free_pages())}});
                if (cycle == count) break;
            }
            if (back) {
                // The tasks go on running: what they see now is what the suspend did to them.
                if (s.storage.run_after) k.sleep(s.storage.run_after, "the tasks after the resume");
                if (s.storage.ops) storage.wait_results(s.sim_limit);
            }
            if (r.slept && !r.resumed) k.abandon();  // the image kernel is gone: a fresh boot
            k.stop_tasks();
            if (back && platform.runtime_pm())  // every get has had its put
                for (const std::string& problem : platform.runtime_pm()->unbalanced())
                    ctx.hub.guest_error(k.path(), "rpm.usage-unbalanced", problem, {{"kind", "end-of-run"}});
            finished = true;
        };
        ctx.faults.set_outside_transition(true);
        try {
            run_machine();
        } catch (const PowerLost&) {
            // Power lost outside a transition: nothing of the running kernel
            // survives; when power returns firmware boots the machine afresh
            // (no image: the restore kernel, if any, finds none to load).
            out.outcome = "power-cut";
            cpu.wait_for_start();
            ctx.hub.instant(k.path(), "booted-afresh", "run", {{"reason", "power was lost outside a transition"}});
            if (storage_check) storage_check->check(false);  // a fresh boot: only what was durable counts
            k.abandon();
            k.stop_tasks();
            finished = true;
        }
        ctx.faults.set_outside_transition(false);
    });

    // Run to each pause in turn (sc_start in pieces processes the same
    // events as in one), then to the limit.
    Picos at = 0;
    BranchSite site{ctx, [&platform](std::vector<std::string> order) { platform.set_suspend_order(std::move(order)); }};
    for (std::optional<Picos> stop; branch && (stop = next());) {
        Picos to = std::min(*stop, s.sim_limit);
        if (to > at && sc_core::sc_get_status() != sc_core::SC_STOPPED) sc_core::sc_start(from_ps(to - at));
        at = std::max(at, to);
        branch(site);
    }
    if (at < s.sim_limit && sc_core::sc_get_status() != sc_core::SC_STOPPED) sc_core::sc_start(from_ps(s.sim_limit - at));
    checker.run_ended();
    if (!finished) {
        // A machine asleep (or without mains) waits for a wake that did not
        // come: the wake checks judge that. One awake has something stuck.
        if (!platform.acpi_pm().sleeping() && !platform.acpi_pm().mains_lost() && !platform.kernel().halted())
            checker.run_cut_short(platform.kernel().path(), platform.kernel().blocked());
        ctx.hub.instant(platform.kernel().path(), "sim-time-limit", "run");
    }
    if (s.cycles.count > 1)
        ctx.hub.instant(platform.kernel().path(), "cycles", "run",
                        {{"count", std::to_string(s.cycles.count)}, {"completed", std::to_string(cycles_completed)}});
    out.workload = workload.empty() ? "ok" : workload;
    out.sim_end = now_ps();
    out.memory_digest = platform.memory().digest();
    out.ledger_issued = ctx.ledger.issued_total();
    out.tracks = ctx.hub.tracks();
    out.persistence = ctx.faults.persistence_times();
    if (end) end(out);
    return out;
}

}  // namespace quiesce
