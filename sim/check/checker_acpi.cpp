// The checker's firmware invariants: acpi.sequence (at SLP_EN, and on waking; the OS's NVS copy around the
// sleep) and wake.lost in suspend-to-idle.
#include "sim/check/checker.h"
#include "sim/check/checker_detail.h"

#include <fmt/format.h>

#include <algorithm>

namespace quiesce {

using check_detail::Cat;
using check_detail::EventWords;
using check_detail::json_object;
using check_detail::Word;

namespace {
// The OS's copy of ACPI NVS (AcpiOs::nvs_save / nvs_restore), traced as
// firmware slices on the kernel's track.
constexpr const char* kNvsSave = "suspend_nvs_save";
constexpr const char* kNvsRestore = "suspend_nvs_restore";
}  // namespace

// acpi.sequence (reference/linux-pm.md §3.3): at SLP_EN, _TTS(Sx) then
// _PTS(Sx) ran during this transition, WAK_STS is clear, a wake event is
// enabled (S3/S4), and for S3 the FACS holds a waking vector; on the way
// back _WAK(Sx) runs before _TTS(0). When the OS saves ACPI NVS
// (suspend_nvs_save, drivers/acpi/nvs.c) it does so after _PTS(Sx) - or
// its restore would undo what _PTS stored - and puts it back after the wake
// before _WAK(Sx) reads it (suspend_nvs_restore in acpi_suspend_enter).
void Checker::on_acpi(const Event& ev) {
    // Where a method stands among the calls of this transition (their
    // count when it did not run).
    auto seen = [&](const std::string& call) {
        return long(std::find(firmware_calls_.begin(), firmware_calls_.end(), call) - firmware_calls_.begin());
    };
    if (ev.kind == EvKind::SliceBegin && ev.category == "firmware") {
        if (in_transition_ || !firmware_calls_.empty()) firmware_calls_.push_back(ev.name);
        if (ev.name == "_TTS(0)") {
            const long n = long(firmware_calls_.size());
            std::string wak = "_WAK(" + slept_state_ + ")", bfs = "_BFS(" + slept_state_ + ")";
            // Legacy _BFS runs right after the wake, before _WAK.
            if (!slept_state_.empty() && seen(bfs) < n && seen(wak) < seen(bfs))
                report({"acpi.sequence", ev.ts, ev.track, ev.phase,
                        fmt::format("{} ran after {}: firmware expects it first, right after the wake", bfs, wak),
                        json_object({{"problem", bfs + " after " + wak}})});
            if (!slept_state_.empty() && seen(wak) >= n)
                report({"acpi.sequence", ev.ts, ev.track, ev.phase,
                        fmt::format("_TTS(0) after waking from S{} without {} first", slept_state_, wak),
                        json_object({{"problem", "no " + wak + " before _TTS(0)"}})});
            // NVS saved before the sleep must be back before _WAK reads it.
            const long save = seen(kNvsSave), restore = seen(kNvsRestore);
            std::string nvs;
            if (!slept_state_.empty() && save < n && restore >= n)
                nvs = fmt::format("NVS saved before S{} was never restored: {} ran on what the sleep left there",
                                  slept_state_, wak);
            else if (!slept_state_.empty() && save < n && seen(wak) < restore)
                nvs = fmt::format("{} ran after {}: {} ran on what the sleep left in NVS", kNvsRestore, wak, wak);
            else if (restore < n && save >= n)
                nvs = fmt::format("{} without {}: NVS overwritten with a copy never taken", kNvsRestore, kNvsSave);
            if (!nvs.empty())
                report({"acpi.sequence", ev.ts, ev.track, ev.phase, nvs,
                        json_object({{"problem", nvs.substr(0, nvs.find(':'))}})});
            firmware_calls_.clear();
            slept_state_.clear();
        }
        return;
    }
    if (ev.kind != EvKind::Instant || ev.name != "sleep-request") return;
    const std::string state = arg_value(ev, "state");
    std::vector<std::string> problems;
    const long n = long(firmware_calls_.size());
    // SLP_TYP comes from the DSDT's _Sx package: one that gives another
    // state's value sends the machine somewhere _PTS never announced.
    for (auto it = firmware_calls_.rbegin(); it != firmware_calls_.rend(); ++it)
        if (it->rfind("_PTS(", 0) == 0) {
            std::string announced = it->substr(5, it->size() - 6);
            if (announced == state) break;
            report({"acpi.sequence", ev.ts, ev.track, ev.phase,
                    fmt::format("SLP_TYP {} enters S{} on this chipset, but _PTS({}) announced S{}: the DSDT's _S{} "
                                "package gives another state's SLP_TYP",
                                arg_value(ev, "slp_typ"), state, announced, announced, announced),
                    json_object({{"state", state}, {"announced", announced}, {"slp_typ", arg_value(ev, "slp_typ")},
                                 {"problems", "SLP_TYP of another state"}})});
            slept_state_ = state;
            return;
        }
    long tts = seen("_TTS(" + state + ")"), pts = seen("_PTS(" + state + ")");
    if (pts == n) problems.push_back("no _PTS(" + state + ") before SLP_EN");
    const long save = seen(kNvsSave);
    if (save < n && pts < n && save < pts)
        problems.push_back(std::string(kNvsSave) + " ran before _PTS(" + state + "): the restore undoes what _PTS stored");
    long gts = seen("_GTS(" + state + ")");
    if (gts < n && (pts == n || gts < pts)) problems.push_back("_GTS(" + state + ") ran before _PTS(" + state + ")");
    if (tts == n) problems.push_back("no _TTS(" + state + ") before SLP_EN");
    else if (pts < tts) problems.push_back("_PTS(" + state + ") ran before _TTS(" + state + ")");
    uint64_t sts = std::stoull(arg_value(ev, "pm1_sts"), nullptr, 16), en = std::stoull(arg_value(ev, "pm1_en"), nullptr, 16);
    if (sts & (1u << 15)) problems.push_back("WAK_STS still set at SLP_EN");
    if ((state == "3" || state == "4") && !(en & ((1u << 8) | (1u << 10))))
        problems.push_back("no wake event enabled (PM1_EN " + arg_value(ev, "pm1_en") + ")");
    if (state == "3" && std::stoull(arg_value(ev, "waking_vector"), nullptr, 16) == 0)
        problems.push_back("the FACS waking vector is 0");
    slept_state_ = state;
    if (problems.empty()) return;
    std::string joined;
    for (const auto& p : problems) joined += (joined.empty() ? "" : "; ") + p;
    report({"acpi.sequence", ev.ts, ev.track, ev.phase, "S" + state + " entry out of sequence: " + joined,
            json_object({{"state", state}, {"problems", joined}})});
}

// wake.lost under suspend-to-idle (docs/invariants.md): the platform stays
// in S0, so a wake is lost not at SLP_EN but in the idle loop - a key
// pressed on a wake source that started no wake (no remote wakeup: its
// wake was never armed), or a device's GPE that s2idle did not enable -
// and the machine idles on until something else wakes it, or forever.
bool Checker::on_s2idle(const Event& ev, const EventWords& ew) {
    if (ev.kind == EvKind::SliceBegin && ew.cat == Cat::S2idle && ew.name == Word::S2idleEnter) {
        if (!in_s2idle_) s2idle_presses_.clear();
        in_s2idle_ = true;
        return true;
    }
    if (!in_s2idle_) return false;
    if (ev.kind == EvKind::Instant && ew.cat == Cat::Input && ew.name == Word::KeyPress) {
        if (wake_sources_.count(ev.track)) s2idle_presses_.push_back({ev.track, ev.ts});
        return false;
    }
    if (ev.kind == EvKind::Instant && ew.cat == Cat::Wake && ew.name == Word::RemoteWakeup) {
        for (auto& p : s2idle_presses_)
            if (p.device == ev.track && p.ts == ev.ts) p.signalled = true;
        return false;
    }
    if (ev.kind == EvKind::Instant && ew.cat == Cat::Wake && ew.name == Word::Gpe && arg_value(ev, "enabled") == "no") {
        const std::string gpe = arg_value(ev, "gpe");
        report({"wake.lost", ev.ts, ev.track, ev.phase,
                fmt::format("GPE {} was set in suspend-to-idle, but acpi_s2idle_prepare did not enable it (GPE0_EN "
                            "{}): no SCI, the machine idles on",
                            gpe, arg_value(ev, "gpe0_en")),
                json_object({{"event", "gpe"}, {"gpe", gpe}, {"state", "s2idle"}, {"at_ps", std::to_string(ev.ts)}})});
        return true;
    }
    if (ev.kind == EvKind::Instant && ew.cat == Cat::S2idle && ew.name == Word::S2idleWake &&
        arg_value(ev, "result") == "wakeup") {
        s2idle_lost(ev.ts, arg_value(ev, "reason"));
        in_s2idle_ = false;
        return true;
    }
    return false;
}

void Checker::s2idle_lost(Picos ts, const std::string& ended) {
    for (const Press& p : s2idle_presses_) {
        if (p.signalled) continue;
        report({"wake.lost", ts, p.device, "s2idle",
                fmt::format("a key pressed on {} at {} in suspend-to-idle started no wake ({} may wake the system, "
                            "but no remote wakeup followed: its wake was not armed); the machine idled on {}",
                            p.device, format_ps(p.ts), p.device,
                            ended.empty() ? "to the end of the run" : "until " + format_ps(ts) + " (" + ended + ")"),
                json_object({{"event", "key-press"}, {"source", p.device}, {"at_ps", std::to_string(p.ts)},
                             {"state", "s2idle"}, {"woken_by", ended.empty() ? "nothing" : ended}})});
        break;  // one per idle
    }
    s2idle_presses_.clear();
}

}  // namespace quiesce
