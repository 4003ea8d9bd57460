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

InputError::InputError(std::string message) : std::runtime_error(message), message_(std::move(message)) {}

std::string InputError::render(const std::string& file, int line, int column, const std::string& key,
                               const std::string& message) {
    std::string where = file;
    if (line > 0) where += ":" + std::to_string(line);
    if (line > 0 && column > 0) where += ":" + std::to_string(column);
    if (!key.empty()) return where + ": " + key + ": " + message;
    return where + ": " + message;
}

}  // namespace quiesce
