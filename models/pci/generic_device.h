// A PCI function described by a file (scenarios/devices/NAME.toml,
// docs/devices.md): hardware that has no C++ model of its own - a GPU
// function, an audio function, a NIC. Its register bank is data (names,
// offsets, widths, reset values, masks, state classes, and what an internal
// reset and a power loss do to each register); what it does is chosen from
// a small set of behaviours, each bound to registers of that bank:
//   engine        commands from a ring in memory, each after a latency,
//                 moving data between host memory and the local memory by
//                 DMA, then DONE and the interrupt;
//   local memory  the device's own RAM (VRAM): lost when the function loses
//                 power (D3cold), and in D3hot too if the file says so;
//   firmware      the device runs nothing until the driver loads an image
//                 by DMA (address, length, LOAD); the device checks the
//                 image's header and CRC32, and loses it on any reset.
// A function of a multi-function slot may depend on another function of
// that slot ([depends]: a GPU's HDA function, a port of a multi-port
// controller): its register block and engine work only while the other
// function is in D0 with an enable role set; otherwise reads of its BAR
// return all ones, writes are dropped and its engine starts nothing.
// The function itself (config space, D-states, bus mastering, INTx, PME) is
// the ordinary PciFunction: the checker's invariants see it as they see the
// built-in models.
#pragma once

#include "models/pci/core_function.h"
#include "sim/core/dma_port.h"
#include "sim/core/irq.h"
#include "sim/core/module.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace quiesce {

// A register role of a behaviour: a register, or one field of it.
struct RegRef {
    std::string reg, field;  // field "" = the whole register
    bool empty() const { return reg.empty(); }
    std::string text() const { return field.empty() ? reg : reg + "." + field; }
};

// A role's bits in its register (the whole register without a field), and
// how far they sit from bit 0: the model and the driver read roles alike.
uint64_t role_mask(const RegSpec& s, const std::string& field);
unsigned mask_shift(uint64_t mask);

struct GenericDeviceDesc {
    std::string name, file, description;
    std::string driver;  // the driver file that binds to it by default
    uint16_t vendor = 0x1de5, device = 0x0100;
    uint32_t class_code = 0x038000;  // display controller, other
    uint32_t bar_size = 4096;
    std::vector<RegSpec> registers;
    // What survives an internal reset (D3hot->D0 without No_Soft_Reset) and
    // a power loss (D3cold), by register name; everything else goes back to
    // its reset value.
    std::vector<std::string> keep_on_reset, keep_on_power_loss;

    struct Engine {
        bool on = false;
        RegRef enable, irq_enable, ring_base, ring_size, tail, head, done, error;
        Picos latency = 10'000'000;  // per command: 10 us
        uint32_t burst = 256;        // bytes per DMA beat
    } engine;
    struct LocalMemory {
        uint64_t size = 0;
        bool lost_in_d3hot = false;
    } local_memory;
    struct Firmware {
        bool on = false;
        std::string name;         // the file the device accepts
        uint32_t size = 0;
        RegRef addr, length, load, ready, error;
        Picos latency = 1'000'000'000;  // image checked to ready: 1 ms
    } firmware;
    // [depends]: this function's block needs function `function` of its
    // slot, a `model` (its device file names `enable`), in D0 with `enable`
    // non-zero.
    struct Depends {
        bool on = false;
        unsigned function = 0;
        std::string model;
        RegRef enable;  // a register or field of the supplier's bank
    } depends;

    // Engine command layout in the ring (32 bytes).
    static constexpr unsigned kCmdSize = 32;
    static constexpr uint32_t OP_WRITE = 1;  // host memory -> local memory
    static constexpr uint32_t OP_READ = 2;   // local memory -> host memory
    static constexpr uint32_t CMD_VALID = 1, CMD_DONE = 2, CMD_ERROR = 4;
};

// The firmware image format a described device accepts: a 16-byte header
// {"QFW1", payload length, CRC32 of the payload, 0} then the payload, a
// pseudo-random sequence derived from the file name (what the kernel's
// firmware store holds under that name).
std::vector<uint8_t> firmware_image(const std::string& name, uint32_t size);

class GenericCore : public MmioDevice {
public:
    SC_HAS_PROCESS(GenericCore);
    GenericCore(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
                std::shared_ptr<const GenericDeviceDesc> desc, DmaPort port);

    IrqLine irq{"irq"};
    const GenericDeviceDesc& desc() const { return *desc_; }

    // An internal reset; `power_lost` for D3cold.
    void reset(bool power_lost);
    void reset() { reset(false); }
    // D3hot entered: local memory goes if the file says it does.
    void entered_d3hot();
    bool firmware_ready() const { return fw_ready_; }
    // Zero-time view for tests and the checker.
    const std::vector<uint8_t>& local_memory() const { return local_; }
    // A role's value as the device holds it (zero time).
    uint64_t role(const RegRef& r) const;

    // [depends]: the function whose block this one needs (the platform
    // wires it); the supplier tells its consumers when its state changes.
    void depend_on(const PciFunction& fn, GenericCore& supplier);
    // Why this function's block is off - "" while it works. Asked on every
    // access of its BAR and before every step of its engine.
    std::string gated() const;
    // Its state changed (a write of its enable register, a reset, a D-state
    // change): each consumer looks again.
    void supplier_changed();

private:
    // Registers' write hooks: one per register, calling every behaviour's.
    void add_write_hook(const std::string& reg, Register::WriteHook h);
    void put(const RegRef& r, uint64_t v);
    void engine();
    void firmware();
    bool process(uint32_t index, uint64_t generation);
    void update_irq();
    void fail(const std::string& why);
    void lose_local_memory(const char* why);

    std::shared_ptr<const GenericDeviceDesc> desc_;
    DmaPort port_;
    std::vector<uint8_t> local_;
    bool fw_ready_ = false;
    uint64_t generation_ = 0;
    sc_core::sc_event kick_, fw_kick_;
    std::map<std::string, std::vector<Register::WriteHook>> write_hooks_;
    const PciFunction* supplier_fn_ = nullptr;
    const GenericCore* supplier_ = nullptr;
    std::vector<GenericCore*> consumers_;
};

class GenericPci : public CoreFunction<GenericCore> {
public:
    GenericPci(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
               std::shared_ptr<const GenericDeviceDesc> desc, bool no_soft_reset);

    // [depends]: this function's block needs `supplier`'s.
    void depend_on(GenericPci& supplier) { core().depend_on(supplier, supplier.core()); }

protected:
    void bar_access(unsigned bar, uint64_t offset, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) override;
    void function_reset() override;
    void dstate_changed(DState from, DState to) override;

private:
    bool gated_reported_ = false;  // one guest error per stretch of gated accesses
    static pci::HeaderIdent ident(const GenericDeviceDesc& d, bool no_soft_reset);
};

}  // namespace quiesce
