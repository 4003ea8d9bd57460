// TraceDb's error paths (issue 19 #13, #14): a failed open is an input
// error, a write the disk cannot take an environment error; both leak
// nothing, and a database the constructor created is not left behind. And
// a database killed at any point of its life reads read-only.
#include "cli.h"

#include "sim/core/errors.h"
#include "sim/core/paths.h"
#include "sim/trace/db_write.h"
#include "sim/trace/trace_db.h"
#include "smaps.h"

#include <sqlite3.h>
#include <fcntl.h>
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

namespace {

// A VFS over the default one that kills this process with SIGKILL just
// before its Nth change to a file: a write, a truncation, a sync or a
// deletion (of the database, its -journal, -wal or -shm). Set up in a
// forked child only. The -shm's changes are through mmap: what they hold
// at the kill is what they hold.
struct KillVfs {
    static inline sqlite3_vfs* real = nullptr;
    static inline sqlite3_vfs vfs{};
    static inline sqlite3_io_methods methods{};
    static inline int left = 0;  // changes before the kill
    struct File {
        sqlite3_file base;
        sqlite3_file* real;  // the default VFS's file, allocated after this struct
    };
    static void change() {
        if (--left == 0) ::raise(SIGKILL);
    }
    static sqlite3_file* of(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

    static void install(int kill_at) {
        left = kill_at;
        real = sqlite3_vfs_find(nullptr);
        vfs = *real;
        vfs.zName = "quiesce-kill";
        vfs.szOsFile = int(sizeof(File)) + real->szOsFile;
        vfs.xOpen = [](sqlite3_vfs*, const char* name, sqlite3_file* f, int flags, int* out) {
            File* k = reinterpret_cast<File*>(f);
            k->real = reinterpret_cast<sqlite3_file*>(k + 1);
            const int rc = real->xOpen(real, name, k->real, flags, out);
            // No methods when the open failed: SQLite then closes nothing.
            k->base.pMethods = k->real->pMethods ? &methods : nullptr;
            return rc;
        };
        vfs.xDelete = [](sqlite3_vfs*, const char* name, int sync) {
            change();
            return real->xDelete(real, name, sync);
        };
        vfs.xAccess = [](sqlite3_vfs*, const char* n, int flags, int* out) { return real->xAccess(real, n, flags, out); };
        vfs.xFullPathname = [](sqlite3_vfs*, const char* n, int size, char* out) {
            return real->xFullPathname(real, n, size, out);
        };
        methods.iVersion = 3;
        methods.xClose = [](sqlite3_file* f) { return of(f)->pMethods->xClose(of(f)); };
        methods.xRead = [](sqlite3_file* f, void* p, int n, sqlite3_int64 at) {
            return of(f)->pMethods->xRead(of(f), p, n, at);
        };
        methods.xWrite = [](sqlite3_file* f, const void* p, int n, sqlite3_int64 at) {
            change();
            return of(f)->pMethods->xWrite(of(f), p, n, at);
        };
        methods.xTruncate = [](sqlite3_file* f, sqlite3_int64 size) {
            change();
            return of(f)->pMethods->xTruncate(of(f), size);
        };
        methods.xSync = [](sqlite3_file* f, int flags) {
            change();
            return of(f)->pMethods->xSync(of(f), flags);
        };
        methods.xFileSize = [](sqlite3_file* f, sqlite3_int64* size) {
            return of(f)->pMethods->xFileSize(of(f), size);
        };
        methods.xLock = [](sqlite3_file* f, int l) { return of(f)->pMethods->xLock(of(f), l); };
        methods.xUnlock = [](sqlite3_file* f, int l) { return of(f)->pMethods->xUnlock(of(f), l); };
        methods.xCheckReservedLock = [](sqlite3_file* f, int* out) {
            return of(f)->pMethods->xCheckReservedLock(of(f), out);
        };
        methods.xFileControl = [](sqlite3_file* f, int op, void* arg) {
            return of(f)->pMethods->xFileControl(of(f), op, arg);
        };
        methods.xSectorSize = [](sqlite3_file* f) { return of(f)->pMethods->xSectorSize(of(f)); };
        methods.xDeviceCharacteristics = [](sqlite3_file* f) {
            return of(f)->pMethods->xDeviceCharacteristics(of(f));
        };
        methods.xShmMap = [](sqlite3_file* f, int page, int size, int extend, void volatile** out) {
            return of(f)->pMethods->xShmMap(of(f), page, size, extend, out);
        };
        methods.xShmLock = [](sqlite3_file* f, int at, int n, int flags) {
            return of(f)->pMethods->xShmLock(of(f), at, n, flags);
        };
        methods.xShmBarrier = [](sqlite3_file* f) { of(f)->pMethods->xShmBarrier(of(f)); };
        methods.xShmUnmap = [](sqlite3_file* f, int del) {
            // Removing the -shm is a change too.
            if (del) change();
            return of(f)->pMethods->xShmUnmap(of(f), del);
        };
        methods.xFetch = [](sqlite3_file* f, sqlite3_int64 at, int n, void** out) {
            return of(f)->pMethods->xFetch(of(f), at, n, out);
        };
        methods.xUnfetch = [](sqlite3_file* f, sqlite3_int64 at, void* p) {
            return of(f)->pMethods->xUnfetch(of(f), at, p);
        };
        sqlite3_vfs_register(&vfs, 1);  // the default: TraceDb's connection uses it
    }
};

// What a read-only reader (sqlite3 -readonly) makes of `path`: "missing",
// integrity_check's answer, or the error that stopped it.
std::string read_only_check(const std::string& path) {
    if (!std::filesystem::exists(path)) return "missing";
    sqlite3* db = nullptr;
    std::string out;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
        out = std::string("open: ") + sqlite3_errmsg(db);
    } else {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) != SQLITE_OK)
            out = std::string("prepare: ") + sqlite3_errmsg(db);
        else
            while (sqlite3_step(st) == SQLITE_ROW) out += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        // A run without its tracks is a half-written one ("" before the schema is in).
        if (out == "ok" && sqlite3_prepare_v2(db,
                                              "SELECT count(*) FROM run r WHERE NOT EXISTS"
                                              " (SELECT 1 FROM track t WHERE t.run_id = r.id)",
                                              -1, &st, nullptr) == SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) != 0) out = "a run without tracks";
            sqlite3_finalize(st);
        }
    }
    sqlite3_close(db);
    return out;
}

}  // namespace

TEST_CASE("trace_db: killed at any write, sync or removal of a new database, it reads read-only (sqlite3 -readonly)",
          "[campaign][trace_db]") {
    // tests/kill_campaigns.sh once found a killed `quiesce run`'s database
    // that `sqlite3 -readonly` could not read ("attempt to write a readonly
    // database"): made WAL with a rollback journal, killed between the first
    // page and the journal's removal, it had a hot journal, which only a
    // writer may roll back. Here every kill point of a database's life -
    // created, a campaign begun, a run recorded, the campaign ended, closed -
    // in turn, in a child.
    const std::string dir = tmp_path("trace-db-kill");
    int points = 0;
    for (int n = 1;; ++n) {
        REQUIRE(n < 1000);  // the child ends on its own long before
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
        const std::string path = dir + "/k.db";
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            KillVfs::install(n);
            try {
                quiesce::TraceDb db(path);
                db.begin_campaign("quiesce run s3-basic.toml", {"s3-basic.toml"}, 1);
                quiesce::RunMeta meta;
                meta.scenario = "s3-basic";
                meta.status = "passed";
                meta.expected = "pass";
                quiesce::RunStream stream;
                stream.tracks.push_back({"cpu0", "", "cpu", "cpu", 1000000000});
                db.record(meta, stream);
                db.end_campaign("finished");
            } catch (...) {
                ::_exit(3);
            }
            ::_exit(0);
        }
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        // Read before anything else opens it (a writer would roll a hot journal back).
        const std::string seen = read_only_check(path);
        INFO("killed before change " << n << " of the database's files; read-only: " << seen);
        CHECK((seen == "missing" || seen == "ok"));
        if (WIFEXITED(status)) {
            REQUIRE(WEXITSTATUS(status) == 0);
            break;
        }
        REQUIRE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
        ++points;
    }
    REQUIRE(points > 10);
    std::filesystem::remove_all(dir);
}

// LeakSanitizer's own check, when the tests are built with it (weak: null otherwise).
extern "C" int __lsan_do_recoverable_leak_check() __attribute__((weak));

TEST_CASE("trace_db: a database whose open fails is an input error, one whose first write fails an environment error, "
          "neither leaks",
          "[campaign][trace_db]") {
    // Both paths once leaked the connection (issue 19 #13): in a forked
    // child that, under ASan (make test SANITIZE=1), runs LeakSanitizer's
    // check itself and ends with _exit. Not exit(): its static destructors
    // flush std::cout, which Catch2's junit reporter (-r junit, as
    // scripts/mutate.py runs the tests) points at a buffer destroyed just
    // before - the child died of SIGSEGV.
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
        if (__lsan_do_recoverable_leak_check && __lsan_do_recoverable_leak_check()) code = 23;
        ::_exit(code);
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

// Run by the test below in a process of its own (hidden: "[.]"): the first
// database this process opens sets SQLite up without memory statistics, and
// with its page cache in a buffer a forked child gets wiped.
TEST_CASE("trace db: a fresh process's SQLite keeps no memory statistics and its page cache apart", "[.][fresh-sqlite]") {
    const std::string path = tmp_path("memstatus.db");
    std::filesystem::remove(path);
    {
        quiesce::TraceDb db(path);
        CHECK(quiesce::trace_detail::configure_sqlite());
        // With the statistics kept, SQLite counts every byte it holds: a
        // database open and set up holds some.
        CHECK(sqlite3_memory_used() == 0);
        // The pages of the database just set up are in the buffer's slots
        // (without it, SQLite takes each from malloc: none used).
        const quiesce::trace_detail::PageCacheBuffer buf = quiesce::trace_detail::page_cache_buffer();
        REQUIRE(buf.base != nullptr);
        int used = 0, high = 0;
        REQUIRE(sqlite3_status(SQLITE_STATUS_PAGECACHE_USED, &used, &high, 0) == SQLITE_OK);
        CHECK(used > 0);
        // ... and the buffer is wiped in a forked child ("wf"), not shared.
        const std::string flags = quiesce::test::mapping_of(buf.base).flags;
        CHECK(flags.find(" wf") != std::string::npos);
        // A child forked with the database open may open one of its own and
        // write it (its cache from malloc, the wiped slots aside).
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            sqlite3* mem = nullptr;
            bool ok = sqlite3_open(":memory:", &mem) == SQLITE_OK &&
                      sqlite3_exec(mem,
                                   "CREATE TABLE t(x); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                                   "WHERE i < 20000) INSERT INTO t SELECT randomblob(100) FROM n;",
                                   nullptr, nullptr, nullptr) == SQLITE_OK;
            sqlite3_stmt* st = nullptr;
            ok = ok && sqlite3_prepare_v2(mem, "SELECT count(*) FROM t", -1, &st, nullptr) == SQLITE_OK &&
                 sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 20000;
            sqlite3_finalize(st);
            sqlite3_close(mem);
            ::_exit(ok ? 0 : 1);
        }
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
        // The parent's database goes on.
        db.begin_campaign("test", {}, 0);
        db.end_campaign("finished");
    }
    std::filesystem::remove(path);
}

TEST_CASE("trace db: SQLite keeps no memory statistics and its page cache apart where quiesce opens a database first", "[trace_db]") {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        const int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        char self[] = "unit_tests", filter[] = "[fresh-sqlite]";
        char* argv[] = {self, filter, nullptr};
        ::execv("/proc/self/exe", argv);
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
