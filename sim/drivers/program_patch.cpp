// Driver file patches: replace, delete, insert, append, prepend, move (by label, or to another callback), change.
#include "sim/drivers/program.h"
#include "sim/drivers/program_read.h"

#include "sim/core/errors.h"
#include "sim/core/toml_reader.h"

#include <algorithm>

namespace quiesce {

using program_detail::name_steps;
using program_detail::read_step_fields;
using program_detail::read_steps;

size_t apply_patches(DriverProgram& p, TableReader& r, const std::string& key) {
    size_t n = 0;
    r.tables(key, [&](TableReader& pr, const toml::node&) {
        ++n;
        const std::string cb = pr.required_str("callback");
        if (!known_callback(cb))
            pr.fail("callback", "unknown callback '" + cb + "'");
        if (auto a = p.aliases.find(cb); a != p.aliases.end()) {
            // Patching an alias gives it a function of its own.
            const std::vector<Step>* shared = p.callback(cb);
            p.callbacks[cb] = shared ? *shared : std::vector<Step>{};
            p.aliases.erase(a);
        }
        auto& steps = p.callbacks[cb];
        auto at = [&](const char* what, const std::string& label) {
            size_t i = find_label(steps, label);
            if (i == steps.size())
                pr.fail(what, "no step labelled '" + label + "' in " + p.name + "'s " + cb +
                                  (steps.empty() ? " (it has no steps)" : ""));
            return i;
        };
        auto new_steps = [&]() {
            std::vector<Step> s;
            if (pr.table("step")) {
                TableReader sr(pr.file(), *pr.table("step"), pr.path_of("step"));
                s.push_back(parse_step(sr));
            } else {
                s = read_steps(pr, "steps");
            }
            return s;
        };
        int actions = 0;
        if (pr.array("replace")) {
            ++actions;
            steps = read_steps(pr, "replace");
        }
        if (auto l = pr.str("delete")) {
            ++actions;
            steps.erase(steps.begin() + long(at("delete", *l)));
        }
        if (auto l = pr.str("insert_before")) {
            ++actions;
            auto s = new_steps();
            steps.insert(steps.begin() + long(at("insert_before", *l)), s.begin(), s.end());
        }
        if (auto l = pr.str("insert_after")) {
            ++actions;
            auto s = new_steps();
            steps.insert(steps.begin() + long(at("insert_after", *l)) + 1, s.begin(), s.end());
        }
        if (pr.array("append")) {
            ++actions;
            auto s = read_steps(pr, "append");
            steps.insert(steps.end(), s.begin(), s.end());
        }
        if (pr.array("prepend")) {
            ++actions;
            auto s = read_steps(pr, "prepend");
            steps.insert(steps.begin(), s.begin(), s.end());
        }
        if (auto l = pr.str("move")) {
            ++actions;
            const size_t from = at("move", *l);
            Step moved = steps[from];
            steps.erase(steps.begin() + long(from));
            if (auto b = pr.str("before")) {
                steps.insert(steps.begin() + long(at("before", *b)), moved);
            } else if (auto a = pr.str("after")) {
                steps.insert(steps.begin() + long(at("after", *a)) + 1, moved);
            } else if (auto to = pr.str("to")) {
                if (!known_callback(*to))
                    pr.fail("to", "unknown callback '" + *to + "'");
                const std::string where = pr.str("at", "end");
                if (where != "start" && where != "end") pr.fail("at", "must be \"start\" or \"end\"");
                if (auto a = p.aliases.find(*to); a != p.aliases.end()) {
                    const std::vector<Step>* shared = p.callback(*to);
                    p.callbacks[*to] = shared ? *shared : std::vector<Step>{};
                    p.aliases.erase(a);
                }
                auto& dst = p.callbacks[*to];
                // "end": before the callback's first return (its normal
                // exit, ahead of any error path), else after its last step.
                auto end = std::find_if(dst.begin(), dst.end(), [](const Step& st) { return st.op == "return"; });
                dst.insert(where == "start" ? dst.begin() : end, moved);
                name_steps(dst);
            } else {
                pr.fail("move", "a move names where: before, after, or to (another callback)");
            }
        }
        if (auto l = pr.str("change")) {
            ++actions;
            const size_t i = at("change", *l);
            const toml::table* t = pr.table("set");
            if (!t) pr.fail("change", "a change names the operands to set: set = { timeout = \"1us\" }");
            TableReader sr(pr.file(), *t, pr.path_of("set"));
            read_step_fields(sr, steps[i]);
            sr.done();
            program_detail::check_op(sr, steps[i]);
        }
        if (actions != 1)
            pr.fail("callback", "a patch does one of replace, delete, insert_before, insert_after, append, prepend, "
                                "move, change");
        name_steps(steps);
        pr.done();
        // A patch that breaks a step written elsewhere (deletes the label
        // another step jumps to) is this patch's error.
        try {
            validate_driver(p);
        } catch (const InputError& e) {
            if (e.file() == pr.file()) throw;
            pr.fail("callback", "the patch leaves " + e.key() + " (" + e.file() + ":" + std::to_string(e.line()) +
                                    ") invalid: " + e.message());
        }
    });
    return n;
}

}  // namespace quiesce
