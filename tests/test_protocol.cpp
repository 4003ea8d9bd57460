#include "sim/core/errors.h"
#include "sim/pm/protocol.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

using namespace quiesce;

namespace {
std::string builtin(const std::string& name) { return std::string(QUIESCE_DATA_DIR) + "/protocols/" + name + ".toml"; }

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Writes linux-s3 with one substitution applied and loads it.
std::string load_error(const std::string& from, const std::string& to) {
    std::string text = slurp(builtin("linux-s3"));
    size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    char path[] = "/tmp/quiesce-protoXXXXXX.toml";
    int fd = mkstemps(path, 5);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, text.data(), text.size()) == ssize_t(text.size()));
    close(fd);
    std::string msg;
    try {
        load_protocol(path);
    } catch (const InputError& e) {
        msg = e.what();
        REQUIRE(e.file() == path);
    }
    std::remove(path);
    return msg;
}
}  // namespace

TEST_CASE("protocol: linux-s3 loads with the Linux phase sequence", "[protocol]") {
    Protocol p = load_protocol(builtin("linux-s3"));
    REQUIRE(p.name == "linux-s3");
    REQUIRE(p.target == 3);
    std::vector<std::string> names;
    for (const auto& ph : p.suspend) names.push_back(ph.name);
    REQUIRE(names == std::vector<std::string>{"sync", "freeze-tasks", "nvs-alloc", "platform-begin", "restrict-gfp",
                                              "prepare", "suspend", "suspend_late", "suspend-device-irqs",
                                              "suspend_noirq", "platform-prepare", "nvs-save", "cpus-offline",
                                              "irqs-off", "syscore-suspend", "platform-enter"});
    REQUIRE(p.find("suspend")->order == "bottom-up");
    REQUIRE(p.find("prepare")->order == "top-down");
    REQUIRE(p.find("suspend_noirq")->undo == "resume_noirq");
    REQUIRE(p.find("freeze-tasks")->undo == "thaw-tasks");
    REQUIRE(p.resume.back().name == "thaw-tasks");
    REQUIRE(p.find_resume("complete")->order == "bottom-up");
}

TEST_CASE("protocol: callback directions are fixed by the callback family", "[protocol]") {
    REQUIRE(callback_children_first("suspend_noirq"));
    REQUIRE(callback_children_first("complete"));
    REQUIRE_FALSE(callback_children_first("prepare"));
    REQUIRE_FALSE(callback_children_first("resume_noirq"));
}

TEST_CASE("protocol: malformed protocols are rejected with file, line and reason", "[protocol]") {
    std::string e = load_error("action = \"cpus-offline\"", "action = \"cpus-of\"");
    REQUIRE_THAT(e, Catch::Contains("unknown action 'cpus-of'"));
    // "<file>.toml:LINE:COLUMN: phase 'cpus-offline'.action: unknown action 'cpus-of'"
    size_t at = e.find(".toml:");
    REQUIRE(at != std::string::npos);
    REQUIRE(std::isdigit(static_cast<unsigned char>(e[at + 6])));
    REQUIRE_THAT(e, Catch::EndsWith(": phase 'cpus-offline'.action: unknown action 'cpus-of'"));
    // At the value, not at the [[suspend]] table holding it: the line of
    // `action = "cpus-offline"` in the file, the column after `action = `.
    {
        const std::string text = slurp(builtin("linux-s3"));
        const size_t value = text.find("action = \"cpus-offline\"");
        REQUIRE(value != std::string::npos);
        const size_t line = size_t(std::count(text.begin(), text.begin() + long(value), '\n')) + 1;
        const size_t bol = text.rfind('\n', value) + 1;
        const std::string where = ".toml:" + std::to_string(line) + ":" + std::to_string(value - bol + 10) + ": ";
        CHECK(e.find(where) != std::string::npos);
    }
    e = load_error("undo = \"resume_early\"", "undo = \"resume_earlier\"");
    {
        const std::string text = slurp(builtin("linux-s3"));
        const size_t value = text.find("undo = \"resume_early\"");
        const size_t line = size_t(std::count(text.begin(), text.begin() + long(value), '\n')) + 1;
        const size_t bol = text.rfind('\n', value) + 1;
        CHECK(e.find(".toml:" + std::to_string(line) + ":" + std::to_string(value - bol + 8) + ": ") !=
              std::string::npos);
    }

    e = load_error("name = \"suspend-device-irqs\"  # start of dpm_suspend_noirq\naction = \"suspend-device-irqs\"",
                   "name = \"suspend-device-irqs\"\naction = \"cpus-offline\"");
    REQUIRE_THAT(e, Catch::Contains("a _noirq callback runs while device interrupts are enabled"));

    e = load_error("callback = \"suspend_late\"", "callback = \"suspend_lat\"");
    REQUIRE_THAT(e, Catch::Contains("unknown callback 'suspend_lat'"));

    e = load_error("undo = \"resume_early\"", "undo = \"resume_earlier\"");
    REQUIRE_THAT(e, Catch::Contains("no later or resume phase named 'resume_earlier'"));

    e = load_error("name = \"irqs-off\"             # arch_suspend_disable_irqs\naction = \"irqs-off\"",
                   "name = \"irqs-off\"\naction = \"irqs-on\"");
    REQUIRE_THAT(e, Catch::Contains("irqs-on without irqs-off"));

    e = load_error("order = \"bottom-up\"\nundo = \"resume\"", "order = \"sideways\"\nundo = \"resume\"");
    REQUIRE_THAT(e, Catch::Contains("order must be"));

    e = load_error("target = \"S3\"", "target = \"S3\"\nsurprise = 1");
    REQUIRE_THAT(e, Catch::Contains("surprise: unknown key"));

    // A run phase: the system keeps running, so not with interrupts off or
    // CPUs offline, and only it has a duration.
    e = load_error("name = \"syscore-suspend\"\naction = \"syscore-suspend\"",
                   "name = \"syscore-suspend\"\naction = \"run\"\nduration = \"5ms\"");
    REQUIRE_THAT(e, Catch::EndsWith("phase 'syscore-suspend'.action: the system only keeps running with interrupts on and every CPU online"));
    e = load_error("action = \"sync\"", "action = \"run\"");
    REQUIRE_THAT(e, Catch::EndsWith("phase 'sync'.duration: a run phase needs a duration above 0"));
    e = load_error("action = \"sync\"", "action = \"sync\"\nduration = \"1ms\"");
    REQUIRE_THAT(e, Catch::EndsWith("phase 'sync'.duration: only a run phase has a duration"));
    e = load_error("action = \"sync\"", "action = \"run\"\nduration = \"soon\"");
    REQUIRE_THAT(e, Catch::Contains("duration:"));
}

TEST_CASE("protocol: two phases of one name are rejected at the second, with its line and column", "[protocol]") {
    // Within the suspend list: the second "sync" (its name's value at 30:8, in the restrict-gfp phase's table at 29:1).
    std::string e = load_error("name = \"restrict-gfp\" ", "name = \"sync\" ");
    REQUIRE_THAT(e, Catch::EndsWith(".toml:30:8: phase 'sync'.name: another phase has this name (line 9): phase names "
                                    "are unique"));
    // Across the lists: a resume phase named like a suspend phase.
    e = load_error("name = \"platform-finish\" ", "name = \"platform-prepare\" ");
    REQUIRE_THAT(e, Catch::EndsWith(":123:8: phase 'platform-prepare'.name: another phase has this name (line 71): "
                                    "phase names are unique"));
}

TEST_CASE("protocol: linus2006 saves state, keeps running, then suspends as linux-s3", "[protocol]") {
    Protocol p = load_protocol(builtin("linus2006"));
    REQUIRE(p.suspend.size() > 3);
    CHECK(p.suspend[1].callback == "save_state");
    CHECK(p.suspend[2].action == "run");
    CHECK(p.suspend[2].duration == 20'000'000'000ULL);
    CHECK(p.suspend[3].action == "freeze-tasks");
    // linux-s3's resume list less the NVS restore and free (2.6.18 had none).
    CHECK(p.resume.size() + 2 == load_protocol(builtin("linux-s3")).resume.size());
}

TEST_CASE("protocol: interrupts may not be re-enabled inside the noirq section", "[protocol]") {
    Protocol p = load_protocol(builtin("linux-s3"));
    // Move resume_noirq after resume-device-irqs: a _noirq callback with device IRQs on.
    auto at = [&p](const std::string& name) {
        return size_t(std::find_if(p.resume.begin(), p.resume.end(), [&](const Phase& x) { return x.name == name; }) -
                      p.resume.begin());
    };
    std::swap(p.resume[at("resume_noirq")], p.resume[at("resume-device-irqs")]);
    REQUIRE_THROWS_WITH(validate_protocol(p), Catch::Contains("a _noirq callback runs while device interrupts are enabled"));
    Protocol q = load_protocol(builtin("linux-s3"));
    // A callback phase after irqs-off: callbacks may sleep.
    Phase cb = *q.find("suspend");
    cb.name = "late-suspend";
    q.suspend.insert(q.suspend.end() - 1, cb);
    REQUIRE_THROWS_WITH(validate_protocol(q), Catch::Contains("cannot run with interrupts off"));
}

TEST_CASE("protocol: kexec-s4 jumps at an atomic point, galibert-explicit saves and revokes", "[protocol]") {
    Protocol k = load_protocol(builtin("kexec-s4"));
    std::vector<std::string> actions;
    for (const auto& p : k.suspend) actions.push_back(p.action);
    auto jump = std::find(actions.begin(), actions.end(), "kexec-save");
    REQUIRE(jump != actions.end());
    REQUIRE(*(jump - 1) == "syscore-suspend");  // interrupts off, one CPU
    REQUIRE(std::find(actions.begin(), actions.end(), "snapshot") == actions.end());
    REQUIRE(std::find(actions.begin(), actions.end(), "preallocate") == actions.end());
    // The jump is atomic like the snapshot: not with interrupts on.
    std::string e = load_error("action = \"sync\"", "action = \"kexec-save\"");
    REQUIRE_THAT(e, Catch::Contains("the snapshot is atomic: interrupts off, nonboot CPUs offline"));

    Protocol g = load_protocol(builtin("galibert-explicit"));
    std::vector<std::string> resume;
    for (const auto& p : g.resume) resume.push_back(p.callback.empty() ? p.action : p.callback);
    auto restore = std::find(resume.begin(), resume.end(), "restore_explicit");
    REQUIRE(restore != resume.end());
    REQUIRE(*(restore + 1) == "revoke");
    REQUIRE(callback_children_first("save_explicit"));
    REQUIRE_FALSE(callback_children_first("restore_explicit"));
}
