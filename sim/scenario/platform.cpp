// Building the platform a scenario names: clocks, memory, CPUs, the interrupt controller, ACPI and the kernels;
// the PCI functions on their buses (build_pci) and the USB devices on their ports (build_usb); the firmware files
// and the swap partition on the disk; the scenario's [properties]. Power is platform_power.cpp's, the restore
// kernel platform_restore.cpp's, binding drivers platform_bind.cpp's.
#include "sim/scenario/platform.h"

#include "sim/check/image_check.h"
#include "sim/core/errors.h"

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
    bus_->map_ram(*mem_, "ram", 0, spec.memory);
    for (unsigned i = 0; i < spec.cpus; ++i) {
        cpus_.push_back(std::make_unique<Cpu>(("cpu" + std::to_string(i)).c_str(), ctx, *cpu_clk_, i));
        cpus_.back()->socket.bind(bus_->targ);
        cpus_.back()->attach_bus(*bus_);
    }
    std::vector<Cpu*> cores;
    for (auto& c : cpus_) cores.push_back(c.get());
    for (auto& c : cpus_) c->attach_memory(mem_.get(), cores);
    // Coherent DMA: a device's write to RAM invalidates the lines the cores
    // hold dirty; then whoever watches device writes is told.
    mem_->set_write_observer([this, cores](const std::string& who, uint64_t addr, uint64_t len) {
        if (is_cpu(who)) return;
        for (Cpu* c : cores) c->snoop_write(addr, len);
        for (const auto& o : device_writes_) o(who, addr, len);
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
constexpr int64_t kMaxIntProperty = 4'294'967'295;  // 2^32 - 1
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
        // Integer properties are counts, sizes, 32-bit values (a firmware
        // signature) and durations in cycles, ns, us or ms: up to 2^32 - 1
        // none of them alone overflows a time in picoseconds (2^32 cycles of
        // a 32 kHz clock are 1.3*10^17 ps, 2^32 ms 4.3*10^18, 2^64 is
        // 1.8*10^19); past it a value wrapped round, and the run went on as if
        // it were small.
        if (std::holds_alternative<int64_t>(o.value)) {
            const int64_t v = std::get<int64_t>(o.value);
            if (v < 0 || v > kMaxIntProperty)
                throw InputError(s.file, o.line, o.column, where,
                                 "must be 0 to " + std::to_string(kMaxIntProperty) + ", got " + std::to_string(v));
        }
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
            host_->attach_bus(*bus_);
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
            // usb-swap: the disk a person plugs in instead - another stick
            // of the same size, its own medium (blank but for the swap
            // area, formatted as the first one's). `identical`: the same
            // model with the same serial number (descriptors alike); else
            // another product with another serial.
            for (const FaultSpec& f : s.faults.faults) {
                if (f.kind != "usb-swap" || f.device != spec.name || u.other) continue;
                UsbDevice::Identity other = id;
                if (!f.identical) {
                    other.vendor = 0x0781;  // a SanDisk stick
                    other.product = 0x5581;
                    other.serial = spec.serial + "-other";
                }
                const std::string name = spec.name + "-new", disk = spec.disk + "-new";
                u.other_drive = std::make_unique<SataDrive>(disk.c_str(), ctx, *sata_clk_, spec.disk_size, spec.sector_size);
                format_swap(*u.other_drive, spec);
                u.other = std::make_unique<UsbMassStorage>(name.c_str(), ctx, *usb_clk_, other, *u.other_drive);
                ctx.hub.declare_track({disk, name, "device", sata_clk_->name(), sata_clk_->hz()});
                ctx.hub.declare_track({name, hc->path(), "device", usb_clk_->name(), usb_clk_->hz()});
            }
        }
        hc->core().attach(spec.port - 1, *u.model);
        ctx.hub.declare_track({spec.name, hc->path(), "device", usb_clk_->name(), usb_clk_->hz()});
        usb_.push_back(std::move(u));
    }
}

bool Platform::is_cpu(const std::string& initiator) const {
    // Asked on every device write into RAM: the first byte before the rest
    // ("cpu0" against a device's "dma0" differs there).
    for (const auto& c : cpus_) {
        const std::string& p = c->path();
        if (p.size() == initiator.size() && (p.empty() || p[0] == initiator[0]) && p == initiator) return true;
    }
    return false;
}

std::string Platform::firmware_disk() const {
    if (!scenario_.platform.firmware_disk.empty()) return scenario_.platform.firmware_disk;
    const Dev* d = ahci_device();
    return d ? d->spec.disk : "";
}

void Platform::install_firmware_files() {
    std::map<std::string, std::vector<uint8_t>> files;
    for (const auto& d : devs_)
        if (d.spec.desc && d.spec.desc->firmware.on)
            files[d.spec.desc->firmware.name] = firmware_image(d.spec.desc->firmware.name, d.spec.desc->firmware.size);
    SataDrive* drive = nullptr;
    const DeviceSpec* spec = nullptr;
    const std::string disk = firmware_disk();
    for (const auto& d : devs_)
        if (d.spec.type == "ahci" && d.spec.disk == disk) drive = d.drive.get(), spec = &d.spec;
    for (const auto& u : usb_)
        if (u.drive && u.spec.disk == disk) drive = u.drive.get(), spec = &u.spec;
    uint64_t sector = 0;
    if (drive) {  // past what qfs allocates
        uint64_t bytes = 0;
        for (const auto& [name, data] : files) bytes += (data.size() + 4095) / 4096 * 4096;
        sector = spec->swap_first_sector() - bytes / spec->sector_size;
        fw_store_->expect_disk();
    }
    for (auto& [name, data] : files) {
        if (drive) {
            const unsigned ss = spec->sector_size;
            for (uint64_t off = 0; off < data.size(); off += ss) {
                std::vector<uint8_t> sec(ss, 0);
                std::copy(data.begin() + long(off), data.begin() + long(std::min<uint64_t>(off + ss, data.size())),
                          sec.begin());
                drive->format(sector + off / ss, sec);
            }
        }
        const uint64_t at = sector;
        sector += (data.size() + 4095) / 4096 * 4096 / (drive ? spec->sector_size : 1);
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

}  // namespace quiesce
