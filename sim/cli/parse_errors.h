// The command line's parse errors in quiesce's words: one line that starts
// with the option, argument or command at fault (docs: exit status 2).
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace quiesce {

// What to print after "quiesce: " for `e`, thrown by `app.parse(args)`;
// `args` are the arguments as given, without the program's name.
std::string parse_error_line(const CLI::App& app, const CLI::ParseError& e, const std::vector<std::string>& args);

// After a parse CLI11 accepted: "" or, where an option took another option
// of the command as its value ("run --junit --db x.db": --junit's value was
// left out), the line that says so.
std::string option_as_value(const CLI::App& app);

}  // namespace quiesce
