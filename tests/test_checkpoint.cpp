// In-process branching (sim/core/checkpoint.h): after rollback() the process
// is back in take() with its memory as it was there - a global, the heap, a
// mapping written, unmapped or made since, the stack - and the descriptors
// opened since are closed. Each pass reports through a memfd opened before
// take(), which is not rolled back; runs in a forked child.
#include "sim/core/checkpoint.h"
#include "sim/core/written_pages.h"
#include "sim/explore/explore.h"
#include "sim/scenario/executor.h"
#include "tests/child.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace quiesce;
using quiesce::test::Facts;
using quiesce::test::in_child;

namespace {
int g_value = 5;

std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    ::lseek(fd, 0, SEEK_SET);
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
    return out;
}
}  // namespace

TEST_CASE("checkpoint: rollback brings memory, mappings and descriptors back to take()", "[checkpoint]") {
    {
        Checkpoint probe;
        std::string why;
        if (!probe.ready(why)) {
            WARN("no in-process checkpoints here: " << why);
            return;
        }
    }
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

TEST_CASE("checkpoint: variants run in the prefix process and rolled back give the forked variants' runs",
          "[checkpoint][explore]") {
    {
        Checkpoint probe;
        std::string why;
        if (!probe.ready(why)) {
            WARN("no in-process checkpoints here: " << why);
            return;
        }
    }
    // s3-basic's phase sweep: callback-fail and power-loss at every phase and
    // device, forked at 19 pauses of one prefix run, or run there in turn.
    Scenario s = load_scenario(std::string(QUIESCE_DATA_DIR) + "/regression/s3-basic.toml");
    s.trace = TraceLevel::Summary;
    RunResult base = execute(s);
    std::vector<FaultPoint> points = fault_points(base.stream, {"callback-fail", "power-loss"});
    REQUIRE(points.size() > 20);
    std::vector<Scenario> variants;
    for (const auto& p : points) variants.push_back(variant_of(s, p));
    std::vector<size_t> alone;
    PrefixPlan plan = prefix_plan(base.stream, points, alone);
    REQUIRE(alone.empty());
    std::map<size_t, RunResult> forked, rolled;
    execute_branched(s, base.stream, plan.steps, plan.members, variants, 2,
                     [&](size_t i, RunResult r) { forked[i] = std::move(r); });
    execute_branched(
        s, base.stream, plan.steps, plan.members, variants, 2, [&](size_t i, RunResult r) { rolled[i] = std::move(r); },
        true);
    REQUIRE(forked.size() == points.size());
    REQUIRE(rolled.size() == points.size());
    std::set<std::string> outcomes;
    for (size_t i = 0; i < points.size(); ++i) {
        INFO(points[i].rule << ": " << rolled[i].message);
        CHECK((forked[i].status == "passed" || forked[i].status == "failed"));
        CHECK(rolled[i].status == forked[i].status);
        CHECK(rolled[i].message == forked[i].message);
        CHECK(rolled[i].stream.digest == forked[i].stream.digest);
        outcomes.insert(std::to_string(forked[i].stream.digest));
    }
    CHECK(outcomes.size() > 10);  // the variants differ: each rolled back before the next
}
