// Register banks as data: fields, access types, reset values, side effects, lookup and tracing.
#include "sim/core/registers.h"

#include "sim/core/errors.h"
#include "sim/core/events.h"

#include <algorithm>

namespace quiesce {

const char* to_string(StateClass c) {
    switch (c) {
        case StateClass::Hardware: return "hardware";
        case StateClass::Driver: return "driver";
        case StateClass::Volatile: return "volatile";
    }
    return "?";
}

Register::Register(RegSpec spec) : spec_(std::move(spec)) {
    SIM_ASSERT(spec_.width == 1 || spec_.width == 2 || spec_.width == 4 || spec_.width == 8,
               "register {} has width {}", spec_.name, spec_.width);
    value_ = spec_.reset & width_mask();
}

uint64_t Register::width_mask() const {
    return spec_.width == 8 ? ~0ULL : ((1ULL << (spec_.width * 8)) - 1);
}

uint64_t Register::bus_read() const {
    uint64_t v = read_hook_ ? read_hook_(*this) : value_;
    return v & width_mask() & ~spec_.rsvd & ~spec_.wo;
}

void Register::bus_write(uint64_t data, uint64_t bit_mask) {
    uint64_t old = value_;
    uint64_t writable = ~(spec_.ro | spec_.rsvd | spec_.w1c) & bit_mask & width_mask();
    uint64_t next = (old & ~writable) | (data & writable);
    next &= ~(data & spec_.w1c & bit_mask);
    value_ = next & width_mask();
    if (write_hook_) write_hook_(*this, old, data & bit_mask);
}

RegisterBank::RegisterBank(std::string owner, EventHub* hub) : owner_(std::move(owner)), hub_(hub) {}

Register& RegisterBank::add(RegSpec spec) {
    SIM_ASSERT(!by_name_.count(spec.name), "{}: register {} declared twice", owner_, spec.name);
    // regs_ is sorted by offset and its registers do not overlap: only the
    // neighbours of the new one's place can overlap it.
    auto at = std::upper_bound(regs_.begin(), regs_.end(), spec.offset,
                               [](uint64_t off, const auto& r) { return off < r->spec().offset; });
    auto overlaps = [&](const Register& r) {
        return spec.offset < r.spec().offset + r.spec().width && r.spec().offset < spec.offset + spec.width;
    };
    if (at != regs_.end())
        SIM_ASSERT(!overlaps(**at), "{}: register {} overlaps {}", owner_, spec.name, (*at)->name());
    if (at != regs_.begin())
        SIM_ASSERT(!overlaps(**std::prev(at)), "{}: register {} overlaps {}", owner_, spec.name,
                   (*std::prev(at))->name());
    auto reg = std::make_unique<Register>(std::move(spec));
    Register* raw = reg.get();
    by_name_[raw->name()] = raw;
    regs_.insert(at, std::move(reg));
    return *raw;
}

// The registers an access of [offset, offset + len) covers, in order of
// offset: from the first that ends after offset, while they start before
// its end.
std::vector<std::unique_ptr<Register>>::const_iterator RegisterBank::first_ending_after(uint64_t offset) const {
    return std::partition_point(regs_.begin(), regs_.end(),
                                [&](const auto& r) { return r->spec().offset + r->spec().width <= offset; });
}

Register& RegisterBank::reg(const std::string& name) {
    Register* r = find(name);
    SIM_ASSERT(r, "{}: no register {}", owner_, name);
    return *r;
}

const Register& RegisterBank::reg(const std::string& name) const {
    auto it = by_name_.find(name);
    SIM_ASSERT(it != by_name_.end(), "{}: no register {}", owner_, name);
    return *it->second;
}

Register* RegisterBank::find(const std::string& name) {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
}

const Register* RegisterBank::find(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
}

Register* RegisterBank::at(uint32_t offset) {
    for (auto& r : regs_)
        if (r->spec().offset == offset) return r.get();
    return nullptr;
}

namespace {
uint64_t bytes_mask(unsigned n) { return n >= 8 ? ~0ULL : ((1ULL << (n * 8)) - 1); }
}  // namespace

uint64_t RegisterBank::read(uint64_t offset, unsigned len, const std::string& initiator) {
    uint64_t result = 0;
    unsigned covered = 0;
    for (auto it = first_ending_after(offset); it != regs_.end() && (*it)->spec().offset < offset + len; ++it) {
        const auto& r = *it;
        uint64_t ro = r->spec().offset, re = ro + r->spec().width;
        uint64_t s = std::max(offset, ro), e = std::min(offset + len, re);
        if (s >= e) continue;
        uint64_t v = r->bus_read();
        uint64_t part = (v >> ((s - ro) * 8)) & bytes_mask(unsigned(e - s));
        result |= part << ((s - offset) * 8);
        covered += unsigned(e - s);
        trace(*r, false, v, initiator);
    }
    if (covered < len && strict_ && hub_)
        hub_->guest_error(owner_, "mmio.unmapped", "read of unmapped register offset",
                          {{"offset", std::to_string(offset)}, {"initiator", initiator}});
    return result;
}

void RegisterBank::write(uint64_t offset, unsigned len, uint64_t data, const std::string& initiator) {
    unsigned covered = 0;
    for (auto it = first_ending_after(offset); it != regs_.end() && (*it)->spec().offset < offset + len; ++it) {
        const auto& r = *it;
        uint64_t ro = r->spec().offset, re = ro + r->spec().width;
        uint64_t s = std::max(offset, ro), e = std::min(offset + len, re);
        if (s >= e) continue;
        uint64_t part = (data >> ((s - offset) * 8)) & bytes_mask(unsigned(e - s));
        uint64_t shift = (s - ro) * 8;
        r->bus_write(part << shift, bytes_mask(unsigned(e - s)) << shift);
        covered += unsigned(e - s);
        trace(*r, true, r->value(), initiator);
    }
    if (covered < len && strict_ && hub_)
        hub_->guest_error(owner_, "mmio.unmapped", "write to unmapped register offset",
                          {{"offset", std::to_string(offset)}, {"initiator", initiator}});
}

void RegisterBank::trace(const Register& r, bool write, uint64_t value, const std::string& initiator) const {
    if (!hub_ || !hub_->wants(EvKind::RegAccess)) return;
    Event ev;
    ev.kind = EvKind::RegAccess;
    ev.ts = now_ps();
    ev.track = owner_;
    ev.name = r.name();
    ev.category = to_string(r.spec().cls);
    ev.addr = r.spec().offset;
    ev.size = r.spec().width;
    ev.data = value;
    ev.write = write;
    ev.initiator = initiator;
    hub_->emit(std::move(ev));
}

void RegisterBank::reset() {
    for (auto& r : regs_) r->set(r->spec().reset);
}

RegisterBank::Saved RegisterBank::save(StateClass cls) const {
    Saved out;
    for (const auto& r : regs_)
        if (r->spec().cls == cls) out[r->name()] = r->value();
    return out;
}

void RegisterBank::restore(const Saved& saved) {
    for (const auto& [name, value] : saved) reg(name).set(value);
}

void RegisterBank::snapshot(StateClass cls, Snapshot& out) const {
    out.bank_ = this;
    out.values_.clear();
    out.values_.reserve(regs_.size());  // at most every register: grown once
    for (const auto& r : regs_)
        if (r->spec().cls == cls) out.values_.emplace_back(r.get(), r->value());
}

std::vector<RegisterBank::Diff> RegisterBank::compare(const Snapshot& before) const {
    SIM_ASSERT(before.bank_ == this || before.values_.empty(), "{}: compared with a snapshot of {}", owner_,
               before.bank_ ? before.bank_->owner() : std::string("?"));
    std::vector<Diff> out;
    for (const auto& [r, saved] : before.values_) {
        const uint64_t m = r->state_mask();
        if ((saved & m) != (r->value() & m)) out.push_back({r->name(), saved & m, r->value() & m});
    }
    return out;
}

}  // namespace quiesce
