// Platform firmware: the FADT and FACS in firmware-owned memory (the FADT
// tells the OS where the PM1 and GPE0 blocks are, the SCI's IRQ and the FACS;
// the FACS holds the hardware signature and the waking vector), an ACPI NVS
// range (one page, e820 type 4) its AML writes, the global control methods
// _TTS/_PTS/_WAK and the legacy _GTS/_BFS as routines that run on the calling
// CPU with cycle costs and real memory accesses, the devices' _PRW (which GPE
// wakes for them), and the S3 resume path (restore the chipset, read the
// waking vector, start the boot CPU there, or cold boot when it is 0).
//
// NVS across S3: the RAM stays in self-refresh, but firmware itself may use
// part of NVS while the machine sleeps - SMM, the embedded controller's save
// area, the S3 resume path's memory init (the `s3_resume_scratch_nvs`
// property, or the firmware-clobber fault): the 64 bytes at NVS_SCRATCH are
// not what they were when the OS runs again, unless the OS saved the range
// before the sleep and puts it back after the wake (drivers/acpi/nvs.c,
// AcpiOs::nvs_save / nvs_restore). AML that keeps a _PTS -> _WAK context
// there (`wak_restores_irq_routing`) then acts on what firmware left.
// Whether Linux saves NVS for S3 depends on the machine's DMI data, which
// this model also holds: the BIOS date (`bios_year`) and an entry in Linux's
// acpisleep_dmi_table (`acpi_sleep_quirk`).
#pragma once

#include "sim/core/memory.h"
#include "sim/core/module.h"

#include <functional>
#include <string>
#include <vector>

namespace quiesce {

class Cpu;

class AcpiFirmware : public Module {
public:
    // FACS layout (ACPI 6.x §5.2.10).
    static constexpr uint64_t FACS_SIGNATURE = 0, FACS_LENGTH = 4, FACS_HW_SIGNATURE = 8,
                              FACS_WAKING_VECTOR = 12, FACS_FLAGS = 20, FACS_X_WAKING_VECTOR = 24,
                              FACS_VERSION = 32;
    // FADT fields (ACPI 6.x §5.2.9; the 32-bit block addresses).
    static constexpr uint64_t FADT_LENGTH = 4, FADT_CHECKSUM = 9, FADT_FIRMWARE_CTRL = 36, FADT_SCI_INT = 46,
                              FADT_PM1A_EVT_BLK = 56, FADT_PM1A_CNT_BLK = 64, FADT_GPE0_BLK = 80,
                              FADT_PM1_EVT_LEN = 88, FADT_PM1_CNT_LEN = 89, FADT_GPE0_BLK_LEN = 92,
                              FADT_FLAGS = 112, FADT_X_FIRMWARE_CTRL = 132;
    static constexpr uint32_t kFadtSize = 276, FADT_F_WBINVD = 1u << 0;
    static constexpr uint64_t kFadtOffset = 0x100;  // after the FACS
    // NVS variables the AML uses.
    static constexpr uint64_t NVS_PTS_STATE = 0, NVS_TTS_STATE = 4, NVS_WAKE_COUNT = 8, NVS_GTS_STATE = 12,
                              NVS_PTS_DEVICE = 16,  // what _PTS read from a device (pts_reads_device)
                              NVS_LPS0 = 20;        // the last LPS0 _DSM function the AML saw
    // What firmware also writes while the machine sleeps (SMM, the EC's save
    // area, the S3 resume path's memory init): 64 bytes.
    static constexpr uint64_t NVS_SCRATCH = 0x40, NVS_SCRATCH_LEN = 64;
    // The wake context _PTS keeps there for _WAK (wak_restores_irq_routing):
    // the chipset's four PIRQ route bytes.
    static constexpr uint64_t NVS_WAKE_PIRQ = NVS_SCRATCH;
    // The ACPI NVS range firmware reports (e820 type 4, ACPI 6.x §15): a page.
    static constexpr uint64_t kNvsSize = 0x1000;
    // The chipset's PIRQA-D route registers, in 00:00.0's config space.
    static constexpr uint64_t kPirqRout = 0x60;
    // The GPE the chipset sets for PME# of the functions on bus 0 (ICH's PME_B0_STS).
    static constexpr unsigned kPmeB0Gpe = 13;
    // The embedded controller's GPE (the ECDT's GPE number; a runtime GPE).
    static constexpr unsigned kEcGpe = 23;
    // The DSDT's sleep packages (\_S0 .. \_S5: Package {SLP_TYPa, SLP_TYPb,
    // 0, 0}), where install() lays them out: 4 bytes a state (defined,
    // SLP_TYPa, SLP_TYPb, 0).
    static constexpr uint64_t kSxOffset = 0x300;

    AcpiFirmware(const sc_core::sc_module_name& name, RunContext& ctx, PhysicalMemory& mem, uint64_t facs,
                 uint64_t nvs, uint32_t hw_signature);

    uint64_t facs() const { return facs_; }
    uint64_t fadt() const { return facs_ + kFadtOffset; }
    uint64_t nvs() const { return nvs_; }
    uint64_t nvs_size() const { return kNvsSize; }
    // DMI data the OS matches its quirks against: the BIOS date's year
    // (dmi_get_bios_year) and this machine's entry in Linux's
    // acpisleep_dmi_table, if any: "nvs_nosave" (init_nvs_nosave),
    // "nvs_save_s3" (init_nvs_save_s3) or "".
    int bios_year() const { return int(props().get<int64_t>("bios_year")); }
    std::string acpi_sleep_quirk() const { return props().get<std::string>("acpi_sleep_quirk"); }
    // Where the platform put the PM register block and which IRQ is the SCI
    // (before install()).
    void set_pm_block(uint64_t base, unsigned sci_irq) { pm_base_ = base, sci_irq_ = sci_irq; }
    // Where PCI configuration space is (ECAM), for AML that reads a device.
    void set_ecam(uint64_t base) { ecam_ = base; }
    // The DSDT: a device with a _PRW on bus 0 (its wake GPE).
    void add_wake_device(const std::string& device) { wake_devices_.push_back(device); }

    // Boot: lay out FACS and NVS (zero-time: before the OS runs).
    void install();

    // AML methods, run on `cpu` by the OS.
    void tts(Cpu& cpu, unsigned state);
    void pts(Cpu& cpu, unsigned state);
    uint32_t wak(Cpu& cpu, unsigned state);  // returns the _WAK status word
    // Legacy (deprecated in ACPI 5.0A, gone from Linux in 3.4): _GTS right
    // before SLP_EN, _BFS right after wake, both with interrupts off. False
    // when the DSDT does not define them (the `gts_bfs` property).
    bool has_gts_bfs() const;
    void gts(Cpu& cpu, unsigned state);
    void bfs(Cpu& cpu, unsigned state);
    // Suspend-to-idle (drivers/acpi/x86/s2idle.c): the LPS0 device's
    // (PNP0D80) _DSM, function 3 display off, 4 display on, 5 entry, 6 exit -
    // a no-op on a platform without one (the `lps0` property). Traced as
    // `LPS0._DSM(n)` firmware slices.
    bool has_lps0() const;
    // The platform has an ACPI embedded controller (the `ec` property): its
    // GPE kEcGpe is the OS's to enable at runtime.
    bool has_ec() const;
    void lps0_dsm(Cpu& cpu, unsigned function);
    // The embedded controller's query (acpi_ec_dispatch_gpe -> QR_EC -> _Qxx):
    // the AML's Notify for an EC event (a battery status change): not a
    // wakeup. Traced as a `_Qxx` firmware slice.
    void ec_query(Cpu& cpu, unsigned query);
    // _PRW of `device`: the GPE its wake signal sets, or -1 without one.
    int prw(Cpu& cpu, const std::string& device);
    // \_Sx as the OS's AML interpreter evaluates it (acpi_get_sleep_type_data):
    // the SLP_TYP value that enters sleep state `state` on this platform, or
    // -1 when the DSDT defines no such package (the state is not supported).
    int sx(Cpu& cpu, unsigned state);

    // S3 resume path, run by the platform on wake. `restore_chipset` re-
    // programs what firmware owns (PIRQ routing); `start` resumes a CPU.
    void s3_resume(const std::function<void()>& restore_chipset, const std::function<void(uint64_t)>& start);
    // A normal boot (after S4/S5): POST, FACS and NVS laid out again, the
    // chipset programmed.
    // A normal boot; `after_state` is the sleep state power came back from
    // (4: hibernation, 5: soft-off or a power cut), 0 for the first boot.
    void cold_boot(const std::function<void()>& program_chipset, unsigned after_state = 0);
    void set_hw_signature(uint32_t sig) { hw_signature_ = sig; }
    // The firmware-clobber fault: while the machine next sleeps, firmware
    // (SMM, the embedded controller's save area) writes its scratch bytes in
    // the NVS region; the wake path does it.
    void clobber_nvs_while_asleep() { clobber_pending_ = true; }
    uint32_t hw_signature() const { return hw_signature_; }

private:
    void method(Cpu& cpu, const char* name, unsigned arg, Cycles cost, const std::function<void()>& body);
    // The wake path: the scratch bytes written when the fault is pending or,
    // on an S3 resume, when `s3_resume_scratch_nvs` says firmware uses them.
    void clobber_if_pending(bool s3_resume);

    PhysicalMemory& mem_;
    uint64_t facs_;
    uint64_t nvs_;
    uint32_t hw_signature_;
    bool clobber_pending_ = false;
    uint64_t pm_base_ = 0;
    uint64_t ecam_ = 0;
    unsigned sci_irq_ = 9;
    std::vector<std::string> wake_devices_;
};

}  // namespace quiesce
