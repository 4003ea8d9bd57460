// The OS side of ACPI (drivers/acpi/sleep.c, ACPICA hwsleep.c, evgpe.c), run
// on the boot CPU. At boot it finds the fixed hardware through the FADT
// (PM1a event and control blocks, GPE0 block, SCI_INT, FACS). System sleep:
// begin (_TTS), prepare (waking vector, _PTS, wake GPEs of the devices that
// may wake the system, from their _PRW), the low-level enter sequence, finish
// (_BFS when asked, GPEs cleared, runtime GPEs back, _WAK, WAK_STS, vector
// cleared) and end (_TTS(0)). The SCI handler serves the fixed events and the
// GPEs (a GPE's handler is its _Lxx method: a Notify to the device). ACPI NVS
// (drivers/acpi/nvs.c): copied into kernel pages after _PTS and back right
// after the wake, when the policy read from the machine's DMI data says so.
#pragma once

#include "models/acpi/acpi_pm.h"
#include "models/acpi/firmware.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace quiesce {

class Cpu;
class Kernel;

class AcpiOs {
public:
    explicit AcpiOs(AcpiFirmware& fw) : fw_(fw) {}

    // acpi_tb_parse_fadt: reads the FADT (checksum, block addresses, SCI);
    // acpi_sleep_init: which sleep states the DSDT's _Sx packages define.
    // False when the table is not there or fails its checksum.
    bool init(Cpu& cpu);
    unsigned sci_irq() const { return sci_irq_; }

    void begin(Cpu& cpu, unsigned state) { fw_.tts(cpu, state); }
    // acpi_sleep_prepare: the waking vector (S3), then
    // acpi_enter_sleep_state_prep - the _Sx package evaluated again for its
    // SLP_TYP (without one it stops there, before _PTS), then _PTS.
    void prepare(Cpu& cpu, unsigned state, uint64_t waking_vector);
    // Whether SLP_TYP for `state` is known (acpi_enter_sleep_state refuses
    // out-of-range sleep values: AE_AML_OPERAND_VALUE).
    bool can_enter(unsigned state) const { return state < 6 && sleep_type_[state] >= 0; }
    // acpi_hw_legacy_sleep: clears the status bits (WAK_STS, the GPEs), leaves
    // only the wake GPEs enabled, runs _GTS when `legacy_gts_bfs`, writes
    // SLP_TYP (the _Sx package's), flushes the CPU caches (WBINVD, unless `flush_caches` is
    // false: a bug), then SLP_TYP|SLP_EN; returns the vector firmware starts
    // the CPU at.
    uint64_t enter(Cpu& cpu, unsigned state, bool flush_caches = true, bool legacy_gts_bfs = false);
    // acpi_leave_sleep_state_prep, right after the wake with interrupts off
    // and one CPU (acpi_suspend_enter, acpi_hibernation_leave): SLP_TYP back
    // to _S0's - the chipset keeps what the OS wrote (ACPICA's
    // acpi_hw_legacy_wake_prep) - then _BFS when `legacy_bfs`.
    void leave_prep(Cpu& cpu, unsigned state, bool legacy_bfs = false);
    // acpi_leave_sleep_state: runtime GPEs, _WAK, WAK_STS cleared, the
    // waking vector reset (S3).
    uint32_t finish(Cpu& cpu, unsigned state);
    void end(Cpu& cpu) { fw_.tts(cpu, 0); }
    // acpi_button: the power button fixed event, enabled from boot on.
    void enable_power_button(Cpu& cpu);
    // A device that may wake the system (device_may_wakeup): its _PRW GPE
    // joins the wake GPEs armed at SLP_EN, and `notify` is its Notify(2)
    // handler when the GPE fires (pci_acpi_wake_dev). False without a _PRW.
    bool add_wake_device(Cpu& cpu, const std::string& device, std::function<void(Cpu&)> notify);
    // The SCI handler: acknowledges the fixed events that fired (RW1C) and
    // reports each as a wakeup event, then runs the handlers of the enabled
    // GPEs that are set. True if there was one.
    bool sci(Cpu& cpu, Kernel& kernel);
    // Arms the RTC alarm `after` from now (rtcwake).
    void set_rtc_alarm(Cpu& cpu, Picos after);

    // Suspend-to-idle (drivers/acpi/sleep.c, drivers/acpi/x86/s2idle.c).
    // s2idle_prepare (acpi_s2idle_prepare): enable_irq_wake(SCI), the EC's
    // GPE made a wake GPE, every wake GPE enabled and the runtime-only ones
    // off (acpi_enable_all_wakeup_gpes) - the platform stays in S0, so an
    // enabled GPE raises the SCI. s2idle_restore (acpi_s2idle_restore): the
    // runtime GPEs back, the SCI's wake setting as it was.
    void s2idle_prepare(Cpu& cpu, Kernel& kernel);
    void s2idle_restore(Cpu& cpu, Kernel& kernel);
    // acpi_s2idle_wake, after a wakeup event in the idle loop: whether it is
    // a real wakeup (`why` says which). A wakeup that is not the SCI's, an
    // enabled fixed event, or a GPE other than the EC's is real; otherwise
    // the EC's event is dispatched (QR_EC, its _Qxx) and, with no wakeup
    // event since, it was spurious: the caller rearms the SCI and idles again.
    bool s2idle_wake(Cpu& cpu, Kernel& kernel, std::string& why);
    bool has_lps0() const { return fw_.has_lps0(); }
    // The LPS0 _DSM: "display-off" (3), "display-on" (4), "entry" (5), "exit" (6).
    void lps0(Cpu& cpu, const std::string& function);
    // The platform has an embedded controller (the firmware's `ec`): its GPE
    // is a runtime GPE from boot on.
    bool has_ec() const { return ec_; }

    // ACPI NVS across system sleep (drivers/acpi/nvs.c, sleep.c). init()
    // registers the firmware's NVS range in page-sized pieces
    // (suspend_nvs_register) and reads the policy from the DMI data
    // (acpi_sleep_dmi_check): nvs_nosave for a machine the acpisleep_dmi_table
    // lists with init_nvs_nosave; nvs_nosave_s3 for a BIOS from 2012 or
    // later, unless the table lists it with init_nvs_save_s3.
    // Whether NVS is saved across sleep state `state` (3 or 4).
    bool nvs_saved_for(unsigned state) const { return !nvs_nosave_ && !(state == 3 && nvs_nosave_s3_); }
    // suspend_nvs_alloc (acpi_suspend_begin, acpi_hibernation_begin): a kernel
    // page for every piece, unless the policy leaves NVS alone for `state`
    // (an `nvs-not-saved` instant says why). 0 or -ENOMEM.
    int nvs_alloc(Cpu& cpu, Kernel& kernel, unsigned state);
    // suspend_nvs_save (acpi_pm_prepare -> acpi_pm_pre_suspend, after _PTS):
    // every piece copied into its page by the CPU, through memory.
    void nvs_save(Cpu& cpu, Kernel& kernel);
    // suspend_nvs_restore (acpi_suspend_enter right after the wake, one CPU
    // and interrupts off; acpi_hibernation_leave): the pages copied back.
    void nvs_restore(Cpu& cpu, Kernel& kernel);
    // suspend_nvs_free (acpi_pm_finish).
    void nvs_free(Kernel& kernel);

private:
    uint64_t pm1_sts() const { return pm1_evt_; }
    uint64_t pm1_en() const { return pm1_evt_ + pm1_evt_len_ / 2; }
    uint64_t gpe_sts() const { return gpe0_; }
    uint64_t gpe_en() const { return gpe0_ + gpe0_len_ / 2; }

    AcpiFirmware& fw_;
    uint64_t pm1_evt_ = 0, pm1_cnt_ = 0, gpe0_ = 0;
    unsigned pm1_evt_len_ = 4, gpe0_len_ = 8, sci_irq_ = 9;
    // No GPE of the platform is a runtime GPE: the ones _PRW names are wake
    // GPEs (ACPI_GPE_CAN_WAKE), enabled only for sleep.
    static constexpr uint32_t kRuntimeGpes = 0;
    uint32_t wake_gpes_ = 0;
    uint32_t runtime_gpes_ = kRuntimeGpes;  // + the EC's GPE when there is an EC
    bool ec_ = false;
    bool sci_was_wake_ = false;  // the SCI's wake setting before s2idle_prepare
    void ec_dispatch(Cpu& cpu);  // acpi_ec_gpe_handler: the query, its _Qxx
    int sleep_type_[6] = {-1, -1, -1, -1, -1, -1};  // SLP_TYPa per state from _Sx; -1: none
    struct NvsPage {
        uint64_t phys = 0, size = 0;
        uint64_t data = 0;  // its kernel page while allocated, else 0
    };
    std::vector<NvsPage> nvs_;
    bool nvs_nosave_ = false, nvs_nosave_s3_ = false;
    void nvs_copy(Cpu& cpu, Kernel& kernel, bool save);
    std::map<unsigned, std::vector<std::function<void(Cpu&)>>> gpe_handlers_;
};

}  // namespace quiesce
