// TraceDb's error paths (issue 19 #13, #14): a failed open is an input
// error, a write the disk cannot take an environment error; both leak
// nothing, and a database the constructor created is not left behind.
#include "cli.h"

#include "sim/core/errors.h"
#include "sim/core/paths.h"
#include "sim/trace/trace_db.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

using quiesce::test::tmp_path;

TEST_CASE("trace_db: a database whose open fails is an input error, one whose first write fails an environment error, "
          "neither leaks",
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
        } catch (const quiesce::EnvironmentError& e) {  // the disk's, not the input's (exit 3)
            if (std::string(e.what()).find("database error") == std::string::npos) code = 12;
        }
        // The empty file was there before: it stays. A database the
        // constructor created goes, with its side files.
        if (!std::filesystem::exists(empty)) code = 13;
        const std::string created = dir + "/created.db";
        try {
            quiesce::TraceDb db(created);
            code = 14;
        } catch (const quiesce::EnvironmentError&) {
        }
        for (const char* side : {"", "-wal", "-shm", "-journal"})
            if (std::filesystem::exists(created + side)) code = 15;
        std::exit(code);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);  // 10-15: see above; 23: LeakSanitizer found a leak
    std::filesystem::remove_all(dir);
}

TEST_CASE("trace_db: a reader whose row callback throws still closes its database and leaves no side files",
          "[trace_db]") {
    const std::string dir = tmp_path("trace-db-each"), path = dir + "/a.db";
    std::filesystem::create_directories(dir);
    { quiesce::TraceDb db(path); }
    REQUIRE_FALSE(std::filesystem::exists(path + "-wal"));
    {
        quiesce::TraceReader reader(path);
        REQUIRE_THROWS_AS(reader.each("SELECT key FROM meta", {},
                                      [](const std::vector<std::string>&) { throw std::runtime_error("stop"); }),
                          std::runtime_error);
        // The statement is gone: the next one reads as usual.
        int rows = 0;
        reader.each("SELECT key FROM meta", {}, [&](const std::vector<std::string>&) { ++rows; });
        REQUIRE(rows == 3);
    }
    // Closed: SQLite removed the -wal and -shm this read needed.
    for (const char* side : {"-wal", "-shm", "-journal"}) REQUIRE_FALSE(std::filesystem::exists(path + side));
    std::filesystem::remove_all(dir);
}
