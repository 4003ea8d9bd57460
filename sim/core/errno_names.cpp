// Linux errno names as driver files write them, to numbers and back.
#include "sim/core/errno_names.h"

#include <cstdlib>
#include <utility>

namespace quiesce {

namespace {
const std::pair<const char*, int> kErrnos[] = {
    {"EPERM", 1},   {"ENOENT", 2},     {"EINTR", 4},       {"EIO", 5},         {"ENXIO", 6},
    {"EAGAIN", 11}, {"ENOMEM", 12},    {"EFAULT", 14},     {"EBUSY", 16},      {"ENODEV", 19},
    {"EINVAL", 22}, {"ENOSPC", 28},    {"EPIPE", 32},      {"ENODATA", 61},    {"EPROTO", 71},
    {"EOPNOTSUPP", 95}, {"ESHUTDOWN", 108}, {"ETIMEDOUT", 110}, {"EINPROGRESS", 115}, {"ECANCELED", 125},
};
}  // namespace

int parse_errno(const std::string& text) {
    std::string t = text;
    const bool minus = !t.empty() && t[0] == '-';
    if (minus) t = t.substr(1);
    if (!t.empty() && t.find_first_not_of("0123456789") == std::string::npos && t.size() < 5) {
        const int n = std::atoi(t.c_str());
        return n > 0 && n < 4096 ? -n : 0;
    }
    for (const auto& [name, n] : kErrnos)
        if (t == name) return -n;
    return 0;
}

std::string errno_help() {
    std::string s;
    for (const auto& [name, n] : kErrnos) s += (s.empty() ? "" : ", ") + std::string(name);
    return s;
}

}  // namespace quiesce
