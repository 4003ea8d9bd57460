// The device models a driver file can bind to, and what each offers it.
#include "models/disk/ahci.h"
#include "models/pci/dma_engine.h"
#include "models/usb/xhci.h"
#include "sim/drivers/program.h"

#include <map>

namespace quiesce {

namespace {
// The targets device files declared (scenarios/devices/).
std::map<std::string, DriverTarget>& described() {
    static std::map<std::string, DriverTarget> m;
    return m;
}
}  // namespace

const DriverTarget* find_driver_target(const std::string& type) {
    static const std::vector<DriverTarget> targets = {
        {"dma-engine", DmaEngine::register_specs(),
         // sim/drivers/dma_engine_driver.h says what each command does.
         {"save-local-memory", "restore-local-memory", "explicit-save", "explicit-restore", "handoff",
          "reclaim-ring"},
         {"RING_BASE", "RING_SIZE", "TAIL"},
         {"companion", "handoff"}},
        {"xhci", XhciCore::register_specs(),
         // sim/drivers/xhci_driver.h says what each command does.
         {"bus-suspend", "clear-command-ring", "reinit"},
         {"CRCR"},
         {}},
        // sim/drivers/ahci_driver.h says what the ahci and sd commands do.
        {"ahci", Ahci::register_specs(), {"freeze", "hard-reset", "thaw", "revalidate"}, {"PxCLB", "PxFB"}, {}},
        {"sd", {}, {"flush-cache", "standby", "start"}, {}, {}, false},
        // sim/drivers/usb_driver.h says what each command does.
        {"usb",
         {},
         {"is-configured", "is-suspended", "enable-remote-wakeup", "disable-remote-wakeup", "stop-endpoints",
          "suspend-port", "resume-port", "restart-endpoints", "mark-suspended", "mark-configured", "class-resume",
          "port-connected", "session-lost", "reset-resume", "disconnect"},
         {},
         {},
         false},
    };
    for (const auto& t : targets)
        if (t.type == type) return &t;
    auto it = described().find(type);
    return it == described().end() ? nullptr : &it->second;
}

void register_driver_target(DriverTarget t) {
    std::string type = t.type;
    described()[type] = std::move(t);
}

}  // namespace quiesce
