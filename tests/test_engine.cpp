// The protocol engine against scripted devices: order from the graph, and
// Linux rollback when a suspend callback fails (reference/linux-pm.md §1.8).
#include "bench_platform.h"
#include "kernel_bench.h"

#include "sim/pm/engine.h"

#include <fmt/format.h>

using namespace quiesce;
using quiesce::test::Facts;

namespace {

struct ScriptedDevice : PmDevice {
    ScriptedDevice(std::string name, std::vector<std::string>& log, std::string fail_cb = "", int rc = 0)
        : PmDevice(std::move(name)), log_(log), fail_cb_(std::move(fail_cb)), rc_(rc) {}
    std::string track() const override { return name(); }
    int callback(const std::string& cb, Cpu& cpu) override {
        cpu.compute(Cycles(100));
        log_.push_back(name() + ":" + cb);
        return cb == fail_cb_ ? rc_ : 0;
    }
    std::vector<std::string>& log_;
    std::string fail_cb_;
    int rc_;
};

Phase cb_phase(const std::string& cb, const std::string& order, const std::string& undo = "") {
    Phase p;
    p.name = cb;
    p.action = "callbacks";
    p.callback = cb;
    p.order = order;
    p.undo = undo;
    return p;
}

// A callbacks-only protocol (no platform phases): prepare, suspend, suspend_late
// and their mirror. Run in a child; returns the callback log joined by spaces.
Facts run_engine(const std::string& failing_device, const std::string& failing_cb) {
    return quiesce::test::with_kernel([&](RunContext& ctx, Kernel& kernel, Cpu& cpu, Facts& f) {
        DeviceGraph g;
        for (auto n : {"bus", "a", "b", "c"}) g.add_device(n);
        g.add_edge("bus", "a", EdgeKind::Parent);
        g.add_edge("bus", "b", EdgeKind::Parent);
        g.add_edge("b", "c", EdgeKind::Parent);
        std::vector<std::string> log;
        std::vector<std::unique_ptr<ScriptedDevice>> devs;
        PmServices s;
        s.kernel = &kernel;
        s.graph = &g;
        for (auto n : {"bus", "a", "b", "c"}) {
            devs.push_back(std::make_unique<ScriptedDevice>(n, log, n == failing_device ? failing_cb : "", -16));
            s.devices[n] = devs.back().get();
        }
        Protocol p;
        p.name = "callbacks-only";
        p.suspend = {cb_phase("prepare", "top-down", "complete"), cb_phase("suspend", "bottom-up", "resume"),
                     cb_phase("suspend_late", "bottom-up", "resume_early")};
        p.resume = {cb_phase("resume_early", "top-down"), cb_phase("resume", "top-down"),
                    cb_phase("complete", "bottom-up")};
        PmEngine engine(s, p, ctx.hub);
        PmEngine::Result r = engine.run(cpu);
        std::string joined;
        for (const auto& e : log) joined += (joined.empty() ? "" : " ") + e;
        f["log"] = joined;
        f["error"] = std::to_string(r.error);
        f["failed_phase"] = r.failed_phase;
        f["failed_device"] = r.failed_device;
    });
}

}  // namespace

TEST_CASE("engine: phases run in graph order without failures", "[engine]") {
    Facts f = run_engine("", "");
    REQUIRE(f["error"] == "0");
    REQUIRE(f["log"] ==
            "bus:prepare a:prepare b:prepare c:prepare "
            "c:suspend b:suspend a:suspend bus:suspend "
            "c:suspend_late b:suspend_late a:suspend_late bus:suspend_late "
            "bus:resume_early a:resume_early b:resume_early c:resume_early "
            "bus:resume a:resume b:resume c:resume "
            "c:complete b:complete a:complete bus:complete");
    // 24 callbacks of 100 cycles plus the PM core's 500 cycles of bookkeeping each.
    REQUIRE(std::stoull(f["end_cycles"]) >= 24 * 600);
}

TEST_CASE("engine: a failed suspend resumes exactly the devices that suspended", "[engine][rollback]") {
    // suspend runs c, b, a, bus: a fails after c and b succeeded.
    Facts f = run_engine("a", "suspend");
    REQUIRE(f["error"] == "-16");
    REQUIRE(f["failed_phase"] == "suspend");
    REQUIRE(f["failed_device"] == "a");
    REQUIRE(f["log"] ==
            "bus:prepare a:prepare b:prepare c:prepare "
            "c:suspend b:suspend a:suspend "
            "b:resume c:resume "
            "c:complete b:complete a:complete bus:complete");
}

TEST_CASE("engine: a late failure unwinds its own phase first", "[engine][rollback]") {
    // suspend_late runs c, b, a, bus: b fails after c succeeded.
    Facts f = run_engine("b", "suspend_late");
    REQUIRE(f["failed_phase"] == "suspend_late");
    REQUIRE(f["log"] ==
            "bus:prepare a:prepare b:prepare c:prepare "
            "c:suspend b:suspend a:suspend bus:suspend "
            "c:suspend_late b:suspend_late "
            "c:resume_early "
            "bus:resume a:resume b:resume c:resume "
            "c:complete b:complete a:complete bus:complete");
}

TEST_CASE("engine: a failed prepare completes only the prepared devices", "[engine][rollback]") {
    Facts f = run_engine("b", "prepare");
    REQUIRE(f["log"] == "bus:prepare a:prepare b:prepare a:complete bus:complete");
}

TEST_CASE("engine: a bound driver runs its scenario's program, not a copy of it", "[engine][drivers]") {
    std::map<std::string, const DriverProgram*> loaded;
    Facts f = quiesce::test::on_booted(
        "s3-basic",
        [&](Platform& p, Cpu&, Facts& f) {
            for (const auto& [name, drv] : p.dma_drivers())
                f[name] = &drv->runner().program() == loaded.at(name) ? "shared" : "copied";
        },
        [&](Scenario& s) {
            for (const auto& [dev, program] : s.drivers) loaded[dev] = program.get();
        });
    CHECK(f["dma0"] == "shared");
    CHECK(f["dma1"] == "shared");
}

TEST_CASE("engine: the DMA engine driver's explicit state is name=value text it parses back", "[engine][galibert]") {
    Facts f = quiesce::test::on_booted("s3-galibert-explicit", [](Platform& p, Cpu& cpu, Facts& f) {
        DmaEngineDriver* drv = p.dma_drivers().at(1).second;
        const uint64_t bar = drv->mmio_base();
        drv->set_burst(cpu, 512);
        REQUIRE(p.pm_devices().at("dma1")->explicit_state());
        REQUIRE(p.pm_devices().at("dma1")->callback("save_explicit", cpu) == 0);
        f["stopped"] = fmt::format("{:#x}", cpu.read32(bar + DmaEngine::CTRL));
        cpu.write32(bar + DmaEngine::BURST, 64);  // what a reset would leave
        REQUIRE(p.pm_devices().at("dma1")->callback("restore_explicit", cpu) == 0);
        f["restored"] = fmt::format("ctrl={:#x} burst={}", cpu.read32(bar + DmaEngine::CTRL),
                                    cpu.read32(bar + DmaEngine::BURST));
        f["copy"] = std::to_string(drv->copy(cpu, p.kernel().alloc(4096, 4096), p.kernel().alloc(4096, 4096), 4096));
        drv->set_can_restore(false);
        REQUIRE(p.pm_devices().at("dma1")->callback("save_explicit", cpu) == 0);
        f["cannot"] = std::to_string(p.pm_devices().at("dma1")->callback("restore_explicit", cpu));
        f["defaults"] = std::to_string(cpu.read32(bar + DmaEngine::BURST));
    });
    REQUIRE(f["stopped"] == "0x0");
    REQUIRE(f["restored"] == "ctrl=0x3 burst=512");
    REQUIRE(f["copy"] == "0");
    REQUIRE(f["cannot"] == "-95");
    REQUIRE(f["defaults"] == "256");
}
