// Interleavings an exploration tried: callbacks of one phase that overlapped in time, and the cores they ran on.
#include "sim/explore/interleavings.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace quiesce {

namespace {

// One callback's run: when it began and ended, the core it ran on.
struct Span {
    Picos begin = 0, end = 0;
    std::string core;
};

// phase -> device -> its callback's last run.
std::map<std::string, std::map<std::string, Span>> callback_spans(const RunStream& stream) {
    std::map<std::string, std::map<std::string, Span>> spans;
    std::map<std::string, std::string> open;  // device -> the phase of its callback running now
    for (const auto& ev : stream.events) {
        if (ev.category != "callback") continue;
        const std::string device = arg_value(ev, "device");
        if (ev.kind == EvKind::SliceBegin) {
            open[device] = arg_value(ev, "phase");
            spans[open[device]][device] = {ev.ts, ev.ts, arg_value(ev, "cpu")};
        } else if (ev.kind == EvKind::SliceEnd && open.count(device)) {
            spans[open[device]][device].end = ev.ts;
            open.erase(device);
        }
    }
    return spans;
}

}  // namespace

std::map<std::pair<std::string, std::string>, std::string> callback_cores(const RunStream& stream) {
    std::map<std::pair<std::string, std::string>, std::string> out;
    for (const auto& [phase, devs] : callback_spans(stream))
        for (const auto& [device, span] : devs)
            if (!span.core.empty()) out[{phase, device}] = span.core;
    return out;
}

void Interleavings::add(const RunStream& stream) {
    for (const auto& [phase, devs] : callback_spans(stream))
        for (auto a = devs.begin(); a != devs.end(); ++a)
            for (auto b = std::next(a); b != devs.end(); ++b) {
                const Span& sa = a->second;
                const Span& sb = b->second;
                if (!(sa.begin < sb.end && sb.begin < sa.end)) continue;  // one ended before the other began
                const unsigned seen = sa.begin < sb.begin ? 1u : sb.begin < sa.begin ? 2u : 4u;
                overlaps_[{phase, a->first, b->first}] |= seen;
                if (!sa.core.empty() && !sb.core.empty() && sa.core != sb.core)
                    cross_[{phase, a->first, sa.core, b->first, sb.core}] |= seen;
            }
    for (const ContextPair& c : stream.contexts) {
        contexts_[{c.phase, int(c.a_kind), c.a, int(c.b_kind), c.b}] |= c.seen;
        if (c.a_core != c.b_core)
            contexts_cross_[{c.phase, int(c.a_kind), c.a, c.a_core, int(c.b_kind), c.b, c.b_core}] |= c.seen;
    }
}

size_t Interleavings::cross_core_varied() const {
    return size_t(std::count_if(cross_.begin(), cross_.end(), [](const auto& c) { return c.second != 1u && c.second != 2u && c.second != 4u; }));
}

namespace {

// "dma0 first, at the same instant": the orders in `seen` (the bits above).
std::string orders_text(unsigned seen, const std::string& a, const std::string& b) {
    std::vector<std::string> orders;
    if (seen & 1u) orders.push_back(a + " first");
    if (seen & 2u) orders.push_back(b + " first");
    if (seen & 4u) orders.push_back("at the same instant");
    std::string how;
    for (size_t i = 0; i < orders.size(); ++i) how += (i ? ", " : "") + orders[i];
    return how;
}

bool one_order(unsigned seen) { return seen == 1u || seen == 2u || seen == 4u; }

}  // namespace

std::string Interleavings::text() const {
    return callbacks_text() + contexts_text();
}

std::string Interleavings::contexts_text() const {
    if (contexts_.empty()) return "";
    size_t both = 0, together = 0;
    std::map<std::pair<int, int>, size_t> by_kind;
    for (const auto& [key, seen] : contexts_) {
        both += (seen & 3u) == 3u;
        together += seen == 4u;
        ++by_kind[{std::get<1>(key), std::get<3>(key)}];
    }
    const char* kind_name[] = {"callback", "IRQ handler", "task"};
    std::string kinds;
    for (const auto& [k, n] : by_kind)
        kinds += fmt::format("{}{} {} x {}", kinds.empty() ? "" : ", ", n, kind_name[k.first], kind_name[k.second]);
    std::string out = fmt::format("contexts: {} pairs of a callback with a task, kernel thread or IRQ handler, or of two "
                                  "of those, ran at the same time in some variant ({}); {} of them started in either "
                                  "order, {} only at the same instant\n",
                                  contexts_.size(), kinds, both, together);
    if (contexts_cross_.empty()) return out;
    // The ones on two cores whose order varied, those with a callback first.
    std::vector<const std::pair<const std::tuple<std::string, int, std::string, std::string, int, std::string, std::string>,
                                unsigned>*> varied;
    for (int callbacks = 1; callbacks >= 0; --callbacks)
        for (const auto& c : contexts_cross_)
            if (!one_order(c.second) && (std::get<1>(c.first) == ContextPair::Callback) == bool(callbacks))
                varied.push_back(&c);
    out += fmt::format("cross-core contexts: {} pairs of those on two cores (name@core) ran at the same time in some "
                       "variant; {} of them started in more than one order{}\n",
                       contexts_cross_.size(), varied.size(), varied.empty() ? "" : ":");
    const size_t shown = 10;
    for (size_t i = 0; i < varied.size(); ++i) {
        if (i == shown) {
            out += fmt::format("  ... and {} more\n", varied.size() - shown);
            break;
        }
        const auto& [phase, ak, a, ca, bk, b, cb] = varied[i]->first;
        out += fmt::format("  {:<16} {}@{} {}@{}: {}\n", phase, a, ca, b, cb, orders_text(varied[i]->second, a, b));
    }
    return out;
}

std::string Interleavings::callbacks_text() const {
    if (overlaps_.empty()) return "";
    size_t both = 0, together = 0;
    for (const auto& [key, seen] : overlaps_) {
        both += (seen & 3u) == 3u;
        together += seen == 4u;
    }
    std::string out = fmt::format("interleavings: {} pairs of callbacks of one phase ran at the same time in some "
                                  "variant; {} of them started in either order, {} only at the same instant\n",
                                  overlaps_.size(), both, together);
    if (cross_.empty()) return out;
    const size_t varied = cross_core_varied();
    out += fmt::format("cross-core: {} pairs of callbacks on two cores (device@core) ran at the same time in some "
                       "variant; {} of them started in more than one order across the variants{}\n",
                       cross_.size(), varied, varied ? ":" : "");
    size_t listed = 0;
    const size_t shown = 10;
    for (const auto& [key, seen] : cross_) {
        if (one_order(seen)) continue;
        if (listed++ == shown) {
            out += fmt::format("  ... and {} more\n", varied - shown);
            break;
        }
        const auto& [phase, a, ca, b, cb] = key;
        out += fmt::format("  {:<16} {}@{} {}@{}: {}\n", phase, a, ca, b, cb, orders_text(seen, a, b));
    }
    return out;
}

}  // namespace quiesce
