// Platform firmware: the FADT and FACS, the AML methods as timed sequences, the waking vector.
#include "models/acpi/firmware.h"
#include "sim/core/sync.h"

#include <fmt/format.h>

#include "models/cpu/cpu.h"
#include "sim/fault/injector.h"

#include <cstdio>
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
    props().declare("gts_bfs", true,
                    "The DSDT defines the legacy _GTS and _BFS (old firmware); they run only when the kernel's "
                    "acpi_gts_bfs asks for them");
    props().declare("gts_cycles", int64_t(10'000), "CPU cycles _GTS takes");
    props().declare("bfs_cycles", int64_t(10'000), "CPU cycles _BFS takes");
    props().declare("prw_pme_b0_gpe", int64_t(kPmeB0Gpe),
                    "The GPE the DSDT's _PRW names for wake devices on bus 0; the chipset sets GPE 13 (PME_B0) for "
                    "their PME#, so another value is the BIOS bug that leaves USB wake dead");
    props().declare("pts_reads_device", std::string(""),
                    "Old firmware whose _PTS reads a device's registers (\"dd.f\" on bus 0: BAR0 from config "
                    "space, then its first MMIO register): it expects _PTS before the devices are suspended (ACPI 1.0 "
                    "ordering, Linux's acpi_sleep=old_ordering)");
    // The chipset (AcpiPm, ICH-style) decodes SLP_TYP 5 as S3, 6 as S4, 7 as S5.
    props().declare("s3_slp_typ", int64_t(5),
                    "SLP_TYPa in the DSDT's _S3 package, what the OS writes to enter S3 (the chipset decodes 5 as "
                    "S3: another value is a BIOS for another chipset; 8 or more: no _S3, S3 unsupported)");
    props().declare("s4_slp_typ", int64_t(6), "SLP_TYPa in the DSDT's _S4 package (the chipset's S4: 6; 8 or more: no _S4)");
    props().declare("s5_slp_typ", int64_t(7), "SLP_TYPa in the DSDT's _S5 package (the chipset's S5: 7; 8 or more: no _S5)");
    props().declare("lps0", true,
                    "The platform has a Low Power S0 Idle device (PNP0D80) whose _DSM suspend-to-idle calls around "
                    "the idle loop (display off, entry; exit, display on); false: no LPS0 calls");
    props().declare("ec", false,
                    "The platform has an ACPI embedded controller (ECDT): its GPE 23 is a runtime GPE, enabled from "
                    "boot on, and a wake GPE in suspend-to-idle");
    props().declare("lps0_cycles", int64_t(30'000), "CPU cycles one LPS0 _DSM call takes");
    props().declare("restore_irq_routing", true,
                    "S3 resume reprograms the chipset's PIRQ routing; false: left to the OS (irqrouter_resume)");
    // NVS across S3 (reference/linux-pm.md §3.3, bugzilla 189431).
    props().declare("bios_year", int64_t(2015),
                    "DMI BIOS date, its year: Linux saves NVS across S3 only for BIOSes before 2012 "
                    "(acpi_sleep_dmi_check sets nvs_nosave_s3 from 2012 on), unless acpi_sleep_quirk says otherwise");
    props().declare("acpi_sleep_quirk", std::string(""),
                    "This machine's entry in Linux's acpisleep_dmi_table: \"nvs_nosave\" (init_nvs_nosave, the Sony "
                    "VAIO entries: NVS never saved), \"nvs_save_s3\" (init_nvs_save_s3, Lenovo G50-45: NVS saved for "
                    "S3 although the BIOS is from 2012 or later) or \"\" (none)");
    props().declare("s3_resume_scratch_nvs", false,
                    "The S3 resume path (memory init, SMM) uses the 64 scratch bytes of NVS as working memory: what "
                    "was there before the sleep is gone when the OS runs again, unless the OS restores NVS");
    props().declare("wak_restores_irq_routing", false,
                    "_PTS keeps the chipset's PIRQ routing in NVS (its scratch bytes) and _WAK writes it back from "
                    "there: AML that needs NVS to survive S3");
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
    // The FADT: where the fixed hardware is, for the OS to find.
    uint8_t table[kFadtSize] = {};
    auto put32 = [&](uint64_t off, uint32_t v) { std::memcpy(table + off, &v, 4); };
    std::memcpy(table, "FACP", 4);
    put32(FADT_LENGTH, kFadtSize);
    table[8] = 6;  // revision
    std::memcpy(table + 10, "QUIESC", 6);
    std::memcpy(table + 16, "PCBASIC ", 8);
    put32(FADT_FIRMWARE_CTRL, uint32_t(facs_));
    uint16_t sci = uint16_t(sci_irq_);
    std::memcpy(table + FADT_SCI_INT, &sci, 2);
    put32(FADT_PM1A_EVT_BLK, uint32_t(pm_base_));
    put32(FADT_PM1A_CNT_BLK, uint32_t(pm_base_ + 4));
    put32(FADT_GPE0_BLK, uint32_t(pm_base_ + 0x10));
    table[FADT_PM1_EVT_LEN] = 4;
    table[FADT_PM1_CNT_LEN] = 4;
    table[FADT_GPE0_BLK_LEN] = 8;
    put32(FADT_FLAGS, FADT_F_WBINVD);
    uint64_t x = facs_;
    std::memcpy(table + FADT_X_FIRMWARE_CTRL, &x, 8);
    uint8_t sum = 0;
    for (uint8_t b : table) sum = uint8_t(sum + b);
    table[FADT_CHECKSUM] = uint8_t(-sum);
    mem_.poke(fadt(), table, sizeof table, path());
    // The DSDT's sleep packages: \_S0 always, \_S3-\_S5 as the properties say.
    uint8_t sx[6 * 4] = {};
    auto package = [&](unsigned state, int64_t typ) {
        if (typ < 0 || typ > 7) return;  // SLP_TYP is 3 bits: no package
        sx[4 * state] = 1;
        sx[4 * state + 1] = sx[4 * state + 2] = uint8_t(typ);
    };
    package(0, 0);
    package(3, props().get<int64_t>("s3_slp_typ"));
    package(4, props().get<int64_t>("s4_slp_typ"));
    package(5, props().get<int64_t>("s5_slp_typ"));
    mem_.poke(facs_ + kSxOffset, sx, sizeof sx, path());
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

bool AcpiFirmware::has_lps0() const { return props().get<bool>("lps0"); }
bool AcpiFirmware::has_ec() const { return props().get<bool>("ec"); }

void AcpiFirmware::lps0_dsm(Cpu& cpu, unsigned function) {
    method(cpu, "LPS0._DSM", function, prop_cycles("lps0_cycles"), [&] { cpu.write32(nvs_ + NVS_LPS0, function); });
}

void AcpiFirmware::ec_query(Cpu& cpu, unsigned query) {
    const std::string m = fmt::format("_Q{:02X}", query);
    hub().slice_begin(path(), m, "firmware", {{"source", "ec"}});
    cpu.compute(Cycles(5'000));  // Notify(BAT0, 0x80): a battery status change
    hub().slice_end(path(), m, "firmware");
}

void AcpiFirmware::tts(Cpu& cpu, unsigned state) {
    method(cpu, "_TTS", state, prop_cycles("tts_cycles"), [&] { cpu.write32(nvs_ + NVS_TTS_STATE, state); });
}

void AcpiFirmware::pts(Cpu& cpu, unsigned state) {
    method(cpu, "_PTS", state, prop_cycles("pts_cycles"), [&] {
        cpu.write32(nvs_ + NVS_PTS_STATE, state);
        // Its wake context: the PIRQ routes, through a PCI_Config
        // OperationRegion over 00:00.0, into NVS for _WAK.
        if (ecam_ && props().get<bool>("wak_restores_irq_routing"))
            for (uint64_t i = 0; i < 4; ++i) cpu.write8(nvs_ + NVS_WAKE_PIRQ + i, cpu.read8(ecam_ + kPirqRout + i));
        // An OperationRegion over a device: PCI_Config for its BAR, then
        // SystemMemory at the BAR (a device in D3hot master-aborts).
        const std::string dev = props().get<std::string>("pts_reads_device");
        unsigned d = 0, f = 0;
        if (!dev.empty() && ecam_ && std::sscanf(dev.c_str(), "%x.%x", &d, &f) == 2) {
            const uint64_t cfg = ecam_ + (uint64_t(d & 0x1f) << 15) + (uint64_t(f & 7) << 12);
            const uint32_t bar = cpu.read32(cfg + 0x10) & ~0xfu;
            if (bar) cpu.write32(nvs_ + NVS_PTS_DEVICE, cpu.read32(bar));
        }
    });
}

uint32_t AcpiFirmware::wak(Cpu& cpu, unsigned state) {
    uint32_t status = 0;
    method(cpu, "_WAK", state, prop_cycles("wak_cycles"), [&] {
        uint32_t pts = cpu.read32(nvs_ + NVS_PTS_STATE);
        if (pts != state) status |= 1;  // "wake failed": the sleep we wake from is not the one _PTS saw
        cpu.write32(nvs_ + NVS_PTS_STATE, 0);
        cpu.write32(nvs_ + NVS_WAKE_COUNT, cpu.read32(nvs_ + NVS_WAKE_COUNT) + 1);
        // The routing back as _PTS kept it - or as whatever now holds those
        // NVS bytes says.
        if (ecam_ && props().get<bool>("wak_restores_irq_routing"))
            for (uint64_t i = 0; i < 4; ++i) cpu.write8(ecam_ + kPirqRout + i, cpu.read8(nvs_ + NVS_WAKE_PIRQ + i));
    });
    return status;
}

bool AcpiFirmware::has_gts_bfs() const { return props().get<bool>("gts_bfs"); }

void AcpiFirmware::gts(Cpu& cpu, unsigned state) {
    method(cpu, "_GTS", state, prop_cycles("gts_cycles"), [&] { cpu.write32(nvs_ + NVS_GTS_STATE, state); });
}

void AcpiFirmware::bfs(Cpu& cpu, unsigned state) {
    method(cpu, "_BFS", state, prop_cycles("bfs_cycles"), [&] { cpu.write32(nvs_ + NVS_GTS_STATE, 0); });
}

int AcpiFirmware::prw(Cpu& cpu, const std::string& device) {
    cpu.compute(Cycles(2'000));  // evaluating the package
    for (const auto& d : wake_devices_)
        if (d == device) return int(props().get<int64_t>("prw_pme_b0_gpe"));
    return -1;
}

int AcpiFirmware::sx(Cpu& cpu, unsigned state) {
    cpu.compute(Cycles(2'000));  // evaluating the package
    if (state > 5) return -1;
    const uint32_t package = cpu.read32(facs_ + kSxOffset + 4 * state);
    return package & 0xff ? int((package >> 8) & 7) : -1;
}

void AcpiFirmware::cold_boot(const std::function<void()>& program_chipset, unsigned after_state) {
    hub().slice_begin(path(), "post", "firmware");
    // POST and the S3 resume path include the 100 ms a PCI function needs
    // after power-on before its config space answers: jitter only lengthens them.
    quiesce::wait(from_ps(ctx().timing.vary_up(Picos(props().get<int64_t>("post_ms")) * 1'000'000'000ULL)));
    // Hardware changed while hibernated (a dock, a memory module, a BIOS
    // update): firmware reports a new signature in the FACS.
    if (after_state == 4 && props().get<int64_t>("hw_signature_after_s4") != 0) {
        hw_signature_ = uint32_t(props().get<int64_t>("hw_signature_after_s4"));
        hub().instant(path(), "hardware-signature-changed", "firmware",
                      {{"signature", fmt::format("{:#x}", hw_signature_)}});
    }
    install();
    clobber_if_pending(false);
    program_chipset();
    hub().slice_end(path(), "post", "firmware");
}

void AcpiFirmware::clobber_if_pending(bool s3_resume) {
    const bool resume_uses = s3_resume && props().get<bool>("s3_resume_scratch_nvs");
    if (!clobber_pending_ && !resume_uses) return;
    const char* by = clobber_pending_ ? "fault" : "s3-resume";
    clobber_pending_ = false;
    uint8_t scratch[NVS_SCRATCH_LEN];
    for (uint64_t i = 0; i < NVS_SCRATCH_LEN; ++i) scratch[i] = uint8_t(0xa5 ^ i ^ mem_.peek32(nvs_ + NVS_WAKE_COUNT));
    mem_.poke(nvs_ + NVS_SCRATCH, scratch, sizeof scratch, path());
    hub().instant(path(), "nvs-written", "firmware",
                  {{"addr", fmt::format("{:#x}", nvs_ + NVS_SCRATCH)}, {"bytes", std::to_string(NVS_SCRATCH_LEN)},
                   {"by", by}});
}

void AcpiFirmware::s3_resume(const std::function<void()>& restore_chipset,
                             const std::function<void(uint64_t)>& start) {
    hub().slice_begin(path(), "s3-resume", "firmware");
    quiesce::wait(from_ps(ctx().timing.vary_up(Picos(props().get<int64_t>("s3_resume_us")) * 1'000'000ULL)));
    clobber_if_pending(true);
    restore_chipset();
    uint32_t vector = mem_.peek32(facs_ + FACS_WAKING_VECTOR);
    hub().slice_end(path(), "s3-resume", "firmware", {{"waking_vector", std::to_string(vector)}});
    if (vector == 0) hub().instant(path(), "cold-boot", "firmware");
    start(vector);
}

}  // namespace quiesce
