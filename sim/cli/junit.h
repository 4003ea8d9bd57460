// JUnit XML for CI (reference/trace-and-ecosystem.md §4.1): one testsuite, one
// testcase per scenario run (classname = scenario directory, name = scenario),
// cocotb-style properties (seed, simulated time, trace database and run id),
// failure text with the one-line reason.
#pragma once

#include <string>
#include <vector>

namespace quiesce {

struct JunitCase {
    std::string classname;
    std::string name;
    std::string file;
    double time_s = 0;
    std::string status;   // passed | failed | crashed | timeout
    std::string message;
    std::vector<std::pair<std::string, std::string>> properties;
};

std::string junit_xml(const std::string& suite, const std::vector<JunitCase>& cases);
// Writes `content` to PATH.tmp, then renames it to `path`: a reader sees the
// old file or the whole new one. A failure leaves no PATH.tmp and throws an
// EnvironmentError when the machine refused (a full disk, a file-size
// limit, an I/O error), an InputError otherwise.
void write_file_atomically(const std::string& path, const std::string& content);

}  // namespace quiesce
