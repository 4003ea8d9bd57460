// Builds a platform from its spec: clock domains, memory and its regions, the
// system bus, CPUs, interrupt controller, PCI hierarchy, ACPI block and
// firmware, the kernel with its PCI core and drivers, and the device graph.
// Address map:
//   0x0000_0000  RAM (low 1 MiB: trampoline, nosave page; heap above; ACPI
//                NVS + FACS in the top 64 KiB, firmware-owned)
//   0xC000_0000  PCI memory window (256 MiB)
//   0xE000_0000  PCI ECAM (16 buses)
//   0xFEC0_0000  interrupt controller
//   0xFED4_0000  ACPI PM block
#pragma once

#include "sim/kernel/acpi_os.h"
#include "models/acpi/acpi_pm.h"
#include "models/acpi/firmware.h"
#include "models/cpu/cpu.h"
#include "models/cpu/intc.h"
#include "sim/drivers/ahci_driver.h"
#include "models/disk/ahci_pci.h"
#include "models/disk/sata_drive.h"
#include "models/pci/bridge.h"
#include "sim/drivers/dma_engine_driver.h"
#include "sim/drivers/generic_driver.h"
#include "sim/kernel/firmware.h"
#include "models/pci/dma_engine_pci.h"
#include "models/pci/host_bridge.h"
#include "models/pci/pci_core.h"
#include "sim/drivers/pci_pm.h"
#include "models/usb/usb_device.h"
#include "sim/drivers/usb_driver.h"
#include "sim/drivers/xhci_driver.h"
#include "models/usb/xhci_pci.h"
#include "sim/core/bus.h"
#include "sim/core/memory.h"
#include "sim/kernel/kernel.h"
#include "sim/pm/device_graph.h"
#include "sim/pm/hibernation.h"
#include "sim/pm/runtime.h"
#include "sim/scenario/scenario.h"

#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace quiesce {

class Checker;
class ImageCheck;

// What a fresh boot drops but keeps alive (threads parked for good may still
// point at it): `p` moves into `retired`, if it holds anything.
template <class T>
void retire_into(std::vector<std::shared_ptr<void>>& retired, std::unique_ptr<T>& p) {
    if (p) retired.push_back(std::shared_ptr<T>(std::move(p)));
}

class Platform {
public:
    static constexpr uint64_t kPciMmioBase = 0xC000'0000, kPciMmioSize = 0x1000'0000;
    static constexpr uint64_t kEcamBase = 0xE000'0000, kEcamSize = 0x0100'0000;
    static constexpr uint64_t kIntcBase = 0xFEC0'0000, kAcpiBase = 0xFED4'0000;
    static constexpr uint64_t kTrampoline = 0x9000, kContextArea = 0xA000, kNosavePage = 0xF0000;
    static constexpr uint64_t kImageRestorePoint = 0x9800;  // where the restore kernel jumps
    static constexpr uint64_t kNormalBootVector = 0xffff0;  // the reset vector: no image was used
    static constexpr uint64_t kRestoreKernelHeap = 4 << 20;  // the restore kernel's memory (top of the heap)
    static constexpr uint64_t kHeapBase = 0x10'0000;
    static constexpr unsigned kSciIrq = 9;  // the ACPI SCI, as on a PC
    static constexpr uint64_t kFirmwareSize = 64 * 1024;

    Platform(const Scenario& scenario, RunContext& ctx);
    ~Platform();

    const DeviceGraph& graph() const { return graph_; }
    // A variant forked before the first callback phase takes its own order.
    void set_suspend_order(std::vector<std::string> order) { graph_.set_suspend_order(std::move(order)); }
    Kernel& kernel() { return *kernel_; }
    // Told of every write a device (not a CPU) makes into RAM over the bus:
    // initiator, address, length.
    using DeviceWrite = std::function<void(const std::string& initiator, uint64_t addr, uint64_t len)>;
    void on_device_write(DeviceWrite o) { device_writes_.push_back(std::move(o)); }
    Kernel* restore_kernel() { return restore_kernel_.get(); }
    // Set by the run before a hibernation: the restore kernel's loader options
    // and the check it reports the restored memory to.
    // Injected faults that the platform carries out.
    // Given to every disk driver (the restore kernel's too), before boot.
    void set_block_observer(BlockObserver o) { block_observer_ = std::move(o); }
    void set_restore(HibernationOptions options, ImageCheck* check) {
        restore_options_ = options;
        image_check_ = check;
    }
    PhysicalMemory& memory() { return *mem_; }
    PciCore& pci_core() { return *pci_core_; }
    AcpiOs& acpi_os() { return *acpi_os_; }
    AcpiPm& acpi_pm() { return *acpi_pm_; }
    // Mains power fails now; it comes back `restore_after` later.
    void cut_power(Picos restore_after);
    // Registers what the plan's point faults (wake-event, spurious-irq,
    // hw-signature-change, firmware-clobber) do to this machine.
    void install_faults();
    // kexec-s4's jump (seeds/004): the save kernel - the restore kernel's
    // reserved memory, its own PCI core and disk driver - writes the image
    // of this kernel's memory as it stands, puts the disk controller back
    // as it found it, and returns. 0, or the writer's error.
    int kexec_save(Cpu& cpu, Hibernation& hibernation);
    AcpiFirmware& firmware() { return *firmware_; }
    InterruptController& intc() { return *intc_; }

    // Binds the kernel's view (PciDev found by enumeration) to the models; run
    // by the boot program after enumeration. Returns the PM devices by name.
    void bind_devices(Cpu& cpu);
    // A fresh boot of the kernel on this machine: the kernel side of every
    // device (its driver, its PM device, runtime PM, the PCI core's view,
    // the ACPI OS layer, the firmware loader's cache) is dropped - kept
    // alive, never called again - and the CPUs the old kernel left offline
    // come up (smp_init). The boot program then enumerates and binds anew.
    void fresh_boot(Cpu& cpu);
    const std::map<std::string, PmDevice*>& pm_devices() const { return pm_by_name_; }
    // Runtime PM of every device (after bind_devices).
    RuntimePm* runtime_pm() { return rpm_.get(); }
    std::vector<std::pair<std::string, DmaEngineDriver*>> dma_drivers();
    std::vector<std::pair<std::string, XhciDriver*>> xhci_drivers();
    // The drivers of devices described by files (pci-device), once bound.
    std::vector<std::pair<std::string, GenericDriver*>> generic_drivers();
    FirmwareStore& firmware_store() { return *fw_store_; }
    // The USB keyboards (models and, once bound, their drivers), in platform order.
    std::vector<std::pair<UsbKeyboard*, UsbHidDriver*>> keyboards();
    // The first USB keyboard (where `[wake] usb_key` and a usb-key wake event press), or nullptr.
    UsbKeyboard* keyboard();
    // The PCI function of a device, by name (nullptr if none).
    PciFunction* function(const std::string& name);
    // The first disk, once bound (nullptr without an AHCI controller).
    struct Disk {
        std::string name;
        SataDrive* drive = nullptr;
        BlockDevice* driver = nullptr;
        AhciDriver* ahci = nullptr;  // the restore kernel finds the image only behind AHCI
        uint64_t root_sectors = 0;   // partition 1: [0, root_sectors)
        uint64_t swap_first = 0;     // partition 2: [swap_first, end)
    };
    Disk disk();
    // The medium the requests of OS disk `disk` reach now: its drive, or
    // after a usb-swap the new device's while the disk's driver still holds
    // the port (persist took the new device for the old one). Null for a
    // name that is no disk.
    const SataDrive* medium(const std::string& disk) const;
    // The device holding `disk`'s medium was taken out of its port while
    // the machine slept (usb-unplug, usb-swap): a person removed the disk.
    bool disk_removed(const std::string& disk) const;
    // A person pulls USB device `device` out of its port now, and with
    // `swap` plugs in the disk built for a usb-swap rule naming it (false
    // when there is none, or it was pulled already).
    bool usb_hot_plug(const std::string& device, bool swap);
    // Registers every hardware-state bank with the checker.
    void watch(Checker& checker);
    // Every register bank of the platform, as (component, bank), in a stable
    // order; `watched` says whether the checker compares it across sleep.
    struct Bank {
        std::string component;
        const RegisterBank* bank;
        bool watched;
    };
    std::vector<Bank> banks() const;

private:
    struct Dev {
        DeviceSpec spec;
        PciFunction* fn = nullptr;
        std::unique_ptr<DmaEngineDriver> driver;
        std::unique_ptr<PciPmDevice> pm;
        std::unique_ptr<SataDrive> drive;         // ahci: the drive on port 0
        std::unique_ptr<AhciDriver> ahci_driver;
        std::unique_ptr<DispatchPmDevice> disk_pm;  // sda (sd)
        std::unique_ptr<XhciDriver> xhci_driver;
        std::unique_ptr<GenericDriver> generic_driver;
        bool probed = false;  // its driver's probe returned 0 (a failed probe leaves it unbound)
    };
    // A USB device on a root-hub port of its parent xHCI.
    struct UsbDev {
        DeviceSpec spec;
        std::unique_ptr<UsbDevice> model;
        UsbKeyboard* keyboard = nullptr;
        std::unique_ptr<SataDrive> drive;  // usb-storage: the drive in the enclosure
        std::unique_ptr<UsbDeviceDriver> driver;
        UsbHidDriver* hid = nullptr;
        UsbStorageDriver* storage = nullptr;
        std::unique_ptr<DispatchPmDevice> pm;
        std::unique_ptr<DispatchPmDevice> disk_pm;  // usb-storage: its disk (sd)
        // usb-swap: the device a person plugs in instead, with its own
        // drive (medium); built before the run when a rule names this device.
        std::unique_ptr<SataDrive> other_drive;
        std::unique_ptr<UsbDevice> other;
        bool removed = false, swapped = false;
    };
    // usb-unplug / usb-swap at an S3 power-down.
    void hot_plug(UsbDev& u, unsigned state);
    void build_pci(const Scenario& s, RunContext& ctx);
    void build_usb(const Scenario& s, RunContext& ctx);
    static void format_swap(SataDrive& drive, const DeviceSpec& spec);
    // /lib/firmware: the files the described devices load, in the last
    // sectors of the firmware disk's root partition (firmware_disk()) or,
    // without a disk, in the initramfs.
    void install_firmware_files();
    void power_down(unsigned state);
    void offline_fs_write(SataDrive& drive, const std::string& disk, uint64_t root_sectors, const FaultSpec& f);
    void power_up(unsigned state);
    void firmware_wake(unsigned state);
    void firmware_program_chipset(bool s3_resume = false);
    void apply_properties(const Scenario& s, RunContext& ctx);
    void restore_kernel_program(Cpu& cpu);
    void mount_root(Kernel& rk, Cpu& cpu, AhciDriver& disk, uint64_t root_sectors);
    // The function a kernel's PCI core found for device `d` (its bus is the
    // secondary bus of its parent bridge, or the root bus).
    PciDev* find_pci(PciCore& core, const Dev& d) const;
    const Dev* ahci_device() const;  // the first AHCI controller, or nullptr
    bool is_cpu(const std::string& initiator) const;  // a bus initiator that is a CPU, not a device
    std::vector<DeviceWrite> device_writes_;
    // The disk holding /lib/firmware ([platform] firmware_disk, or the first
    // AHCI controller's), "" without one.
    std::string firmware_disk() const;
    std::unique_ptr<AhciDriver> disk_driver(Kernel& k, PciCore& core, const Dev& d);

    const Scenario& scenario_;
    RunContext& ctx_;
    DeviceGraph graph_;
    std::unique_ptr<ClockDomain> cpu_clk_, dram_clk_, bus_clk_, pci_clk_, dev_clk_, acpi_clk_, sata_clk_, usb_clk_;
    std::unique_ptr<PhysicalMemory> mem_;
    std::unique_ptr<SystemBus> bus_;
    std::vector<std::unique_ptr<Cpu>> cpus_;
    std::unique_ptr<InterruptController> intc_;
    std::unique_ptr<PciHostBridge> host_;
    std::vector<std::unique_ptr<PciFunction>> functions_;
    std::unique_ptr<AcpiPm> acpi_pm_;
    std::unique_ptr<AcpiFirmware> firmware_;
    std::unique_ptr<AcpiOs> acpi_os_;
    std::unique_ptr<Kernel> kernel_;
    std::unique_ptr<Kernel> restore_kernel_;
    HibernationOptions restore_options_;
    ImageCheck* image_check_ = nullptr;
    BlockObserver block_observer_;
    std::unique_ptr<PciCore> pci_core_;
    std::unique_ptr<FirmwareStore> fw_store_;
    std::vector<Dev> devs_;
    std::vector<UsbDev> usb_;
    std::map<std::string, PmDevice*> pm_by_name_;
    std::unique_ptr<RuntimePm> rpm_;
    void start_runtime_pm(Cpu& cpu);
    // What earlier boots' kernels had (drivers, PM devices, runtime PM):
    // their parked threads may still point at it.
    std::vector<std::shared_ptr<void>> retired_;
    template <class T>
    void retire(std::unique_ptr<T>& p) {
        retire_into(retired_, p);
    }
};

}  // namespace quiesce
