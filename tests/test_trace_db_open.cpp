// TraceDb's error paths (issue 19 #13): a failed open and a write failure
// inside the constructor are input errors and leak nothing.
#include "cli.h"

#include "sim/core/errors.h"
#include "sim/trace/trace_db.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

using quiesce::test::tmp_path;

TEST_CASE("trace_db: a database whose open fails, or whose first write fails, is an input error and leaks nothing",
          "[campaign][trace_db]") {
    // Both paths once leaked the connection (issue 19 #13): in a forked
    // child that ends with exit(), so that under ASan (make test SANITIZE=1)
    // LeakSanitizer checks that child and fails its exit status.
    const std::string dir = tmp_path("trace-db-open");
    std::filesystem::create_directories(dir);
    const std::string empty = dir + "/empty.db";  // a database to create
    { std::FILE* f = std::fopen(empty.c_str(), "w"); REQUIRE(f); std::fclose(f); }
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int code = 0;
        try {
            quiesce::TraceDb db(dir);  // a directory: sqlite3_open_v2 fails
            code = 10;
        } catch (const quiesce::InputError&) {
        }
        // No file may grow past 0 bytes (root too): it opens, and its first
        // write fails inside the constructor.
        std::signal(SIGXFSZ, SIG_IGN);
        rlimit none{0, 0};
        ::setrlimit(RLIMIT_FSIZE, &none);
        try {
            quiesce::TraceDb db(empty);
            code = 11;
        } catch (const quiesce::InputError& e) {
            if (std::string(e.what()).find("database error") == std::string::npos) code = 12;
        }
        std::exit(code);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);  // 10-12: no input error; 23: LeakSanitizer found a leak
    std::filesystem::remove_all(dir);
}
