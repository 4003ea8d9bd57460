// The DMA copy engine's core: its registers, the descriptor ring, bursts, completion interrupts.
#include "models/pci/dma_engine.h"
#include "sim/core/sync.h"

#include "sim/core/errors.h"
#include "sim/fault/fault_plan.h"

#include <fmt/format.h>

#include <charconv>
#include <cstring>
#include <string>
#include <vector>

namespace quiesce {

namespace {
const EventWord kDescriptor("descriptor"), kDma("dma");  // each descriptor's slice
}  // namespace

std::vector<RegSpec> DmaEngine::register_specs() {
    using SC = StateClass;
    return {
        {.name = "ID", .offset = ID, .width = 4, .reset = kIdValue, .ro = 0xffffffff, .cls = SC::Hardware,
         .doc = "Identification, reads \"DMA1\""},
        {.name = "CTRL", .offset = CTRL, .width = 4, .rsvd = ~uint64_t(CTRL_ENABLE | CTRL_IRQ_EN | CTRL_FLUSH) & 0xffffffff,
         .wo = CTRL_FLUSH, .cls = SC::Hardware,
         .doc = "ENABLE 0: fetch descriptors; IRQ_EN 1: interrupt on completion; FLUSH 2 (write-only): once the "
                "ring is idle, set DONE",
         .fields = {{"ENABLE", 0}, {"IRQ_EN", 1}, {"FLUSH", 2}}},
        {.name = "STATUS", .offset = STATUS, .width = 4, .ro = STS_BUSY, .w1c = STS_DONE | STS_ERROR,
         .rsvd = 0xfffffff8, .cls = SC::Volatile, .doc = "BUSY 0 (ro), DONE 1 and ERROR 2 (RW1C)",
         .fields = {{"BUSY", 0}, {"DONE", 1}, {"ERROR", 2}}},
        {.name = "RING_BASE", .offset = RING_BASE, .width = 8, .rsvd = 0x1f, .cls = SC::Driver,
         .doc = "Physical address of the descriptor ring (32-byte aligned)"},
        {.name = "RING_SIZE", .offset = RING_SIZE, .width = 4, .cls = SC::Driver,
         .doc = "Number of descriptors in the ring"},
        {.name = "TAIL", .offset = TAIL, .width = 4, .cls = SC::Driver,
         .doc = "Producer index written by the driver (doorbell)"},
        {.name = "HEAD", .offset = HEAD, .width = 4, .ro = 0xffffffff, .cls = SC::Volatile,
         .doc = "Consumer index: next descriptor the engine fetches"},
        {.name = "COMPLETED", .offset = COMPLETED, .width = 4, .ro = 0xffffffff, .cls = SC::Volatile,
         .doc = "Descriptors completed since reset"},
        {.name = "BURST", .offset = BURST, .width = 4, .reset = 64, .rsvd = ~uint64_t(0x3c0) & 0xffffffff,
         .cls = SC::Hardware, .doc = "Bytes per DMA burst: 64..960 in steps of 64"},
    };
}

DmaEngine::DmaEngine(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, Port port)
    : MmioDevice(name, ctx, clock), port_(std::move(port)), kick_("kick") {
    RegisterBank& b = regs();
    b.set_strict(true);
    for (RegSpec& spec : register_specs()) b.add(std::move(spec));
    b.reg("CTRL").on_write([this](Register&, uint64_t, uint64_t written) {
        if (written & CTRL_FLUSH) flush_ = true;
        update_irq();
        quiesce::notify(kick_, sc_core::SC_ZERO_TIME);
    });
    b.reg("STATUS").on_write([this](Register&, uint64_t, uint64_t) { update_irq(); });
    b.reg("TAIL").on_write([this](Register&, uint64_t, uint64_t) { quiesce::notify(kick_, sc_core::SC_ZERO_TIME); });
    hub().declare_track({path(), "", "device", clock.name(), clock.hz()});
    props().declare("beat_cycles", int64_t(4), "Engine cycles between reading and writing one burst");
    props().declare("flush_cycles", int64_t(64), "Engine cycles from CTRL.FLUSH on an idle ring to DONE");
    ctrl_ = &b.reg("CTRL");
    status_ = &b.reg("STATUS");
    head_ = &b.reg("HEAD");
    tail_ = &b.reg("TAIL");
    ring_base_ = &b.reg("RING_BASE");
    ring_size_ = &b.reg("RING_SIZE");
    burst_ = &b.reg("BURST");
    completed_ = &b.reg("COMPLETED");
    beat_cycles_ = &props().ref<int64_t>("beat_cycles");
    flush_cycles_ = &props().ref<int64_t>("flush_cycles");
    SC_THREAD(engine);
}

void DmaEngine::reset() {
    regs().reset();
    ++generation_;
    flush_ = false;
    irq.set(false);
    quiesce::notify(kick_, sc_core::SC_ZERO_TIME);
}

bool DmaEngine::idle() const {
    return !(status_->value() & STS_BUSY) &&
           (!(ctrl_->value() & CTRL_ENABLE) || head_->value() == tail_->value());
}

void DmaEngine::update_irq() {
    bool level = (ctrl_->value() & CTRL_IRQ_EN) &&
                 (status_->value() & (STS_DONE | STS_ERROR));
    irq.set(level);
}

void DmaEngine::fail(const std::string& why) {
    Register& st = *status_;
    st.set((st.value() & ~uint64_t(STS_BUSY)) | STS_ERROR);
    hub().instant(path(), "dma-error", "dma", {{"reason", why}});
    update_irq();
}

namespace {
// "descriptor 3 at 0x1000", as fmt's "descriptor {} at {:#x}" writes it, at
// a tenth of its cost (fmt::format was 1.7% of a busy machine's run: one
// ledger entry per descriptor).
std::string descriptor_text(uint32_t index, uint64_t addr) {
    char buf[64] = "descriptor ";
    char* p = buf + 11;
    p = std::to_chars(p, buf + sizeof buf, index).ptr;
    std::memcpy(p, " at 0x", 6);
    p = std::to_chars(p + 6, buf + sizeof buf, addr, 16).ptr;
    return std::string(buf, size_t(p - buf));
}
}  // namespace

// Processes descriptor `index`. Returns false if a reset abandoned it.
bool DmaEngine::process(uint32_t index, uint64_t generation) {
    uint64_t desc = ring_base_->value() + uint64_t(index) * kDescSize;
    uint64_t id = ctx().ledger.issue(path(), descriptor_text(index, desc));
    struct {
        uint64_t src, dst;
        uint32_t len, flags;
        uint64_t cookie;
    } d{};
    static_assert(sizeof(d) == kDescSize, "descriptor layout");
    status_->set(status_->value() | STS_BUSY);
    hub().slice_begin(path(), kDescriptor, kDma, {{"index", index}});
    // A delayed start (bus contention, a stalled fetch): the descriptor
    // stays in flight that much longer.
    if (const FaultSpec* f = fault("dma-delay", {{"index", std::to_string(index)}})) wait_time(f->duration);
    auto finish = [&](const char* outcome) {
        hub().slice_end(path(), kDescriptor, kDma, {{"outcome", outcome}});
        ctx().ledger.retire(id, outcome);
    };
    if (!dma(desc, &d, kDescSize, false) || generation != generation_) {
        finish(generation != generation_ ? "aborted" : "error");
        if (generation == generation_) fail("descriptor fetch failed");
        return generation == generation_;
    }
    if (!(d.flags & DESC_VALID)) {
        finish("error");
        fail("descriptor not valid");
        return true;
    }
    const unsigned burst = unsigned(burst_->value());
    std::vector<uint8_t> buf(burst);
    for (uint32_t off = 0; off < d.len; off += burst) {
        unsigned n = std::min<uint32_t>(burst, d.len - off);
        bool ok = dma(d.src + off, buf.data(), n, false);
        if (ok && generation == generation_) {
            wait_cycles(Cycles(ctx().timing.vary(uint64_t(*beat_cycles_))));
            ok = generation == generation_ && dma(d.dst + off, buf.data(), n, true);
        }
        if (generation != generation_) {
            finish("aborted");
            return false;
        }
        if (!ok) {
            finish("error");
            fail("data transfer failed");
            return true;
        }
    }
    d.flags |= DESC_DONE;
    if (!dma(desc + 20, &d.flags, 4, true) || generation != generation_) {
        finish(generation != generation_ ? "aborted" : "error");
        return generation == generation_;
    }
    uint32_t size = std::max<uint32_t>(1, uint32_t(ring_size_->value()));
    head_->set((index + 1) % size);
    completed_->set(completed_->value() + 1);
    Register& st = *status_;
    st.set((st.value() & ~uint64_t(STS_BUSY)) | STS_DONE);
    finish("done");
    update_irq();
    return true;
}

void DmaEngine::engine() {
    for (;;) {
            bool enabled = ctrl_->value() & CTRL_ENABLE;
        bool errored = status_->value() & STS_ERROR;
        uint32_t head = uint32_t(head_->value()), tail = uint32_t(tail_->value());
        uint32_t size = uint32_t(ring_size_->value());
        if (flush_ && (!enabled || head == tail || size == 0)) {
            // FLUSH: the write buffer drained (what it holds already landed),
            // then DONE, and the interrupt if IRQ_EN.
            flush_ = false;
            wait_cycles(Cycles(uint64_t(*flush_cycles_)));
            Register& st = *status_;
            st.set(st.value() | STS_DONE);
            hub().instant(path(), "flush-done", "dma");
            update_irq();
            continue;
        }
        if (!enabled || errored || head == tail || size == 0) {
            quiesce::wait(kick_);
            continue;
        }
        if (tail >= size) {
            fail("TAIL beyond RING_SIZE");
            continue;
        }
        wait_cycles(Cycles(2));  // doorbell to fetch
        process(head, generation_);
    }
}

}  // namespace quiesce
