// A PCI function described by a file: its registers, commands, DMA and interrupt as data.
#include "models/pci/generic_device.h"
#include "sim/core/sync.h"

#include "sim/core/errors.h"
#include "sim/core/rng.h"
#include "sim/fault/fault_plan.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

namespace quiesce {

namespace {
constexpr uint32_t kFwMagic = 0x31574651;  // "QFW1"
constexpr unsigned kFwHeader = 16;
}  // namespace

uint64_t role_mask(const RegSpec& s, const std::string& field) {
    if (field.empty()) return s.width >= 8 ? ~uint64_t(0) : (uint64_t(1) << (8 * s.width)) - 1;
    for (const auto& f : s.fields)
        if (f.name == field) return f.mask();
    SIM_PANIC("{}: no field {}", s.name, field);
}

unsigned mask_shift(uint64_t mask) {
    unsigned n = 0;
    while (mask && !(mask & 1)) {
        mask >>= 1;
        ++n;
    }
    return n;
}

std::vector<uint8_t> firmware_image(const std::string& name, uint32_t size) {
    std::vector<uint8_t> img(kFwHeader + size);
    uint64_t seed = 0xcbf29ce484222325ULL;  // FNV-1a of the name seeds the payload
    for (char c : name) seed = (seed ^ uint8_t(c)) * 0x100000001b3ULL;
    Rng rng(seed);
    for (uint32_t i = 0; i < size; i += 8) {
        uint64_t w = rng.next();
        std::memcpy(&img[kFwHeader + i], &w, std::min<uint32_t>(8, size - i));
    }
    const uint32_t crc = uint32_t(crc32(0L, img.data() + kFwHeader, size));
    const uint32_t header[4] = {kFwMagic, size, crc, 0};
    std::memcpy(img.data(), header, kFwHeader);
    return img;
}

GenericCore::GenericCore(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
                         std::shared_ptr<const GenericDeviceDesc> desc, DmaPort port)
    : MmioDevice(name, ctx, clock), desc_(std::move(desc)), port_(std::move(port)), kick_("kick"),
      fw_kick_("fw_kick") {
    RegisterBank& b = regs();
    b.set_strict(true);
    for (const RegSpec& spec : desc_->registers) b.add(spec);
    // Each behaviour's write handlers, by register (add_write_hook).
    const auto& e = desc_->engine;
    if (e.on) {
        std::set<std::string> regs;  // once per register, however many roles it holds
        for (const RegRef* r : {&e.enable, &e.tail, &e.done, &e.irq_enable})
            if (!r->empty()) regs.insert(r->reg);
        for (const auto& reg : regs)
            add_write_hook(reg, [this](Register&, uint64_t, uint64_t) {
                update_irq();
                quiesce::notify(kick_, sc_core::SC_ZERO_TIME);
            });
    }
    const auto& f = desc_->firmware;
    if (f.on)
        add_write_hook(f.load.reg,
                       [this](Register&, uint64_t, uint64_t) { quiesce::notify(fw_kick_, sc_core::SC_ZERO_TIME); });
    local_.assign(desc_->local_memory.size, 0);
    hub().declare_track({path(), "", "device", clock.name(), clock.hz()});
    if (e.on) SC_THREAD(engine);
    if (f.on) SC_THREAD(firmware);
}

// A register may serve several behaviours (the firmware's LOAD next to the
// engine's ENABLE in one CTRL, the enable a consumer function depends on):
// it gets one hook that calls them all - a register holds one hook, and a
// second on_write would replace the first.
void GenericCore::add_write_hook(const std::string& reg, Register::WriteHook h) {
    std::vector<Register::WriteHook>& handlers = write_hooks_[reg];
    handlers.push_back(std::move(h));
    regs().reg(reg).on_write([&handlers](Register& r, uint64_t old, uint64_t written) {
        for (const auto& each : handlers) each(r, old, written);
    });
}

void GenericCore::depend_on(const PciFunction& fn, GenericCore& supplier) {
    supplier_fn_ = &fn;
    supplier_ = &supplier;
    supplier.add_write_hook(desc_->depends.enable.reg,
                            [this](Register&, uint64_t, uint64_t) { quiesce::notify(kick_, sc_core::SC_ZERO_TIME); });
    supplier.consumers_.push_back(this);
}

std::string GenericCore::gated() const {
    if (!supplier_) return "";
    const auto& dep = desc_->depends;
    if (supplier_fn_->dstate() != DState::D0)
        return fmt::format("function {} ({}) is in {}", dep.function, supplier_fn_->path(), to_string(supplier_fn_->dstate()));
    if (!supplier_->role(dep.enable))
        return fmt::format("function {} ({}) has {} clear", dep.function, supplier_fn_->path(), dep.enable.text());
    return "";
}

void GenericCore::supplier_changed() {
    for (GenericCore* c : consumers_) quiesce::notify(c->kick_, sc_core::SC_ZERO_TIME);
}

uint64_t GenericCore::role(const RegRef& r) const {
    const Register& reg = regs().reg(r.reg);
    const uint64_t m = role_mask(reg.spec(), r.field);
    return (reg.value() & m) >> mask_shift(m);
}

void GenericCore::put(const RegRef& r, uint64_t v) {
    Register& reg = regs().reg(r.reg);
    const uint64_t m = role_mask(reg.spec(), r.field);
    reg.set((reg.value() & ~m) | ((v << mask_shift(m)) & m));
}

void GenericCore::reset(bool power_lost) {
    RegisterBank& b = regs();
    const auto& keep = power_lost ? desc_->keep_on_power_loss : desc_->keep_on_reset;
    RegisterBank::Saved kept;
    for (const auto& name : keep) kept[name] = b.reg(name).value();
    b.reset();
    b.restore(kept);
    ++generation_;
    fw_ready_ = false;
    if (power_lost) lose_local_memory("power-off");
    irq.set(false);
    quiesce::notify(kick_, sc_core::SC_ZERO_TIME);
    supplier_changed();
}

void GenericCore::entered_d3hot() {
    if (desc_->local_memory.lost_in_d3hot) lose_local_memory("d3hot");
}

void GenericCore::lose_local_memory(const char* why) {
    if (local_.empty()) return;
    // DRAM without refresh: what it holds afterwards is not what was written.
    std::fill(local_.begin(), local_.end(), uint8_t(0));
    hub().instant(path(), "local-memory-lost", "power", {{"why", why}, {"bytes", std::to_string(local_.size())}});
}

void GenericCore::update_irq() {
    const auto& e = desc_->engine;
    if (!e.on) return;
    const bool en = e.irq_enable.empty() || role(e.irq_enable);
    const bool pending = role(e.done) || (!e.error.empty() && role(e.error));
    irq.set(en && pending);
}

void GenericCore::fail(const std::string& why) {
    const auto& e = desc_->engine;
    if (!e.error.empty()) put(e.error, 1);
    hub().instant(path(), "engine-error", "dma", {{"reason", why}});
    update_irq();
}

// Command `index` of the ring. False if a reset abandoned it.
bool GenericCore::process(uint32_t index, uint64_t generation) {
    const auto& e = desc_->engine;
    const uint64_t at = role(e.ring_base) + uint64_t(index) * GenericDeviceDesc::kCmdSize;
    const uint64_t id = ctx().ledger.issue(path(), fmt::format("command {} at {:#x}", index, at));
    hub().slice_begin(path(), "command", "dma", {{"index", std::to_string(index)}});
    // A delayed start (a stalled fetch, as the DMA engine's): the command
    // stays in flight that much longer.
    if (const FaultSpec* f = fault("dma-delay", {{"index", std::to_string(index)}})) wait_time(f->duration);
    auto finish = [&](const char* outcome) {
        hub().slice_end(path(), "command", "dma", {{"outcome", outcome}});
        ctx().ledger.retire(id, outcome);
    };
    struct {
        uint32_t op, len;
        uint64_t host, offset;
        uint32_t flags, cookie;
    } c{};
    static_assert(sizeof(c) == GenericDeviceDesc::kCmdSize, "command layout");
    if (!port_.transfer(at, &c, sizeof c, false) || generation != generation_) {
        finish(generation != generation_ ? "aborted" : "error");
        if (generation == generation_) fail("command fetch failed");
        return generation == generation_;
    }
    const char* bad = nullptr;
    if (!(c.flags & GenericDeviceDesc::CMD_VALID)) bad = "command not valid";
    else if (desc_->firmware.on && !fw_ready_) bad = "no firmware loaded";
    else if (c.op != GenericDeviceDesc::OP_WRITE && c.op != GenericDeviceDesc::OP_READ) bad = "unknown opcode";
    else if (c.offset + c.len > local_.size() || c.offset + c.len < c.offset) bad = "beyond local memory";
    if (!bad) {
        wait_time(ctx().timing.vary(e.latency));
        for (uint32_t off = 0; off < c.len && !bad; off += e.burst) {
            if (!gated().empty()) {  // the block lost its clock mid-command: the engine faults
                finish("gated");
                fail("the block went off mid-command (its supplier function)");
                return true;
            }
            const unsigned n = std::min<uint32_t>(e.burst, c.len - off);
            uint8_t* dev = local_.data() + c.offset + off;
            if (!port_.transfer(c.host + off, dev, n, c.op == GenericDeviceDesc::OP_READ)) bad = "data transfer failed";
            if (generation != generation_) {
                finish("aborted");
                return false;
            }
        }
    }
    c.flags |= bad ? GenericDeviceDesc::CMD_ERROR : GenericDeviceDesc::CMD_DONE;
    if (!port_.transfer(at + 24, &c.flags, 4, true) || generation != generation_) {
        finish(generation != generation_ ? "aborted" : "error");
        return generation == generation_;
    }
    const uint32_t size = std::max<uint32_t>(1, uint32_t(role(e.ring_size)));
    put(e.head, (index + 1) % size);
    finish(bad ? "error" : "done");
    if (bad) fail(bad);
    else put(e.done, 1);
    update_irq();
    return true;
}

void GenericCore::engine() {
    const auto& e = desc_->engine;
    for (;;) {
        const bool enabled = e.enable.empty() || role(e.enable);
        const bool errored = !e.error.empty() && role(e.error);
        const uint32_t head = uint32_t(role(e.head)), tail = uint32_t(role(e.tail)), size = uint32_t(role(e.ring_size));
        if (!enabled || errored || head == tail || size == 0 || !gated().empty()) {
            quiesce::wait(kick_);
            continue;
        }
        if (tail >= size) {
            fail("tail beyond ring size");
            continue;
        }
        wait_cycles(Cycles(2));  // doorbell to fetch
        if (!gated().empty()) continue;
        process(head, generation_);
    }
}

// LOAD: the image is read from host memory by DMA and checked; READY after
// the latency, or ERROR. A reset on the way abandons it.
void GenericCore::firmware() {
    const auto& f = desc_->firmware;
    for (;;) {
        quiesce::wait(fw_kick_);
        if (!role(f.load)) continue;
        put(f.load, 0);
        const uint64_t generation = generation_;
        const uint64_t addr = role(f.addr);
        const uint32_t len = uint32_t(role(f.length));
        hub().slice_begin(path(), "firmware-load", "firmware", {{"bytes", std::to_string(len)}});
        std::vector<uint8_t> img(len);
        bool ok = len == kFwHeader + f.size;
        for (uint32_t off = 0; ok && off < len; off += 4096)
            ok = port_.transfer(addr + off, img.data() + off, std::min<uint32_t>(4096, len - off), false);
        const char* why = ok ? nullptr : "image not readable";
        if (ok) {
            uint32_t header[4];
            std::memcpy(header, img.data(), kFwHeader);
            if (header[0] != kFwMagic || header[1] != f.size) why = "bad header";
            else if (header[2] != uint32_t(crc32(0L, img.data() + kFwHeader, f.size))) why = "bad checksum";
        }
        if (generation == generation_) wait_time(ctx().timing.vary(f.latency));
        if (generation != generation_) {
            hub().slice_end(path(), "firmware-load", "firmware", {{"result", "aborted"}});
            continue;
        }
        fw_ready_ = why == nullptr;
        put(why ? f.error : f.ready, 1);
        hub().slice_end(path(), "firmware-load", "firmware", {{"result", why ? why : "ready"}});
    }
}

pci::HeaderIdent GenericPci::ident(const GenericDeviceDesc& d, bool no_soft_reset) {
    pci::HeaderIdent id;
    id.vendor = d.vendor;
    id.device = d.device;
    id.class_code = d.class_code;
    id.int_pin = 1;
    id.no_soft_reset = no_soft_reset;
    id.bar_size[0] = d.bar_size;
    return id;
}

GenericPci::GenericPci(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
                       std::shared_ptr<const GenericDeviceDesc> desc, bool no_soft_reset)
    : CoreFunction(name, ctx, clock, ident(*desc, no_soft_reset), [&](DmaPort port) {
          return std::make_unique<GenericCore>("core", ctx, clock, desc, std::move(port));
      }) {}

void GenericPci::function_reset() { core().reset(dstate() == DState::D3cold); }

void GenericPci::dstate_changed(DState, DState to) {
    if (to == DState::D3hot) core().entered_d3hot();
    core().supplier_changed();
}

// [depends]: the function's PCIe side still completes the access (its
// config space and BAR decode are its own), but the block behind the BAR
// has no clock: a read returns all ones, a write goes nowhere - what a
// driver sees of a function that is not there.
void GenericPci::bar_access(unsigned bar, uint64_t offset, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
    const std::string why = core().gated();
    if (why.empty()) {
        gated_reported_ = false;
        CoreFunction::bar_access(bar, offset, tx, delay);
        return;
    }
    if (tx.is_read()) std::memset(tx.get_data_ptr(), 0xff, tx.get_data_length());
    tx.set_response_status(tlm::TLM_OK_RESPONSE);
    delay += clock().delay(Cycles(4));
    if (!gated_reported_)
        guest_error("pci.function-gated", "MMIO reached a function whose block is off: " + why,
                    {{"addr", fmt::format("{:#x}", tx.get_address())}, {"access", tx.is_read() ? "read" : "write"},
                     {"offset", fmt::format("{:#x}", offset)}, {"initiator", initiator_of(tx)}});
    gated_reported_ = true;
}

}  // namespace quiesce
