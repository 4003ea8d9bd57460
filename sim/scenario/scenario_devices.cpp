// Reading a scenario's per-device tables: [devices.NAME] (present, PM wiring), [runtime.NAME] (runtime PM) and
// [drivers.NAME] (driver files, patches, dma-engine options), then the built-in driver file of every other device.
#include "sim/scenario/scenario_read.h"

#include "sim/drivers/device_file.h"
#include "sim/drivers/program.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace quiesce::scenario_detail {

void read_device_tables(TableReader& top, Scenario& s, const std::string& path) {
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
        if (auto v = r.duration("autosuspend_delay")) rs.autosuspend_delay = *v;
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
        if (r.str("local_memory")) {
            // Refused on another device before its value is read.
            if (spec.type != "dma-engine") r.fail("local_memory", "only a dma-engine driver saves local memory");
            uint64_t bytes = *r.size("local_memory");
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
}

}  // namespace quiesce::scenario_detail
