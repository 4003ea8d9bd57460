// The wire stream a run's child sends its parent: events and the run summary, encoded and decoded.
#include "sim/trace/wire.h"

#include "sim/core/paths.h"

#include <algorithm>
#include <cstring>

namespace quiesce {

namespace {
enum Tag : uint8_t { TAG_EVENT = 'E', TAG_TRACK = 'T', TAG_SUMMARY = 'S', TAG_PERSIST = 'P', TAG_CONTEXT = 'C' };
}

namespace {
// The same encoding as put_u64 and put_str, into room made beforehand: the
// event path appends each record once instead of byte by byte (issue 18
// item 3).
constexpr size_t kMaxU64 = 10;  // LEB128 of 64 bits
char* encode_u64(char* p, uint64_t v) {
    while (v >= 0x80) {
        *p++ = char(uint8_t(v) | 0x80);
        v >>= 7;
    }
    *p++ = char(uint8_t(v));
    return p;
}
char* encode_str(char* p, const std::string& s) {
    p = encode_u64(p, s.size());
    std::memcpy(p, s.data(), s.size());
    return p + s.size();
}
}  // namespace

// The first room a writer takes: past the 64 KiB a writer with a pipe keeps
// before it flushes, so that it never grows unless a record is that big.
constexpr size_t kFirstRoom = size_t(1) << 17;

char* WireWriter::room(size_t n) {
    if (cap_ - len_ < n) {
        const size_t cap = std::max({2 * cap_, len_ + n, kFirstRoom});
        std::unique_ptr<char[]> grown(new char[cap]);  // not cleared: only what is encoded is sent
        if (len_ > 0) std::memcpy(grown.get(), buf_.get(), len_);
        buf_ = std::move(grown);
        cap_ = cap;
    }
    return buf_.get() + len_;
}

void WireWriter::put_u64(uint64_t v) {
    char* p = room(kMaxU64);
    len_ += size_t(encode_u64(p, v) - p);
}

void WireWriter::put_str(const std::string& s) {
    char* p = room(kMaxU64 + s.size());
    len_ += size_t(encode_str(p, s) - p);
}

void WireWriter::put_tag(char tag) {
    *room(1) = tag;
    ++len_;
}

void WireWriter::event(const Event& ev) {
    // 8 numbers, 5 strings with their lengths, 2 per argument
    size_t room = 1 + 13 * kMaxU64 + ev.track.size() + ev.name.size() + ev.category.size() + ev.phase.size() +
                  ev.initiator.size();
    for (const auto& a : ev.args) room += 2 * kMaxU64 + a.key.size() + a.value.size();
    char* const start = this->room(room);
    char* p = start;
    *p++ = char(TAG_EVENT);
    p = encode_u64(p, uint64_t(ev.kind));
    p = encode_u64(p, ev.ts);
    p = encode_str(p, ev.track);
    p = encode_str(p, ev.name);
    p = encode_str(p, ev.category);
    p = encode_str(p, ev.phase);
    uint64_t value_bits;
    std::memcpy(&value_bits, &ev.value, 8);
    p = encode_u64(p, value_bits);
    p = encode_u64(p, ev.addr);
    p = encode_u64(p, ev.data);
    p = encode_u64(p, ev.size);
    p = encode_u64(p, ev.write ? 1 : 0);
    p = encode_str(p, ev.initiator);
    p = encode_u64(p, ev.args.size());
    for (const auto& a : ev.args) {
        p = encode_str(p, a.key);
        p = encode_str(p, a.value);
    }
    len_ += size_t(p - start);
    maybe_flush();
}

void WireWriter::summary(const RunSummary& s) {
    for (const auto& t : s.tracks) {
        put_tag(char(TAG_TRACK));
        put_str(t.name);
        put_str(t.parent);
        put_str(t.kind);
        put_str(t.domain);
        put_u64(t.hz);
    }
    for (const auto& [drive, ts] : s.persistence) {
        put_tag(char(TAG_PERSIST));
        put_str(drive);
        put_u64(ts);
    }
    for (const ContextPair& c : s.contexts) {
        put_tag(char(TAG_CONTEXT));
        put_str(c.phase);
        put_u64(c.a_kind);
        put_str(c.a);
        put_str(c.a_core);
        put_u64(c.b_kind);
        put_str(c.b);
        put_str(c.b_core);
        put_u64(c.seen);
    }
    put_tag(char(TAG_SUMMARY));
    put_str(s.outcome);
    put_str(s.workload);
    put_u64(s.sim_end);
    put_u64(s.memory_digest);
    put_u64(s.ledger_issued);
    flush();
}

void WireWriter::flush() {
    if (fd_ < 0) return;
    write_all(fd_, buf_.get(), len_);
    len_ = 0;
}

namespace {
struct Reader {
    // The bytes' bounds held by value: read through a reference, the
    // string's pointer and size would be loaded again after every byte
    // written into a decoded field (a char store may alias them).
    explicit Reader(const std::string& bytes) : data(bytes.data()), size(bytes.size()) {}
    const char* data;
    size_t size;
    size_t pos = 0;
    bool ok = true;
    uint64_t u64() {
        uint64_t v = 0;
        size_t at = pos;
        for (unsigned shift = 0; shift < 64; shift += 7) {
            if (at >= size) {
                pos = at;
                ok = false;
                return 0;
            }
            const uint8_t c = uint8_t(data[at++]);
            v |= uint64_t(c & 0x7f) << shift;
            if (!(c & 0x80)) {
                pos = at;
                return v;
            }
        }
        pos = at;
        ok = false;
        return 0;
    }
    std::string str() {
        std::string s;
        str(s);
        return s;
    }
    // Into `s` in place: no string made and moved per field.
    void str(std::string& s) {
        uint64_t n = u64();
        if (!ok || n > size - pos) {
            ok = false;
            s.clear();
            return;
        }
        // Appended: the fields are empty, and appending takes a shorter way
        // than assigning does.
        s.clear();
        s.append(data + pos, size_t(n));
        pos += n;
    }
    void skip_str() {
        uint64_t n = u64();
        if (!ok || n > size - pos) { ok = false; return; }
        pos += n;
    }
    // Past a number without reading it (at most 10 bytes, as u64() reads).
    void skip_u64() {
        size_t at = pos;
        const size_t lim = size - at > 10 ? at + 10 : size;
        while (at < lim && (uint8_t(data[at]) & 0x80)) ++at;
        if (at >= lim) {
            pos = at;
            ok = false;
            return;
        }
        pos = at + 1;
    }
};

// How many event records `bytes` holds, up to a record cut short or
// unknown (the decoder reserves room for them at once: a run's stream is
// mostly events, and a vector grown one by one to a million events moves
// them over and over and touches twice their memory fresh - most of what
// decoding a big run cost). It reads the records as feed() does.
size_t count_events(const std::string& bytes) {
    Reader r(bytes);
    size_t n = 0;
    auto fields = [&r](const char* shape) {  // s: a string, u: a number
        for (const char* f = shape; *f && r.ok; ++f)
            if (*f == 's') r.skip_str();
            else r.u64();
    };
    while (r.ok && r.pos < bytes.size()) {
        const char tag = bytes[r.pos++];
        if (tag == char(TAG_EVENT)) {
            // kind, ts, track, name, category, phase, value, addr, data,
            // size, write, initiator, the arguments: spelt out, the
            // commonest record skipped without a shape read per field.
            r.skip_u64();
            r.skip_u64();
            for (int i = 0; i < 4; ++i) r.skip_str();
            for (int i = 0; i < 5; ++i) r.skip_u64();
            r.skip_str();
            uint64_t nargs = r.u64();
            for (uint64_t i = 0; i < nargs && r.ok; ++i) {
                r.skip_str();
                r.skip_str();
            }
            n += r.ok;
        } else if (tag == char(TAG_TRACK)) {
            fields("ssssu");
        } else if (tag == char(TAG_PERSIST)) {
            fields("su");
        } else if (tag == char(TAG_CONTEXT)) {
            fields("sussussu");  // phase, a_kind, a, a_core, b_kind, b, b_core, seen
        } else if (tag == char(TAG_SUMMARY)) {
            fields("ssuuu");
        } else {
            break;
        }
    }
    return n;
}
}  // namespace

void StreamDecoder::feed(const std::string& bytes) {
    RunStream& out = out_;
    Reader r(bytes);
    uint64_t h = h_;
    if (ok_) {
        // Room for the events ahead, taken at once, when they are many.
        const size_t ahead = bytes.size() >= 4096 ? count_events(bytes) : 0;
        // (at least doubling what it holds: a stream fed piece by piece still grows geometrically)
        if (out.events.capacity() - out.events.size() < ahead)
            out.events.reserve(std::max(out.events.size() + ahead, 2 * out.events.capacity()));
    }
    while (ok_ && r.ok && r.pos < bytes.size()) {
        size_t start = r.pos;
        char tag = bytes[r.pos++];
        if (tag == TAG_EVENT) {
            // Decoded in place at the end of the events (taken back off if
            // the record is cut short): no event moved into the vector.
            Event& ev = out.events.emplace_back();
            ev.kind = EvKind(r.u64());
            ev.ts = r.u64();
            r.str(ev.track);
            r.str(ev.name);
            r.str(ev.category);
            r.str(ev.phase);
            uint64_t bits = r.u64();
            std::memcpy(&ev.value, &bits, 8);
            ev.addr = r.u64();
            ev.data = r.u64();
            ev.size = uint32_t(r.u64());
            ev.write = r.u64() != 0;
            r.str(ev.initiator);
            uint64_t nargs = r.u64();
            // One allocation of the arguments' size, not a vector grown one
            // at a time (each argument is two lengths at least: a damaged
            // count reserves no more than the bytes left could hold).
            if (r.ok && nargs) ev.args.reserve(size_t(std::min<uint64_t>(nargs, (bytes.size() - r.pos) / 2)));
            for (uint64_t i = 0; i < nargs && r.ok; ++i) {
                Arg& a = ev.args.emplace_back();
                r.str(a.key);
                r.str(a.value);
            }
            if (!r.ok) {
                out.events.pop_back();
                break;
            }
            h = hash_bytes(bytes.data() + start, r.pos - start, h);  // the record as sent
        } else if (tag == TAG_TRACK) {
            TrackInfo t;
            t.name = r.str();
            t.parent = r.str();
            t.kind = r.str();
            t.domain = r.str();
            t.hz = r.u64();
            if (r.ok) out.tracks.push_back(t);
        } else if (tag == TAG_PERSIST) {
            std::string drive = r.str();
            Picos ts = r.u64();
            if (r.ok) out.persistence.emplace_back(std::move(drive), ts);
        } else if (tag == TAG_CONTEXT) {
            ContextPair c;
            c.phase = r.str();
            c.a_kind = ContextPair::Kind(r.u64() % 3);
            c.a = r.str();
            c.a_core = r.str();
            c.b_kind = ContextPair::Kind(r.u64() % 3);
            c.b = r.str();
            c.b_core = r.str();
            c.seen = unsigned(r.u64());
            if (r.ok) out.contexts.push_back(std::move(c));
        } else if (tag == TAG_SUMMARY) {
            out.summary.outcome = r.str();
            out.summary.workload = r.str();
            out.summary.sim_end = r.u64();
            out.summary.memory_digest = r.u64();
            out.summary.ledger_issued = r.u64();
            out.has_summary = r.ok;
        } else {
            r.ok = false;
        }
    }
    ok_ = ok_ && r.ok;
    h_ = h;
}

RunStream StreamDecoder::finish() const& { return StreamDecoder(*this).finish(); }

RunStream StreamDecoder::finish() && {
    out_.truncated = !ok_ || !out_.has_summary;
    out_.digest = h_ ^ out_.summary.memory_digest;
    return std::move(out_);
}

RunStream decode_stream(const std::string& bytes) {
    StreamDecoder d;
    d.feed(bytes);
    return std::move(d).finish();
}

}  // namespace quiesce
