// The VCD export and its GTKWave save file (docs/trace-schema.md, "Viewer
// commands"): what the database has of a run, as signals.
#include "sim/trace/export.h"

#include "sim/core/errors.h"
#include "sim/trace/rows.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <map>
#include <tuple>
#include <unordered_map>

namespace quiesce {

namespace {

using json = nlohmann::json;

std::string vcd_name(std::string s) {
    for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
    return s.empty() ? "_" : s;
}
std::string vcd_code(size_t n) {  // identifiers from the printable range
    std::string id;
    do {
        id += char(33 + n % 94);
        n /= 94;
    } while (n);
    return id;
}
// A GTKWave string value: printable ASCII without spaces; "-" for none.
std::string vcd_string(const std::string& v) {
    std::string out = v.empty() ? "-" : v;
    for (char& c : out)
        if (c < 0x21 || c > 0x7e) c = '_';
    return "s" + out + " ";
}
std::string vcd_integer(int64_t v) {
    std::string bits;
    for (int b = 31; b >= 0; --b) bits += ((uint64_t(v) >> b) & 1) ? '1' : '0';
    size_t first = bits.find('1');
    return "b" + (first == std::string::npos ? std::string("0") : bits.substr(first)) + " ";
}

// What a USB device's power_state becomes at each of its events.
const std::map<std::string, std::string> kUsbPower = {
    {"address-device", "active"}, {"usb-resume", "active"}, {"usb-suspend", "suspended"}, {"vbus-lost", "off"}};

// A run's signals and their value changes, for the VCD and the save file.
class Waves {
public:
    Waves(const TraceReader& db, int64_t run_id) : db_(db), run_(run_id), title_(run_title(db, run_id)) {
        read_tracks();
        read_counters();
        read_slices();
        read_instants();
    }

    std::string vcd() const {
        std::string comment = title_;
        comment.erase(std::remove(comment.begin(), comment.end(), '$'), comment.end());
        std::string out = "$comment " + comment + " $end\n$version quiesce " QUIESCE_VERSION
                          " $end\n$timescale 1ps $end\n";
        out += "$scope module " + top() + " $end\n";
        walk([&](int64_t id, const std::string& scope) {
                 out += "$scope module " + scope + " $end\n";
                 for (const Var& v : tracks_.at(id).vars)
                     out += fmt::format("$var {} {} {} {}{} $end\n", v.type, v.width, v.code, v.name,
                                        v.type == "integer" ? " [31:0]" : "");
             },
             [&] { out += "$upscope $end\n"; });
        out += "$upscope $end\n$enddefinitions $end\n#0\n$dumpvars\n";
        for (const auto& [id, t] : tracks_)
            for (const Var& v : t.vars)
                out += (v.type == "string" ? "s- " : v.type == "wire" ? "0" : "bx ") + v.code + "\n";
        out += "$end\n";
        // A signal that changes more than once at one time shows the last value.
        auto changes = changes_;
        std::sort(changes.begin(), changes.end());
        for (size_t i = 0; i < changes.size();) {
            const Picos ts = std::get<0>(changes[i]);
            size_t j = i;
            std::unordered_map<std::string, size_t> last;
            for (; j < changes.size() && std::get<0>(changes[j]) == ts; ++j) last[std::get<2>(changes[j])] = j;
            if (ts) out += fmt::format("#{}\n", ts);
            for (size_t k = i; k < j; ++k)
                if (last[std::get<2>(changes[k])] == k) out += std::get<3>(changes[k]) + std::get<2>(changes[k]) + "\n";
            i = j;
        }
        // The waves last until the run ended.
        if (changes.empty() || std::get<0>(changes.back()) < end_) out += fmt::format("#{}\n", end_);
        return out;
    }

    std::string gtkw(const std::string& vcd_path) const {
        std::string out = "[*] quiesce " QUIESCE_VERSION ": " + first_line(title_) + "\n";
        if (!vcd_path.empty()) out += "[dumpfile] \"" + vcd_path + "\"\n";
        // GTKWave's zoom z shows 2^-z time units a pixel: the run across ~1500.
        const double zoom = -std::ceil(std::log2(std::max<double>(double(end_) / 1500, 1)));
        out += "[timestart] 0\n[size] 1800 1000\n[pos] -1 -1\n";
        out += fmt::format("*{:.6f} -1", zoom);
        for (int i = 0; i < 26; ++i) out += " -1";  // the named markers, unset
        out += "\n[treeopen] " + top() + ".\n[sst_width] 260\n[signals_width] 340\n[sst_expanded] 1\n";
        // A group per track with signals, the kernel's first; each signal
        // under its track's name and its own ("dma0 callback").
        std::vector<std::pair<int64_t, std::string>> order;  // (track, its scope path)
        std::vector<std::string> path{top()};
        walk([&](int64_t id, const std::string& scope) {
                 path.push_back(scope);
                 std::string p;
                 for (const auto& s : path) p += (p.empty() ? "" : ".") + s;
                 order.emplace_back(id, p);
             },
             [&] { path.pop_back(); });
        std::stable_partition(order.begin(), order.end(),
                              [&](const auto& o) { return tracks_.at(o.first).name == "kernel"; });
        std::string flags;  // as GTKWave writes them: when they change
        auto set_flags = [&](const std::string& f) {
            if (f != flags) out += f + "\n";
            flags = f;
        };
        for (const auto& [id, scope] : order) {
            const Track& t = tracks_.at(id);
            if (t.vars.empty()) continue;
            const std::string group = label(t.name);
            set_flags("@800200");  // a group begins (a blank, named trace)
            out += "-" + group + "\n";
            for (const Var& v : t.vars) {
                // Integers in decimal, wires in binary, strings as they are.
                set_flags(v.type == "integer" ? "@24" : v.type == "wire" ? "@28" : "@20");
                out += "+{" + group + " " + v.name + "} " + scope + "." + v.name +
                       (v.type == "integer" ? "[31:0]" : "") + "\n";
            }
            set_flags("@1000200");  // and ends
            out += "-" + group + "\n";
        }
        return out;
    }

private:
    struct Var {
        std::string code, type, name;
        int width;
    };
    struct Track {
        std::string name;
        int64_t parent = 0;
        std::vector<int64_t> children;
        std::vector<Var> vars;
    };

    static std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }
    // A group name or alias: the track's name, printable.
    static std::string label(std::string s) {
        for (char& c : s)
            if (static_cast<unsigned char>(c) < 0x20 || c == '{' || c == '}' || static_cast<unsigned char>(c) > 0x7e)
                c = '_';
        return s;
    }
    std::string top() const { return vcd_name(fmt::format("run{}", run_)); }

    // The device tree, depth first: enter(track, scope name) ... leave().
    void walk(const std::function<void(int64_t, const std::string&)>& enter, const std::function<void()>& leave) const {
        std::function<void(int64_t, size_t)> visit = [&](int64_t id, size_t depth) {
            // Each level is a call: a damaged database's chain of parents stops here.
            if (depth > 1000)
                throw InputError(db_.path(), 0, 0, "track.parent_id",
                                 fmt::format("tracks nested deeper than 1000 levels (track row {})", id));
            const Track& t = tracks_.at(id);
            std::string name = t.name;
            auto parent = tracks_.find(t.parent);
            if (t.parent && parent != tracks_.end() && name.rfind(parent->second.name + ".", 0) == 0)
                name = name.substr(parent->second.name.size() + 1);
            enter(id, vcd_name(name));
            for (int64_t child : t.children) visit(child, depth + 1);
            leave();
        };
        for (const auto& [id, t] : tracks_)
            if (!t.parent || !tracks_.count(t.parent)) visit(id, 0);
    }

    std::string code(int64_t track, const std::string& name, const char* type, int width) {
        auto key = std::make_pair(track, name);
        auto it = code_of_.find(key);
        if (it != code_of_.end()) return it->second;
        std::string c = vcd_code(code_of_.size());
        code_of_[key] = c;
        tracks_[track].vars.push_back({c, type, name, width});
        return c;
    }
    void change(Picos ts, const std::string& code, const std::string& value) {
        changes_.emplace_back(ts, changes_.size(), code, value);
    }

    void read_tracks() {
        each_row(db_, "SELECT id, name, parent_id FROM track WHERE run_id = ? ORDER BY id", {run_},
                 {"track.id", "track.name", "track.parent_id"}, [&](const Row& c) {
                     Track& t = tracks_[c.integer(0)];
                     t.name = c[1];
                     t.parent = c.integer(2);
                     track_id_[c[1]] = c.integer(0);
                 });
        for (auto& [id, t] : tracks_)
            if (t.parent && tracks_.count(t.parent)) tracks_[t.parent].children.push_back(id);
        each_row(db_, "SELECT sim_time, id FROM run WHERE id = ?", {run_}, {"run.sim_time", "run.id"},
                 [&](const Row& c) { end_ = c.natural(0); });
    }

    void read_counters() {
        each_row(db_, "SELECT track_id, ts, name, value, id FROM counter WHERE run_id = ? ORDER BY ts", {run_},
                 {"counter.track_id", "counter.ts", "counter.name", "counter.value", "counter.id"}, [&](const Row& c) {
                     std::string v = code(c.integer(0), vcd_name(c[2]), "integer", 32);
                     double value = c.real(3);
                     if (!(std::fabs(value) < 9.2e18)) c.bad(3, "a counter value beyond a 64-bit integer: " + c[3]);
                     change(c.natural(1), v, vcd_integer(int64_t(value)));
                 });
    }

    // Per track and category, the innermost slice in progress (a string
    // that goes back to the enclosing slice's name when a nested one ends);
    // a zero-length slice is a 1-ps pulse on <category>_mark, one after
    // another when several share a time, so each shows.
    void read_slices() {
        struct Open {
            Picos end;
            std::string name;
        };
        std::pair<int64_t, std::string> current{-1, ""};
        std::vector<Open> stack;
        std::string var;
        Picos next_mark = 0;
        auto close_until = [&](Picos ts) {
            while (!stack.empty() && stack.back().end <= ts) {
                Picos end = stack.back().end;
                stack.pop_back();
                change(end, var, vcd_string(stack.empty() ? "" : stack.back().name));
            }
        };
        each_row(db_,
                 "SELECT track_id, category, ts, dur, name, id FROM slice WHERE run_id = ?"
                 " ORDER BY track_id, category, ts, depth, id",
                 {run_}, {"slice.track_id", "slice.category", "slice.ts", "slice.dur", "slice.name", "slice.id"},
                 [&](const Row& c) {
                     const int64_t track = c.integer(0);
                     const std::string category = vcd_name(c[1].empty() ? "slice" : c[1]);
                     const Picos ts = c.natural(2), dur = c.natural(3);
                     if (current != std::make_pair(track, category)) {
                         close_until(~Picos(0));
                         current = {track, category};
                         next_mark = 0;
                     }
                     if (dur == 0) {
                         std::string mark = code(track, category + "_mark", "string", 1);
                         Picos at = std::max(ts, next_mark);
                         change(at, mark, vcd_string(c[4]));
                         change(at + 1, mark, vcd_string(""));
                         next_mark = at + 1;
                         return;
                     }
                     var = code(track, category, "string", 1);
                     close_until(ts);
                     stack.push_back({ts + dur, c[4]});
                     change(ts, var, vcd_string(c[4]));
                 });
        close_until(~Picos(0));
    }

    // Interrupt lines, a USB device's power state, a core's running task.
    void read_instants() {
        each_row(db_,
                 "SELECT track_id, ts, name, category, args, id FROM instant WHERE run_id = ?"
                 " AND (category = 'irq' OR name IN ('sched_switch', 'usb-suspend', 'usb-resume', 'vbus-lost',"
                 " 'address-device')) ORDER BY ts, id",
                 {run_}, {"instant.track_id", "instant.ts", "instant.name", "instant.category", "instant.args",
                          "instant.id"},
                 [&](const Row& c) {
                     const json a = c.json(4);
                     auto arg = [&](const char* key) { return arg_text(a, key); };
                     const Picos ts = c.natural(1);
                     const std::string& name = c[2];
                     if (c[3] == "irq" && !arg("irq").empty() && (name == "assert" || name == "deassert")) {
                         change(ts, code(c.integer(0), "irq" + vcd_name(arg("irq")), "wire", 1),
                                name == "assert" ? "1" : "0");
                     } else if (name == "sched_switch") {
                         change(ts, code(c.integer(0), "task", "string", 1), vcd_string(arg("next")));
                     } else if (auto power = kUsbPower.find(name); power != kUsbPower.end()) {
                         // address-device names the device it addressed on the controller's track.
                         int64_t device = c.integer(0);
                         if (name == "address-device") {
                             auto it = track_id_.find(arg("device"));
                             if (it == track_id_.end()) return;
                             device = it->second;
                         }
                         change(ts, code(device, "power_state", "string", 1), vcd_string(power->second));
                     }
                 });
    }

    const TraceReader& db_;
    int64_t run_;
    std::string title_;
    Picos end_ = 0;
    std::map<int64_t, Track> tracks_;
    std::map<std::string, int64_t> track_id_;
    std::map<std::pair<int64_t, std::string>, std::string> code_of_;
    // (ts, order, code, value in VCD syntax)
    std::vector<std::tuple<Picos, size_t, std::string, std::string>> changes_;
};

}  // namespace

std::string export_vcd(const TraceReader& db, int64_t run_id) { return Waves(db, run_id).vcd(); }

std::string export_gtkw(const TraceReader& db, int64_t run_id, const std::string& vcd_path) {
    return Waves(db, run_id).gtkw(vcd_path);
}

}  // namespace quiesce
