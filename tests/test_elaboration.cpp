// Elaboration: the models' own events are named, so that SystemC does not
// generate a name for each (sc_gen_unique_name builds a std::stringstream
// per unnamed event made before the simulation starts: about a twentieth of
// a platform's elaboration, issue 18 item 1), and no name collides with
// another object's (SystemC would warn and generate one after all).
#include "child.h"

#include "sim/scenario/platform.h"

#include <systemc>

using namespace quiesce;
using quiesce::test::Facts;

namespace {

// Builds the platform of a regression scenario and reports SystemC's
// warnings while doing it, and whether the named events exist.
Facts elaborate(const std::string& scenario, const std::vector<std::string>& events) {
    return quiesce::test::in_child([&](Facts& f) {
        Scenario s = load_scenario(std::string(QUIESCE_DATA_DIR) + "/regression/" + scenario + ".toml");
        RunContext ctx(s.seed);
        const int warnings = sc_core::sc_report_handler::get_count(sc_core::SC_WARNING);
        Platform p(s, ctx);
        f["warnings"] = std::to_string(sc_core::sc_report_handler::get_count(sc_core::SC_WARNING) - warnings);
        std::string missing;
        for (const auto& e : events)
            if (!sc_core::sc_find_event(e.c_str())) missing += e + " ";
        f["missing"] = missing;
    });
}

}  // namespace

TEST_CASE("elaboration: the CPUs', kernel's, ACPI's and interrupt controller's events are named, without warnings",
          "[elaboration]") {
    Facts f = elaborate("s3-basic", {"cpu0.sched_changed", "cpu1.idle_check_ev", "cpu0.dead_ev", "cpu0.state_changed",
                                     "cpu0.started_ev", "kernel.ev_wakeup", "kernel.ev_never", "kernel.ev_irq_done",
                                     "kernel.ev_boot", "kernel.ev_task_changed", "acpi.sleep_req", "acpi.cut_ev",
                                     "intc.sample_ev", "intc.changed"});
    REQUIRE(f["warnings"] == "0");
    REQUIRE(f["missing"] == "");
}

TEST_CASE("elaboration: the disk's and the USB controller's events are named, without warnings", "[elaboration]") {
    Facts storage = elaborate("s3-storage", {"ahci0.core.kick", "ahci0.core.stop_kick", "ahci0.core.idle",
                                             "ahci0.core.hr_kick", "sda.reset_or_power"});
    REQUIRE(storage["warnings"] == "0");
    REQUIRE(storage["missing"] == "");
    Facts usb = elaborate("s3-ben2001-usb-swap-deadlock", {"xhci0.core.kick", "xhci0.core.reset_ev", "xhci0.core.stop"});
    REQUIRE(usb["warnings"] == "0");
    REQUIRE(usb["missing"] == "");
}

TEST_CASE("elaboration: the DMA engines' and a described device's events are named, without warnings",
          "[elaboration]") {
    Facts basic = elaborate("s3-basic", {"dma0.core.kick", "dma1.core.kick"});
    REQUIRE(basic["warnings"] == "0");
    REQUIRE(basic["missing"] == "");
    Facts gpu = elaborate("cycles-s2idle-then-s3", {"gpu0.core.kick", "gpu0.core.fw_kick"});
    REQUIRE(gpu["warnings"] == "0");
    REQUIRE(gpu["missing"] == "");
}
