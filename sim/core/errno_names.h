// Linux errno names as driver files write them: "-EBUSY" -> -16.
#pragma once

#include <string>

namespace quiesce {

// -EBUSY, EBUSY or -16 -> -16; 0 when unknown.
int parse_errno(const std::string& text);
// The names, for error messages.
std::string errno_help();

}  // namespace quiesce
