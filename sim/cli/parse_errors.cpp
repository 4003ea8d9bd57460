// CLI11's parse errors reworded: an unknown option or command, a missing
// command or argument, a value of the wrong kind - each one line that names
// what is wrong first, then the help to read.
#include "sim/cli/parse_errors.h"

#include "sim/core/errors.h"

#include <algorithm>
#include <cctype>
#include <regex>

namespace quiesce {
namespace {

// The commands the parse went into, the program first.
std::vector<const CLI::App*> command_chain(const CLI::App& app) {
    std::vector<const CLI::App*> out{&app};
    for (auto subs = app.get_subcommands(); !subs.empty(); subs = out.back()->get_subcommands())
        out.push_back(subs.front());
    return out;
}

// "trace show" for the chain up to `depth` (the program alone: "").
std::string command_words(const std::vector<const CLI::App*>& chain, size_t depth) {
    std::string out;
    for (size_t i = 1; i <= depth; ++i) out += (out.empty() ? "" : " ") + chain[i]->get_name();
    return out;
}

std::string see_help(const std::string& words) {
    return " (see quiesce " + (words.empty() ? "" : words + " ") + "--help)";
}

// "run, validate, ...": the commands of `cmd`.
std::string command_list(const CLI::App& cmd) {
    std::string out;
    for (const CLI::App* c : cmd.get_subcommands([](const CLI::App*) { return true; }))
        out += (out.empty() ? "" : ", ") + c->get_name();
    return out;
}

// An option as the help shows it: "--jobs"; a positional argument in capitals ("RUN").
std::string display_name(const CLI::Option& o) {
    // Every name of an option, as one may have typed either: -j/--jobs.
    std::string name = o.nonpositional() ? o.get_name(false, true) : o.get_name();
    std::replace(name.begin(), name.end(), ',', '/');
    if (!o.nonpositional())
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return char(std::toupper(c)); });
    return name;
}

const CLI::Option* find_option(const std::vector<const CLI::App*>& chain, const std::string& name) {
    for (auto it = chain.rbegin(); it != chain.rend(); ++it)
        for (const CLI::Option* o : (*it)->get_options())
            if (o->get_name() == name) return o;
    return nullptr;
}

// An argument nothing took: an unknown option, an unknown command, or one
// argument too many, of the command it follows.
std::string leftover_line(const std::vector<const CLI::App*>& chain, const std::vector<std::string>& args,
                          const std::vector<std::string>& leftovers) {
    // The first of them as given, and the deepest command given before it.
    size_t at = 0;
    while (at < args.size() && std::find(leftovers.begin(), leftovers.end(), args[at]) == leftovers.end()) ++at;
    const std::string arg = at < args.size() ? args[at] : leftovers.front();
    size_t depth = 0;
    for (size_t i = 1, from = 0; i < chain.size(); ++i) {
        auto it = std::find(args.begin() + long(from), args.end(), chain[i]->get_name());
        if (it == args.end() || size_t(it - args.begin()) > at) break;
        from = size_t(it - args.begin()) + 1;
        depth = i;
    }
    const std::string words = command_words(chain, depth);
    const std::string of = words.empty() ? "" : " of '" + words + "'";
    if (arg.size() > 1 && arg[0] == '-') return arg + ": unknown option" + of + see_help(words);
    const CLI::App& cmd = *chain[depth];
    if (cmd.get_require_subcommand_min() > 0 && cmd.get_subcommands().empty())
        return arg + ": unknown command" + of + " (" + command_list(cmd) + ")";
    return arg + ": unexpected argument" + of + see_help(words);
}

}  // namespace

std::string parse_error_line(const CLI::App& app, const CLI::ParseError& e, const std::vector<std::string>& args) {
    const std::vector<const CLI::App*> chain = command_chain(app);
    const std::vector<std::string> leftovers = app.remaining(true);
    const std::string words = command_words(chain, chain.size() - 1);
    const CLI::App& last = *chain.back();
    // An unknown word explains a missing command or argument better than the
    // absence does ("quiesce frobnicate").
    if (!leftovers.empty() &&
        (dynamic_cast<const CLI::ExtrasError*>(&e) || dynamic_cast<const CLI::RequiredError*>(&e)))
        return leftover_line(chain, args, leftovers);
    if (dynamic_cast<const CLI::RequiredError*>(&e)) {
        if (last.get_require_subcommand_min() > 0 && last.get_subcommands().empty())
            return words.empty() ? "a command is required (" + command_list(last) + ")" + see_help(words)
                                 : words + ": needs a command (" + command_list(last) + ")";
        for (const CLI::Option* o : last.get_options())
            if (o->get_required() && o->count() == 0)
                return (words.empty() ? "" : words + ": ") + display_name(*o) + " is required" + see_help(words);
    }
    const std::string what = e.what();
    std::smatch m;
    // CLI11's wordings of a bad value, each naming its option.
    auto named = [&](const std::string& name) {
        const CLI::Option* o = find_option(chain, name);
        return o ? display_name(*o) : name;
    };
    if (std::regex_match(what, m, std::regex("Could not convert: (.+) = (.*)"))) {
        const CLI::Option* o = find_option(chain, m[1]);
        std::string type = o ? o->get_type_name() : "";
        std::string kind = type.rfind("INT", 0) == 0    ? "an integer"
                           : type.rfind("UINT", 0) == 0 ? "a whole number"
                                                        : "a number";
        return named(m[1]) + ": expected " + kind + ", got '" + one_line(m[2]) + "'" + see_help(words);
    }
    if (std::regex_match(what, m, std::regex("(\\S+): Value (.*) not in range (\\S+) to (\\S+)")))
        return named(m[1]) + ": must be " + std::string(m[3]) + " to " + std::string(m[4]) + ", got '" +
               one_line(m[2]) + "'" + see_help(words);
    if (std::regex_match(what, m, std::regex("(\\S+): (.*) not in \\{(.*)\\}"))) {
        std::string set = m[3], list;
        for (size_t i = 0, n = 0, count = size_t(std::count(set.begin(), set.end(), ',')) + 1; n < count; ++n) {
            size_t comma = set.find(',', i);
            std::string item = set.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
            list += (n == 0 ? "" : n + 1 == count ? " or " : ", ") + item;
            i = comma + 1;
        }
        return named(m[1]) + ": must be " + list + ", got '" + one_line(m[2]) + "'" + see_help(words);
    }
    if (std::regex_match(what, m, std::regex("(\\S+): [0-9]+ required .* missing")))
        return named(m[1]) + ": needs a value" + see_help(words);
    // A validator's own reason, after the option's name as CLI11 has it
    // ("run: ..." for the argument the help calls RUN).
    if (std::regex_match(what, m, std::regex("(\\S+): (.*)")) && find_option(chain, m[1]))
        return named(m[1]) + ": " + one_line(m[2]) + see_help(words);
    return one_line(what) + see_help(words);
}

std::string option_as_value(const CLI::App& app) {
    const std::vector<const CLI::App*> chain = command_chain(app);
    for (const CLI::App* cmd : chain)
        for (const CLI::Option* o : cmd->get_options()) {
            if (!o->nonpositional() || o->get_expected_min() == 0) continue;  // a flag takes no value
            for (const std::string& value : o->results()) {
                if (value.size() < 2 || value[0] != '-') continue;
                const std::string name = value.substr(0, value.find('='));
                for (const CLI::App* c : chain)
                    if (c->get_option_no_throw(name))
                        return display_name(*o) + ": needs a value, got the option '" + name + "'" +
                               see_help(command_words(chain, chain.size() - 1));
            }
        }
    return "";
}

}  // namespace quiesce
