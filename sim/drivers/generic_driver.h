// The OS driver of a device described by a file (scenarios/devices/,
// models/pci/generic_device.h): its I/O path and probe in C++, written once
// against the roles the device file binds (the engine's ring registers, the
// firmware registers), and its power management as data - the driver file
// the device names (scenarios/drivers/NAME.toml), run by a DriverRunner.
//
// Probe: BAR0; with [firmware], request_firmware (cached across sleep),
// load it and wait for READY; with [engine], a ring of 16 commands in kernel
// memory, its registers programmed from the driver struct, the engine
// enabled; request_irq.
//
// Commands its driver file may name:
//   load-firmware         the image request-firmware holds, written to the
//                         firmware registers and LOAD set (poll READY after)
//   save-local-memory     the device's local memory copied by the engine
//                         into the pages of buffer `local` (alloc with
//                         pages = "device-memory" first)
//   restore-local-memory  copied back by the engine, and the pages freed
#pragma once

#include "models/pci/generic_device.h"
#include "sim/drivers/pci_data_driver.h"

#include <memory>
#include <string>

namespace quiesce {

class PhysicalMemory;

class GenericDriver : public PciDataDriver {
public:
    GenericDriver(std::string name, std::string track, Kernel& kernel, PciCore& core, SharedProgram program,
                  std::shared_ptr<const GenericDeviceDesc> desc);

    int probe(Cpu& cpu, PciDev& dev) override;
    const GenericDeviceDesc& desc() const { return *desc_; }

    // One engine command: `op` (GenericDeviceDesc::OP_WRITE: host memory to
    // local memory, OP_READ: back), waited for. 0, -EBUSY (queue stopped),
    // -EIO (the device reported an error), -ETIMEDOUT. `own`: the driver's
    // own command (VRAM eviction), which a stopped queue lets through.
    int transfer(Cpu& cpu, uint32_t op, uint64_t host, uint64_t offset, uint32_t len, bool own = false);
    // The ring base as the driver's struct in memory says it is (zero time,
    // for the checker's drvstate.stale).
    uint64_t software_ring(const PhysicalMemory& mem) const;
    // The producer index it wrote last, as its struct says.
    uint32_t software_tail(const PhysicalMemory& mem) const;

    // DriverHost.
    uint64_t mmio_base() const override { return mmio_base_; }
    int rederive(Cpu& cpu, const std::string& reg) override;
    void queue_stop(Cpu& cpu) override;
    void queue_start(Cpu& cpu) override;
    bool drained(Cpu& cpu) override;
    int command(Cpu& cpu, const std::string& name, DriverRunner& runner) override;
    uint64_t device_memory_pages() const override { return desc_->local_memory.size / 4096; }
    const sc_core::sc_event& irq_event() const override { return done_; }

private:
    static constexpr uint64_t F_RING = 0, F_SIZE = 8, F_TAIL = 12, F_STOPPED = 16;
    static constexpr uint32_t kRingSize = 16;

    bool irq(Cpu& cpu) override;
    int submit(Cpu& cpu, uint32_t op, uint64_t host, uint64_t offset, uint32_t len, bool own);  // one command, waited for
    uint64_t read_role(Cpu& cpu, const RegRef& r);
    void write_role(Cpu& cpu, const RegRef& r, uint64_t v);
    int local_memory(Cpu& cpu, uint32_t op, DriverRunner& runner);
    int load_firmware(Cpu& cpu, DriverRunner& runner);

    std::shared_ptr<const GenericDeviceDesc> desc_;
    uint64_t mmio_base_ = 0;
    uint64_t drv_ = 0;
    sc_core::sc_event done_;
    QueueLock queue_lock_;
};

}  // namespace quiesce
