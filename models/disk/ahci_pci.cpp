// PCI glue for the AHCI HBA: its function, BAR and interrupt.
#include "models/disk/ahci_pci.h"

namespace quiesce {

pci::HeaderIdent AhciPci::ident(bool no_soft_reset) {
    pci::HeaderIdent id;
    id.vendor = kVendor;
    id.device = kDevice;
    id.class_code = 0x010601;  // mass storage, SATA, AHCI 1.0
    id.int_pin = 1;
    id.no_soft_reset = no_soft_reset;
    id.bar_size[kAbar] = 4096;
    return id;
}

AhciPci::AhciPci(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, SataDrive& drive,
                 bool no_soft_reset)
    : CoreFunction(name, ctx, clock, ident(no_soft_reset), [&](DmaPort port) {
          return std::make_unique<Ahci>("core", ctx, clock, drive, std::move(port));
      }) {
    hub().declare_track({path(), "", "device", clock.name(), clock.hz()});
}

}  // namespace quiesce
