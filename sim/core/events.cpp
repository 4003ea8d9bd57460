// The event hub of one run: tracks, slices, instants, counters, violations and their subscribers.
#include "sim/core/events.h"

#include <fmt/format.h>

namespace quiesce {

namespace {
// Length of the well-formed UTF-8 sequence at s[i], or 0 if it is not one.
size_t utf8_length(const std::string& s, size_t i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k)
        if ((b(i + k) & 0xc0) != 0x80) return 0;
    uint32_t cp = n == 1 ? c : c & (0xff >> (n + 1));
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (b(i + k) & 0x3f);
    static const uint32_t min_for[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;  // overlong, surrogates
    return n;
}
}  // namespace

std::string json_escape(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        char c = s[i];
        size_t n = utf8_length(s, i);
        if (n == 0) {  // not UTF-8: JSON text must be
            out += "\\ufffd";
            ++i;
            continue;
        }
        if (n > 1) {
            out.append(s, i, n);
            i += n;
            continue;
        }
        ++i;
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) {
            out += fmt::format("\\u{:04x}", int(c));
            continue;
        }
        out += c;
    }
    return out;
}

std::string markup_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') out += ' ';
                else out += c;
        }
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
