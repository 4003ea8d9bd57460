// Binding drivers to the platform's devices (PCI functions, then USB devices on their ports) and starting runtime
// PM; what the rest of a run asks of the platform (its drivers, keyboards, disk, register banks); the mirrors the
// checker watches (a ring the hardware uses against the driver's copy in memory).
#include "sim/scenario/platform.h"

#include "sim/check/checker.h"
#include "sim/core/errors.h"

namespace quiesce {

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
                                                         scenario_.drivers.at(d.spec.name));
            auto lm = scenario_.driver_local_memory.find(d.spec.name);
            if (lm != scenario_.driver_local_memory.end()) d.driver->set_local_memory(lm->second / 4096);
            drv = d.driver.get();
        } else if (d.spec.type == "xhci") {
            d.xhci_driver = std::make_unique<XhciDriver>(d.spec.name, d.fn->path(), *kernel_, *pci_core_,
                                                         scenario_.drivers.at(d.spec.name));
            d.xhci_driver->set_wakeup(d.spec.wake);
            drv = d.xhci_driver.get();
        } else if (d.spec.type == "pci-device") {
            d.generic_driver = std::make_unique<GenericDriver>(d.spec.name, d.fn->path(), *kernel_, *pci_core_,
                                                               scenario_.drivers.at(d.spec.name), d.spec.desc);
            drv = d.generic_driver.get();
        } else if (d.spec.type == "ahci") {
            d.ahci_driver = std::make_unique<AhciDriver>(d.spec.name, d.fn->path(), d.spec.disk, *kernel_, *pci_core_,
                                                         scenario_.drivers.at(d.spec.name),
                                                         scenario_.drivers.at(d.spec.disk));
            d.ahci_driver->set_observer(block_observer_);
            drv = d.ahci_driver.get();
            // /lib/firmware is on this disk's filesystem.
            if (d.spec.disk == firmware_disk()) fw_store_->set_disk(d.ahci_driver.get());
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
            d.probed = rc == 0;
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
                                                      u.spec.wake, scenario_.drivers.at(u.spec.name));
            u.hid = hid.get();
            u.driver = std::move(hid);
        } else {
            auto storage = std::make_unique<UsbStorageDriver>(u.spec.name, u.spec.disk, *kernel_, *hcd, u.spec.port,
                                                              u.spec.persist, scenario_.drivers.at(u.spec.name),
                                                              scenario_.drivers.at(u.spec.disk));
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
        // /lib/firmware on a USB disk: there once it is bound (the described
        // devices probed before it found no filesystem there: -ENOENT).
        if (u.storage && u.spec.disk == firmware_disk()) fw_store_->set_disk(u.storage);
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

void Platform::fresh_boot(Cpu& cpu) {
    for (auto& d : devs_) {
        retire(d.driver);
        retire(d.pm);
        retire(d.ahci_driver);
        retire(d.disk_pm);
        retire(d.xhci_driver);
        retire(d.generic_driver);
    }
    for (auto& u : usb_) {
        retire(u.driver);
        retire(u.pm);
        retire(u.disk_pm);
        u.hid = nullptr;
        u.storage = nullptr;
    }
    pm_by_name_.clear();
    retire(rpm_);
    retire(pci_core_);
    pci_core_ = std::make_unique<PciCore>(kEcamBase, kPciMmioBase, kPciMmioSize);
    retire(acpi_os_);
    acpi_os_ = std::make_unique<AcpiOs>(*firmware_);
    fw_store_->fresh_boot();
    if (!cpu.irqs_enabled()) cpu.local_irq_enable();  // start_kernel: firmware handed over with interrupts off
    for (auto& c : cpus_)
        if (c.get() != &cpu && !c->online()) c->go_online();
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

const SataDrive* Platform::medium(const std::string& disk) const {
    for (const auto& d : devs_)
        if (d.drive && d.spec.disk == disk) return d.drive.get();
    for (const auto& u : usb_)
        if (u.drive && u.spec.disk == disk)
            return u.swapped && u.storage && u.storage->dead_flag() && !mem_->peek32(u.storage->dead_flag())
                       ? u.other_drive.get()
                       : u.drive.get();
    return nullptr;
}

bool Platform::disk_removed(const std::string& disk) const {
    for (const auto& u : usb_)
        if (u.drive && u.spec.disk == disk) return u.removed;
    return false;
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
    //
    // Only for a driver that probed: a failed probe leaves the function
    // unbound, with no driver state in memory to compare (a controller
    // slower than xhci_reset's 250 ms wait for CNR fails its probe).
    for (auto& d : devs_)
        if (d.driver && d.probed)
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
                checker.watch_mirror(d.fn->path(), "RING_SIZE",
                                     [used, drv, mem] { return used("RING_SIZE", drv->software_ring_size(*mem)); });
            }
    // AHCI: port 0's command list and received-FIS area (PxCLB, PxFB with
    // their upper halves) against the driver's pointers in memory: PxCLB
    // while the port's command list runs (PxCMD.ST), PxFB while FIS receive
    // is on (PxCMD.FRE); a stopped port uses neither.
    for (auto& d : devs_)
        if (d.ahci_driver && d.probed)
            if (auto* a = dynamic_cast<AhciPci*>(d.fn)) {
                const RegisterBank* bank = &a->core().regs();
                AhciDriver* drv = d.ahci_driver.get();
                const PhysicalMemory* mem = mem_.get();
                auto used = [bank](const char* lo, const char* hi, uint32_t on, uint64_t memory) {
                    const bool running = bank->reg("PxCMD").value() & on;
                    const uint64_t device = (bank->reg(hi).value() << 32) | bank->reg(lo).value();
                    return std::make_pair(running ? device : memory, memory);
                };
                checker.watch_mirror(d.fn->path(), "PxCLB", [used, drv, mem] {
                    return used("PxCLB", "PxCLBU", Ahci::CMD_ST, drv->software_clb(*mem));
                });
                checker.watch_mirror(d.fn->path(), "PxFB", [used, drv, mem] {
                    return used("PxFB", "PxFBU", Ahci::CMD_FRE, drv->software_fb(*mem));
                });
            }
    // A described device's engine: the ring base it fetches from and the
    // producer index it runs to, against the driver's struct (an engine
    // that is not enabled uses neither).
    for (auto& d : devs_)
        if (d.generic_driver && d.probed && d.spec.desc->engine.on)
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
        if (d.xhci_driver && d.probed)
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
                // The device context base address array: where a running
                // controller finds each slot's output context (Stop Endpoint
                // writes the dequeue pointer there, Address Device and
                // Configure Endpoint the contexts) against the array the
                // driver allocated. A halted controller uses none.
                const RegisterBank* bank = &core->regs();
                checker.watch_mirror(d.fn->path(), "DCBAAP", [bank, drv, mem] {
                    const uint64_t memory = drv->software_dcbaa(*mem);
                    const bool running = !(bank->reg("USBSTS").value() & XhciCore::STS_HCH);
                    return std::make_pair(running ? bank->reg("DCBAAP").value() : memory, memory);
                });
            }
}

}  // namespace quiesce
