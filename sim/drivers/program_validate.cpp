// Validating a driver: each step against its target (registers, fields, commands), its jumps, its calls.
#include "sim/drivers/program.h"

#include "sim/core/errors.h"
#include "sim/core/registers.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace quiesce {

namespace {

// At `key`'s value where the step was written (at the step when it has no
// such key), the key named by its dotted path there.
[[noreturn]] void step_error(const DriverProgram& p, const std::string& where, const Step& s, const std::string& key,
                             const std::string& message) {
    if (!s.source)  // a step built by code, not read: named by its callback and label
        throw InputError(p.file, 0, 0, where + "." + s.label + "." + key, message);
    auto at = s.source->keys.find(key);
    const auto [line, column] = at != s.source->keys.end() ? at->second : std::pair(s.source->line, s.source->column);
    throw InputError(s.source->file, line, column, s.source->path + "." + key, message);
}

void validate_steps(const DriverProgram& p, const DriverTarget& t, const std::string& where,
                    const std::vector<Step>& steps) {
    auto reg_spec = [&](const std::string& name) -> const RegSpec* {
        for (const auto& r : t.registers)
            if (r.name == name) return &r;
        return nullptr;
    };
    auto reg_names = [&] {
        std::string s;
        for (const auto& r : t.registers) s += (s.empty() ? "" : ", ") + r.name;
        return s;
    };
    auto need_reg = [&](const Step& s, const std::string& name, const std::string& field, const char* key) {
        const RegSpec* r = reg_spec(name);
        if (!r) step_error(p, where, s, key, "'" + p.binds + "' has no register '" + name + "' (" + reg_names() + ")");
        if (field.empty()) return;
        for (const auto& f : r->fields)
            if (f.name == field) return;
        std::string known;
        for (const auto& f : r->fields) known += (known.empty() ? "" : ", ") + f.name;
        step_error(p, where, s, "field",
                   "register " + name + " has no field '" + field + "'" + (known.empty() ? "" : " (" + known + ")"));
    };
    auto fits = [&](const Step& s, const RegSpec& r, const std::string& field, uint64_t v) {
        if (field.empty()) {
            const uint64_t most = r.width >= 8 ? ~uint64_t(0) : (uint64_t(1) << (8 * r.width)) - 1;
            if (v > most)
                step_error(p, where, s, "value",
                           std::to_string(v) + " does not fit register " + r.name + " (" + std::to_string(r.width) +
                               (r.width == 1 ? " byte" : " bytes") + ": at most " + std::to_string(most) + ")");
            return;
        }
        for (const auto& f : r.fields) {
            if (f.name != field) continue;
            const uint64_t most = f.width >= 64 ? ~uint64_t(0) : (uint64_t(1) << f.width) - 1;
            if (v > most)
                step_error(p, where, s, "value",
                           std::to_string(v) + " does not fit field " + field + " of " + r.name + " (" +
                               std::to_string(f.width) + (f.width == 1 ? " bit" : " bits") + ": at most " +
                               std::to_string(most) + ")");
        }
    };
    std::set<std::string> labels;
    for (const auto& s : steps)
        if (!labels.insert(s.label).second) step_error(p, where, s, "label", "two steps are labelled '" + s.label + "'");
    auto jump = [&](const Step& s, const std::string& label, const char* key) {
        if (label.empty()) return;
        if (!labels.count(label))
            step_error(p, where, s, key, "no step labelled '" + label + "' in " + where +
                                             " (a jump stays inside its callback)");
    };
    for (const auto& s : steps) {
        const std::string& op = s.op;
        if (s.on_fail != "continue" && s.on_fail != "ignore") jump(s, s.on_fail, "on_fail");
        if (!s.device.empty() && s.device[0] == '$' &&
            std::find(t.params.begin(), t.params.end(), s.device.substr(1)) == t.params.end())
            step_error(p, where, s, "device", "'" + p.binds + "' drivers take no parameter '" + s.device + "'");
        if (s.when.kind == StepCondition::Kind::Reg) need_reg(s, s.when.reg, s.when.field, "when");
        if (op.rfind("pci-", 0) == 0 && !t.pci)
            step_error(p, where, s, "op", "'" + p.binds + "' is not a PCI function: no '" + op + "'");
        if (op == "read" || op == "write" || op == "rmw" || op == "poll" || op == "rederive") {
            if (s.reg.empty()) step_error(p, where, s, "reg", "'" + op + "' names a register");
            need_reg(s, s.reg, s.field, "reg");
            if ((op == "write" || op == "rmw" || op == "poll") && !s.value)
                step_error(p, where, s, "value", "'" + op + "' needs a value");
            // A value the register or field cannot hold would be cut to
            // what fits when written, and never match when polled.
            if (s.value) fits(s, *reg_spec(s.reg), s.field, *s.value);
            if (op == "rmw" && s.field.empty()) step_error(p, where, s, "field", "'rmw' changes one field");
            if (op == "poll" && !s.timeout) step_error(p, where, s, "timeout", "'poll' needs a timeout");
            if (op == "rederive" &&
                std::find(t.rederive.begin(), t.rederive.end(), s.reg) == t.rederive.end())
                step_error(p, where, s, "reg", "'" + p.binds + "' drivers cannot re-derive " + s.reg);
        } else if (op == "save" || op == "restore") {
            if (s.regs.empty()) step_error(p, where, s, "regs", "'" + op + "' names the registers");
            for (const auto& r : s.regs) need_reg(s, r, "", "regs");
        } else if (op == "set") {
            if (s.name.empty() || !s.value) step_error(p, where, s, "name", "'set' names a variable and a value");
        } else if (op == "pci-set-power") {
            if (s.state != "D0" && s.state != "D3hot" && s.state != "D3cold")
                step_error(p, where, s, "state", "must be D0, D3hot or D3cold");
        } else if (op == "command") {
            if (std::find(t.commands.begin(), t.commands.end(), s.name) == t.commands.end()) {
                std::string known;
                for (const auto& c : t.commands) known += (known.empty() ? "" : ", ") + c;
                step_error(p, where, s, "name", "'" + p.binds + "' offers no command '" + s.name + "' (" + known + ")");
            }
        } else if (op == "schedule-work" || op == "flush-work") {
            if (!p.work.count(s.name)) step_error(p, where, s, "name", "no work item '" + s.name + "' in [work]");
        } else if (op == "alloc" || op == "free") {
            if (s.name.empty()) step_error(p, where, s, "name", "'" + op + "' names a buffer");
            if (op == "alloc") {
                if (s.gfp != "KERNEL" && s.gfp != "NOIO" && s.gfp != "ATOMIC")
                    step_error(p, where, s, "gfp", "must be KERNEL, NOIO or ATOMIC");
                if (s.pages.empty()) step_error(p, where, s, "pages", "a count, or \"device-memory\"");
                if (!std::isdigit(static_cast<unsigned char>(s.pages[0])) && s.pages != "device-memory")
                    step_error(p, where, s, "pages", "a count, or \"device-memory\"");
            }
        } else if (op == "request-firmware" || op == "release-firmware") {
            if (s.name.empty()) step_error(p, where, s, "name", "'" + op + "' names the firmware file");
            if (s.name.find('/') != std::string::npos)
                step_error(p, where, s, "name", "a firmware file name has no slash (it is under /lib/firmware)");
        } else if (op == "wait-for-dev") {
            if (s.device.empty()) step_error(p, where, s, "device", "'wait-for-dev' names a device");
        } else if (op == "sleep") {
            if (!s.duration) step_error(p, where, s, "duration", "'sleep' needs a duration");
        } else if (op == "wait-irq") {
            if (!s.timeout) step_error(p, where, s, "timeout", "'wait-irq' needs a timeout");
        } else if (op == "call") {
            if (!p.callback(s.name)) step_error(p, where, s, "name", "no callback '" + s.name + "' to call");
        } else if (op == "goto") {
            if (s.go.empty()) step_error(p, where, s, "goto", "'goto' names a label");
            jump(s, s.go, "goto");
        } else if (op == "drain") {
            if (!s.timeout) step_error(p, where, s, "timeout", "'drain' needs a timeout");
        }
        if (!s.device.empty() && s.device[0] != '$' && op != "wait-for-dev")
            step_error(p, where, s, "device", "a peer's registers are named by a parameter ($companion)");
        if (!s.go.empty() && op != "goto") step_error(p, where, s, "goto", "only a 'goto' step jumps");
    }
}

// `call` steps may not recurse: a callback reached again through calls.
void check_calls(const DriverProgram& p, const std::string& cb, std::vector<std::string>& stack) {
    const std::vector<Step>* steps = p.callback(cb);
    if (!steps) return;
    for (const auto& s : *steps) {
        if (s.op != "call") continue;
        const std::string target = p.aliases.count(s.name) ? p.aliases.at(s.name) : s.name;
        if (std::find(stack.begin(), stack.end(), target) != stack.end())
            step_error(p, cb, s, "name", "calling " + s.name + " from " + cb + " recurses");
        stack.push_back(target);
        check_calls(p, target, stack);
        stack.pop_back();
    }
}
}  // namespace

void validate_driver(const DriverProgram& p) {
    const DriverTarget* t = find_driver_target(p.binds);
    if (!t) throw InputError(p.file, 0, 0, "driver.binds", "no device model '" + p.binds + "' takes a driver file");
    for (const auto& [cb, steps] : p.callbacks) {
        std::vector<std::string> stack{cb};
        check_calls(p, cb, stack);
    }
    for (const auto& [cb, steps] : p.callbacks) validate_steps(p, *t, cb, steps);
    for (const auto& [w, steps] : p.work) validate_steps(p, *t, "work." + w, steps);
}

}  // namespace quiesce
