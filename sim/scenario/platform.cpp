#include "sim/scenario/platform.h"

#include "sim/check/checker.h"
#include "sim/check/image_check.h"
#include "sim/core/errors.h"
#include "sim/kernel/journal_fs.h"

#include <cstring>

namespace quiesce {

Platform::Platform(const Scenario& s, RunContext& ctx) : scenario_(s), ctx_(ctx), graph_(build_graph(s.platform)) {
    if (!s.order.empty()) graph_.set_suspend_order(s.order);
    const PlatformSpec& spec = s.platform;
    cpu_clk_ = std::make_unique<ClockDomain>("cpu", spec.cpu_hz);
    dram_clk_ = std::make_unique<ClockDomain>("dram", 800'000'000);
    bus_clk_ = std::make_unique<ClockDomain>("sysbus", 500'000'000);
    pci_clk_ = std::make_unique<ClockDomain>("pci", 250'000'000);
    dev_clk_ = std::make_unique<ClockDomain>("dev", 250'000'000);
    acpi_clk_ = std::make_unique<ClockDomain>("acpi", 3'579'545);
    sata_clk_ = std::make_unique<ClockDomain>("sata", 150'000'000);  // SATA 1.5 Gb/s link, 8b/10b
    usb_clk_ = std::make_unique<ClockDomain>("usb", 48'000'000);     // a USB device's 48 MHz PHY clock

    mem_ = std::make_unique<PhysicalMemory>("memory", ctx, *dram_clk_, spec.memory);
    const uint64_t fw_base = spec.memory - kFirmwareSize;
    mem_->add_region({"low", 0, kHeapBase, RegionAttr::Normal});
    mem_->add_region({"nosave", kNosavePage, PhysicalMemory::kPageSize, RegionAttr::Nosave});
    mem_->add_region({"heap", kHeapBase, fw_base - kHeapBase, RegionAttr::Normal});
    mem_->add_region({"acpi-nvs", fw_base, kFirmwareSize, RegionAttr::Firmware});
    mem_->add_region({"mmio-hole", kPciMmioBase, 0x4000'0000, RegionAttr::MmioHole});

    bus_ = std::make_unique<SystemBus>("sysbus", ctx, *bus_clk_);
    bus_->map(mem_->socket, "ram", 0, spec.memory, false);
    for (unsigned i = 0; i < spec.cpus; ++i) {
        cpus_.push_back(std::make_unique<Cpu>(("cpu" + std::to_string(i)).c_str(), ctx, *cpu_clk_, i));
        cpus_.back()->socket.bind(bus_->targ);
    }
    std::vector<Cpu*> cores;
    for (auto& c : cpus_) cores.push_back(c.get());
    for (auto& c : cpus_) c->attach_memory(mem_.get(), cores);
    // Coherent DMA: a device's write to RAM invalidates the lines the cores hold dirty.
    mem_->set_write_observer([cores](const std::string& who, uint64_t addr, uint64_t len) {
        for (Cpu* c : cores)
            if (c->path() == who) return;
        for (Cpu* c : cores) c->snoop_write(addr, len);
    });
    intc_ = std::make_unique<InterruptController>("intc", ctx, *bus_clk_);
    bus_->map(intc_->socket, "intc", kIntcBase, 0x100, true);
    acpi_pm_ = std::make_unique<AcpiPm>("acpi", ctx, *acpi_clk_);
    bus_->map(acpi_pm_->socket, "acpi", kAcpiBase, 0x100, true);
    acpi_pm_->sci.listen([this](bool level) { intc_->set_input(kSciIrq, level); });
    firmware_ = std::make_unique<AcpiFirmware>("firmware", ctx, *mem_, fw_base, fw_base + 0x1000, spec.hw_signature);
    firmware_->set_pm_block(kAcpiBase, kSciIrq);
    firmware_->set_ecam(kEcamBase);
    acpi_os_ = std::make_unique<AcpiOs>(*firmware_);

    build_pci(s, ctx);
    build_usb(s, ctx);
    // PME# of the functions on bus 0 sets the chipset's PME_B0 GPE (a wired
    // OR); the DSDT gives those that may wake the system a _PRW.
    std::vector<PciFunction*> bus0;
    for (auto& d : devs_)
        if (d.spec.type != "pci-host" && host_ && d.fn->bus() == &host_->root_bus()) bus0.push_back(d.fn);
    for (PciFunction* fn : bus0)
        fn->pme.listen([this, bus0](bool) {
            bool any = false;
            for (PciFunction* f : bus0) any = any || f->pme.level();
            acpi_pm_->set_gpe_input(AcpiFirmware::kPmeB0Gpe, any);
        });
    for (auto& d : devs_)
        if (d.spec.wake && std::find(bus0.begin(), bus0.end(), d.fn) != bus0.end())
            firmware_->add_wake_device(d.spec.name);

    std::vector<Cpu*> cpus;
    for (auto& c : cpus_) cpus.push_back(c.get());
    uint64_t heap_end = fw_base;
    if (s.hibernates()) {
        // Hibernation: a restore kernel boots after S4 and loads the image.
        heap_end = fw_base - kRestoreKernelHeap;
        restore_kernel_ = std::make_unique<Kernel>("restore-kernel", ctx, cpus, heap_end, kRestoreKernelHeap);
        restore_kernel_->set_deferred_boot();
        restore_kernel_->attach_intc(*intc_, kIntcBase);
        restore_kernel_->set_program([this](Cpu& cpu) { restore_kernel_program(cpu); });
    }
    kernel_ = std::make_unique<Kernel>("kernel", ctx, cpus, kHeapBase, heap_end - kHeapBase);
    kernel_->attach_intc(*intc_, kIntcBase);
    pci_core_ = std::make_unique<PciCore>(kEcamBase, kPciMmioBase, kPciMmioSize);
    fw_store_ = std::make_unique<FirmwareStore>(*kernel_);
    kernel_->set_firmware(fw_store_.get());
    install_firmware_files();

    acpi_pm_->set_hooks({[this](unsigned st) { power_down(st); }, [this](unsigned st) { power_up(st); },
                         [this](unsigned st) { firmware_wake(st); },
                         [this] { return uint64_t(mem_->peek32(firmware_->facs() + AcpiFirmware::FACS_WAKING_VECTOR)); }});
    firmware_program_chipset();
    apply_properties(s, ctx);
    firmware_->install();  // its tables as the scenario's properties say (the DSDT's _Sx packages)
}

// Scenario overrides of module properties. Errors name the scenario line.
void Platform::apply_properties(const Scenario& s, RunContext& ctx) {
    static const char* kTypes[] = {"a boolean", "an integer", "a string"};
    for (const auto& o : s.properties) {
        size_t dot = o.key.rfind('.');
        std::string component = o.key.substr(0, dot), name = o.key.substr(dot + 1);
        std::string where = "properties." + o.key;
        auto it = ctx.modules.find(component);
        if (it == ctx.modules.end()) throw InputError(s.file, o.line, o.column, where, "no component '" + component + "'");
        Properties& props = it->second->props();
        if (!props.has(name)) {
            std::string known;
            for (const auto& [k, e] : props.entries()) known += (known.empty() ? "" : ", ") + k;
            throw InputError(s.file, o.line, o.column, where,
                             "'" + component + "' has no property '" + name + "'" +
                                 (known.empty() ? "" : " (it has: " + known + ")"));
        }
        const PropValue& current = props.entries().at(name).value;
        if (current.index() != o.value.index())
            throw InputError(s.file, o.line, o.column, where, std::string("expected ") + kTypes[current.index()]);
        if (std::holds_alternative<int64_t>(o.value) && std::get<int64_t>(o.value) < 0)
            throw InputError(s.file, o.line, o.column, where, "must not be negative");
        props.set(name, o.value);
    }
}

Platform::~Platform() = default;

void Platform::build_pci(const Scenario& s, RunContext& ctx) {
    std::map<std::string, PciBus*> buses;
    for (const auto& spec : s.platform.devices) {
        if (spec.usb()) continue;  // on a root-hub port, not on PCI: build_usb
        Dev d;
        d.spec = spec;
        if (spec.type == "pci-host") {
            host_ = std::make_unique<PciHostBridge>(spec.name.c_str(), ctx, *pci_clk_, *intc_);
            bus_->map(host_->ecam_socket, "ecam", kEcamBase, kEcamSize, true);
            bus_->map(host_->mmio_socket, "pci-mmio", kPciMmioBase, kPciMmioSize, false);
            host_->dma_socket.bind(bus_->targ);
            buses[spec.name] = &host_->root_bus();
            d.fn = host_.get();
        } else {
            uint8_t devfn = uint8_t((spec.device << 3) | spec.function);
            PciBus* parent = buses.at(spec.parent);
            if (spec.type == "pci-bridge") {
                pci::HeaderIdent id;
                id.vendor = 0x8086;
                id.device = 0x1c10;
                id.class_code = 0x060400;
                id.bridge = true;
                id.no_soft_reset = spec.no_soft_reset;
                auto br = std::make_unique<PciBridge>(spec.name.c_str(), ctx, *pci_clk_, id, host_.get());
                buses[spec.name] = &br->secondary();
                d.fn = br.get();
                functions_.push_back(std::move(br));
            } else if (spec.type == "ahci") {
                d.drive = std::make_unique<SataDrive>(spec.disk.c_str(), ctx, *sata_clk_, spec.disk_size,
                                                      spec.sector_size);
                auto fn = std::make_unique<AhciPci>(spec.name.c_str(), ctx, *dev_clk_, *d.drive, spec.no_soft_reset);
                d.fn = fn.get();
                functions_.push_back(std::move(fn));
                ctx.hub.declare_track({spec.disk, spec.name, "device", sata_clk_->name(), sata_clk_->hz()});
                format_swap(*d.drive, spec);
            } else if (spec.type == "xhci") {
                auto fn = std::make_unique<XhciPci>(spec.name.c_str(), ctx, *dev_clk_, spec.no_soft_reset);
                d.fn = fn.get();
                functions_.push_back(std::move(fn));
            } else if (spec.type == "pci-device") {
                auto fn = std::make_unique<GenericPci>(spec.name.c_str(), ctx, *dev_clk_, spec.desc, spec.no_soft_reset);
                d.fn = fn.get();
                functions_.push_back(std::move(fn));
            } else {
                auto fn = std::make_unique<DmaEnginePci>(spec.name.c_str(), ctx, *dev_clk_, spec.no_soft_reset);
                d.fn = fn.get();
                functions_.push_back(std::move(fn));
            }
            parent->add(*d.fn, devfn);
        }
        ctx.hub.declare_track({d.fn->path(), spec.parent, "device", d.fn->clock().name(), d.fn->clock().hz()});
        devs_.push_back(std::move(d));
    }
    for (Dev& zero : devs_)  // function 0 of a slot whose other functions are there
        for (const Dev& other : devs_)
            if (zero.spec.type != "pci-host" && !zero.spec.usb() && zero.spec.function == 0 &&
                other.spec.type != "pci-host" && !other.spec.usb() && other.spec.function != 0 &&
                other.spec.parent == zero.spec.parent && other.spec.device == zero.spec.device)
                zero.fn->set_multi_function();
    // [depends]: a described function whose block needs another function of
    // its slot (the scenario loader checked that one is there, described).
    for (Dev& d : devs_)
        if (d.spec.desc && d.spec.desc->depends.on)
            for (Dev& s : devs_)
                if (s.spec.type == "pci-device" && s.spec.parent == d.spec.parent && s.spec.device == d.spec.device &&
                    s.spec.function == d.spec.desc->depends.function)
                    static_cast<GenericPci*>(d.fn)->depend_on(*static_cast<GenericPci*>(s.fn));
}

void Platform::build_usb(const Scenario& s, RunContext& ctx) {
    for (const auto& spec : s.platform.devices) {
        if (!spec.usb()) continue;
        XhciPci* hc = nullptr;
        for (auto& d : devs_)
            if (d.spec.name == spec.parent) hc = dynamic_cast<XhciPci*>(d.fn);
        SIM_ASSERT(hc, "USB device {} has no xHCI parent", spec.name);
        UsbDev u;
        u.spec = spec;
        UsbDevice::Identity id;
        id.serial = spec.serial;
        if (spec.type == "usb-keyboard") {
            id.vendor = 0x046d;  // a PC keyboard's IDs
            id.product = 0xc31c;
            id.speed = UsbDevice::kLowSpeed;
            auto kbd = std::make_unique<UsbKeyboard>(spec.name.c_str(), ctx, *usb_clk_, id);
            u.keyboard = kbd.get();
            u.model = std::move(kbd);
        } else {
            id.vendor = 0x152d;  // a USB 3 to SATA bridge (JMicron JMS578)
            id.product = 0x0578;
            id.speed = UsbDevice::kHighSpeed;
            id.max_packet0 = 64;
            u.drive = std::make_unique<SataDrive>(spec.disk.c_str(), ctx, *sata_clk_, spec.disk_size, spec.sector_size);
            format_swap(*u.drive, spec);
            u.model = std::make_unique<UsbMassStorage>(spec.name.c_str(), ctx, *usb_clk_, id, *u.drive);
            ctx.hub.declare_track({spec.disk, spec.name, "device", sata_clk_->name(), sata_clk_->hz()});
        }
        hc->core().attach(spec.port - 1, *u.model);
        ctx.hub.declare_track({spec.name, hc->path(), "device", usb_clk_->name(), usb_clk_->hz()});
        usb_.push_back(std::move(u));
    }
}

void Platform::install_firmware_files() {
    std::map<std::string, std::vector<uint8_t>> files;
    for (const auto& d : devs_)
        if (d.spec.desc && d.spec.desc->firmware.on)
            files[d.spec.desc->firmware.name] = firmware_image(d.spec.desc->firmware.name, d.spec.desc->firmware.size);
    const Dev* disk = ahci_device();
    uint64_t sector = 0;
    if (disk) {
        // The last sectors of the root partition, past what qfs allocates.
        uint64_t bytes = 0;
        for (const auto& [name, data] : files) bytes += (data.size() + 4095) / 4096 * 4096;
        sector = disk->spec.swap_first_sector() - bytes / disk->spec.sector_size;
        fw_store_->expect_disk();
    }
    for (auto& [name, data] : files) {
        if (disk) {
            const unsigned ss = disk->spec.sector_size;
            for (uint64_t off = 0; off < data.size(); off += ss) {
                std::vector<uint8_t> sec(ss, 0);
                std::copy(data.begin() + long(off), data.begin() + long(std::min<uint64_t>(off + ss, data.size())),
                          sec.begin());
                disk->drive->format(sector + off / ss, sec);
            }
        }
        const uint64_t at = sector;
        sector += (data.size() + 4095) / 4096 * 4096 / (disk ? disk->spec.sector_size : 1);
        fw_store_->add(name, std::move(data), at);
    }
}

// The disk image a platform starts with: mkswap on partition 2.
void Platform::format_swap(SataDrive& drive, const DeviceSpec& spec) {
    uint64_t swap_first = spec.swap_first_sector();
    auto header = swsusp::mkswap_header();
    for (unsigned i = 0; i < swsusp::kPage / spec.sector_size; ++i)
        drive.format(swap_first + i, std::vector<uint8_t>(header.begin() + i * spec.sector_size,
                                                         header.begin() + (i + 1) * spec.sector_size));
}

UsbKeyboard* Platform::keyboard() {
    for (auto& u : usb_)
        if (u.keyboard) return u.keyboard;
    return nullptr;
}

std::vector<std::pair<UsbKeyboard*, UsbHidDriver*>> Platform::keyboards() {
    std::vector<std::pair<UsbKeyboard*, UsbHidDriver*>> out;
    for (auto& u : usb_)
        if (u.keyboard) out.emplace_back(u.keyboard, u.hid);
    return out;
}

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
        sc_core::sc_spawn([this, line] {
            intc_->set_input(line, true);
            sc_core::wait(sc_core::sc_time(2, sc_core::SC_US));
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

void Platform::power_down(unsigned state) {
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
    }
    intc_->power_off();
    for (auto& c : cpus_) c->lose_context(state == 3);  // S3: memory in self-refresh keeps what DRAM holds
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
                                             *scenario_.drivers.at(d.spec.name), *scenario_.drivers.at(d.spec.disk));
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

PciDev* Platform::find_pci(PciCore& core, const Dev& d) const {
    unsigned bus = 0;
    for (const auto& o : devs_)
        if (o.spec.name == d.spec.parent && o.spec.type == "pci-bridge")
            bus = static_cast<const PciBridge*>(o.fn)->secondary_number();
    return core.find(bus, uint8_t((d.spec.device << 3) | d.spec.function));
}


void Platform::bind_devices(Cpu& cpu) {
    kernel_->set_handler_power_check([this](const std::string& owner) -> Kernel::HandlerPower {
        // A runtime-suspended device's handler is called for its neighbours'
        // interrupts on a shared line, as in Linux: it must check and return
        // IRQ_NONE (if it touches the device, io.suspended-device says so).
        if (rpm_ && !rpm_->active(owner)) return {};
        for (const auto& d : devs_)
            if (d.spec.name == owner && d.fn->dstate() != DState::D0)
                return {fmt::format("{} is in {}", owner, d.fn->dstate() == DState::D3cold ? "D3cold" : "D3hot"),
                        d.fn->path()};
        return {};
    });
    for (auto& d : devs_) {
        PciDev* pd = find_pci(*pci_core_, d);
        SIM_ASSERT(pd, "enumeration did not find {}", d.spec.name);
        PciDriver* drv = nullptr;
        if (d.spec.type == "dma-engine") {
            d.driver = std::make_unique<DmaEngineDriver>(d.spec.name, d.fn->path(), *kernel_, *pci_core_,
                                                         *scenario_.drivers.at(d.spec.name));
            auto lm = scenario_.driver_local_memory.find(d.spec.name);
            if (lm != scenario_.driver_local_memory.end()) d.driver->set_local_memory(lm->second / 4096);
            drv = d.driver.get();
        } else if (d.spec.type == "xhci") {
            d.xhci_driver = std::make_unique<XhciDriver>(d.spec.name, d.fn->path(), *kernel_, *pci_core_,
                                                         *scenario_.drivers.at(d.spec.name));
            d.xhci_driver->set_wakeup(d.spec.wake);
            drv = d.xhci_driver.get();
        } else if (d.spec.type == "pci-device") {
            d.generic_driver = std::make_unique<GenericDriver>(d.spec.name, d.fn->path(), *kernel_, *pci_core_,
                                                               *scenario_.drivers.at(d.spec.name), d.spec.desc);
            drv = d.generic_driver.get();
        } else if (d.spec.type == "ahci") {
            d.ahci_driver = std::make_unique<AhciDriver>(d.spec.name, d.fn->path(), d.spec.disk, *kernel_, *pci_core_,
                                                         *scenario_.drivers.at(d.spec.name),
                                                         *scenario_.drivers.at(d.spec.disk));
            d.ahci_driver->set_observer(block_observer_);
            drv = d.ahci_driver.get();
            // /lib/firmware is on its root filesystem (the first disk).
            if (&d == ahci_device()) fw_store_->set_disk(d.ahci_driver.get());
            AhciDriver* ahci = d.ahci_driver.get();
            d.disk_pm = std::make_unique<DispatchPmDevice>(
                d.spec.disk, d.spec.disk, [ahci](const std::string& cb, Cpu& c) { return ahci->disk_pm(cb, c); });
            pm_by_name_[d.spec.disk] = d.disk_pm.get();
        }
        if (drv) {
            int rc = drv->probe(cpu, *pd);
            kernel_->hub().instant(d.fn->path(), "probe", "driver", {{"rc", std::to_string(rc)}});
            // A failed probe leaves the function unbound (really_probe resets
            // dev->driver): no driver PM callback runs for it, the PCI core
            // alone saves its config space and puts it in D3hot.
            if (rc != 0) drv = nullptr;
        }
        // Host bridges have their config space saved and restored, but are
        // never put into a low-power state.
        bool power_manageable = d.spec.type != "pci-host";
        d.pm = std::make_unique<PciPmDevice>(d.spec.name, d.fn->path(), *pci_core_, *pd, drv, d.spec.wake,
                                             power_manageable);
        pm_by_name_[d.spec.name] = d.pm.get();
        // device_may_wakeup: its _PRW GPE is armed for sleep; the GPE's
        // Notify finds the function whose PME_Status is set
        // (pci_acpi_wake_dev: pci_check_pme_status, pci_wakeup_event).
        if (d.spec.wake)
            acpi_os_->add_wake_device(cpu, d.spec.name, [this, pd, name = d.spec.name](Cpu& c) {
                uint16_t pmcsr = uint16_t(pci_core_->cfg_read(c, *pd, pci::PMCSR, 2));
                if (pmcsr == 0xffff || !(pmcsr & pci::PMCSR_PME_STATUS)) return;
                pci_core_->cfg_write(c, *pd, pci::PMCSR, pmcsr, 2);  // PME_Status is RW1C
                kernel_->pm_wakeup_event(name);
            });
    }
    // The USB devices, once their controller runs (hub_wq finds them).
    for (auto& u : usb_) {
        XhciDriver* hcd = nullptr;
        for (auto& d : devs_)
            if (d.spec.name == u.spec.parent) hcd = d.xhci_driver.get();
        SIM_ASSERT(hcd, "USB device {} has no xHCI driver", u.spec.name);
        if (u.keyboard) {
            auto hid = std::make_unique<UsbHidDriver>(u.spec.name, *kernel_, *hcd, u.spec.port, u.spec.persist,
                                                      u.spec.wake, *scenario_.drivers.at(u.spec.name));
            u.hid = hid.get();
            u.driver = std::move(hid);
        } else {
            auto storage = std::make_unique<UsbStorageDriver>(u.spec.name, u.spec.disk, *kernel_, *hcd, u.spec.port,
                                                              u.spec.persist, *scenario_.drivers.at(u.spec.name),
                                                              *scenario_.drivers.at(u.spec.disk));
            storage->set_observer(block_observer_);
            u.storage = storage.get();
            u.driver = std::move(storage);
            UsbStorageDriver* sd = u.storage;
            u.disk_pm = std::make_unique<DispatchPmDevice>(
                u.spec.disk, u.spec.disk, [sd](const std::string& cb, Cpu& c) { return sd->disk_pm(cb, c); });
            pm_by_name_[u.spec.disk] = u.disk_pm.get();
        }
        int rc = u.driver->probe(cpu);
        kernel_->hub().instant(u.spec.name, "probe", "driver", {{"rc", std::to_string(rc)}});
        UsbDeviceDriver* dev = u.driver.get();
        u.pm = std::make_unique<DispatchPmDevice>(
            u.spec.name, u.spec.name, [dev](const std::string& cb, Cpu& c) { return dev->pm(cb, c); });
        pm_by_name_[u.spec.name] = u.pm.get();
    }
    auto dma_driver = [this](const std::string& name) -> DmaEngineDriver* {
        for (auto& d : devs_)
            if (d.spec.name == name) return d.driver.get();
        return nullptr;
    };
    for (const auto& [dev, companion] : scenario_.driver_companion)
        if (DmaEngineDriver *a = dma_driver(dev), *b = dma_driver(companion); a && b) a->set_peer("companion", b);
    for (const auto& dev : scenario_.driver_no_explicit_state)
        if (DmaEngineDriver* a = dma_driver(dev)) a->set_can_restore(false);
    for (const auto& [dev, to] : scenario_.driver_handoff)
        if (DmaEngineDriver *a = dma_driver(dev), *b = dma_driver(to); a && b) a->set_peer("handoff", b);
    start_runtime_pm(cpu);
}

// Runtime PM for every device, in dpm_list order (parents first): active,
// power/control "on" unless the scenario's [runtime.NAME] says "auto".
void Platform::start_runtime_pm(Cpu& cpu) {
    rpm_ = std::make_unique<RuntimePm>(*kernel_, kernel_->hub());
    auto parent_of = [this](const std::string& name) -> std::string {
        for (const auto& d : scenario_.platform.devices) {
            if (d.name == name) return d.parent;
            if (d.has_disk() && d.disk == name) return d.name;
        }
        return "";
    };
    for (const auto& name : graph_.devices()) {
        auto pm = pm_by_name_.find(name);
        if (pm == pm_by_name_.end()) continue;
        RuntimePm::Settings st;
        if (auto r = scenario_.runtime.find(name); r != scenario_.runtime.end()) {
            st.allow = r->second.allow;
            st.autosuspend_delay = r->second.autosuspend_delay;
            st.ignore_children = r->second.ignore_children;
        }
        if (auto drv = scenario_.drivers.find(name); drv != scenario_.drivers.end() && drv->second) {
            st.dpm_flags = drv->second->dpm_flags;
            st.use_autosuspend = drv->second->use_autosuspend;
        }
        rpm_->add(name, pm->second, parent_of(name), st);
    }
    for (const auto& l : scenario_.platform.links)
        if (l.pm_runtime) rpm_->add_link(l.supplier, l.consumer);
    for (auto& d : devs_) {
        if (d.pm) d.pm->set_runtime(rpm_.get());
        if (d.driver) d.driver->set_runtime(rpm_.get());
        if (d.generic_driver) d.generic_driver->set_runtime(rpm_.get());
    }
    rpm_->start(cpu);
}

std::vector<std::pair<std::string, GenericDriver*>> Platform::generic_drivers() {
    std::vector<std::pair<std::string, GenericDriver*>> out;
    for (auto& d : devs_)
        if (d.generic_driver) out.emplace_back(d.spec.name, d.generic_driver.get());
    return out;
}

std::vector<std::pair<std::string, DmaEngineDriver*>> Platform::dma_drivers() {
    std::vector<std::pair<std::string, DmaEngineDriver*>> out;
    for (auto& d : devs_)
        if (d.driver) out.emplace_back(d.spec.name, d.driver.get());
    return out;
}

PciFunction* Platform::function(const std::string& name) {
    for (auto& d : devs_)
        if (d.spec.name == name) return d.fn;
    return nullptr;
}

std::vector<std::pair<std::string, XhciDriver*>> Platform::xhci_drivers() {
    std::vector<std::pair<std::string, XhciDriver*>> out;
    for (auto& d : devs_)
        if (d.xhci_driver) out.emplace_back(d.spec.name, d.xhci_driver.get());
    return out;
}

Platform::Disk Platform::disk() {
    // The partitions as the platform file lays them out: root, then swap at the end.
    auto make = [](const DeviceSpec& spec, SataDrive* drive, BlockDevice* driver, AhciDriver* ahci) {
        return Disk{spec.disk, drive, driver, ahci, spec.swap_first_sector(), spec.swap_first_sector()};
    };
    for (auto& d : devs_)
        if (d.drive) return make(d.spec, d.drive.get(), d.ahci_driver.get(), d.ahci_driver.get());
    for (auto& u : usb_)
        if (u.drive) return make(u.spec, u.drive.get(), u.storage, nullptr);
    return {};
}

std::vector<Platform::Bank> Platform::banks() const {
    std::vector<Bank> out;
    for (const auto& d : devs_) {
        out.push_back({d.fn->path(), &d.fn->config(), true});
        if (auto* dma = dynamic_cast<const DmaEnginePci*>(d.fn)) out.push_back({d.fn->path(), &dma->core().regs(), true});
        if (auto* ahci = dynamic_cast<const AhciPci*>(d.fn)) out.push_back({d.fn->path(), &ahci->core().regs(), true});
        if (auto* x = dynamic_cast<const XhciPci*>(d.fn)) out.push_back({d.fn->path(), &x->core().regs(), true});
        if (auto* g = dynamic_cast<const GenericPci*>(d.fn)) out.push_back({d.fn->path(), &g->core().regs(), true});
    }
    out.push_back({intc_->path(), &intc_->regs(), true});
    // The OS programs PM1 enables and the RTC alarm on every suspend: platform
    // registers that change by design, not state a resume must bring back.
    out.push_back({acpi_pm_->path(), &acpi_pm_->regs(), false});
    return out;
}

void Platform::watch(Checker& checker) {
    for (const Bank& b : banks())
        if (b.watched) checker.watch_bank(b.component, *b.bank);
    // xHCI: the command ring pointer the controller fetches from (CRCR reads
    // back 0: the controller's own state) against the driver's ring in memory.
    // The DMA engine: the ring base and the producer index a running engine
    // uses against the driver's struct in memory (resume re-derives both).
    // An engine that is not enabled uses neither: a device resume left
    // stopped is another invariant's finding (hwstate.not-restored).
    for (auto& d : devs_)
        if (d.driver)
            if (auto* e = dynamic_cast<DmaEnginePci*>(d.fn)) {
                const RegisterBank* bank = &e->core().regs();
                DmaEngineDriver* drv = d.driver.get();
                const PhysicalMemory* mem = mem_.get();
                auto used = [bank](const char* reg, uint64_t memory) {
                    const bool running = bank->reg("CTRL").value() & DmaEngine::CTRL_ENABLE;
                    return std::make_pair(running ? bank->reg(reg).value() : memory, memory);
                };
                checker.watch_mirror(d.fn->path(), "RING_BASE",
                                     [used, drv, mem] { return used("RING_BASE", drv->software_ring(*mem)); });
                checker.watch_mirror(d.fn->path(), "TAIL",
                                     [used, drv, mem] { return used("TAIL", drv->software_tail(*mem)); });
            }
    // A described device's engine: the ring base it fetches from and the
    // producer index it runs to, against the driver's struct (an engine
    // that is not enabled uses neither).
    for (auto& d : devs_)
        if (d.generic_driver && d.spec.desc->engine.on)
            if (auto* g = dynamic_cast<GenericPci*>(d.fn)) {
                const GenericCore* core = &g->core();
                GenericDriver* drv = d.generic_driver.get();
                const PhysicalMemory* mem = mem_.get();
                const auto& e = d.spec.desc->engine;
                auto used = [core, e](const RegRef& role, uint64_t memory) {
                    const bool running = e.enable.empty() || core->role(e.enable);
                    return std::make_pair(running ? core->role(role) : memory, memory);
                };
                checker.watch_mirror(d.fn->path(), e.ring_base.reg,
                                     [used, e, drv, mem] { return used(e.ring_base, drv->software_ring(*mem)); });
                checker.watch_mirror(d.fn->path(), e.tail.reg,
                                     [used, e, drv, mem] { return used(e.tail, drv->software_tail(*mem)); });
            }
    for (auto& d : devs_)
        if (d.xhci_driver)
            if (auto* x = dynamic_cast<XhciPci*>(d.fn)) {
                XhciCore* core = &x->core();
                XhciDriver* drv = d.xhci_driver.get();
                const PhysicalMemory* mem = mem_.get();
                checker.watch_mirror(d.fn->path(), "CRCR", [core, drv, mem] {
                    return std::make_pair(core->command_dequeue() | uint64_t(core->command_cycle()),
                                          drv->software_command_dequeue(*mem) |
                                              uint64_t(drv->software_command_cycle(*mem)));
                });
                // The event ring: where the controller writes next (the state Save/Restore
                // State keeps) against where the driver reads next, with their cycle states.
                checker.watch_mirror(d.fn->path(), "ERSTBA/ERDP (event ring)", [core, drv, mem] {
                    return std::make_pair(core->event_enqueue() | uint64_t(core->event_cycle()),
                                          drv->software_event_dequeue(*mem) |
                                              uint64_t(drv->software_event_cycle(*mem)));
                });
            }
}

}  // namespace quiesce
