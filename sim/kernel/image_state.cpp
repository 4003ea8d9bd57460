// Kernel state serialized into kernel pages at the snapshot and parsed back after a restore.
#include "sim/kernel/image_state.h"

#include "models/cpu/cpu.h"
#include "sim/kernel/kernel.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>

namespace quiesce {

namespace {
constexpr uint64_t kPage = 4096;
constexpr uint64_t kMagic = 0x3145544154534b51ULL;  // "QKSTATE1"
// Root page words: magic, bytes, CRC32 of the bytes, page count, then the pages.
constexpr uint64_t kRootWords = 4;
constexpr uint64_t kMaxPages = kPage / 8 - kRootWords;
uint64_t pages_for(uint64_t bytes) { return (bytes + kPage - 1) / kPage; }
}  // namespace

void StateWriter::u64(uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = uint8_t(v >> (8 * i));
    bytes_.insert(bytes_.end(), b, b + 8);
}

void StateWriter::str(const std::string& s) {
    u64(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
}

void StateReader::fail(const std::string& why) const { throw StateError(what_ + ": " + why); }

uint64_t StateReader::u64() {
    if (end_ - p_ < 8) fail("ends inside a word");
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p_[i];
    p_ += 8;
    return v;
}

bool StateReader::boolean() {
    uint64_t v = u64();
    if (v > 1) fail(fmt::format("{} is not a boolean", v));
    return v == 1;
}

std::string StateReader::str() {
    uint64_t n = count(1);
    std::string s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
}

uint64_t StateReader::count(size_t item_bytes) {
    uint64_t n = u64();
    if (n > uint64_t(end_ - p_) / std::max<size_t>(item_bytes, 1))
        fail(fmt::format("a count of {} is more than the {} bytes left hold", n, end_ - p_));
    return n;
}

int ImageState::add(std::string name, Save save, Load load) {
    for (auto& e : states_)
        if (e.name == name) {  // a new object for the same thing (a driver bound again): it takes the place
            e = {++next_id_, std::move(name), std::move(save), std::move(load)};
            return next_id_;
        }
    states_.push_back({++next_id_, std::move(name), std::move(save), std::move(load)});
    return next_id_;
}

void ImageState::remove(int id) {
    states_.erase(std::remove_if(states_.begin(), states_.end(), [id](const Entry& e) { return e.id == id; }),
                  states_.end());
}

std::vector<uint8_t> ImageState::serialize() const {
    StateWriter w;
    w.u64(states_.size());
    for (const auto& e : states_) {
        StateWriter section;
        e.save(section);
        w.str(e.name);
        w.u64(section.bytes().size());
        w.bytes().insert(w.bytes().end(), section.bytes().begin(), section.bytes().end());
    }
    return std::move(w.bytes());
}

uint64_t ImageState::pages_needed() const { return pages_for(serialize().size()) + (root_ ? 0 : 1); }

int ImageState::save(Cpu& cpu) {
    if (!root_) root_ = kernel_.alloc(kPage, kPage);
    std::vector<uint64_t> pages;
    std::vector<uint8_t> bytes = serialize();
    // Taking the pages changes the allocator, which is itself a state:
    // serialize again once they are taken (a free list only gets shorter).
    for (;;) {
        const uint64_t need = pages_for(bytes.size());
        if (need > kMaxPages) return -12;
        if (need <= pages.size()) break;
        std::vector<uint64_t> more;
        if (kernel_.alloc_pages(cpu, need - pages.size(), Kernel::Gfp::Atomic, more) != 0) {
            for (uint64_t p : pages) kernel_.free_page(p);
            return -12;  // -ENOMEM
        }
        pages.insert(pages.end(), more.begin(), more.end());
        bytes = serialize();
    }
    std::vector<uint64_t> root(kPage / 8, 0);
    root[0] = kMagic;
    root[1] = bytes.size();
    root[2] = crc32(crc32(0L, Z_NULL, 0), bytes.data(), uInt(bytes.size()));
    root[3] = pages.size();
    std::copy(pages.begin(), pages.end(), root.begin() + kRootWords);
    cpu.write_block(root_, root.data(), kPage);
    bytes.resize(pages.size() * kPage, 0);
    for (size_t i = 0; i < pages.size(); ++i) cpu.write_block(pages[i], bytes.data() + i * kPage, kPage);
    return 0;
}

// swsusp_free's counterpart: the pages that carried the state, and the
// root's magic cleared so nothing takes them for a state again.
void ImageState::release(Cpu& cpu, const std::vector<uint64_t>& pages) {
    for (uint64_t p : pages) kernel_.free_page(p);
    const uint64_t zero = 0;
    cpu.write_block(root_, &zero, 8);
}

void ImageState::discard(Cpu& cpu) {
    if (!root_) return;
    std::vector<uint64_t> root(kPage / 8);
    cpu.read_block(root_, root.data(), kPage);
    if (root[0] != kMagic || root[3] > kMaxPages) return;
    release(cpu, {root.begin() + kRootWords, root.begin() + kRootWords + long(root[3])});
}

std::string ImageState::load(Cpu& cpu) {
    if (!root_) return "no kernel state was saved";
    std::vector<uint64_t> root(kPage / 8);
    cpu.read_block(root_, root.data(), kPage);
    if (root[0] != kMagic) return fmt::format("the root page at {:#x} has no state magic", root_);
    const uint64_t size = root[1], n = root[3];
    if (n > kMaxPages || size > n * kPage || pages_for(size) != n)
        return fmt::format("the root page names {} page(s) for {} byte(s)", n, size);
    std::vector<uint64_t> pages(root.begin() + kRootWords, root.begin() + kRootWords + n);
    std::vector<uint8_t> bytes(n * kPage);
    for (size_t i = 0; i < n; ++i) {
        if (pages[i] % kPage || !kernel_.owns(pages[i]))
            return fmt::format("state page {} at {:#x} is not a kernel page", i, pages[i]);
        cpu.read_block(pages[i], bytes.data() + i * kPage, kPage);
    }
    bytes.resize(size);
    if (crc32(crc32(0L, Z_NULL, 0), bytes.data(), uInt(bytes.size())) != root[2])
        return "the state's CRC32 does not match";
    // The sections first (a framing that does not parse loads nothing),
    // then each state in registration order: the allocator before the
    // objects whose pages it accounts for.
    std::vector<std::pair<const Entry*, std::pair<const uint8_t*, size_t>>> found;
    try {
        StateReader r(bytes.data(), bytes.size(), "kernel state");
        const uint64_t sections = r.count(16);
        if (sections != states_.size())
            return fmt::format("{} state section(s) saved, {} registered", sections, states_.size());
        size_t at = 8;
        for (uint64_t s = 0; s < sections; ++s) {
            StateReader head(bytes.data() + at, bytes.size() - at, "kernel state");
            std::string name = head.str();
            const uint64_t len = head.count(1);
            at += 8 + name.size() + 8;
            const Entry* e = nullptr;
            for (const auto& x : states_)
                if (x.name == name) e = &x;
            if (!e) return "a state section nobody registered: " + name;
            found.push_back({e, {bytes.data() + at, size_t(len)}});
            at += len;
        }
        if (at != bytes.size()) return "bytes after the last state section";
        for (auto& [e, span] : found) {
            StateReader sr(span.first, span.second, e->name);
            e->load(sr);
            if (!sr.at_end()) sr.fail("bytes left after the state");
        }
    } catch (const StateError& err) {
        return err.what();
    }
    release(cpu, pages);
    return "";
}

}  // namespace quiesce
