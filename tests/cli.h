// Running the quiesce executable from a test, as CI owners and researchers
// call it: exit status and everything it printed (stdout and stderr).
#pragma once

#include "files.h"  // regression(name): a regression scenario's path

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

namespace quiesce::test {

struct Cli {
    int status;
    std::string out;
};

inline Cli shell(const std::string& command) {
    std::string cmd = command + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p);
    std::string out;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    int st = pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

// quiesce ARGS
inline Cli sh(const std::string& args) { return shell(std::string(QUIESCE_BIN) + " " + args); }

// A path in the temporary directory, unique to this test process, removed first.
inline std::string tmp_path(const std::string& name) {
    auto p = std::filesystem::temp_directory_path() / ("quiesce-test-" + std::to_string(getpid()) + "-" + name);
    std::filesystem::remove_all(p);
    return p.string();
}

}  // namespace quiesce::test
