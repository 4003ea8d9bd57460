#include "models/acpi/acpi_os.h"

#include "models/cpu/cpu.h"
#include "sim/kernel/kernel.h"

namespace quiesce {

void AcpiOs::prepare(Cpu& cpu, unsigned state, uint64_t waking_vector) {
    if (state == 3) {  // acpi_sleep_prepare sets the waking vector for S3 only
        cpu.write32(fw_.facs() + AcpiFirmware::FACS_WAKING_VECTOR, uint32_t(waking_vector));
        cpu.write64(fw_.facs() + AcpiFirmware::FACS_X_WAKING_VECTOR, 0);
    }
    fw_.pts(cpu, state);
}

uint64_t AcpiOs::enter(Cpu& cpu, unsigned state, bool flush_caches) {
    // Clear WAK_STS and every other status bit, enable the wake events.
    cpu.write16(base_ + AcpiPm::PM1_STS, 0xffff);
    cpu.write16(base_ + AcpiPm::PM1_EN, AcpiPm::EN_RTC | AcpiPm::EN_PWRBTN);
    uint32_t cnt = cpu.read32(base_ + AcpiPm::PM1_CNT);
    cnt &= ~(AcpiPm::CNT_SLP_TYP_MASK | AcpiPm::CNT_SLP_EN);
    cnt |= pm_.sleep_type(state) << AcpiPm::CNT_SLP_TYP_SHIFT;
    cpu.write32(base_ + AcpiPm::PM1_CNT, cnt);  // SLP_TYP alone first (chipset workaround)
    if (flush_caches) cpu.wbinvd();             // ACPI_FLUSH_CPU_CACHE: S1-S3 lose the caches
    cpu.write32(base_ + AcpiPm::PM1_CNT, cnt | AcpiPm::CNT_SLP_EN);
    return cpu.wait_for_start();
}

uint32_t AcpiOs::finish(Cpu& cpu, unsigned state) {
    uint32_t status = fw_.wak(cpu, state);
    cpu.write16(base_ + AcpiPm::PM1_STS, AcpiPm::STS_WAK);
    if (state == 3) cpu.write32(fw_.facs() + AcpiFirmware::FACS_WAKING_VECTOR, 0);
    return status;
}

void AcpiOs::set_rtc_alarm(Cpu& cpu, Picos after) {
    uint64_t at_us = (now_ps() + after) / 1'000'000ULL;
    cpu.write64(base_ + AcpiPm::RTC_ALARM, at_us);
    // rtc-cmos arms the ACPI RTC fixed event for a wakeup alarm (acpi_enable_event).
    cpu.write16(base_ + AcpiPm::PM1_EN, cpu.read16(base_ + AcpiPm::PM1_EN) | AcpiPm::EN_RTC);
}

void AcpiOs::enable_power_button(Cpu& cpu) {
    cpu.write16(base_ + AcpiPm::PM1_EN, cpu.read16(base_ + AcpiPm::PM1_EN) | AcpiPm::EN_PWRBTN);
}

bool AcpiOs::sci(Cpu& cpu, Kernel& kernel) {
    uint16_t sts = cpu.read16(base_ + AcpiPm::PM1_STS), en = cpu.read16(base_ + AcpiPm::PM1_EN);
    uint16_t events = sts & en & (AcpiPm::STS_RTC | AcpiPm::STS_PWRBTN);
    if (!events) return false;
    cpu.write16(base_ + AcpiPm::PM1_STS, events);
    if (events & AcpiPm::STS_RTC) kernel.pm_wakeup_event("rtc");
    if (events & AcpiPm::STS_PWRBTN) kernel.pm_wakeup_event("power-button");
    return true;
}

}  // namespace quiesce
