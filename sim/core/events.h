// The observation bus of one run. Models emit events (slices, instants,
// counters, register accesses, bus transactions, guest errors); the checker
// and the trace recorder subscribe. Nothing here knows about SQLite.
#pragma once

#include "sim/core/interned.h"
#include "sim/core/time.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace quiesce {

enum class TraceLevel { Summary = 0, Events = 1, Bus = 2 };

enum class EvKind : uint8_t {
    SliceBegin,   // a phase, callback or firmware method starts on a track
    SliceEnd,     // ...and ends (matched by track + name, properly nested)
    Instant,      // a point event: power change, irq, DMA completion...
    Counter,      // a sampled value: D-state, queue depth
    RegAccess,    // a register read or write through a register bank
    Transaction,  // a bus transaction (TLM) as seen by the router
    GuestError,   // the simulated software did something illegal
    Violation,    // an invariant fired (emitted by the checker)
    Fault,        // an injected fault (sim/fault)
};
constexpr uint32_t kind_bit(EvKind k) { return 1u << static_cast<unsigned>(k); }

struct Arg {
    std::string key;
    std::string value;
};

struct Event {
    EvKind kind = EvKind::Instant;
    Picos ts = 0;
    std::string track;     // component path, e.g. "pci0.rp0.dma0"
    std::string name;      // slice/instant/counter name, register name, violation id
    std::string category;  // "phase", "callback", "firmware", "power", "irq", ...
    std::vector<Arg> args;
    double value = 0;      // counters
    // Bus and register fields.
    uint64_t addr = 0;
    uint64_t data = 0;
    uint32_t size = 0;
    bool write = false;
    std::string initiator;
    std::string phase;     // PM phase active when the event happened
    // The interned ids (interned.h) of name and category when the emitter
    // handed them as EventWords, 0 otherwise: a sink may tell words apart by
    // them, and must read the text when they are 0. Never recorded.
    uint32_t name_id = 0;
    uint32_t category_id = 0;
};

// An argument as an emitter hands it to the hub: a key and either text or an
// integer, referring to the caller's storage for the call only. The hub
// copies it into an event it reuses (an integer formatted in decimal, as
// std::to_string would), so the call site builds no string and the hub
// allocates nothing once its events have grown to size (issue 18 item 3).
struct ArgRef {
    ArgRef(std::string_view k, const std::string& v) : key(k), text(v) {}
    ArgRef(std::string_view k, std::string_view v) : key(k), text(v) {}
    ArgRef(std::string_view k, const char* v) : key(k), text(v) {}
    template <typename I, typename = std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool> &&
                                                      !std::is_same_v<I, char>>>
    ArgRef(std::string_view k, I v) : key(k), is_int(true), is_signed(std::is_signed_v<I>) {
        if constexpr (std::is_signed_v<I>) number = static_cast<uint64_t>(static_cast<int64_t>(v));
        else number = static_cast<uint64_t>(v);
    }
    std::string_view key;
    std::string_view text;
    bool is_int = false;
    bool is_signed = false;
    uint64_t number = 0;   // two's complement when is_signed
};

// The arguments of one emitter call: a braced list of ArgRef, or a vector of
// Arg the caller built (viewed, not copied).
class EventArgs {
public:
    EventArgs() = default;
    // The list is kept as a list (a view of the caller's array, alive for the
    // call's full expression, which is how emitters are called).
    EventArgs(std::initializer_list<ArgRef> list) : list_(list), n_(list.size()) {}
    EventArgs(const std::vector<Arg>& args) : vec_(&args), n_(args.size()) {}
    size_t size() const { return n_; }
    // Writes argument i into `out` (its buffers reused).
    void assign(size_t i, Arg& out) const;

private:
    std::initializer_list<ArgRef> list_;
    const std::vector<Arg>* vec_ = nullptr;
    size_t n_ = 0;
};

// The value of an event argument, or "" when it has none: the event's own
// string (valid while the event is), not a copy, found by a key that is not
// made a string either - the checker asks several of every event it follows.
inline const std::string kNoArgValue;
inline const std::string& arg_value(const Event& ev, std::string_view key) {
    for (const auto& a : ev.args)
        if (a.key == key) return a.value;
    return kNoArgValue;
}

// Every field of an event on one line of text (time, kind, track, name,
// category, value, address, data, size, write, initiator, phase, then the
// arguments as key=value), without the newline: two runs' events compared
// with diff or sort (bench_run --events, tests/test_going_ahead.cpp).
std::string event_line(const Event& ev);

// Escapes a string for a JSON string literal (quotes, backslashes, control
// characters as \u00XX, bytes that are not UTF-8 as \ufffd).
std::string json_escape(const std::string& s);
// Escapes text for XML and HTML attributes and content (& < > "); control
// characters other than newline and tab, which XML 1.0 cannot carry, become
// spaces.
std::string markup_escape(const std::string& s);

struct TrackInfo {
    std::string name;
    std::string parent;    // "" for roots
    std::string kind;      // "device", "cpu", "pm", "firmware", "bus", "memory"
    std::string domain;    // clock domain name
    uint64_t hz = 0;
};

class EventHub {
public:
    using Sink = std::function<void(const Event&)>;

    // What a sink reads of the slices and instants its mask lets through,
    // by kind, category and name: asked once per kind and pair of interned
    // words (EvText ids; an event with a word not interned is always
    // built). A slice or instant no sink reads is not built at all - at the
    // summary level, a busy run's per-operation slices and the ledger's
    // instants (issue 18 item 3). A sink still receives every event of its
    // mask that another sink reads, and must do with it what it did before:
    // nothing, where its interest said no.
    using Interest = std::function<bool(EvKind kind, std::string_view category, std::string_view name)>;

    // A sink receives the kinds in `mask` (bits from kind_bit()); with no
    // interest, every event of them.
    void subscribe(uint32_t mask, Sink sink, Interest interest = {});
    bool wants(EvKind k) const { return (mask_ & kind_bit(k)) != 0; }
    // Whether a slice or instant of this kind, category and name reaches a
    // sink that reads it.
    bool wants(EvKind k, const EvText& category, const EvText& name) {
        const uint32_t bit = kind_bit(k);
        return (every_ & bit) || ((mask_ & bit) && interested(k, category, name));
    }
    void emit(Event ev);

    // Convenience emitters. ts = now. Each fills an event the hub keeps and
    // reuses (one per nesting level: a sink may emit while it handles one),
    // so an emitter's strings and arguments are copied into buffers that
    // have their size already: no allocation per event.
    // A name or category handed as an EventWord reaches the sinks with its id.
    void slice_begin(std::string_view track, EvText name, EvText category, EventArgs args = {}) {
        if (wants(EvKind::SliceBegin, category, name)) send(EvKind::SliceBegin, track, name, category, args);
    }
    void slice_end(std::string_view track, EvText name, EvText category, EventArgs args = {}) {
        if (wants(EvKind::SliceEnd, category, name)) send(EvKind::SliceEnd, track, name, category, args);
    }
    void instant(std::string_view track, EvText name, EvText category, EventArgs args = {}) {
        if (wants(EvKind::Instant, category, name)) send(EvKind::Instant, track, name, category, args);
    }
    void counter(std::string_view track, std::string_view name, double value);
    void guest_error(std::string_view track, std::string_view name, std::string_view message,
                     const EventArgs& args = {});

    void declare_track(TrackInfo info);
    const std::vector<TrackInfo>& tracks() const { return tracks_; }
    uint64_t track_hz(const std::string& track) const;

    void set_phase(std::string phase) {
        phase_ = std::move(phase);
        ++phase_version_;
    }
    const std::string& phase() const { return phase_; }

private:
    // An event the hub fills and reuses, with the phase_version_ whose phase
    // it holds (the phase is copied in only when it changed: a few times a run).
    struct Slot {
        Event ev;
        uint64_t phase_version = 0;
    };
    // Events with up to kArgSlots - 2 arguments each have a slot of their
    // own per nesting level; more share the last, which resizes its list.
    static constexpr size_t kArgSlots = 8;
    // The slot for the current nesting level and `nargs` arguments, its
    // event holding `nargs` arguments and reset to what a fresh Event holds
    // except for its buffers and the text it holds already (a string equal
    // to the one it would get is not copied again); the caller fills its
    // arguments and hands it to dispatch, which runs the sinks one level
    // deeper.
    Event& reuse(EvKind kind, std::string_view track, EvText name, EvText category, size_t nargs);
    void send(EvKind kind, std::string_view track, EvText name, EvText category, const EventArgs& args);
    void dispatch(const Event& ev);
    bool interested(EvKind k, const EvText& category, const EvText& name);

    struct Subscriber {
        uint32_t mask;
        Sink sink;
        Interest interest;
    };
    std::vector<Subscriber> sinks_;
    // The answers of interested(), direct-mapped by kind and word ids:
    // (key << 1 | yes), ~0 where none. One page, filled at the first
    // question after a sink subscribed (a forked run copies it when it
    // first writes it).
    static constexpr size_t kAnswers = 512;
    std::vector<uint64_t> answers_;
    uint32_t every_ = 0;  // the kinds a sink with no interest takes
    // kArgSlots per nesting level of emitters: pool_[depth * kArgSlots + slot]
    // (an event per argument count, so that what fills it - its argument
    // keys above all - is mostly what it holds already: issue 18 item 3).
    std::vector<std::unique_ptr<Slot>> pool_;
    uint64_t phase_version_ = 1;
    size_t depth_ = 0;
    uint32_t mask_ = 0;
    std::vector<TrackInfo> tracks_;
    std::map<std::string, uint64_t> track_hz_;
    std::string phase_;
};

}  // namespace quiesce
