// Faults and replayed decisions: [[fault]] tables and --fault rules, and the recorded order, PCT schedule, timing and
// driver mutation a replay or explore gives (add_cli_faults).
#include "sim/scenario/scenario.h"

#include "sim/core/toml_reader.h"
#include "sim/pm/device_graph.h"
#include "sim/drivers/mutate.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace quiesce {

FaultSpec parse_fault(TableReader& r, const Scenario& s, const std::string& origin) {
    FaultSpec f;
    f.origin = origin;
    f.kind = r.required_str("kind");
    const FaultKindInfo* k = find_fault_kind(f.kind);
    if (!k) {
        std::string all;
        for (const auto& i : fault_kinds()) all += std::string(all.empty() ? "" : ", ") + i.name;
        r.fail("kind", "unknown fault kind '" + f.kind + "' (" + all + ")");
    }
    // The trigger.
    if (auto p = r.str("phase")) {
        bool known = s.protocol.find(*p) != nullptr;
        for (const Protocol& c : s.cycles.protocols) known = known || c.find(*p) != nullptr;
        if (!known)
            r.fail("phase", "protocol '" + s.protocol.name + "'" + (s.cycles.protocols.empty() ? "" : " (nor any of [cycles] protocols)") +
                                " has no phase '" + *p + "'");
        f.phase = *p;
    }
    if (auto w = r.str("when")) {
        if (!k->point) r.fail("when", "'" + f.kind + "' fails an operation inside the phase: 'when' applies to point faults");
        if (*w != "before" && *w != "after") r.fail("when", "must be \"before\" or \"after\"");
        if (f.phase.empty()) r.fail("when", "needs a phase");
        f.when = *w;
    }
    if (auto d = r.str("device")) {
        // power-loss names a drive: its persistence points are the opportunities.
        bool drive = false;
        for (const auto& dev : s.platform.devices) drive |= dev.has_disk() && dev.disk == *d;
        if (k->point && !(f.kind == "power-loss" && drive))
            r.fail("device", f.kind == "power-loss" ? "power-loss at persistence points names a drive (an ahci or usb-storage device's disk)"
                                                    : "'" + f.kind + "' happens to the whole machine: no device");
        bool known = f.kind == "freezer-refusal";  // a task's name
        for (const auto& dev : s.platform.devices) known |= dev.name == *d || (dev.has_disk() && dev.disk == *d);
        if (!known) r.fail("device", "platform '" + s.platform.name + "' has no device '" + *d + "'");
        f.device = *d;
    }
    if (auto a = r.duration("at")) f.at = *a;
    if (auto n = r.integer("nth", 1, 1'000'000'000)) f.nth = uint64_t(*n);
    if (auto n = r.integer("cycle", 1, 10000)) {
        if (uint64_t(*n) > s.cycles.count)
            r.fail("cycle", "the scenario runs " + std::to_string(s.cycles.count) + " cycle" +
                                (s.cycles.count == 1 ? "" : "s") + " ([cycles] count)");
        f.cycle = uint64_t(*n);
    }
    if (auto p = r.number("probability")) {
        if (*p < 0 || *p > 1) r.fail("probability", "must be 0 to 1");
        f.probability = *p;
    }
    if (auto o = r.boolean("once")) f.once = *o;
    if (k->point && f.phase.empty() && !f.at && f.device.empty())
        r.fail("kind", "'" + f.kind + "' needs a phase or a time ('at') to fire at");
    if (f.kind == "power-loss" && !f.device.empty() && r.str("when"))
        r.fail("when", "a power loss at persistence points has no phase boundary");
    // The kind's own parameters; any other key is unknown to it.
    std::string params = k->params;
    auto has = [&](const char* key) { return ("," + params + ",").find(std::string(",") + key + ",") != std::string::npos; };
    if (has("err"))
        if (auto e = r.integer("err", -4095, -1)) f.err = *e;
    if (has("duration"))
        if (auto d = r.duration("duration")) f.duration = *d;
    if (has("after_pages"))
        if (auto n = r.integer("after_pages")) {
            if (f.phase != "write-image" || *n < 0) r.fail("after_pages", "after_pages >= 0 applies to phase = \"write-image\"");
            f.after_pages = *n;
            f.nth = uint64_t(*n) + 1;  // the writer asks after each page: the page after N
        }
    if (has("restore_after"))
        if (auto a = r.duration("restore_after")) f.restore_after = *a;
    if (has("page"))
        if (auto n = r.integer("page", 0, INT64_MAX)) f.page = uint64_t(*n);
    if (has("irq"))
        if (auto n = r.integer("irq", 0, 23)) f.irq = *n;
    if (has("source")) {
        f.source = r.str("source", "power-button");
        if (f.source != "power-button" && f.source != "rtc" && f.source != "usb-key")
            r.fail("source", "must be \"power-button\", \"rtc\" or \"usb-key\"");
    }
    if (has("method"))
        if (auto m = r.str("method")) {
            if (*m != "_TTS" && *m != "_PTS" && *m != "_WAK") r.fail("method", "must be \"_TTS\", \"_PTS\" or \"_WAK\"");
            f.device = *m;
        }
    if (has("signature"))
        if (auto n = r.integer("signature", 1, 0xffffffffLL)) f.signature = uint64_t(*n);
    if (has("op")) {
        f.op = r.str("op", "write");
        if (f.op != "write" && f.op != "delete") r.fail("op", "must be \"write\" or \"delete\"");
    }
    if (has("file_block"))
        if (auto n = r.integer("file_block", 0, 4095)) f.file_block = uint64_t(*n);
    if (has("identical"))
        if (auto b = r.boolean("identical")) f.identical = *b;
    if (f.kind == "usb-unplug" || f.kind == "usb-swap") {
        const DeviceSpec* usb = nullptr;
        for (const auto& dev : s.platform.devices)
            if (dev.name == f.device && dev.usb()) usb = &dev;
        if (f.device.empty()) r.fail("kind", f.kind + " needs a device: the USB device at the port");
        if (!usb) r.fail("device", "'" + f.device + "' is not a USB device (usb-keyboard, usb-storage)");
        if (f.kind == "usb-swap" && usb->type != "usb-storage")
            r.fail("device", "usb-swap replaces a USB disk: '" + f.device + "' is a " + usb->type);
        bool s3 = s.protocol.target == 3;
        for (const Protocol& c : s.cycles.protocols) s3 = s3 || c.target == 3;
        if (!s3) r.fail("kind", f.kind + " happens while the machine sleeps in S3: the protocol never enters S3");
    }
    if (f.kind == "offline-fs-write" && !s.hibernates()) r.fail("kind", "offline-fs-write needs a hibernation protocol");
    if (f.kind == "image-bit-flip" && !s.hibernates()) r.fail("kind", "image-bit-flip needs a hibernation protocol");
    if (f.kind == "resume-device-late" && !s.hibernates())
        r.fail("kind", "resume-device-late needs a hibernation protocol");
    r.done();
    return f;
}

std::vector<KeyValue> split_key_values(const std::string& text) {
    std::vector<KeyValue> out;
    for (size_t pos = 0;;) {
        size_t comma = text.find(',', pos);
        std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        size_t eq = item.find('=');
        if (eq == std::string::npos) out.push_back({item, "", false});
        else out.push_back({item.substr(0, eq), item.substr(eq + 1), true});
        if (comma == std::string::npos) return out;
        pos = comma + 1;
    }
}

FaultSpec parse_cli_fault(const std::string& text, size_t index, const Scenario& s) {
    // "kind=callback-fail,phase=suspend,device=dma0": the keys of a [[fault]]
    // table. Numbers and booleans keep their type; everything else is a string.
    std::string origin = "--fault " + std::to_string(index);
    toml::table t;
    for (const KeyValue& kv : split_key_values(text)) {
        if (!kv.pair || kv.key.empty())
            throw InputError(origin + ": expected key=value[,key=value...], got " +
                             (kv.text().empty() ? "an empty item in \"" + text + "\""
                                                : "\"" + kv.text() + "\""));
        const std::string& value = kv.value;
        if (t.contains(kv.key)) throw InputError(origin + ": " + kv.key + ": given twice");
        // As in a scenario file (TOML): 0x1f is hexadecimal, and a decimal
        // number has no leading zero (C's prefix would make 010 octal).
        const size_t digits = value.find_first_not_of("+-");
        if (digits != std::string::npos && digits <= 1 && value.size() > digits + 1 && value[digits] == '0' &&
            std::isdigit(static_cast<unsigned char>(value[digits + 1])))
            throw InputError(origin + ": " + kv.key + ": a number with a leading zero, got '" + value + "'");
        char* end = nullptr;
        long long i = std::strtoll(value.c_str(), &end, 0);
        if (!value.empty() && *end == 0) t.insert_or_assign(kv.key, int64_t(i));
        else if (double d = std::strtod(value.c_str(), &end); !value.empty() && *end == 0) t.insert_or_assign(kv.key, d);
        else if (value == "true" || value == "false") t.insert_or_assign(kv.key, value == "true");
        else t.insert_or_assign(kv.key, value);
    }
    TableReader r(origin, t, "");
    return parse_fault(r, s, origin);
}

std::string check_order(const Scenario& s, const std::vector<std::string>& order) {
    DeviceGraph g = build_graph(s.platform);
    std::vector<std::string> want = g.devices(), got = order;
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    if (got == want) return "";
    std::string all;
    for (const auto& d : g.devices()) all += (all.empty() ? "" : ", ") + d;
    // Which name is wrong: one the platform lacks, one named twice, one left out.
    std::string what;
    for (size_t i = 0; i < got.size() && what.empty(); ++i) {
        if (!std::binary_search(want.begin(), want.end(), got[i])) what = "'" + got[i] + "' is no device of the platform";
        else if (i > 0 && got[i] == got[i - 1]) what = "'" + got[i] + "' is named twice";
    }
    for (size_t i = 0; i < want.size() && what.empty(); ++i)
        if (!std::binary_search(got.begin(), got.end(), want[i])) what = "'" + want[i] + "' is missing";
    return "must name every device once: " + what + " (" + all + ")";
}

void set_order(Scenario& s, const std::string& text) {
    std::vector<std::string> order;
    std::istringstream in(text);
    for (std::string d; std::getline(in, d, ',');) order.push_back(d);
    if (std::string why = check_order(s, order); !why.empty()) throw InputError("--order: " + why);
    s.order = order;
    s.extra_faults.push_back("order=" + text);
}

namespace {
// The number of one "key=N" item of a replayed decision (`what`: schedule, timing).
uint64_t decision_number(const char* what, const KeyValue& kv) {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(kv.value.c_str(), &end, 10);
    // (strtoull would take "-1" as 2^64-1, and " 1" as 1)
    if (kv.value.empty() || !std::isdigit(static_cast<unsigned char>(kv.value[0])) || *end || errno == ERANGE ||
        v > uint64_t(INT64_MAX))
        throw InputError(std::string(what) + ": " + kv.key + " needs a number, got '" + kv.value + "'");
    return v;
}
}  // namespace

void set_schedule(Scenario& s, const std::string& text) {
    std::vector<KeyValue> items = split_key_values(text);
    if (items[0].text() != "pct") throw InputError("schedule: only \"pct\" can be given, got '" + items[0].text() + "'");
    Scenario::Schedule sch;
    sch.pct = true;
    for (size_t i = 1; i < items.size(); ++i) {
        const KeyValue& kv = items[i];
        uint64_t v = decision_number("schedule", kv);
        if (kv.key == "seed") sch.seed = v;
        else if (kv.key == "depth" && v >= 1 && v <= 10) sch.depth = unsigned(v);
        else if (kv.key == "steps" && v >= 1) sch.steps = v;
        else throw InputError("schedule: bad " + kv.text());
    }
    s.schedule = sch;
    s.extra_faults.push_back("schedule=" + text);
}

void set_timing(Scenario& s, const std::string& text) {
    Scenario::Timing t;
    for (const KeyValue& kv : split_key_values(text)) {
        uint64_t v = decision_number("timing", kv);
        if (kv.key == "jitter" && v <= 90) t.jitter = unsigned(v);
        else if (kv.key == "ties" && v <= 1) t.ties = v == 1;
        else if (kv.key == "seed") t.seed = v;
        else throw InputError("timing: bad " + kv.text());
    }
    s.timing = t;
    s.extra_faults.push_back("timing=" + text);
}

void set_mutation(Scenario& s, const std::string& text) {
    const size_t colon = text.find(':');
    Mutation m;
    if (colon == std::string::npos || !parse_mutation(text.substr(colon + 1), m))
        throw InputError("mutate: expected DRIVER:OP:CALLBACK:STEP, got '" + text + "'");
    const std::string driver = text.substr(0, colon);
    std::vector<std::string> devices;
    for (const auto& [dev, p] : s.drivers)
        if (p->name == driver && !p->patched) devices.push_back(dev);
    if (devices.empty()) throw InputError("mutate: no device of this scenario runs the driver '" + driver + "'");
    mutate_devices(s.drivers, devices, m);
    s.extra_faults.push_back("mutate=" + text);
}

void add_cli_faults(Scenario& s, const std::vector<std::string>& rules) {
    for (const auto& text : rules) {
        if (text.rfind("order=", 0) == 0) {  // a recorded device order (replay)
            set_order(s, text.substr(6));
            continue;
        }
        if (text.rfind("schedule=", 0) == 0) {  // a recorded PCT schedule (replay)
            set_schedule(s, text.substr(9));
            continue;
        }
        if (text.rfind("timing=", 0) == 0) {  // recorded latency jitter (replay)
            set_timing(s, text.substr(7));
            continue;
        }
        if (text.rfind("mutate=", 0) == 0) {  // a driver mutation (explore --mutate, replay)
            set_mutation(s, text.substr(7));
            continue;
        }
        s.faults.faults.push_back(parse_cli_fault(text, s.extra_faults.size() + 1, s));
        s.extra_faults.push_back(text);
    }
}

}  // namespace quiesce
