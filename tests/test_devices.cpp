// Devices described by files (docs/devices.md): the loader and its errors,
// and the described model's behaviours in runs - the copy engine, local
// memory lost with power, the firmware load and its check, the firmware
// cache behind request-firmware.
#include "bench_platform.h"
#include "cli.h"
#include "tmpfile.h"

#include "models/cpu/cpu.h"
#include "models/pci/generic_device.h"
#include "sim/core/errors.h"
#include "sim/drivers/device_file.h"
#include "sim/kernel/kernel.h"
#include "sim/scenario/executor.h"

#include <zlib.h>

#include <cstring>
#include <fstream>

using namespace quiesce;
using quiesce::test::Facts;
using quiesce::test::regression;
using quiesce::test::TempFile;

namespace {

std::string builtin_device(const std::string& name) {
    return std::string(QUIESCE_DATA_DIR) + "/devices/" + name + ".toml";
}

const std::string kHead = "[device]\nname = \"tdev\"\n";
const std::string kReg = "[[register]]\nname = \"CTRL\"\noffset = 0x4\nfields = { ENABLE = 0 }\n";

// The error a device file gives, without its path.
std::string device_error(const std::string& text) {
    TempFile f(text);
    try {
        load_device_file(f.path());
    } catch (const InputError& e) {
        std::string w = e.what();
        return w.substr(w.find(f.path()) == 0 ? f.path().size() : 0);
    }
    return "loaded";
}

Scenario gpu_scenario(const std::string& extra, const std::string& expect = "[expect]\nresult = \"pass\"\n") {
    TempFile f("[scenario]\nseed = 7\n[platform]\nname = \"pc-gpu\"\n[protocol]\nname = \"linux-s3\"\n" + extra + "\n" +
               expect);
    return load_scenario(f.path());
}

std::vector<const Event*> named(const RunResult& r, const std::string& name) {
    std::vector<const Event*> out;
    for (const auto& ev : r.stream.events)
        if (ev.name == name) out.push_back(&ev);
    return out;
}

}  // namespace

TEST_CASE("devices: qgpu's device file loads with its bank, roles and behaviours, its driver binds to it",
          "[devices]") {
    auto d = load_device_file(builtin_device("qgpu"));
    REQUIRE(d->name == "qgpu");
    REQUIRE(d->bar_size == 4096);
    REQUIRE(d->registers.front().name == "ID");  // sorted by offset
    REQUIRE(d->registers.front().reset == 0x31555047);
    auto ctrl = std::find_if(d->registers.begin(), d->registers.end(), [](auto& r) { return r.name == "CTRL"; });
    REQUIRE(ctrl->fields.size() == 2);
    auto clocks = std::find_if(d->registers.begin(), d->registers.end(), [](auto& r) { return r.name == "CLOCKS"; });
    REQUIRE(clocks->fields[0].lsb == 0);
    REQUIRE(clocks->fields[0].width == 4);
    REQUIRE(d->keep_on_reset == std::vector<std::string>{"SCRATCH"});
    REQUIRE(d->engine.on);
    REQUIRE(d->engine.done.text() == "STATUS.DONE");
    REQUIRE(d->local_memory.size == 64 * 1024);
    REQUIRE_FALSE(d->local_memory.lost_in_d3hot);
    REQUIRE(d->firmware.name == "qgpu-fw.bin");
    REQUIRE(d->firmware.size == 16 * 1024);
    // A target driver files bind to: its registers, its commands, the
    // engine's ring registers to re-derive.
    const DriverTarget* t = find_driver_target("qgpu");
    REQUIRE(t);
    REQUIRE(t->registers.size() == d->registers.size());
    REQUIRE(t->commands == std::vector<std::string>{"load-firmware", "save-local-memory", "restore-local-memory"});
    REQUIRE(t->rederive == std::vector<std::string>{"RING_BASE", "RING_SIZE", "TAIL"});
    DriverProgram p = load_driver(std::string(QUIESCE_DATA_DIR) + "/drivers/qgpu.toml");
    REQUIRE(p.binds == "qgpu");
    // A step on a register the device does not have is refused.
    TempFile bad("[driver]\nname = \"x\"\nbase = \"qgpu\"\n[[patch]]\ncallback = \"prepare\"\nreplace = [{ op = "
                 "\"write\", reg = \"NOPE\", value = 1 }]\n");
    std::filesystem::copy_file(builtin_device("qgpu"), std::filesystem::path(bad.path()).parent_path() / "qgpu.toml",
                               std::filesystem::copy_options::overwrite_existing);
    REQUIRE_THROWS_WITH(load_driver(bad.path()), Catch::Contains("'qgpu' has no register 'NOPE'"));
}

TEST_CASE("devices: bad device files name file:line:column and key", "[devices]") {
    REQUIRE(device_error("") == ":1:1: device: a device file opens with a [device] table");
    REQUIRE(device_error(kHead) == ":1:1: register: a device has at least one [[register]]");
    REQUIRE(device_error(kHead + "[[register]]\nname = \"A\"\noffset = 0x6\n") ==
            ":5:10: register[0].offset: 0x6 is not aligned to the width (4)");
    REQUIRE(device_error(kHead + kReg + "[[register]]\nname = \"B\"\noffset = 0x4\nwidth = 2\n") ==
            ":9:10: register[1].offset: 0x4 overlaps register CTRL");
    REQUIRE(device_error(kHead + kReg + "[[register]]\nname = \"CTRL\"\noffset = 0x8\n") ==
            ":8:8: register[1].name: register 'CTRL' declared twice");
    REQUIRE(device_error(kHead + "[[register]]\nname = \"A\"\noffset = 0\nwidth = 3\n") ==
            ":6:9: register[0].width: must be 1, 2, 4 or 8 bytes");
    REQUIRE(device_error(kHead + "[[register]]\nname = \"A\"\noffset = 0\nwidth = 1\nreset = 0x100\n") ==
            ":7:9: register[0].reset: 0x100 does not fit in 1 bytes");
    REQUIRE(device_error(kHead + "[[register]]\nname = \"A\"\noffset = 0\nclass = \"sticky\"\n") ==
            ":6:9: register[0].class: 'sticky' is not a state class (hardware, driver, volatile)");
    REQUIRE(device_error(kHead + "[[register]]\nname = \"A\"\noffset = 0\nfields = { X = \"2:5\" }\n") ==
            ":6:16: register[0].fields.X: expected a bit number or \"msb:lsb\"");
    REQUIRE(device_error(kHead + "[[register]]\nname = \"A\"\noffset = 0\non_reset = \"lose\"\n") ==
            ":6:12: register[0].on_reset: 'lose' is not what a register does (reset, keep)");
    REQUIRE(device_error(kHead + kReg + "[engine]\nring_base = \"CTRL\"\n") ==
            ":7:1: engine.ring_size: is required");
    REQUIRE(device_error(kHead + kReg + "[local_memory]\nsize = \"4KiB\"\n[engine]\nring_base = \"RING\"\n") ==
            ":10:13: engine.ring_base: no register 'RING' in [[register]]");
    REQUIRE(device_error(kHead + kReg + "[firmware]\nname = \"f.bin\"\nsize = \"1KiB\"\naddr = \"CTRL.NOPE\"\n") ==
            ":10:8: firmware.addr: register CTRL has no field 'NOPE'");
    REQUIRE(device_error(kHead + kReg +
                         "[engine]\nring_base = \"CTRL\"\nring_size = \"CTRL\"\ntail = \"CTRL\"\nhead = \"CTRL\"\n"
                         "done = \"CTRL.ENABLE\"\n") ==
            ":7:1: engine.engine: the engine moves data to and from [local_memory]: declare it");
    REQUIRE(device_error(kHead + kReg + "[local_memory]\nsize = \"4KiB\"\n[engine]\nring_base = \"CTRL\"\n"
                         "ring_size = \"CTRL\"\ntail = \"CTRL.ENABLE\"\nhead = \"CTRL\"\ndone = \"CTRL.ENABLE\"\n") ==
            ":12:8: engine.tail: names a whole register (the ring's pointers are registers)");
    REQUIRE(device_error(kHead + kReg + "[local_memory]\nsize = \"5000\"\n") ==
            ":8:8: local_memory.size: must be a multiple of 4KiB up to 64MiB");
    REQUIRE(device_error("[device]\nname = \"dma-engine\"\n" + kReg) ==
            ":2:8: device.name: 'dma-engine' is a built-in device model");
    REQUIRE(device_error(kHead + "bogus = 1\n" + kReg) == ":3:1: device.bogus: unknown key");
    // A platform names a device file that does not exist.
    TempFile plat("name = \"p\"\n[[device]]\nname = \"pci0\"\ntype = \"pci-host\"\n[[device]]\nname = \"g\"\n"
                  "type = \"pci-device\"\nmodel = \"nosuch\"\nslot = \"02.0\"\nparent = \"pci0\"\n");
    REQUIRE_THROWS_WITH(load_platform(plat.path()),
                        Catch::Contains(":8:9: device[1].model: no device file named 'nosuch' (devices/nosuch.toml)"));
}

TEST_CASE("devices: the firmware image carries its length and CRC32, different names, different payloads",
          "[devices]") {
    std::vector<uint8_t> a = firmware_image("a.bin", 64), b = firmware_image("b.bin", 64);
    REQUIRE(a.size() == 16 + 64);
    uint32_t header[4];
    std::memcpy(header, a.data(), 16);
    REQUIRE(header[0] == 0x31574651);
    REQUIRE(header[1] == 64);
    REQUIRE(header[2] == uint32_t(crc32(0L, a.data() + 16, 64)));
    REQUIRE(a != b);
    REQUIRE(firmware_image("a.bin", 64) == a);  // a function of the name
}

TEST_CASE("devices: qgpu in S3 - VRAM lost with power and brought back, firmware from the cache", "[devices]") {
    RunResult r = execute(load_scenario(regression("s3-gpu")));
    REQUIRE(r.status == "passed");
    REQUIRE(r.stream.summary.workload == "ok");
    // The probe read the firmware from the disk; the PM notifier cached it
    // before tasks froze; resume got it from the cache.
    auto req = named(r, "request-firmware");
    REQUIRE(req.size() == 2);
    REQUIRE(arg_value(*req[0], "from") == "disk");
    REQUIRE(arg_value(*req[1], "from") == "cache");
    REQUIRE(named(r, "firmware-cached").size() == 1);
    REQUIRE(named(r, "firmware-cached")[0]->ts < req[1]->ts);
    // VRAM went with the power (D3cold in S3) and the engine copied it out
    // and back: 16 pages each way.
    REQUIRE(named(r, "local-memory-lost").size() == 1);
    auto save = named(r, "local-memory-save"), restore = named(r, "local-memory-restore");
    REQUIRE(save.size() == 1);
    REQUIRE(arg_value(*save[0], "pages") == "16");
    REQUIRE(restore.size() == 1);
    REQUIRE(save[0]->ts < named(r, "local-memory-lost")[0]->ts);
    REQUIRE(named(r, "local-memory-lost")[0]->ts < restore[0]->ts);
    // The firmware was loaded twice (probe, resume), both accepted.
    int loads = 0;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::SliceEnd && ev.name == "firmware-load") {
            ++loads;
            REQUIRE(arg_value(ev, "result") == "ready");
        }
    REQUIRE(loads == 2);
}

TEST_CASE("devices: a driver mistake on a described device is caught - VRAM not evicted, uncached firmware",
          "[devices]") {
    RunResult lost = execute(load_scenario(regression("s3-gpu-vram-not-evicted")));
    REQUIRE(lost.status == "passed");
    REQUIRE(lost.violations == std::set<std::string>{"transparency.diverged"});
    RunResult hang = execute(load_scenario(regression("s3-gpu-firmware-uncached")));
    REQUIRE(hang.status == "passed");
    REQUIRE(hang.violations == std::set<std::string>{"liveness.hang"});
    auto req = named(hang, "request-firmware");
    REQUIRE(req.size() == 1);  // the one in resume_early never returned
    REQUIRE(execute(load_scenario(regression("s3-gpu-firmware-cached"))).status == "passed");
}

TEST_CASE("devices: the device checks the image it loads - a wrong address is refused", "[devices]") {
    // The driver's resume writes the firmware registers itself, pointing at
    // page 0 (not the image): the device reads it, refuses it (ERROR), and
    // the poll for READY times out with -EIO.
    RunResult r = execute(gpu_scenario(
        "[[drivers.gpu0.patch]]\ncallback = \"resume\"\ndelete = \"load-fw\"\n"
        "[[drivers.gpu0.patch]]\ncallback = \"resume\"\ninsert_before = \"wait-fw\"\nsteps = ["
        "{ op = \"write\", reg = \"FW_ADDR\", value = 0 }, { op = \"write\", reg = \"FW_LEN\", value = 16400 }, "
        "{ op = \"rmw\", reg = \"FW_CTRL\", field = \"LOAD\", value = 1 }]\n",
        "[expect]\nviolations = [\"transparency.diverged\"]\n"));
    std::string result;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::SliceEnd && ev.name == "firmware-load") result = arg_value(ev, "result");
    REQUIRE(result == "bad header");
    bool failed = false;
    for (const auto& ev : r.stream.events)
        if (ev.name == "callback-failed" && arg_value(ev, "device") == "gpu0")
            failed = arg_value(ev, "rc") == "-5" && arg_value(ev, "callback") == "resume";
    REQUIRE(failed);
}

TEST_CASE("drvstate.stale: a described engine resumed without re-deriving its tail runs to a stale producer index",
          "[devices]") {
    // Resume skips `tail` and issues no command before the check (VRAM is
    // neither evicted nor restored): the reset engine's TAIL is 0, the
    // driver's struct says where it stopped. (The workload's next command
    // then makes the engine replay the ring's stale commands from index 0 -
    // the first is the write that filled VRAM before suspend, so the data
    // reads back right: only the stale pointer tells.)
    RunResult r = execute(gpu_scenario(
        "[[drivers.gpu0.patch]]\ncallback = \"resume\"\ndelete = \"tail\"\n"
        "[[drivers.gpu0.patch]]\ncallback = \"resume\"\ndelete = \"restore-vram\"\n"
        "[[drivers.gpu0.patch]]\ncallback = \"suspend\"\ndelete = \"evict-vram\"\n",
        "[expect]\nviolations = [\"drvstate.stale\"]\n"));
    REQUIRE(r.status == "passed");
    bool tail = false;
    for (const auto& ev : r.stream.events)
        if (ev.kind == EvKind::Violation && ev.name == "drvstate.stale") tail = arg_value(ev, "message").find("TAIL") != std::string::npos;
    REQUIRE(tail);
}

namespace {
// qgpu with its firmware LOAD bit moved into CTRL, next to the engine's
// ENABLE and IRQ_EN (a register two behaviours use), in a folder of its own.
std::string shared_ctrl_device(const std::string& dir) {
    std::ifstream in(builtin_device("qgpu"));
    std::string text((std::istreambuf_iterator<char>(in)), {});
    auto swap = [&](const std::string& from, const std::string& to) {
        const size_t at = text.find(from);
        REQUIRE(at != std::string::npos);
        text.replace(at, from.size(), to);
    };
    swap("name = \"qgpu\"", "name = \"tshared\"");
    swap("rsvd = 0xfffffffc\nfields = { ENABLE = 0, IRQ_EN = 1 }", "rsvd = 0xfffffff8\nfields = { ENABLE = 0, IRQ_EN = 1, LOAD = 2 }");
    swap("load = \"FW_CTRL.LOAD\"", "load = \"CTRL.LOAD\"");
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/tshared.toml";
    std::ofstream(path) << text;
    return path;
}
}  // namespace

TEST_CASE("devices: a register two behaviours use keeps both write hooks - ENABLE written next to the firmware's LOAD "
          "starts the engine", "[devices]") {
    // Issue 15: one on_write hook per behaviour, the firmware's registered
    // last, so CTRL lost the engine's. The probe still worked (the firmware
    // load and every command ring TAIL, whose hook kicks the engine); what
    // broke is a command queued while the engine is disabled: setting
    // ENABLE must start it, as it does when CTRL is the engine's alone.
    const std::string dir = quiesce::test::tmp_path("shared-ctrl");
    const std::string file = shared_ctrl_device(dir);
    Facts f = quiesce::test::on_booted(
        "s3-gpu",
        [](Platform& p, Cpu& cpu, Facts& f) {
            auto* g = dynamic_cast<GenericPci*>(p.function("gpu0"));
            if (!g) return;
            GenericCore& core = g->core();
            const GenericDeviceDesc& d = core.desc();
            f["fw_ready"] = core.firmware_ready() ? "yes" : "no";  // LOAD through CTRL reached the firmware
            const uint64_t bar = g->bar_base(0);
            auto off = [&](const std::string& reg) {
                for (const auto& r : d.registers)
                    if (r.name == reg) return r.offset;
                SIM_PANIC("no register {}", reg);
            };
            cpu.write32(bar + off("CTRL"), 0x2);  // engine off, interrupt on
            const uint32_t head = uint32_t(core.role(d.engine.head));
            const uint64_t at = core.role(d.engine.ring_base) + uint64_t(head) * GenericDeviceDesc::kCmdSize;
            const uint64_t host = p.kernel().alloc(256, 64);
            struct {
                uint32_t op, len;
                uint64_t host, offset;
                uint32_t flags, cookie;
            } c{GenericDeviceDesc::OP_WRITE, 256, host, 0, GenericDeviceDesc::CMD_VALID, 99};
            cpu.write_block(at, &c, sizeof c);
            cpu.write32(bar + off("TAIL"), (head + 1) % 16);  // the doorbell, while disabled
            p.kernel().sleep(1'000'000'000);                  // 1 ms
            f["head_disabled"] = std::to_string(core.role(d.engine.head) - head);
            cpu.write32(bar + off("CTRL"), 0x3);  // ENABLE: the engine takes the queued command
            p.kernel().sleep(1'000'000'000);
            f["head_enabled"] = std::to_string(core.role(d.engine.head) - head);
            f["flags"] = std::to_string(cpu.read32(at + 24));
        },
        [&](Scenario& s) {
            for (auto& d : s.platform.devices)
                if (d.name == "gpu0") {
                    d.desc = load_device_file(file);
                    d.model = d.desc->name;
                }
        });
    std::filesystem::remove_all(dir);
    CHECK(f["fw_ready"] == "yes");
    CHECK(f["head_disabled"] == "0");
    CHECK(f["head_enabled"] == "1");
    CHECK(f["flags"] == std::to_string(GenericDeviceDesc::CMD_VALID | GenericDeviceDesc::CMD_DONE));
    CHECK(f["guest_errors"].empty());
}

namespace {
// When `device`'s `callback` slice begins and ends (0 if it did not run).
std::pair<Picos, Picos> callback_span(const RunResult& r, const std::string& callback, const std::string& device) {
    Picos begin = 0, end = 0;
    for (const auto& ev : r.stream.events)
        if (ev.category == "callback" && ev.name == callback && arg_value(ev, "device") == device) {
            if (ev.kind == EvKind::SliceBegin) begin = ev.ts;
            if (ev.kind == EvKind::SliceEnd) end = ev.ts;
        }
    return {begin, end};
}
}  // namespace

TEST_CASE("devices: [depends] - the GPU's audio function resumed before the GPU re-enables its block loses its state, "
          "the device link orders it", "[devices][multifunction]") {
    RunResult bad = execute(load_scenario(regression("s3-multifunction-no-link")));
    REQUIRE(bad.status == "passed");
    REQUIRE(bad.violations == std::set<std::string>{"hwstate.not-restored"});
    // Suspend was in a harmless order by timing alone (the audio function's
    // is short): it ended before the GPU's began writing CTRL. Resume: both
    // started together, and the audio function's ran inside the GPU's.
    auto [gpu_res_begin, gpu_res_end] = callback_span(bad, "resume", "gpu0");
    auto [hda_res_begin, hda_res_end] = callback_span(bad, "resume", "hda0");
    REQUIRE(gpu_res_begin > 0);
    CHECK(hda_res_begin < gpu_res_end);
    // Its first MMIO of resume found the block off, and said why.
    const Event* gated = nullptr;
    for (const auto& ev : bad.stream.events)
        if (ev.kind == EvKind::GuestError && ev.name == "pci.function-gated" && !gated) gated = &ev;
    REQUIRE(gated);
    CHECK(gated->ts > hda_res_begin);
    CHECK(gated->ts < gpu_res_end);
    CHECK(gated->phase == "resume");
    CHECK(arg_value(*gated, "message").find("CTRL.ENABLE clear") != std::string::npos);
    // Its FIFO copy never ran (the doorbell went nowhere): -ETIMEDOUT.
    bool timed_out = false;
    for (const auto& ev : bad.stream.events)
        if (ev.name == "callback-failed" && arg_value(ev, "device") == "hda0")
            timed_out = arg_value(ev, "callback") == "resume" && arg_value(ev, "rc") == "-110";
    CHECK(timed_out);
    // What the checker saw: hda0's CTRL (RUN and IE, set by its probe) is 0.
    bool ctrl = false;
    for (const auto& ev : bad.stream.events)
        if (ev.kind == EvKind::Violation && ev.name == "hwstate.not-restored")
            ctrl = ev.track.find("hda0") != std::string::npos &&
                   arg_value(ev, "evidence").find("\"CTRL\":\"before 0x3, after 0x0\"") != std::string::npos;
    CHECK(ctrl);

    // Without pm_async the PM core runs dpm_list's order, the GPU (listed
    // first) before its audio function: the bad order needs the asynchronous
    // resume, as on Linux.
    TempFile sync("[scenario]\nseed = 43\n[platform]\nname = \"pc-multifn-gpu\"\n[protocol]\nname = \"linux-s3\"\n"
                  "[properties]\n\"kernel.pm_async\" = false\n[expect]\nresult = \"pass\"\n");
    RunResult in_order = execute(load_scenario(sync.path()));
    CHECK(in_order.status == "passed");
    auto [gpu_sync_begin, gpu_sync_end] = callback_span(in_order, "resume", "gpu0");
    CHECK(gpu_sync_end <= callback_span(in_order, "resume", "hda0").first);

    // The same machine with the link: the audio function suspends before
    // the GPU and resumes after it; its block is on for every access.
    RunResult good = execute(load_scenario(regression("s3-multifunction-link")));
    REQUIRE(good.status == "passed");
    CHECK(good.violations.empty());
    CHECK(good.stream.summary.workload == "ok");
    auto [gpu_sus_begin, gpu_sus_end] = callback_span(good, "suspend", "gpu0");
    auto [hda_sus_begin, hda_sus_end] = callback_span(good, "suspend", "hda0");
    CHECK(hda_sus_end <= gpu_sus_begin);
    auto [gpu_begin, gpu_end] = callback_span(good, "resume", "gpu0");
    auto [hda_begin, hda_end] = callback_span(good, "resume", "hda0");
    CHECK(gpu_end <= hda_begin);
    for (const auto& ev : good.stream.events) CHECK_FALSE(ev.name == "pci.function-gated");
}

TEST_CASE("devices: bad [depends] tables name file:line:column and key", "[devices][multifunction]") {
    const std::string dep = kHead + kReg + "[depends]\n";
    CHECK(device_error(dep + "model = \"qgpu\"\nenable = \"CTRL.ENABLE\"\n") ==
          ":7:1: depends.function: is required: the number (0-7) of the function of the slot this one needs");
    CHECK_THAT(device_error(dep + "function = 8\nmodel = \"qgpu\"\nenable = \"CTRL.ENABLE\"\n"),
               Catch::StartsWith(":8:12: depends.function: "));
    CHECK(device_error(dep + "function = 0\nenable = \"CTRL.ENABLE\"\n") == ":7:1: depends.model: is required");
    CHECK(device_error(dep + "function = 0\nmodel = \"nosuch\"\nenable = \"CTRL.ENABLE\"\n") ==
          ":9:9: depends.model: no device file named 'nosuch' (devices/nosuch.toml)");
    CHECK(device_error(dep + "function = 0\nmodel = \"dma-engine\"\nenable = \"CTRL.ENABLE\"\n") ==
          ":9:9: depends.model: 'dma-engine' is a built-in device model: a dependency names a function described "
          "by a device file");
    CHECK(device_error(dep + "function = 0\nmodel = \"qgpu\"\nenable = \"POWER\"\n") ==
          ":10:10: depends.enable: qgpu has no register 'POWER'");
    CHECK(device_error(dep + "function = 0\nmodel = \"qgpu\"\nenable = \"CTRL.AUDIO_EN\"\n") ==
          ":10:10: depends.enable: qgpu's register CTRL has no field 'AUDIO_EN'");
    CHECK(device_error(dep + "function = 0\nmodel = \"qgpu\"\n") == ":7:1: depends.enable: is required");
    CHECK(device_error(dep + "function = 0\nmodel = \"qgpu\"\nenable = \"CTRL.ENABLE\"\nfield = \"X\"\n") ==
          ":11:1: depends.field: unknown key");
    // Its own model: a port function needing function 0, another of its kind.
    TempFile self(dep + "function = 0\nmodel = \"tdev\"\nenable = \"CTRL.ENABLE\"\n");
    auto d = read_device_file(self.path());
    CHECK(d->depends.on);
    CHECK(d->depends.model == "tdev");
    CHECK(d->depends.enable.text() == "CTRL.ENABLE");
    CHECK(device_error(dep + "function = 0\nmodel = \"tdev\"\nenable = \"CTRL.RUN\"\n") ==
          ":10:10: depends.enable: tdev's register CTRL has no field 'RUN'");
}
