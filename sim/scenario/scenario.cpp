#include "sim/scenario/scenario.h"

#include "sim/check/checker.h"
#include "sim/scenario/platform.h"
#include "models/pci/pci_core.h"
#include "sim/core/paths.h"
#include "sim/core/toml_reader.h"
#include "sim/pm/device_graph.h"
#include "sim/drivers/mutate.h"
#include "sim/drivers/device_file.h"
#include "sim/drivers/dma_engine_driver.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace quiesce {

std::string to_string(TraceLevel l) {
    switch (l) {
        case TraceLevel::Summary: return "summary";
        case TraceLevel::Events: return "events";
        case TraceLevel::Bus: return "bus";
    }
    return "?";
}

namespace {

const std::vector<std::string> kDeviceTypes = {"pci-host", "pci-bridge", "dma-engine", "ahci", "xhci", "pci-device",
                                               "usb-keyboard", "usb-storage"};

template <class F>
auto parse_value(TableReader& r, const std::string& key, const std::string& text, F f) {
    try {
        return f(text);
    } catch (const std::invalid_argument& e) {
        r.fail(key, e.what());
    }
}

void parse_slot(TableReader& r, const std::string& key, const std::string& slot, DeviceSpec& d) {
    unsigned dev = 0, fn = 0;
    char dot = 0;
    int used = 0;
    if (std::sscanf(slot.c_str(), "%x%c%u%n", &dev, &dot, &fn, &used) != 3 || dot != '.' ||
        used != int(slot.size()) || dev > 31 || fn > 7)
        r.fail(key, "slot must be \"DD.F\" (hex device 00-1f, function 0-7), got \"" + slot + "\"");
    d.device = dev;
    d.function = fn;
}

// The devices of a spec, their drives and the parent->child edges: the graph
// before its links. A drive is the child of its controller (ata port -> scsi
// device -> sd, or usb device -> interface -> scsi host -> sd): it suspends
// first and resumes after.
DeviceGraph device_tree(const PlatformSpec& p) {
    DeviceGraph g;
    for (const auto& d : p.devices) g.add_device(d.name);
    for (const auto& d : p.devices)
        if (d.has_disk()) g.add_device(d.disk);
    for (const auto& d : p.devices)
        if (!d.parent.empty()) g.add_edge(d.parent, d.name, EdgeKind::Parent);
    for (const auto& d : p.devices)
        if (d.has_disk()) g.add_edge(d.name, d.disk, EdgeKind::Parent);
    return g;
}

}  // namespace

PlatformSpec load_platform(const std::string& path) {
    toml::table root = parse_toml_file(path);
    TableReader r(path, root, "");
    PlatformSpec p;
    p.file = path;
    p.name = r.required_str("name");
    p.description = r.str("description", "");
    if (auto c = r.integer("cpus", 1, 8)) p.cpus = unsigned(*c);
    if (auto s = r.str("cpu_clock")) {
        p.cpu_hz = parse_value(r, "cpu_clock", *s, parse_hz);
        if (p.cpu_hz > kMaxClockHz)
            r.fail("cpu_clock", "'" + *s + "' is above 1000GHz, the fastest clock the model represents (one cycle per picosecond)");
    }
    if (auto s = r.str("memory")) {
        p.memory = parse_value(r, "memory", *s, parse_size);
        if (p.memory < (4ULL << 20) || p.memory > (1ULL << 30) || p.memory % (1ULL << 20))
            r.fail("memory", "must be a whole number of MiB between 4MiB and 1GiB");
    }
    if (auto h = r.integer("hw_signature")) p.hw_signature = uint32_t(*h);
    r.tables("device", [&](TableReader& d, const toml::node& node) {
        DeviceSpec s;
        s.line = int(node.source().begin.line);
        s.name = d.required_str("name");
        s.type = d.required_str("type");
        if (std::find(kDeviceTypes.begin(), kDeviceTypes.end(), s.type) == kDeviceTypes.end())
            d.fail("type", "unknown device type '" + s.type +
                               "' (pci-host, pci-bridge, dma-engine, ahci, xhci, pci-device, usb-keyboard, usb-storage)");
        s.parent = d.str("parent", "");
        if (s.type == "pci-host" && !s.parent.empty())
            d.fail("parent", "a pci-host is the root of the device tree: it has no parent");
        if (s.usb()) {
            if (auto v = d.integer("port", 1, XhciCore::kPorts)) s.port = unsigned(*v);
            s.serial = d.str("serial", s.name + "-0001");
            s.persist = d.boolean("persist").value_or(true);
        } else if (auto slot = d.str("slot")) {
            parse_slot(d, "slot", *slot, s);
        } else if (s.type != "pci-host") {
            d.fail("slot", "is required for PCI functions");
        }
        if (s.type == "pci-device") {
            // A device file (scenarios/devices/NAME.toml) describes it.
            s.desc = resolve_device(d, "model", d.required_str("model"));
            s.model = s.desc->name;
        }
        s.no_soft_reset = d.boolean("no_soft_reset").value_or(false);
        s.wake = d.boolean("wake").value_or(false);
        if (s.has_disk()) {
            s.disk = d.str("disk", s.type == "ahci" ? "sda" : "sdb");
            if (auto v = d.str("disk_size")) s.disk_size = parse_value(d, "disk_size", *v, parse_size);
            if (auto v = d.integer("sector_size")) {
                if (*v != 512 && *v != 4096) d.fail("sector_size", "must be 512 or 4096");
                s.sector_size = unsigned(*v);
            }
            if (auto v = d.str("swap_size")) s.swap_size = parse_value(d, "swap_size", *v, parse_size);
            if (s.disk_size < (4ULL << 20) || s.disk_size > (64ULL << 30) || s.disk_size % 4096)
                d.fail("disk_size", "must be a multiple of 4KiB between 4MiB and 64GiB");
            if (s.swap_size % 4096 || s.swap_size + (1ULL << 20) > s.disk_size)
                d.fail("swap_size", "must be a multiple of 4KiB leaving at least 1MiB for the root partition");
        }
        d.done();
        for (const auto& other : p.devices)
            if (other.name == s.name) d.fail("name", "device '" + s.name + "' declared twice");
        // A drive is a device of the graph too (the child of its controller):
        // its name is taken like a device's.
        for (const auto& other : p.devices) {
            if (other.has_disk() && other.disk == s.name)
                d.fail("name", "'" + s.name + "' is the name of the disk of '" + other.name + "'");
            if (s.has_disk() && other.name == s.disk) d.fail("disk", "'" + s.disk + "' is the name of a device");
            if (s.has_disk() && other.has_disk() && other.disk == s.disk)
                d.fail("disk", "'" + s.disk + "' is the disk of '" + other.name + "': name this one with disk = \"...\"");
        }
        if (s.has_disk() && s.disk == s.name) d.fail("disk", "'" + s.disk + "' is the name of a device");
        // One function per slot of a bus.
        if (s.type != "pci-host" && !s.usb())
            for (const auto& other : p.devices)
                if (other.type != "pci-host" && !other.usb() && other.parent == s.parent && other.device == s.device &&
                    other.function == s.function)
                    d.fail("slot", fmt::format("slot {:02x}.{} on the bus of '{}' is taken by '{}'", s.device,
                                               s.function, s.parent, other.name));
        if (s.type != "pci-host" && !s.usb() && s.device == 0 && s.function == 0)
            for (const auto& o : p.devices)
                if (o.type == "pci-host" && o.name == s.parent)
                    d.fail("slot", "slot 00.0 of the root bus is the host bridge '" + o.name + "' itself");
        // Enumeration looks at functions 1-7 only behind a function 0 that
        // says multi-function (pci_scan_slot): it must be there.
        if (s.type != "pci-host" && !s.usb() && s.function != 0 &&
            std::none_of(p.devices.begin(), p.devices.end(), [&](const DeviceSpec& o) {
                return o.type != "pci-host" && !o.usb() && o.parent == s.parent && o.device == s.device &&
                       o.function == 0;
            }))
            d.fail("slot", fmt::format("function {} of slot {:02x} needs function 0 of that slot declared above "
                                       "(Linux finds functions 1-7 only behind a multi-function function 0)",
                                       s.function, s.device));
        // [depends] (docs/devices.md): the function of its slot it needs is
        // declared above, and is the model its device file names.
        if (s.desc && s.desc->depends.on) {
            const auto& dep = s.desc->depends;
            const std::string why = fmt::format("{} needs function {} of its slot to be a {} ([depends] of {})",
                                                s.model, dep.function, dep.model, s.desc->file);
            if (dep.function == s.function) d.fail("slot", why + ": it cannot be that function itself");
            auto sup = std::find_if(p.devices.begin(), p.devices.end(), [&](const DeviceSpec& o) {
                return o.type != "pci-host" && !o.usb() && o.parent == s.parent && o.device == s.device &&
                       o.function == dep.function;
            });
            if (sup == p.devices.end()) d.fail("slot", why + ": declare it above");
            if (sup->type != "pci-device" || sup->model != dep.model)
                d.fail("slot", why + "; '" + sup->name + "' there is a " +
                                   (sup->type == "pci-device" ? sup->model : sup->type));
        }
        if (s.type != "pci-host") {
            auto par = std::find_if(p.devices.begin(), p.devices.end(),
                                    [&](const DeviceSpec& o) { return o.name == s.parent; });
            if (par == p.devices.end())
                d.fail("parent", "parent '" + s.parent + "' must be a device declared above");
            if (s.usb()) {
                if (par->type != "xhci") d.fail("parent", "a USB device's parent must be an xhci controller");
                for (const auto& o : p.devices)
                    if (o.usb() && o.parent == s.parent && o.port == s.port)
                        d.fail("port", "port " + std::to_string(s.port) + " of '" + s.parent + "' is taken by '" +
                                           o.name + "'");
            } else if (par->type != "pci-host" && par->type != "pci-bridge") {
                d.fail("parent", "'" + par->name + "' has no secondary bus: a parent must be a pci-host or pci-bridge");
            }
        }
        p.devices.push_back(s);
    });
    if (std::count_if(p.devices.begin(), p.devices.end(), [](auto& d) { return !d.usb(); }) > long(kMaxPciFunctions))
        r.fail("device", "a platform holds at most " + std::to_string(kMaxPciFunctions) +
                             " PCI functions, the host bridge included");
    if (std::count_if(p.devices.begin(), p.devices.end(), [](auto& d) { return d.type == "pci-host"; }) != 1)
        r.fail("device", "a platform needs exactly one pci-host device");
    // The graph the links join: a link that closes a cycle is named.
    DeviceGraph graph = device_tree(p);
    size_t links = 0;
    r.tables("link", [&](TableReader& l, const toml::node& node) {
        LinkSpec s{l.required_str("supplier"), l.required_str("consumer"), int(node.source().begin.line)};
        if (auto b = l.boolean("pm_runtime")) s.pm_runtime = *b;  // DL_FLAG_PM_RUNTIME
        // Devices only: a drive is in the graph, but no link names one.
        for (const auto* n : {&s.supplier, &s.consumer})
            if (std::none_of(p.devices.begin(), p.devices.end(), [&](auto& d) { return d.name == *n; }))
                l.fail(n == &s.supplier ? "supplier" : "consumer", "no device named '" + *n + "'");
        l.done();
        graph.add_edge(s.supplier, s.consumer, EdgeKind::Link);
        if (auto cycle = graph.find_cycle())
            fail_at(path, node, "link[" + std::to_string(links) + "]", "device graph has a cycle: " + *cycle);
        ++links;
        p.links.push_back(s);
    });
    r.done();
    return p;
}

DeviceGraph build_graph(const PlatformSpec& spec) {
    DeviceGraph g = device_tree(spec);
    for (const auto& l : spec.links) g.add_edge(l.supplier, l.consumer, EdgeKind::Link);
    return g;
}

std::string resolve_data_file(const std::string& scenario_file, const std::string& kind, const std::string& name) {
    fs::path dir = fs::path(scenario_file).parent_path();
    std::vector<fs::path> candidates = {dir / kind / (name + ".toml"), dir / ".." / kind / (name + ".toml"),
                                        fs::path(QUIESCE_DATA_DIR) / kind / (name + ".toml")};
    for (const auto& c : candidates) {
        std::error_code ec;
        // A name too long for a file cannot name one; any other error
        // stat'ing a candidate (a directory without search permission) is
        // the user's to hear of.
        bool there = fs::exists(c, ec);
        if (ec && ec != std::errc::filename_too_long) throw os_input_error(c.string(), ec);
        if (there) return fs::weakly_canonical(c).string();
    }
    return "";
}

namespace {

void read_protocol(TableReader& top, Scenario& s) {
    const toml::table* t = top.table("protocol");
    if (!t) top.fail("protocol", "is required: [protocol] name = \"linux-s3\"");
    TableReader r(s.file, *t, "protocol");
    std::string name = r.required_str("name");
    std::string path = resolve_data_file(s.file, "protocols", name);
    if (path.empty()) r.fail("name", "no protocol named '" + name + "' (looked in protocols/ and the built-ins)");
    s.protocol = load_protocol(path);
    // Where the last override is: a phase it left alone may no longer hold.
    int override_line = 0, override_column = 0;
    size_t overrides = 0;
    bool overridden = r.tables("override", [&](TableReader& o, const toml::node& node) {
        override_line = int(node.source().begin.line);
        override_column = int(node.source().begin.column);
        ++overrides;
        std::string phase = o.required_str("phase");
        Phase* p = s.protocol.find(phase);
        if (!p) o.fail("phase", "protocol '" + name + "' has no phase '" + phase + "'");
        if (auto order = o.str("order")) p->order = *order;
        if (auto undo = o.str("undo")) p->undo = *undo;
        if (auto d = o.str("duration")) p->duration = parse_value(o, "duration", *d, parse_duration);
        if (auto a = o.boolean("async")) p->async = *a;
        bool skip = o.boolean("skip").value_or(false);
        o.done();
        p->file = s.file;  // errors in overridden phases point at the scenario
        p->line = int(node.source().begin.line);
        p->column = int(node.source().begin.column);
        if (skip) {
            // Drop the phase, and every undo that pointed at it.
            for (auto* list : {&s.protocol.suspend, &s.protocol.resume}) {
                list->erase(std::remove_if(list->begin(), list->end(),
                                           [&](const Phase& ph) { return ph.name == phase; }),
                            list->end());
                for (auto& ph : *list)
                    if (ph.undo == phase) ph.undo.clear();
            }
        }
    });
    if (overridden) {
        try {
            validate_protocol(s.protocol);
        } catch (const InputError& e) {
            if (e.file() == s.file) throw;  // at an override
            // A phase of the protocol file that held before the overrides.
            throw InputError(s.file, override_line, override_column,
                             "protocol.override[" + std::to_string(overrides - 1) + "]",
                             std::string("the protocol no longer holds: ") + e.what());
        }
    }
    r.done();
}

// /sys/power/pm_test: a level Linux knows, at a phase the protocol marks.
void check_pm_test(const Scenario& s, const PropertyOverride& o) {
    const std::string& level = std::get<std::string>(o.value);
    const auto& levels = pm_test_levels();
    if (std::find(levels.begin(), levels.end(), level) == levels.end())
        throw InputError(s.file, o.line, o.column, "properties." + o.key,
                         "'" + level + "' is no pm_test level (none, freezer, devices, platform, processors, core)");
    if (level == "none") return;
    for (const Phase& p : s.protocol.suspend)
        if (p.test_level == level) return;
    throw InputError(s.file, o.line, o.column, "properties." + o.key,
                     "protocol " + s.protocol.name + " marks no phase as the '" + level + "' test point (test_level)");
}

void read_expect(TableReader& top, Scenario& s) {
    const toml::table* t = top.table("expect");
    if (!t) top.fail("expect", "is required: [expect] result = \"pass\" or violations = [...]");
    TableReader r(s.file, *t, "expect");
    auto result = r.str("result");
    if (auto o = r.str("outcome")) {
        if (*o != "resumed" && *o != "no-resume" && *o != "sim-time-limit" && *o != "power-cut" &&
            o->rfind("aborted:", 0) != 0 && o->rfind("pm-test:", 0) != 0)
            r.fail("outcome", "must be \"resumed\", \"no-resume\", \"power-cut\", \"sim-time-limit\", "
                              "\"aborted:<phase>\" or \"pm-test:<level>\"");
        s.expect.outcome = *o;
        s.expect.outcome_given = true;
    }
    s.expect.violations = r.str_list("violations");
    for (const auto& v : s.expect.violations) {
        const auto& cat = Checker::catalogue();
        if (std::find(cat.begin(), cat.end(), v) == cat.end()) r.fail("violations", "unknown invariant id '" + v + "'");
    }
    if (result && *result != "pass" && *result != "fail") r.fail("result", "must be \"pass\" or \"fail\"");
    s.expect.pass = s.expect.violations.empty();
    if (result && *result == "pass" && !s.expect.pass) r.fail("result", "\"pass\" cannot list violations");
    if (result && *result == "fail" && s.expect.pass)
        r.fail("violations", "an expected failure must list the violation ids that must appear");
    if (!result && s.expect.pass) r.fail("result", "say result = \"pass\" or list violations");
    r.done();
}

}  // namespace

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
    if (auto a = r.str("at")) f.at = parse_value(r, "at", *a, parse_duration);
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
        if (auto d = r.str("duration")) f.duration = parse_value(r, "duration", *d, parse_duration);
    if (has("after_pages"))
        if (auto n = r.integer("after_pages")) {
            if (f.phase != "write-image" || *n < 0) r.fail("after_pages", "after_pages >= 0 applies to phase = \"write-image\"");
            f.after_pages = *n;
            f.nth = uint64_t(*n) + 1;  // the writer asks after each page: the page after N
        }
    if (has("restore_after"))
        if (auto a = r.str("restore_after")) f.restore_after = parse_value(r, "restore_after", *a, parse_duration);
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
    if (f.kind == "image-bit-flip" && !s.hibernates()) r.fail("kind", "image-bit-flip needs a hibernation protocol");
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
            throw InputError(origin + ": expected key=value[,key=value...], got \"" + kv.text() + "\"");
        const std::string& value = kv.value;
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

bool parse_trace_level(const std::string& text, TraceLevel& out) {
    if (text == "summary") out = TraceLevel::Summary;
    else if (text == "events") out = TraceLevel::Events;
    else if (text == "bus") out = TraceLevel::Bus;
    else return false;
    return true;
}

std::string check_order(const Scenario& s, const std::vector<std::string>& order) {
    DeviceGraph g = build_graph(s.platform);
    std::vector<std::string> want = g.devices(), got = order;
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    if (got == want) return "";
    std::string all;
    for (const auto& d : g.devices()) all += (all.empty() ? "" : ", ") + d;
    return "must name every device once (" + all + ")";
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
    bool any = false;
    for (auto& [dev, p] : s.drivers)
        if (p->name == driver && !p->patched) {
            s.drivers[dev] = std::make_shared<DriverProgram>(mutate(*p, m));
            any = true;
        }
    if (!any) throw InputError("mutate: no device of this scenario runs the driver '" + driver + "'");
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

Scenario load_scenario(const std::string& path) {
    toml::table root = parse_toml_file(path);
    TableReader top(path, root, "");
    Scenario s;
    s.file = path;
    s.name = fs::path(path).stem().string();
    if (const toml::table* t = top.table("scenario")) {
        TableReader r(path, *t, "scenario");
        s.name = r.str("name", s.name);
        s.description = r.str("description", "");
        if (auto seed = r.integer("seed", 0, INT64_MAX)) s.seed = uint64_t(*seed);
        r.done();
    }
    const toml::table* pt = top.table("platform");
    if (!pt) top.fail("platform", "is required: [platform] name = \"pc-basic\"");
    {
        TableReader r(path, *pt, "platform");
        std::string name = r.required_str("name");
        std::string file = resolve_data_file(path, "platforms", name);
        if (file.empty()) r.fail("name", "no platform named '" + name + "'");
        s.platform = load_platform(file);
        if (auto c = r.integer("cpus", 1, 8)) s.platform.cpus = unsigned(*c);
        r.done();
    }
    read_protocol(top, s);
    // Tables keyed by a platform device's name: [devices.NAME], [drivers.NAME].
    // [drivers.DISK] names the disk behind an AHCI controller or in a USB
    // enclosure (its sd driver).
    auto per_device = [&](const char* table, const std::function<void(DeviceSpec&, TableReader&, bool)>& fn) {
        const toml::table* t = top.table(table);
        if (!t) return;
        const bool disks = std::string(table) == "drivers";
        for (const auto& [k, v] : *t) {
            std::string dev(k.str());
            std::string where = std::string(table) + "." + dev;
            auto& devs = s.platform.devices;
            auto spec = std::find_if(devs.begin(), devs.end(), [&](auto& d) { return d.name == dev; });
            bool disk = false;
            if (spec == devs.end() && disks) {
                spec = std::find_if(devs.begin(), devs.end(), [&](auto& d) { return d.has_disk() && d.disk == dev; });
                disk = spec != devs.end();
            }
            if (spec == devs.end()) fail_at(path, v, where, "no device named '" + dev + "'");
            if (!v.is_table()) fail_at(path, v, where, "expected a table");
            TableReader r(path, *v.as_table(), where);
            fn(*spec, r, disk);
            r.done();
        }
    };
    // Per-scenario overrides of a platform device's PM wiring.
    struct Absent {
        std::string name;
        int line, column;
    };
    std::vector<Absent> absent;  // [devices.NAME] present = false, and where
    per_device("devices", [&](DeviceSpec& spec, TableReader& r, bool) {
        if (auto b = r.boolean("present"); b && !*b) absent.push_back({spec.name, r.line(), r.column()});
        if (auto b = r.boolean("no_soft_reset")) spec.no_soft_reset = *b;
        if (auto b = r.boolean("wake")) spec.wake = *b;
        if (spec.usb()) {
            if (auto b = r.boolean("persist")) spec.persist = *b;
            if (auto v = r.str("serial")) spec.serial = *v;
        }
    });
    // A device left out of the platform (a shrunk reproducer): nothing may
    // sit on it.
    for (const auto& a : absent) {
        auto& devs = s.platform.devices;
        auto it = std::find_if(devs.begin(), devs.end(), [&](const DeviceSpec& d) { return d.name == a.name; });
        const std::string key = "devices." + a.name + ".present";
        if (it->type == "pci-host") throw InputError(path, a.line, a.column, key, "the host bridge stays");
        for (const auto& d : devs)
            if (d.parent == a.name) throw InputError(path, a.line, a.column, key, "'" + d.name + "' sits on it");
        for (const auto& l : s.platform.links)
            if (l.supplier == a.name || l.consumer == a.name)
                throw InputError(path, a.line, a.column, key, "a device link names it");
        for (const auto& d : devs)  // a function of its slot needs it ([depends])
            if (d.desc && d.desc->depends.on && d.name != a.name && !it->usb() && d.parent == it->parent &&
                d.device == it->device && d.desc->depends.function == it->function)
                throw InputError(path, a.line, a.column, key,
                                 "'" + d.name + "' depends on it ([depends] of its device file)");
        devs.erase(it);
    }
    // Runtime PM as /sys/devices/.../power/ sets it (docs/runtime-pm.md).
    per_device("runtime", [&](DeviceSpec& spec, TableReader& r, bool) {
        Scenario::RuntimeSpec& rs = s.runtime[spec.name];
        if (auto c = r.str("control")) {
            if (*c != "auto" && *c != "on") r.fail("control", "must be \"auto\" or \"on\" (power/control)");
            rs.allow = *c == "auto";
        }
        if (auto v = r.str("autosuspend_delay")) rs.autosuspend_delay = parse_value(r, "autosuspend_delay", *v, parse_duration);
        if (auto b = r.boolean("ignore_children")) rs.ignore_children = *b;
    });
    per_device("drivers", [&](DeviceSpec& spec, TableReader& r, bool disk) {
        // Drivers as data: a driver file by name, and patches to it. The
        // disk behind an AHCI controller has its own (sd).
        const std::string type = disk ? "sd" : driver_binding(spec.driver_type()), dev = disk ? spec.disk : spec.name;
        const std::string def = default_driver(type);
        if (auto name = r.str("driver")) {
            if (def.empty()) r.fail("driver", "device '" + dev + "' (" + type + ") takes no driver file yet");
            DriverProgram p = load_driver(resolve_driver(r, "driver", *name));
            if (p.binds != type) r.fail("driver", "'" + *name + "' drives " + p.binds + ", '" + dev + "' is " + type);
            s.drivers[dev] = std::make_shared<DriverProgram>(std::move(p));
        }
        if (r.boolean("legacy_pm") || r.array("patch") || r.table("work") || r.array("flags") ||
            r.array("irq_flags")) {
            if (def.empty()) r.fail("patch", "device '" + dev + "' (" + type + ") takes no driver file yet");
            auto it = s.drivers.find(dev);
            DriverProgram p = it != s.drivers.end() ? *it->second : load_driver(resolve_driver(r, "patch", def));
            apply_driver_table(p, r);
            validate_driver(p);
            s.drivers[dev] = std::make_shared<DriverProgram>(std::move(p));
        }
        if (disk) return;
        std::string variant = r.str("variant").value_or("fixed");
        if (auto lm = r.str("local_memory")) {
            if (spec.type != "dma-engine") r.fail("local_memory", "only a dma-engine driver saves local memory");
            uint64_t bytes = parse_value(r, "local_memory", *lm, parse_size);
            if (bytes % 4096 || bytes > (1ULL << 30)) r.fail("local_memory", "must be a multiple of 4KiB up to 1GiB");
            s.driver_local_memory[spec.name] = bytes;
        }
        // Another dma-engine device of the platform, for `key`.
        auto peer = [&](const char* key, const std::string& name) {
            if (spec.type != "dma-engine") r.fail(key, std::string("only a dma-engine driver has a ") + key);
            auto other = std::find_if(s.platform.devices.begin(), s.platform.devices.end(),
                                      [&](const DeviceSpec& d) { return d.name == name; });
            if (other == s.platform.devices.end() || other->type != "dma-engine" || name == spec.name)
                r.fail(key, "'" + name + "' is not another dma-engine device of the platform");
        };
        if (auto c = r.str("companion")) {
            // A hidden dependency: in suspend_noirq the driver reads its
            // companion's status (EHCI and its companion controllers).
            peer("companion", *c);
            s.driver_companion[spec.name] = *c;
        }
        if (auto e = r.boolean("explicit_state")) {
            if (spec.type != "dma-engine") r.fail("explicit_state", "only a dma-engine driver keeps explicit state");
            if (!*e) s.driver_no_explicit_state.insert(spec.name);
        }
        if (auto h = r.str("handoff")) {
            // A one-off wait: resume waits for this device
            // (device_pm_wait_for_dev) and hands work to it.
            peer("handoff", *h);
            s.driver_handoff[spec.name] = *h;
        }
        if (spec.type == "ahci" && variant == "no-flush-on-suspend") {
            r.fail("variant", "the disk's driver is data: [drivers." + spec.disk +
                                  "] driver = \"sd-no-flush-on-suspend\" (docs/drivers.md)");
        } else if (!def.empty()) {
            if (variant != "fixed")
                r.fail("variant", spec.type + " drivers are data: name a driver file (driver = \"" + def + "-" +
                                      variant + "\") or patch one (docs/drivers.md)");
        } else {
            r.fail("variant", "device '" + spec.name + "' has no driver variants");
        }
    });
    // Every device whose driver is data and that the scenario left alone
    // gets its built-in driver file.
    std::map<std::string, std::shared_ptr<const DriverProgram>> loaded;  // one parse per file
    auto builtin = [&](const DeviceSpec& d, const std::string& dev, const std::string& type) {
        const std::string def = default_driver(type);
        if (def.empty() || s.drivers.count(dev)) return;
        const std::string file = find_driver_file(path, def);
        if (file.empty())
            throw InputError(path, d.line, 1, "drivers." + dev, "no driver file named '" + def + "' for " + type);
        auto& p = loaded[file];
        if (!p) p = std::make_shared<DriverProgram>(load_driver(file));
        s.drivers[dev] = p;
    };
    for (const auto& d : s.platform.devices) {
        builtin(d, d.name, d.driver_type());
        if (d.has_disk()) builtin(d, d.disk, "sd");
    }
    if (const toml::table* t = top.table("properties")) {
        for (const auto& [k, v] : *t) {
            PropertyOverride o;
            o.key = std::string(k.str());
            o.line = int(k.source().begin.line);
            o.column = int(k.source().begin.column);
            if (o.key.find('.') == std::string::npos)
                fail_at(path, v, "properties." + o.key, "expected \"component.property\"");
            if (v.is_integer()) o.value = int64_t(*v.as_integer());
            else if (v.is_boolean()) o.value = bool(*v.as_boolean());
            else if (v.is_string()) o.value = std::string(*v.as_string());
            else fail_at(path, v, "properties." + o.key, "expected an integer, a boolean or a string");
            if (o.key == "kernel.pm_test" && v.is_string()) check_pm_test(s, o);
            s.properties.push_back(std::move(o));
        }
    }
    if (const toml::table* t = top.table("workload")) {
        TableReader r(path, *t, "workload");
        if (auto n = r.integer("usb_commands", 0, 1000)) s.usb_commands = unsigned(*n);
        if (auto n = r.integer("dma_copies", 0, 64)) s.dma_copies = unsigned(*n);
        if (auto sz = r.str("copy_size")) {
            s.copy_size = uint32_t(parse_value(r, "copy_size", *sz, parse_size));
            if (s.copy_size == 0 || s.copy_size > (1u << 20)) r.fail("copy_size", "must be 1B to 1MiB");
        }
        StorageWorkload& w = s.storage;
        if (auto n = r.integer("writer_blocks", 0, 4096)) w.writer_blocks = unsigned(*n);
        if (auto n = r.integer("fsync_every")) {
            if (*n < 0) r.fail("fsync_every", "must not be negative");
            w.fsync_every = unsigned(*n);
        }
        if (auto v = r.str("writer_period")) w.writer_period = parse_value(r, "writer_period", *v, parse_duration);
        if (auto v = r.str("flusher_period")) w.flusher_period = parse_value(r, "flusher_period", *v, parse_duration);
        if (auto v = r.str("commit_period")) {
            w.commit_period = parse_value(r, "commit_period", *v, parse_duration);
            if (w.commit_period == 0) r.fail("commit_period", "must be above 0");
        }
        if (auto v = r.str("suspend_after")) w.suspend_after = parse_value(r, "suspend_after", *v, parse_duration);
        if (auto v = r.str("run_after")) w.run_after = parse_value(r, "run_after", *v, parse_duration);
        if (auto v = r.str("idle")) s.idle = parse_value(r, "idle", *v, parse_duration);
        if (auto n = r.integer("ops", 0, 100000)) w.ops = unsigned(*n);
        if (auto b = r.boolean("control_run")) {
            w.control_run = *b;
            if (w.control_run && w.ops == 0) r.fail("control_run", "needs ops: the runs compare at equal progress");
        }
        if (auto b = r.boolean("flusher_freezable")) w.flusher_freezable = *b;
        if (auto b = r.boolean("barrier")) w.barrier = *b;
        if (auto b = r.boolean("stuck_task")) w.stuck_task = *b;
        if (auto b = r.boolean("dma_streamer")) w.dma_streamer = *b;
        if (auto u = r.str("handle_user")) {
            auto d = std::find_if(s.platform.devices.begin(), s.platform.devices.end(),
                                  [&](const DeviceSpec& x) { return x.name == *u; });
            if (d == s.platform.devices.end() || d->type != "dma-engine")
                r.fail("handle_user", "'" + *u + "' is not a dma-engine device of the platform");
            w.handle_user = *u;
        }
        if (auto n = r.integer("hdparm_burst", 0, 512)) {
            if (*n && *n != 64 && *n != 128 && *n != 256 && *n != 512)
                r.fail("hdparm_burst", "must be 64, 128, 256 or 512 (the engine's BURST sizes)");
            w.hdparm_burst = *n;
        }
        if (auto v = r.str("hdparm_after")) w.hdparm_after = parse_value(r, "hdparm_after", *v, parse_duration);
        if (auto b = r.boolean("updater")) w.updater = *b;
        if (auto n = r.integer("toucher_pages", 0, 1024)) w.toucher_pages = unsigned(*n);
        if (auto n = r.integer("toucher_resident")) {
            if (*n < 1) r.fail("toucher_resident", "must be at least 1");
            w.toucher_resident = unsigned(*n);
        }
        if (auto v = r.str("skip_sleeper")) {
            if (*v != "none" && *v != "correct" && *v != "buggy")
                r.fail("skip_sleeper", "must be \"none\", \"correct\" or \"buggy\"");
            w.skip_sleeper = *v;
        }
        if (w.writer_period == 0 || w.flusher_period == 0) r.fail("writer_period", "periods must be above 0");
        r.done();
    }
    if (const toml::table* t = top.table("cycles")) {
        TableReader r(path, *t, "cycles");
        if (auto n = r.integer("count", 1, 10000)) s.cycles.count = unsigned(*n);
        if (auto v = r.str("between")) {
            s.cycles.between = parse_value(r, "between", *v, parse_duration);
            if (s.cycles.count < 2) r.fail("between", "separates cycles: it needs count of 2 or more");
        }
        if (r.array("protocols")) {
            for (const std::string& name : r.str_list("protocols")) {
                if (name == s.protocol.name) {  // the [protocol] table's, with its overrides
                    s.cycles.protocols.push_back(s.protocol);
                    continue;
                }
                const std::string file = resolve_data_file(s.file, "protocols", name);
                if (file.empty())
                    r.fail("protocols", "no protocol named '" + name + "' (looked in protocols/ and the built-ins)");
                s.cycles.protocols.push_back(load_protocol(file));
            }
            if (s.cycles.protocols.empty()) r.fail("protocols", "names no protocol: give one or more, or leave it out");
            if (s.cycles.count < 2) r.fail("protocols", "mixes the protocols of several cycles: it needs count of 2 or more");
        }
        r.done();
    }
    if (const toml::table* t = top.table("hibernation")) {
        if (!s.hibernates())  // nothing would read it: say so rather than ignore it
            top.fail("hibernation", "is for a hibernation (S4) protocol; '" + s.protocol.name + "' suspends to RAM");
        TableReader r(path, *t, "hibernation");
        if (auto b = r.boolean("crc")) s.hibernation.crc = *b;
        if (auto b = r.boolean("hw_sig")) s.hibernation.hw_sig = *b;
        if (auto b = r.boolean("ignore_swap_map")) s.hibernation.ignore_swap_map = *b;
        if (auto b = r.boolean("restore_mounts_root")) s.hibernation.restore_mounts_root = *b;
        if (auto v = r.str("image_size")) s.hibernation.image_size = parse_value(r, "image_size", *v, parse_size);
        if (auto c = r.str("compress")) {
            if (*c != "none" && *c != "lz4") r.fail("compress", "must be \"none\" or \"lz4\"");
            s.hibernation.lz4 = *c == "lz4";
        }
        r.done();
    }
    if (s.hibernates()) {
        auto disk = std::find_if(s.platform.devices.begin(), s.platform.devices.end(),
                                 [](const DeviceSpec& d) { return d.type == "ahci"; });
        if (disk == s.platform.devices.end()) {
            std::string hib = s.protocol.name;
            for (const auto& p : s.cycles.protocols)
                if (s.protocol.target != 4 && p.target == 4) hib = p.name;
            const std::string why = "'" + hib + "' hibernates: platform '" + s.platform.name +
                                    "' needs a disk with a swap partition (an ahci device)";
            const toml::table* pt = top.table("protocol");
            const toml::node* at = pt ? pt->get("name") : nullptr;
            if (at) fail_at(path, *at, "protocol.name", why);
            throw InputError(path, pt ? int(pt->source().begin.line) : 1, pt ? int(pt->source().begin.column) : 1,
                             "protocol", why);
        }
    }
    top.tables("fault", [&](TableReader& r, const toml::node& node) {
        s.faults.faults.push_back(parse_fault(r, s, path + ":" + std::to_string(node.source().begin.line)));
        s.faults.faults.back().line = int(node.source().begin.line);
    });
    if (const toml::table* t = top.table("order")) {
        TableReader r(path, *t, "order");
        std::vector<std::string> order = r.str_list("suspend");
        if (std::string why = check_order(s, order); !why.empty()) r.fail("suspend", why);
        s.order = order;
        r.done();
    }
    if (const toml::table* t = top.table("timing")) {
        TableReader r(path, *t, "timing");
        if (auto j = r.integer("jitter", 0, 90)) s.timing.jitter = unsigned(*j);
        if (auto t = r.boolean("ties")) s.timing.ties = *t;
        if (auto n = r.integer("seed", 0, INT64_MAX)) s.timing.seed = uint64_t(*n);
        r.done();
    }
    if (const toml::table* t = top.table("schedule")) {
        TableReader r(path, *t, "schedule");
        std::string policy = r.str("policy", "fifo");
        if (policy != "fifo" && policy != "pct") r.fail("policy", "must be \"fifo\" or \"pct\"");
        s.schedule.pct = policy == "pct";
        if (auto d = r.integer("depth", 1, 10)) s.schedule.depth = unsigned(*d);
        if (auto k = r.integer("steps", 1, 1'000'000'000)) s.schedule.steps = uint64_t(*k);
        if (auto n = r.integer("seed", 0, INT64_MAX)) s.schedule.seed = uint64_t(*n);
        r.done();
    }
    if (const toml::table* t = top.table("wake")) {
        TableReader r(path, *t, "wake");
        if (auto a = r.str("after")) s.wake_after = parse_value(r, "after", *a, parse_duration);
        if (auto a = r.str("power_button")) {
            s.button_after = parse_value(r, "power_button", *a, parse_duration);
            if (s.button_after == 0) r.fail("power_button", "must be above 0");
        }
        if (auto a = r.str("usb_key")) {
            s.key_after = parse_value(r, "usb_key", *a, parse_duration);
            if (s.key_after == 0) r.fail("usb_key", "must be above 0");
            if (std::none_of(s.platform.devices.begin(), s.platform.devices.end(),
                             [](const DeviceSpec& d) { return d.usb(); }))
                r.fail("usb_key", "the platform has no usb-keyboard");
        }
        r.done();
    }
    if (const toml::table* t = top.table("initiator")) {
        TableReader r(path, *t, "initiator");
        if (auto b = r.boolean("wakeup_count")) s.wakeup_count = *b;
        if (auto a = r.str("think")) s.think = parse_value(r, "think", *a, parse_duration);
        r.done();
    }
    if (const toml::table* t = top.table("limits")) {
        TableReader r(path, *t, "limits");
        if (auto a = r.str("sim_time")) s.sim_limit = parse_value(r, "sim_time", *a, parse_duration);
        if (auto a = r.str("callback")) {
            s.callback_budget = parse_value(r, "callback", *a, parse_duration);
            if (s.callback_budget == 0) r.fail("callback", "must be above 0");
        }
        if (auto a = r.str("wall_time")) {
            Picos ps = parse_value(r, "wall_time", *a, parse_duration);
            s.wall_limit_s = double(ps) / 1e12;
            if (s.wall_limit_s <= 0) r.fail("wall_time", "must be above 0");
        }
        r.done();
    }
    if (const toml::table* t = top.table("trace")) {
        TableReader r(path, *t, "trace");
        std::string level = r.str("level", "events");
        if (!parse_trace_level(level, s.trace)) r.fail("level", "must be \"summary\", \"events\" or \"bus\"");
        r.done();
    }
    read_expect(top, s);
    top.done();
    return s;
}

}  // namespace quiesce
