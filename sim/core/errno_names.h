// Linux errno names as driver files and reports write them: "-EBUSY" <-> -16.
#pragma once

#include <string>

namespace quiesce {

// -EBUSY, EBUSY or -16 -> -16; 0 when unknown.
int parse_errno(const std::string& text);
// -16 -> "-EBUSY" (a number for an errno without a name here).
std::string errno_name(int err);
// The names, for error messages.
std::string errno_help();

}  // namespace quiesce
