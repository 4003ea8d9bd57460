// The platform's power: the chipset firmware programs at boot and on S3 resume, a sleep or a cut removing power
// (what an armed device keeps), power back, firmware's wake (the S3 waking vector, or a boot that looks for an
// image), and what the plan's point faults do to the machine.
#include "sim/scenario/platform.h"
#include "sim/core/sync.h"

#include "sim/core/errors.h"
#include "sim/fault/injector.h"
#include "sim/kernel/journal_fs.h"

#include <fmt/format.h>

namespace quiesce {

// Firmware programs the chipset's PIRQ routing at boot and again on S3 resume
// (the chipset core well loses it): PIRQA/C -> IRQ 10, PIRQB/D -> IRQ 11.
void Platform::firmware_program_chipset(bool s3_resume) {
    static const uint8_t route[4] = {10, 11, 10, 11};
    // A firmware that leaves the routing to the OS on S3 resume (a knob).
    if (!s3_resume || firmware_->props().get<bool>("restore_irq_routing"))
        for (unsigned i = 0; i < 4; ++i)
            host_->config().write(PciHostBridge::PIRQ_ROUT + i, 1, route[i], firmware_->path());
    Register& cnt = acpi_pm_->regs().reg("PM1_CNT");
    cnt.set(cnt.value() | AcpiPm::CNT_SCI_EN);
}

// Sleep removes power from every device except those armed to wake the
// system (wake = true in the platform and PME_En set by the PCI core): they
// stay in D3hot on auxiliary power, with their state.
void Platform::cut_power(Picos restore_after) {
    for (auto& c : cpus_) c->forget_start();  // the software waits for the start after this cut
    acpi_pm_->power_cut(restore_after);
}

// What the point faults of the plan do to this machine when they fire.
void Platform::install_faults() {
    FaultInjector& f = ctx_.faults;
    f.on_point("wake-event", [this](const FaultSpec& r) {
        if (r.source == "rtc") acpi_pm_->rtc_alarm_now();
        else if (r.source == "usb-key") {
            if (UsbKeyboard* kbd = keyboard()) kbd->press_key(0x04);  // 'a'
        }
        else acpi_pm_->press_power_button();
    });
    f.on_point("spurious-irq", [this](const FaultSpec& r) {
        // A glitch on the line: asserted for 2 us with no device behind it.
        unsigned line = unsigned(r.irq >= 0 ? r.irq : 10);
        quiesce::spawn([this, line] {
            intc_->set_input(line, true);
            quiesce::wait(sc_core::sc_time(2, sc_core::SC_US));
            intc_->set_input(line, false);
        });
    });
    f.on_point("hw-signature-change", [this](const FaultSpec& r) {
        // Hardware changes while the machine is off: firmware reports the new
        // signature at its next boot.
        uint32_t sig = r.signature ? uint32_t(r.signature) : firmware_->hw_signature() + 1;
        firmware_->props().set("hw_signature_after_s4", PropValue(int64_t(sig)));
    });
    f.on_point("firmware-clobber", [this](const FaultSpec&) { firmware_->clobber_nvs_while_asleep(); });
    // A power cut that is not at a phase boundary (a time, a drive's
    // persistence point, a torn write): the software stops where it is.
    f.on_point("power-loss", [this](const FaultSpec& r) {
        kernel_->power_failed();
        cut_power(r.restore_after);
    });
}

// offline-fs-write: another OS with the root partition [0, root_sectors)
// mounted while this machine is off (the disk in another machine, a second
// OS booted in between): it goes through the filesystem's on-disk format -
// a journal replay, the mount counted, one journalled transaction, a clean
// unmount - and its writes reach the platters (that machine flushed them).
// They are not this machine's writes: the drive's write log does not hold
// them, the `offline-fs-write` instant names every sector.
void Platform::offline_fs_write(SataDrive& drive, const std::string& disk, uint64_t root_sectors, const FaultSpec& f) {
    const unsigned ss = drive.sector_size(), spb = qfs::kBlock / ss;
    qfs::BlockReader read = [&](uint64_t block) {
        std::vector<uint8_t> data;
        for (unsigned i = 0; i < spb; ++i) {
            auto s = drive.media(block * spb + i);
            data.insert(data.end(), s.begin(), s.end());
        }
        return data;
    };
    qfs::BlockWriter write = [&](uint64_t block, const std::vector<uint8_t>& data) {
        for (unsigned i = 0; i < spb; ++i)
            drive.format(block * spb + i, std::vector<uint8_t>(data.begin() + i * ss, data.begin() + (i + 1) * ss));
    };
    qfs::OfflineChange c;
    c.remove = f.op == "delete";
    c.file_block = f.file_block;
    c.stamp = now_ps();
    qfs::OfflineResult r = qfs::offline_change(read, write, root_sectors / spb, c);
    std::string sectors;
    for (uint64_t b : r.blocks)
        for (unsigned i = 0; i < spb; ++i) sectors += (sectors.empty() ? "" : ",") + std::to_string(b * spb + i);
    kernel_->hub().instant(disk, "offline-fs-write", "fault",
                           {{"op", f.op}, {"path", qfs::kFilePath}, {"ino", std::to_string(r.before.ino)},
                            {"file_block", std::to_string(f.file_block)}, {"error", r.error},
                            {"tid", std::to_string(r.tid)}, {"mounts", std::to_string(r.after.mounts)},
                            {"generation_before", std::to_string(r.before.generation)},
                            {"generation", std::to_string(r.after.generation)},
                            {"version_before", std::to_string(r.before.version)},
                            {"version", std::to_string(r.after.version)},
                            {"exists", r.after.exists ? "1" : "0"}, {"sectors", sectors}});
}

void Platform::power_down(unsigned state) {
    ++ctx_.power_downs;  // transactions in flight never complete
    if (state >= 4) mem_->lose_contents();  // S4/S5: no self-refresh
    for (auto& d : devs_) {
        bool armed = !acpi_pm_->mains_lost() && d.spec.wake && (d.fn->config().reg("PMCSR").value() & pci::PMCSR_PME_EN);
        // The USB power session lost: the armed controller's auxiliary
        // power drops too (a board that cuts Vaux in S3, a hub losing VBUS).
        if (armed && state == 3 && d.spec.type == "xhci" && d.fn->fault("usb-power-loss")) armed = false;
        if (armed) kernel_->hub().instant(d.fn->path(), "aux-power", "power");
        else d.fn->power_off();
        if (d.drive) d.drive->power_off();
        // While the machine is off after S4, a bit of the image may flip on the media.
        if (d.drive && state == 4 && ctx_.faults.armed("image-bit-flip")) {
            const FaultSpec* flip = ctx_.faults.fire("image-bit-flip", d.spec.disk, d.spec.disk);
            if (flip) {
                int64_t sector = flip_image_bit(*d.drive, d.spec.swap_first_sector(), flip->page);
                kernel_->hub().instant(d.spec.disk, "image-bit-flipped", "fault",
                                       {{"page", std::to_string(flip->page)}, {"sector", std::to_string(sector)}});
            }
        }
        // ... or another OS may mount the root filesystem and change it.
        if (d.drive && state == 4 && ctx_.faults.armed("offline-fs-write")) {
            if (const FaultSpec* w = ctx_.faults.fire("offline-fs-write", d.spec.disk, d.spec.disk))
                offline_fs_write(*d.drive, d.spec.disk, d.spec.swap_first_sector(), *w);
        }
    }
    for (auto& u : usb_) hot_plug(u, state);
    intc_->power_off();
    for (auto& c : cpus_) c->lose_context(state == 3);  // S3: memory in self-refresh keeps what DRAM holds
}

// usb-unplug, usb-swap: while the machine sleeps in S3 a person takes the
// USB device out of its port (and plugs another disk in): the controller's
// port shows it as hardware does, whatever power it has.
void Platform::hot_plug(UsbDev& u, unsigned state) {
    if (state != 3 || u.removed) return;
    if (ctx_.faults.armed("usb-unplug") && ctx_.faults.fire("usb-unplug", u.spec.name, u.spec.name))
        usb_hot_plug(u.spec.name, false);
    else if (u.other && ctx_.faults.armed("usb-swap") && ctx_.faults.fire("usb-swap", u.spec.name, u.spec.name))
        usb_hot_plug(u.spec.name, true);
}

bool Platform::usb_hot_plug(const std::string& device, bool swap) {
    for (auto& u : usb_) {
        if (u.spec.name != device || u.removed || (swap && !u.other)) continue;
        for (auto& d : devs_)
            if (auto* hc = dynamic_cast<XhciPci*>(d.fn); hc && d.spec.name == u.spec.parent) {
                hc->core().unplug(u.spec.port - 1);
                if (swap) hc->core().plug(u.spec.port - 1, *u.other);
                u.removed = true;
                u.swapped = swap;
                return true;
            }
    }
    return false;
}

void Platform::power_up(unsigned) {
    for (auto& d : devs_) {
        d.fn->power_on();
        if (d.drive) d.drive->power_on();
    }
}

void Platform::firmware_wake(unsigned state) {
    if (state == 3) {
        firmware_->s3_resume([this] { firmware_program_chipset(true); },
                             [this](uint64_t vector) { cpus_[0]->start_at(vector); });
        return;
    }
    // S4: a normal boot. Firmware lays out its tables again and the boot
    // loader starts the (restore) kernel.
    cpus_[0]->power_on_reset();
    firmware_->cold_boot([this] { firmware_program_chipset(); }, state);
    if (restore_kernel_) {  // every boot looks for an image (software_resume): one consumed is gone
        restore_kernel_->take_interrupts();
        restore_kernel_->boot();
    } else {
        cpus_[0]->start_at(kNormalBootVector);  // no resume kernel to look for an image: a fresh boot
    }
}

}  // namespace quiesce
