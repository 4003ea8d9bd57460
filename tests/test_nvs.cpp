// ACPI NVS across S3 as Linux handles it (drivers/acpi/nvs.c, sleep.c): the
// policy read from the machine's DMI data, the copy taken after _PTS and put
// back right after the wake, before _WAK; a firmware whose _WAK reads a
// context it left in NVS goes wrong when nothing puts NVS back, and
// acpi.sequence names a protocol that saves or restores at the wrong point.
#include <catch2/catch.hpp>

#include "sim/scenario/executor.h"

#include <algorithm>

using namespace quiesce;

namespace {

Scenario nvs_scenario(const std::string& base, std::vector<PropertyOverride> props = {}) {
    Scenario s = load_scenario(std::string(QUIESCE_DATA_DIR) + "/regression/" + base + ".toml");
    for (auto& p : props) {
        s.properties.erase(std::remove_if(s.properties.begin(), s.properties.end(),
                                          [&](const PropertyOverride& o) { return o.key == p.key; }),
                           s.properties.end());
        s.properties.push_back(std::move(p));
    }
    return s;
}

PropertyOverride prop(const std::string& key, PropValue v) { return {key, std::move(v), 0, 0}; }

// The ACPI steps of the run in order: firmware methods and the OS's NVS
// work (firmware slices), the NVS instants, SLP_EN, and the phases around
// the wake that matter here.
std::string acpi_steps(const RunResult& r) {
    std::string out;
    for (const auto& ev : r.stream.events) {
        bool take = (ev.kind == EvKind::SliceBegin && ev.category == "firmware") ||
                    (ev.kind == EvKind::Instant && (ev.name == "nvs-not-saved" || ev.name == "nvs-written" ||
                                                    ev.name == "sleep-request")) ||
                    (ev.kind == EvKind::SliceBegin && ev.category == "phase" &&
                     (ev.name == "syscore-resume" || ev.name == "irqs-on" || ev.name == "nvs-free"));
        if (take) out += (out.empty() ? "" : " ") + ev.name;
    }
    return out;
}

Picos slice_duration(const RunResult& r, const std::string& name) {
    Picos begin = 0;
    for (const auto& ev : r.stream.events) {
        if (ev.name != name || ev.category != "firmware") continue;
        if (ev.kind == EvKind::SliceBegin) begin = ev.ts;
        if (ev.kind == EvKind::SliceEnd) return ev.ts - begin;
    }
    return 0;
}

std::string violations_of(const RunResult& r) {
    std::string out;
    for (const auto& v : r.violations) out += (out.empty() ? "" : " ") + v;
    return out;
}

// The acpi.sequence message of the run, or "".
std::string sequence_message(const RunResult& r) {
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::Violation && ev.name == "acpi.sequence") return arg_value(ev, "message");
    return "";
}

// linux-s3 with the phase named `name` moved to just before `before` (in
// the resume list when it is there, else the suspend list).
void move_phase(Scenario& s, const std::string& name, const std::string& before) {
    for (auto* list : {&s.protocol.suspend, &s.protocol.resume}) {
        auto it = std::find_if(list->begin(), list->end(), [&](const Phase& p) { return p.name == name; });
        if (it == list->end()) continue;
        Phase moved = *it;
        list->erase(it);
        for (auto* into : {&s.protocol.resume, &s.protocol.suspend}) {
            auto at = std::find_if(into->begin(), into->end(), [&](const Phase& p) { return p.name == before; });
            if (at != into->end()) {
                into->insert(at, moved);
                return;
            }
        }
    }
    FAIL("no phase " << name << " or " << before);
}

void drop_phase(Scenario& s, const std::string& name) {
    for (auto* list : {&s.protocol.suspend, &s.protocol.resume})
        list->erase(std::remove_if(list->begin(), list->end(), [&](const Phase& p) { return p.name == name; }),
                    list->end());
}

}  // namespace

TEST_CASE("nvs: alloc before _TTS, save after _PTS, restore after the wake with interrupts off, before _WAK",
          "[acpi][nvs]") {
    RunResult r = execute(nvs_scenario("s3-nvs-restored"));
    CHECK(r.status == "passed");
    CHECK(r.violations.empty());
    // acpi_suspend_begin: suspend_nvs_alloc, then _TTS(3); acpi_pm_prepare:
    // _PTS(3), then acpi_pm_pre_suspend's suspend_nvs_save; SLP_EN. Firmware
    // resumes (and uses the scratch bytes); acpi_suspend_enter restores NVS
    // with one CPU and interrupts off, before syscore resume; acpi_pm_finish
    // frees the copy and runs _WAK(3); acpi_pm_end runs _TTS(0).
    CHECK(acpi_steps(r) ==
          "suspend_nvs_alloc _TTS(3) _PTS(3) suspend_nvs_save sleep-request s3-resume nvs-written "
          "suspend_nvs_restore syscore-resume irqs-on nvs-free _WAK(3) _TTS(0)");
    // A memcpy of the page through the memory model, each way: DRAM's
    // latency plus 4096 bytes at 16 bytes a cycle (800 MHz), twice, is
    // 740 ns; saving maps the range first (400 CPU cycles).
    const Picos save = slice_duration(r, "suspend_nvs_save"), restore = slice_duration(r, "suspend_nvs_restore");
    CHECK(restore >= 740'000);
    CHECK(restore < 2'000'000);
    CHECK(save >= 740'000 + 400'000);
    CHECK(save < 3'000'000);
}

TEST_CASE("nvs: the policy - BIOS year, acpisleep_dmi_table quirks - decides whether NVS is saved for S3",
          "[acpi][nvs]") {
    struct Case {
        int64_t year;
        std::string quirk;
        bool saved;
    };
    // acpi_sleep_dmi_check: nvs_nosave_s3 from 2012 on; init_nvs_save_s3
    // (Lenovo G50-45) clears it; init_nvs_nosave (Sony VAIO) skips NVS always.
    const std::vector<Case> cases = {
        {2011, "", true}, {2012, "", false}, {2015, "nvs_save_s3", true}, {2010, "nvs_nosave", false},
        {2015, "nvs_nosave", false}};
    for (const Case& c : cases) {
        DYNAMIC_SECTION(c.year << " " << (c.quirk.empty() ? "no quirk" : c.quirk)) {
            RunResult r = execute(nvs_scenario(
                "s3-nvs-not-restored",
                {prop("firmware.bios_year", c.year), prop("firmware.acpi_sleep_quirk", c.quirk)}));
            const std::string steps = acpi_steps(r);
            CHECK((steps.find("suspend_nvs_save") != std::string::npos) == c.saved);
            CHECK((steps.find("suspend_nvs_restore") != std::string::npos) == c.saved);
            CHECK((steps.find("nvs-not-saved") != std::string::npos) == !c.saved);
            // The firmware's _WAK reads its PIRQ routing from NVS: right only
            // when the OS put NVS back.
            CHECK(violations_of(r) == (c.saved ? "" : "hwstate.not-restored irq.lost"));
        }
    }
}

TEST_CASE("nvs: the firmware-clobber fault is undone by the restore, and breaks a _WAK that needs NVS otherwise",
          "[acpi][nvs][faults]") {
    for (bool quirk : {true, false}) {
        DYNAMIC_SECTION((quirk ? "NVS saved" : "NVS not saved")) {
            // Only the fault writes the scratch bytes this time.
            Scenario s = nvs_scenario("s3-nvs-restored", {prop("firmware.s3_resume_scratch_nvs", false),
                                                          prop("firmware.acpi_sleep_quirk",
                                                               std::string(quirk ? "nvs_save_s3" : ""))});
            add_cli_faults(s, {"kind=firmware-clobber,phase=platform-enter,when=before"});
            RunResult r = execute(s);
            CHECK(acpi_steps(r).find("nvs-written") != std::string::npos);
            CHECK(violations_of(r) == (quirk ? "" : "hwstate.not-restored irq.lost"));
        }
    }
}

TEST_CASE("nvs: acpi.sequence names a save before _PTS, a restore after _WAK, and a save never restored",
          "[acpi][nvs][checker]") {
    SECTION("saved before _PTS: the restore puts back NVS without _PTS's context") {
        Scenario s = nvs_scenario("s3-nvs-restored");
        move_phase(s, "nvs-save", "platform-prepare");
        RunResult r = execute(s);
        CHECK(sequence_message(r) == "S3 entry out of sequence: suspend_nvs_save ran before _PTS(3): the restore "
                                     "undoes what _PTS stored");
        // And firmware goes wrong: _WAK restores the routing the copy held.
        CHECK(r.violations.count("hwstate.not-restored") == 1);
    }
    SECTION("restored after _WAK") {
        // (And freed after it: acpi_pm_finish frees the copy before _WAK.)
        Scenario s = nvs_scenario("s3-nvs-restored");
        move_phase(s, "nvs-free", "resume_noirq");
        move_phase(s, "nvs-restore", "nvs-free");
        RunResult r = execute(s);
        CHECK(sequence_message(r) ==
              "suspend_nvs_restore ran after _WAK(3): _WAK(3) ran on what the sleep left in NVS");
        CHECK(r.violations.count("irq.lost") == 1);
    }
    SECTION("saved, never restored") {
        Scenario s = nvs_scenario("s3-nvs-restored");
        drop_phase(s, "nvs-restore");
        RunResult r = execute(s);
        CHECK(sequence_message(r) ==
              "NVS saved before S3 was never restored: _WAK(3) ran on what the sleep left there");
    }
    SECTION("Linux's order: no acpi.sequence") {
        RunResult r = execute(nvs_scenario("s3-nvs-restored"));
        CHECK(sequence_message(r).empty());
    }
}

TEST_CASE("nvs: acpi_sleep=old_ordering saves NVS late too (prepare_late), after the early _PTS", "[acpi][nvs]") {
    Scenario s = nvs_scenario("s3-nvs-restored");
    s.protocol = load_protocol(std::string(QUIESCE_DATA_DIR) + "/protocols/linux-s3-old-ordering.toml");
    RunResult r = execute(s);
    CHECK(r.violations.empty());
    const std::string steps = acpi_steps(r);
    CHECK(steps.find("suspend_nvs_alloc _TTS(3) _PTS(3)") == 0);
    CHECK(steps.find("suspend_nvs_save sleep-request") != std::string::npos);
}
