// What many tests read: a regression scenario by name, and a file's text.
#pragma once

#include "sim/scenario/scenario.h"

#include <filesystem>
#include <fstream>
#include <functional>
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

// Every .h and .cpp under sim/ and models/: `each(relative path, full path)`;
// how many there were.
inline size_t for_each_source(const std::function<void(const std::string&, const std::filesystem::path&)>& each) {
    namespace fs = std::filesystem;
    const fs::path root = fs::path(QUIESCE_DATA_DIR).parent_path();
    size_t files = 0;
    for (const char* top : {"sim", "models"})
        for (const auto& e : fs::recursive_directory_iterator(root / top)) {
            const std::string ext = e.path().extension().string();
            if (!e.is_regular_file() || (ext != ".h" && ext != ".cpp")) continue;
            ++files;
            each(fs::relative(e.path(), root).generic_string(), e.path());
        }
    return files;
}

}  // namespace quiesce::test
