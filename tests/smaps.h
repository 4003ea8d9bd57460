// What /proc/self/smaps says of one mapping, for the tests of huge pages.
#pragma once

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

namespace quiesce::test {

// The smaps fields of the mapping holding `p`: its VmFlags ("hg": advised
// to take huge pages) and how much of it is in huge pages.
struct Mapping {
    std::string flags;
    size_t huge_kb = 0;
};
inline Mapping mapping_of(const void* p) {
    std::ifstream in("/proc/self/smaps");
    Mapping m;
    bool inside = false;
    for (std::string line; std::getline(in, line);) {
        unsigned long lo = 0, hi = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) {
            inside = reinterpret_cast<uintptr_t>(p) >= lo && reinterpret_cast<uintptr_t>(p) < hi;
            continue;
        }
        if (!inside) continue;
        if (line.rfind("VmFlags:", 0) == 0) m.flags = line.substr(8);
        if (line.rfind("AnonHugePages:", 0) == 0) m.huge_kb = std::stoul(line.substr(14));
    }
    return m;
}

}  // namespace quiesce::test
