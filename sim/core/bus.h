// The system interconnect: decodes physical addresses to targets (RAM, the
// PCI host bridge windows, ACPI registers) over TLM-2.0 blocking transport.
// It adds its own hop latency; initiators wait out the total delay.
#pragma once

#include "sim/core/memory.h"
#include "sim/core/module.h"

#include <tlm_utils/multi_passthrough_initiator_socket.h>
#include <tlm_utils/multi_passthrough_target_socket.h>

#include <string>
#include <vector>

namespace quiesce {

class SystemBus : public Component {
public:
    SystemBus(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock);

    tlm_utils::multi_passthrough_target_socket<SystemBus> targ;     // initiators bind here
    tlm_utils::multi_passthrough_initiator_socket<SystemBus> init;  // bound to targets

    // Maps [base, base+size) to the next bound target socket. When `relative`
    // the target sees offsets from base, otherwise full addresses.
    template <class Socket>
    void map(Socket& target, const std::string& name, uint64_t base, uint64_t size, bool relative) {
        init.bind(target);
        ranges_.push_back({name, base, size, relative, ranges_.size(), nullptr});
    }

    // RAM: mapped as above (full addresses), and open to the direct path.
    void map_ram(PhysicalMemory& memory, const std::string& name, uint64_t base, uint64_t size) {
        map(memory.socket, name, base, size, false);
        ranges_.back().memory = &memory;
    }

    // Zero-time lookup of which target decodes an address ("" if none).
    std::string decode_name(uint64_t addr) const;

    // The direct path to RAM (issue 18 item 3, in the spirit of TLM DMI). A
    // grant is the range of RAM an address decodes to: [base, base+size).
    // An initiator holding one sends an access that lies wholly inside it to
    // direct_access instead of b_transport, and it does what b_transport
    // does for it - the hop latency, the memory's access (contents, page
    // versions, write observer, latency), the Transaction event - without a
    // payload, an extension or the sockets. Everything else (MMIO, a master
    // abort, an access running past the end of RAM) goes through b_transport.
    struct DirectGrant {
        uint64_t base = 0;
        uint64_t size = 0;  // 0: no grant
        bool covers(uint64_t addr, unsigned len) const {
            return len != 0 && addr - base < size && len <= size - (addr - base);
        }
    };
    // The grant for the RAM `addr` decodes to; none (size 0) where it
    // decodes to something else, or where a range mapped before shadows part
    // of that RAM (decoding takes the first range that matches).
    DirectGrant direct_grant(uint64_t addr) const;
    // An access inside a grant, from `initiator`; the delay as b_transport
    // annotates it, in picoseconds.
    void direct_access(bool write, uint64_t addr, unsigned char* data, unsigned len, const std::string& initiator,
                       Picos& delay);

private:
    struct Range {
        std::string name;
        uint64_t base;
        uint64_t size;
        bool relative;
        size_t port;
        PhysicalMemory* memory = nullptr;  // RAM open to the direct path
    };
    void b_transport(int id, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    const Range* decode(uint64_t addr) const;
    void note(const Range* r, uint64_t addr, unsigned len, bool write, std::string initiator, tlm::tlm_response_status status);

    std::vector<Range> ranges_;
    const int64_t* hop_cycles_ = nullptr;  // the property, resolved once
};

}  // namespace quiesce
