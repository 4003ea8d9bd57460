// The error taxonomy: input errors naming file, line, column and key; simulator panics.
#include "sim/core/errors.h"

#include <cstdio>
#include <cstdlib>

namespace quiesce {

void panic_at(const char* file, int line, const std::string& message) {
    std::fprintf(stderr, "quiesce: model panic at %s:%d: %s\n", file, line, message.c_str());
    std::fflush(stderr);
    std::abort();
}

InputError::InputError(std::string file, int line, int column, std::string key, std::string message)
    : std::runtime_error(render(file, line, column, key, message)),
      file_(std::move(file)), line_(line), column_(column), key_(std::move(key)), message_(std::move(message)) {}

InputError::InputError(std::string message) : std::runtime_error(one_line(message)), message_(std::move(message)) {}

std::string one_line(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (unsigned char c : text) {
        if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
        else out += char(c);
    }
    return out;
}

std::string InputError::render(const std::string& file, int line, int column, const std::string& key,
                               const std::string& message) {
    std::string where = file;
    if (line > 0) where += ":" + std::to_string(line);
    if (line > 0 && column > 0) where += ":" + std::to_string(column);
    if (!key.empty()) return one_line(where + ": " + key + ": " + message);
    return one_line(where + ": " + message);
}

}  // namespace quiesce
