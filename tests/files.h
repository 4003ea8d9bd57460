// What many tests read: a regression scenario by name, and a file's text.
#pragma once

#include "sim/scenario/scenario.h"

#include <fstream>
#include <sstream>
#include <string>

namespace quiesce::test {

// scenarios/regression/NAME.toml
inline std::string regression(const std::string& name) {
    return std::string(QUIESCE_DATA_DIR) + "/regression/" + name + ".toml";
}

// ... loaded.
inline Scenario load_regression(const std::string& name) { return load_scenario(regression(name)); }

// A file's bytes ("" when it cannot be read).
inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace quiesce::test
