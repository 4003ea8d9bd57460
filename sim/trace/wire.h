// The compact stream a run's child process sends its parent over a pipe:
// tracks, events and a closing summary. Only the parent writes SQLite.
#pragma once

#include "sim/core/events.h"

#include <cstdint>
#include <string>
#include <vector>

namespace quiesce {

struct RunSummary;

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
    uint64_t digest = 0;   // FNV-1a over the event records: the determinism check
    bool truncated = false;
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

private:
    void put_u64(uint64_t v);
    void put_str(const std::string& s);
    void maybe_flush() { if (fd_ >= 0 && buf_.size() > (1u << 16)) flush(); }
    int fd_;
    std::string buf_;
};

// Decodes what a child wrote (possibly cut short by a crash).
RunStream decode_stream(const std::string& bytes);

}  // namespace quiesce
