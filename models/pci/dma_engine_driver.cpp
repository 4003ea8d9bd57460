#include "models/pci/dma_engine_driver.h"

#include <fmt/format.h>

#include <cstdlib>

#include "models/cpu/cpu.h"
#include "sim/kernel/kernel.h"

#include <cstring>

namespace quiesce {

namespace {
constexpr int kEIO = -5, kEBUSY = -16, kENODEV = -19, kETIMEDOUT = -110;
constexpr Picos kCopyTimeout = 5'000'000'000ULL;  // 5 ms
}  // namespace

bool DmaEngineDriver::parse_variant(const std::string& s, Variant& out) {
    if (s == "fixed") out = Variant::Fixed;
    else if (s == "legacy-no-restore") out = Variant::LegacyNoRestore;
    else if (s == "mmio-after-d3") out = Variant::MmioAfterD3;
    else if (s == "no-drain-on-freeze") out = Variant::NoDrainOnFreeze;
    else if (s == "d3-in-suspend") out = Variant::D3InSuspend;
    else return false;
    return true;
}

DmaEngineDriver::DmaEngineDriver(std::string name, Kernel& kernel, PciCore& core, Variant variant)
    : name_(std::move(name)), kernel_(kernel), core_(core), variant_(variant) {}

int DmaEngineDriver::probe(Cpu& cpu, PciDev& dev) {
    dev_ = &dev;
    mmio_base_ = core_.cfg_read(cpu, dev, pci::BAR0, 4) & ~0xfu;
    if (cpu.read32(mmio(DmaEngine::ID)) != DmaEngine::kIdValue) return kENODEV;
    drv_ = kernel_.alloc(64 + kExplicitSize, 64);
    uint64_t ring = kernel_.alloc(kRingSize * DmaEngine::kDescSize, 4096);
    cpu.write64(drv_ + F_RING, ring);
    cpu.write32(drv_ + F_SIZE, kRingSize);
    cpu.write32(drv_ + F_TAIL, 0);
    cpu.write32(drv_ + F_CTRL, DmaEngine::CTRL_ENABLE | DmaEngine::CTRL_IRQ_EN);
    cpu.write32(drv_ + F_BURST, 256);
    cpu.write32(drv_ + F_STOPPED, 0);
    cpu.write64(drv_ + F_SAVED, 0);
    cpu.write64(drv_ + F_SAVE_LIST, local_pages_ ? kernel_.alloc(local_pages_ * 8, 64) : 0);
    if (int rc = program(cpu)) return rc;
    if (dev.irq != 0xff) kernel_.request_irq(cpu, dev.irq, name_, [this](Cpu& c) { return irq(c); });
    return 0;
}

// Driver-state registers come from the memory image; the device's HEAD tells
// where the (empty) ring restarts after a reset.
int DmaEngineDriver::program(Cpu& cpu) {
    uint64_t ring = cpu.read64(drv_ + F_RING);
    uint32_t size = cpu.read32(drv_ + F_SIZE);
    cpu.write64(mmio(DmaEngine::RING_BASE), ring);
    cpu.write32(mmio(DmaEngine::RING_SIZE), size);
    uint32_t head = cpu.read32(mmio(DmaEngine::HEAD));
    if (head == 0xffffffff) return kEIO;
    cpu.write32(drv_ + F_TAIL, head);
    cpu.write32(mmio(DmaEngine::TAIL), head);
    cpu.write32(mmio(DmaEngine::BURST), cpu.read32(drv_ + F_BURST));
    cpu.write32(mmio(DmaEngine::CTRL), cpu.read32(drv_ + F_CTRL));
    return 0;
}

bool DmaEngineDriver::irq(Cpu& cpu) {
    uint32_t st = cpu.read32(mmio(DmaEngine::STATUS));
    uint32_t events = st & (DmaEngine::STS_DONE | DmaEngine::STS_ERROR);
    if (st == 0xffffffff || events == 0) return false;
    cpu.write32(mmio(DmaEngine::STATUS), events);
    done_.notify(sc_core::SC_ZERO_TIME);
    return true;
}

void DmaEngineDriver::lock_queue() {
    while (queue_locked_) sc_core::wait(queue_unlocked_);
    queue_locked_ = true;
}

void DmaEngineDriver::unlock_queue() {
    queue_locked_ = false;
    queue_unlocked_.notify(sc_core::SC_ZERO_TIME);
}

int DmaEngineDriver::copy(Cpu& cpu, uint64_t src, uint64_t dst, uint32_t len) {
    lock_queue();
    if (cpu.read32(drv_ + F_STOPPED)) {
        unlock_queue();
        return kEBUSY;
    }
    uint64_t ring = cpu.read64(drv_ + F_RING);
    uint32_t size = cpu.read32(drv_ + F_SIZE);
    uint32_t tail = cpu.read32(drv_ + F_TAIL);
    uint64_t desc = ring + uint64_t(tail) * DmaEngine::kDescSize;
    struct {
        uint64_t src, dst;
        uint32_t len, flags;
        uint64_t cookie;
    } d{src, dst, len, DmaEngine::DESC_VALID, tail};
    cpu.write_block(desc, &d, sizeof d);
    tail = (tail + 1) % size;
    cpu.write32(drv_ + F_TAIL, tail);
    cpu.write32(mmio(DmaEngine::TAIL), tail);
    unlock_queue();
    for (;;) {
        uint32_t flags = cpu.read32(desc + 20);
        if (flags & DmaEngine::DESC_DONE) return 0;
        if (flags & DmaEngine::DESC_ERROR) return kEIO;
        if (!kernel_.wait_event(done_, kCopyTimeout)) {
            flags = cpu.read32(desc + 20);
            return (flags & DmaEngine::DESC_DONE) ? 0 : kETIMEDOUT;
        }
    }
}

int DmaEngineDriver::suspend(Cpu& cpu) {
    lock_queue();
    cpu.write32(drv_ + F_STOPPED, 1);
    uint32_t tail = cpu.read32(drv_ + F_TAIL);
    unlock_queue();
    for (int i = 0;; ++i) {  // drain: wait until the engine consumed the ring
        uint32_t head = cpu.read32(mmio(DmaEngine::HEAD));
        if (head == tail) break;
        if (i >= 1000) {  // give up, and leave the device as it was: nobody calls resume for it
            cpu.write32(drv_ + F_STOPPED, 0);
            return kEBUSY;
        }
        cpu.compute(Cycles(10'000));
    }
    if (!cpu.read32(drv_ + F_HW_SAVED)) save_hw_state(cpu);
    cpu.write32(drv_ + F_HW_SAVED, 0);
    cpu.write32(mmio(DmaEngine::CTRL), 0);
    return 0;
}

// Hardware state only (Linus's save_state): the registers firmware or a
// reset would lose and that memory cannot tell - not the ring pointers,
// which are driver state and rebuilt from memory on resume.
void DmaEngineDriver::save_hw_state(Cpu& cpu) {
    cpu.write32(drv_ + F_CTRL, cpu.read32(mmio(DmaEngine::CTRL)));
    cpu.write32(drv_ + F_BURST, cpu.read32(mmio(DmaEngine::BURST)));
}

int DmaEngineDriver::save_explicit(Cpu& cpu) {
    const uint32_t ctrl = cpu.read32(mmio(DmaEngine::CTRL)), burst = cpu.read32(mmio(DmaEngine::BURST));
    cpu.write32(drv_ + F_HW_SAVED, 1);  // (suspend must not take its implicit copy)
    if (int rc = suspend(cpu)) {
        cpu.write32(drv_ + F_HW_SAVED, 0);
        return rc;
    }
    std::string text = fmt::format("ctrl={:#x}\nburst={:#x}\n", ctrl, burst);
    text.resize(kExplicitSize - 1, '\0');
    cpu.write_block(drv_ + F_EXPLICIT, text.c_str(), kExplicitSize);
    return 0;
}

int DmaEngineDriver::restore_explicit(Cpu& cpu) {
    // What the driver knows without the explicit state: its probe defaults.
    cpu.write32(drv_ + F_CTRL, DmaEngine::CTRL_ENABLE | DmaEngine::CTRL_IRQ_EN);
    cpu.write32(drv_ + F_BURST, 256);
    int rc = can_restore_ ? 0 : -95;  // -EOPNOTSUPP
    if (can_restore_) {
        char text[kExplicitSize];
        cpu.read_block(drv_ + F_EXPLICIT, text, kExplicitSize);
        text[kExplicitSize - 1] = '\0';
        std::string line;
        for (const char* p = text;; ++p) {
            if (*p != '\n' && *p != '\0') {
                line += *p;
                continue;
            }
            if (!line.empty()) {
                size_t eq = line.find('=');
                const std::string key = line.substr(0, eq);
                const uint64_t value = eq == std::string::npos ? 0 : std::strtoull(line.c_str() + eq + 1, nullptr, 0);
                if (key == "ctrl") cpu.write32(drv_ + F_CTRL, uint32_t(value));
                else if (key == "burst") cpu.write32(drv_ + F_BURST, uint32_t(value));
                else rc = -22;  // -EINVAL: a name it does not know
            }
            line.clear();
            if (*p == '\0') break;
        }
    }
    if (int prc = program(cpu)) return prc;
    cpu.write32(drv_ + F_STOPPED, 0);
    return rc;
}

void DmaEngineDriver::set_burst(Cpu& cpu, uint32_t bytes) { cpu.write32(mmio(DmaEngine::BURST), bytes); }

// Pages for the device's own memory: from the page allocator now, when
// memory is tightest (the hibernation copy is already reserved).
int DmaEngineDriver::reserve_local_memory(Cpu& cpu, std::vector<uint64_t>& pages) {
    if (!local_pages_) return 0;
    int rc = kernel_.alloc_pages(cpu, local_pages_, Kernel::Gfp::Kernel, pages);
    if (rc)
        kernel_.hub().instant(kernel_.path(), "local-memory-save", "driver",
                              {{"device", name_}, {"rc", std::to_string(rc)}, {"pages", std::to_string(local_pages_)}});
    return rc;
}

// The quiesced device's memory read out into those pages, one at a time.
void DmaEngineDriver::save_local_memory(Cpu& cpu, const std::vector<uint64_t>& pages) {
    if (pages.empty()) return;
    const uint64_t list = cpu.read64(drv_ + F_SAVE_LIST);
    std::vector<uint8_t> data(4096);
    for (uint64_t i = 0; i < pages.size(); ++i) {
        for (size_t b = 0; b < data.size(); b += 8) {
            uint64_t word = (i << 32) ^ b ^ 0x5a5a5a5aULL;
            std::memcpy(&data[b], &word, 8);
        }
        cpu.write_block(pages[i], data.data(), unsigned(data.size()));
        cpu.write64(list + i * 8, pages[i]);
    }
    cpu.write64(drv_ + F_SAVED, pages.size());
    kernel_.hub().instant(kernel_.path(), "local-memory-save", "driver",
                          {{"device", name_}, {"rc", "0"}, {"pages", std::to_string(pages.size())}});
}

void DmaEngineDriver::restore_local_memory(Cpu& cpu) {
    const uint64_t saved = cpu.read64(drv_ + F_SAVED), list = cpu.read64(drv_ + F_SAVE_LIST);
    for (uint64_t i = 0; i < saved; ++i) {
        cpu.compute(Cycles(1'000));  // the copy back into the device
        kernel_.free_page(cpu.read64(list + i * 8));
    }
    cpu.write64(drv_ + F_SAVED, 0);
}

int DmaEngineDriver::resume(Cpu& cpu) {
    int rc = program(cpu);
    cpu.write32(drv_ + F_STOPPED, 0);
    return rc;
}

int DmaEngineDriver::pm(const std::string& cb, Cpu& cpu, PciDev& dev) {
    // The same quiesce for SUSPEND, FREEZE and HIBERNATE; the same
    // re-programming for RESUME, THAW and RESTORE (which assumes reset
    // hardware: everything is rewritten from memory anyway).
    if (cb == "freeze" && variant_ == Variant::NoDrainOnFreeze) {
        cpu.write32(drv_ + F_STOPPED, 1);  // no new copies; the one in flight goes on
        return 0;
    }
    if (cb == "save_explicit") return save_explicit(cpu);
    if (cb == "restore_explicit") return restore_explicit(cpu);
    if (cb == "save_state") {  // linus2006: while the system keeps running
        save_hw_state(cpu);
        cpu.write32(drv_ + F_HW_SAVED, 1);
        return 0;
    }
    if (cb == "suspend" || cb == "freeze" || cb == "poweroff") {
        // Memory first: a callback that fails must leave the device working
        // (the PM core will not call thaw/resume for it).
        std::vector<uint64_t> pages;
        if (int rc = reserve_local_memory(cpu, pages)) return rc;
        if (int rc = suspend(cpu)) {
            for (uint64_t p : pages) kernel_.free_page(p);
            return rc;
        }
        save_local_memory(cpu, pages);
        if (variant_ == Variant::D3InSuspend) {  // legacy: the driver powers its function down itself
            core_.save_state(cpu, dev);
            return core_.set_power_state(cpu, dev, DState::D3hot);
        }
        return 0;
    }
    if (cb == "resume" || cb == "thaw" || cb == "restore") {
        if (variant_ == Variant::D3InSuspend) {
            if (int rc = core_.set_power_state(cpu, dev, DState::D0)) return rc;
            core_.restore_state(cpu, dev);
        }
        restore_local_memory(cpu);
        int rc = resume(cpu);
        if (handoff_ && cb == "resume") {  // (system resume only, as ehci_wait_for_companions)
            kernel_.device_pm_wait_for_dev(name_, handoff_->name());
            const uint32_t ctrl = cpu.read32(handoff_->mmio_base() + DmaEngine::CTRL);
            const bool running = ctrl != 0xffffffff && (ctrl & DmaEngine::CTRL_ENABLE);
            kernel_.hub().instant(kernel_.path(), "handoff", "driver",
                                  {{"device", name_}, {"to", handoff_->name()}, {"result", running ? "ok" : "failed"}});
        }
        return rc;
    }
    if (cb == "suspend_noirq") {
        // The handshake with the companion: its status, through its MMIO.
        if (companion_) cpu.read32(companion_->mmio_base() + DmaEngine::STATUS);
        switch (variant_) {
            case Variant::Fixed:
            case Variant::NoDrainOnFreeze:
            case Variant::D3InSuspend: return 0;
            case Variant::LegacyNoRestore: return core_.set_power_state(cpu, dev, DState::D3hot);
            case Variant::MmioAfterD3:
                core_.save_state(cpu, dev);
                if (int rc = core_.set_power_state(cpu, dev, DState::D3hot)) return rc;
                cpu.write32(mmio(DmaEngine::CTRL), 0);  // the bug: the function is already in D3hot
                return 0;
        }
    }
    if (cb == "resume_noirq") {
        switch (variant_) {
            case Variant::Fixed:
            case Variant::NoDrainOnFreeze:
            case Variant::D3InSuspend: return 0;
            case Variant::LegacyNoRestore: return core_.set_power_state(cpu, dev, DState::D0);
            case Variant::MmioAfterD3:
                core_.set_power_state(cpu, dev, DState::D0);
                core_.restore_state(cpu, dev);
                return 0;
        }
    }
    return 0;
}

}  // namespace quiesce
