// simulate(): one run - the run context, the platform, the checker and the
// parts the scenario turns on (run_parts.cpp), the machine's program
// (run_machine.cpp), and SystemC run to its pauses and its limit.
#include "sim/scenario/run.h"

#include "sim/core/heap_arena.h"
#include "sim/scenario/run_part.h"

#include <algorithm>
#include <set>
#include <string_view>
#include <vector>

namespace quiesce {

uint32_t trace_mask(TraceLevel level) {
    uint32_t m = kind_bit(EvKind::SliceBegin) | kind_bit(EvKind::SliceEnd) | kind_bit(EvKind::Violation) |
                 kind_bit(EvKind::GuestError) | kind_bit(EvKind::Fault);
    if (level >= TraceLevel::Events) m |= kind_bit(EvKind::Instant) | kind_bit(EvKind::Counter);
    if (level >= TraceLevel::Bus) m |= kind_bit(EvKind::RegAccess) | kind_bit(EvKind::Transaction);
    return m;
}

bool per_operation(EvKind kind, std::string_view category, std::string_view name) {
    if (kind != EvKind::SliceBegin && kind != EvKind::SliceEnd) return false;
    // As views: the length compared first, inline, where a std::string
    // against a literal calls strlen and compare on every slice.
    using namespace std::string_view_literals;
    const std::string_view c = category;
    return c == "irq"sv || c == "dma"sv || c == "step"sv || (c == "disk"sv && name == "command"sv);
}

bool in_summary(EvKind kind, std::string_view category, std::string_view name) {
    using namespace std::string_view_literals;
    if (kind == EvKind::Instant) return name == "task-result"sv;
    return (trace_mask(TraceLevel::Summary) & kind_bit(kind)) && !per_operation(kind, category, name);
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

namespace {

// What the checker is told of the run: the wake sources
// (device_may_wakeup), the time a callback may take, which tasks the
// freezer has not frozen yet, and every device write into RAM (a write into
// a page the kernel holds free is dma.use-after-free).
void configure_checker(Checker& checker, const Scenario& s, Platform& platform) {
    std::set<std::string> wake_sources;
    for (const auto& d : s.platform.devices)
        if (d.wake) wake_sources.insert(d.name);
    checker.set_wake_sources(std::move(wake_sources));
    checker.set_callback_budget(s.callback_budget, [&platform] { return platform.kernel().pm_waiting_on(); });
    checker.set_freezer_probe(platform.kernel().path(), [&platform](bool user, bool kthreads) {
        std::vector<std::string> left;
        for (const auto& t : platform.kernel().tasks())
            if (!t->exited() && t->freezable() && !t->counted_frozen() &&
                (t->kind() == Task::Kind::User ? user : kthreads))
                left.push_back(t->name());
        return left;
    });
    platform.on_device_write([&checker, &platform](const std::string& who, uint64_t addr, uint64_t len) {
        if (len == 0) return;
        const Kernel& k = platform.kernel();
        for (uint64_t pfn = addr / PhysicalMemory::kPageSize; pfn <= (addr + len - 1) / PhysicalMemory::kPageSize; ++pfn)
            if (k.page_free(pfn)) return checker.dma_into_free_page(who, addr, len, pfn);
    });
}

}  // namespace

RunSummary simulate(const Scenario& s, const std::function<void(const Event&)>& sink) {
    return simulate(s, sink, {}, {});
}

RunSummary simulate(const Scenario& s, const std::function<void(const Event&)>& sink,
                    const std::function<std::optional<Picos>()>& next, const std::function<void(BranchSite&)>& branch,
                    const std::function<void(const RunSummary&)>& end) {
    // Elaboration allocates megabytes: a forked child takes them in huge pages.
    heap_arena::prefer_huge_pages();
    // sc_stop() ends every run; SystemC's "stopped by user" note is noise.
    sc_core::sc_report_handler::set_actions("/OSCI/SystemC", sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
    RunContext ctx(s.seed);
    ctx.faults.load(s.faults, s.seed);
    ctx.faults.note_persistence(s.note_persistence);
    set_timing_and_schedule(ctx, s);
    if (s.trace == TraceLevel::Summary)  // the run's structure and the tasks' results, not its per-operation slices
        ctx.hub.subscribe(
            trace_mask(s.trace) | kind_bit(EvKind::Instant),
            [&sink](const Event& ev) {
                if (in_summary(ev.kind, ev.category, ev.name)) sink(ev);
            },
            in_summary);
    else
        ctx.hub.subscribe(trace_mask(s.trace), sink);
    // Which contexts ran at the same time, from the events whatever the trace keeps.
    ContextTracker contexts;
    if (s.note_contexts)
        ctx.hub.subscribe(kind_bit(EvKind::SliceBegin) | kind_bit(EvKind::SliceEnd) | kind_bit(EvKind::Instant),
                          [&contexts](const Event& ev) { contexts.on(ev); }, ContextTracker::reads);
    Platform platform(s, ctx);
    Checker checker(ctx.hub, platform.graph());
    configure_checker(checker, s, platform);
    checker.watch_in_flight(&ctx.ledger);
    Run run{s, ctx, platform, checker, {}};
    run.parts = assemble_parts(run);
    RunSummary out;
    out.outcome = "sim-time-limit";
    MachineResult machine;
    platform.kernel().set_program([&](Cpu& cpu) { run_machine(run, cpu, out, machine); });

    // Run to each pause in turn (sc_start in pieces processes the same
    // events as in one), then to the limit.
    Picos at = 0;
    BranchSite site{ctx, [&platform](std::vector<std::string> order) { platform.set_suspend_order(std::move(order)); }};
    // Threads go ahead of SystemC's time (sim/core/sync.h) up to each pause
    // and to the limit, unless the scenario breaks ties at random (those
    // extra delta cycles come after every timed wait) or a bench measures
    // without.
    sc_core::sc_event resume("ahead_resume");
    auto run_to = [&](Picos from, Picos to) {
        if (ctx.timing.ties || !going_ahead) set_horizon(0);
        else set_horizon(to, &resume);
        sc_core::sc_start(from_ps(to - from));
        set_horizon(0);
    };
    for (std::optional<Picos> stop; branch && (stop = next());) {
        Picos to = std::min(*stop, s.sim_limit);
        if (to > at && sc_core::sc_get_status() != sc_core::SC_STOPPED) run_to(at, to);
        at = std::max(at, to);
        branch(site);
    }
    if (at < s.sim_limit && sc_core::sc_get_status() != sc_core::SC_STOPPED) run_to(at, s.sim_limit);
    ahead.parked = 0;  // a thread parked past the limit waits for ever
    checker.run_ended();
    Kernel& k = platform.kernel();
    if (!machine.finished) {
        // A machine asleep (or without mains) waits for a wake that did not
        // come: the wake checks judge that. One awake has something stuck.
        if (!platform.acpi_pm().sleeping() && !platform.acpi_pm().mains_lost() && !k.halted())
            checker.run_cut_short(k.path(), k.blocked());
        ctx.hub.instant(k.path(), "sim-time-limit", "run");
    }
    if (s.cycles.count > 1) {
        std::vector<Arg> args = {
            {"count", std::to_string(s.cycles.count)}, {"completed", std::to_string(machine.cycles_completed)}};
        if (machine.boots > 1) args.push_back({"boots", std::to_string(machine.boots)});
        ctx.hub.instant(k.path(), "cycles", "run", args);
    }
    run.each([&](RunPart& p) { p.summary(run, out); });
    out.sim_end = now_ps();
    out.memory_digest = platform.memory().digest();
    out.ledger_issued = ctx.ledger.issued_total();
    out.tracks = ctx.hub.tracks();
    out.persistence = ctx.faults.persistence_times();
    if (s.note_contexts) out.contexts = contexts.pairs(out.sim_end);
    if (end) end(out);
    return out;
}

}  // namespace quiesce
