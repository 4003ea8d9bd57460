// Running the quiesce executable from a test, as CI owners and researchers
// call it: exit status and everything it printed (stdout and stderr).
#pragma once

#include "files.h"  // regression(name): a regression scenario's path

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

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

// quiesce ARGS in a child process of its own, its output to /dev/null, not
// waited for: the caller kills it, or reaps it (wait4 for its rusage).
inline pid_t spawn(const std::vector<std::string>& args) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        std::vector<char*> argv;
        argv.push_back(const_cast<char*>(QUIESCE_BIN));
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        ::dup2(null, 2);
        ::execv(QUIESCE_BIN, argv.data());
        ::_exit(127);
    }
    return pid;
}

// The paths tmp_path handed out, removed when the test process ends (with
// SQLite's side files), by that process only: a forked child that exits
// leaves its parent's files alone.
class TmpPaths {
public:
    void add(const std::string& path) { paths_.push_back(path); }
    ~TmpPaths() {
        if (::getpid() != owner_) return;
        for (const std::string& p : paths_)
            for (const char* side : {"", "-wal", "-shm", "-journal"}) {
                std::error_code ec;  // already gone, or never made: nothing to do
                std::filesystem::remove_all(p + side, ec);
            }
    }

private:
    pid_t owner_ = ::getpid();
    std::vector<std::string> paths_;
};
inline TmpPaths& tmp_paths() {
    static TmpPaths paths;
    return paths;
}

// A path in the temporary directory, unique to this test process, removed
// first and again when the process ends (tests/tmp_clean.sh).
inline std::string tmp_path(const std::string& name) {
    auto p = std::filesystem::temp_directory_path() / ("quiesce-test-" + std::to_string(getpid()) + "-" + name);
    std::filesystem::remove_all(p);
    tmp_paths().add(p.string());
    return p.string();
}

}  // namespace quiesce::test
