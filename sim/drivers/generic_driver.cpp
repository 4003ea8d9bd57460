// The OS driver of a device a file describes: probe, its command ring and the driver file's callbacks.
#include "sim/drivers/generic_driver.h"
#include "sim/core/sync.h"

#include "models/cpu/cpu.h"
#include "sim/core/errors.h"
#include "sim/core/memory.h"
#include "sim/kernel/firmware.h"
#include "sim/kernel/kernel.h"

#include <cstring>

namespace quiesce {

namespace {
constexpr int kEIO = -5, kEBUSY = -16, kENODEV = -19, kETIMEDOUT = -110;
constexpr Picos kCommandTimeout = 50'000'000'000ULL;  // 50 ms
constexpr Picos kFirmwareTimeout = 100'000'000'000ULL;  // 100 ms

const RegSpec& spec_of(const GenericDeviceDesc& d, const std::string& reg) {
    for (const auto& s : d.registers)
        if (s.name == reg) return s;
    SIM_PANIC("{}: no register {}", d.name, reg);
}
}  // namespace

GenericDriver::GenericDriver(std::string name, std::string track, Kernel& kernel, PciCore& core, SharedProgram program,
                             std::shared_ptr<const GenericDeviceDesc> desc)
    : PciDataDriver(std::move(name), std::move(track), kernel, core, std::move(program)), desc_(std::move(desc)) {}

uint64_t GenericDriver::read_role(Cpu& cpu, const RegRef& r) {
    const RegSpec& s = spec_of(*desc_, r.reg);
    const uint64_t m = role_mask(s, r.field);
    return (cpu.read(mmio_base_ + s.offset, s.width) & m) >> mask_shift(m);
}

// A field written with read-modify-write; a W1C field is cleared by writing
// its ones alone.
void GenericDriver::write_role(Cpu& cpu, const RegRef& r, uint64_t v) {
    const RegSpec& s = spec_of(*desc_, r.reg);
    const uint64_t m = role_mask(s, r.field);
    uint64_t word = r.field.empty() ? 0 : cpu.read(mmio_base_ + s.offset, s.width) & ~s.w1c;
    word = (word & ~m) | ((v << mask_shift(m)) & m);
    cpu.write(mmio_base_ + s.offset, word, s.width);
}

int GenericDriver::probe(Cpu& cpu, PciDev& dev) {
    dev_ = &dev;
    mmio_base_ = core_.cfg_read(cpu, dev, pci::BAR0, 4) & ~0xfu;
    if (cpu.read32(mmio_base_ + desc_->registers.front().offset) == 0xffffffff) return kENODEV;
    drv_ = kernel_.alloc(64, 64);
    runner_.bind();
    request_irq(cpu);
    if (desc_->firmware.on) {
        // request_firmware at probe: the name joins the firmware cache.
        FirmwareStore* store = kernel_.firmware();
        FirmwareStore::Blob fw;
        int rc = store ? store->request(cpu, name_, desc_->firmware.name, true, fw) : -2;
        if (rc) return rc;
        write_role(cpu, desc_->firmware.addr, fw.addr);
        write_role(cpu, desc_->firmware.length, fw.size);
        write_role(cpu, desc_->firmware.load, 1);
        const Picos until = now_ps() + kFirmwareTimeout;
        while (!read_role(cpu, desc_->firmware.ready)) {
            if (read_role(cpu, desc_->firmware.error) || now_ps() >= until) return kEIO;
            kernel_.sleep(100'000'000, name_ + ": firmware loading");  // 100 us
        }
    }
    if (desc_->engine.on) {
        const uint64_t ring = kernel_.alloc(kRingSize * GenericDeviceDesc::kCmdSize, 4096);
        cpu.write64(drv_ + F_RING, ring);
        cpu.write32(drv_ + F_SIZE, kRingSize);
        cpu.write32(drv_ + F_TAIL, 0);
        cpu.write32(drv_ + F_STOPPED, 0);
        const auto& e = desc_->engine;
        for (const RegRef* r : {&e.ring_base, &e.ring_size, &e.tail})
            if (int rc = rederive(cpu, r->reg)) return rc;
        if (!e.irq_enable.empty()) write_role(cpu, e.irq_enable, 1);
        if (!e.enable.empty()) write_role(cpu, e.enable, 1);
    }
    return 0;
}

// Driver-state registers from the memory image; the tail restarts where
// the device's head is (an empty ring after a reset).
int GenericDriver::rederive(Cpu& cpu, const std::string& reg) {
    const auto& e = desc_->engine;
    if (reg == e.ring_base.reg) write_role(cpu, e.ring_base, cpu.read64(drv_ + F_RING));
    else if (reg == e.ring_size.reg) write_role(cpu, e.ring_size, cpu.read32(drv_ + F_SIZE));
    else if (reg == e.tail.reg) {
        const RegSpec& s = spec_of(*desc_, e.head.reg);
        if (cpu.read(mmio_base_ + s.offset, s.width) == role_mask(s, "")) return kEIO;  // all ones: gone
        const uint64_t head = read_role(cpu, e.head);
        cpu.write32(drv_ + F_TAIL, uint32_t(head));
        write_role(cpu, e.tail, head);
    }
    return 0;
}

bool GenericDriver::irq(Cpu& cpu) {
    const auto& e = desc_->engine;
    if (!e.on || !runner_.runtime_active()) return false;  // (a neighbour's interrupt on a shared line)
    const RegSpec& s = spec_of(*desc_, e.done.reg);
    if (cpu.read(mmio_base_ + s.offset, s.width) == role_mask(s, "")) return false;  // all ones: gone
    const bool done = read_role(cpu, e.done), error = !e.error.empty() && read_role(cpu, e.error);
    if (!done && !error) return false;
    // Acknowledge: W1C bits take a one, others a zero.
    if (done) write_role(cpu, e.done, (s.w1c & role_mask(s, e.done.field)) ? 1 : 0);
    if (error) {
        const RegSpec& es = spec_of(*desc_, e.error.reg);
        write_role(cpu, e.error, (es.w1c & role_mask(es, e.error.field)) ? 1 : 0);
    }
    quiesce::notify(done_, sc_core::SC_ZERO_TIME);
    return true;
}


int GenericDriver::transfer(Cpu& cpu, uint32_t op, uint64_t host, uint64_t offset, uint32_t len, bool own) {
    // No ring without a probe that set one up: one that failed (no device
    // answered, the firmware never became ready) leaves the device without
    // a driver's I/O path, as Linux leaves it unbound.
    if (!desc_->engine.on || !drv_) return kENODEV;
    // The driver's own commands (VRAM eviction) run inside its PM callbacks;
    // a request from outside is wrapped in the file's io_begin / io_end.
    if (own) return submit(cpu, op, host, offset, len, own);
    if (const int rc = runner_.run_io("io_begin", cpu); rc < 0) return rc;
    const int rc = submit(cpu, op, host, offset, len, own);
    runner_.run_io("io_end", cpu);
    return rc;
}

int GenericDriver::submit(Cpu& cpu, uint32_t op, uint64_t host, uint64_t offset, uint32_t len, bool own) {
    queue_lock_.lock();
    if (!own && cpu.read32(drv_ + F_STOPPED)) {
        queue_lock_.unlock();
        return kEBUSY;
    }
    const uint64_t ring = cpu.read64(drv_ + F_RING);
    const uint32_t size = cpu.read32(drv_ + F_SIZE);
    if (size == 0) {  // the probe stopped before it wrote the ring's size
        queue_lock_.unlock();
        return kENODEV;
    }
    uint32_t tail = cpu.read32(drv_ + F_TAIL);
    const uint64_t at = ring + uint64_t(tail) * GenericDeviceDesc::kCmdSize;
    struct {
        uint32_t op, len;
        uint64_t host, offset;
        uint32_t flags, cookie;
    } c{op, len, host, offset, GenericDeviceDesc::CMD_VALID, tail};
    cpu.write_block(at, &c, sizeof c);
    tail = (tail + 1) % size;
    cpu.write32(drv_ + F_TAIL, tail);
    write_role(cpu, desc_->engine.tail, tail);
    queue_lock_.unlock();
    const Picos until = now_ps() + kCommandTimeout;
    for (;;) {
        const uint32_t flags = cpu.read32(at + 24);
        if (flags & GenericDeviceDesc::CMD_DONE) return 0;
        if (flags & GenericDeviceDesc::CMD_ERROR) return kEIO;
        if (now_ps() >= until || !kernel_.wait_event(done_, until - now_ps()))
            return (cpu.read32(at + 24) & GenericDeviceDesc::CMD_DONE) ? 0 : kETIMEDOUT;
    }
}

uint64_t GenericDriver::software_ring(const PhysicalMemory& mem) const { return drv_ ? mem.peek64(drv_ + F_RING) : 0; }

uint32_t GenericDriver::software_tail(const PhysicalMemory& mem) const { return drv_ ? mem.peek32(drv_ + F_TAIL) : 0; }

void GenericDriver::queue_stop(Cpu& cpu) {
    queue_lock_.lock();
    cpu.write32(drv_ + F_STOPPED, 1);
    queue_lock_.unlock();
}

void GenericDriver::queue_start(Cpu& cpu) { cpu.write32(drv_ + F_STOPPED, 0); }

bool GenericDriver::drained(Cpu& cpu) {
    if (!desc_->engine.on) return true;
    return read_role(cpu, desc_->engine.head) == cpu.read32(drv_ + F_TAIL);
}

int GenericDriver::command(Cpu& cpu, const std::string& name, DriverRunner& runner) {
    if (name == "load-firmware") return load_firmware(cpu, runner);
    if (name == "save-local-memory") return local_memory(cpu, GenericDeviceDesc::OP_READ, runner);
    if (name == "restore-local-memory") return local_memory(cpu, GenericDeviceDesc::OP_WRITE, runner);
    SIM_PANIC("{} driver: no command {}", desc_->name, name);
}

// The image request-firmware holds goes to the device; -EINVAL when the
// driver holds none (it never asked, or released it).
int GenericDriver::load_firmware(Cpu& cpu, DriverRunner& runner) {
    const FirmwareStore::Blob* fw = runner.firmware(desc_->firmware.name);
    if (!fw) return -22;
    write_role(cpu, desc_->firmware.addr, fw->addr);
    write_role(cpu, desc_->firmware.length, fw->size);
    write_role(cpu, desc_->firmware.load, 1);
    return 0;
}

// VRAM eviction: the engine copies local memory page by page into the
// buffer's pages (OP_READ), or back from them (OP_WRITE, then the pages are
// freed). These are the driver's own commands: they go even while the I/O
// path's queue is stopped.
int GenericDriver::local_memory(Cpu& cpu, uint32_t op, DriverRunner& runner) {
    std::vector<uint64_t>& pages = runner.buffer("local");
    int rc = 0;
    for (uint64_t i = 0; i < pages.size() && rc == 0; ++i) rc = transfer(cpu, op, pages[i], i * 4096, 4096, true);
    kernel_.hub().instant(track_, op == GenericDeviceDesc::OP_READ ? "local-memory-save" : "local-memory-restore",
                          "driver", {{"device", name_}, {"rc", std::to_string(rc)}, {"pages", std::to_string(pages.size())}});
    if (op == GenericDeviceDesc::OP_WRITE && rc == 0) {
        for (uint64_t p : pages) kernel_.free_page(p);
        pages.clear();
    }
    return rc;
}

}  // namespace quiesce
