#include "sim/core/events.h"

#include <fmt/format.h>

namespace quiesce {

std::string json_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) {
            out += fmt::format("\\u{:04x}", int(c));
            continue;
        }
        out += c;
    }
    return out;
}

void EventHub::subscribe(uint32_t mask, Sink sink) {
    sinks_.emplace_back(mask, std::move(sink));
    mask_ |= mask;
}

void EventHub::emit(Event ev) {
    if (!wants(ev.kind)) return;
    if (ev.phase.empty()) ev.phase = phase_;
    for (auto& [mask, sink] : sinks_)
        if (mask & kind_bit(ev.kind)) sink(ev);
}

namespace {
Event make(EvKind kind, const std::string& track, const std::string& name, const std::string& category,
           std::vector<Arg> args) {
    Event ev;
    ev.kind = kind;
    ev.ts = now_ps();
    ev.track = track;
    ev.name = name;
    ev.category = category;
    ev.args = std::move(args);
    return ev;
}
}  // namespace

void EventHub::slice_begin(const std::string& track, const std::string& name, const std::string& category,
                           std::vector<Arg> args) {
    if (wants(EvKind::SliceBegin)) emit(make(EvKind::SliceBegin, track, name, category, std::move(args)));
}

void EventHub::slice_end(const std::string& track, const std::string& name, const std::string& category,
                         std::vector<Arg> args) {
    if (wants(EvKind::SliceEnd)) emit(make(EvKind::SliceEnd, track, name, category, std::move(args)));
}

void EventHub::instant(const std::string& track, const std::string& name, const std::string& category,
                       std::vector<Arg> args) {
    if (wants(EvKind::Instant)) emit(make(EvKind::Instant, track, name, category, std::move(args)));
}

void EventHub::counter(const std::string& track, const std::string& name, double value) {
    if (!wants(EvKind::Counter)) return;
    Event ev = make(EvKind::Counter, track, name, "counter", {});
    ev.value = value;
    emit(std::move(ev));
}

void EventHub::guest_error(const std::string& track, const std::string& name, const std::string& message,
                           std::vector<Arg> args) {
    if (!wants(EvKind::GuestError)) return;
    args.insert(args.begin(), Arg{"message", message});
    emit(make(EvKind::GuestError, track, name, "guest_error", std::move(args)));
}

void EventHub::declare_track(TrackInfo info) {
    track_hz_[info.name] = info.hz;
    tracks_.push_back(std::move(info));
}

uint64_t EventHub::track_hz(const std::string& track) const {
    auto it = track_hz_.find(track);
    return it == track_hz_.end() ? 0 : it->second;
}

}  // namespace quiesce
