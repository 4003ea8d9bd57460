// Platform firmware: the FACS in firmware-owned memory (hardware signature,
// waking vector), an NVS region its AML writes, the global control methods
// _TTS/_PTS/_WAK as routines that run on the calling CPU with cycle costs and
// real memory accesses, and the S3 resume path (restore the chipset, read the
// waking vector, start the boot CPU there, or cold boot when it is 0).
#pragma once

#include "sim/core/memory.h"
#include "sim/core/module.h"

#include <functional>

namespace quiesce {

class Cpu;

class AcpiFirmware : public Module {
public:
    // FACS layout (ACPI 6.x §5.2.10).
    static constexpr uint64_t FACS_SIGNATURE = 0, FACS_LENGTH = 4, FACS_HW_SIGNATURE = 8,
                              FACS_WAKING_VECTOR = 12, FACS_FLAGS = 20, FACS_X_WAKING_VECTOR = 24,
                              FACS_VERSION = 32;
    // NVS variables the AML uses.
    static constexpr uint64_t NVS_PTS_STATE = 0, NVS_TTS_STATE = 4, NVS_WAKE_COUNT = 8;

    AcpiFirmware(const sc_core::sc_module_name& name, RunContext& ctx, PhysicalMemory& mem, uint64_t facs,
                 uint64_t nvs, uint32_t hw_signature);

    uint64_t facs() const { return facs_; }
    uint64_t nvs() const { return nvs_; }

    // Boot: lay out FACS and NVS (zero-time: before the OS runs).
    void install();

    // AML methods, run on `cpu` by the OS.
    void tts(Cpu& cpu, unsigned state);
    void pts(Cpu& cpu, unsigned state);
    uint32_t wak(Cpu& cpu, unsigned state);  // returns the _WAK status word

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
    static constexpr uint64_t NVS_SCRATCH = 0x40, NVS_SCRATCH_LEN = 64;
    uint32_t hw_signature() const { return hw_signature_; }

private:
    void method(Cpu& cpu, const char* name, unsigned arg, Cycles cost, const std::function<void()>& body);
    void clobber_if_pending();

    PhysicalMemory& mem_;
    uint64_t facs_;
    uint64_t nvs_;
    uint32_t hw_signature_;
    bool clobber_pending_ = false;
};

}  // namespace quiesce
