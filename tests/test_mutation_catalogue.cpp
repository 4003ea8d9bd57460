// The mutation catalogue of `make mutate` (scripts/mutations.toml, docs/mutation.md) stays applicable: every
// mutation names a file of the tree and text that occurs in it exactly once. Editing code under a mutation
// fails here, naming the mutation's id to update.
#include <catch2/catch.hpp>

#include <toml++/toml.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = fs::path(QUIESCE_DATA_DIR).parent_path();

size_t occurrences(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("mutation catalogue: every original occurs exactly once in its file", "[mutation-catalogue]") {
    const fs::path catalogue = kRoot / "scripts" / "mutations.toml";
    toml::table t;
    REQUIRE_NOTHROW(t = toml::parse_file(catalogue.string()));
    const toml::array* muts = t["mutation"].as_array();
    REQUIRE(muts);
    CHECK(muts->size() >= 40);  // issue 21: at least 40 realistic mutations
    static const std::set<std::string> areas = {"model", "driver", "pm-engine", "kernel", "hibernation", "checker"};
    std::set<std::string> ids;
    for (const auto& node : *muts) {
        const toml::table* m = node.as_table();
        REQUIRE(m);
        const std::string id = (*m)["id"].value_or(std::string());
        INFO("mutation " << (id.empty() ? "(no id)" : id) << " in scripts/mutations.toml");
        CHECK(!id.empty());
        CHECK(ids.insert(id).second);  // ids are unique
        CHECK(areas.count((*m)["area"].value_or(std::string())));
        CHECK(!(*m)["bug"].value_or(std::string()).empty());
        const std::string file = (*m)["file"].value_or(std::string());
        const std::string original = (*m)["original"].value_or(std::string());
        const auto replacement = (*m)["replacement"].value<std::string>();
        REQUIRE(!file.empty());
        REQUIRE(!original.empty());
        REQUIRE(replacement);
        CHECK(*replacement != original);
        std::ifstream in(kRoot / file, std::ios::binary);
        INFO("file " << file << ": a mutation's original text must occur exactly once; if you changed the code "
                     "under it, update mutation " << id);
        REQUIRE(in.good());
        std::stringstream text;
        text << in.rdbuf();
        CHECK(occurrences(text.str(), original) == 1);
    }
}
