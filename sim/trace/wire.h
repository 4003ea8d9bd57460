// The compact stream a run's child process sends its parent over a pipe:
// tracks, events and a closing summary. Only the parent writes SQLite.
#pragma once

#include "sim/core/events.h"
#include "sim/core/hash.h"
#include "sim/trace/contexts.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace quiesce {

// What a run's child sends at its end, after its events (simulate() returns it).
struct RunSummary {
    std::string outcome;    // resumed | aborted:<phase> | pm-test:<level> | no-resume | power-cut | sim-time-limit | control
    std::string workload;   // "ok" or what failed
    Picos sim_end = 0;
    uint64_t memory_digest = 0;
    uint64_t ledger_issued = 0;
    std::vector<TrackInfo> tracks;
    // With Scenario::note_persistence: each drive's persistence points in
    // the transition, (drive, time) in order (explore branches there).
    std::vector<std::pair<std::string, Picos>> persistence;
    // With Scenario::note_contexts: the callbacks, tasks, kernel threads and
    // interrupt handlers that ran at the same time (sim/trace/contexts.h).
    std::vector<ContextPair> contexts;
};

struct WireSummary {
    std::string outcome;
    std::string workload;
    Picos sim_end = 0;
    uint64_t memory_digest = 0;
    uint64_t ledger_issued = 0;
};

struct RunStream {
    std::vector<TrackInfo> tracks;
    std::vector<Event> events;
    bool has_summary = false;
    WireSummary summary;
    uint64_t digest = 0;   // hash_bytes over the event records, record by record: the determinism check
    bool truncated = false;
    // Outside the digest, only when the scenario asked (explore's baseline):
    // when each drive's persistence points happened during the transition.
    std::vector<std::pair<std::string, Picos>> persistence;
    // ... and which contexts ran at the same time (explore's variants).
    std::vector<ContextPair> contexts;
};

class WireWriter {
public:
    // fd < 0: keep everything in memory until attach() (a prefix shared by
    // forked variants: each child attaches its own pipe).
    explicit WireWriter(int fd) : fd_(fd) {}
    ~WireWriter() { flush(); }
    void attach(int fd) {
        fd_ = fd;
        flush();
    }
    void event(const Event& ev);
    void summary(const RunSummary& s);
    void flush();
    // What is buffered and not yet sent, handed over (and forgotten): the
    // part of a shared prefix since the last branch point.
    std::string take() {
        std::string out(buf_.get(), len_);
        len_ = 0;
        return out;
    }

private:
    void put_u64(uint64_t v);
    void put_str(const std::string& s);
    void put_tag(char tag);
    void maybe_flush() { if (fd_ >= 0 && len_ > (1u << 16)) flush(); }
    // Room for n more bytes after the first len_, which are what is kept;
    // the bytes past len_ are scratch, so a record is encoded in place
    // without clearing its room first, and the buffer grows without
    // clearing its new bytes either (issue 18 item 3).
    char* room(size_t n);
    int fd_;
    std::unique_ptr<char[]> buf_;
    size_t cap_ = 0;   // the bytes buf_ holds
    size_t len_ = 0;
};

// Decodes a stream in pieces: a shared prefix once, then each variant's own
// suffix on a copy of the decoder - as if the whole had come in one piece.
class StreamDecoder {
public:
    // Decodes the records in `bytes`; a record cut short ends the stream.
    void feed(const std::string& bytes);
    // The stream so far, with its digest (the decoder stays as it is, or,
    // on a temporary, gives its stream away).
    RunStream finish() const&;
    RunStream finish() &&;

private:
    RunStream out_;
    uint64_t h_ = kHashSeed;
    bool ok_ = true;
};

// Decodes what a child wrote (possibly cut short by a crash).
RunStream decode_stream(const std::string& bytes);

}  // namespace quiesce
