// The event hub of one run: tracks, slices, instants, counters, violations and their subscribers.
#include "sim/core/events.h"

#include <fmt/format.h>

#include <charconv>

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
    dispatch(ev);
}

void EventHub::dispatch(const Event& ev) {
    struct Level {
        size_t& depth;
        explicit Level(size_t& d) : depth(d) { ++depth; }
        ~Level() { --depth; }
    } level(depth_);
    for (auto& [mask, sink] : sinks_)
        if (mask & kind_bit(ev.kind)) sink(ev);
}

void EventArgs::assign(size_t i, Arg& out) const {
    if (vec_) {
        const Arg& a = (*vec_)[i];
        out.key.assign(a.key);
        out.value.assign(a.value);
        return;
    }
    const ArgRef& a = list_.begin()[i];
    out.key.assign(a.key.data(), a.key.size());
    if (!a.is_int) {
        out.value.assign(a.text.data(), a.text.size());
        return;
    }
    char buf[24];
    auto r = a.is_signed ? std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(a.number))
                         : std::to_chars(buf, buf + sizeof buf, a.number);
    out.value.assign(buf, r.ptr);
}

namespace {
// An interned word the reused event holds already is not copied again.
void assign_word(std::string& text, uint32_t& id, const EvText& word) {
    if (word.id == 0 || id != word.id) text.assign(word.text.data(), word.text.size());
    id = word.id;
}
}  // namespace

Event& EventHub::reuse(EvKind kind, std::string_view track, EvText name, EvText category) {
    if (depth_ == pool_.size()) {
        pool_.push_back(std::make_unique<Event>());
        pool_phase_version_.push_back(0);
        pool_spare_args_.emplace_back();
    }
    Event& ev = *pool_[depth_];
    ev.kind = kind;
    ev.ts = now_ps();
    ev.track.assign(track.data(), track.size());
    assign_word(ev.name, ev.name_id, name);
    assign_word(ev.category, ev.category_id, category);
    ev.value = 0;
    ev.addr = 0;
    ev.data = 0;
    ev.size = 0;
    ev.write = false;
    ev.initiator.clear();
    if (pool_phase_version_[depth_] != phase_version_) {
        ev.phase.assign(phase_);
        pool_phase_version_[depth_] = phase_version_;
    }
    return ev;
}

void EventHub::fit_args(Event& ev, size_t n) {
    std::vector<Arg>& spare = pool_spare_args_[depth_];
    for (; ev.args.size() > n; ev.args.pop_back()) spare.push_back(std::move(ev.args.back()));
    for (; ev.args.size() < n; spare.pop_back()) {
        if (spare.empty()) {
            ev.args.resize(n);
            return;
        }
        ev.args.push_back(std::move(spare.back()));
    }
}

void EventHub::send(EvKind kind, std::string_view track, EvText name, EvText category, const EventArgs& args) {
    Event& ev = reuse(kind, track, name, category);
    fit_args(ev, args.size());
    for (size_t i = 0; i < args.size(); ++i) args.assign(i, ev.args[i]);
    dispatch(ev);
}

void EventHub::counter(std::string_view track, std::string_view name, double value) {
    if (!wants(EvKind::Counter)) return;
    Event& ev = reuse(EvKind::Counter, track, name, "counter");
    fit_args(ev, 0);
    ev.value = value;
    dispatch(ev);
}

void EventHub::guest_error(std::string_view track, std::string_view name, std::string_view message,
                           const EventArgs& args) {
    if (!wants(EvKind::GuestError)) return;
    Event& ev = reuse(EvKind::GuestError, track, name, "guest_error");
    fit_args(ev, args.size() + 1);
    ev.args[0].key.assign("message");
    ev.args[0].value.assign(message.data(), message.size());
    for (size_t i = 0; i < args.size(); ++i) args.assign(i, ev.args[i + 1]);
    dispatch(ev);
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
