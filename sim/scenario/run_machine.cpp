// The machine's life in a run, on its boot CPU: boot (ACPI, PCI, drivers,
// the SCI), the parts started, the PM services, then the control run or the
// cycles - each arming the alarm, the initiator deciding, the transition,
// and what the system does after it. The parts (run_parts.cpp) are called at
// each point; this file does not know which parts there are.
#include "sim/scenario/run_part.h"

#include <map>

namespace quiesce {
namespace {

class Machine {
public:
    Machine(Run& run, Cpu& cpu, RunSummary& out, MachineResult& result)
        : run_(run), s_(run.s), k_(run.kernel()), cpu_(cpu), out_(out), result_(result) {}

    // Boot, the parts started, the machine idle (devices may runtime-suspend)
    // before the transition, the PM services.
    void start() {
        k_.start_hung_task_detector();
        boot();
        run_.each([&](RunPart& p) { p.boot(run_, cpu_); });
        idle();
        services();
    }
    void run() {
        if (s_.control) control();
        else cycles();
    }
    // Power lost outside a transition: nothing of the running kernel
    // survives; when power returns firmware boots the machine afresh - or,
    // if an earlier boot left an image on swap, the restore kernel resumes
    // that. True when the run goes on ([cycles] after_fresh_boot): the next
    // cycle runs after the fresh boot (fresh_boot_pending()).
    bool power_lost() {
        out_.outcome = "power-cut";
        if (cpu_.wait_for_start() == Platform::kImageRestorePoint) {
            // The boot found an image on swap and jumped into it: one an
            // earlier boot left there (its resume device came too late),
            // older than this kernel and what it wrote since. The image's
            // kernel is not this run's kernel any more: the run ends at the
            // jump, with what the restore found (ImageCheck).
            out_.outcome = "resumed";
            run_.ctx.hub.instant(k_.path(), "stale-image-resumed", "run",
                                 {{"reason", "the boot after a power cut found an image from before this boot"}});
            k_.abandon();
            result_.finished = true;
            return false;
        }
        run_.ctx.hub.instant(k_.path(), "booted-afresh", "run", {{"reason", "power was lost outside a transition"}});
        run_.each([&](RunPart& p) { p.booted_afresh(run_); });
        // The cycle the cut struck runs again after the boot if its
        // transition had not started; else the next one does.
        const unsigned next = cycle_ == 0 || !transition_begun_ ? std::max(cycle_, 1u) : cycle_ + 1;
        if (goes_on_to(next)) {
            next_cycle_ = next;
            reboot_pending_ = true;
            return true;
        }
        k_.abandon();
        k_.stop_tasks();
        result_.finished = true;
        return false;
    }
    // A fresh boot the run goes on after: the old kernel, its drivers and
    // what they kept are gone; the kernel boots on the same machine as at
    // the run's start (enumeration, probes, the root filesystem mounted with
    // its journal replayed, the tasks), then the PM services anew.
    void fresh_boot() {
        reboot_pending_ = false;
        ++result_.boots;
        run_.each([&](RunPart& p) { p.fresh_boot(run_); });
        k_.fresh_boot();
        run_.platform.fresh_boot(cpu_);
        run_.checker.unwatch_all();
        for (auto& [name, e] : engines_) retired_engines_.push_back(std::move(e));  // (their workers are parked)
        engines_.clear();
        boot();
        run_.each([&](RunPart& p) { p.boot(run_, cpu_); });
        idle();
        svc_ = PmServices{};
        services(false);
        just_booted_ = true;
    }
    bool fresh_boot_pending() const { return reboot_pending_; }

private:
    Run& run_;
    const Scenario& s_;
    Kernel& k_;
    Cpu& cpu_;
    RunSummary& out_;
    MachineResult& result_;
    PmServices svc_;
    std::map<std::string, std::unique_ptr<PmEngine>> engines_;  // one per protocol the cycles run
    std::vector<std::unique_ptr<PmEngine>> retired_engines_;    // earlier boots'
    unsigned cycle_ = 0;       // the cycle in progress (0: before the first)
    unsigned next_cycle_ = 1;  // where cycles() starts (after a fresh boot, the one after)
    bool just_booted_ = false;  // the cycle starts after a fresh boot: `between`, but no copies before
    bool reboot_pending_ = false;
    bool transition_begun_ = false;  // the cycle in progress: its transition started

    // Whether the run goes on to cycle `next` after a fresh boot.
    bool goes_on_to(unsigned next) const { return s_.cycles.continue_after_boot && next <= s_.cycles.count; }

    void idle() {
        if (s_.idle) k_.sleep(s_.idle, "the idle machine");
    }

    void boot() {
        Platform& p = run_.platform;
        run_.ctx.hub.slice_begin(k_.path(), "boot", "boot");
        SIM_ASSERT(p.acpi_os().init(cpu_), "the kernel found no valid FADT");
        p.pci_core().enumerate(cpu_);
        p.bind_devices(cpu_);
        p.watch(run_.checker);  // (from boot on: a runtime suspend snapshots what its resume must give back)
        // The ACPI SCI: fixed events (RTC alarm, power button) and GPEs are
        // wakeup events, and the SCI stays armed while device IRQs are suspended.
        const unsigned sci = p.acpi_os().sci_irq();
        k_.request_irq(cpu_, sci, "acpi", [&p, &k = k_](Cpu& c) { return p.acpi_os().sci(c, k); });
        k_.set_irq_wake(sci);
        p.acpi_os().enable_power_button(cpu_);
        run_.ctx.hub.slice_end(k_.path(), "boot", "boot");
    }

    // What the PM engine is given: the platform's, then every part's. Then
    // the fault plan is armed: point faults at phase boundaries (a power
    // loss stops the kernel there) or at their time.
    void services(bool first = true) {
        Platform& p = run_.platform;
        svc_.kernel = &k_;
        svc_.acpi = &p.acpi_os();
        svc_.graph = &p.graph();
        svc_.devices = p.pm_devices();
        svc_.trampoline = Platform::kTrampoline;
        svc_.context_area = Platform::kContextArea;
        svc_.pm_prepare = [&p](Cpu& c) { p.firmware_store().cache_all(c); };
        svc_.faults = &run_.ctx.faults;
        svc_.power_cut = [&p](const FaultSpec& cut) { p.cut_power(cut.restore_after); };
        run_.each([&](RunPart& part) { part.services(run_, cpu_, svc_); });
        if (!first) return;  // (the plan is the run's, armed once)
        p.install_faults();
        run_.ctx.faults.start_timers();
    }

    // The control run: the same tasks, no transition.
    void control() {
        out_.outcome = "control";
        run_.each([&](RunPart& p) { p.drain(run_, false); });
        k_.stop_tasks();
        result_.finished = true;
    }

    PmEngine& engine_of(unsigned cycle) {
        const Protocol& proto = s_.protocol_of_cycle(cycle);
        auto& e = engines_[proto.name];
        if (!e) e = std::make_unique<PmEngine>(svc_, proto, run_.ctx.hub);
        return *e;
    }

    // The initiator decides to suspend (the button and key timers count
    // from here), thinks, and writes the state - after writing back the
    // wakeup count it read, if it uses the handshake. False: a wakeup event
    // came first, and there is no suspend this time.
    bool decide() {
        EventHub& hub = run_.ctx.hub;
        const uint64_t wakeups = k_.wakeup_count();
        if (s_.wakeup_count || s_.think)  // (an initiator that writes the state at once leaves no trace)
            hub.instant(k_.path(), "suspend-decided", "wake",
                        {{"wakeup_count", std::to_string(wakeups)}, {"handshake", s_.wakeup_count ? "yes" : "no"}});
        run_.checker.suspend_decided();
        if (s_.think) k_.sleep(s_.think, "the suspend initiator");
        if (!s_.wakeup_count) return true;
        const int rc = k_.save_wakeup_count(wakeups);
        hub.instant(k_.path(), "wakeup-count-write", "wake",
                    {{"count", std::to_string(wakeups)}, {"now", std::to_string(k_.wakeup_count())}, {"rc", std::to_string(rc)}});
        return rc == 0;
    }

    // [cycles]: the transition `count` times. Each cycle arms the alarm,
    // decides, suspends and resumes; one that comes back resumed runs what
    // follows a resume, and the next starts `between` later with what
    // precedes one. One that does not come back resumed (aborted, no
    // resume, a pm_test stop) ends the run there, as a single one does.
    void cycles() {
        FaultInjector& faults = run_.ctx.faults;
        const unsigned count = s_.cycles.count;
        const bool multi = count > 1;  // (a single cycle's trace is the run's as it was)
        PmEngine::Result r;
        bool back = false;
        for (unsigned cycle = next_cycle_;; ++cycle) {
            cycle_ = cycle;
            transition_begun_ = false;
            faults.set_cycle(cycle);
            if (cycle > 1) {
                if (s_.cycles.between) k_.sleep(s_.cycles.between, "the machine between cycles");
                if (!just_booted_) {  // (a fresh boot ran the copies before, and idled)
                    run_.each([&](RunPart& p) { p.cycle_begin(run_, cpu_, cycle); });
                    idle();
                }
            }
            just_booted_ = false;
            run_.platform.acpi_os().set_rtc_alarm(cpu_, s_.wake_after);  // rtcwake, again each cycle
            run_.each([&](RunPart& p) { p.arm(run_, cycle); });
            if (!decide()) {
                out_.outcome = "aborted:wakeup-count";
                run_.checker.suspend_cancelled();
                run_.each([&](RunPart& p) { p.drain(run_, false); });
                k_.stop_tasks();
                result_.finished = true;
                return;
            }
            transition_begun_ = true;
            run_.checker.transition_started();
            run_.each([&](RunPart& p) { p.transition_started(run_, cycle); });
            faults.set_outside_transition(false);
            faults.set_async_power(true);      // power may fail at any moment of the transition
            k_.pause_hung_task_detector(true);  // hung_task_pm_notify: PM_SUSPEND_PREPARE ... PM_POST_SUSPEND
            r = engine_of(cycle).run(cpu_, multi ? cycle : 0);
            k_.pause_hung_task_detector(false);
            faults.set_async_power(false);
            faults.set_outside_transition(true);
            // A pm_test stop never slept: the system runs on, as after a resume.
            back = r.resumed || r.error || !r.test_level.empty();
            if (r.error) out_.outcome = "aborted:" + r.failed_phase;
            else if (!r.test_level.empty()) out_.outcome = "pm-test:" + r.test_level;
            else if (!r.resumed) out_.outcome = "no-resume";
            else out_.outcome = "resumed";
            if (back) run_.checker.transition_resumed();
            run_.each([&](RunPart& p) { p.transition_ended(run_, r, back); });
            if (!back && r.slept && goes_on_to(cycle + 1)) {
                // No image to resume from (or none taken): the boot was a
                // fresh one, and the next cycle runs on its kernel.
                run_.ctx.hub.instant(k_.path(), "booted-afresh", "run",
                                     {{"reason", "the cycle did not resume"}, {"cycle", std::to_string(cycle)}});
                fresh_boot();
                continue;
            }
            if (!back) break;
            idle();
            run_.each([&](RunPart& p) { p.resumed(run_, cpu_, cycle); });
            if (out_.outcome != "resumed") break;
            ++result_.cycles_completed;
            if (multi)  // what a cycle left behind: a fixed kernel's heap and free pages do not move
                run_.ctx.hub.instant(k_.path(), "cycle-end", "run",
                                     {{"cycle", std::to_string(cycle)}, {"heap_used", std::to_string(k_.heap_used())},
                                      {"free_pages", std::to_string(k_.free_pages())}});
            if (cycle == count) break;
        }
        if (back) run_.each([&](RunPart& p) { p.drain(run_, true); });
        if (r.slept && !r.resumed) k_.abandon();  // the image kernel is gone: a fresh boot
        k_.stop_tasks();
        run_.each([&](RunPart& p) { p.stopped(run_, back); });
        result_.finished = true;
    }
};

}  // namespace

void run_machine(Run& run, Cpu& cpu, RunSummary& out, MachineResult& result) {
    // The machine runs: the control run, or the cycles and what follows
    // them. A timed power cut may strike at any moment of it; inside a
    // transition the PM engine deals with it, outside one it ends here.
    Machine machine(run, cpu, out, result);
    machine.start();
    FaultInjector& faults = run.ctx.faults;
    faults.set_outside_transition(true);
    for (;;) {
        try {
            if (machine.fresh_boot_pending()) machine.fresh_boot();
            machine.run();
            break;
        } catch (const PowerLost&) {
            if (!machine.power_lost()) break;
        }
    }
    faults.set_outside_transition(false);
}

}  // namespace quiesce
