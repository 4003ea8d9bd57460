// Runs a body as the kernel's program on a regression scenario's platform,
// in a forked child; guest errors come back as a fact.
#pragma once

#include "child.h"

#include "sim/scenario/platform.h"

namespace quiesce::test {

// n bytes of a recognisable pattern.
inline std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed + i * 7);
    return v;
}

using PlatformBody = std::function<void(Platform&, Cpu&, Facts&)>;

inline Facts on_platform(const std::string& scenario, const PlatformBody& body,
                         const std::function<void(Scenario&)>& tweak = nullptr) {
    return in_child([&](Facts& f) {
        Scenario s = load_scenario(std::string(QUIESCE_DATA_DIR) + "/regression/" + scenario + ".toml");
        if (tweak) tweak(s);
        RunContext ctx(s.seed);
        std::vector<std::string> errors;
        ctx.hub.subscribe(kind_bit(EvKind::GuestError),
                          [&](const Event& e) { errors.push_back(e.track + ":" + e.name); });
        Platform p(s, ctx);
        p.kernel().set_program([&](Cpu& cpu) { body(p, cpu, f); });
        sc_core::sc_start();
        std::string joined;
        for (const auto& e : errors) joined += (joined.empty() ? "" : " ") + e;
        f["guest_errors"] = joined;
    });
}

// The same, once the kernel has booted the platform's devices: PCI
// enumeration and every driver bound (probed).
inline Facts on_booted(const std::string& scenario, const PlatformBody& body,
                       const std::function<void(Scenario&)>& tweak = nullptr) {
    return on_platform(
        scenario,
        [&](Platform& p, Cpu& cpu, Facts& f) {
            p.pci_core().enumerate(cpu);
            p.bind_devices(cpu);
            body(p, cpu, f);
        },
        tweak);
}

// Boots pc-storage (enumeration, probing) and runs `body` with its disk.
inline Facts on_disk(const std::function<void(Platform&, Cpu&, AhciDriver&, SataDrive&, Facts&)>& body) {
    return on_booted("s3-storage", [&](Platform& p, Cpu& cpu, Facts& f) {
        Platform::Disk d = p.disk();
        body(p, cpu, *d.ahci, *d.drive, f);
    });
}

}  // namespace quiesce::test
