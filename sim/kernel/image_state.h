// Kernel state the hibernation image carries (issue 21 item 1).
//
// In Linux every piece of kernel and driver state - the page allocator, the
// page cache's radix tree, jbd2's journal_t, page tables, task stacks - is
// memory, so the atomic copy takes it and a restore brings it back as it was
// at the snapshot. Here much of it is held in C++ objects. So that nothing
// survives a restore by staying in one, each such object registers its state
// here: at the snapshot instant (one CPU, interrupts off) every registered
// state is serialized into kernel pages, which the snapshot then copies with
// every other saveable page; when the image kernel runs again each state is
// rebuilt by parsing those pages back out of the restored memory, and what
// the C++ object held after the snapshot is gone. A change made after the
// snapshot (a task that escaped the freezer, a kernel thread that kept
// writing) is therefore undone in the restored system as Linux undoes it,
// and whatever it left on the disk no longer matches the restored kernel.
//
// Layout: a root page (a kernel variable, at a fixed address once taken)
// holds a magic, the byte count, the CRC32 of the bytes and the frames that
// hold them; the bytes are a count of sections, each a name, a length and
// the state's own encoding (little-endian u64 words and length-prefixed
// strings).
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace quiesce {

class Cpu;
class Kernel;

// A state that does not parse: a corrupt image the loader accepted.
struct StateError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class StateWriter {
public:
    void u64(uint64_t v);
    void boolean(bool b) { u64(b ? 1 : 0); }
    void str(const std::string& s);
    void u64s(const std::vector<uint64_t>& v) {
        u64(v.size());
        for (uint64_t x : v) u64(x);
    }
    const std::vector<uint8_t>& bytes() const { return bytes_; }
    std::vector<uint8_t>& bytes() { return bytes_; }

private:
    std::vector<uint8_t> bytes_;
};

class StateReader {
public:
    StateReader(const uint8_t* data, size_t size, std::string what) : p_(data), end_(data + size), what_(std::move(what)) {}
    uint64_t u64();
    bool boolean();
    std::string str();
    // A count of items that follow, each at least `item_bytes` long: bounded
    // by what is left, so a corrupt count cannot ask for more.
    uint64_t count(size_t item_bytes = 8);
    std::vector<uint64_t> u64s() {
        std::vector<uint64_t> v(count());
        for (auto& x : v) x = u64();
        return v;
    }
    bool at_end() const { return p_ == end_; }
    [[noreturn]] void fail(const std::string& why) const;

private:
    const uint8_t* p_;
    const uint8_t* end_;
    std::string what_;
};

class ImageState {
public:
    using Save = std::function<void(StateWriter&)>;
    using Load = std::function<void(StateReader&)>;

    explicit ImageState(Kernel& kernel) : kernel_(kernel) {}

    // Registers a state under its name; the id removes it again. A name
    // already registered is replaced in its place (the old id then removes
    // nothing): a driver bound again, hibernation registering at each
    // snapshot.
    int add(std::string name, Save save, Load load);
    void remove(int id);
    void clear() { states_.clear(); }

    // At the snapshot instant: the pages the serialized state will take
    // (the root page included the first time), and the serialization
    // itself into freshly allocated kernel pages. `save` returns 0, or
    // -ENOMEM when the pages cannot be had without reclaim.
    uint64_t pages_needed() const;
    int save(Cpu& cpu);
    // The image kernel runs again: every state parsed from the restored
    // memory and loaded, then its pages freed. "" or why it did not parse
    // (nothing is loaded then).
    std::string load(Cpu& cpu);
    // A snapshot that did not go ahead: the saved state's pages freed.
    void discard(Cpu& cpu);
    uint64_t root() const { return root_; }
    // A fresh boot: the kernel variable is gone with its heap.
    void reset() {
        root_ = 0;
        states_.clear();
    }

private:
    std::vector<uint8_t> serialize() const;
    void release(Cpu& cpu, const std::vector<uint64_t>& pages);
    struct Entry {
        int id;
        std::string name;
        Save save;
        Load load;
    };
    Kernel& kernel_;
    std::vector<Entry> states_;
    int next_id_ = 0;
    uint64_t root_ = 0;  // the root page: a kernel variable
};

}  // namespace quiesce
