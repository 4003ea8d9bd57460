// A CPU core that runs software as timed operations (DESIGN.md §3): compute N
// cycles, memory and MMIO accesses over TLM (waiting out the annotated delay),
// the local interrupt flag, online/offline, and loss of context in sleep.
//
// Its write-back cache: a write to RAM makes its 64-byte lines dirty in this
// core's cache (at most `cache_lines`; the least recently written is written
// back to make room). Memory always holds the coherent view - what another
// core or a device reading by DMA sees, as x86 snooping gives them - and each
// dirty line keeps what DRAM itself holds until the line is written back.
// WBINVD writes every dirty line back (its cost grows with them); taking the
// core offline does it first (play_dead). Power removed while memory stays in
// self-refresh (S3) loses the dirty lines: DRAM keeps its older content, and
// the loss is reported (cache.lost-dirty-lines).
// Software (the PM core, drivers, firmware methods) calls these from the
// SC_THREAD that is "running on" this core.
//
// The run queue: one software context (a task, the PM thread, the boot
// program) runs on a core at a time. Each timed operation first takes the
// core. The context that holds it keeps it across consecutive operations
// until its time slice (`sched_slice_cycles` of operations) runs out while
// others wait - preemption: a long compute is cut at the slice end - or it
// blocks: it starts no operation by the next delta cycle, and the first
// waiter runs (first come, first served). A context arriving at an idle core
// takes it at once. Interrupt handlers run on top of whatever runs (they
// never queue). Each change of the running context is a `sched_switch`
// instant on the core's track (prev, next, reason), as in ftrace. Under a
// PCT schedule (RunContext::pct) the highest-priority waiter goes first and
// preempts at operation boundaries, without slices; a context that has just
// taken or lost its priority waits while a higher-priority one runs on another
// core, at most a slice (pct_hold).
#pragma once

#include "models/cpu/dirty_lines.h"
#include "sim/core/sync.h"
#include "models/cpu/intc.h"
#include "sim/core/bus.h"
#include "sim/core/module.h"
#include "sim/core/payload_pool.h"

#include <tlm_utils/simple_initiator_socket.h>

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace quiesce {

class PhysicalMemory;

class Cpu : public Component {
public:
    SC_HAS_PROCESS(Cpu);
    // The OS's interrupt entry: called on this core's interrupt context with
    // the platform IRQ number.
    using IrqEntry = std::function<void(Cpu&, unsigned irq)>;

    Cpu(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, unsigned index);

    tlm_utils::simple_initiator_socket<Cpu> socket;

    unsigned index() const { return index_; }

    // --- timed software operations --------------------------------------
    // Software work: `n` cycles, varied within [timing] jitter.
    void compute(Cycles n);
    // A busy-wait with a floor (udelay, mdelay, a spec's minimum delay):
    // at least `n` cycles, with [timing] jitter up to that much longer.
    void delay(Cycles n);
    // How long this core, idle, takes to run a thread woken on it (a kworker
    // for an async PM job): under [timing] jitter a draw from 0 to
    // `idle_exit_us` (the exit latency of its idle state); nominal runs: 0.
    Cycles wake_latency();
    uint64_t read(uint64_t addr, unsigned len);
    void write(uint64_t addr, uint64_t value, unsigned len);
    uint8_t read8(uint64_t a) { return uint8_t(read(a, 1)); }
    uint16_t read16(uint64_t a) { return uint16_t(read(a, 2)); }
    uint32_t read32(uint64_t a) { return uint32_t(read(a, 4)); }
    uint64_t read64(uint64_t a) { return read(a, 8); }
    void write8(uint64_t a, uint8_t v) { write(a, v, 1); }
    void write16(uint64_t a, uint16_t v) { write(a, v, 2); }
    void write32(uint64_t a, uint32_t v) { write(a, v, 4); }
    void write64(uint64_t a, uint64_t v) { write(a, v, 8); }
    void read_block(uint64_t addr, void* out, unsigned len);
    void write_block(uint64_t addr, const void* in, unsigned len);
    // Whether the last access completed (false after a master abort).
    bool last_access_ok() const { return last_ok_; }

    // --- interrupt flag --------------------------------------------------
    void local_irq_disable();
    void local_irq_enable();
    bool irqs_enabled() const { return irqs_enabled_; }
    // Whether the calling thread is the context that disabled interrupts
    // (a task that goes on running on the core meanwhile does not inherit
    // that context: Linux would not have scheduled it).
    bool irqs_disabled_here() const {
        return !irqs_enabled_ && irqs_off_by_ == sc_core::sc_get_current_process_handle();
    }

    // --- hotplug and sleep -----------------------------------------------
    bool online() const { return online_; }
    // Timed offline/online sequences (run by the boot CPU on behalf of this
    // one). Offline returns 0 or -EBUSY (the `offline_fails` property).
    int go_offline();
    void go_online();
    // The idle loop (cpuidle_enter_s2idle): the core waits for an interrupt
    // in `state` (s2idle: its deepest, the tick stopped) - an `idle` slice
    // on its track - until idle_exit.
    void idle_enter(const std::string& state);
    void idle_exit();
    bool idle() const { return idle_; }
    // Power removed in S3/S4: registers, interrupt flag and caches are gone.
    // With `memory_retained` (S3) the dirty lines' data never reaches DRAM.
    void lose_context(bool memory_retained = false);

    // The direct path to RAM (SystemBus::direct_access): the bus this core's
    // socket is bound to grants it the RAM its accesses decode to, and an
    // access wholly inside the grant goes there without a payload; MMIO and
    // anything else goes over the socket. The same timing, contents, write
    // observers and events either way.
    void attach_bus(SystemBus& bus);

    // --- caches ----------------------------------------------------------
    // The RAM this core caches, and the other cores (a line moves between
    // caches on a write: the new owner inherits what DRAM holds for it).
    void attach_memory(PhysicalMemory* memory, std::vector<Cpu*> peers);
    // WBINVD: writes back and invalidates every line; returns the lines written.
    size_t wbinvd();
    size_t dirty_lines() const { return lines_.size(); }
    // A device wrote RAM by DMA: its lines here are stale (snoop invalidate).
    void snoop_write(uint64_t addr, uint64_t len);
    // Firmware starts this core at a vector (the FACS waking vector).
    void start_at(uint64_t vector);
    // Power-on reset for a normal boot: online, interrupts off, no vector
    // handed to a sleeping kernel.
    void power_on_reset();
    // Blocks the calling software thread until firmware starts the core.
    uint64_t wait_for_start();
    // The power is being cut: a start that happened before no longer counts
    // (wait_for_start waits for the next one).
    void forget_start() { started_ = false; }

    void attach(InterruptController& intc, IrqEntry entry);

    // --- run queue -------------------------------------------------------
    // A halted or killed context leaves the core and its queue.
    void forget(const sc_core::sc_process_handle& context);
    // Waiting contexts re-check the core (after halted ones are resumed).
    void kick() { quiesce::notify(sched_changed_, sc_core::SC_ZERO_TIME); }
    // The context holding the core ("" when none), and the number waiting.
    std::string running() const { return owner_name_; }
    size_t waiting() const { return ready_.size(); }

    // A pooled thread (the PM engine's async callback workers) runs one job
    // after another. To every core each job is a context of its own, as a
    // thread spawned for it would be: it runs under the job's name, and once
    // the job ended the core sees it gone, as a terminated thread.
    static void job_begin(const sc_core::sc_process_handle& thread, std::string name);
    static void job_end(const sc_core::sc_process_handle& thread);
    // A context about to start its work on this core (an async PM job,
    // before its callback slice begins): under PCT with other cores it takes
    // its priority and holds here (pct_hold) rather than at its first
    // operation, so what it records starts after the hold.
    void pct_start();

private:
    // One access over the socket: a payload from payloads_ (one per access
    // in flight: several contexts may wait on this core at once), reset,
    // sent, and given back (issue 18 item 3: a payload constructed per access
    // allocated its extension array each time).
    void access(tlm::tlm_command cmd, uint64_t addr, unsigned char* data, unsigned len);
    void transport(tlm::tlm_generic_payload& tx);
    void direct(bool write, uint64_t addr, unsigned char* data, unsigned len);
    SystemBus* bus_ = nullptr;
    SystemBus::DirectGrant ram_;  // where direct() applies
    PayloadPool payloads_;
    // This core's name on every payload it sends (one extension for all:
    // the accesses in flight share the name; it is not copied per access).
    InitiatorExt initiator_;
    void irq_thread();
    void cache_write(uint64_t addr, uint64_t len);
    // Takes the core for one timed operation (waits its turn); op_done
    // charges the operation's cycles to the slice and hands the core over
    // when the slice is spent and others wait. Returns the cycles left in
    // the slice (at least 1).
    uint64_t acquire();
    void op_done(uint64_t cycles);
    // PCT across cores: waits while a higher-priority context runs on another core (at most a slice).
    void pct_hold(const sc_core::sc_process_handle& me);
    void grant(const sc_core::sc_process_handle& next, const char* reason);
    void idle_check();
    bool queued(const sc_core::sc_process_handle& p) const;
    bool owner_gone() const;  // terminated, or the pooled job it took the core for ended
    sc_core::sc_process_handle next_in_line();
    uint64_t slice_cycles();

    static constexpr uint64_t kLine = DirtyLines::kLine;
    PhysicalMemory* memory_ = nullptr;
    std::vector<Cpu*> peers_;
    DirtyLines lines_;  // least recently written first
    const int64_t* cache_lines_ = nullptr;  // the `cache_lines` property, read on a miss
    // How many of lines_ lie in the 4 KiB pages of each bucket (a page's
    // bucket: its number modulo kPageBuckets). A device write into a page
    // whose bucket counts none has no line here to invalidate, so
    // snoop_write skips it without a lookup per line.
    static constexpr uint64_t kPage = 4096;
    static constexpr size_t kPageBuckets = 1024;
    std::array<uint32_t, kPageBuckets> dirty_in_bucket_{};
    static size_t page_bucket(uint64_t line) { return (line / kPage) % kPageBuckets; }
    void line_added(uint64_t line) { ++dirty_in_bucket_[page_bucket(line)]; }
    void line_dropped(uint64_t line) { --dirty_in_bucket_[page_bucket(line)]; }
    void lines_cleared();  // lines_ emptied (nothing freed), their counts with them

    unsigned index_;
    void run_for(uint64_t cycles);
    bool irqs_enabled_ = true;
    sc_core::sc_process_handle irqs_off_by_;  // who disabled them
    bool online_ = true;
    bool last_ok_ = true;
    bool in_irq_ = false;
    bool idle_ = false;
    uint64_t start_vector_ = 0;
    bool started_ = false;
    sc_core::sc_event state_changed_;
    sc_core::sc_event started_ev_;
    InterruptController* intc_ = nullptr;
    IrqEntry irq_entry_;

    sc_core::sc_process_handle irq_context_;
    sc_core::sc_process_handle owner_;          // the context running here
    std::string owner_name_;                    // its name, as the trace shows it
    uint64_t owner_job_ = 0;                    // the pooled job it took the core for (0: none)
    bool owner_busy_ = false;                   // inside a timed operation
    uint64_t slice_used_ = 0;                   // cycles of operations since it took the core
    uint64_t slice_cycles_ = 0;                 // sched_slice_cycles, once read
    std::vector<sc_core::sc_process_handle> ready_;  // waiting, first come first
    sc_core::sc_event sched_changed_;
    sc_core::sc_event idle_check_ev_;
    sc_core::sc_event dead_ev_;  // never notified: where dead software stops
};

}  // namespace quiesce
