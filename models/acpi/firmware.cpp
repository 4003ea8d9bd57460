#include "models/acpi/firmware.h"

#include <fmt/format.h>

#include "models/cpu/cpu.h"

#include <cstring>

namespace quiesce {

AcpiFirmware::AcpiFirmware(const sc_core::sc_module_name& name, RunContext& ctx, PhysicalMemory& mem,
                           uint64_t facs, uint64_t nvs, uint32_t hw_signature)
    : Module(name, ctx), mem_(mem), facs_(facs), nvs_(nvs), hw_signature_(hw_signature) {
    hub().declare_track({path(), "", "firmware", "", 0});
    props().declare("tts_cycles", int64_t(20'000), "CPU cycles _TTS takes");
    props().declare("pts_cycles", int64_t(50'000), "CPU cycles _PTS takes");
    props().declare("wak_cycles", int64_t(100'000), "CPU cycles _WAK takes");
    props().declare("s3_resume_us", int64_t(120'000), "Firmware S3 resume (POST-lite) before the waking vector, in us");
    props().declare("post_ms", int64_t(800), "Firmware POST on a normal boot, in ms");
    props().declare("hw_signature_after_s4", int64_t(0),
                    "FACS hardware signature after a boot from S4 (0: unchanged): hardware changed while hibernated");
    props().declare("restore_irq_routing", true,
                    "S3 resume reprograms the chipset's PIRQ routing; false: left to the OS (irqrouter_resume)");
}

void AcpiFirmware::install() {
    uint8_t facs[64] = {};
    std::memcpy(facs + FACS_SIGNATURE, "FACS", 4);
    uint32_t len = 64;
    std::memcpy(facs + FACS_LENGTH, &len, 4);
    std::memcpy(facs + FACS_HW_SIGNATURE, &hw_signature_, 4);
    facs[FACS_VERSION] = 2;
    mem_.poke(facs_, facs, sizeof facs, path());
    uint8_t nvs[16] = {};
    mem_.poke(nvs_, nvs, sizeof nvs, path());
}

void AcpiFirmware::method(Cpu& cpu, const char* name, unsigned arg, Cycles cost,
                          const std::function<void()>& body) {
    std::string m = std::string(name) + "(" + std::to_string(arg) + ")";
    hub().slice_begin(path(), m, "firmware");
    cpu.compute(cost);
    // The interpreter hits an error (a bad opcode, a timed-out field access)
    // before the method's effects: AE_AML_*. Linux logs it and goes on
    // (acpi_enter_sleep_state_prep's status is ignored; _WAK and _TTS are
    // logged) - what the method did not do shows later.
    if (ctx().faults.armed("acpi-method-error") && ctx().faults.fire("acpi-method-error", name, path())) {
        hub().slice_end(path(), m, "firmware", {{"status", "AE_AML_OPERAND_TYPE"}});
        return;
    }
    body();
    hub().slice_end(path(), m, "firmware");
}

void AcpiFirmware::tts(Cpu& cpu, unsigned state) {
    method(cpu, "_TTS", state, prop_cycles("tts_cycles"), [&] { cpu.write32(nvs_ + NVS_TTS_STATE, state); });
}

void AcpiFirmware::pts(Cpu& cpu, unsigned state) {
    method(cpu, "_PTS", state, prop_cycles("pts_cycles"), [&] { cpu.write32(nvs_ + NVS_PTS_STATE, state); });
}

uint32_t AcpiFirmware::wak(Cpu& cpu, unsigned state) {
    uint32_t status = 0;
    method(cpu, "_WAK", state, prop_cycles("wak_cycles"), [&] {
        uint32_t pts = cpu.read32(nvs_ + NVS_PTS_STATE);
        if (pts != state) status |= 1;  // "wake failed": the sleep we wake from is not the one _PTS saw
        cpu.write32(nvs_ + NVS_PTS_STATE, 0);
        cpu.write32(nvs_ + NVS_WAKE_COUNT, cpu.read32(nvs_ + NVS_WAKE_COUNT) + 1);
    });
    return status;
}

void AcpiFirmware::cold_boot(const std::function<void()>& program_chipset, unsigned after_state) {
    hub().slice_begin(path(), "post", "firmware");
    sc_core::wait(from_ps(Picos(props().get<int64_t>("post_ms")) * 1'000'000'000ULL));
    // Hardware changed while hibernated (a dock, a memory module, a BIOS
    // update): firmware reports a new signature in the FACS.
    if (after_state == 4 && props().get<int64_t>("hw_signature_after_s4") != 0) {
        hw_signature_ = uint32_t(props().get<int64_t>("hw_signature_after_s4"));
        hub().instant(path(), "hardware-signature-changed", "firmware",
                      {{"signature", fmt::format("{:#x}", hw_signature_)}});
    }
    install();
    clobber_if_pending();
    program_chipset();
    hub().slice_end(path(), "post", "firmware");
}

void AcpiFirmware::clobber_if_pending() {
    if (!clobber_pending_) return;
    clobber_pending_ = false;
    uint8_t scratch[NVS_SCRATCH_LEN];
    for (uint64_t i = 0; i < NVS_SCRATCH_LEN; ++i) scratch[i] = uint8_t(0xa5 ^ i ^ mem_.peek32(nvs_ + NVS_WAKE_COUNT));
    mem_.poke(nvs_ + NVS_SCRATCH, scratch, sizeof scratch, path());
    hub().instant(path(), "nvs-written", "firmware",
                  {{"addr", fmt::format("{:#x}", nvs_ + NVS_SCRATCH)}, {"bytes", std::to_string(NVS_SCRATCH_LEN)}});
}

void AcpiFirmware::s3_resume(const std::function<void()>& restore_chipset,
                             const std::function<void(uint64_t)>& start) {
    hub().slice_begin(path(), "s3-resume", "firmware");
    sc_core::wait(from_ps(Picos(props().get<int64_t>("s3_resume_us")) * 1'000'000ULL));
    clobber_if_pending();
    restore_chipset();
    uint32_t vector = mem_.peek32(facs_ + FACS_WAKING_VECTOR);
    hub().slice_end(path(), "s3-resume", "firmware", {{"waking_vector", std::to_string(vector)}});
    if (vector == 0) hub().instant(path(), "cold-boot", "firmware");
    start(vector);
}

}  // namespace quiesce
