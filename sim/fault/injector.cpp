// The fault injector: rules firing at sites, phase boundaries and times; the core's RunContext and Module::fault.
#include "sim/fault/injector.h"
#include "sim/core/sync.h"

#include "sim/core/context.h"
#include "sim/core/module.h"

#include <fmt/format.h>
#include <systemc>

namespace quiesce {

// What sim/core declares and the fault layer defines: the run's context
// with its injector, and a module asking the fault plan.
RunContext::RunContext(uint64_t seed)
    : rng(seed), ledger(&hub), injector_(std::make_unique<FaultInjector>(hub)), faults(*injector_) {}
RunContext::~RunContext() = default;

const FaultSpec* Module::fault(const std::string& kind, std::vector<Arg> site) {
    if (!ctx().faults.armed(kind)) return nullptr;
    return ctx().faults.fire(kind, fault_device(), path(), std::move(site));
}

const std::vector<FaultKindInfo>& fault_kinds() {
    static const std::vector<FaultKindInfo> k = {
        {"power-loss", true, "after_pages,restore_after",
         "mains power fails: everything loses power, memory and the drive's cache included; firmware boots the "
         "machine `restore_after` later. At a phase boundary; in write-image after `after_pages` image pages; at a "
         "time (`at`, no phase); or at a drive's persistence points (`device` = the drive: after each completed "
         "write or flush)"},
        {"callback-fail", false, "err", "a device's PM callback returns `err` (default -5, -EIO)"},
        {"callback-hang", false, "", "a device's PM callback never returns (liveness.hang catches it)"},
        {"dma-delay", false, "duration", "a DMA engine starts a descriptor `duration` late"},
        {"spurious-irq", true, "irq",
         "interrupt line `irq` (default 10) is asserted for 2 us with no device behind it"},
        {"wake-event", true, "source", "a wake event arrives: `source` = power-button (default), rtc, or usb-key (a key on the first USB keyboard)"},
        {"disk-write-error", false, "", "the drive fails a write command (ATA ERR/ABRT): the request gets -EIO"},
        {"slow-spin-up", false, "duration", "the drive takes `duration` longer to spin up"},
        {"sata-link-drop", false, "",
         "an AHCI port's link drops while the HBA runs a command: the drive resets and the link comes back through "
         "COMINIT; the command is abandoned (no FIS, no interrupt) and PxSERR.DIAG.N/X raise PxIS.PRCS/PCS"},
        {"disk-no-answer", false, "",
         "the drive never answers one command: it stays busy (no status, no data) until a COMRESET or a power "
         "loss; libata's command timeout (30 s) runs the error handler"},
        {"image-bit-flip", false, "page",
         "after S4 entry, one bit of image data page `page` (stream order) flips on the media"},
        {"resume-device-late", false, "duration",
         "at a boot after hibernation, the disk with the swap partition probes `duration` (default 2s) after "
         "software_resume looked for it: without [hibernation] resume_wait the kernel boots without the image, "
         "which stays on swap for a later boot"},
        {"offline-fs-write", false, "op,file_block",
         "after S4 entry, while the machine is off, another OS mounts the root filesystem, changes its file in one "
         "journalled transaction (`op` = write: file block `file_block`, default 0; delete: the file unlinked) and "
         "unmounts cleanly"},
        {"alloc-failure", false, "", "a kernel page allocation fails with -ENOMEM"},
        {"cpu-offline-failure", false, "", "taking a nonboot core offline fails with -EBUSY"},
        {"acpi-method-error", false, "method",
         "an ACPI control method (`method` = _TTS, _PTS or _WAK; default any) fails before its effects; Linux logs "
         "it and goes on"},
        {"hw-signature-change", true, "signature",
         "firmware changes the FACS hardware signature (to `signature`, default the old value + 1)"},
        {"firmware-clobber", true, "",
         "while the machine next sleeps, firmware writes 64 scratch bytes into the ACPI NVS region (undone by "
         "the OS's NVS restore when it saved NVS)"},
        {"usb-power-loss", false, "", "the xHCI controller loses power across S3 (no Save/Restore State survives)"},
        {"usb-unplug", false, "",
         "while the machine sleeps in S3, a person unplugs the USB device `device` from its root-hub port"},
        {"usb-swap", false, "identical",
         "while the machine sleeps in S3, a person unplugs the USB disk `device` and plugs another one (its own "
         "medium) into the same port: a different device, or with `identical` one with the same descriptors and "
         "serial number"},
        {"torn-write", false, "restore_after",
         "the power fails in the middle of a drive's write: its first half of sectors reaches the media, the rest "
         "never does, and the write cache is lost"},
        {"bar-loss", false, "", "a PCI function resets on D3hot->D0 as if No_Soft_Reset were clear: BARs lost"},
        {"freezer-refusal", false, "", "a task refuses to freeze (an uninterruptible wait): the freezer times out"},
    };
    return k;
}

const FaultKindInfo* find_fault_kind(const std::string& name) {
    for (const auto& k : fault_kinds())
        if (name == k.name) return &k;
    return nullptr;
}

void FaultInjector::load(const FaultPlan& plan, uint64_t seed) {
    rules_.clear();
    for (const auto& f : plan.faults) add_rule(f, seed);
}

void FaultInjector::add_rule(const FaultSpec& rule, uint64_t seed) {
    size_t i = rules_.size();
    Rule r{rule, Rng(seed ^ (0x6661756c74ULL + 0x9e3779b97f4a7c15ULL * (i + 1)))};
    // The drive asks such a rule at each of its points (persistence_point),
    // with nothing else to meet: a rule there from the start has seen them all.
    if (rule.kind == "power-loss" && !rule.device.empty() && rule.after_pages < 0 && rule.phase.empty() && !rule.at)
        r.seen = persistence_seen_[rule.device];
    rules_.push_back(std::move(r));
}

void FaultInjector::persistence_point(const std::string& drive) {
    ++persistence_seen_[drive];
    if (note_persistence_) persistence_times_.emplace_back(drive, now_ps());
}

bool FaultInjector::armed(const std::string& kind) const {
    for (const auto& r : rules_)
        if (!r.spent && r.spec.kind == kind) return true;
    return false;
}

bool FaultInjector::take(Rule& r, const std::string& phase, const std::string& device) {
    const FaultSpec& f = r.spec;
    if (r.spent) return false;
    if (!f.phase.empty() && f.phase != phase) return false;
    if (!f.device.empty() && f.device != device) return false;
    if (f.at && now_ps() < f.at) return false;
    if (f.cycle && f.cycle != cycle_) return false;
    ++r.seen;
    if (f.nth && r.seen != f.nth) return false;
    if (f.probability >= 0 && double(r.rng.next() >> 11) * 0x1.0p-53 >= f.probability) return false;
    if (f.once) r.spent = true;
    return true;
}

void FaultInjector::record(const Rule& r, const std::string& track, std::vector<Arg> site) {
    ++fired_;
    Event ev;
    ev.kind = EvKind::Fault;
    ev.ts = now_ps();
    ev.track = track;
    ev.name = r.spec.kind;
    ev.category = "fault";
    ev.args = {{"rule", r.spec.origin}};
    if (!r.spec.device.empty()) ev.args.push_back({"device", r.spec.device});
    if (r.spec.nth) ev.args.push_back({"nth", std::to_string(r.spec.nth)});
    if (r.spec.cycle) ev.args.push_back({"cycle", std::to_string(r.spec.cycle)});
    if (r.spec.probability >= 0) ev.args.push_back({"probability", fmt::format("{}", r.spec.probability)});
    for (auto& a : site) ev.args.push_back(std::move(a));
    hub_.emit(std::move(ev));
}

const FaultSpec* FaultInjector::fire(const std::string& kind, const std::string& device, const std::string& track,
                                     std::vector<Arg> site) {
    for (auto& r : rules_) {
        if (r.spec.kind != kind) continue;
        // A point fault fires at an operation only when it counts image
        // pages (power-loss with after_pages: the writer asks per page) or
        // a drive's persistence points (power-loss with a device).
        const FaultKindInfo* k = find_fault_kind(kind);
        if (k && k->point) {
            bool image_pages = r.spec.after_pages >= 0 && device.empty();       // the image writer asks
            bool persistence = r.spec.after_pages < 0 && !r.spec.device.empty();  // a drive asks
            if (!image_pages && !persistence) continue;
        }
        if (!take(r, hub_.phase(), device)) continue;
        record(r, track, std::move(site));
        last_ = &r.spec;
        return &r.spec;
    }
    return nullptr;
}

void FaultInjector::fire_point(Rule& r, const std::string& track, bool run) {
    record(r, track, {});
    last_ = &r.spec;
    if (run) run_handler(r.spec.kind, r.spec);
}

void FaultInjector::run_handler(const std::string& kind, const FaultSpec& rule) {
    auto h = handlers_.find(kind);
    if (h != handlers_.end()) h->second(rule);
}

std::vector<const FaultSpec*> FaultInjector::boundary(const std::string& phase, const std::string& when) {
    std::vector<const FaultSpec*> out;
    for (auto& r : rules_) {
        const FaultKindInfo* k = find_fault_kind(r.spec.kind);
        if (!k || !k->point || r.spec.phase.empty() || r.spec.when != when || r.spec.after_pages >= 0 ||
            !r.spec.device.empty())
            continue;
        if (!take(r, phase, "")) continue;
        // The engine itself cuts the power at a boundary: it must stop there.
        fire_point(r, "kernel", r.spec.kind != "power-loss");
        out.push_back(&r.spec);
    }
    return out;
}

void FaultInjector::start_timers() {
    for (auto& r : rules_) {
        const FaultKindInfo* k = find_fault_kind(r.spec.kind);
        if (!k || !k->point || !r.spec.phase.empty()) continue;
        Rule* rule = &r;
        quiesce::spawn([this, rule] {
            if (rule->spec.at > now_ps()) quiesce::wait(from_ps(rule->spec.at - now_ps()));
            // (From SLP_EN to the wake the machine is the firmware's: no cut then.)
            if (rule->spec.kind == "power-loss" && !async_power_ && !outside_transition_) return;
            if (take(*rule, hub_.phase(), "")) fire_point(*rule, "kernel", true);
        });
    }
}

}  // namespace quiesce
