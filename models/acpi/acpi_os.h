// The OS side of ACPI system sleep (drivers/acpi/sleep.c and ACPICA
// hwsleep.c), run on the boot CPU: begin (_TTS), prepare (waking vector,
// _PTS), the low-level enter sequence, finish (_WAK, WAK_STS, vector cleared)
// and end (_TTS(0)).
#pragma once

#include "models/acpi/acpi_pm.h"
#include "models/acpi/firmware.h"

namespace quiesce {

class Cpu;
class Kernel;

class AcpiOs {
public:
    AcpiOs(AcpiFirmware& fw, AcpiPm& pm, uint64_t pm_base) : fw_(fw), pm_(pm), base_(pm_base) {}

    void begin(Cpu& cpu, unsigned state) { fw_.tts(cpu, state); }
    void prepare(Cpu& cpu, unsigned state, uint64_t waking_vector);
    // acpi_hw_legacy_sleep: returns the vector the CPU was started at.
    // Clears the status bits, arms the wake events, writes SLP_TYP, flushes
    // the CPU caches (WBINVD, unless `flush_caches` is false: a bug), then
    // SLP_TYP|SLP_EN; returns the vector firmware starts the CPU at.
    uint64_t enter(Cpu& cpu, unsigned state, bool flush_caches = true);
    uint32_t finish(Cpu& cpu, unsigned state);
    void end(Cpu& cpu) { fw_.tts(cpu, 0); }
    // acpi_button: the power button fixed event, enabled from boot on.
    void enable_power_button(Cpu& cpu);
    // The SCI handler: acknowledges the fixed events that fired (RW1C) and
    // reports each as a wakeup event. True if there was one.
    bool sci(Cpu& cpu, Kernel& kernel);
    // Arms the RTC alarm `after` from now (rtcwake).
    void set_rtc_alarm(Cpu& cpu, Picos after);

private:
    AcpiFirmware& fw_;
    AcpiPm& pm_;
    uint64_t base_;
};

}  // namespace quiesce
