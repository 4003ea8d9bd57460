// A reproducer folder's files: a scenario file per finding and a copy of each local platform, protocol,
// driver and device file they need to run from there.
#include "sim/explore/findings.h"

#include "sim/core/paths.h"

#include "sim/core/toml_reader.h"
#include "sim/drivers/device_file.h"
#include "sim/drivers/program.h"
#include "sim/scenario/scenario.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <optional>

namespace fs = std::filesystem;

namespace quiesce {


std::string file_part(std::string s) {
    for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '_';
    return s;
}


namespace {

bool same_file(const std::string& a, const std::string& b) {
    if (a.empty() || b.empty()) return false;
    std::error_code ec;
    bool same = fs::equivalent(a, b, ec);
    return same && !ec;
}

// The files a reproducer folder needs, walked from the scenario: each
// reference is resolved from the original file (`near`) and from where its
// copy in the folder sits (`placed_near`); a file the folder would not find
// as the same file is copied to `dest`, and what refers on from it is
// resolved from the copy.
class LocalFiles {
public:
    LocalFiles(const Scenario& s, const std::string& out_dir) : out_(out_dir) {
        const std::string here = (fs::path(out_dir) / "reproducer.toml").string();  // where a reproducer looks from
        const toml::table top = parse_toml_file(s.file);
        if (auto name = top["platform"]["name"].value<std::string>()) {
            auto [from, to] = place(resolve_data_file(s.file, "platforms", *name),
                                    resolve_data_file(here, "platforms", *name), "platforms", *name);
            if (!from.empty() && !same_file(from, to)) {
                // Device files a copied platform describes devices with.
                const toml::table pt = parse_toml_file(from);
                if (const toml::array* devs = pt["device"].as_array())
                    for (const toml::node& d : *devs)
                        if (auto model = d.as_table() ? (*d.as_table())["model"].value<std::string>() : std::nullopt)
                            place(find_device_file(from, *model), find_device_file(to, *model), "devices", *model);
            }
        }
        if (auto name = top["protocol"]["name"].value<std::string>())
            place(resolve_data_file(s.file, "protocols", *name), resolve_data_file(here, "protocols", *name),
                  "protocols", *name);
        // Every driver file a device of the scenario runs, named in the
        // scenario or built in for its type, and the ones each derives from.
        std::set<std::string> drivers;
        for (const auto& [dev, program] : s.drivers)
            if (program && !program->file.empty()) drivers.insert(program->file);
        for (const auto& file : drivers) driver(s.file, here, fs::path(file).stem().string());
    }
    std::vector<OutFile> files;

private:
    // `name` from the original's `near` and from the folder's `placed_near`.
    void driver(const std::string& near, const std::string& placed_near, const std::string& name) {
        auto [from, to] = place(find_driver_file(near, name), find_driver_file(placed_near, name), "drivers", name);
        if (from.empty() || same_file(from, to) || !walked_.insert(from).second) return;
        const toml::table t = parse_toml_file(from);
        if (auto base = t["driver"]["base"].value<std::string>()) driver(from, to, *base);
        if (auto binds = t["driver"]["binds"].value<std::string>())
            place(find_device_file(from, *binds), find_device_file(to, *binds), "devices", *binds);
    }
    // The original `from` and the file a reproducer would find, `to`: a copy
    // goes to out_dir/KIND/NAME.toml unless they are the same file. Returns
    // the original and where the reproducer finds it then.
    std::pair<std::string, std::string> place(const std::string& from, const std::string& to, const std::string& kind,
                                              const std::string& name) {
        if (from.empty() || same_file(from, to)) return {from, to};
        const std::string dest = (fs::path(out_) / kind / (name + ".toml")).string();
        if (std::none_of(files.begin(), files.end(), [&](const OutFile& f) { return f.path == dest; }))
            files.push_back({dest, read_text(from), from});
        return {from, dest};
    }
    std::string out_;
    std::set<std::string> walked_;
};

}  // namespace

std::vector<OutFile> local_files(const Scenario& s, const std::string& out_dir) {
    return LocalFiles(s, out_dir).files;
}

std::vector<OutFile> reproducer_files(const std::string& out_dir, const Scenario& s,
                                      const std::vector<FaultPoint>& points, size_t explored,
                                      std::map<Signature, Finding>& findings, size_t& numbered) {
    std::vector<OutFile> out;
    if (findings.empty()) return out;
    const std::string original = read_text(s.file);
    for (auto& [sig, f] : findings) {
        const FaultPoint& p = points[f.first_variant];
        std::string under = std::string(p.mutation.empty() ? "" : "-under-mutation") +
                            (p.order.empty() ? "" : "-under-order") + (p.schedule.empty() ? "" : "-under-pct") +
                            (p.timing.empty() ? "" : "-under-timing");
        std::string name = fmt::format("{:02}-{}-{}{}-{}{}.toml", ++numbered, file_part(sig.invariant),
                                       file_part(p.kind), under, file_part(p.phase),
                                       p.device.empty() ? "" : "-" + file_part(p.device));
        f.reproducer = (fs::path(out_dir) / name).string();
        out.push_back({f.reproducer, reproducer_text(original, s.file, p, f, f.found_variant, explored, s.seed,
                                                     mutation_patches(s, decisions(p).mutation))});
    }
    for (auto& file : local_files(s, out_dir)) out.push_back(std::move(file));
    return out;
}

std::vector<std::string> earlier_reproducers(const std::string& out_dir) {
    std::vector<std::string> out;
    std::error_code ec;
    if (out_dir.empty() || !fs::is_directory(out_dir, ec)) return out;
    for (fs::directory_iterator it(out_dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.size() < 8 || !std::isdigit(static_cast<unsigned char>(name[0])) ||
            !std::isdigit(static_cast<unsigned char>(name[1])) || name[2] != '-' ||
            name.compare(name.size() - 5, 5, ".toml") != 0 || !it->is_regular_file(ec))
            continue;
        std::ifstream in(it->path());
        std::string line;
        for (int n = 0; n < 200 && std::getline(in, line); ++n)
            if (line.rfind("# Found by quiesce explore", 0) == 0) {
                out.push_back(name);
                break;
            }
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string earlier_reproducers_warning(const std::string& out_dir) {
    const std::vector<std::string> old = earlier_reproducers(out_dir);
    if (old.empty()) return "";
    return fmt::format("warning: {} already holds {} reproducer(s) of an earlier explore ({}{}): this one's are "
                       "numbered from 01 beside them, and `quiesce run {}` runs them all (give a fresh --out to keep "
                       "them apart)",
                       out_dir, old.size(), old.front(), old.size() > 1 ? ", ..." : "", out_dir);
}

}  // namespace quiesce
