// `quiesce trace diff DB A B --format html`: two runs side by side. See
// summary.h.
#include "sim/trace/summary.h"

#include "sim/core/errors.h"
#include "sim/core/events.h"
#include "sim/trace/export.h"
#include "sim/trace/rows.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace quiesce {

namespace {

std::string esc(const std::string& s) { return markup_escape(s); }


// One phase or callback of a run, keyed by what it is and how many of the
// same came before it (a run of several cycles repeats them).
struct Item {
    std::string key;  // "name#k" or "device callback#k"
    std::string device, name, rc;
    Picos ts = 0, dur = 0;
};

std::vector<Item> keyed(std::vector<Item> items) {
    std::map<std::string, int> seen;
    for (Item& it : items) {
        std::string base = it.device.empty() ? it.name : it.device + " " + it.name;
        it.key = base + "#" + std::to_string(seen[base]++);
    }
    return items;
}

std::vector<Item> phases_of(const TraceReader& db, int64_t run) {
    std::vector<Item> v;
    each_row(db,
             "SELECT s.name, s.ts, s.dur, s.args, s.id FROM slice s JOIN track t ON t.id = s.track_id"
             " WHERE s.run_id = ? AND s.category = 'phase' AND t.name = 'kernel' ORDER BY s.ts, s.depth, s.id",
             {run}, {"slice.name", "slice.ts", "slice.dur", "slice.args", "slice.id"}, [&](const Row& c) {
                 v.push_back({"", "", c[0], arg_text(c.json(3), "rc"), c.natural(1), c.natural(2)});
             });
    return keyed(v);
}

std::vector<Item> callbacks_of(const TraceReader& db, int64_t run) {
    std::vector<Item> v;
    each_row(db,
             "SELECT t.name, s.name, s.ts, s.dur, s.args, s.id FROM slice s JOIN track t ON t.id = s.track_id"
             " WHERE s.run_id = ? AND s.category = 'callback' ORDER BY s.ts, s.id",
             {run}, {"track.name", "slice.name", "slice.ts", "slice.dur", "slice.args", "slice.id"},
             [&](const Row& c) {
                 v.push_back({"", c[0], c[1], arg_text(c.json(4), "rc"), c.natural(2), c.natural(3)});
             });
    return keyed(v);
}

// A's items in order, each of B's that A lacks after the item of A it
// follows in B. Pairs of (index in A or -1, index in B or -1).
std::vector<std::pair<long, long>> align(const std::vector<Item>& a, const std::vector<Item>& b) {
    std::map<std::string, long> in_a, in_b;
    for (size_t i = 0; i < a.size(); ++i) in_a[a[i].key] = long(i);
    for (size_t j = 0; j < b.size(); ++j) in_b[b[j].key] = long(j);
    std::map<long, std::vector<long>> after;  // index in A (-1: before all) -> B-only items
    long anchor = -1;
    for (size_t j = 0; j < b.size(); ++j) {
        auto it = in_a.find(b[j].key);
        if (it != in_a.end()) anchor = it->second;
        else after[anchor].push_back(long(j));
    }
    std::vector<std::pair<long, long>> rows;
    for (long j : after[-1]) rows.emplace_back(-1, j);
    for (size_t i = 0; i < a.size(); ++i) {
        auto it = in_b.find(a[i].key);
        rows.emplace_back(long(i), it == in_b.end() ? -1 : it->second);
        for (long j : after[long(i)]) rows.emplace_back(-1, j);
    }
    return rows;
}

bool failed(const std::string& rc) { return !rc.empty() && rc != "0"; }

struct Counts {
    size_t rows = 0, only_a = 0, only_b = 0, changed = 0, rc_changed = 0;
};

// The rows of one side-by-side table. A duration counts as changed when A
// and B differ by 10% of the longer or more.
std::string side_by_side(const std::vector<Item>& a, const std::vector<Item>& b, bool with_device, Counts& n) {
    Picos longest = 1;
    for (const auto* v : {&a, &b})
        for (const Item& it : *v) longest = std::max(longest, it.dur);
    std::string h;
    for (auto [i, j] : align(a, b)) {
        const Item* x = i >= 0 ? &a[size_t(i)] : nullptr;
        const Item* y = j >= 0 ? &b[size_t(j)] : nullptr;
        const Item& any = x ? *x : *y;
        std::string cls;
        ++n.rows;
        if (!x) cls = "only-b", ++n.only_b;
        else if (!y) cls = "only-a", ++n.only_a;
        else {
            Picos lo = std::min(x->dur, y->dur), hi = std::max(x->dur, y->dur);
            if (hi != lo && (hi - lo) * 10 >= hi) cls = "changed", ++n.changed;
            if (failed(x->rc) != failed(y->rc) || (failed(x->rc) && x->rc != y->rc))
                cls += cls.empty() ? "rc-changed" : " rc-changed", ++n.rc_changed;
        }
        auto dur = [](const Item* it) {
            return it ? fmt::format("<td class=\"t\" data-ps=\"{}\" title=\"{}\">{}</td>", it->dur, format_ps(it->dur),
                                    short_time(it->dur))
                      : std::string("<td class=\"t\">-</td>");
        };
        auto rc = [](const Item* it) {
            return "<td class=\"rc\">" + (it ? esc(it->rc.empty() ? "-" : it->rc) : std::string("-")) + "</td>";
        };
        std::string delta = "-";
        if (x && y) {
            Picos d = x->dur > y->dur ? x->dur - y->dur : y->dur - x->dur;
            delta = d == 0 ? "0" : (y->dur > x->dur ? "+" : "-") + short_time(d);
        } else {
            delta = x ? "only in A" : "only in B";
        }
        auto bar = [&](const Item* it, const char* side) {
            if (!it) return std::string();
            return fmt::format("<div class=\"bar {}\" style=\"width:{:.1f}%\"></div>", side,
                               100.0 * double(it->dur) / double(longest));
        };
        h += fmt::format("<tr class=\"{}\" data-key=\"{}\">", cls, esc(any.key));
        if (with_device) h += "<td>" + esc(any.device) + "</td>";
        h += "<td>" + esc(any.name) + "</td>" + dur(x) + rc(x) + dur(y) + rc(y) + "<td class=\"t delta\">" +
             esc(delta) + "</td><td class=\"bars\">" + bar(x, "a") + bar(y, "b") + "</td></tr>\n";
    }
    return h;
}

}  // namespace

std::string diff_html(const TraceReader& db, int64_t a, int64_t b) {
    std::string title_a = run_title(db, a), title_b = run_title(db, b);  // both exist, or an InputError
    std::string title = fmt::format("quiesce diff: run {} and run {}", a, b);
    std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + esc(title) +
                    "</title>\n<style>" + kSummaryCss + "</style>\n</head>\n<body>\n<h1>" + esc(title) + "</h1>\n";
    h += "<p class=\"note\" id=\"run-a\"><b>A</b> " + esc(title_a) + "</p>\n<p class=\"note\" id=\"run-b\"><b>B</b> " +
         esc(title_b) + "</p>\n";
    const DiffLevels levels = trace_levels_differ(db, a, b);
    if (!levels.note.empty()) h += "<p class=\"note\" id=\"levels\">" + esc(levels.note) + "</p>\n";

    auto ea = diff_events(db, a, levels.summary_only), eb = diff_events(db, b, levels.summary_only);
    size_t i = 0;
    while (i < ea.size() && i < eb.size() && ea[i].second == eb[i].second) ++i;
    h += "<h2>First difference</h2>\n";
    if (i == ea.size() && i == eb.size()) {
        h += fmt::format("<p id=\"first-difference\" data-event=\"none\">The runs have the same {} events in the same "
                         "order.</p>\n",
                         ea.size());
    } else {
        auto ev = [](const std::vector<std::pair<uint64_t, std::string>>& e, size_t k) {
            return k < e.size() ? "<td class=\"t\">" + esc(format_ps(e[k].first)) + "</td><td>" + esc(e[k].second) +
                                      "</td>"
                                : std::string("<td>-</td><td>(no more events)</td>");
        };
        h += fmt::format("<p id=\"first-difference\" data-event=\"{}\">At event {} (in time order; {} events before "
                         "it are the same in both):</p>\n",
                         i, i, i);
        h += "<table id=\"first-events\">\n<tr><th>run</th><th>at</th><th>event</th></tr>\n<tr class=\"only-a\"><td>A" +
             std::string("</td>") + ev(ea, i) + "</tr>\n<tr class=\"only-b\"><td>B</td>" + ev(eb, i) + "</tr>\n</table>\n";
    }

    Counts pn, cn;
    std::string phase_rows = side_by_side(phases_of(db, a), phases_of(db, b), false, pn);
    std::string callback_rows = side_by_side(callbacks_of(db, a), callbacks_of(db, b), true, cn);
    auto counts = [](const char* id, const Counts& n) {
        return fmt::format("<p class=\"note\" id=\"{}\" data-rows=\"{}\" data-only-a=\"{}\" data-only-b=\"{}\" "
                           "data-changed=\"{}\" data-rc-changed=\"{}\">{} rows: {} only in A (red), {} only in B "
                           "(blue), {} with durations 10% or more apart (yellow), {} with another return code.</p>\n",
                           id, n.rows, n.only_a, n.only_b, n.changed, n.rc_changed, n.rows, n.only_a, n.only_b,
                           n.changed, n.rc_changed);
    };
    h += "<h2>Phases</h2>\n" + counts("phase-counts", pn) +
         "<table id=\"phases\">\n<tr><th>phase</th><th>A</th><th>rc</th><th>B</th><th>rc</th><th>B - A</th>"
         "<th>A (blue), B (orange)</th></tr>\n" +
         phase_rows + "</table>\n";
    h += "<h2>Device callbacks</h2>\n" + counts("callback-counts", cn) +
         "<table id=\"callbacks\">\n<tr><th>device</th><th>callback</th><th>A</th><th>rc</th><th>B</th><th>rc</th>"
         "<th>B - A</th><th>A (blue), B (orange)</th></tr>\n" +
         callback_rows + "</table>\n";

    // Violations: by invariant and component, how many in each run.
    std::map<std::pair<std::string, std::string>, std::pair<size_t, size_t>> vio;
    std::map<std::pair<std::string, std::string>, std::string> message;
    for (int side = 0; side < 2; ++side)
        each_row(db, "SELECT invariant, component, message, id FROM violation WHERE run_id = ? ORDER BY ts, id",
                 {side == 0 ? a : b}, {"violation.invariant", "violation.component", "violation.message", "violation.id"},
                 [&](const Row& c) {
                     auto& n = vio[{c[0], c[1]}];
                     (side == 0 ? n.first : n.second) += 1;
                     message.emplace(std::make_pair(c[0], c[1]), c[2]);
                 });
    h += "<h2>Violations</h2>\n<table id=\"violations\">\n<tr><th>invariant</th><th>component</th><th>A</th>"
         "<th>B</th><th>message</th></tr>\n";
    for (const auto& [key, n] : vio)
        h += fmt::format("<tr class=\"{}\" data-invariant=\"{}\"><td>{}</td><td>{}</td><td class=\"n\">{}</td>"
                         "<td class=\"n\">{}</td><td class=\"msg\">{}</td></tr>\n",
                         n.first == n.second ? "" : n.first > n.second ? "only-a" : "only-b", esc(key.first),
                         esc(key.first), esc(key.second), n.first, n.second, esc(message[key]));
    if (vio.empty()) h += "<tr><td colspan=\"5\">none</td></tr>\n";
    h += "</table>\n</body>\n</html>\n";
    return h;
}

}  // namespace quiesce
