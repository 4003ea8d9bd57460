// PCI functions driven through their real bus interface: ECAM config cycles
// from a CPU, BAR sizing, MMIO decode, D-states and the PCI core's
// save/restore. Each case builds the default platform in a child.
#include "bench_platform.h"

#include <fmt/format.h>

#include <array>
#include <filesystem>
#include <fstream>

#include <stdlib.h>

using namespace quiesce;
using quiesce::test::Facts;

namespace {

Facts on_platform(const quiesce::test::PlatformBody& body, bool dma1_no_soft_reset = false) {
    return quiesce::test::on_platform("s3-basic", body, [&](Scenario& s) {
        for (auto& d : s.platform.devices)
            if (d.name == "dma1") d.no_soft_reset = dma1_no_soft_reset;
    });
}

PciDev* find(Platform& p, uint16_t vendor, unsigned bus) {
    for (auto& d : p.pci_core().devices())
        if (d.vendor == vendor && d.bus == bus) return &d;
    return nullptr;
}

}  // namespace

TEST_CASE("pci: enumeration sizes BARs and programs bridges and INTx", "[pci]") {
    Facts f = on_platform([](Platform& p, Cpu& cpu, Facts& f) {
        PciCore& core = p.pci_core();
        core.enumerate(cpu);
        f["functions"] = std::to_string(core.devices().size());
        PciDev* dma0 = find(p, 0x1de5, 1);  // behind the root port
        PciDev* dma1 = find(p, 0x1de5, 0);
        f["dma0_bar_size"] = std::to_string(dma0->bar_size[0]);
        f["dma0_bar"] = fmt::format("{:#x}", dma0->bar[0]);
        f["dma1_bar"] = fmt::format("{:#x}", dma1->bar[0]);
        f["dma0_irq"] = std::to_string(dma0->irq);
        f["dma1_irq"] = std::to_string(dma1->irq);
        // Size probing through the bus: all ones reads back ~(size-1).
        core.cfg_write(cpu, *dma1, pci::BAR0, 0xffffffff, 4);
        f["probe"] = fmt::format("{:#x}", core.cfg_read(cpu, *dma1, pci::BAR0, 4));
        core.cfg_write(cpu, *dma1, pci::BAR0, dma1->bar[0], 4);
        // The engine's ID register through MMIO, and through the bridge window.
        f["dma1_id"] = fmt::format("{:#x}", cpu.read32(dma1->bar[0] + DmaEngine::ID));
        f["dma0_id"] = fmt::format("{:#x}", cpu.read32(dma0->bar[0] + DmaEngine::ID));
        f["absent"] = fmt::format("{:#x}", core.cfg_read(cpu, PciDev{0, 0x18}, pci::VENDOR_ID, 4));
    });
    REQUIRE(f["functions"] == "4");
    REQUIRE(f["dma0_bar_size"] == "4096");
    // Depth-first by device number: dma1 (00:02.0) first, then the root port
    // (00:1c.0) and its 1 MiB window holding dma0.
    REQUIRE(f["dma1_bar"] == "0xc0000000");
    REQUIRE(f["dma0_bar"] == "0xc0100000");
    REQUIRE(f["probe"] == "0xfffff000");
    REQUIRE(f["dma0_id"] == "0x31414d44");
    REQUIRE(f["dma1_id"] == "0x31414d44");
    REQUIRE(f["absent"] == "0xffffffff");        // no function at 00:03.0
    // dma0: INTA# of device 0 behind the port at device 0x1c -> PIRQA -> IRQ 10.
    REQUIRE(f["dma0_irq"] == "10");
    // dma1: INTA# of device 2 on the root bus -> PIRQC -> IRQ 10.
    REQUIRE(f["dma1_irq"] == "10");
    REQUIRE(f["guest_errors"].empty());
}

TEST_CASE("pci: MMIO to a function in D3hot master-aborts and is reported", "[pci]") {
    Facts f = on_platform([](Platform& p, Cpu& cpu, Facts& f) {
        PciCore& core = p.pci_core();
        core.enumerate(cpu);
        PciDev* dma1 = find(p, 0x1de5, 0);
        f["set_d3"] = std::to_string(core.set_power_state(cpu, *dma1, DState::D3hot));
        f["pmcsr"] = fmt::format("{:#x}", core.cfg_read(cpu, *dma1, pci::PMCSR, 2) & 3);
        f["id_in_d3"] = fmt::format("{:#x}", cpu.read32(dma1->bar[0] + DmaEngine::ID));
        f["vendor_in_d3"] = fmt::format("{:#x}", core.cfg_read(cpu, *dma1, pci::VENDOR_ID, 2));
    });
    REQUIRE(f["set_d3"] == "0");
    REQUIRE(f["pmcsr"] == "0x3");
    REQUIRE(f["id_in_d3"] == "0xffffffff");
    REQUIRE(f["vendor_in_d3"] == "0x1de5");      // config space stays accessible
    REQUIRE(f["guest_errors"] == "dma1:io.suspended-device");
}

TEST_CASE("pci: D3hot->D0 without No_Soft_Reset resets BARs and COMMAND", "[pci]") {
    auto run = [](bool nsr) {
        return on_platform(
            [](Platform& p, Cpu& cpu, Facts& f) {
                PciCore& core = p.pci_core();
                core.enumerate(cpu);
                PciDev* dma1 = find(p, 0x1de5, 0);
                core.set_power_state(cpu, *dma1, DState::D3hot);
                Picos t0 = now_ps();
                core.set_power_state(cpu, *dma1, DState::D0);  // waits the 10 ms
                f["waited_ms"] = std::to_string((now_ps() - t0) / 1'000'000'000ULL);
                f["bar0"] = fmt::format("{:#x}", core.cfg_read(cpu, *dma1, pci::BAR0, 4));
                f["command"] = fmt::format("{:#x}", core.cfg_read(cpu, *dma1, pci::COMMAND, 2));
            },
            nsr);
    };
    Facts reset = run(false);
    REQUIRE(reset["waited_ms"] == "10");
    REQUIRE(reset["bar0"] == "0x0");
    REQUIRE(reset["command"] == "0x0");
    Facts kept = run(true);
    REQUIRE(kept["bar0"] == "0xc0000000");
    REQUIRE(kept["command"] == "0x106");
}

TEST_CASE("pci: accessing a function during its D3hot->D0 recovery is an error", "[pci]") {
    Facts f = on_platform([](Platform& p, Cpu& cpu, Facts& f) {
        PciCore& core = p.pci_core();
        core.enumerate(cpu);
        PciDev* dma1 = find(p, 0x1de5, 0);
        core.set_power_state(cpu, *dma1, DState::D3hot);
        core.cfg_write(cpu, *dma1, pci::PMCSR, 0, 2);  // D0, without waiting 10 ms
        f["early_read"] = fmt::format("{:#x}", core.cfg_read(cpu, *dma1, pci::VENDOR_ID, 2));
    });
    REQUIRE(f["early_read"] == "0xffff");
    REQUIRE(f["guest_errors"] == "dma1:pci.d3-recovery");
}

TEST_CASE("pci: save -> D3hot -> D0 -> restore -> save gives identical hardware state", "[pci]") {
    Facts f = on_platform([](Platform& p, Cpu& cpu, Facts& f) {
        PciCore& core = p.pci_core();
        core.enumerate(cpu);
        std::vector<PciDev*> devs;  // enumeration order: parents before children
        for (PciDev& d : core.devices())
            if (!(d.bus == 0 && d.devfn == 0)) devs.push_back(&d);  // the host bridge stays in D0
        std::vector<std::array<uint32_t, 16>> first;
        for (PciDev* d : devs) {
            core.save_state(cpu, *d);
            first.push_back(d->saved);
        }
        for (auto it = devs.rbegin(); it != devs.rend(); ++it) core.set_power_state(cpu, **it, DState::D3hot);
        for (size_t i = 0; i < devs.size(); ++i) {
            core.set_power_state(cpu, *devs[i], DState::D0);
            core.restore_state(cpu, *devs[i]);
            f["flag" + std::to_string(i)] = devs[i]->state_saved ? "set" : "cleared";
            core.save_state(cpu, *devs[i]);
            f["same" + std::to_string(i)] = first[i] == devs[i]->saved ? "yes" : "no";
        }
    });
    REQUIRE(f["same0"] == "yes");
    REQUIRE(f["same1"] == "yes");
    REQUIRE(f["same2"] == "yes");
    REQUIRE(f["flag0"] == "cleared");  // a second restore without a new save does nothing
    REQUIRE(f["guest_errors"].empty());
}

TEST_CASE("pci: functions 1-7 are enumerated behind a multi-function function 0, each a function of its own",
          "[pci][multifunction]") {
    Facts f = quiesce::test::on_platform("s3-multifunction", [](Platform& p, Cpu& cpu, Facts& f) {
        PciCore& core = p.pci_core();
        core.enumerate(cpu);
        f["functions"] = std::to_string(core.devices().size());
        PciDev* fn0 = core.find(1, 0x00);
        PciDev* fn1 = core.find(1, 0x01);
        f["fn0"] = fn0 ? fmt::format("{:#x}", core.cfg_read(cpu, *fn0, pci::HEADER_TYPE, 1)) : "absent";
        f["fn1"] = fn1 ? fmt::format("{:#x}", core.cfg_read(cpu, *fn1, pci::HEADER_TYPE, 1)) : "absent";
        if (!fn0 || !fn1) return;
        f["bars"] = fmt::format("{:#x} {:#x}", fn0->bar[0], fn1->bar[0]);
        f["fn1_id"] = fmt::format("{:#x}", cpu.read32(fn1->bar[0] + DmaEngine::ID));
        // Function 1 alone in D3hot: function 0 still answers.
        core.set_power_state(cpu, *fn1, DState::D3hot);
        f["fn0_id_fn1_d3"] = fmt::format("{:#x}", cpu.read32(fn0->bar[0] + DmaEngine::ID));
        f["fn1_d3"] = to_string(p.function("dma1")->dstate());
        f["fn0_d0"] = to_string(p.function("dma0")->dstate());
    });
    REQUIRE(f["functions"] == "4");  // host bridge, root port, two functions
    CHECK(f["fn0"] == "0x80");       // endpoint, multi-function
    CHECK(f["fn1"] == "0x0");
    CHECK(f["bars"] == "0xc0000000 0xc0001000");
    CHECK(f["fn1_id"] == "0x31414d44");
    CHECK(f["fn0_id_fn1_d3"] == "0x31414d44");
    CHECK(f["fn1_d3"] == "D3hot");
    CHECK(f["fn0_d0"] == "D0");
}

namespace {
// The error loading a scenario on a platform of these [[device]] tables
// after the host bridge pci0 ("" when it loads).
std::string platform_error(const std::string& devices) {
    char dir[] = "/tmp/quiesce-mfXXXXXX";
    REQUIRE(mkdtemp(dir));
    const std::string d = dir;
    std::filesystem::create_directories(d + "/platforms");
    std::ofstream(d + "/platforms/lone.toml") << "name = \"lone\"\ncpus = 1\nmemory = \"16MiB\"\n"
                                                 "[[device]]\nname = \"pci0\"\ntype = \"pci-host\"\n" +
                                                     devices;
    std::ofstream(d + "/s.toml") << "[platform]\nname = \"lone\"\n[protocol]\nname = \"linux-s3\"\n"
                                    "[expect]\nresult = \"pass\"\n";
    std::string err;
    try {
        load_scenario(d + "/s.toml");
    } catch (const InputError& e) {
        err = e.what();
    }
    std::filesystem::remove_all(d);
    return err;
}
}  // namespace

TEST_CASE("pci: the host bridge's slot and a platform past the function limit are input errors", "[pci][multifunction]") {
    CHECK_THAT(platform_error("[[device]]\nname = \"dma0\"\ntype = \"dma-engine\"\nslot = \"00.0\"\n"
                              "parent = \"pci0\"\n"),
               Catch::EndsWith("lone.toml:10:8: device[1].slot: slot 00.0 of the root bus is the host bridge 'pci0' "
                               "itself"));
    std::string many;
    for (unsigned n = 0; n < kMaxPciFunctions; ++n)
        many += fmt::format("[[device]]\nname = \"d{}\"\ntype = \"{}\"\nslot = \"{:02x}.{}\"\nparent = \"{}\"\n", n,
                            n ? "dma-engine" : "pci-bridge", n / 8 % 31 + 1, n % 8, n < 31 * 8 ? "pci0" : "d0");
    CHECK_THAT(platform_error(many), Catch::Contains("device: a platform holds at most 256 PCI functions"));
}

TEST_CASE("pci: a function 1-7 without function 0 in its slot is an input error", "[pci][multifunction]") {
    std::string err = platform_error("[[device]]\nname = \"dma0\"\ntype = \"dma-engine\"\nslot = \"03.2\"\n"
                                     "parent = \"pci0\"\n");
    CHECK_THAT(err, Catch::EndsWith("lone.toml:10:8: device[1].slot: function 2 of slot 03 needs function 0 of that "
                                    "slot declared above (Linux finds functions 1-7 only behind a multi-function "
                                    "function 0)"));
}

TEST_CASE("pci: [depends] - a function's BAR answers only while the function it needs is in D0 with its enable set",
          "[pci][multifunction]") {
    Facts f = quiesce::test::on_booted("s3-multifunction-link", [](Platform& p, Cpu& cpu, Facts& f) {
        PciCore& core = p.pci_core();
        PciDev* gpu = core.find(1, 0x00);
        PciDev* hda = core.find(1, 0x01);
        if (!gpu || !hda) return;
        auto* audio = dynamic_cast<GenericPci*>(p.function("hda0"));
        const uint64_t gpu_ctrl = gpu->bar[0] + 0x04, hda_id = hda->bar[0], hda_ctrl = hda->bar[0] + 0x04;
        f["probed"] = fmt::format("{:#x} {:#x}", cpu.read32(hda_id), cpu.read32(hda_ctrl));  // RUN|IE from its probe
        // The GPU's driver clears CTRL.ENABLE: the audio block loses its clock.
        const uint32_t ctrl = cpu.read32(gpu_ctrl);
        cpu.write32(gpu_ctrl, ctrl & ~1u);
        f["gated_read"] = fmt::format("{:#x}", cpu.read32(hda_id));
        cpu.write32(hda_ctrl, 0);  // dropped
        f["gated_write"] = fmt::format("{:#x}", audio->core().regs().reg("CTRL").value());
        f["why"] = audio->core().gated();
        cpu.write32(gpu_ctrl, ctrl);
        f["open_read"] = fmt::format("{:#x}", cpu.read32(hda_id));
        // The GPU function in D3hot (its ENABLE still set): off again.
        core.set_power_state(cpu, *gpu, DState::D3hot);
        f["d3_read"] = fmt::format("{:#x}", cpu.read32(hda_id));
        f["d3_why"] = audio->core().gated();
        // The audio function's own config space is its own: it answers.
        f["hda_vendor"] = fmt::format("{:#x}", core.cfg_read(cpu, *hda, pci::VENDOR_ID, 2));
    });
    CHECK(f["probed"] == "0x31414448 0x3");
    CHECK(f["gated_read"] == "0xffffffff");
    CHECK(f["gated_write"] == "0x3");
    CHECK(f["why"] == "function 0 (gpu0) has CTRL.ENABLE clear");
    CHECK(f["open_read"] == "0x31414448");
    CHECK(f["d3_read"] == "0xffffffff");
    CHECK(f["d3_why"] == "function 0 (gpu0) is in D3hot");
    CHECK(f["hda_vendor"] == "0x1de5");
    // One guest error per stretch of refused accesses (the write after the
    // read is the same stretch), none for the GPU's own D3hot MMIO.
    CHECK(f["guest_errors"] == "hda0:pci.function-gated hda0:pci.function-gated");
}

TEST_CASE("pci: [depends] - a slot without the function a described function needs is an input error",
          "[pci][multifunction]") {
    const std::string hda = "[[device]]\nname = \"hda0\"\ntype = \"pci-device\"\nmodel = \"qhda\"\nslot = \"03.1\"\n"
                            "parent = \"pci0\"\n";
    CHECK_THAT(platform_error("[[device]]\nname = \"dma0\"\ntype = \"dma-engine\"\nslot = \"03.0\"\nparent = "
                              "\"pci0\"\n" + hda),
               Catch::Contains("lone.toml:16:8: device[2].slot: qhda needs function 0 of its slot to be a qgpu "
                               "([depends] of ") &&
                   Catch::EndsWith("qhda.toml); 'dma0' there is a dma-engine"));
    CHECK_THAT(platform_error("[[device]]\nname = \"hda0\"\ntype = \"pci-device\"\nmodel = \"qhda\"\nslot = \"03.0\"\n"
                              "parent = \"pci0\"\n"),
               Catch::EndsWith("qhda.toml): it cannot be that function itself"));
    CHECK(platform_error("[[device]]\nname = \"gpu0\"\ntype = \"pci-device\"\nmodel = \"qgpu\"\nslot = \"03.0\"\n"
                         "parent = \"pci0\"\n" + hda) == "");
}

TEST_CASE("pci: [depends] - a scenario cannot leave out the function another one needs", "[pci][multifunction]") {
    char dir[] = "/tmp/quiesce-depXXXXXX";
    REQUIRE(mkdtemp(dir));
    const std::string s = std::string(dir) + "/s.toml";
    std::ofstream(s) << "[platform]\nname = \"pc-multifn-gpu\"\n[protocol]\nname = \"linux-s3\"\n"
                        "[devices.gpu0]\npresent = false\n[expect]\nresult = \"pass\"\n";
    std::string err;
    try {
        load_scenario(s);
    } catch (const InputError& e) {
        err = e.what();
    }
    std::filesystem::remove_all(dir);
    CHECK_THAT(err, Catch::Contains("s.toml:") && Catch::EndsWith(" devices.gpu0.present: 'hda0' depends on it "
                                                                  "([depends] of its device file)"));
}

// A bus-master access goes up through every hop - the function, each
// bridge, the host bridge - and any one of them may stop it: a function or
// a bridge without bus mastering does not issue or forward it, and says
// so. (PciFunction::dma_buffer takes a direct path where every hop lets
// it through; this is what it must fall back from.)
TEST_CASE("pci: a DMA lands only where the function and every bridge up have bus mastering on", "[pci][dma]") {
    // dma0 sits behind the root port rp0; `off` names whose COMMAND loses
    // its bus master bit before the copy ("" for none).
    auto copy = [](const std::string& off) {
        return quiesce::test::on_booted("s3-basic", [&](Platform& p, Cpu& cpu, Facts& f) {
            PciCore& core = p.pci_core();
            DmaEngineDriver* drv = nullptr;
            for (auto& [name, d] : p.dma_drivers())
                if (name == "dma0") drv = d;
            PciDev* dma0 = nullptr;
            for (auto& d : core.devices())
                if (!d.bridge && d.parent) dma0 = &d;
            REQUIRE(drv);
            REQUIRE(dma0);
            if (!off.empty()) {
                PciDev* who = off == "rp0" ? dma0->parent : dma0;
                const uint32_t cmd = core.cfg_read(cpu, *who, pci::COMMAND, 2);
                core.cfg_write(cpu, *who, pci::COMMAND, cmd & ~uint32_t(pci::CMD_MASTER), 2);
            }
            const uint64_t src = p.kernel().alloc(4096, 4096), dst = p.kernel().alloc(4096, 4096);
            const std::vector<uint8_t> data = quiesce::test::pattern(4096, 3), zero(4096, 0);
            std::vector<uint8_t> back(4096);
            cpu.write_block(src, data.data(), 4096);
            cpu.write_block(dst, zero.data(), 4096);
            const int rc = drv->copy(cpu, src, dst, 4096);
            cpu.read_block(dst, back.data(), 4096);
            f["rc"] = std::to_string(rc);
            f["landed"] = back == data ? "yes" : back == zero ? "no" : "partly";
        });
    };
    Facts on = copy("");
    CHECK(on["rc"] == "0");
    CHECK(on["landed"] == "yes");
    CHECK(on["guest_errors"] == "");
    Facts bridge = copy("rp0");
    CHECK(bridge["rc"] != "0");
    CHECK(bridge["landed"] == "no");
    CHECK(bridge["guest_errors"].find("rp0:pci.dma-blocked") != std::string::npos);
    Facts function = copy("dma0");
    CHECK(function["rc"] != "0");
    CHECK(function["landed"] == "no");
    CHECK(function["guest_errors"].find("dma0:pci.dma-blocked") != std::string::npos);
}
