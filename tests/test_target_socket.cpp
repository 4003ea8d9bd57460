// TargetSocket (sim/core/target_socket.h): blocking transport reaches the
// member function the model registered, with the payload and the delay;
// the other calls are refused; and it makes no event, process or queue of
// its own (what tlm_utils::simple_target_socket makes to adapt nb_transport,
// three events and a queue, each event named by a std::stringstream).
#include "child.h"

#include "sim/core/target_socket.h"

#include <tlm_utils/simple_initiator_socket.h>

#include <string>

using quiesce::test::Facts;

namespace {

struct Target : sc_core::sc_module {
    quiesce::TargetSocket<Target> socket{"socket"};
    std::string seen;
    explicit Target(sc_core::sc_module_name n) : sc_module(n) {
        socket.register_b_transport(this, &Target::b_transport);
    }
    void b_transport(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay) {
        seen += std::to_string(tx.get_address()) + (tx.is_write() ? "w" : "r") + " ";
        delay += sc_core::sc_time(5, sc_core::SC_NS);
        tx.set_response_status(tlm::TLM_OK_RESPONSE);
    }
};

struct Initiator : sc_core::sc_module {
    tlm_utils::simple_initiator_socket<Initiator> socket{"socket"};
    explicit Initiator(sc_core::sc_module_name n) : sc_module(n) {}
};

}  // namespace

TEST_CASE("target socket: blocking transport reaches the model, the rest is refused, nothing else is built",
          "[tlm]") {
    Facts f = quiesce::test::in_child([](Facts& f) {
        Target t("target");
        Initiator i("initiator");
        i.socket.bind(t.socket);
        f["events"] = std::to_string(t.get_child_events().size());
        std::string children;
        for (const sc_core::sc_object* o : t.get_child_objects()) children += std::string(o->basename()) + " ";
        f["children"] = children;

        uint32_t word = 7;
        tlm::tlm_generic_payload tx;
        tx.set_command(tlm::TLM_WRITE_COMMAND);
        tx.set_address(0x40);
        tx.set_data_ptr(reinterpret_cast<unsigned char*>(&word));
        tx.set_data_length(4);
        sc_core::sc_time delay = sc_core::sc_time(1, sc_core::SC_NS);
        i.socket->b_transport(tx, delay);
        f["delay"] = delay.to_string();
        f["ok"] = tx.is_response_ok() ? "yes" : "no";

        tx.set_command(tlm::TLM_READ_COMMAND);
        tx.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
        tlm::tlm_phase phase = tlm::BEGIN_REQ;
        const tlm::tlm_sync_enum nb = i.socket->nb_transport_fw(tx, phase, delay);
        f["nb"] = nb == tlm::TLM_COMPLETED && tx.get_response_status() == tlm::TLM_COMMAND_ERROR_RESPONSE ? "refused"
                                                                                                          : "other";
        tlm::tlm_dmi dmi;
        f["dmi"] = i.socket->get_direct_mem_ptr(tx, dmi) ? "granted" : "none";
        f["dbg"] = std::to_string(i.socket->transport_dbg(tx));
        f["seen"] = t.seen;
    });
    REQUIRE(f["events"] == "0");
    REQUIRE(f["children"] == "socket socket_port_0 ");
    REQUIRE(f["delay"] == "6 ns");
    REQUIRE(f["ok"] == "yes");
    REQUIRE(f["nb"] == "refused");
    REQUIRE(f["dmi"] == "none");
    REQUIRE(f["dbg"] == "0");
    REQUIRE(f["seen"] == "64w ");  // only the blocking call reached the model
}
