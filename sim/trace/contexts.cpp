// The contexts that ran at the same time during a transition (sim/trace/contexts.h).
#include "sim/trace/contexts.h"

#include <algorithm>

namespace quiesce {

uint32_t ContextTracker::id(const std::string& s) {
    auto [it, fresh] = ids_.emplace(s, uint32_t(names_.size()));
    if (fresh) names_.push_back(s);
    return it->second;
}

void ContextTracker::close(ContextPair::Kind kind, Open& o, Picos ts, const std::string& phase_now) {
    if (!o.on) return;
    o.on = false;
    const uint32_t phase = o.phase ? o.phase : id(phase_now);
    if (phase) spans_.push_back({kind, o.name, o.core, phase, o.begin, ts});
}

bool ContextTracker::reads(EvKind kind, std::string_view category, std::string_view name) {
    const bool slice = kind == EvKind::SliceBegin || kind == EvKind::SliceEnd;
    return (slice && (category == "callback" || category == "irq")) ||
           (kind == EvKind::Instant && name == "sched_switch");
}

void ContextTracker::on(const Event& ev) {
    if (ev.category == "callback") {
        const std::string device = arg_value(ev, "device");
        if (ev.kind == EvKind::SliceBegin) {
            const std::string core = arg_value(ev, "cpu");
            if (core.empty()) return;
            callbacks_[device] = {id(device), id(core), id(arg_value(ev, "phase")), ev.ts, true};
        } else if (ev.kind == EvKind::SliceEnd) {
            if (auto it = callbacks_.find(device); it != callbacks_.end()) close(ContextPair::Callback, it->second, ev.ts, ev.phase);
        }
    } else if (ev.category == "irq" && (ev.kind == EvKind::SliceBegin || ev.kind == EvKind::SliceEnd)) {
        Open& o = irqs_[ev.track + '\n' + ev.name];
        if (ev.kind == EvKind::SliceBegin) o = {id(ev.name), id(ev.track), id(ev.phase), ev.ts, true};
        else close(ContextPair::Irq, o, ev.ts, ev.phase);
    } else if (ev.kind == EvKind::Instant && ev.name == "sched_switch") {
        Open& o = tasks_[ev.track];
        close(ContextPair::Task, o, ev.ts, ev.phase);
        const std::string next = arg_value(ev, "next");
        const bool pm = next.rfind("dpm_", 0) == 0 || next == "main_thread" ||
                        (next.size() > 12 && next.compare(next.size() - 12, 12, ".main_thread") == 0);
        if (!pm && next != "idle" && !next.empty()) o = {id(next), id(ev.track), id(ev.phase), ev.ts, true};
    }
}

std::vector<ContextPair> ContextTracker::pairs(Picos end) {
    for (auto* open : {&callbacks_, &irqs_, &tasks_})
        for (auto& [key, o] : *open)
            close(open == &callbacks_ ? ContextPair::Callback : open == &irqs_ ? ContextPair::Irq : ContextPair::Task, o,
                  end, "");
    std::stable_sort(spans_.begin(), spans_.end(), [](const Span& x, const Span& y) { return x.begin < y.begin; });
    // (phase, a's kind, a, a's core, b's kind, b, b's core) -> seen, a the lesser.
    std::map<std::tuple<uint32_t, int, uint32_t, uint32_t, int, uint32_t, uint32_t>, unsigned> seen;  // by ids
    const auto less = [this](const Span* p, const Span* q) {
        if (p->kind != q->kind) return p->kind < q->kind;
        if (p->name != q->name) return names_[p->name] < names_[q->name];
        return names_[p->core] < names_[q->core];
    };
    std::vector<const Span*> active;  // begun, not yet ended before the span at hand
    for (const Span& s : spans_) {
        active.erase(std::remove_if(active.begin(), active.end(), [&](const Span* a) { return a->end <= s.begin; }),
                     active.end());
        for (const Span* a : active) {
            // a began no later than s and ends after s begins: they overlap
            // unless s takes no time and begins with a.
            if (!(a->begin < s.end)) continue;
            if (a->kind == ContextPair::Callback && s.kind == ContextPair::Callback) continue;
            if (a->name == s.name && a->kind == s.kind) continue;
            unsigned bit = a->begin < s.begin ? 1u : 4u;  // a first, or together
            const Span* x = a;
            const Span* y = &s;
            if (less(y, x)) {
                std::swap(x, y);
                if (bit == 1u) bit = 2u;
            }
            const uint32_t phase = x->kind == ContextPair::Callback ? x->phase : s.phase;
            seen[{phase, int(x->kind), x->name, x->core, int(y->kind), y->name, y->core}] |= bit;
        }
        active.push_back(&s);
    }
    std::vector<ContextPair> out;
    for (const auto& [key, bits] : seen) {
        const auto& [phase, ak, a, ac, bk, b, bc] = key;
        out.push_back({names_[phase], ContextPair::Kind(ak), ContextPair::Kind(bk), names_[a], names_[ac], names_[b], names_[bc],
                       bits});
    }
    return out;
}

}  // namespace quiesce
