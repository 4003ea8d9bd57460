// Galibert for hibernation, paths (issue 21 item 6): the writer's open file is
// a handle in the kernel's table, carried by the image as name=value text;
// another OS changing the file while the machine is off (offline-fs-write)
// gets the handle revoked under galibert-s4, and linux-s4 writes on.
#include "files.h"
#include "tmpfile.h"

#include "sim/scenario/executor.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace quiesce;

namespace {

// The named instants of a run, as "name key=value" for the keys asked.
std::vector<std::string> instants(const RunResult& r, const std::string& name, const std::vector<std::string>& keys) {
    std::vector<std::string> out;
    for (const auto& ev : r.stream.events) {
        if (ev.kind != EvKind::Instant || ev.name != name) continue;
        std::string line = name;
        for (const auto& k : keys) line += " " + k + "=" + arg_value(ev, k);
        out.push_back(line);
    }
    return out;
}

RunResult run_text(const std::string& text) {
    test::TempFile f(text);
    return execute(load_scenario(f.path()));
}

std::string without_fault(std::string text) { return text.substr(0, text.find("[[fault]]")) + "[expect]\nresult = \"pass\"\n"; }

}  // namespace

TEST_CASE("file handles: galibert-s4 revokes the writer's handle when another OS wrote its file, and drops the stale cache",
          "[fs][galibert]") {
    RunResult r = execute(test::load_regression("s4-galibert-file-revoke"));
    CHECK(r.status == "passed");
    CHECK(r.violations.empty());
    CHECK(instants(r, "offline-fs-write", {"op", "version_before", "version"}) ==
          std::vector<std::string>{"offline-fs-write op=write version_before=18 version=19"});
    CHECK(instants(r, "file-revalidate", {"result", "why"}) ==
          std::vector<std::string>{"file-revalidate result=revoked why=changed: change counter 19 and size 18 on the "
                                   "disk, the handle knows 18 and 18"});
    auto reread = instants(r, "fs-reread", {"dropped", "rc"});
    REQUIRE(reread.size() == 1);
    CHECK(reread[0] != "fs-reread dropped=0 rc=0");
    CHECK(instants(r, "task-ebadf", {"task"}) == std::vector<std::string>{"task-ebadf task=writer"});
    // The same fault under linux-s4: nothing reads the file again.
    RunResult l = execute(test::load_regression("s4-offline-fs-write"));
    CHECK(l.status == "passed");  // its expected violations were found
    CHECK(l.violations == std::set<std::string>{"revoke.stale-handle", "fs.cache-divergence", "fs.foreign-change-lost"});
    CHECK(instants(l, "file-revalidate", {"result"}).empty());
    CHECK(instants(l, "task-ebadf", {"task"}).empty());
}

TEST_CASE("file handles: with nothing changed on the disk the handle stays valid, under both protocols",
          "[fs][galibert]") {
    const std::string g = without_fault(test::read_text(test::regression("s4-galibert-file-revoke")));
    RunResult r = run_text(g);
    CHECK(r.status == "passed");
    CHECK(r.violations.empty());
    CHECK(instants(r, "file-revalidate", {"result"}) == std::vector<std::string>{"file-revalidate result=valid"});
    CHECK(instants(r, "task-ebadf", {"task"}).empty());
    const std::string l = without_fault(test::read_text(test::regression("s4-offline-fs-write")));
    RunResult lr = run_text(l);
    CHECK(lr.status == "passed");
    CHECK(lr.violations.empty());
}

TEST_CASE("file handles: offline-fs-write and file_handle are checked as input", "[fs][galibert]") {
    const std::string s4 = test::read_text(test::regression("s4-galibert-file-revoke"));
    auto error_of = [](const std::string& text) { return test::input_error(text, load_scenario); };
    std::string bad = s4;
    bad.replace(bad.find("op = \"write\""), 12, "op = \"move\"");
    CHECK(error_of(bad).find("fault[0].op: must be \"write\" or \"delete\"") != std::string::npos);
    bad = s4;
    bad.replace(bad.find("file_block = 0"), 14, "file_block = 4096");
    CHECK(error_of(bad).find("file_block") != std::string::npos);
    const std::string s3 = test::read_text(test::regression("s3-basic")) + "\n[[fault]]\nkind = \"offline-fs-write\"\n";
    CHECK(error_of(s3).find("offline-fs-write needs a hibernation protocol") != std::string::npos);
    bad = s4;
    bad.replace(bad.find("file_handle = true"), 18, "file_handle = true\nwriter_blocks = 0");
    CHECK(error_of(bad) != "no error");
}
