// The fuzz corpus replayed (issue 19): every seed of `make fuzz` (the files
// under scenarios/, by kind) and every input in tests/fuzz/<kind>/ - what
// fuzzing kept and each crash it ever found - through the fuzz target's own
// entry, fuzz::load_input. Each must load or be refused with one input-error
// line naming file:line:column; an abort or another exception fails here.
#include "tests/fuzz/fuzz_loaders.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using quiesce::fuzz::Kind;

namespace {

const fs::path kRoot = fs::path(QUIESCE_DATA_DIR).parent_path();

// The seed directories of each kind, as `make fuzz` seeds them.
const std::map<std::string, std::vector<std::string>> kSeeds = {
    {"scenario", {"scenarios/regression", "scenarios/examples"}},
    {"platform", {"scenarios/platforms"}},
    {"protocol", {"scenarios/protocols"}},
    {"driver", {"scenarios/drivers"}},
    {"device", {"scenarios/devices"}},
};

std::vector<fs::path> files_in(const fs::path& dir) {
    std::vector<fs::path> out;
    if (!fs::is_directory(dir)) return out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file()) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

std::string bytes_of(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Replays every input of `kind`; returns the inputs refused (with an
// input error naming their location).
std::vector<std::string> replay(const std::string& kind_name, const std::vector<fs::path>& files) {
    Kind kind;
    REQUIRE(quiesce::fuzz::kind_of(kind_name, kind));
    std::vector<std::string> refused;
    for (const auto& f : files) {
        INFO(kind_name << " input " << f.string());
        const std::string data = bytes_of(f);
        bool ok = false;
        REQUIRE_NOTHROW(ok = quiesce::fuzz::load_input(kind, reinterpret_cast<const uint8_t*>(data.data()), data.size()));
        if (!ok) refused.push_back(f.filename().string());
    }
    return refused;
}

}  // namespace

TEST_CASE("fuzz: every seed loads through the fuzz entry", "[fuzz]") {
    for (const auto& [kind, dirs] : kSeeds) {
        std::vector<fs::path> files;
        for (const auto& d : dirs)
            for (const auto& f : files_in(kRoot / d))
                if (f.extension() == ".toml") files.push_back(f);
        INFO(kind);
        REQUIRE(!files.empty());
        // A shipped file is valid input; scenarios name their platform and
        // protocol, which resolve in the data directory.
        CHECK(replay(kind, files) == std::vector<std::string>{});
    }
}

TEST_CASE("fuzz: the regression corpus (tests/fuzz/<kind>/) replays without a crash", "[fuzz]") {
    size_t total = 0;
    for (const auto& [kind, dirs] : kSeeds) {
        const auto files = files_in(kRoot / "tests/fuzz" / kind);
        replay(kind, files);
        total += files.size();
    }
    REQUIRE(total > 0);
}

TEST_CASE("fuzz: the entry refuses bad input with a location, kind names", "[fuzz]") {
    Kind kind;
    REQUIRE(quiesce::fuzz::kind_of("protocol", kind));
    const std::string bad = "[protocol\nname = 1\n";
    REQUIRE_FALSE(quiesce::fuzz::load_input(kind, reinterpret_cast<const uint8_t*>(bad.data()), bad.size()));
    REQUIRE_FALSE(quiesce::fuzz::kind_of("nonsense", kind));
}
