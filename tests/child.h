// SystemC elaborates once per process and cannot restart, so every test that
// builds models runs its body in a forked child (the same isolation quiesce
// uses for runs). The body returns facts as "key=value" lines; the parent
// makes the assertions.
#pragma once

#include "sim/scenario/fork_runner.h"

#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <sstream>
#include <string>

namespace quiesce::test {

using Facts = std::map<std::string, std::string>;

inline Facts in_child(const std::function<void(Facts&)>& body, double wall_limit_s = 60) {
    ChildResult r = run_forked(
        [&body](int fd) {
            Facts facts;
            body(facts);
            std::string out;
            for (const auto& [k, v] : facts) out += k + "=" + v + "\n";
            write_all(fd, out);
        },
        wall_limit_s);
    INFO("child stderr: " << r.error_tail);
    REQUIRE(r.status == ChildResult::Status::Exited);
    Facts facts;
    std::istringstream in(r.output);
    std::string line;
    while (std::getline(in, line)) {
        auto eq = line.find('=');
        if (eq != std::string::npos) facts[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return facts;
}

}  // namespace quiesce::test
