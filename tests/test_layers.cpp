// docs/architecture.md as a test: every #include "..." under sim/ and
// models/ goes to its own layer or one below, except the back-edges listed
// here - each still in the code, each with the reason it remains.
#include "files.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

namespace fs = std::filesystem;

namespace {

// The layer of a path relative to the source root ("" if none).
std::string layer_of(const std::string& path) {
    static const char* layers[] = {"sim/core", "sim/fault",   "models",    "sim/kernel",  "sim/pm", "sim/drivers",
                                   "sim/check", "sim/trace", "sim/scenario", "sim/explore", "sim/cli"};
    for (const char* l : layers)
        if (path.rfind(std::string(l) + "/", 0) == 0) return l;
    return "";
}

const std::map<std::string, std::set<std::string>>& allowed() {
    static const std::set<std::string> below_check = {"sim/core", "sim/fault", "models", "sim/kernel", "sim/pm",
                                                      "sim/drivers"};
    static std::map<std::string, std::set<std::string>> a = [] {
        std::map<std::string, std::set<std::string>> m;
        m["sim/core"] = {};
        m["sim/fault"] = {"sim/core"};
        m["models"] = {"sim/core", "sim/fault"};
        m["sim/kernel"] = {"sim/core", "sim/fault", "models"};
        m["sim/pm"] = {"sim/core", "sim/fault", "models", "sim/kernel"};
        m["sim/drivers"] = {"sim/core", "sim/fault", "models", "sim/kernel", "sim/pm"};
        m["sim/check"] = below_check;
        m["sim/trace"] = {"sim/core"};
        m["sim/scenario"] = below_check;
        m["sim/scenario"].insert({"sim/check", "sim/trace"});
        m["sim/explore"] = m["sim/scenario"];
        m["sim/explore"].insert("sim/scenario");
        m["sim/cli"] = m["sim/explore"];
        m["sim/cli"].insert("sim/explore");
        return m;
    }();
    return a;
}

// Back-edges still in the code, each with the reason it remains in
// docs/architecture.md: none since the fork runner moved to sim/scenario.
const std::set<std::string> kKnown = {};

}  // namespace

TEST_CASE("architecture: every #include follows the layers of docs/architecture.md", "[architecture]") {
    const std::regex include(R"re(^\s*#\s*include\s+"([^"]+)")re");
    std::set<std::string> found;
    const size_t files = quiesce::test::for_each_source([&](const std::string& rel, const fs::path& path) {
        const std::string from = layer_of(rel);
        std::ifstream in(path);
        std::smatch m;
        for (std::string line; std::getline(in, line);) {
            if (!std::regex_search(line, m, include)) continue;
            const std::string to = layer_of(m[1]);
            if (to.empty() || to == from) continue;
            if (!allowed().at(from).count(to)) found.insert(rel + " -> " + m[1].str());
        }
    });
    REQUIRE(files > 100);
    for (const auto& edge : found) {
        INFO(edge);
        CHECK(kKnown.count(edge) == 1);  // a new back-edge
    }
    for (const auto& edge : kKnown) CHECK(found.count(edge) == 1);   // fixed: take it off the list
}
