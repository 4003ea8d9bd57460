// Driver mutations: each a patch to the driver program.
#include "sim/drivers/mutate.h"

#include "sim/core/errors.h"
#include "sim/core/toml_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace quiesce {

namespace {
// The callbacks of one transition, in the order they run.
const std::vector<std::vector<std::string>>& chains() {
    static const std::vector<std::vector<std::string>> c = {
        {"prepare", "suspend", "suspend_late", "suspend_noirq"},
        {"resume_noirq", "resume_early", "resume", "complete"},
        {"freeze", "freeze_late", "freeze_noirq"},
        {"thaw_noirq", "thaw_early", "thaw"},
        {"poweroff", "poweroff_late", "poweroff_noirq"},
        {"restore_noirq", "restore_early", "restore"},
        {"io_begin", "io_end"},  // around one request: a step moved after the I/O it guarded
    };
    return c;
}

bool has_timeout(const Step& s) { return s.timeout > 0; }
}  // namespace

const std::vector<std::pair<std::string, std::string>>& mutation_ops() {
    static const std::vector<std::pair<std::string, std::string>> ops = {
        {"drop", "the step is left out (a forgotten save, wait, poll or flush)"},
        {"swap", "the step and the next change places (a wait before what it waits for)"},
        {"earlier", "the step moves to the end of the previous phase (suspend -> prepare, resume -> resume_early)"},
        {"later", "the step moves to the start of the next phase (suspend -> suspend_late, resume -> complete; io_begin -> io_end)"},
        {"shorten", "the step's timeout is a hundredth of what it was (at least 1 us)"},
    };
    return ops;
}

std::string Mutation::text() const {
    if (op == "drop") return "drop " + callback + "/" + step;
    if (op == "swap") return "swap " + callback + "/" + step + " with the next step";
    if (op == "shorten") return "shorten the timeout of " + callback + "/" + step;
    return "move " + callback + "/" + step + " to " + neighbour(callback, op == "later");
}

std::string neighbour(const std::string& callback, bool later) {
    for (const auto& c : chains()) {
        auto it = std::find(c.begin(), c.end(), callback);
        if (it == c.end()) continue;
        if (later) return it + 1 == c.end() ? "" : *(it + 1);
        return it == c.begin() ? "" : *(it - 1);
    }
    return "";
}

std::string mutation_patch(const DriverProgram& p, const Mutation& m) {
    std::string body = fmt::format("callback = \"{}\"\n", m.callback);
    if (m.op == "drop") return body + fmt::format("delete = \"{}\"\n", m.step);
    if (m.op == "swap") {
        const std::vector<Step>* steps = p.callback(m.callback);
        std::string next;
        if (steps)
            for (size_t i = 0; i + 1 < steps->size(); ++i)
                if ((*steps)[i].label == m.step) next = (*steps)[i + 1].label;
        return body + fmt::format("move = \"{}\"\nafter = \"{}\"\n", m.step, next);
    }
    if (m.op == "earlier" || m.op == "later")
        return body + fmt::format("move = \"{}\"\nto = \"{}\"\nat = \"{}\"\n", m.step, neighbour(m.callback, m.op == "later"),
                                  m.op == "later" ? "start" : "end");
    // shorten
    Picos t = 0;
    if (const std::vector<Step>* steps = p.callback(m.callback))
        for (const auto& s : *steps)
            if (s.label == m.step) t = s.timeout;
    return body + fmt::format("change = \"{}\"\nset = {{ timeout = \"{}ps\" }}\n", m.step,
                              std::max<Picos>(t / 100, 1'000'000));
}

DriverProgram mutate(const DriverProgram& p, const Mutation& m) {
    const std::string file = "mutation " + m.spec();
    toml::table t;
    try {
        t = toml::parse("[[patch]]\n" + mutation_patch(p, m), file);
    } catch (const toml::parse_error& e) {
        throw InputError(file, int(e.source().begin.line), int(e.source().begin.column), "", std::string(e.description()));
    }
    TableReader r(file, t, "");
    DriverProgram out = p;
    apply_patches(out, r, "patch");
    validate_driver(out);
    return out;
}

void mutate_devices(std::map<std::string, SharedProgram>& drivers, const std::vector<std::string>& devices,
                    const Mutation& m) {
    std::map<SharedProgram, SharedProgram> made;  // each program's mutant (the key keeps the program alive)
    for (const auto& dev : devices) {
        SharedProgram& p = drivers.at(dev);
        SharedProgram& mutant = made[p];
        if (!mutant) mutant = std::make_shared<const DriverProgram>(mutate(*p, m));
        p = mutant;
    }
}

bool parse_mutation(const std::string& spec, Mutation& out) {
    const size_t a = spec.find(':'), b = a == std::string::npos ? a : spec.find(':', a + 1);
    if (b == std::string::npos) return false;
    out.op = spec.substr(0, a);
    out.callback = spec.substr(a + 1, b - a - 1);
    out.step = spec.substr(b + 1);
    const auto& ops = mutation_ops();
    return !out.step.empty() &&
           std::any_of(ops.begin(), ops.end(), [&](const auto& o) { return o.first == out.op; });
}

std::vector<Mutation> mutations(const DriverProgram& p, const std::set<std::string>& reached) {
    std::vector<Mutation> out;
    for (const auto& [cb, steps] : p.callbacks) {
        bool ran = reached.count(cb) > 0;
        for (const auto& [alias, target] : p.aliases) ran = ran || (target == cb && reached.count(alias));
        if (!ran) continue;
        for (size_t i = 0; i < steps.size(); ++i) {
            const Step& s = steps[i];
            std::vector<Mutation> cands = {{"drop", cb, s.label}};
            if (i + 1 < steps.size()) cands.push_back({"swap", cb, s.label});
            if (!neighbour(cb, false).empty()) cands.push_back({"earlier", cb, s.label});
            if (!neighbour(cb, true).empty()) cands.push_back({"later", cb, s.label});
            if (has_timeout(s)) cands.push_back({"shorten", cb, s.label});
            for (auto& m : cands) {
                try {
                    mutate(p, m);  // a mutation that leaves a jump without its label is no driver
                } catch (const InputError&) {
                    continue;
                }
                out.push_back(std::move(m));
            }
        }
    }
    return out;
}

MutationTarget parse_mutation_target(const std::string& which) {
    const size_t colon = which.find(':'), colon2 = colon == std::string::npos ? colon : which.find(':', colon + 1);
    MutationTarget t;
    t.driver = which.substr(0, colon);
    t.callback = colon == std::string::npos ? "" : which.substr(colon + 1, colon2 - colon - 1);
    t.step = colon2 == std::string::npos ? "" : which.substr(colon2 + 1);
    return t;
}

std::set<std::string> target_drivers(const MutationTarget& t, const std::vector<const DriverProgram*>& programs,
                                     const std::string& none) {
    std::set<std::string> drivers, known;
    std::map<std::string, const DriverProgram*> first;  // a program of each named driver
    for (const DriverProgram* p : programs) {
        if (!p) continue;
        known.insert(p->name);
        if ((t.driver == "all" || p->name == t.driver) && !p->patched) {
            drivers.insert(p->name);
            first.emplace(p->name, p);
        }
    }
    if (drivers.empty()) {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        throw InputError("--mutate: " + none + " unpatched driver named '" + t.driver + "' (" +
                         (list.empty() ? "no driver files" : list) + ")");
    }
    bool known_callback = t.callback.empty(), known_step = t.step.empty();
    for (const auto& [name, program] : first)
        if (const std::vector<Step>* steps = t.callback.empty() ? nullptr : program->callback(t.callback)) {
            known_callback = true;
            for (const Step& st : *steps) known_step = known_step || st.label == t.step;
        }
    if (!known_callback) throw InputError("--mutate: driver '" + t.driver + "' has no callback '" + t.callback + "'");
    if (!known_step)
        throw InputError("--mutate: " + t.driver + "'s " + t.callback + " has no step labelled '" + t.step + "'");
    return drivers;
}

}  // namespace quiesce
