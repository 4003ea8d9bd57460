// Progress lines on a terminal: a line that wraps leaves its first part
// behind when "\r" takes it back, so each is cut to the terminal's width.
#pragma once

#include <string>

namespace quiesce {

// The line cut to `columns` terminal columns (the last left free), never
// inside a UTF-8 character; as is when `columns` is unknown (< 2).
std::string fit_width(const std::string& line, unsigned columns);
// fit_width to standard output's terminal; as is when it is not one.
std::string fit_terminal(const std::string& line);

}  // namespace quiesce
