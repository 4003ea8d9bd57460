// A CPU core: timed compute, memory and MMIO accesses, caches, interrupts, offline and online.
#include "models/cpu/cpu.h"
#include "sim/core/sync.h"

#include "sim/core/errors.h"
#include "sim/core/memory.h"
#include "sim/fault/fault_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace quiesce {

namespace {
struct PooledJob {
    std::string name;
    uint64_t serial = 0;
    bool ended = false;
};
std::unordered_map<const sc_core::sc_object*, PooledJob>& pooled_jobs() {
    static std::unordered_map<const sc_core::sc_object*, PooledJob> jobs;  // by pooled thread
    return jobs;
}
const PooledJob* job_of(const sc_core::sc_object* thread) {
    auto it = pooled_jobs().find(thread);
    return it == pooled_jobs().end() ? nullptr : &it->second;
}
// Threads spawned in a pooled job (a driver's kworker): the full name they
// would have had under a thread of the job's own, fixed by the job.
std::unordered_map<const sc_core::sc_object*, std::string>& spawned_in_jobs() {
    static std::unordered_map<const sc_core::sc_object*, std::string> names;
    return names;
}

// A thread's full name as if every pooled job had been a thread of its own:
// "<kernel>.main_thread.dpm_<callback>_<device>_<n>[.<spawned>...]". Most
// threads are neither a pooled job nor spawned in one: their name is
// SystemC's, viewed, not copied. A job's is built into `built`; a name
// fixed for a thread spawned in a job is viewed where it is kept.
std::string_view full_name(const sc_core::sc_object* thread, std::string& built) {
    const sc_core::sc_object* parent = thread->get_parent_object();
    if (const PooledJob* j = job_of(thread))
        return built = (parent ? std::string(parent->name()) + "." : "") + j->name;
    auto& spawned = spawned_in_jobs();
    if (auto it = spawned.find(thread); it != spawned.end()) return it->second;
    if (!parent || !(job_of(parent) || spawned.count(parent))) return thread->name();
    std::string scratch;  // spawned in the job still running
    std::string n = std::string(full_name(parent, scratch)) + "." + thread->basename();
    return spawned.emplace(thread, std::move(n)).first->second;  // a map's elements stay where they are
}

// What the trace calls a context: a task's thread ("...task_<name>") the
// task's name; an async PM callback's ("...dpm_<callback>_<device>_<n>",
// and what it spawned) from "dpm_" on.
std::string context_name(const sc_core::sc_process_handle& thread) {
    if (!thread.valid()) return "";
    std::string built;
    const std::string_view n = full_name(thread.get_process_object(), built);
    size_t t = n.rfind(".task_");
    if (t != std::string_view::npos) return std::string(n.substr(t + 6));
    size_t d = n.rfind(".dpm_");
    return std::string(d == std::string_view::npos ? n : n.substr(d + 1));
}
}  // namespace

void Cpu::job_begin(const sc_core::sc_process_handle& thread, std::string name) {
    static uint64_t serial = 0;
    PooledJob& j = pooled_jobs()[thread.get_process_object()];
    j = {std::move(name), ++serial, false};
}

void Cpu::job_end(const sc_core::sc_process_handle& thread) {
    const sc_core::sc_object* worker = thread.get_process_object();
    auto it = pooled_jobs().find(worker);
    if (it == pooled_jobs().end()) return;
    // What the job spawned keeps the job's name after it.
    std::string built;
    for (const sc_core::sc_object* child : worker->get_child_objects()) full_name(child, built);
    it->second.ended = true;
}

Cpu::Cpu(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, unsigned index)
    : Component(name, ctx, clock), socket("socket"), index_(index), state_changed_("state_changed"),
      started_ev_("started_ev"), sched_changed_("sched_changed"), idle_check_ev_("idle_check_ev"),
      dead_ev_("dead_ev") {
    hub().declare_track({path(), "", "cpu", clock.name(), clock.hz()});
    initiator_.name = path();
    props().declare("offline_cycles", int64_t(20000), "Cycles to take this core offline (CPU hotplug)");
    props().declare("online_cycles", int64_t(50000), "Cycles to bring this core online (CPU hotplug)");
    props().declare("irq_entry_cycles", int64_t(100), "Interrupt entry: vectoring and register save");
    props().declare("idle_exit_us", int64_t(100),
                    "Exit latency of this core's deepest idle state: a thread woken on it (an async PM job) "
                    "starts 0 to this many us later under [timing] jitter (nominal runs: 0, the core polls)");
    props().declare("offline_fails", false, "Taking this core offline fails with -EBUSY (CPU hotplug)");
    props().declare("play_dead_wbinvd", true,
                    "play_dead writes this core's cache back (WBINVD) before it halts; false: a broken play_dead "
                    "leaves its dirty lines in the dead core's cache");
    props().declare("cache_lines", int64_t(512), "Dirty 64-byte lines this core's write-back cache holds");
    cache_lines_ = &props().ref<int64_t>("cache_lines");
    props().declare("wbinvd_line_cycles", int64_t(40), "WBINVD: cycles per dirty line written back");
    props().declare("sched_slice_cycles", int64_t(clock.cycles_in(750'000'000).n),  // 750 us (EEVDF's base slice)
                    "Time slice: cycles a context runs while others wait for this core before it is preempted");
    SC_THREAD(irq_thread);
    SC_METHOD(idle_check);
    sensitive << idle_check_ev_;
    dont_initialize();
}

bool Cpu::queued(const sc_core::sc_process_handle& p) const {
    return std::find(ready_.begin(), ready_.end(), p) != ready_.end();
}

bool Cpu::owner_gone() const {
    if (owner_.terminated()) return true;
    // Not a pooled job when it took the core: not one since either. A pool's
    // worker runs operations only inside its jobs (job_begin comes first, a
    // serial is never 0), so no lookup per operation for the other threads.
    if (owner_job_ == 0) return false;
    const PooledJob* j = job_of(owner_.get_process_object());
    return j && (j->ended || j->serial != owner_job_);
}

void Cpu::grant(const sc_core::sc_process_handle& next, const char* reason) {
    std::string prev = owner_name_;
    owner_ = next;
    const PooledJob* job = next.valid() ? job_of(next.get_process_object()) : nullptr;
    owner_job_ = job ? job->serial : 0;
    owner_name_ = context_name(next);
    owner_busy_ = next.valid();  // a waiter granted the core is about to run: nobody else takes it
    slice_used_ = 0;
    ready_.erase(std::remove(ready_.begin(), ready_.end(), next), ready_.end());
    const std::string& to = owner_name_;
    if (prev != to)
        hub().instant(path(), "sched_switch", "sched",
                      {{"prev", prev.empty() ? "idle" : prev}, {"next", to.empty() ? "idle" : to}, {"reason", reason}});
    quiesce::notify(sched_changed_, sc_core::SC_ZERO_TIME);
}

uint64_t Cpu::slice_cycles() {
    // Read once, at the first operation (after the scenario's overrides):
    // not a property lookup on every operation.
    if (!slice_cycles_) slice_cycles_ = uint64_t(std::max<int64_t>(1, props().get<int64_t>("sched_slice_cycles")));
    return slice_cycles_;
}

uint64_t Cpu::acquire() {
    const uint64_t slice = slice_cycles();
    // The running process (software runs in one): its handle built from the
    // simulation context's current process, as sc_get_current_process_handle()
    // builds it while the simulation runs, without that library call.
    sc_core::sc_process_handle me(sc_core::sc_get_current_process_b());
    auto stop_if_dead = [&] {
        if (!ctx().dead.any()) return;  // software whose machine lost power runs nothing more
        DeadSoftware& dead = ctx().dead;
        dead.throw_if_main(me);
        if (std::find(dead.others.begin(), dead.others.end(), me) != dead.others.end())
            for (;;) quiesce::wait(dead_ev_);
    };
    stop_if_dead();
    if (me == irq_context_) return slice;  // an interrupt runs on top of the running context
    PctSchedule& pct = ctx().pct;
    if (pct.on) {
        const bool fresh = !pct.known(me);
        // Its first operation, or a change point lowered it: with other
        // cores, it lets the higher-priority contexts running there go first.
        if ((pct.step_of(me) || fresh) && !peers_.empty()) {
            pct.priority_of(me);
            pct_hold(me);
            stop_if_dead();
        }
    }
    for (;;) {
        if (owner_ == me && !owner_gone()) {
            // PCT: a ready context of higher priority runs first.
            if (!pct.on || ready_.empty() || pct.priority_of(next_in_line()) <= pct.priority_of(me)) break;
            if (!queued(me)) ready_.push_back(me);
            grant(next_in_line(), "pct");
            quiesce::wait(sched_changed_);
            continue;
        }
        // An idle core (nobody, or a holder blocked elsewhere) goes to the
        // first in line.
        bool first = ready_.empty() || next_in_line() == me ||
                     (pct.on && !queued(me) && pct.priority_of(me) > pct.priority_of(next_in_line()));
        if (!owner_.valid() || owner_gone() || (!owner_busy_ && first)) {
            grant(me, owner_.valid() && !owner_gone() ? "blocked" : "idle");
            break;
        }
        if (!queued(me)) ready_.push_back(me);
        quiesce::wait(sched_changed_);
    }
    owner_busy_ = true;
    if (slice_used_ >= slice) slice_used_ = 0;  // nobody waited: a new slice
    return slice - slice_used_;
}

// PCT across cores. PCT runs the highest-priority ready context; on one
// core the run queue does (next_in_line), but contexts on two cores run
// side by side whatever their priorities, so PCT alone could never make one
// core's context wait for another's. Here a context that has just taken its
// priority (its first operation) or had it lowered (a change point) first
// lets the contexts of higher priority go: after a delta cycle (the
// contexts starting at this same instant take their cores), it waits, off
// its core (its own waiters run meanwhile), while a context of higher
// priority is inside an operation on another online core - at most one
// time slice of this core (sched_slice_cycles, 750 us): no longer than
// another thread taking the core for its slice would hold it up on a real
// machine. It looks again every microsecond. A `pct-hold` instant on this
// core's track says whom it waited behind and for how many cycles.
void Cpu::pct_hold(const sc_core::sc_process_handle& me) {
    PctSchedule& pct = ctx().pct;
    auto higher = [&]() -> const Cpu* {
        for (const Cpu* c : peers_)
            if (c->online_ && c->owner_busy_ && c->owner_.valid() && !(c->owner_ == me) && !c->owner_gone() &&
                pct.priority_of(c->owner_) > pct.priority_of(me))
                return c;
        return nullptr;
    };
    quiesce::wait(sc_core::SC_ZERO_TIME);
    const Cpu* first = higher();
    if (!first) return;
    const std::string behind = first->owner_name_;
    const uint64_t bound = slice_cycles();
    const uint64_t quantum = std::max<uint64_t>(1, clock().cycles_in(Picos(1'000'000)).n);
    uint64_t held = 0;
    while (held < bound && higher()) {
        const uint64_t q = std::min(quantum, bound - held);
        wait_cycles(Cycles(q));
        held += q;
    }
    hub().instant(path(), "pct-hold", "sched",
                  {{"context", context_name(me)}, {"behind", behind}, {"cycles", std::to_string(held)}});
}

void Cpu::pct_start() {
    PctSchedule& pct = ctx().pct;
    const sc_core::sc_process_handle me = sc_core::sc_get_current_process_handle();
    if (!pct.on || peers_.empty() || pct.known(me)) return;
    pct.priority_of(me);
    pct_hold(me);
}

void Cpu::op_done(uint64_t cycles) {
    // The running process compared by its object: no handle built and
    // counted per operation. Past this test it is owner_.
    const sc_core::sc_object* me = sc_core::sc_get_current_process_b();
    if (!me || me == irq_context_.get_process_object() || owner_.get_process_object() != me)
        return;  // forgotten while halted
    owner_busy_ = false;
    slice_used_ += cycles;
    if (ready_.empty()) return;
    PctSchedule& pct = ctx().pct;
    const uint64_t slice = slice_cycles();
    bool preempt = pct.on ? pct.priority_of(next_in_line()) > pct.priority_of(owner_) : slice_used_ >= slice;
    if (preempt) grant(next_in_line(), "preempt");
    else quiesce::notify(idle_check_ev_, sc_core::SC_ZERO_TIME);  // blocked if no new operation by then
}

// Who runs next: the first waiter, or under PCT the waiter of highest
// priority (the first of them on a tie).
sc_core::sc_process_handle Cpu::next_in_line() {
    PctSchedule& pct = ctx().pct;
    if (!pct.on || ready_.size() < 2) return ready_.front();
    size_t best = 0;
    for (size_t i = 1; i < ready_.size(); ++i)
        if (pct.priority_of(ready_[i]) > pct.priority_of(ready_[best])) best = i;
    return ready_[best];
}

void Cpu::idle_check() {
    if (!owner_busy_ && !ready_.empty()) grant(next_in_line(), "blocked");
}

void Cpu::forget(const sc_core::sc_process_handle& context) {
    ready_.erase(std::remove(ready_.begin(), ready_.end(), context), ready_.end());
    if (owner_ == context) {
        if (ready_.empty()) grant(sc_core::sc_process_handle(), "halted");
        else grant(next_in_line(), "halted");
    }
}

void Cpu::compute(Cycles n) { run_for(ctx().timing.vary(n.n)); }

void Cpu::delay(Cycles n) { run_for(ctx().timing.vary_up(n.n)); }

Cycles Cpu::wake_latency() {
    TimingJitter& t = ctx().timing;
    if (!t.percent) return Cycles(0);
    return Cycles(t.rng.uniform(0, clock().cycles_in(Picos(props().get<int64_t>("idle_exit_us")) * 1'000'000ULL).n));
}

void Cpu::run_for(uint64_t cycles) {
    uint64_t left = cycles;
    while (left) {  // cut at the slice end: others may run in between
        uint64_t chunk = std::min(left, acquire());
        wait_cycles(Cycles(chunk));
        left -= chunk;
        op_done(chunk);
    }
}

void Cpu::attach_bus(SystemBus& bus) {
    bus_ = &bus;
    ram_ = bus.direct_grant(0);
}

void Cpu::access(tlm::tlm_command cmd, uint64_t addr, unsigned char* data, unsigned len) {
    if (ram_.covers(addr, len)) return direct(cmd == tlm::TLM_WRITE_COMMAND, addr, data, len);
    PayloadPool::Lease lease(payloads_);  // given back however transport() leaves
    tlm::tlm_generic_payload& tx = *lease;
    // What a new payload holds, but for the fields transport() sets.
    tx.set_command(cmd);
    tx.set_address(addr);
    tx.set_data_ptr(data);
    tx.set_data_length(len);
    tx.set_byte_enable_length(0);
    tx.set_gp_option(tlm::TLM_MIN_PAYLOAD);
    transport(tx);
}

void Cpu::transport(tlm::tlm_generic_payload& tx) {
    // The core first (it may throw PowerLost): nothing of ours is attached
    // to the payload yet.
    acquire();
    Cycles start = clock().now();
    tx.set_extension(&initiator_);
    tx.set_streaming_width(tx.get_data_length());
    tx.set_byte_enable_ptr(nullptr);
    tx.set_dmi_allowed(false);
    tx.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    sc_core::sc_time delay = clock().delay(Cycles(1));
    socket->b_transport(tx, delay);
    tx.clear_extension(&initiator_);
    last_ok_ = tx.is_response_ok();
    // No temporal decoupling: the target waited until the access completed
    // (Component::complete); what is left (a path that does not wait) is
    // waited here, so the access order is exact.
    if (delay != sc_core::SC_ZERO_TIME) quiesce::wait(delay);
    ctx().timing.break_tie();
    op_done(clock().now().n - start.n);
}

// What transport() does for an access the bus would route to RAM, through
// the bus's direct path: the same core turn, delays, accesses and events.
void Cpu::direct(bool write, uint64_t addr, unsigned char* data, unsigned len) {
    acquire();
    Cycles start = clock().now();
    Picos delay = clock().delay_ps(Cycles(1));
    bus_->direct_access(write, addr, data, len, path(), delay);
    last_ok_ = true;
    if (delay != 0) wait_ps(delay);
    ctx().timing.break_tie();
    op_done(clock().now().n - start.n);
}

uint64_t Cpu::read(uint64_t addr, unsigned len) {
    SIM_ASSERT(len >= 1 && len <= 8, "cpu read of {} bytes", len);
    uint64_t v = 0;
    access(tlm::TLM_READ_COMMAND, addr, reinterpret_cast<unsigned char*>(&v), len);
    return v;
}

void Cpu::attach_memory(PhysicalMemory* memory, std::vector<Cpu*> peers) {
    memory_ = memory;
    peers_.clear();
    for (Cpu* c : peers)
        if (c != this) peers_.push_back(c);
}

void Cpu::cache_write(uint64_t addr, uint64_t len) {
    if (!memory_ || addr + len > memory_->size()) return;  // MMIO is uncached
    // A task whose core went offline in the middle of an operation really
    // continues on another core (Linux migrates it); it leaves nothing dirty
    // in the dead core's cache.
    if (!online_) return;
    for (uint64_t line = addr & ~(kLine - 1); line < addr + len; line += kLine) {
        if (DirtyLines::Line* hit = lines_.find(line)) {
            lines_.touch(*hit);
            continue;
        }
        std::array<uint8_t, kLine> dram;
        bool moved = false;
        for (Cpu* peer : peers_) {  // read-for-ownership: the line leaves the other cache, dirty
            if (peer->dirty_in_bucket_[page_bucket(line)] == 0) continue;  // none dirty in this page there
            DirtyLines::Line* theirs = peer->lines_.find(line);
            if (!theirs) continue;
            dram = theirs->dram;
            peer->lines_.erase(*theirs);
            peer->line_dropped(line);
            moved = true;
            break;
        }
        if (!moved) memory_->peek(line, dram.data(), kLine);  // its page found once (find_page)
        // Full: write back the least recently written line.
        if (lines_.size() >= size_t(std::max<int64_t>(1, *cache_lines_))) {
            DirtyLines::Line& oldest = lines_.oldest();
            line_dropped(oldest.addr);
            lines_.erase(oldest);
        }
        lines_.insert(line).dram = dram;
        line_added(line);
    }
}

void Cpu::snoop_write(uint64_t addr, uint64_t len) {
    if (lines_.empty()) return;
    for (uint64_t line = addr & ~(kLine - 1); line < addr + len; line += kLine) {
        if (dirty_in_bucket_[page_bucket(line)] == 0) {
            line |= (kPage - 1) & ~(kLine - 1);  // none in this page: on from its last line
            continue;
        }
        DirtyLines::Line* l = lines_.find(line);
        if (!l) continue;
        lines_.erase(*l);
        line_dropped(line);
    }
}

void Cpu::lines_cleared() {
    lines_.clear();
    dirty_in_bucket_.fill(0);
}

size_t Cpu::wbinvd() {
    size_t n = lines_.size();
    hub().slice_begin(path(), "wbinvd", "cache", {{"dirty_lines", std::to_string(n)}});
    wait_cycles(Cycles(2'000) + Cycles(uint64_t(props().get<int64_t>("wbinvd_line_cycles")) * n));
    lines_cleared();
    hub().slice_end(path(), "wbinvd", "cache");
    return n;
}

void Cpu::write(uint64_t addr, uint64_t value, unsigned len) {
    SIM_ASSERT(len >= 1 && len <= 8, "cpu write of {} bytes", len);
    cache_write(addr, len);
    access(tlm::TLM_WRITE_COMMAND, addr, reinterpret_cast<unsigned char*>(&value), len);
}

void Cpu::read_block(uint64_t addr, void* out, unsigned len) {
    access(tlm::TLM_READ_COMMAND, addr, static_cast<unsigned char*>(out), len);
}

void Cpu::write_block(uint64_t addr, const void* in, unsigned len) {
    cache_write(addr, len);
    access(tlm::TLM_WRITE_COMMAND, addr, const_cast<unsigned char*>(static_cast<const unsigned char*>(in)), len);
}

void Cpu::local_irq_disable() {
    if (!irqs_enabled_) return;
    irqs_enabled_ = false;
    irqs_off_by_ = sc_core::sc_get_current_process_handle();
    hub().instant(path(), "local_irq_disable", "cpu");
}

void Cpu::local_irq_enable() {
    if (irqs_enabled_) return;
    irqs_enabled_ = true;
    hub().instant(path(), "local_irq_enable", "cpu");
    quiesce::notify(state_changed_, sc_core::SC_ZERO_TIME);
}

int Cpu::go_offline() {
    SIM_ASSERT(online_, "{} offlined twice", path());
    hub().slice_begin(path(), "offline", "hotplug");
    // e.g. an interrupt or a bound task that cannot move
    if (props().get<bool>("offline_fails") || fault("cpu-offline-failure")) {
        wait_cycles(Cycles(prop_cycles("offline_cycles").n / 2));
        hub().slice_end(path(), "offline", "hotplug", {{"result", "-EBUSY"}});
        return -16;
    }
    if (props().get<bool>("play_dead_wbinvd")) wbinvd();  // play_dead: the dying core writes its cache back
    wait_cycles(prop_cycles("offline_cycles"));
    online_ = false;
    hub().slice_end(path(), "offline", "hotplug");
    return 0;
}

void Cpu::go_online() {
    SIM_ASSERT(!online_, "{} onlined twice", path());
    hub().slice_begin(path(), "online", "hotplug");
    wait_cycles(prop_cycles("online_cycles"));
    online_ = true;
    irqs_enabled_ = true;
    hub().slice_end(path(), "online", "hotplug");
    quiesce::notify(state_changed_, sc_core::SC_ZERO_TIME);
}

void Cpu::idle_enter(const std::string& state) {
    if (idle_) return;
    idle_ = true;
    hub().slice_begin(path(), "idle", "cpuidle", {{"state", state}, {"tick", "stopped"}});
}

void Cpu::idle_exit() {
    if (!idle_) return;
    idle_ = false;
    hub().slice_end(path(), "idle", "cpuidle");
}

void Cpu::lose_context(bool memory_retained) {
    if (memory_retained && !lines_.empty() && memory_) {
        // The data of every dirty line never reaches DRAM: memory keeps what DRAM held.
        const std::string who = path() + " cache loss";
        std::string first;
        size_t i = 0;
        lines_.each_oldest_first([&](const DirtyLines::Line& l) {
            memory_->poke(l.addr, l.dram.data(), kLine, who);
            if (i < 8) first += fmt::format("{}{:#x}", i ? "," : "", l.addr);
            ++i;
        });
        hub().guest_error(path(), "cache.lost-dirty-lines",
                          fmt::format("{} dirty cache line(s) lost when power was removed (first: {})", i, first),
                          {{"lines", std::to_string(i)}, {"first", first}});
    }
    lines_cleared();
    irqs_enabled_ = false;
    online_ = false;
    started_ = false;
    start_vector_ = 0;
    hub().instant(path(), "context-lost", "power");
}

void Cpu::start_at(uint64_t vector) {
    start_vector_ = vector;
    started_ = true;
    online_ = true;
    irqs_enabled_ = false;  // firmware hands over with interrupts off
    hub().instant(path(), "start", "power", {{"vector", fmt::format("{:#x}", vector)}});
    quiesce::notify(started_ev_, sc_core::SC_ZERO_TIME);
}

void Cpu::power_on_reset() {
    online_ = true;
    irqs_enabled_ = false;
    hub().instant(path(), "reset", "power");
    quiesce::notify(state_changed_, sc_core::SC_ZERO_TIME);
}

uint64_t Cpu::wait_for_start() {
    while (!started_) quiesce::wait(started_ev_);
    return start_vector_;
}

void Cpu::attach(InterruptController& intc, IrqEntry entry) {
    intc_ = &intc;
    irq_entry_ = std::move(entry);
}

// Interrupt delivery: whenever an unmasked input is asserted and this core is
// online with interrupts enabled, enter the OS's handler. Only the boot CPU
// receives device interrupts (fixed affinity).
void Cpu::irq_thread() {
    if (index_ != 0) return;
    irq_context_ = sc_core::sc_get_current_process_handle();
    for (;;) {
        int irq = intc_ ? intc_->pending() : -1;
        if (irq < 0 || !online_ || !irqs_enabled_ || !irq_entry_) {
            if (intc_) quiesce::wait(intc_->changed() | state_changed_);
            else quiesce::wait(state_changed_);
            continue;
        }
        in_irq_ = true;
        wait_cycles(Cycles(ctx().timing.vary(prop_cycles("irq_entry_cycles").n)));
        irq_entry_(*this, unsigned(irq));
        in_irq_ = false;
        wait_cycles(Cycles(50));   // iret
    }
}

}  // namespace quiesce
