// A scenario (DESIGN.md §5, docs/scenarios.md): platform, protocol, seed,
// driver variants, workload, wake source, limits and expectations.
#pragma once

#include "sim/core/events.h"
#include "sim/core/properties.h"
#include "sim/core/toml_reader.h"
#include "sim/drivers/program.h"
#include "sim/fault/fault_plan.h"
#include "sim/pm/device_graph.h"
#include "sim/pm/hibernation_spec.h"
#include "sim/pm/protocol.h"

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <optional>
#include <string>
#include <vector>

namespace quiesce {

struct GenericDeviceDesc;

struct DeviceSpec {
    std::string name;
    std::string type;      // pci-host, pci-bridge, dma-engine, ahci, xhci, pci-device, usb-*
    std::string parent;    // graph parent ("" for roots)
    unsigned device = 0;   // PCI device number on the parent's bus
    unsigned function = 0;
    bool no_soft_reset = false;
    bool wake = false;
    // ahci: the drive on port 0 and its partitions (root first, swap last).
    std::string disk = "sda";
    uint64_t disk_size = 64ULL << 20;
    unsigned sector_size = 512;
    uint64_t swap_size = 16ULL << 20;
    // usb-keyboard, usb-storage: the root-hub port (1-based) of its parent
    // xHCI, its serial number, and power/persist. A usb-storage device has
    // a disk like an ahci controller (`disk`, default sdb).
    unsigned port = 1;
    std::string serial;
    bool persist = true;
    // pci-device: a PCI function described by a device file (docs/devices.md).
    std::string model;
    std::shared_ptr<const GenericDeviceDesc> desc;
    int line = 0;

    // What its driver binds to: the type, or a described device's name.
    std::string driver_type() const { return type == "pci-device" ? model : type; }

    bool usb() const { return type == "usb-keyboard" || type == "usb-storage"; }
    // An ahci controller or a usb-storage device: it has a disk (`disk`).
    bool has_disk() const { return type == "ahci" || type == "usb-storage"; }

    // ahci: partition 2 (swap) at the end of the disk, in sectors.
    uint64_t swap_first_sector() const { return (disk_size - swap_size) / sector_size; }
    uint64_t swap_sectors() const { return swap_size / sector_size; }
};

struct LinkSpec {
    std::string supplier;
    std::string consumer;
    int line = 0;
    bool pm_runtime = false;  // DL_FLAG_PM_RUNTIME: the supplier is runtime-active while the consumer is
};

struct PlatformSpec {
    std::string name;
    std::string file;
    std::string description;
    unsigned cpus = 2;
    uint64_t cpu_hz = 1'000'000'000;
    uint64_t memory = 16ULL << 20;
    uint32_t hw_signature = 0x5eed0001;
    std::vector<DeviceSpec> devices;
    std::vector<LinkSpec> links;
    // The disk whose filesystem holds /lib/firmware (an ahci or usb-storage
    // device's `disk`); "" is the first AHCI controller's disk.
    std::string firmware_disk;
};

// `[properties]`: "component.property" = value, applied after the platform is built.
struct PropertyOverride {
    std::string key;
    PropValue value;
    int line = 0;
    int column = 0;
};

struct Expectation {
    bool pass = true;
    std::vector<std::string> violations;  // ids that must appear (and no others)
    std::string outcome = "resumed";      // for pass: how the transition must end ("": any)
    bool outcome_given = false;           // [expect] outcome was written: checked for a failure too
    // [expect] workload = "failed": the workload must fail (its data came
    // back wrong, a command never completed) - a bug no invariant sees;
    // "ok" (the default) for a pass. Checked for a failure only when written.
    bool workload_fails = false;
    bool workload_given = false;
};

// The storage workload: a user task writing a file through the page cache
// with fsync, and the writeback flusher kernel thread.
struct StorageWorkload {
    unsigned writer_blocks = 32;            // 0: no writer
    unsigned fsync_every = 4;               // writes between fsyncs (0: never)
    bool fdatasync = false;                 // the writer calls fdatasync, not fsync (writer_sync)
    Picos writer_period = 1'000'000'000ULL;  // 1 ms between writes
    Picos flusher_period = 5'000'000'000ULL; // dirty_writeback interval, scaled down
    Picos commit_period = 25'000'000'000ULL; // the journal's commit interval (ext4 commit=, scaled down)
    bool flusher_freezable = true;          // the filesystem's kernel threads: flusher and journal
    bool barrier = true;                    // journal commits flush (REQ_PREFLUSH|REQ_FUA); false: nobarrier
    bool stuck_task = false;                // a task in an uninterruptible wait
    bool dma_streamer = false;              // a kernel thread copying copy_size with the first DMA engine
    unsigned dma_streamer_threads = 1;      // ... or this many, each with its own buffers
    std::string handle_user;                // a user task with a handle to this dma-engine device ("": none)
    bool file_handle = false;               // the writer holds its file through an open handle (revalidated by galibert-s4)
    bool file_revoke_drop = true;           // revoking it drops the changed file's page cache and metadata; false: kept
    int64_t hdparm_burst = 0;               // a user task tunes the first DMA engine's BURST to this (0: none) ...
    Picos hdparm_after = 5'000'000'000ULL;  // ... this long after the transition starts
    bool updater = false;                   // a user task doing two-step updates that must stay whole
    std::string skip_sleeper = "none";      // a task sleeping outside the freezer's count: none, correct, buggy
    unsigned toucher_pages = 0;             // anonymous pages of the toucher task (0: none)
    unsigned toucher_resident = 16;         // of which at most this many in memory: the rest is swapped
    Picos suspend_after = 20'000'000'000ULL; // tasks run this long before the transition
    Picos run_after = 0;                     // ... and this long after it, before the run ends
    // With ops > 0 each task does exactly that many operations, then reports
    // a digest of what it sees (the file read back, its pages, the balances)
    // and exits; the run ends when all have. control_run: the executor also
    // runs the scenario without the transition and compares the digests
    // (transparency.diverged).
    unsigned ops = 0;
    bool control_run = false;
};

struct Scenario {
    bool control = false;  // set by the executor: the run without the transition (control_run)
    bool note_persistence = false;  // set by explore for its baseline: RunSummary::persistence
    bool note_contexts = false;     // set by explore for its variants: RunSummary::contexts (outside the digest)
    std::string name;
    std::string file;
    std::string description;
    // The files its loading read (this file first), with their hashes: a run
    // is a function of these and its seed (recorded as run_input rows).
    std::vector<InputFile> inputs;
    uint64_t seed = 1;
    PlatformSpec platform;
    Protocol protocol;
    // device -> its driver as data (every device whose type has driver files)
    std::map<std::string, SharedProgram> drivers;
    std::map<std::string, uint64_t> driver_local_memory;  // device -> bytes its driver saves on suspend
    std::map<std::string, std::string> driver_companion;  // device -> the device its driver reads in suspend_noirq
    std::map<std::string, std::string> driver_handoff;    // device -> the device its resume waits for and hands work to
    std::set<std::string> driver_no_explicit_state;        // dma-engine drivers that cannot restore explicit state
    std::vector<std::string> order;  // explicit suspend order ([order] suspend), empty: the graph's
    struct Schedule {
        bool pct = false;     // [schedule] policy = "pct" (default "fifo": run queues with time slices)
        unsigned depth = 3;   // the bug depth PCT aims at
        uint64_t steps = 20'000;  // the number of operations it spreads its change points over
        uint64_t seed = 0;    // 0: the scenario's seed
    } schedule;
    struct Timing {
        unsigned jitter = 0;  // [timing] jitter: latencies vary by up to this percent (0: nominal)
        bool ties = false;    // [timing] ties: same-time events in a seeded order
        uint64_t seed = 0;    // 0: the scenario's
    } timing;
    std::vector<PropertyOverride> properties;
    // [runtime.NAME]: a device's runtime PM (power/control, autosuspend_delay_ms).
    struct RuntimeSpec {
        bool allow = false;          // control = "auto"
        Picos autosuspend_delay = 0;
        bool ignore_children = false;
    };
    std::map<std::string, RuntimeSpec> runtime;
    // [cycles]: the protocol's transition `count` times in one run (as
    // sleepgraph's -multi or a CI farm's "suspend 100 times"), the machine
    // running `between` after each resume (and the workload's copies) before
    // the next. count = 1 is a run as it was without the table. With
    // `protocols`, cycle k runs protocols[(k-1) % size] (suspend-to-RAM and
    // suspend-to-idle mixed, as a laptop's lid and idle timer mix them);
    // without, every cycle runs [protocol].
    struct Cycles {
        unsigned count = 1;
        Picos between = 0;
        std::vector<Protocol> protocols;
        // after_fresh_boot = "continue": a cycle that ends in a fresh boot
        // (no image to resume from, a power cut) does not end the run: the
        // machine boots afresh - a new kernel, drivers probed again, the root
        // filesystem mounted with journal replay - and the next cycle runs.
        bool continue_after_boot = false;
    } cycles;
    // The protocol cycle k (1-based) runs.
    const Protocol& protocol_of_cycle(unsigned k) const {
        return cycles.protocols.empty() ? protocol : cycles.protocols[(k - 1) % cycles.protocols.size()];
    }
    // Whether any cycle hibernates (a restore kernel, a swap partition, the image checks).
    bool hibernates() const {
        if (protocol.target == 4) return true;
        for (const auto& p : cycles.protocols)
            if (p.target == 4) return true;
        return false;
    }
    Picos idle = 0;                // [workload] idle: the machine idles this long before and after the transition
    unsigned dma_copies = 4;       // before and after the transition, per DMA engine
    unsigned usb_commands = 4;     // No-Op commands before and after, per xHCI controller
    uint32_t copy_size = 4096;
    StorageWorkload storage;
    HibernationSpec hibernation;
    FaultPlan faults;
    // The rules of `faults` that came from outside the file (--fault,
    // explore), in --fault syntax: recorded with the run for replay.
    std::vector<std::string> extra_faults;
    Picos wake_after = 200'000'000'000ULL;  // RTC alarm armed right before suspend (rtcwake)
    Picos button_after = 0;                  // power button pressed this long after the transition starts (0: never)
    // The user-space program that suspends (rtcwake, systemd-sleep): it
    // decides, takes `think` (hooks, locks), then writes /sys/power/state;
    // with `wakeup_count` it reads /sys/power/wakeup_count when it decides
    // and writes it back before the state (Documentation/ABI sysfs-power).
    bool wakeup_count = false;
    Picos think = 0;
    Picos key_after = 0;                     // a key pressed on the first USB keyboard then (0: never)
    Picos sim_limit = 10'000'000'000'000ULL; // 10 s simulated
    // The parent kills a run past either (a `timeout`): its CPU time stops
    // a runaway model whatever the machine's load; the wall clock, a child
    // that blocks instead of computing.
    double cpu_limit_s = 60;
    double wall_limit_s = 600;
    Picos callback_budget = 10'000'000'000'000ULL;  // liveness.hang: 10 s per device callback
    TraceLevel trace = TraceLevel::Events;
    Expectation expect;
};

// Loads, resolves (platform, protocol) and validates a scenario file.
// Throws InputError naming file:line:column and key; for a driver,
// protocol, platform or device file, says which it is.
Scenario load_scenario(const std::string& path);
// What a file other than a scenario is, by its top-level keys: "driver"
// ([driver]), "protocol" ([[suspend]], target), "platform" (cpus, memory,
// [[device]]) or "device" (one [device] table), with the key that tells (in
// `key`); "" for a scenario (it has [expect] or [platform]) or anything else.
std::string other_file_kind(const toml::table& doc, std::string& key);
// Checks names, parents, slots, ports, drives and links (no cycle) as it
// reads: a spec it returns makes a graph.
PlatformSpec load_platform(const std::string& path);
// The device graph of a spec load_platform returned: devices in file order,
// then their drives (each the child of its controller), the parent->child
// edges and the links. It checks nothing load_platform checked.
DeviceGraph build_graph(const PlatformSpec& spec);
// "a=1,b=x,c": the comma-separated items of a command-line rule, each split
// at its first '=' (`pair` false when it has none).
struct KeyValue {
    std::string key, value;
    bool pair = false;
    std::string text() const { return pair ? key + "=" + value : key; }
};
std::vector<KeyValue> split_key_values(const std::string& text);

// One fault rule: a [[fault]] table, or a --fault "key=value,..." option
// (index: its position on the command line). Throws InputError.
class TableReader;
FaultSpec parse_fault(TableReader& r, const Scenario& s, const std::string& origin);
FaultSpec parse_cli_fault(const std::string& text, size_t index, const Scenario& s);
// "DRIVER:OP:CALLBACK:STEP": a driver mutation (explore --mutate, replay),
// applied to every device running that driver unpatched. Throws InputError.
void set_mutation(Scenario& s, const std::string& text);
// Adds --fault rules to a scenario's plan (and to extra_faults); a line
// "order=a,b,..." (as replay finds it) sets the order instead, and
// "mutate=..." mutates a driver.
void add_cli_faults(Scenario& s, const std::vector<std::string>& rules);
// "" if `order` names every device of the platform's graph once, else why not.
std::string check_order(const Scenario& s, const std::vector<std::string>& order);
// --order "a,b,...": an explicit suspend order (recorded for replay). Throws InputError.
void set_order(Scenario& s, const std::string& text);
// "pct,seed=S,depth=D[,steps=K]": a PCT schedule (explore --pct, replay). Throws InputError.
void set_schedule(Scenario& s, const std::string& text);
// "jitter=P,seed=S": latencies within +-P percent (explore --timing, replay). Throws InputError.
void set_timing(Scenario& s, const std::string& text);
// Finds a named platform/protocol next to the scenario or in the built-in set.
std::string resolve_data_file(const std::string& scenario_file, const std::string& kind, const std::string& name);

std::string to_string(TraceLevel l);
bool parse_trace_level(const std::string& text, TraceLevel& out);  // false if unknown

}  // namespace quiesce
