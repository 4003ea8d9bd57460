// The event hub of one run: tracks, slices, instants, counters, violations and their subscribers.
#include "sim/core/events.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <iterator>

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

void EventHub::subscribe(uint32_t mask, Sink sink, Interest interest) {
    if (!interest) every_ |= mask;
    sinks_.push_back({mask, std::move(sink), std::move(interest)});
    mask_ |= mask;
    answers_.clear();
}

bool EventHub::interested(EvKind k, const EvText& category, const EvText& name) {
    // Ids below 2^28 (far more words than a run interns) fit the key.
    if (category.id == 0 || name.id == 0 || ((category.id | name.id) >> 28)) return true;
    const uint64_t key = uint64_t(k) | uint64_t(category.id) << 4 | uint64_t(name.id) << 32;
    if (answers_.empty()) answers_.assign(kAnswers, ~uint64_t(0));
    static_assert(kAnswers == 512, "the index is the top 9 bits of the hash");
    uint64_t& a = answers_[(key * 0x9e3779b97f4a7c15ULL) >> 55];
    if (a >> 1 == key) return a & 1;
    bool yes = false;
    for (const Subscriber& s : sinks_)
        if ((s.mask & kind_bit(k)) && s.interest(k, category.text, name.text)) yes = true;
    a = key << 1 | uint64_t(yes);
    return yes;
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
    for (const Subscriber& s : sinks_)
        if (s.mask & kind_bit(ev.kind)) s.sink(ev);
}

namespace {
// Makes `s` hold `v`, copying nothing when it holds that text already: the
// hub's events keep their text from one call to the next, and an argument
// key, a track or a name is mostly what the event held (issue 18 item 3).
// Compared by content: a caller may hand the same buffer with new text.
void set_text(std::string& s, std::string_view v) {
    const size_t n = v.size();
    if (n == s.size() && (n == 0 || std::memcmp(s.data(), v.data(), n) == 0)) return;
    s.assign(v.data(), n);
}
}  // namespace

std::string event_line(const Event& ev) {
    std::string line = fmt::format("{} {} {} {} {} {} {:#x} {:#x} {} {} {} {}", ev.ts, int(ev.kind), ev.track, ev.name,
                                   ev.category, ev.value, ev.addr, ev.data, ev.size, int(ev.write), ev.initiator,
                                   ev.phase);
    for (const Arg& a : ev.args) fmt::format_to(std::back_inserter(line), " {}={}", a.key, a.value);
    return line;
}

void EventArgs::assign(size_t i, Arg& out) const {
    if (vec_) {
        const Arg& a = (*vec_)[i];
        set_text(out.key, a.key);
        set_text(out.value, a.value);
        return;
    }
    const ArgRef& a = list_.begin()[i];
    set_text(out.key, a.key);
    if (!a.is_int) {
        set_text(out.value, a.text);
        return;
    }
    char buf[24];
    auto r = a.is_signed ? std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(a.number))
                         : std::to_chars(buf, buf + sizeof buf, a.number);
    set_text(out.value, std::string_view(buf, size_t(r.ptr - buf)));
}

namespace {
// An interned word the reused event holds already is not copied again.
void assign_word(std::string& text, uint32_t& id, const EvText& word) {
    if (word.id == 0 || id != word.id) set_text(text, word.text);
    id = word.id;
}
}  // namespace

Event& EventHub::reuse(EvKind kind, std::string_view track, EvText name, EvText category, size_t nargs) {
    const size_t at = depth_ * kArgSlots + std::min(nargs, kArgSlots - 1);
    if (at >= pool_.size()) pool_.resize((depth_ + 1) * kArgSlots);
    if (!pool_[at]) pool_[at] = std::make_unique<Slot>();
    Slot& slot = *pool_[at];
    Event& ev = slot.ev;
    ev.kind = kind;
    ev.ts = now_ps();
    set_text(ev.track, track);
    assign_word(ev.name, ev.name_id, name);
    assign_word(ev.category, ev.category_id, category);
    ev.value = 0;
    ev.addr = 0;
    ev.data = 0;
    ev.size = 0;
    ev.write = false;
    ev.initiator.clear();
    if (slot.phase_version != phase_version_) {
        ev.phase.assign(phase_);
        slot.phase_version = phase_version_;
    }
    if (ev.args.size() != nargs) ev.args.resize(nargs);  // only in the last slot, whose counts vary
    return ev;
}

void EventHub::send(EvKind kind, std::string_view track, EvText name, EvText category, const EventArgs& args) {
    Event& ev = reuse(kind, track, name, category, args.size());
    for (size_t i = 0; i < args.size(); ++i) args.assign(i, ev.args[i]);
    dispatch(ev);
}

void EventHub::counter(std::string_view track, std::string_view name, double value) {
    if (!wants(EvKind::Counter)) return;
    Event& ev = reuse(EvKind::Counter, track, name, "counter", 0);
    ev.value = value;
    dispatch(ev);
}

void EventHub::guest_error(std::string_view track, std::string_view name, std::string_view message,
                           const EventArgs& args) {
    if (!wants(EvKind::GuestError)) return;
    Event& ev = reuse(EvKind::GuestError, track, name, "guest_error", args.size() + 1);
    set_text(ev.args[0].key, "message");
    set_text(ev.args[0].value, message);
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
