// A PCI function whose driver failed its probe is left unbound, as Linux
// leaves it (really_probe resets dev->driver): no driver PM callback runs
// for it in a sleep transition; the PCI core alone handles the function
// (saves its config space, puts it in D3hot, brings it back).
#include "cli.h"

#include <filesystem>
#include <fstream>
#include <string>

using quiesce::test::regression;
using quiesce::test::sh;
using quiesce::test::tmp_path;

namespace {
std::string slurp(const std::string& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
std::string edited(std::string text, const std::string& from, const std::string& to) {
    const size_t at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}
// One row's value of a query's single column ("" when there is none).
std::string one(const std::string& db, const std::string& sql) {
    quiesce::test::Cli r = sh("query " + db + " \"" + sql + "\" --format list");
    INFO(r.out);
    REQUIRE(r.status == 0);
    const size_t nl = r.out.find('\n');  // the header
    std::string v = r.out.substr(nl + 1);
    while (!v.empty() && v.back() == '\n') v.pop_back();
    return v;
}
// Slices and instants on gpu0's own track.
std::string gpu0(const std::string& what, const std::string& where) {
    return "SELECT count(*) FROM " + what + " x JOIN track t ON t.id = x.track_id WHERE t.name = 'gpu0' AND " + where;
}
}  // namespace

TEST_CASE("probe failure: a function whose probe failed gets no driver PM callbacks, the PCI core still suspends it",
          "[devices][probe]") {
    // pc-gpu with qgpu's firmware taking 200 ms to become ready: its driver
    // waits 100 ms at probe and fails it (-EIO).
    const std::string data = QUIESCE_DATA_DIR;
    const std::string dir = tmp_path("probe-failure");
    std::filesystem::create_directories(dir + "/platforms");
    std::filesystem::create_directories(dir + "/devices");
    std::ofstream(dir + "/platforms/p.toml")
        << edited(slurp(data + "/platforms/pc-gpu.toml"), "name = \"pc-gpu\"", "name = \"p\"");
    std::ofstream(dir + "/devices/qgpu.toml")
        << edited(slurp(data + "/devices/qgpu.toml"), "latency = \"1ms\"", "latency = \"200ms\"");
    std::ofstream(dir + "/s.toml") << "[platform]\nname = \"p\"\n[protocol]\nname = \"linux-s3\"\n"
                                      "[expect]\nresult = \"pass\"\n";
    const std::string db = dir + "/out.db";
    quiesce::test::Cli r = sh("run " + dir + "/s.toml --db " + db);
    INFO(r.out);
    // The transition went through (it was aborted: 'aborted:suspend'); the
    // run fails on its workload, whose commands to the unbound device get
    // -ENODEV.
    REQUIRE(r.status == 1);
    REQUIRE(r.out.find("expected pass, but the workload failed: gpu0: engine command before failed with errno 19") !=
            std::string::npos);

    REQUIRE(one(db, gpu0("instant", "x.name = 'probe'") + " AND json_extract(x.args, '$.rc') = -5") == "1");
    // No step of gpu0's driver ran (its suspend evicted VRAM with a command
    // to an engine the probe never set up, failed with -EBUSY and aborted
    // the suspend), and no callback of it failed.
    REQUIRE(one(db, gpu0("slice", "x.category = 'step'")) == "0");
    REQUIRE(one(db, "SELECT count(*) FROM instant WHERE name = 'callback-failed' AND args LIKE '%gpu0%'") == "0");
    // The PCI core put the function in D3hot (pci_pm_suspend_noirq's
    // pci_prepare_to_sleep) and the transition went through.
    REQUIRE(one(db, gpu0("instant", "x.name = 'pci.D0->D3hot'")) == "1");
    REQUIRE(one(db, "SELECT count(*) FROM instant WHERE name = 'power-off' AND track_id IN "
                    "(SELECT id FROM track WHERE name = 'gpu0')") == "1");
    std::filesystem::remove_all(dir);

    // The same queries on qgpu bound (s3-gpu): its steps are there.
    const std::string good = tmp_path("probe-ok.db");
    REQUIRE(sh("run " + regression("s3-gpu") + " --db " + good).status == 0);
    REQUIRE(one(good, gpu0("instant", "x.name = 'probe'") + " AND json_extract(x.args, '$.rc') = 0") == "1");
    REQUIRE(one(good, gpu0("slice", "x.category = 'step'")) != "0");
    REQUIRE(one(good, gpu0("instant", "x.name = 'pci.D0->D3hot'")) == "1");
    for (const char* side : {"", "-wal", "-shm"}) std::filesystem::remove(good + side);
}
