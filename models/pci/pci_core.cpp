// The OS's PCI core: configuration access through ECAM, enumeration, BARs and interrupt routing.
#include "models/pci/pci_core.h"

#include "models/cpu/cpu.h"
#include "models/pci/config_space.h"
#include "models/pci/host_bridge.h"
#include "sim/core/errors.h"

#include <fmt/format.h>

namespace quiesce {

using namespace pci;

namespace {
Cycles kMs(uint64_t ms, const Cpu& cpu) { return Cycles(cpu.clock().hz() / 1000 * ms); }
}  // namespace

std::string PciDev::bdf() const { return fmt::format("{:02x}:{:02x}.{}", bus, devfn >> 3, devfn & 7); }

PciCore::PciCore(uint64_t ecam_base, uint64_t mmio_base, uint64_t mmio_size)
    : ecam_base_(ecam_base), mmio_next_(mmio_base), mmio_end_(mmio_base + mmio_size) {
    devices_.reserve(kMaxPciFunctions);
}

uint64_t PciCore::cfg_addr(const PciDev& d, uint32_t reg) const {
    return ecam_base_ + (uint64_t(d.bus) << 20) + (uint64_t(d.devfn) << 12) + reg;
}

uint32_t PciCore::cfg_read(Cpu& cpu, const PciDev& d, uint32_t reg, unsigned len) {
    return uint32_t(cpu.read(cfg_addr(d, reg), len));
}

void PciCore::cfg_write(Cpu& cpu, const PciDev& d, uint32_t reg, uint32_t value, unsigned len) {
    cpu.write(cfg_addr(d, reg), value, len);
}

PciDev* PciCore::find(unsigned bus, uint8_t devfn) {
    for (auto& d : devices_)
        if (d.bus == bus && d.devfn == devfn) return &d;
    return nullptr;
}

void PciCore::enumerate(Cpu& cpu) {
    unsigned next_bus = 1;
    scan_bus(cpu, 0, nullptr, next_bus);
}

void PciCore::scan_bus(Cpu& cpu, unsigned bus, PciDev* parent, unsigned& next_bus) {
    // pci_scan_slot: function 0 of each device, then functions 1-7 only
    // when function 0's header says multi-function (a gap is skipped).
    for (unsigned slot = 0; slot < 32 * 8; ++slot) {
        const unsigned fn = slot & 7;
        PciDev probe;
        probe.bus = bus;
        probe.devfn = uint8_t(slot);
        uint32_t id = cfg_read(cpu, probe, VENDOR_ID, 4);
        if ((id & 0xffff) == 0xffff) {
            if (fn == 0) slot |= 7;  // no function 0: the device is absent
            continue;
        }
        const uint32_t header = cfg_read(cpu, probe, HEADER_TYPE, 1);
        if (fn == 0 && !(header & HEADER_MULTI_FUNCTION)) slot |= 7;
        SIM_ASSERT(devices_.size() < devices_.capacity(), "too many PCI functions");
        devices_.push_back(probe);
        PciDev& d = devices_.back();
        d.vendor = uint16_t(id);
        d.device = uint16_t(id >> 16);
        d.parent = parent;
        d.bridge = (header & 0x7f) == 1;
        size_bars(cpu, d);
        assign_irq(cpu, d);
        if (d.bridge) {
            unsigned secondary = next_bus++;
            cfg_write(cpu, d, PRIMARY_BUS, bus, 1);
            cfg_write(cpu, d, SECONDARY_BUS, secondary, 1);
            cfg_write(cpu, d, SUBORDINATE_BUS, 0xff, 1);
            // Memory window: 1 MiB aligned, covering what the children get.
            mmio_next_ = (mmio_next_ + 0xfffff) & ~0xfffffULL;
            uint64_t window_base = mmio_next_;
            scan_bus(cpu, secondary, &d, next_bus);
            cfg_write(cpu, d, SUBORDINATE_BUS, next_bus - 1, 1);
            uint64_t window_end = std::max<uint64_t>(window_base + 0x100000, (mmio_next_ + 0xfffff) & ~0xfffffULL);
            mmio_next_ = window_end;
            cfg_write(cpu, d, MEM_BASE, uint32_t(window_base >> 16) & 0xfff0, 2);
            cfg_write(cpu, d, MEM_LIMIT, uint32_t((window_end - 1) >> 16) & 0xfff0, 2);
        }
        cfg_write(cpu, d, COMMAND, CMD_MEMORY | CMD_MASTER | CMD_SERR, 2);
    }
}

void PciCore::size_bars(Cpu& cpu, PciDev& d) {
    for (unsigned i = 0; i < bar_count(d.bridge); ++i) {
        uint32_t reg = BAR0 + 4 * i;
        uint32_t old = cfg_read(cpu, d, reg, 4);
        cfg_write(cpu, d, reg, 0xffffffff, 4);
        uint32_t probe = cfg_read(cpu, d, reg, 4);
        cfg_write(cpu, d, reg, old, 4);
        if (probe == 0 || probe == 0xffffffff) continue;
        uint32_t size = ~(probe & ~0xfu) + 1;
        uint64_t base = (mmio_next_ + size - 1) & ~uint64_t(size - 1);
        SIM_ASSERT(base + size <= mmio_end_, "PCI memory window exhausted");
        mmio_next_ = base + size;
        d.bar[i] = uint32_t(base);
        d.bar_size[i] = size;
        cfg_write(cpu, d, reg, uint32_t(base), 4);
    }
}

void PciCore::assign_irq(Cpu& cpu, PciDev& d) {
    uint8_t pin = uint8_t(cfg_read(cpu, d, INT_PIN, 1));
    if (pin == 0 || pin > 4) return;
    // Swizzle up to the root bus, then read the chipset's PIRQ routing.
    unsigned p = pin;
    unsigned devnum = d.devfn >> 3;
    for (PciDev* up = d.parent; up; up = up->parent) {
        p = ((p - 1 + devnum) % 4) + 1;
        devnum = up->devfn >> 3;
    }
    unsigned pirq = (p - 1 + devnum) % 4;
    PciDev host;  // 00:00.0
    uint8_t rout = uint8_t(cfg_read(cpu, host, PciHostBridge::PIRQ_ROUT + pirq, 1));
    if (rout & PciHostBridge::ROUT_DISABLE) return;
    d.irq = rout & 0x0f;
    cfg_write(cpu, d, INT_LINE, d.irq, 1);
}

void PciCore::save_state(Cpu& cpu, PciDev& d) {
    for (unsigned i = 0; i < 16; ++i) d.saved[i] = cfg_read(cpu, d, i * 4, 4);
    d.state_saved = true;
}

void PciCore::restore_state(Cpu& cpu, PciDev& d) {
    if (!d.state_saved) return;
    auto restore_dword = [&](unsigned i, bool force, unsigned retries) {
        uint32_t reg = i * 4;
        for (unsigned attempt = 0;; ++attempt) {
            uint32_t cur = cfg_read(cpu, d, reg, 4);
            if (cur == d.saved[i] && !force) return;
            cfg_write(cpu, d, reg, d.saved[i], 4);
            force = false;
            if (retries == 0) return;
            if (cfg_read(cpu, d, reg, 4) == d.saved[i] || attempt + 1 >= retries) return;
            cpu.delay(kMs(1, cpu));
        }
    };
    if (d.bridge) {
        for (int i = 15; i >= 12; --i) restore_dword(unsigned(i), false, 0);
        for (int i = 11; i >= 9; --i) restore_dword(unsigned(i), true, 0);
        for (int i = 8; i >= 0; --i) restore_dword(unsigned(i), false, 0);
    } else {
        for (int i = 15; i >= 10; --i) restore_dword(unsigned(i), false, 0);
        for (int i = 9; i >= 4; --i) restore_dword(unsigned(i), false, 10);
        for (int i = 3; i >= 0; --i) restore_dword(unsigned(i), false, 0);
    }
    d.state_saved = false;
}

int PciCore::set_power_state(Cpu& cpu, PciDev& d, DState state) {
    uint16_t pmcsr = uint16_t(cfg_read(cpu, d, PMCSR, 2));
    if (pmcsr == 0xffff) return -5;  // -EIO: device unreachable
    auto cur = DState(pmcsr & PMCSR_STATE_MASK);
    if (cur == state) return 0;
    uint16_t next = uint16_t((pmcsr & ~(PMCSR_STATE_MASK | PMCSR_PME_STATUS)) | uint16_t(state));
    cfg_write(cpu, d, PMCSR, next, 2);
    if (cur == DState::D3hot || state == DState::D3hot) cpu.delay(kMs(10, cpu));  // PCI PM: at least 10 ms
    uint16_t back = uint16_t(cfg_read(cpu, d, PMCSR, 2));
    return (back & PMCSR_STATE_MASK) == uint16_t(state) ? 0 : -5;
}

void PciCore::set_pme(Cpu& cpu, PciDev& d, bool enable) {
    uint16_t pmcsr = uint16_t(cfg_read(cpu, d, PMCSR, 2));
    uint16_t next = uint16_t((pmcsr & ~PMCSR_PME_EN) | (enable ? PMCSR_PME_EN : 0) | PMCSR_PME_STATUS);
    cfg_write(cpu, d, PMCSR, next, 2);
}

}  // namespace quiesce
