// How a bus-agnostic device core (the DMA engine, AHCI, xHCI) reaches
// memory as a bus master: its bus glue provides `access` (a PCI function's
// dma_buffer, say), which annotates a delay; transfer() waits it out, so the
// core's thread sees each access take its time in order.
#pragma once

#include "sim/core/sync.h"

#include <systemc>

#include <cstdint>
#include <functional>

namespace quiesce {

struct DmaPort {
    std::function<bool(uint64_t addr, void* buf, unsigned len, bool write, sc_core::sc_time& delay)> dma;

    // Blocking: true if the access completed (false after a master abort).
    bool transfer(uint64_t addr, void* buf, unsigned len, bool write) const {
        sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
        bool ok = dma(addr, buf, len, write, delay);
        if (delay != sc_core::SC_ZERO_TIME) quiesce::wait(delay);  // what the target did not wait
        return ok;
    }
};

}  // namespace quiesce
