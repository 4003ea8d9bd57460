// Reading a platform file ([[device]] and [[link]] tables) into a PlatformSpec, and its device graph.
#include "sim/scenario/scenario.h"

#include "sim/scenario/platform.h"
#include "sim/scenario/scenario_read.h"
#include "models/pci/pci_core.h"
#include "sim/core/toml_reader.h"
#include "sim/pm/device_graph.h"
#include "sim/drivers/device_file.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace quiesce {

using scenario_detail::parse_value;

namespace {

const std::vector<std::string> kDeviceTypes = {"pci-host", "pci-bridge", "dma-engine", "ahci", "xhci", "pci-device",
                                               "usb-keyboard", "usb-storage"};

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
    if (auto s = r.quantity("cpu_clock")) {
        p.cpu_hz = parse_value(r, "cpu_clock", *s, parse_hz);
        if (p.cpu_hz > kMaxClockHz)
            r.fail("cpu_clock", "'" + *s + "' is above 1000GHz, the fastest clock the model represents (one cycle per picosecond)");
    }
    if (auto m = r.size("memory")) {
        p.memory = *m;
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
            if (auto v = d.size("disk_size")) s.disk_size = *v;
            if (auto v = d.integer("sector_size")) {
                if (*v != 512 && *v != 4096) d.fail("sector_size", "must be 512 or 4096");
                s.sector_size = unsigned(*v);
            }
            if (auto v = d.size("swap_size")) s.swap_size = *v;
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
    if (auto f = r.str("firmware_disk")) {
        std::string disks;
        for (const auto& d : p.devices)
            if (d.has_disk()) disks += (disks.empty() ? "" : ", ") + d.disk;
        auto named = [&](const DeviceSpec& d) { return d.has_disk() && d.disk == *f; };
        if (std::none_of(p.devices.begin(), p.devices.end(), named))
            r.fail("firmware_disk", "no disk named '" + *f + "' (" +
                                        (disks.empty() ? "this platform has no disk" : "its disks: " + disks) + ")");
        p.firmware_disk = *f;
    }
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

}  // namespace quiesce
