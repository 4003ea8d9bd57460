// The OS's PCI core (drivers/pci): configuration accessors through ECAM,
// enumeration with BAR sizing, pci_save_state / pci_restore_state and
// pci_set_power_state exactly as reference/linux-pm.md §4 describes. This is
// software: every access goes through a CPU and the bus, and takes time.
#pragma once

#include "models/pci/function.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace quiesce {

// How many functions enumeration keeps (platform files are checked against it).
constexpr size_t kMaxPciFunctions = 256;

class Cpu;

// What the OS knows of one function (struct pci_dev).
struct PciDev {
    unsigned bus = 0;
    uint8_t devfn = 0;
    uint16_t vendor = 0, device = 0;
    bool bridge = false;
    unsigned irq = 0xff;            // platform IRQ from chipset routing
    uint32_t bar[6] = {};            // assigned bases
    uint32_t bar_size[6] = {};
    std::array<uint32_t, 16> saved{};
    bool state_saved = false;
    PciDev* parent = nullptr;        // upstream bridge
    std::string bdf() const;
};

class PciCore {
public:
    PciCore(uint64_t ecam_base, uint64_t mmio_base, uint64_t mmio_size);

    uint32_t cfg_read(Cpu& cpu, const PciDev& d, uint32_t reg, unsigned len);
    void cfg_write(Cpu& cpu, const PciDev& d, uint32_t reg, uint32_t value, unsigned len);

    // Walks bus 0 depth first: bus numbers, BAR sizing and assignment, bridge
    // windows, INTx lines from the chipset's PIRQ routing, COMMAND enables.
    void enumerate(Cpu& cpu);
    std::vector<PciDev>& devices() { return devices_; }
    PciDev* find(unsigned bus, uint8_t devfn);

    void save_state(Cpu& cpu, PciDev& d);
    void restore_state(Cpu& cpu, PciDev& d);
    // Writes PMCSR and waits the D3hot delay. Returns 0 or -EIO when the
    // read-back does not show the new state.
    int set_power_state(Cpu& cpu, PciDev& d, DState state);
    void set_pme(Cpu& cpu, PciDev& d, bool enable);

private:
    uint64_t cfg_addr(const PciDev& d, uint32_t reg) const;
    void scan_bus(Cpu& cpu, unsigned bus, PciDev* parent, unsigned& next_bus);
    void size_bars(Cpu& cpu, PciDev& d);
    void assign_irq(Cpu& cpu, PciDev& d);

    uint64_t ecam_base_;
    uint64_t mmio_next_;
    uint64_t mmio_end_;
    std::vector<PciDev> devices_;  // reserved up front: PciDev* stay valid
};

}  // namespace quiesce
