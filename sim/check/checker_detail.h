// What the checker's files share (checker.cpp, checker_state.cpp,
// checker_acpi.cpp): a violation's evidence as a JSON object, and a list
// split at a separator. Not for use outside sim/check.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace quiesce::check_detail {

// {"key":"value",...}, each escaped.
std::string json_object(const std::vector<std::pair<std::string, std::string>>& kv);
// The non-empty items of `s` between `sep`s.
std::vector<std::string> split(const std::string& s, char sep);

}  // namespace quiesce::check_detail
