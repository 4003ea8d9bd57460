// TLM payloads reused across accesses: no allocation per access on the hot
// path (a payload constructed per access allocates its extension array).
// A lease takes an idle payload, or a new one when every payload is in
// flight, and gives it back however its holder leaves (PowerLost, a killed
// thread unwinding). The holder resets the fields it relies on.
#pragma once

#include <tlm>

#include <memory>
#include <vector>

namespace quiesce {

class PayloadPool {
public:
    class Lease {
    public:
        explicit Lease(PayloadPool& pool) : pool_(pool) {
            if (pool.idle_.empty()) {
                tx_ = std::make_unique<tlm::tlm_generic_payload>();
            } else {
                tx_ = std::move(pool.idle_.back());
                pool.idle_.pop_back();
            }
        }
        ~Lease() { pool_.idle_.push_back(std::move(tx_)); }
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        tlm::tlm_generic_payload& operator*() const { return *tx_; }

    private:
        PayloadPool& pool_;
        std::unique_ptr<tlm::tlm_generic_payload> tx_;
    };

private:
    std::vector<std::unique_ptr<tlm::tlm_generic_payload>> idle_;
};

}  // namespace quiesce
