// The observation bus of one run. Models emit events (slices, instants,
// counters, register accesses, bus transactions, guest errors); the checker
// and the trace recorder subscribe. Nothing here knows about SQLite.
#pragma once

#include "sim/core/time.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
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
};

// The value of an event argument, or "" when it has none.
inline std::string arg_value(const Event& ev, const std::string& key) {
    for (const auto& a : ev.args)
        if (a.key == key) return a.value;
    return "";
}

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

    // A sink receives the kinds in `mask` (bits from kind_bit()).
    void subscribe(uint32_t mask, Sink sink);
    bool wants(EvKind k) const { return (mask_ & kind_bit(k)) != 0; }
    void emit(Event ev);

    // Convenience emitters. ts = now.
    void slice_begin(const std::string& track, const std::string& name, const std::string& category,
                     std::vector<Arg> args = {});
    void slice_end(const std::string& track, const std::string& name, const std::string& category,
                   std::vector<Arg> args = {});
    void instant(const std::string& track, const std::string& name, const std::string& category,
                 std::vector<Arg> args = {});
    void counter(const std::string& track, const std::string& name, double value);
    void guest_error(const std::string& track, const std::string& name, const std::string& message,
                     std::vector<Arg> args = {});

    void declare_track(TrackInfo info);
    const std::vector<TrackInfo>& tracks() const { return tracks_; }
    uint64_t track_hz(const std::string& track) const;

    void set_phase(std::string phase) { phase_ = std::move(phase); }
    const std::string& phase() const { return phase_; }

private:
    std::vector<std::pair<uint32_t, Sink>> sinks_;
    uint32_t mask_ = 0;
    std::vector<TrackInfo> tracks_;
    std::map<std::string, uint64_t> track_hz_;
    std::string phase_;
};

}  // namespace quiesce
