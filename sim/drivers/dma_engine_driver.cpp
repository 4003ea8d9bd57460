// The DMA engine's OS driver: probe, the descriptor ring, copies, its interrupt, its PM state.
#include "sim/drivers/dma_engine_driver.h"
#include "sim/core/sync.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>

#include "models/cpu/cpu.h"
#include "sim/core/memory.h"
#include "sim/kernel/kernel.h"

namespace quiesce {

namespace {
constexpr int kEIO = -5, kEBUSY = -16, kENODEV = -19, kEINVAL = -22, kEOPNOTSUPP = -95, kETIMEDOUT = -110;
constexpr Picos kCopyTimeout = 5'000'000'000ULL;  // 5 ms
}  // namespace

DmaEngineDriver::DmaEngineDriver(std::string name, std::string track, Kernel& kernel, PciCore& core,
                                 SharedProgram program)
    : PciDataDriver(std::move(name), std::move(track), kernel, core, std::move(program)) {}

int DmaEngineDriver::probe(Cpu& cpu, PciDev& dev) {
    dev_ = &dev;
    mmio_base_ = core_.cfg_read(cpu, dev, pci::BAR0, 4) & ~0xfu;
    if (cpu.read32(mmio(DmaEngine::ID)) != DmaEngine::kIdValue) return kENODEV;
    drv_ = kernel_.alloc(64 + kExplicitSize, 64);
    runner_.bind();
    uint64_t ring = kernel_.alloc(kRingSize * DmaEngine::kDescSize, 4096);
    cpu.write64(drv_ + F_RING, ring);
    cpu.write32(drv_ + F_SIZE, kRingSize);
    cpu.write32(drv_ + F_TAIL, 0);
    cpu.write32(drv_ + F_STOPPED, 0);
    // The probe defaults, where `save` keeps CTRL and BURST: what resume
    // writes back if nothing was saved.
    cpu.write64(runner_.slot("CTRL"), kCtrlDefault);
    cpu.write64(runner_.slot("BURST"), kBurstDefault);
    for (const char* reg : {"RING_BASE", "RING_SIZE", "TAIL"})
        if (int rc = rederive(cpu, reg)) return rc;
    cpu.write32(mmio(DmaEngine::BURST), kBurstDefault);
    cpu.write32(mmio(DmaEngine::CTRL), kCtrlDefault);
    request_irq(cpu);
    return 0;
}

// Driver-state registers come from the memory image; the device's HEAD tells
// where the (empty) ring restarts after a reset.
int DmaEngineDriver::rederive(Cpu& cpu, const std::string& reg) {
    if (reg == "RING_BASE") cpu.write64(mmio(DmaEngine::RING_BASE), cpu.read64(drv_ + F_RING));
    else if (reg == "RING_SIZE") cpu.write32(mmio(DmaEngine::RING_SIZE), cpu.read32(drv_ + F_SIZE));
    else if (reg == "TAIL") {
        const uint32_t head = cpu.read32(mmio(DmaEngine::HEAD));
        if (head == 0xffffffff) return kEIO;
        cpu.write32(drv_ + F_TAIL, head);
        cpu.write32(mmio(DmaEngine::TAIL), head);
    }
    return 0;
}

bool DmaEngineDriver::irq(Cpu& cpu) {
    if (!runner_.runtime_active()) return false;  // a neighbour's interrupt on the shared line
    uint32_t st = cpu.read32(mmio(DmaEngine::STATUS));
    uint32_t events = st & (DmaEngine::STS_DONE | DmaEngine::STS_ERROR);
    if (st == 0xffffffff || events == 0) return false;
    cpu.write32(mmio(DmaEngine::STATUS), events);
    quiesce::notify(done_, sc_core::SC_ZERO_TIME);
    return true;
}


int DmaEngineDriver::copy(Cpu& cpu, uint64_t src, uint64_t dst, uint32_t len) {
    // The driver file's io_begin (pm_runtime_get_sync...) and io_end
    // (pm_runtime_put_autosuspend...) around the request.
    if (const int rc = runner_.run_io("io_begin", cpu); rc < 0) return rc;
    const int rc = submit(cpu, src, dst, len);
    runner_.run_io("io_end", cpu);
    return rc;
}

int DmaEngineDriver::submit(Cpu& cpu, uint64_t src, uint64_t dst, uint32_t len) {
    queue_lock_.lock();
    if (cpu.read32(drv_ + F_STOPPED)) {
        queue_lock_.unlock();
        return kEBUSY;
    }
    uint64_t ring = cpu.read64(drv_ + F_RING);
    uint32_t size = cpu.read32(drv_ + F_SIZE);
    uint32_t tail = cpu.read32(drv_ + F_TAIL);
    if (size == 0 || tail >= size) {
        // The driver's ring state in memory is not what it wrote (lines a
        // core never wrote back, a stray write): Linux would take a divide
        // error or index past its ring here. Refused, and said.
        queue_lock_.unlock();
        kernel_.hub().guest_error(track_, "driver.state-corrupt",
                                  fmt::format("{}: ring size {} and tail {} in driver memory: the request is refused",
                                              name_, size, tail),
                                  {{"device", name_}, {"size", std::to_string(size)}, {"tail", std::to_string(tail)}});
        return kEIO;
    }
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
    queue_lock_.unlock();
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

uint64_t DmaEngineDriver::software_ring(const PhysicalMemory& mem) const { return drv_ ? mem.peek64(drv_ + F_RING) : 0; }

uint32_t DmaEngineDriver::software_tail(const PhysicalMemory& mem) const { return drv_ ? mem.peek32(drv_ + F_TAIL) : 0; }

uint32_t DmaEngineDriver::software_ring_size(const PhysicalMemory& mem) const {
    return drv_ ? mem.peek32(drv_ + F_SIZE) : 0;
}

void DmaEngineDriver::queue_stop(Cpu& cpu) {
    queue_lock_.lock();
    cpu.write32(drv_ + F_STOPPED, 1);
    queue_lock_.unlock();
}

void DmaEngineDriver::queue_start(Cpu& cpu) { cpu.write32(drv_ + F_STOPPED, 0); }

// The engine consumed the ring up to the tail the driver wrote last.
bool DmaEngineDriver::drained(Cpu& cpu) { return cpu.read32(mmio(DmaEngine::HEAD)) == cpu.read32(drv_ + F_TAIL); }

std::string DmaEngineDriver::param(const std::string& name) const {
    auto it = peers_.find(name);
    return it == peers_.end() ? "" : it->second->name();
}

uint64_t DmaEngineDriver::peer_mmio_base(const std::string& peer) const {
    for (const auto& [param, drv] : peers_)
        if (drv->name() == peer) return drv->mmio_base();
    return 0;
}

int DmaEngineDriver::command(Cpu& cpu, const std::string& name, DriverRunner& runner) {
    if (name == "save-local-memory") save_local_memory(cpu, runner.buffer("local"));
    else if (name == "restore-local-memory") restore_local_memory(cpu, runner.buffer("local"));
    else if (name == "explicit-save") return explicit_save(cpu);
    else if (name == "explicit-restore") return explicit_restore(cpu);
    else if (name == "handoff") return handoff(cpu);
    else if (name == "reclaim-ring") return reclaim_ring(cpu);
    else SIM_PANIC("dma-engine driver: no command {}", name);
    return 0;
}

int DmaEngineDriver::explicit_save(Cpu& cpu) {
    const uint32_t ctrl = cpu.read32(mmio(DmaEngine::CTRL)), burst = cpu.read32(mmio(DmaEngine::BURST));
    std::string text = fmt::format("ctrl={:#x}\nburst={:#x}\n", ctrl, burst);
    text.resize(kExplicitSize - 1, '\0');
    cpu.write_block(drv_ + F_EXPLICIT, text.c_str(), kExplicitSize);
    return 0;
}

int DmaEngineDriver::explicit_restore(Cpu& cpu) {
    // What the driver knows without the explicit state: its probe defaults.
    cpu.write64(runner_.slot("CTRL"), kCtrlDefault);
    cpu.write64(runner_.slot("BURST"), kBurstDefault);
    if (!can_restore_) return kEOPNOTSUPP;
    int rc = 0;
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
            if (key == "ctrl") cpu.write64(runner_.slot("CTRL"), uint32_t(value));
            else if (key == "burst") cpu.write64(runner_.slot("BURST"), uint32_t(value));
            else rc = kEINVAL;  // a name it does not know
        }
        line.clear();
        if (*p == '\0') break;
    }
    return rc;
}

// A suspend that stops the engine rather than draining it (as a dmaengine
// driver's terminate_all does): with CTRL.ENABLE clear the engine finishes
// the descriptor it is processing and fetches no more. The driver waits for
// that one - as its submitter does, on its DONE flag, woken by the
// completion interrupt - and then owns the rest of the ring: every
// descriptor from the HEAD the engine shows to the tail the driver wrote
// was never fetched, and goes back to its submitter aborted.
int DmaEngineDriver::reclaim_ring(Cpu& cpu) {
    const uint64_t ring = cpu.read64(drv_ + F_RING);
    const uint32_t size = cpu.read32(drv_ + F_SIZE);
    const uint32_t st = cpu.read32(mmio(DmaEngine::STATUS));
    if (st == 0xffffffff || size == 0) return kEIO;
    if (st & DmaEngine::STS_BUSY) {
        const uint64_t desc = ring + uint64_t(cpu.read32(mmio(DmaEngine::HEAD)) % size) * DmaEngine::kDescSize;
        const Picos end = now_ps() + kCopyTimeout;
        while (!(cpu.read32(desc + 20) & (DmaEngine::DESC_DONE | DmaEngine::DESC_ERROR))) {
            if (now_ps() >= end) return kETIMEDOUT;
            kernel_.wait_event(done_, end - now_ps());
        }
    }
    const uint32_t head = cpu.read32(mmio(DmaEngine::HEAD));
    if (head == 0xffffffff) return kEIO;
    const uint32_t tail = cpu.read32(drv_ + F_TAIL);
    uint32_t reclaimed = 0;
    for (uint32_t i = head % size; i != tail % size && reclaimed < size; i = (i + 1) % size, ++reclaimed) {
        const uint64_t desc = ring + uint64_t(i) * DmaEngine::kDescSize;
        cpu.write32(desc + 20, cpu.read32(desc + 20) | DmaEngine::DESC_ERROR);
    }
    cpu.write32(drv_ + F_TAIL, head % size);
    kernel_.hub().instant(kernel_.path(), "dma-reclaim", "driver",
                          {{"device", name_}, {"head", std::to_string(head)}, {"tail", std::to_string(tail)},
                           {"reclaimed", std::to_string(reclaimed)}});
    if (reclaimed) quiesce::notify(done_, sc_core::SC_ZERO_TIME);  // their submitters see DESC_ERROR
    return 0;
}

void DmaEngineDriver::set_burst(Cpu& cpu, uint32_t bytes) { cpu.write32(mmio(DmaEngine::BURST), bytes); }

// The quiesced device's memory read out into the buffer's pages.
void DmaEngineDriver::save_local_memory(Cpu& cpu, const std::vector<uint64_t>& pages) {
    if (pages.empty()) return;
    std::vector<uint8_t> data(4096);
    for (uint64_t i = 0; i < pages.size(); ++i) {
        for (size_t b = 0; b < data.size(); b += 8) {
            uint64_t word = (i << 32) ^ b ^ 0x5a5a5a5aULL;
            std::memcpy(&data[b], &word, 8);
        }
        cpu.write_block(pages[i], data.data(), unsigned(data.size()));
    }
    kernel_.hub().instant(kernel_.path(), "local-memory-save", "driver",
                          {{"device", name_}, {"rc", "0"}, {"pages", std::to_string(pages.size())}});
}

void DmaEngineDriver::restore_local_memory(Cpu& cpu, std::vector<uint64_t>& pages) {
    for (uint64_t p : pages) {
        cpu.compute(Cycles(1'000));  // the copy back into the device
        kernel_.free_page(p);
    }
    pages.clear();
}

int DmaEngineDriver::handoff(Cpu& cpu) {
    auto it = peers_.find("handoff");
    if (it == peers_.end()) return 0;
    const uint32_t ctrl = cpu.read32(it->second->mmio_base() + DmaEngine::CTRL);
    const bool running = ctrl != 0xffffffff && (ctrl & DmaEngine::CTRL_ENABLE);
    kernel_.hub().instant(kernel_.path(), "handoff", "driver",
                          {{"device", name_}, {"to", it->second->name()}, {"result", running ? "ok" : "failed"}});
    return 0;
}

}  // namespace quiesce
