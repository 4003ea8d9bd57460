// Device files (scenarios/devices/): a PCI function's identity, registers and behaviour as data.
#include "sim/drivers/device_file.h"

#include "sim/core/paths.h"
#include "sim/core/time.h"
#include "sim/core/toml_reader.h"
#include "sim/drivers/program.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

namespace quiesce {

namespace {

std::map<std::string, std::shared_ptr<const GenericDeviceDesc>>& loaded() {
    static std::map<std::string, std::shared_ptr<const GenericDeviceDesc>> m;
    return m;
}

// "REG" or "REG.FIELD" naming a register (and field) of the bank - of this
// file's, or of `owner`'s (another device file).
RegRef reg_ref(TableReader& r, const std::string& key, const std::vector<RegSpec>& regs, bool required,
               const std::string& owner = "") {
    auto text = r.str(key);
    if (!text) {
        if (required) r.fail(key, "is required");
        return {};
    }
    RegRef ref;
    const size_t dot = text->find('.');
    ref.reg = text->substr(0, dot);
    if (dot != std::string::npos) ref.field = text->substr(dot + 1);
    auto it = std::find_if(regs.begin(), regs.end(), [&](const RegSpec& s) { return s.name == ref.reg; });
    if (it == regs.end())
        r.fail(key, owner.empty() ? "no register '" + ref.reg + "' in [[register]]"
                                  : owner + " has no register '" + ref.reg + "'");
    if (!ref.field.empty() && std::none_of(it->fields.begin(), it->fields.end(),
                                           [&](const RegField& f) { return f.name == ref.field; }))
        r.fail(key, (owner.empty() ? "" : owner + "'s ") + "register " + ref.reg + " has no field '" + ref.field + "'");
    return ref;
}

// A bit number of a field: decimal digits only (no sign, space or trailing
// text), read as 65 when it is past 64 - beyond any register, and no
// overflow however many digits.
bool bit_number(const std::string& text, unsigned& bit) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
    bit = 0;
    for (char c : text) bit = std::min(65u, bit * 10 + unsigned(c - '0'));
    return true;
}

StateClass state_class(TableReader& r) {
    const std::string c = r.str("class", "hardware");
    if (c == "hardware") return StateClass::Hardware;
    if (c == "driver") return StateClass::Driver;
    if (c == "volatile") return StateClass::Volatile;
    r.fail("class", "'" + c + "' is not a state class (hardware, driver, volatile)");
}

RegSpec read_register(TableReader& r, uint32_t bar, std::vector<std::string>& keep_reset,
                      std::vector<std::string>& keep_power) {
    RegSpec s;
    s.name = r.required_str("name");
    if (s.name.empty() || s.name.find_first_of(". ") != std::string::npos)
        r.fail("name", "a register name has no dot or space");
    auto off = r.integer("offset", 0, int64_t(bar) - 1);
    if (!off) r.fail("offset", "is required");
    s.offset = uint32_t(*off);
    if (auto w = r.integer("width")) {
        if (*w != 1 && *w != 2 && *w != 4 && *w != 8) r.fail("width", "must be 1, 2, 4 or 8 bytes");
        s.width = unsigned(*w);
    }
    if (s.offset % s.width) r.fail("offset", fmt::format("{:#x} is not aligned to the width ({})", s.offset, s.width));
    if (s.offset + s.width > bar) r.fail("offset", "the register ends past the BAR");
    const uint64_t wmask = s.width == 8 ? ~uint64_t(0) : (uint64_t(1) << (8 * s.width)) - 1;
    auto mask = [&](const char* key) -> uint64_t {
        auto v = r.integer(key);
        if (!v) return 0;
        if (uint64_t(*v) & ~wmask) r.fail(key, fmt::format("{:#x} does not fit in {} bytes", *v, s.width));
        return uint64_t(*v);
    };
    s.reset = mask("reset");
    s.ro = mask("ro");
    s.w1c = mask("w1c");
    s.rsvd = mask("rsvd");
    s.wo = mask("wo");
    s.cls = state_class(r);
    s.doc = r.str("doc", "");
    if (const toml::table* f = r.table("fields")) {
        for (const auto& [k, v] : *f) {
            RegField field;
            field.name = std::string(k.str());
            const std::string key = "fields." + field.name;
            // A bit number, or "msb:lsb". Numbers past 64 read as 65, so
            // the check against the register's bits below cannot wrap.
            if (v.is_integer()) {
                const int64_t bit = v.as_integer()->get();
                if (bit < 0) fail_at(r.file(), v, r.path_of(key), "expected a bit number or \"msb:lsb\"");
                field.lsb = unsigned(std::min<int64_t>(bit, 65));
            } else if (v.is_string()) {
                const std::string& text = v.as_string()->get();
                const size_t colon = text.find(':');
                unsigned msb = 0, lsb = 0;
                if (colon == std::string::npos || !bit_number(text.substr(0, colon), msb) ||
                    !bit_number(text.substr(colon + 1), lsb) || msb < lsb)
                    fail_at(r.file(), v, r.path_of(key), "expected a bit number or \"msb:lsb\"");
                field.lsb = lsb;
                field.width = msb - lsb + 1;
            } else {
                fail_at(r.file(), v, r.path_of(key), "expected a bit number or \"msb:lsb\"");
            }
            if (field.lsb + field.width > 8 * s.width)
                fail_at(r.file(), v, r.path_of(key), fmt::format("beyond the register's {} bits", 8 * s.width));
            s.fields.push_back(field);
        }
    }
    auto survives = [&](const char* key, std::vector<std::string>& keep) {
        const std::string v = r.str(key, "reset");
        if (v == "keep") keep.push_back(s.name);
        else if (v != "reset") r.fail(key, "'" + v + "' is not what a register does (reset, keep)");
    };
    survives("on_reset", keep_reset);
    survives("on_power_loss", keep_power);
    r.done();
    return s;
}

std::shared_ptr<GenericDeviceDesc> read_desc(const std::string& path, const toml::table& top, bool supplier);

// [depends]: the function of its slot this one needs, and the role in that
// function's bank that powers this one's block. The supplier's device file
// is read for its registers (beside this file first, then where platforms
// look), not followed further: two functions may depend on each other's
// files without a loop here (the platform refuses the slot).
void read_depends(const std::string& path, TableReader& top, GenericDeviceDesc& g) {
    const toml::table* t = top.table("depends");
    if (!t) return;
    TableReader r(path, *t, "depends");
    auto& dep = g.depends;
    dep.on = true;
    auto fn = r.integer("function", 0, 7);
    if (!fn) r.fail("function", "is required: the number (0-7) of the function of the slot this one needs");
    dep.function = unsigned(*fn);
    dep.model = r.required_str("model");
    std::vector<RegSpec> regs;
    if (dep.model == g.name) {
        regs = g.registers;  // ports of one controller: function 0 is another of these
    } else {
        if (dep.model.empty() || dep.model.find_first_of("/. ") != std::string::npos)
            r.fail("model", "a device name has no slash, dot or space");
        namespace fs = std::filesystem;
        std::error_code ec;
        std::string file = (fs::path(path).parent_path() / (dep.model + ".toml")).string();
        if (!fs::is_regular_file(file, ec)) file = find_device_file(path, dep.model);
        if (file.empty()) {
            if (find_driver_target(dep.model))
                r.fail("model", "'" + dep.model + "' is a built-in device model: a dependency names a function "
                                "described by a device file");
            r.fail("model", "no device file named '" + dep.model + "' (devices/" + dep.model + ".toml)");
        }
        regs = read_desc(file, parse_toml_file(file), true)->registers;
    }
    dep.enable = reg_ref(r, "enable", regs, true, dep.model);
    r.done();
}

// The description `top` (parsed from `path`) gives, checked; `supplier`:
// read for another file's [depends], whose own [depends] is not followed.
std::shared_ptr<GenericDeviceDesc> read_desc(const std::string& path, const toml::table& top, bool supplier) {
    TableReader r(path, top, "");
    const toml::table* dt = r.table("device");
    if (!dt) r.fail("device", "a device file opens with a [device] table");
    TableReader d(path, *dt, "device");
    auto desc = std::make_shared<GenericDeviceDesc>();
    GenericDeviceDesc& g = *desc;
    g.file = path;
    g.name = d.required_str("name");
    if (g.name.empty() || g.name.find_first_of("/. ") != std::string::npos)
        d.fail("name", "a device name has no slash, dot or space");
    if (find_driver_target(g.name) && !loaded_device(g.name))
        d.fail("name", "'" + g.name + "' is a built-in device model");
    g.description = d.str("description", "");
    g.driver = d.str("driver", g.name);
    if (auto v = d.integer("vendor", 1, 0xfffe)) g.vendor = uint16_t(*v);
    if (auto v = d.integer("device_id", 0, 0xffff)) g.device = uint16_t(*v);
    if (auto v = d.integer("class", 0, 0xffffff)) g.class_code = uint32_t(*v);
    if (auto parsed_bar = d.size("bar")) {
        // Checked as parsed, then narrowed (4GiB+16B is no 16-byte BAR).
        const uint64_t bar = *parsed_bar;
        if (bar < 16 || bar > (256u << 20) || (bar & (bar - 1)))
            d.fail("bar", "must be a power of two from 16B to 256MiB");
        g.bar_size = uint32_t(bar);
    }
    d.done();
    r.tables("register", [&](TableReader& rr, const toml::node&) {
        RegSpec s = read_register(rr, g.bar_size, g.keep_on_reset, g.keep_on_power_loss);
        for (const RegSpec& o : g.registers) {
            if (o.name == s.name) rr.fail("name", "register '" + s.name + "' declared twice");
            if (s.offset < o.offset + o.width && o.offset < s.offset + s.width)
                rr.fail("offset", fmt::format("{:#x} overlaps register {}", s.offset, o.name));
        }
        g.registers.push_back(std::move(s));
    });
    if (g.registers.empty()) r.fail("register", "a device has at least one [[register]]");
    std::sort(g.registers.begin(), g.registers.end(), [](auto& a, auto& b) { return a.offset < b.offset; });
    if (const toml::table* t = r.table("local_memory")) {
        TableReader m(path, *t, "local_memory");
        g.local_memory.size = m.size("size").value_or(0);
        if (g.local_memory.size == 0 || g.local_memory.size % 4096 || g.local_memory.size > (64ULL << 20))
            m.fail("size", "must be a multiple of 4KiB up to 64MiB");
        const std::string lost = m.str("lost_in", "D3cold");
        if (lost == "D3hot") g.local_memory.lost_in_d3hot = true;
        else if (lost != "D3cold") m.fail("lost_in", "'" + lost + "' is not D3hot or D3cold");
        m.done();
    }
    if (const toml::table* t = r.table("engine")) {
        TableReader e(path, *t, "engine");
        auto& en = g.engine;
        en.on = true;
        en.enable = reg_ref(e, "enable", g.registers, false);
        en.irq_enable = reg_ref(e, "irq_enable", g.registers, false);
        en.ring_base = reg_ref(e, "ring_base", g.registers, true);
        en.ring_size = reg_ref(e, "ring_size", g.registers, true);
        en.tail = reg_ref(e, "tail", g.registers, true);
        en.head = reg_ref(e, "head", g.registers, true);
        for (auto [key, ref] : {std::pair<const char*, RegRef*>{"ring_base", &en.ring_base}, {"ring_size", &en.ring_size},
                                {"tail", &en.tail}, {"head", &en.head}})
            if (!ref->field.empty()) e.fail(key, "names a whole register (the ring's pointers are registers)");
        en.done = reg_ref(e, "done", g.registers, true);
        en.error = reg_ref(e, "error", g.registers, false);
        if (auto l = e.duration("latency")) en.latency = *l;
        if (auto b = e.integer("burst", 4, 4096)) en.burst = uint32_t(*b);
        if (!g.local_memory.size) e.fail("engine", "the engine moves data to and from [local_memory]: declare it");
        e.done();
    }
    if (const toml::table* t = r.table("firmware")) {
        TableReader f(path, *t, "firmware");
        auto& fw = g.firmware;
        fw.on = true;
        fw.name = f.required_str("name");
        if (fw.name.empty() || fw.name.find('/') != std::string::npos) f.fail("name", "a firmware file name has no slash");
        const uint64_t size = f.size("size").value_or(0);
        if (size == 0 || size > (16u << 20) || size % 8) f.fail("size", "must be 8B to 16MiB, a multiple of 8");
        fw.size = uint32_t(size);
        fw.addr = reg_ref(f, "addr", g.registers, true);
        fw.length = reg_ref(f, "length", g.registers, true);
        fw.load = reg_ref(f, "load", g.registers, true);
        fw.ready = reg_ref(f, "ready", g.registers, true);
        fw.error = reg_ref(f, "error", g.registers, true);
        if (auto l = f.duration("latency")) fw.latency = *l;
        f.done();
    }
    if (supplier) r.table("depends");  // marks the key read: its checks are its own file's
    else read_depends(path, r, g);
    r.done();
    return desc;
}

}  // namespace

std::shared_ptr<GenericDeviceDesc> read_device_file(const std::string& path) {
    return read_desc(path, parse_toml_file(path), false);
}

std::shared_ptr<const GenericDeviceDesc> load_device_file(const std::string& path) {
    const toml::table top = parse_toml_file(path);
    std::shared_ptr<const GenericDeviceDesc> desc = read_desc(path, top, false);
    const GenericDeviceDesc& g = *desc;
    const TableReader r(path, top, "");
    const std::string key = std::filesystem::weakly_canonical(path).string();
    auto& reg = loaded()[g.name];
    // Device names are global, like the built-in types: one description per
    // name in a process (the same file, or a copy of it, may load again).
    if (reg && std::filesystem::weakly_canonical(reg->file).string() != key && read_text(reg->file) != read_text(path))
        r.fail("device", "two different device files are named '" + g.name + "': " + reg->file + " and " + path);
    reg = desc;
    // A target driver files may bind to.
    DriverTarget t;
    t.type = g.name;
    t.registers = g.registers;
    t.driver = g.driver;
    if (g.firmware.on) t.commands.push_back("load-firmware");
    if (g.local_memory.size) t.commands.insert(t.commands.end(), {"save-local-memory", "restore-local-memory"});
    if (g.engine.on) t.rederive = {g.engine.ring_base.reg, g.engine.ring_size.reg, g.engine.tail.reg};
    register_driver_target(std::move(t));
    return desc;
}

std::string find_device_file(const std::string& near, const std::string& name) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (name.empty() || name.find('/') != std::string::npos) return "";
    const fs::path dir = fs::path(near).parent_path();
    const std::vector<fs::path> cands = {dir / "devices" / (name + ".toml"), dir.parent_path() / "devices" / (name + ".toml"),
                                         fs::path(QUIESCE_DATA_DIR) / "devices" / (name + ".toml")};
    for (const fs::path& cand : cands)
        if (fs::is_regular_file(cand, ec)) return cand.string();
    return "";
}

std::shared_ptr<const GenericDeviceDesc> resolve_device(TableReader& r, const std::string& key,
                                                        const std::string& name) {
    const std::string file = find_device_file(r.file(), name);
    if (file.empty()) r.fail(key, "no device file named '" + name + "' (devices/" + name + ".toml)");
    return load_device_file(file);
}

std::shared_ptr<const GenericDeviceDesc> loaded_device(const std::string& name) {
    auto it = loaded().find(name);
    return it == loaded().end() ? nullptr : it->second;
}

}  // namespace quiesce
