// Module bases: the run context, paths, properties, guest errors and MMIO register access.
#include "sim/core/module.h"
#include "sim/core/sync.h"

#include <cstdio>
#include <cstring>
#include <cstdlib>

namespace quiesce {

Module::Module(const sc_core::sc_module_name& name, RunContext& ctx)
    : sc_core::sc_module(name), ctx_(ctx), path_(sc_core::sc_module::name()) {
    if (!ctx_.scope.empty() && path_.compare(0, ctx_.scope.size(), ctx_.scope) == 0) path_.erase(0, ctx_.scope.size());
    ctx_.modules[path_] = this;
}

void Module::guest_error(const std::string& name, const std::string& message, std::vector<Arg> args) {
    hub().guest_error(path_, name, message, std::move(args));
    log("guest error: " + message);
}

void Module::log(const std::string& message) const {
    static const bool enabled = std::getenv("QUIESCE_LOG") != nullptr;
    if (enabled)
        std::fprintf(stderr, "[%s] %s: %s\n", format_ps(now_ps()).c_str(), path_.c_str(), message.c_str());
}

Component::Component(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock)
    : Module(name, ctx), clock_(clock) {}

namespace {
// Whether the caller may wait: a thread, as sc_get_current_process_handle()
// tells. That builds a handle (a dynamic_cast, a reference count taken and
// given back) on every device access; while the simulation runs the
// process is the simulation context's current one whenever it is the
// current object too, which is all the handle would have looked at.
bool caller_is_thread() {
    if (sc_core::sc_is_running()) {
        sc_core::sc_process_b* p = sc_core::sc_get_current_process_b();
        if (p && static_cast<sc_core::sc_object*>(p) == sc_core::sc_get_current_object())
            return p->proc_kind() != sc_core::SC_METHOD_PROC_;
    }
    sc_core::sc_process_handle me = sc_core::sc_get_current_process_handle();
    return me.valid() && me.proc_kind() != sc_core::SC_METHOD_PROC_;
}
}  // namespace

bool Component::complete(sc_core::sc_time& delay, Cycles own) {
    Picos d = to_ps(delay);
    const bool done = complete(d, own);
    delay = d ? from_ps(d) : sc_core::SC_ZERO_TIME;
    return done;
}

bool Component::complete(Picos& delay, Cycles own) {
    if (!caller_is_thread()) {
        delay += clock_.delay_ps(own);
        return true;
    }
    const Picos now = now_ps();
    const Picos done = clock_.edge_ps(clock_.ceil_cycles(now + delay) + own);
    delay = 0;
    if (done == now) return true;
    const uint64_t epoch = ctx().power_downs;
    wait_ps(done - now);
    return epoch == ctx().power_downs;
}

MmioDevice::MmioDevice(const sc_core::sc_module_name& name, RunContext& ctx, const ClockDomain& clock,
                       Cycles read_latency, Cycles write_latency)
    : Component(name, ctx, clock), regs_(path(), &ctx.hub), read_latency_(read_latency),
      write_latency_(write_latency) {}

void MmioDevice::mmio_access(tlm::tlm_generic_payload& tx, sc_core::sc_time& delay, uint64_t offset) {
    unsigned len = tx.get_data_length();
    if (len == 0 || len > 8) {
        tx.set_response_status(tlm::TLM_BURST_ERROR_RESPONSE);
        return;
    }
    uint64_t value = 0;
    tx.set_response_status(tlm::TLM_OK_RESPONSE);
    // The register is read or written when the access completes; an access
    // the power cut short reads all ones and writes nothing.
    if (!complete(delay, tx.is_read() ? read_latency_ : write_latency_)) {
        if (tx.is_read()) std::memset(tx.get_data_ptr(), 0xff, len);
        return;
    }
    if (tx.is_read()) {
        value = regs_.read(offset, len, initiator_of(tx));
        std::memcpy(tx.get_data_ptr(), &value, len);
    } else {
        std::memcpy(&value, tx.get_data_ptr(), len);
        regs_.write(offset, len, value, initiator_of(tx));
    }
}

const std::string& initiator_of(tlm::tlm_generic_payload& tx) {
    static const std::string unknown = "?";
    InitiatorExt* ext = nullptr;
    tx.get_extension(ext);
    return ext ? ext->name : unknown;
}

}  // namespace quiesce
