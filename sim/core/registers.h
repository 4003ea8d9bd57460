// Registers declared as data (DESIGN.md §5, style.md §Synthesis 2-3). A bank
// is the single source for MMIO/config decode, save/restore of hardware state,
// trace records and the register tables in docs/.
//
// Every register carries a state class:
//   Hardware  lives only in the device (BARs, IRQ routing, control): must be
//             saved before power goes and written back on resume.
//   Driver    lives in memory even when a register points at it (ring bases):
//             resume re-derives it from the memory image, never from a save.
//   Volatile  status bits, counters: neither saved nor restored.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace quiesce {

class EventHub;

enum class StateClass { Hardware, Driver, Volatile };
const char* to_string(StateClass c);

// A named bit field of a register (CTRL.ENABLE), for driver files.
struct RegField {
    std::string name;
    unsigned lsb = 0;
    unsigned width = 1;
    uint64_t mask() const { return (width >= 64 ? ~uint64_t(0) : ((uint64_t(1) << width) - 1)) << lsb; }
};

struct RegSpec {
    std::string name;
    uint32_t offset = 0;
    unsigned width = 4;     // bytes: 1, 2, 4 or 8
    uint64_t reset = 0;
    uint64_t ro = 0;        // read-only bits (writes ignored)
    uint64_t w1c = 0;       // write-1-to-clear bits
    uint64_t rsvd = 0;      // reserved: writes ignored, read as 0
    uint64_t wo = 0;        // write-only bits: read as 0 (triggers such as SLP_EN)
    StateClass cls = StateClass::Hardware;
    std::string doc;
    std::vector<RegField> fields;
};

class Register {
public:
    // Presents a computed value to the bus instead of the stored one.
    using ReadHook = std::function<uint64_t(const Register&)>;
    // Runs after the masked update; may adjust the stored value with set().
    using WriteHook = std::function<void(Register&, uint64_t old, uint64_t written)>;

    explicit Register(RegSpec spec);

    const RegSpec& spec() const { return spec_; }
    const std::string& name() const { return spec_.name; }
    uint64_t value() const { return value_; }
    void set(uint64_t v) { value_ = v & width_mask(); }   // device-internal update
    uint64_t width_mask() const;
    // Bits that carry state worth comparing (not status, not triggers).
    uint64_t state_mask() const { return width_mask() & ~spec_.w1c & ~spec_.wo & ~spec_.rsvd; }

    Register& on_read(ReadHook h) { read_hook_ = std::move(h); return *this; }
    Register& on_write(WriteHook h) { write_hook_ = std::move(h); return *this; }

    uint64_t bus_read() const;
    // byte_mask: one bit per byte of the register covered by the access.
    void bus_write(uint64_t data, uint64_t bit_mask);

private:
    RegSpec spec_;
    uint64_t value_;
    ReadHook read_hook_;
    WriteHook write_hook_;
};

class RegisterBank {
public:
    // A device's own save, by name (GenericCore::reset keeps a few).
    using Saved = std::map<std::string, uint64_t>;
    struct Diff {
        std::string reg;
        uint64_t expected;
        uint64_t actual;
    };
    // The values of one class's registers in bank order, each with the
    // register it was read from: the checker's snapshot at every transition,
    // compared after it. No names are copied and a snapshot taken again into
    // the same object allocates nothing once its vector has grown to size.
    // Registers are never removed from a bank and keep their address, so a
    // snapshot stays valid however many registers the bank gains after it.
    class Snapshot {
    public:
        size_t size() const { return values_.size(); }

    private:
        friend class RegisterBank;
        const RegisterBank* bank_ = nullptr;
        std::vector<std::pair<const Register*, uint64_t>> values_;
    };

    RegisterBank(std::string owner, EventHub* hub);

    Register& add(RegSpec spec);
    Register& reg(const std::string& name);
    const Register& reg(const std::string& name) const;
    Register* find(const std::string& name);
    const Register* find(const std::string& name) const;
    Register* at(uint32_t offset);
    const std::vector<std::unique_ptr<Register>>& registers() const { return regs_; }
    const std::string& owner() const { return owner_; }
    void set_owner(std::string owner) { owner_ = std::move(owner); }
    // Strict banks (MMIO) report accesses to unmapped offsets as guest errors;
    // config space reads unimplemented registers as 0 silently.
    void set_strict(bool s) { strict_ = s; }

    // Bus accesses of 1..8 bytes, possibly spanning several registers.
    uint64_t read(uint64_t offset, unsigned len, const std::string& initiator);
    void write(uint64_t offset, unsigned len, uint64_t data, const std::string& initiator);

    void reset();                                   // every register to its reset value
    Saved save(StateClass cls) const;               // the registers of one class
    void restore(const Saved& saved);               // device-internal (no hooks)
    void snapshot(StateClass cls, Snapshot& out) const;  // into `out`, its buffer reused
    // The registers of `before` whose state bits (Register::state_mask)
    // differ now, in bank order; a register declared after the snapshot is
    // not in it and is not compared.
    std::vector<Diff> compare(const Snapshot& before) const;

private:
    void trace(const Register& r, bool write, uint64_t value, const std::string& initiator) const;
    std::vector<std::unique_ptr<Register>>::const_iterator first_ending_after(uint64_t offset) const;
    std::string owner_;
    EventHub* hub_;
    bool strict_ = false;
    std::vector<std::unique_ptr<Register>> regs_;   // sorted by offset
    std::map<std::string, Register*> by_name_;
};

}  // namespace quiesce
