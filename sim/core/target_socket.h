// A TLM-2.0 target socket for a model that serves blocking transport only:
// b_transport calls the member function the model registered, as
// tlm_utils::simple_target_socket does when only b_transport is registered.
// It leaves out what that socket builds to adapt non-blocking transport to
// a blocking callback (a payload event queue, a process, three events), which
// these models never use: SystemC names each event made before the
// simulation starts with sc_gen_unique_name, a std::stringstream each, about
// 20,000 instructions a socket at elaboration (issue 18 item 1). A call that
// is not blocking transport is refused as by a target without it: nb_transport
// completes at once with a command error, no DMI pointer, no debug bytes.
#pragma once

#include "sim/core/errors.h"

#include <tlm>

namespace quiesce {

template <typename MODULE>
class TargetSocket : public tlm::tlm_target_socket<32>, private tlm::tlm_fw_transport_if<> {
public:
    using BTransport = void (MODULE::*)(tlm::tlm_generic_payload&, sc_core::sc_time&);

    explicit TargetSocket(const char* name) : tlm::tlm_target_socket<32>(name) {
        tlm::tlm_target_socket<32>::bind(static_cast<tlm::tlm_fw_transport_if<>&>(*this));
    }
    void register_b_transport(MODULE* module, BTransport fn) {
        module_ = module;
        fn_ = fn;
    }

private:
    void b_transport(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) override {
        SIM_ASSERT(fn_, "{}: b_transport before one was registered", name());
        (module_->*fn_)(tx, delay);
    }
    tlm::tlm_sync_enum nb_transport_fw(tlm::tlm_generic_payload& tx, tlm::tlm_phase&, sc_core::sc_time&) override {
        tx.set_response_status(tlm::TLM_COMMAND_ERROR_RESPONSE);
        return tlm::TLM_COMPLETED;
    }
    bool get_direct_mem_ptr(tlm::tlm_generic_payload&, tlm::tlm_dmi&) override { return false; }
    unsigned int transport_dbg(tlm::tlm_generic_payload&) override { return 0; }

    MODULE* module_ = nullptr;
    BTransport fn_ = nullptr;
};

}  // namespace quiesce
