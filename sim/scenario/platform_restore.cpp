// Hibernation's second kernels on the platform: the restore kernel that boots after S4, loads the image and jumps
// into it (or mounts the root first, as an initramfs must not), and kexec-s4's save kernel that writes the image;
// each with its own driver for the disk.
#include "sim/scenario/platform.h"

#include "sim/check/image_check.h"
#include "sim/kernel/journal_fs.h"

namespace quiesce {

const Platform::Dev* Platform::ahci_device() const {
    for (const auto& d : devs_)
        if (d.spec.type == "ahci") return &d;
    return nullptr;
}

// A second kernel's own driver for the disk (the restore kernel, kexec-s4's
// save kernel: the same kernel, so the same driver files), reporting to the
// same durability oracle.
std::unique_ptr<AhciDriver> Platform::disk_driver(Kernel& k, PciCore& core, const Dev& d) {
    auto ahci = std::make_unique<AhciDriver>(d.spec.name, d.fn->path(), d.spec.disk, k, core,
                                             scenario_.drivers.at(d.spec.name), scenario_.drivers.at(d.spec.disk));
    ahci->set_observer(block_observer_);
    return ahci;
}

int Platform::kexec_save(Cpu& cpu, Hibernation& hibernation) {
    if (!restore_kernel_) return -22;
    if (int rc = hibernation.kexec_prepare(cpu)) return rc;
    Kernel& sk = *restore_kernel_;
    sk.reset_state();  // the loaded kernel starts afresh at every jump
    sk.hub().instant(kernel_->path(), "kexec-jump", "hibernation", {{"to", sk.path()}});
    sk.hub().slice_begin(sk.path(), "save-kernel", "hibernation");
    sk.take_interrupts();
    cpu.local_irq_enable();
    PciCore core(kEcamBase, kPciMmioBase, kPciMmioSize);
    core.enumerate(cpu);
    int rc = -19;  // -ENODEV: no disk to write to
    const Dev* d = ahci_device();
    if (PciDev* dev = d ? find_pci(core, *d) : nullptr) {
        // What the image kernel left in the HBA, which the save kernel puts
        // back in this order (the command engine's PxCMD last).
        const uint64_t abar = core.cfg_read(cpu, *dev, pci::BAR0 + 4 * AhciPci::kAbar, 4) & ~0xfu;
        static const uint32_t kKept[] = {Ahci::GHC, Ahci::PxCLB, Ahci::PxCLBU, Ahci::PxFB, Ahci::PxFBU, Ahci::PxIE,
                                         Ahci::PxCMD};
        std::vector<uint32_t> kept;
        for (uint32_t r : kKept) kept.push_back(cpu.read32(abar + r));
        std::unique_ptr<AhciDriver> ahci = disk_driver(sk, core, *d);
        rc = ahci->probe(cpu, *dev);
        if (rc == 0) rc = hibernation.kexec_write(cpu, sk, *ahci);
        ahci->pm("freeze", cpu, *dev);  // the port stopped: nothing in flight
        if (dev->irq != 0xff) sk.free_irq(dev->irq, d->spec.name);
        for (size_t i = 0; i < kept.size(); ++i) cpu.write32(abar + kKept[i], kept[i]);
    }
    cpu.local_irq_disable();
    kernel_->take_interrupts();
    sk.hub().slice_end(sk.path(), "save-kernel", "hibernation", {{"rc", std::to_string(rc)}});
    sk.hub().instant(kernel_->path(), "kexec-return", "hibernation", {{"rc", std::to_string(rc)}});
    return rc;
}

// An initramfs that mounts the root filesystem before resuming from
// hibernation (Documentation/power/swsusp.rst: never do this). Mounting
// replays the journal - even for a read-only mount - and counts itself in
// the superblock, so the disk no longer matches the image's idea of it.
void Platform::mount_root(Kernel& rk, Cpu& cpu, AhciDriver& disk, uint64_t root_sectors) {
    JournalFs fs(rk, disk, 0, root_sectors / (JournalFs::kBlockSize / disk.sector_size()), true);
    int rc = fs.mount(cpu);
    rk.hub().instant(rk.path(), "mount-root", "hibernation",
                     {{"device", disk.disk_name()}, {"rc", std::to_string(rc)},
                      {"replayed", std::to_string(fs.replayed())}, {"mount_count", std::to_string(fs.mount_count())}});
}

// The restore kernel (reference/linux-pm.md §1.10): boots, finds the swap
// device, loads the image (or boots normally when there is none or it is
// refused), quiesces its own devices, copies the pages it had to bounce and
// jumps into the image kernel.
void Platform::restore_kernel_program(Cpu& cpu) {
    Kernel& rk = *restore_kernel_;
    rk.hub().slice_begin(rk.path(), "boot", "boot");
    cpu.local_irq_enable();
    PciCore core(kEcamBase, kPciMmioBase, kPciMmioSize);
    core.enumerate(cpu);
    std::unique_ptr<AhciDriver> ahci;
    const Dev* disk_dev = ahci_device();
    PciDev* ahci_dev = disk_dev ? find_pci(core, *disk_dev) : nullptr;
    if (ahci_dev) {
        ahci = disk_driver(rk, core, *disk_dev);
        if (ahci->probe(cpu, *ahci_dev) != 0) ahci.reset();
    }
    rk.hub().slice_end(rk.path(), "boot", "boot");
    std::string reason = "no swap device";
    // The disk with the swap partition shows up late (an asynchronous probe,
    // a slow controller): with resumewait software_resume waits for it;
    // without, it finds no resume device and the kernel boots normally -
    // leaving the image, signature and all, on swap.
    const FaultSpec* late =
        ahci && ctx_.faults.armed("resume-device-late")
            ? ctx_.faults.fire("resume-device-late", disk_dev->spec.disk, disk_dev->spec.disk)
            : nullptr;
    if (late) {
        const Picos after = late->duration ? late->duration : 2'000'000'000'000ULL;
        if (restore_options_.resume_wait) {
            rk.hub().slice_begin(rk.path(), "resume-wait", "hibernation", {{"device", disk_dev->spec.disk}});
            rk.sleep(after, "resumewait: the resume device");
            rk.hub().slice_end(rk.path(), "resume-wait", "hibernation", {{"device", disk_dev->spec.disk}});
        } else {
            ahci.reset();
            reason = "no resume device yet: " + disk_dev->spec.disk + " probed after software_resume (no resumewait)";
        }
    }
    ImageLoad load;
    if (ahci && restore_options_.restore_mounts_root) mount_root(rk, cpu, *ahci, disk_dev->spec.swap_first_sector());
    if (ahci) {
        HibernationOptions now = restore_options_;
        now.hw_signature = cpu.read32(firmware_->facs() + AcpiFirmware::FACS_HW_SIGNATURE);  // this boot's FACS
        load = load_image(rk, cpu, *ahci, disk_dev->spec.swap_first_sector(), disk_dev->spec.swap_sectors(), now,
                          rk.hub());
        reason = load.reason;
    }
    if (!load.ok) {
        rk.hub().instant(rk.path(), "normal-boot", "hibernation", {{"reason", reason}});
        cpus_[0]->start_at(kNormalBootVector);
        return;
    }
    // hibernation_restore: quiesce the restore kernel's devices, then the
    // atomic step with interrupts off.
    ahci->pm("freeze", cpu, *ahci_dev);
    cpu.local_irq_disable();
    std::vector<uint8_t> page(swsusp::kPage);
    for (const auto& [pfn, bounce] : load.pbe) {
        cpu.read_block(bounce, page.data(), swsusp::kPage);
        cpu.write_block(pfn * swsusp::kPage, page.data(), swsusp::kPage);
    }
    if (image_check_) image_check_->restored();
    rk.hub().instant(rk.path(), "jump", "hibernation", {{"bounced", std::to_string(load.pbe.size())}});
    kernel_->take_interrupts();
    cpus_[0]->start_at(kImageRestorePoint);
}

}  // namespace quiesce
