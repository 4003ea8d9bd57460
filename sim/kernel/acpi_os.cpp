// The OS side of ACPI: the FADT at boot, the sleep sequence, the SCI and GPEs, NVS saved across S3.
#include "sim/kernel/acpi_os.h"

#include <fmt/format.h>

#include "models/cpu/cpu.h"
#include "sim/kernel/kernel.h"

#include <algorithm>

namespace quiesce {

namespace {
constexpr int kENOMEM = -12;
constexpr uint64_t kPage = 4096;
}  // namespace

bool AcpiOs::init(Cpu& cpu) {
    const uint64_t fadt = fw_.fadt();
    if (cpu.read32(fadt) != 0x50434146u) return false;  // "FACP"
    uint32_t len = cpu.read32(fadt + AcpiFirmware::FADT_LENGTH);
    if (len < AcpiFirmware::FADT_X_FIRMWARE_CTRL + 8 || len > 4096) return false;
    uint8_t sum = 0;
    for (uint32_t i = 0; i < len; i += 4) {
        uint32_t w = cpu.read32(fadt + i);
        for (unsigned b = 0; b < 4 && i + b < len; ++b) sum = uint8_t(sum + (w >> (8 * b)));
    }
    if (sum != 0) return false;
    pm1_evt_ = cpu.read32(fadt + AcpiFirmware::FADT_PM1A_EVT_BLK);
    pm1_cnt_ = cpu.read32(fadt + AcpiFirmware::FADT_PM1A_CNT_BLK);
    gpe0_ = cpu.read32(fadt + AcpiFirmware::FADT_GPE0_BLK);
    uint32_t lens = cpu.read32(fadt + AcpiFirmware::FADT_PM1_EVT_LEN);  // PM1_EVT_LEN, PM1_CNT_LEN, ..
    pm1_evt_len_ = lens & 0xff;
    gpe0_len_ = cpu.read32(fadt + AcpiFirmware::FADT_GPE0_BLK_LEN) & 0xff;
    sci_irq_ = cpu.read32(fadt + AcpiFirmware::FADT_SCI_INT) & 0xffff;
    // Boot: every GPE off and clear (acpi_ev_initialize_gpe_block); the wake
    // GPEs are not runtime GPEs (ACPI_GPE_CAN_WAKE).
    cpu.write32(gpe_en(), 0);
    cpu.write32(gpe_sts(), 0xffffffff);
    ec_ = fw_.has_ec();
    if (ec_) {  // acpi_ec_add: the EC's GPE is a runtime GPE, its handler the query
        runtime_gpes_ |= 1u << AcpiFirmware::kEcGpe;
        gpe_handlers_[AcpiFirmware::kEcGpe].push_back([this](Cpu& c) { ec_dispatch(c); });
        cpu.write32(gpe_en(), runtime_gpes_);
    }
    for (unsigned s : {0u, 3u, 4u, 5u}) sleep_type_[s] = fw_.sx(cpu, s);
    // acpi_sleep_dmi_check: BIOSes from 2012 on skip NVS for S3, then the
    // DMI table's entry for this machine, if any.
    nvs_nosave_ = false;
    nvs_nosave_s3_ = fw_.bios_year() >= 2012;
    const std::string quirk = fw_.acpi_sleep_quirk();
    if (quirk == "nvs_nosave") nvs_nosave_ = true;
    if (quirk == "nvs_save_s3") nvs_nosave_s3_ = false;
    // suspend_nvs_register: the e820 NVS range in pieces that do not cross a page.
    nvs_.clear();
    for (uint64_t a = fw_.nvs(), end = fw_.nvs() + fw_.nvs_size(); a < end;) {
        const uint64_t n = std::min(end - a, kPage - (a & (kPage - 1)));
        nvs_.push_back({a, n, 0});
        a += n;
    }
    return pm1_evt_ && pm1_cnt_ && gpe0_;
}

int AcpiOs::nvs_alloc(Cpu& cpu, Kernel& kernel, unsigned state) {
    if (!nvs_saved_for(state)) {
        kernel.hub().instant(kernel.path(), "nvs-not-saved", "firmware",
                             {{"state", std::to_string(state)},
                              {"reason", nvs_nosave_ ? "nvs_nosave (acpisleep_dmi_table)"
                                                     : "nvs_nosave_s3 (BIOS from " + std::to_string(fw_.bios_year()) +
                                                           ", 2012 or later)"}});
        return 0;
    }
    uint64_t bytes = 0;
    for (const NvsPage& e : nvs_) bytes += e.size;
    kernel.hub().slice_begin(kernel.path(), "suspend_nvs_alloc", "firmware", {{"bytes", std::to_string(bytes)}});
    int rc = 0;
    for (NvsPage& e : nvs_) {
        if (e.data) continue;
        std::vector<uint64_t> page;
        if (kernel.alloc_pages(cpu, 1, Kernel::Gfp::Kernel, page) != 0) {  // __get_free_page(GFP_KERNEL)
            nvs_free(kernel);
            rc = kENOMEM;
            break;
        }
        e.data = page[0];
    }
    kernel.hub().slice_end(kernel.path(), "suspend_nvs_alloc", "firmware", {{"rc", std::to_string(rc)}});
    return rc;
}

void AcpiOs::nvs_copy(Cpu& cpu, Kernel& kernel, bool save) {
    uint64_t bytes = 0;
    for (const NvsPage& e : nvs_) bytes += e.data ? e.size : 0;
    if (!bytes) return;  // nothing allocated: the policy left NVS alone
    const char* name = save ? "suspend_nvs_save" : "suspend_nvs_restore";
    kernel.hub().slice_begin(kernel.path(), name, "firmware",
                             {{"addr", fmt::format("{:#x}", fw_.nvs())}, {"bytes", std::to_string(bytes)}});
    std::vector<uint8_t> buf(kPage);
    for (const NvsPage& e : nvs_) {
        if (!e.data) continue;
        if (save) cpu.compute(Cycles(400));  // acpi_os_get_iomem, else acpi_os_ioremap of the piece
        const uint64_t from = save ? e.phys : e.data, to = save ? e.data : e.phys;
        cpu.read_block(from, buf.data(), unsigned(e.size));  // memcpy
        cpu.write_block(to, buf.data(), unsigned(e.size));
    }
    kernel.hub().slice_end(kernel.path(), name, "firmware");
}

void AcpiOs::nvs_save(Cpu& cpu, Kernel& kernel) { nvs_copy(cpu, kernel, true); }

void AcpiOs::nvs_restore(Cpu& cpu, Kernel& kernel) { nvs_copy(cpu, kernel, false); }

void AcpiOs::nvs_free(Kernel& kernel) {
    for (NvsPage& e : nvs_)
        if (e.data) {
            kernel.free_page(e.data);
            e.data = 0;
        }
}

bool AcpiOs::add_wake_device(Cpu& cpu, const std::string& device, std::function<void(Cpu&)> notify) {
    int gpe = fw_.prw(cpu, device);
    if (gpe < 0 || gpe >= int(gpe0_len_ / 2 * 8)) return false;
    wake_gpes_ |= 1u << gpe;
    gpe_handlers_[unsigned(gpe)].push_back(std::move(notify));
    return true;
}

void AcpiOs::prepare(Cpu& cpu, unsigned state, uint64_t waking_vector) {
    if (state == 3) {  // acpi_sleep_prepare sets the waking vector for S3 only
        cpu.write32(fw_.facs() + AcpiFirmware::FACS_WAKING_VECTOR, uint32_t(waking_vector));
        cpu.write64(fw_.facs() + AcpiFirmware::FACS_X_WAKING_VECTOR, 0);
    }
    if (state < 6) sleep_type_[state] = fw_.sx(cpu, state);
    if (!can_enter(state)) return;  // AE_NOT_FOUND: Linux ignores the status; SLP_EN will refuse
    fw_.pts(cpu, state);
}

uint64_t AcpiOs::enter(Cpu& cpu, unsigned state, bool flush_caches, bool legacy_gts_bfs) {
    // Clear WAK_STS and every other status bit, the GPEs' too; disable all
    // GPEs, then enable the wake GPEs only (acpi_hw_enable_all_wakeup_gpes).
    cpu.write16(pm1_sts(), 0xffff);
    cpu.write32(gpe_en(), 0);
    cpu.write32(gpe_sts(), 0xffffffff);
    cpu.write32(gpe_en(), wake_gpes_);
    cpu.write16(pm1_en(), AcpiPm::EN_RTC | AcpiPm::EN_PWRBTN);
    if (legacy_gts_bfs && fw_.has_gts_bfs()) fw_.gts(cpu, state);  // ACPI_EXECUTE_GTS (Linux < 3.4, gts=1)
    uint32_t cnt = cpu.read32(pm1_cnt_);
    cnt &= ~(AcpiPm::CNT_SLP_TYP_MASK | AcpiPm::CNT_SLP_EN);
    cnt |= uint32_t(sleep_type_[state]) << AcpiPm::CNT_SLP_TYP_SHIFT;
    cpu.write32(pm1_cnt_, cnt);  // SLP_TYP alone first (chipset workaround)
    if (flush_caches) cpu.wbinvd();  // ACPI_FLUSH_CPU_CACHE: S1-S3 lose the caches
    cpu.write32(pm1_cnt_, cnt | AcpiPm::CNT_SLP_EN);
    return cpu.wait_for_start();
}

void AcpiOs::leave_prep(Cpu& cpu, unsigned state, bool legacy_bfs) {
    uint32_t cnt = cpu.read32(pm1_cnt_);
    cnt &= ~(AcpiPm::CNT_SLP_TYP_MASK | AcpiPm::CNT_SLP_EN);
    cnt |= uint32_t(sleep_type_[0] < 0 ? 0 : sleep_type_[0]) << AcpiPm::CNT_SLP_TYP_SHIFT;
    cpu.write32(pm1_cnt_, cnt);
    if (legacy_bfs && fw_.has_gts_bfs()) fw_.bfs(cpu, state);  // ACPI_EXECUTE_BFS (Linux < 3.4)
}

uint32_t AcpiOs::finish(Cpu& cpu, unsigned state) {
    // GPEs off and clear, then the runtime ones; then _WAK.
    cpu.write32(gpe_en(), 0);
    cpu.write32(gpe_sts(), 0xffffffff);
    cpu.write32(gpe_en(), runtime_gpes_);
    uint32_t status = fw_.wak(cpu, state);
    cpu.write16(pm1_sts(), AcpiPm::STS_WAK);
    if (state == 3) cpu.write32(fw_.facs() + AcpiFirmware::FACS_WAKING_VECTOR, 0);
    return status;
}

void AcpiOs::set_rtc_alarm(Cpu& cpu, Picos after) {
    uint64_t at_us = (now_ps() + after) / 1'000'000ULL;
    cpu.write64(pm1_evt_ + AcpiPm::RTC_ALARM, at_us);
    // rtc-cmos arms the ACPI RTC fixed event for a wakeup alarm (acpi_enable_event).
    cpu.write16(pm1_en(), cpu.read16(pm1_en()) | AcpiPm::EN_RTC);
}

void AcpiOs::enable_power_button(Cpu& cpu) { cpu.write16(pm1_en(), cpu.read16(pm1_en()) | AcpiPm::EN_PWRBTN); }

bool AcpiOs::sci(Cpu& cpu, Kernel& kernel) {
    uint16_t sts = cpu.read16(pm1_sts()), en = cpu.read16(pm1_en());
    uint16_t events = sts & en & (AcpiPm::STS_RTC | AcpiPm::STS_PWRBTN);
    if (events) {
        cpu.write16(pm1_sts(), events);
        if (events & AcpiPm::STS_RTC) kernel.pm_wakeup_event("rtc");
        if (events & AcpiPm::STS_PWRBTN) kernel.pm_wakeup_event("power-button");
    }
    // acpi_ev_gpe_detect: each enabled GPE that is set; a level GPE is
    // cleared after its method ran (the source has been dealt with).
    uint32_t gpes = cpu.read32(gpe_sts()) & cpu.read32(gpe_en());
    for (unsigned g = 0; g < 32; ++g) {
        if (!(gpes & (1u << g))) continue;
        auto it = gpe_handlers_.find(g);
        if (it != gpe_handlers_.end())
            for (auto& notify : it->second) notify(cpu);
        cpu.write32(gpe_sts(), 1u << g);
    }
    return events || gpes;
}

void AcpiOs::ec_dispatch(Cpu& cpu) {
    const uint64_t ec = pm1_evt_ + AcpiPm::EC_SC;
    if (!(cpu.read8(ec) & AcpiPm::EC_SCI_EVT)) return;
    cpu.write8(ec, AcpiPm::EC_QR);
    const uint8_t query = cpu.read8(pm1_evt_ + AcpiPm::EC_DATA);
    if (query) fw_.ec_query(cpu, query);
}

void AcpiOs::s2idle_prepare(Cpu& cpu, Kernel& kernel) {
    sci_was_wake_ = kernel.irq_wake(sci_irq_);
    kernel.set_irq_wake(sci_irq_, true);  // enable_irq_wake(acpi_sci_irq)
    // acpi_ec_set_gpe_wake_mask(ACPI_GPE_ENABLE), acpi_enable_all_wakeup_gpes.
    cpu.write32(gpe_en(), wake_gpes_ | (ec_ ? 1u << AcpiFirmware::kEcGpe : 0));
}

void AcpiOs::s2idle_restore(Cpu& cpu, Kernel& kernel) {
    kernel.set_irq_wake(sci_irq_, sci_was_wake_);  // disable_irq_wake(acpi_sci_irq)
    cpu.write32(gpe_en(), runtime_gpes_);          // acpi_enable_all_runtime_gpes
}

bool AcpiOs::s2idle_wake(Cpu& cpu, Kernel& kernel, std::string& why) {
    if (kernel.pm_wakeup_irq() != int(sci_irq_)) {
        why = "wakeup unrelated to the SCI";
        return true;
    }
    const uint16_t fixed = cpu.read16(pm1_sts()) & cpu.read16(pm1_en()) & (AcpiPm::STS_RTC | AcpiPm::STS_PWRBTN);
    if (fixed) {
        why = fixed & AcpiPm::STS_PWRBTN ? "ACPI fixed event: power button" : "ACPI fixed event: RTC alarm";
        return true;
    }
    const uint32_t gpes = cpu.read32(gpe_sts()) & cpu.read32(gpe_en());
    const uint32_t ec_bit = ec_ ? 1u << AcpiFirmware::kEcGpe : 0;
    for (unsigned g = 0; g < 32; ++g)
        if ((gpes & ~ec_bit) & (1u << g)) {
            why = "ACPI GPE " + std::to_string(g);
            return true;  // acpi_ec_dispatch_gpe: a non-EC GPE is a wakeup
        }
    const uint64_t before = kernel.wakeup_count();
    if (gpes & ec_bit) {  // the EC's event, dispatched here (acpi_ec_dispatch_gpe)
        ec_dispatch(cpu);
        cpu.write32(gpe_sts(), ec_bit);
    }
    if (kernel.wakeup_count() != before) {  // "Wakeup after ACPI Notify sync"
        why = "wakeup after the EC's Notify";
        return true;
    }
    why = gpes & ec_bit ? "EC event (GPE " + std::to_string(AcpiFirmware::kEcGpe) + "), not a wakeup"
                        : "SCI with no ACPI wake event";
    return false;
}

void AcpiOs::lps0(Cpu& cpu, const std::string& function) {
    const unsigned fn = function == "display-off" ? 3 : function == "display-on" ? 4 : function == "entry" ? 5 : 6;
    fw_.lps0_dsm(cpu, fn);
}

}  // namespace quiesce
