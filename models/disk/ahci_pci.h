// PCI glue for the AHCI HBA: a type-0 function (class 01.06.01) with its
// registers in BAR5 (ABAR) and INTA#.
#pragma once

#include "models/disk/ahci.h"
#include "models/pci/core_function.h"


namespace quiesce {

class AhciPci : public CoreFunction<Ahci> {
public:
    static constexpr uint16_t kVendor = 0x8086, kDevice = 0x2922;
    static constexpr unsigned kAbar = 5;

    AhciPci(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock, SataDrive& drive,
            bool no_soft_reset);

private:
    static pci::HeaderIdent ident(bool no_soft_reset);
};

}  // namespace quiesce
