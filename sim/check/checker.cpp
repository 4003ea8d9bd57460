// The checker: the events it follows, transitions, order.dependency, rollback.incomplete, wake.lost, liveness.hang.
#include "sim/check/checker.h"
#include "sim/core/sync.h"
#include "sim/check/checker_detail.h"

#include "sim/core/lexicon.h"
#include "sim/pm/protocol.h"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>

namespace quiesce {

namespace check_detail {

std::string json_object(const std::vector<std::pair<std::string, std::string>>& kv) {
    std::string out = "{";
    for (size_t i = 0; i < kv.size(); ++i)
        out += (i ? "," : "") + fmt::format("\"{}\":\"{}\"", json_escape(kv[i].first), json_escape(kv[i].second));
    return out + "}";
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    for (size_t at = 0; at < s.size();) {
        const size_t end = std::min(s.find(sep, at), s.size());
        if (end > at) out.emplace_back(s, at, end - at);
        at = end + 1;
    }
    return out;
}

Cat category_of(const std::string& category) {
    static const Lexicon<Cat> cats = {
        {"callback", Cat::Callback}, {"hotplug", Cat::Hotplug}, {"transition", Cat::Transition},
        {"power", Cat::Power},       {"firmware", Cat::Firmware}, {"wake", Cat::Wake},
        {"handle", Cat::Handle},     {"phase", Cat::Phase},     {"rpm", Cat::Rpm},
        {"s2idle", Cat::S2idle},     {"input", Cat::Input}};
    return cats(category);
}

Word word_of(const std::string& name) {
    static const Lexicon<Word> words = {
        {"offline", Word::Offline},
        {"online", Word::Online},
        {"S3", Word::S3},
        {"S4", Word::S4},
        {"S5", Word::S5},
        {"power-lost", Word::PowerLost},
        {"sleep-request", Word::SleepRequest},
        {"remote-wakeup", Word::RemoteWakeup},
        {"pme", Word::Pme},
        {"gpe", Word::Gpe},
        {"rtc-alarm", Word::RtcAlarm},
        {"power-button", Word::PowerButton},
        {"s2idle-enter", Word::S2idleEnter},
        {"s2idle-wake", Word::S2idleWake},
        {"key-press", Word::KeyPress},
        {"revoke", Word::Revoke},
        {"handle-use", Word::HandleUse},
        {"sleep-in-atomic", Word::SleepInAtomic},
        {"dpm-wait-for", Word::DpmWaitFor},
        {"participants", Word::Participants},
        {"callback-skipped", Word::CallbackSkipped},
        {"suspend", Word::Suspend},
        {"freeze", Word::Freeze},
        {"save_explicit", Word::SaveExplicit},
        {"poweroff", Word::Poweroff},
        {"complete", Word::Complete},
        {"rpm-status", Word::RpmStatus},
        {"runtime_suspend", Word::RuntimeSuspend},
        {"runtime_resume", Word::RuntimeResume},
        {"io.suspended-device", Word::Judged},
        {"freeze.escaped", Word::Judged},
        {"transparency.diverged", Word::Judged},
        {"cache.lost-dirty-lines", Word::Judged},
        {"irq.lost", Word::Judged},
        {"acpi.sequence", Word::Judged},
        {"irq.suspended-handler", Word::Judged},
        {"liveness.hang", Word::Judged},
        {"rpm.usage-unbalanced", Word::Judged}};
    return words(name);
}

namespace {
template <class Id, class Resolve>
Id resolved(std::vector<uint8_t>& by_id, uint32_t id, const std::string& text, Resolve resolve, uint8_t unseen) {
    if (id == 0) return resolve(text);
    if (id >= by_id.size()) by_id.resize(std::max<size_t>(id + 1, interned_words()), unseen);
    if (by_id[id] == unseen) by_id[id] = static_cast<uint8_t>(resolve(text));
    return static_cast<Id>(by_id[id]);
}
}  // namespace

EventWords WordsById::operator()(const Event& ev) {
    return {resolved<Cat>(cats_, ev.category_id, ev.category, category_of, kUnseen),
            resolved<Word>(names_, ev.name_id, ev.name, word_of, kUnseen)};
}

}  // namespace check_detail

using check_detail::json_object;
using check_detail::split;
using check_detail::Cat;
using check_detail::EventWords;
using check_detail::Word;

const std::vector<std::string>& Checker::catalogue() {
    static const std::vector<std::string> ids = {
        "order.dependency", "io.suspended-device", "dma.after-quiesce", "image.atomicity", "image.integrity",
        "fs.modified-after-snapshot", "fs.cache-divergence", "data.lost-write", "cache.lost-dirty-lines",
        "hwstate.not-restored", "drvstate.stale", "irq.lost", "irq.suspended-handler", "wake.lost",
        "rollback.incomplete", "liveness.hang", "freeze.escaped", "task.torn-update", "acpi.sequence",
        "image.nosave-restored", "revoke.stale-handle", "transparency.diverged", "context.sleep-in-atomic",
        "rpm.usage-unbalanced", "dma.use-after-free", "power.busy-device", "fs.foreign-change-lost"};
    return ids;
}

Checker::Checker(EventHub& hub, const DeviceGraph& graph) : hub_(hub), graph_(graph) {
    // on_event judges an event by its category's Cat and its name's Word
    // (checker_detail.h): with neither, it does nothing with it.
    hub_.subscribe(kind_bit(EvKind::SliceBegin) | kind_bit(EvKind::SliceEnd) | kind_bit(EvKind::Instant) |
                       kind_bit(EvKind::GuestError),
                   [this](const Event& ev) { on_event(ev); },
                   [](EvKind, std::string_view category, std::string_view name) {
                       return check_detail::category_of(std::string(category)) != check_detail::Cat::Other ||
                              check_detail::word_of(std::string(name)) != check_detail::Word::Other;
                   });
    // The DPM watchdog: one method for every callback, woken when the
    // earliest budget of a callback still running runs out (a thread of its
    // own per callback costs a stack each).
    sc_core::sc_spawn_options watchdog;
    watchdog.spawn_method();
    watchdog.dont_initialize();
    watchdog.set_sensitivity(&budget_ev_);
    quiesce::spawn(
        [this] {
            const Picos now = now_ps();
            Picos next = 0;
            std::vector<Running*> due;  // reported in the order they started
            for (auto& [track, r] : running_) {
                if (r.reported) continue;
                if (r.since + budget_ <= now) due.push_back(&r);
                else if (!next || r.since + budget_ < next) next = r.since + budget_;
            }
            std::stable_sort(due.begin(), due.end(),
                             [](const Running* a, const Running* b) { return a->since < b->since; });
            for (Running* r : due) {
                r->reported = true;
                hang(*r, budget_);
            }
            if (next) quiesce::notify(budget_ev_, from_ps(next - now));
        },
        sc_core::sc_gen_unique_name("dpm_watchdog"), &watchdog);
}

void Checker::watch_bank(const std::string& component, const RegisterBank& bank) {
    banks_.push_back({component, &bank, {}});
}

void Checker::suspend_decided() {
    decided_ = in_transition_ = true;
    decided_at_ = now_ps();
    wake_events_.clear();
}

void Checker::suspend_cancelled() { decided_ = in_transition_ = false; }

void Checker::transition_started() {
    snapshot_before("");
    stopped_devices_.clear();
    slept_ = false;
    in_transition_ = true;
    resume_pending_ = true;
    completed_.clear();
    checked_early_.clear();
    started_at_ = now_ps();
    if (!decided_) wake_events_.clear();  // kept from the decision on
    decided_ = false;
    firmware_calls_.clear();
    callbacks_.clear();
    froze_user_ = froze_kthreads_ = freezer_checked_ = false;
}

void Checker::watch_mirror(const std::string& component, const std::string& reg, MirrorValues values) {
    mirrors_.push_back({component, reg, std::move(values)});
}

// Device suspend begins: the freezer said every task it targets is frozen
// (a task it left running - a kind it skipped, one it never asked - would
// touch devices as they go down).
void Checker::check_frozen(Picos ts, const std::string& phase) {
    if (freezer_checked_ || !unfrozen_ || !(froze_user_ || froze_kthreads_)) return;
    freezer_checked_ = true;
    const std::vector<std::string> left = unfrozen_(froze_user_, froze_kthreads_);
    if (left.empty()) return;
    std::string list;
    for (const auto& t : left) list += (list.empty() ? "" : ",") + t;
    report({"freeze.escaped", ts, kernel_track_, phase,
            fmt::format("device suspend begins with {} freezable task(s) not frozen: {}", left.size(), list),
            json_object({{"kind", "not-frozen"}, {"tasks", list}})});
}

void Checker::transition_resumed() {
    resume_pending_ = false;
    compare_state(nullptr, "after resume", false);
    checked_early_.clear();
    completed_.clear();
}

// rollback.incomplete: after a transition that aborted, every device whose
// suspend-side callback succeeded got its counterpart exactly once, no
// device got a counterpart for a callback that failed or never ran
// (reference/linux-pm.md §1.8), and every CPU the transition took offline is
// online again (freeze_secondary_cpus failing on one CPU, or a later step
// failing: thaw_secondary_cpus brings back every one it took down).
void Checker::check_rollback(const Event& transition_end) {
    static const std::map<std::string, std::string> counterpart = {
        {"complete", "prepare"},         {"resume", "suspend"},         {"resume_early", "suspend_late"},
        {"resume_noirq", "suspend_noirq"}, {"thaw", "freeze"},          {"thaw_early", "freeze_late"},
        {"thaw_noirq", "freeze_noirq"},  {"restore", "poweroff"},       {"restore_early", "poweroff_late"},
        {"restore_noirq", "poweroff_noirq"}, {"restore_explicit", "save_explicit"}};
    std::vector<std::string> problems;
    std::map<std::string, std::map<std::string, int>> open;  // device -> suspend callback -> times open
    for (const auto& [device, callback, rc] : callbacks_) {
        auto undo = counterpart.find(callback);
        if (undo == counterpart.end()) {  // a suspend-side callback
            // save_state (linus2006) only copies state out: nothing to undo.
            if (rc == "0" && callback != "save_state") ++open[device][callback];
            continue;
        }
        int& n = open[device][undo->second];
        if (n == 0) problems.push_back(device + " got " + callback + " without a successful " + undo->second);
        else --n;
    }
    for (const auto& [device, cbs] : open)
        for (const auto& [callback, n] : cbs)
            if (n > 0) problems.push_back(device + " was left after " + callback + " (never undone)");
    for (const auto& cpu : cpus_down_) problems.push_back(cpu + " was left offline (never brought back)");
    if (problems.empty()) return;
    std::string joined;
    for (size_t i = 0; i < problems.size() && i < 8; ++i) joined += (i ? "; " : "") + problems[i];
    report({"rollback.incomplete", transition_end.ts, transition_end.track, "",
            fmt::format("the aborted transition did not unwind as Linux does: {}", joined),
            json_object({{"problems", joined}, {"count", std::to_string(problems.size())}})});
}

void Checker::on_event(const Event& ev) {
    const EventWords ew = words_(ev);
    if (ev.kind == EvKind::SliceEnd && ew.cat == Cat::Callback && in_transition_)
        callbacks_.emplace_back(arg_value(ev, "device"), ev.name, arg_value(ev, "rc"));
    if (ev.kind == EvKind::SliceEnd && ew.cat == Cat::Hotplug && in_transition_) {
        if (ew.name == Word::Offline && arg_value(ev, "result").empty()) cpus_down_.insert(ev.track);
        if (ew.name == Word::Online) cpus_down_.erase(ev.track);
    }
    if (ev.kind == EvKind::SliceEnd && ew.cat == Cat::Transition) {
        if (arg_value(ev, "result") == "aborted") check_rollback(ev);
        callbacks_.clear();
        cpus_down_.clear();
        in_transition_ = false;
    }
    if (ledger_ && ew.cat == Cat::Power) {
        if (ev.kind == EvKind::Instant && ev.name.rfind("pci.D0->", 0) == 0) power_lowered(ev, ev.track, ev.name.substr(8));
        if (ev.kind == EvKind::SliceBegin && (ew.name == Word::S3 || ew.name == Word::S4 || ew.name == Word::S5))
            power_lowered(ev, "", ev.name);
    }
    if (on_s2idle(ev, ew)) return;
    if ((ev.kind == EvKind::SliceBegin && ew.cat == Cat::Firmware) ||
        (ev.kind == EvKind::Instant && ew.name == Word::SleepRequest)) {
        on_acpi(ev);
        return;
    }
    // wake.lost, while asleep: a device signalled wake (remote wakeup ->
    // PME# -> its GPE) but the OS did not enable that GPE at SLP_EN (a _PRW
    // naming another GPE, a wake GPE never armed): the platform sleeps on.
    if (ev.kind == EvKind::Instant && ew.cat == Cat::Wake && (ew.name == Word::RemoteWakeup || ew.name == Word::Pme)) {
        if (ew.name == Word::RemoteWakeup || wake_signal_ts_ != ev.ts) wake_signal_ = ev.track;
        wake_signal_ts_ = ev.ts;
        return;
    }
    if (ev.kind == EvKind::Instant && ew.cat == Cat::Wake && ew.name == Word::Gpe &&
        arg_value(ev, "sleeping") != "0" && arg_value(ev, "enabled") == "no") {
        const std::string who = wake_signal_ts_ == ev.ts && !wake_signal_.empty() ? wake_signal_ : "a device";
        const std::string gpe = arg_value(ev, "gpe");
        report({"wake.lost", ev.ts, ev.track, ev.phase,
                fmt::format("{} signalled wake in S{} (GPE {}), but GPE {} was not enabled at SLP_EN (GPE0_EN {}): "
                            "the platform slept on",
                            who, arg_value(ev, "sleeping"), gpe, gpe, arg_value(ev, "gpe0_en")),
                json_object({{"event", "gpe"}, {"gpe", gpe}, {"source", who}, {"at_ps", std::to_string(ev.ts)}})});
        return;
    }
    // wake.lost: a wake event during the transition, and the platform still
    // goes to sleep - nothing is left to wake it.
    if (in_transition_ && ev.kind == EvKind::Instant && ew.cat == Cat::Wake &&
        (ew.name == Word::RtcAlarm || ew.name == Word::PowerButton)) {
        wake_events_.push_back({ev.name, ev.ts, ev.phase});
        return;
    }
    if (ev.kind == EvKind::SliceBegin && ew.cat == Cat::Power &&
        (ew.name == Word::S3 || ew.name == Word::S4 || ew.name == Word::S5 || ew.name == Word::PowerLost))
        slept_ = true;  // the platform lost power: every device must be given its state back
    if (in_transition_ && ev.kind == EvKind::SliceBegin && ew.cat == Cat::Power &&
        (ew.name == Word::S3 || ew.name == Word::S4)) {
        in_transition_ = false;  // asleep: later events wake it
        if (!wake_events_.empty()) {
            const WakeEvent& w = wake_events_.front();
            const bool early = w.ts < started_at_;  // between the initiator's decision and the transition
            report({"wake.lost", ev.ts, ev.track, w.phase,
                    early ? fmt::format("{} wake event(s) arrived after the suspend was decided at {} (first: {} at "
                                        "{}, before the transition began at {}) and the platform entered {} anyway: "
                                        "without the /sys/power/wakeup_count handshake the kernel cannot know",
                                        wake_events_.size(), format_ps(decided_at_), w.name, format_ps(w.ts),
                                        format_ps(started_at_), ev.name)
                          : fmt::format("{} wake event(s) arrived during the transition (first: {} at {} in {}) and "
                                        "the platform entered {} anyway: nothing is left to wake it",
                                        wake_events_.size(), w.name, format_ps(w.ts), w.phase.empty() ? "-" : w.phase,
                                        ev.name),
                    json_object({{"event", w.name},
                                 {"at_ps", std::to_string(w.ts)},
                                 {"phase", w.phase},
                                 {"count", std::to_string(wake_events_.size())}})});
        }
        return;
    }
    if (ev.kind == EvKind::Instant && ew.cat == Cat::Handle) {
        if (ew.name == Word::Revoke) revoked_devices_.insert(arg_value(ev, "device"));
        if (ew.name == Word::HandleUse) on_handle_use(ev);
        return;
    }
    // A driver step that may sleep ran where Linux may not schedule
    // (might_sleep), or waited for an interrupt its device cannot deliver.
    if (ev.kind == EvKind::Instant && ew.name == Word::SleepInAtomic) {
        const std::string dev = arg_value(ev, "device"), cb = arg_value(ev, "callback"), step = arg_value(ev, "step");
        report({"context.sleep-in-atomic", ev.ts, ev.track, ev.phase,
                fmt::format("{}'s {} step '{}' ({}) may sleep, with {}", dev, cb, step, arg_value(ev, "op"),
                            arg_value(ev, "context")),
                json_object({{"device", dev}, {"callback", cb}, {"step", step}, {"op", arg_value(ev, "op")},
                             {"context", arg_value(ev, "context")}})});
        return;
    }
    // A driver's one-off wait (device_pm_wait_for_dev) declares a
    // dependency for this callback: when it returns, the other device must
    // have finished the same callback.
    if (ev.kind == EvKind::Instant && ew.name == Word::DpmWaitFor) {
        const std::string dev = arg_value(ev, "device"), other = arg_value(ev, "waits_for");
        if (participants_.count(other) && !finished_.count(other))
            report({"order.dependency", ev.ts, ev.track, ev.phase,
                    fmt::format("{} of {} went on past its wait for {} (device_pm_wait_for_dev) before {} finished "
                                "{}{}",
                                phase_callback_, dev, other, other, phase_callback_,
                                arg_value(ev, "waited") == "no" ? ": the phase ran synchronously, and the wait only "
                                                                  "waits for asynchronous devices"
                                                                : ""),
                    json_object({{"callback", phase_callback_}, {"device", dev}, {"waits_for", other},
                                 {"relation", "one-off wait"}, {"required", "the wait's target first"}})});
        return;
    }
    if (ev.kind == EvKind::SliceBegin && ew.cat == Cat::Phase) {
        const std::string& action = arg_value(ev, "action");
        if (action == "freeze-tasks" || action == "freeze-user-tasks") froze_user_ = true;
        if (action == "freeze-tasks" || action == "freeze-kernel-threads") froze_kthreads_ = true;
    }
    if (ev.kind == EvKind::Instant && ew.cat == Cat::Phase && ew.name == Word::Participants) {
        check_frozen(ev.ts, arg_value(ev, "callback"));
        phase_callback_ = arg_value(ev, "callback");
        auto list = split(arg_value(ev, "devices"), ',');
        participants_ = std::set<std::string>(list.begin(), list.end());
        finished_.clear();
        return;
    }
    if (ew.cat == Cat::Callback && ev.kind == EvKind::SliceBegin) {
        on_callback_begin(ev);
        // The hardware state resume must give back is the device's as it
        // stopped running: with no freezer (ben2001) or a save_state long
        // before (linus2006), tasks may have changed it since the start.
        // Hibernation stops a device twice, before the snapshot and at the
        // power-off after the image is written: the image holds the kernel
        // of the first, so a thaw that lost the state is not the reference.
        const std::string& dev = arg_value(ev, "device");
        if (in_transition_ && (ew.name == Word::Suspend || ew.name == Word::Freeze || ew.name == Word::SaveExplicit ||
                               (ew.name == Word::Poweroff && !stopped_devices_.count(dev)))) {
            snapshot_before(dev);
            stopped_devices_.insert(dev);
        }
        running_[ev.track] = {arg_value(ev, "device"), ev.name, arg_value(ev, "phase"), ev.ts};
        // The watchdog looks again when this budget runs out (an earlier
        // wake-up already due stays: it re-arms for the next).
        if (budget_) quiesce::notify(budget_ev_, from_ps(ev.ts + budget_ - now_ps()));
        return;
    }
    if (ew.cat == Cat::Rpm) {
        on_runtime_pm(ev, ew);
        return;
    }
    if (ev.kind == EvKind::Instant && ew.name == Word::CallbackSkipped) {  // direct-complete, smart-suspend...
        finished_.insert(arg_value(ev, "device"));
        return;
    }
    if (ew.cat == Cat::Callback && ev.kind == EvKind::SliceEnd) {
        if (ew.name == Word::Complete) completed_.insert(arg_value(ev, "device"));
        finished_.insert(arg_value(ev, "device"));
        running_.erase(ev.track);
        return;
    }
    // What the models and the kernel report as facts, judged here: one
    // violation per component, phase and kind.
    if (ev.kind == EvKind::GuestError && ew.name == Word::Judged) {
        std::string key = ev.track + "|" + ev.phase + "|" + arg_value(ev, "kind");
        if (!reported_.insert(key).second) return;  // one per device, phase and kind
        std::vector<std::pair<std::string, std::string>> kv;
        for (const auto& a : ev.args) kv.emplace_back(a.key, a.value);
        report({ev.name, ev.ts, ev.track, ev.phase,
                fmt::format("{}: {}", ev.track, arg_value(ev, "message")), json_object(kv)});
    }
}

void Checker::on_callback_begin(const Event& ev) {
    const std::string& dev = arg_value(ev, "device");
    const std::string& cb = ev.name;
    bool children_first = callback_children_first(cb);
    auto must_wait = children_first ? graph_.subordinates(dev) : graph_.superiors(dev);
    for (const auto& other : must_wait) {
        if (!participants_.count(other) || finished_.count(other)) continue;
        std::string rel;
        for (const auto& e : graph_.edges()) {
            if ((e.from == dev && e.to == other) || (e.from == other && e.to == dev)) {
                bool dev_is_from = e.from == dev;
                rel = e.kind == EdgeKind::Parent ? (dev_is_from ? "child" : "parent")
                                                 : (dev_is_from ? "consumer" : "supplier");
            }
        }
        report({"order.dependency", ev.ts, ev.track, arg_value(ev, "phase"),
                fmt::format("{} of {} started before its {} {} finished {}", cb, dev, rel, other, cb),
                json_object({{"callback", cb}, {"device", dev}, {"waits_for", other}, {"relation", rel},
                             {"required", children_first ? "subordinates first" : "superiors first"}})});
    }
}

void Checker::hang(const Running& r, Picos elapsed, bool run_ended) {
    std::string waits = waits_ ? waits_() : "";
    std::vector<std::pair<std::string, std::string>> evidence = {
        {"device", r.device}, {"callback", r.callback},   {"elapsed", format_ps(elapsed)},
        {"budget", format_ps(budget_)}, {"waits_for", waits}, {"finished", "no"}};
    if (run_ended) evidence.emplace_back("kind", "run-ended");
    report({"liveness.hang", now_ps(), r.device, r.phase,
            (run_ended ? fmt::format("{} of {} was still running when the run ended, {} after it began", r.callback,
                                     r.device, format_ps(elapsed))
                       : fmt::format("{} of {} has run {} (budget {})", r.callback, r.device, format_ps(elapsed),
                                     format_ps(budget_))) +
                (waits.empty() ? "" : "; it waits for " + waits),
            json_object(evidence)});
}

void Checker::run_ended() {
    if (in_s2idle_) s2idle_lost(now_ps(), "");
    for (auto& [track, r] : running_)
        if (!r.reported && budget_ && now_ps() - r.since > budget_) {
            r.reported = true;
            hang(r, now_ps() - r.since);
        }
}

void Checker::run_cut_short(const std::string& kernel,
                            const std::vector<std::pair<std::string, std::string>>& blocked) {
    std::vector<const Running*> open;
    for (const auto& [track, r] : running_)
        if (!r.reported) open.push_back(&r);
    std::stable_sort(open.begin(), open.end(), [](const Running* a, const Running* b) { return a->since < b->since; });
    for (const Running* r : open) hang(*r, now_ps() - r->since, true);
    for (const auto& [who, what] : blocked) {
        if (who == "pm" && !running_.empty()) continue;  // the callback it runs is the hang, reported with its wait
        report({"liveness.hang", now_ps(), kernel, "",
                fmt::format("{} was still blocked on {} when the run ended", who == "pm" ? "the PM thread" : who, what),
                json_object({{"task", who}, {"waits_for", what}, {"kind", "run-ended"}})});
    }
}

void Checker::dma_into_free_page(const std::string& initiator, uint64_t addr, uint64_t len, uint64_t pfn) {
    if (!dma_uaf_reported_.insert(initiator).second) return;
    report({"dma.use-after-free", now_ps(), initiator, hub_.phase(),
            fmt::format("{} wrote {} bytes at {:#x} into page frame {:#x}, which the kernel's page allocator holds "
                        "free: the buffer was freed while the device could still write it",
                        initiator, len, addr, pfn),
            json_object({{"initiator", initiator},
                         {"addr", fmt::format("{:#x}", addr)},
                         {"len", std::to_string(len)},
                         {"pfn", fmt::format("{:#x}", pfn)}})});
}

// `device` ("" for every device) lost power or went to `how`: its operations
// still in flight never finish as the driver expects.
void Checker::power_lowered(const Event& ev, const std::string& device, const std::string& how) {
    std::map<std::string, std::vector<Ledger::Entry>> by_device;
    for (const auto& e : ledger_->outstanding())
        if (device.empty() || e.device == device || e.device.rfind(device + ".", 0) == 0)
            by_device[device.empty() ? e.device.substr(0, e.device.find('.')) : device].push_back(e);
    for (const auto& [dev, entries] : by_device) {
        if (!busy_reported_.insert(dev).second) continue;
        std::string what;
        for (const auto& e : entries) what += (what.empty() ? "" : "; ") + e.device + ": " + e.what;
        report({"power.busy-device", ev.ts, dev, ev.phase,
                fmt::format("{} went to {} with {} operation(s) in flight ({})", dev, how, entries.size(), what),
                json_object({{"device", dev}, {"to", how}, {"in_flight", what}})});
    }
}

void Checker::report(Violation v) {
    Event ev;
    ev.kind = EvKind::Violation;
    ev.ts = v.ts;
    ev.track = v.component;
    ev.name = v.id;
    ev.category = "violation";
    ev.phase = v.phase;
    ev.args = {{"message", v.message}, {"evidence", v.evidence}};
    violations_.push_back(std::move(v));
    hub_.emit(std::move(ev));
}

}  // namespace quiesce
