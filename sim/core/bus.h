// The system interconnect: decodes physical addresses to targets (RAM, the
// PCI host bridge windows, ACPI registers) over TLM-2.0 blocking transport.
// It adds its own hop latency; initiators wait out the total delay.
#pragma once

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
        ranges_.push_back({name, base, size, relative, ranges_.size()});
    }

    // Zero-time lookup of which target decodes an address ("" if none).
    std::string decode_name(uint64_t addr) const;

private:
    struct Range {
        std::string name;
        uint64_t base;
        uint64_t size;
        bool relative;
        size_t port;
    };
    void b_transport(int id, tlm::tlm_generic_payload& tx, sc_core::sc_time& delay);
    const Range* decode(uint64_t addr) const;

    std::vector<Range> ranges_;
    const int64_t* hop_cycles_ = nullptr;  // the property, resolved once
};

}  // namespace quiesce
