// In-process branching (sim/core/checkpoint.h): after rollback() the process
// is back in take() with its memory as it was there - a global, the heap, a
// mapping written, unmapped or made since, the stack - and the descriptors
// opened since are closed. Each pass reports through a memfd opened before
// take(), which is not rolled back; runs in a forked child.
#include "sim/core/checkpoint.h"
#include "sim/core/turns.h"
#include "sim/core/written_pages.h"
#include "sim/explore/explore.h"
#include "sim/scenario/executor.h"
#include "tests/child.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace quiesce;
using quiesce::test::Facts;
using quiesce::test::in_child;

namespace {
int g_value = 5;

// Whether this kernel lets this process make checkpoints; a warning when
// not (the test then has nothing to check).
bool checkpoints_here() {
    std::string why;
    if (Checkpoint::available(why)) return true;
    WARN("no in-process checkpoints here: " << why);
    return false;
}

std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    ::lseek(fd, 0, SEEK_SET);
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
    return out;
}
}  // namespace

TEST_CASE("checkpoint: rollback brings memory, mappings and descriptors back to take()", "[checkpoint]") {
    if (!checkpoints_here()) return;
    Facts f = in_child([](Facts& facts) {
        const size_t ps = page_size();
        auto* heap = new std::vector<int>(1000, 7);
        char* m = static_cast<char*>(::mmap(nullptr, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        std::memset(m, 'a', 3 * ps);  // the fourth page never touched
        const int log = ::memfd_create("checkpoint-test", 0);
        volatile int on_stack = 11;
        Checkpoint cp;
        const size_t pass = cp.take();
        std::string line = "pass" + std::to_string(pass) + ": " + std::to_string(g_value) + " " +
                           std::to_string((*heap)[500]) + " " + std::to_string(heap->size()) + " " + m[0] + m[2 * ps] +
                           " " + std::to_string(int(m[3 * ps])) + " " + std::to_string(on_stack) + "\n";
        (void)!::write(log, line.data(), line.size());
        if (pass < 2) {
            g_value = 99;
            (*heap)[500] = 1;
            heap->resize(200000, 3);  // a bigger block: moved, maybe to a mapping of its own
            m[0] = 'z';
            m[3 * ps] = 'q';
            ::munmap(m + 2 * ps, ps);  // a page unmapped...
            ::mmap(nullptr, 8 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);  // ...one made
            const int extra = ::open("/proc/self/stat", O_RDONLY);
            std::string fds = "fd" + std::to_string(pass) + ": " + std::to_string(extra) + "\n";
            (void)!::write(log, fds.data(), fds.size());
            on_stack = 42;
            cp.rollback();
        }
        cp.release();
        const int again = ::open("/proc/self/stat", O_RDONLY);
        std::string text = read_all(log);  // one line per fact: the log's lines joined by '|'
        for (char& c : text)
            if (c == '\n') c = '|';
        facts["log"] = text;
        facts["reopened"] = std::to_string(again);
        facts["stats"] = std::to_string(cp.stats().written_pages) + " " + std::to_string(cp.stats().remapped) + " " +
                         std::to_string(cp.stats().unmapped) + " " + std::to_string(cp.stats().closed);
    });
    INFO(f["log"]);
    // Every pass sees what take() saw: 5, 7, 1000 elements, "aa", an untouched page, 11.
    CHECK(f["log"].find("pass0: 5 7 1000 aa 0 11|") != std::string::npos);
    CHECK(f["log"].find("pass1: 5 7 1000 aa 0 11|") != std::string::npos);
    CHECK(f["log"].find("pass2: 5 7 1000 aa 0 11|") != std::string::npos);
    // The descriptor opened in a pass is closed by the rollback: the same number again.
    REQUIRE(f["log"].find("fd0: ") != std::string::npos);
    REQUIRE(f["log"].find("fd1: ") != std::string::npos);
    const std::string fd0 = f["log"].substr(f["log"].find("fd0: ") + 5), fd1 = f["log"].substr(f["log"].find("fd1: ") + 5);
    CHECK(fd0.substr(0, fd0.find('|')) == fd1.substr(0, fd1.find('|')));
    CHECK(f["reopened"] == fd0.substr(0, fd0.find('|')));
    INFO(f["stats"]);
    CHECK(f["stats"].substr(f["stats"].find(' ') + 1, 1) != "0");  // the unmapped page mapped again
}

TEST_CASE("checkpoint: one made before a fork rolls the child back, not its parent", "[checkpoint]") {
    Checkpoint cp;  // its userfaultfd and /proc/self/pagemap are this process's
    std::string why;
    if (!cp.ready(why)) {
        WARN("no in-process checkpoints here: " << why);
        return;
    }
    auto* heap = new std::vector<int>(5000, 7);
    Facts f = in_child([&](Facts& facts) {
        const int log = ::memfd_create("checkpoint-fork-test", 0);
        const size_t pass = cp.take();  // in the child: its own descriptors
        const std::string line = std::to_string(pass) + ":" + std::to_string((*heap)[4000]) + "|";
        (void)!::write(log, line.data(), line.size());
        if (pass < 2) {
            (*heap)[4000] = int(100 + pass);
            cp.rollback();
        }
        cp.release();
        facts["log"] = read_all(log);
    });
    CHECK(f["log"] == "0:7|1:7|2:7|");
    CHECK((*heap)[4000] == 7);
    delete heap;
}

TEST_CASE("turns: each turn starts from the same point, and a crash, an abort or a limit ends only its own",
          "[checkpoint][turns]") {
    if (!checkpoints_here()) return;
    Facts f = in_child([](Facts& facts) {
        const int log = ::memfd_create("turns-test", 0);
        auto* heap = new std::vector<int>(100, 1);
        Turns turns(6);
        std::string not_ready;
        if (!turns.ready(not_ready)) {
            facts["error"] = not_ready;
            return;
        }
        const size_t i = turns.next();  // returns again after each turn
        std::string tail = i ? turns.error_tail() : "";
        for (char& c : tail)
            if (c == '\n') c = ' ';
        const std::string line = std::to_string(i) + ":" + std::to_string(turns.died()) + ":" +
                                 std::to_string((*heap)[0]) + ":" + std::to_string(heap->size()) + ":" + tail + "|";
        (void)!::write(log, line.data(), line.size());
        if (i == 6) {
            facts["log"] = read_all(log);
            return;
        }
        turns.start(i == 3 ? 0.05 : 30, i == 4 ? 0.05 : 30);
        (*heap)[0] = int(100 + i);
        heap->resize(5000, 2);
        std::fprintf(stderr, "turn %zu\n", i);
        int* volatile nowhere = nullptr;
        volatile int zero = 0, seven = 7;
        switch (i) {
        case 1: *nowhere = 1; break;  // SIGSEGV
        case 2: std::abort();
        case 3:  // its CPU-time limit
            for (volatile uint64_t x = 0;; x = x + 1) {
            }
        case 4:  // its wall-clock limit
            for (;;) ::pause();
        case 5: zero = seven / zero; break;  // SIGFPE
        default: break;
        }
        (void)!::write(turns.stream_fd(), "stream", 6);
        turns.stop();
        const std::string out = "out" + std::to_string(i) + "=" + turns.output() + "|";
        (void)!::write(log, out.data(), out.size());
        turns.end();
    });
    REQUIRE(f["error"].empty());
    INFO(f["log"]);
    // Every turn sees the heap as at next()'s first call, and learns how
    // the one before ended, with its stderr.
    CHECK(f["log"] == "0:0:1:100:|out0=stream|1:0:1:100:turn 0 |2:" + std::to_string(SIGSEGV) + ":1:100:turn 1 |3:" +
                          std::to_string(SIGABRT) + ":1:100:turn 2 |4:" + std::to_string(SIGPROF) + ":1:100:turn 3 |5:" +
                          std::to_string(SIGALRM) + ":1:100:turn 4 |6:" + std::to_string(SIGFPE) + ":1:100:turn 5 |");
}

namespace {
// s3-basic's variants that differ from time 0 (PCT schedules and timings):
// all forked from the zygote, paused at time 0, or run there in turn.
struct TimeZero {
    Scenario s;
    RunResult base;
    std::vector<FaultPoint> points;
    std::vector<Scenario> variants;
    PrefixPlan plan;
    TimeZero() {
        s = load_scenario(std::string(QUIESCE_DATA_DIR) + "/regression/s3-basic.toml");
        s.trace = TraceLevel::Summary;
        base = execute(s);
        points = pct_points(10, 3, 20'000);
        for (auto& p : timing_points(10, 20)) points.push_back(std::move(p));
        for (const auto& p : points) variants.push_back(variant_of(s, p));
        std::vector<size_t> alone;
        plan = prefix_plan(base.stream, points, alone);
    }
    std::map<size_t, RunResult> run(Branching way) const {
        std::map<size_t, RunResult> out;
        execute_branched(
            s, base.stream, plan.steps, plan.zygote, variants, 2, [&](size_t i, RunResult r) { out[i] = std::move(r); },
            way);
        return out;
    }
};
}  // namespace

TEST_CASE("checkpoint: variants run in turn and rolled back give the forked variants' runs", "[checkpoint][explore]") {
    if (!checkpoints_here()) return;
    TimeZero z;
    REQUIRE(z.plan.zygote.size() == 20);  // at one pause: two workers of ten
    const char* log = "/tmp/quiesce-test-turns.log";
    std::remove(log);
    ::setenv("QUIESCE_CHECKPOINT_LOG", log, 1);
    std::map<size_t, RunResult> rolled = z.run(Branching::Rollback);
    ::unsetenv("QUIESCE_CHECKPOINT_LOG");
    std::map<size_t, RunResult> forked = z.run(Branching::Fork);
    REQUIRE(forked.size() == z.points.size());
    REQUIRE(rolled.size() == z.points.size());
    std::set<std::string> outcomes;
    for (size_t i = 0; i < z.points.size(); ++i) {
        INFO(z.points[i].rule << ": " << rolled[i].message);
        CHECK((forked[i].status == "passed" || forked[i].status == "failed"));
        CHECK(rolled[i].status == forked[i].status);
        CHECK(rolled[i].message == forked[i].message);
        CHECK(rolled[i].stream.digest == forked[i].stream.digest);
        outcomes.insert(std::to_string(forked[i].stream.digest));
    }
    CHECK(outcomes.size() > 10);  // the variants differ: each rolled back before the next
    // They did run in turn: two takes (a worker each), 18 rollbacks (the last of each just ends).
    std::ifstream in(log);
    size_t takes = 0, rollbacks = 0;
    for (std::string line; std::getline(in, line);) {
        takes += line.rfind("take ", 0) == 0;
        rollbacks += line.rfind("rollback ", 0) == 0;
    }
    CHECK(takes == 2);
    CHECK(rollbacks == 18);
    std::remove(log);
}

TEST_CASE("checkpoint: a variant run in turn past its wall-clock limit is its own timeout, and the others run",
          "[checkpoint][explore]") {
    if (!checkpoints_here()) return;
    TimeZero z;
    // The first worker's third and the second's sixth (a CPU-time limit is
    // counted in the kernel's ticks: too coarse for a run of milliseconds;
    // the turns test above checks that one).
    z.variants[z.plan.zygote[2]].wall_limit_s = 1e-4;
    z.variants[z.plan.zygote[15]].wall_limit_s = 1e-4;
    std::map<size_t, RunResult> rolled = z.run(Branching::Rollback);
    REQUIRE(rolled.size() == z.points.size());
    for (size_t j = 0; j < z.plan.zygote.size(); ++j) {
        const RunResult& r = rolled[z.plan.zygote[j]];
        INFO(j << " " << z.points[z.plan.zygote[j]].rule << ": " << r.status << " " << r.message);
        if (j == 2 || j == 15) {
            CHECK(r.status == "timeout");
            CHECK(r.message.find("wall-clock") != std::string::npos);
        } else {
            CHECK((r.status == "passed" || r.status == "failed"));
        }
    }
}
