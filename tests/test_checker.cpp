// Checks of the checker on hand-made events (issue 21 item 5: each invariant
// fires on a minimal case and stays quiet on its near miss), run in a child
// (the checker lives in a SystemC context).
#include "child.h"

#include "sim/check/checker.h"
#include "sim/check/checker_detail.h"
#include "sim/core/context.h"
#include "sim/pm/device_graph.h"

#include <sstream>

using namespace quiesce;
using quiesce::test::Facts;

namespace {

// A transition as the PM engine traces it: `freezer` phases (their
// actions), then the announcement of the first callback phase. `unfrozen`
// is what the kernel's task list says; f["asked"] records which kinds the
// checker asked about, f["violations"] what it reported.
Facts freezer_then_prepare(const std::vector<std::string>& freezer, const std::vector<std::string>& unfrozen) {
    return quiesce::test::in_child([&](Facts& f) {
        RunContext ctx(1);
        DeviceGraph graph;
        graph.add_device("dma0");
        Checker checker(ctx.hub, graph);
        checker.set_freezer_probe("kernel", [&](bool user, bool kthreads) {
            f["asked"] += std::string(user ? "user" : "-") + "/" + (kthreads ? "kthreads" : "-") + " ";
            return unfrozen;
        });
        checker.transition_started();
        for (const auto& action : freezer) {
            ctx.hub.slice_begin("kernel", action, "phase", {{"action", action}, {"direction", "suspend"}});
            ctx.hub.slice_end("kernel", action, "phase");
        }
        for (const char* cb : {"prepare", "suspend"})  // asked once, at the first callback phase
            ctx.hub.instant("kernel", "participants", "phase", {{"callback", cb}, {"devices", "dma0"}});
        std::string v;
        for (const auto& x : checker.violations()) v += x.id + "@" + x.component + "/" + x.phase + ":" + x.evidence + " ";
        f["violations"] = v;
    });
}

}  // namespace

TEST_CASE("checker: the categories and names it tells apart are resolved exactly, anything else is Other",
          "[checker]") {
    using check_detail::Cat;
    using check_detail::Word;
    using check_detail::category_of;
    using check_detail::word_of;
    const std::pair<const char*, Cat> cats[] = {
        {"callback", Cat::Callback}, {"hotplug", Cat::Hotplug}, {"transition", Cat::Transition},
        {"power", Cat::Power},       {"firmware", Cat::Firmware}, {"wake", Cat::Wake},
        {"handle", Cat::Handle},     {"phase", Cat::Phase},     {"rpm", Cat::Rpm},
        {"s2idle", Cat::S2idle},     {"input", Cat::Input}};
    for (const auto& [text, cat] : cats) {
        INFO(text);
        CHECK(category_of(text) == cat);
        CHECK(category_of(std::string(text) + "x") == Cat::Other);
        CHECK(category_of(std::string(text).substr(1)) == Cat::Other);
    }
    for (const char* other : {"", "step", "Callback", "phasE", "irq", "violation", "rpm ", "callbacks"})
        CHECK(category_of(other) == Cat::Other);
    const std::pair<const char*, Word> words[] = {
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
    for (const auto& [text, word] : words) {
        INFO(text);
        CHECK(word_of(text) == word);
        CHECK(word_of(std::string(text) + "x") == Word::Other);
        CHECK(word_of(std::string(text).substr(1)) == Word::Other);
        CHECK(word_of(std::string(text) + std::string(40, 'x')) == Word::Other);
    }
    // Near misses: other callbacks, states, guest errors and violation ids.
    for (const char* other : {"", "s3", "S0", "S6", "suspend_late", "suspend_noirq", "resume", "freeze_late",
                              "poweroff_noirq", "completE", "liveness.hangs", "data.lost-write", "order.dependency",
                              "power-lost ", "pci.D0->D3hot", "_TTS(0)"})
        CHECK(word_of(other) == Word::Other);
}

TEST_CASE("checker: a list splits into its non-empty items, as reading it with getline did", "[checker]") {
    using check_detail::split;
    CHECK(split("", ',').empty());
    CHECK(split(",,", ',').empty());
    CHECK(split("dma0", ',') == std::vector<std::string>{"dma0"});
    CHECK(split(",rp0,,dma0,", ',') == std::vector<std::string>{"rp0", "dma0"});
    CHECK(split("CTRL=0x3;TAIL=7", ';') == std::vector<std::string>{"CTRL=0x3", "TAIL=7"});
    // Every string of up to 7 characters over {a, b, ',', ';'}, split at
    // either separator, against the stream-and-getline split it replaced.
    auto by_getline = [](const std::string& s, char sep) {
        std::vector<std::string> out;
        std::stringstream ss(s);
        std::string item;
        while (std::getline(ss, item, sep))
            if (!item.empty()) out.push_back(item);
        return out;
    };
    size_t strings = 0;
    for (size_t len = 0; len <= 7; ++len)
        for (size_t code = 0; code < (size_t(1) << (2 * len)); ++code, ++strings) {
            std::string s;
            for (size_t i = 0; i < len; ++i) s += "ab,;"[(code >> (2 * i)) & 3];
            for (char sep : {',', ';'}) {
                INFO(s << " at " << sep);
                REQUIRE(split(s, sep) == by_getline(s, sep));
            }
        }
    REQUIRE(strings == 21845);
}

TEST_CASE("checker: freeze.escaped - device suspend begins with a freezable task the freezer left running",
          "[checker][freezer]") {
    // Fires: the freezer froze users and kernel threads, a kernel thread is not frozen.
    Facts f = freezer_then_prepare({"freeze-tasks"}, {"jbd2"});
    CHECK(f["asked"] == "user/kthreads ");
    CHECK(f["violations"] == "freeze.escaped@kernel/prepare:{\"kind\":\"not-frozen\",\"tasks\":\"jbd2\"} ");
    // Near miss: every task frozen.
    f = freezer_then_prepare({"freeze-tasks"}, {});
    CHECK(f["violations"].empty());
    // Hibernation's two stages: both kinds asked; a protocol that only
    // freezes user tasks is asked about those alone.
    CHECK(freezer_then_prepare({"freeze-user-tasks", "freeze-kernel-threads"}, {})["asked"] == "user/kthreads ");
    CHECK(freezer_then_prepare({"freeze-user-tasks"}, {})["asked"] == "user/- ");
    // No freezer at all (ben2001, naive-atomic): nothing is asked, nothing reported.
    f = freezer_then_prepare({}, {"writer"});
    CHECK(f["asked"].empty());
    CHECK(f["violations"].empty());
}

namespace {
// A function leaving D0 (`to`) or the platform's sleep (`sleep`), with the
// ledger holding `open` operations of dma0's core and one of sda's
// (retired first when `retire`); what the checker reported.
std::string lowered(const std::string& to, const std::string& sleep, bool retire) {
    return quiesce::test::in_child([&](Facts& f) {
               RunContext ctx(1);
               DeviceGraph graph;
               graph.add_device("dma0");
               Checker checker(ctx.hub, graph);
               checker.watch_in_flight(&ctx.ledger);
               const uint64_t id = ctx.ledger.issue("dma0.core", "descriptor 3 at 0x1000");
               ctx.ledger.issue("sda", "write 8 at 100");
               if (retire) ctx.ledger.retire(id);
               if (!to.empty()) ctx.hub.instant("dma0", "pci.D0->" + to, "power");
               if (!sleep.empty()) ctx.hub.slice_begin("acpi", sleep, "power");
               std::string v;
               for (const auto& x : checker.violations()) v += x.id + "@" + x.component + ": " + x.message + " | ";
               f["violations"] = v;
           })["violations"];
}
}  // namespace

TEST_CASE("checker: power.busy-device - a function leaves D0, or the platform sleeps, with an operation in flight",
          "[checker][power]") {
    CHECK(lowered("D3hot", "", false) ==
          "power.busy-device@dma0: dma0 went to D3hot with 1 operation(s) in flight (dma0.core: descriptor 3 at "
          "0x1000) | ");
    // Near miss: the descriptor retired first; sda's command is not dma0's.
    CHECK(lowered("D3hot", "", true).empty());
    // The platform's S3 takes every device's power: each busy device once.
    CHECK(lowered("", "S3", false) ==
          "power.busy-device@dma0: dma0 went to S3 with 1 operation(s) in flight (dma0.core: descriptor 3 at 0x1000) | "
          "power.busy-device@sda: sda went to S3 with 1 operation(s) in flight (sda: write 8 at 100) | ");
    // A device already reported at D3hot is not reported again at S3.
    CHECK(lowered("D3hot", "S3", false) ==
          "power.busy-device@dma0: dma0 went to D3hot with 1 operation(s) in flight (dma0.core: descriptor 3 at "
          "0x1000) | "
          "power.busy-device@sda: sda went to S3 with 1 operation(s) in flight (sda: write 8 at 100) | ");
    // A power cut (a fault, power-lost) is not the OS lowering power.
    CHECK(lowered("", "power-lost", false).empty());
}

namespace {
// An aborted transition in which cpu1 and cpu2 go offline (cpu2's fails when
// `second_fails`) and cpu1 comes back when `back`; what the checker reported.
// With `interned`, the transition's and cpu1's words are handed as
// EventWords (cpu2's stay text, so the checker sees both kinds).
std::string cpus_after_abort(bool second_fails, bool back, bool interned = false) {
    return quiesce::test::in_child([&](Facts& f) {
               RunContext ctx(1);
               DeviceGraph graph;
               graph.add_device("dma0");
               Checker checker(ctx.hub, graph);
               const EventWord offline("offline"), online("online"), hotplug("hotplug"), transition("transition");
               auto word = [&](const EventWord& w) { return interned ? EvText(w) : EvText(w.text()); };
               checker.transition_started();
               ctx.hub.slice_begin("kernel", "linux-s3", word(transition));
               ctx.hub.slice_begin("cpu1", word(offline), word(hotplug));
               ctx.hub.slice_end("cpu1", word(offline), word(hotplug));
               ctx.hub.slice_begin("cpu2", "offline", "hotplug");
               if (second_fails) ctx.hub.slice_end("cpu2", "offline", "hotplug", {{"result", "-EBUSY"}});
               else ctx.hub.slice_end("cpu2", "offline", "hotplug");
               if (back) {
                   ctx.hub.slice_begin("cpu1", word(online), word(hotplug));
                   ctx.hub.slice_end("cpu1", word(online), word(hotplug));
               }
               ctx.hub.slice_end("kernel", "linux-s3", word(transition), {{"result", "aborted"}});
               std::string v;
               for (const auto& x : checker.violations()) v += x.id + "@" + x.component + ": " + x.message + " | ";
               f["violations"] = v;
           })["violations"];
}
}  // namespace

TEST_CASE("checker: rollback.incomplete - an aborted transition leaves a CPU it took down offline",
          "[checker][rollback]") {
    // Fires: cpu2 failed, cpu1 (down before it) never came back.
    CHECK(cpus_after_abort(true, false) ==
          "rollback.incomplete@kernel: the aborted transition did not unwind as Linux does: cpu1 was left offline "
          "(never brought back) | ");
    // Near miss: cpu1 brought back; cpu2's failed offline took nothing down.
    CHECK(cpus_after_abort(true, true).empty());
    // Both went down and only cpu1 came back: cpu2 is named.
    CHECK(cpus_after_abort(false, true) ==
          "rollback.incomplete@kernel: the aborted transition did not unwind as Linux does: cpu2 was left offline "
          "(never brought back) | ");
}

TEST_CASE("checker: words an emitter interned are told apart as their texts are", "[checker][events]") {
    for (bool second_fails : {false, true})
        for (bool back : {false, true}) {
            INFO("second_fails " << second_fails << ", back " << back);
            CHECK(cpus_after_abort(second_fails, back, true) == cpus_after_abort(second_fails, back));
        }
    // Interned, the rollback still fires (the comparison above is not of two silences).
    CHECK(!cpus_after_abort(true, false, true).empty());
    CHECK(cpus_after_abort(true, true, true).empty());
}
