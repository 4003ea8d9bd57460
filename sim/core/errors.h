// The error taxonomy of DESIGN.md §6.
//  - SIM_PANIC: a bug in a model. Aborts with file:line; the parent records the
//    run as `crashed`.
//  - InputError: a bad scenario, config or command line. One line naming file,
//    line and key; exit status 2; nothing written.
//  - Guest errors (the simulated software did something illegal) are events,
//    see Module::guest_error; the simulation carries on.
//  - Injected faults are their own trace category (sim/fault).
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace quiesce {

[[noreturn]] void panic_at(const char* file, int line, const std::string& message);

// `text` as it may appear inside a one-line message: control characters
// (a newline or a tab a string held, an escape sequence) as \n, \r, \t or
// \xNN, so what a user's input echoes can neither break the line nor drive
// the terminal.
std::string one_line(const std::string& text);

class InputError : public std::runtime_error {
public:
    InputError(std::string file, int line, int column, std::string key, std::string message);
    explicit InputError(std::string message);  // command-line errors: no file
    // what() is always one line (one_line); the parts keep what was given.

    const std::string& file() const { return file_; }
    int line() const { return line_; }
    int column() const { return column_; }
    const std::string& key() const { return key_; }
    const std::string& message() const { return message_; }

private:
    static std::string render(const std::string& file, int line, int column, const std::string& key,
                              const std::string& message);
    std::string file_;
    int line_ = 0;
    int column_ = 0;
    std::string key_;
    std::string message_;
};

}  // namespace quiesce

#define SIM_PANIC(...) ::quiesce::panic_at(__FILE__, __LINE__, fmt::format(__VA_ARGS__))
#define SIM_ASSERT(cond, ...)                \
    do {                                     \
        if (!(cond)) SIM_PANIC(__VA_ARGS__); \
    } while (0)
