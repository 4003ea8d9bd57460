// Kernel::wait_event: a thread's timeout is an event of its own that a wait
// ending first leaves armed, so a later wait can be woken by an earlier
// wait's timeout; it must then go on waiting to its own deadline, and an
// event that comes at the same picosecond as such a timeout must not be
// lost.
#include "kernel_bench.h"

using namespace quiesce;
using quiesce::test::Facts;

namespace {
constexpr Picos kMs = 1'000'000'000ULL;

std::string result(bool came, Picos t0) {
    return std::string(came ? "event" : "timeout") + " at " + std::to_string((now_ps() - t0) / (kMs / 10)) + "/10ms";
}
}  // namespace

TEST_CASE("wait_event: each wait ends at its event or its own deadline, whatever the earlier waits armed",
          "[wait]") {
    Facts f = quiesce::test::with_kernel([](RunContext&, Kernel& k, Cpu&, Facts& f) {
        sc_core::sc_event e, never;
        const Picos t0 = now_ps();
        e.notify(from_ps(kMs));
        f["1"] = result(k.wait_event(e, 5 * kMs), t0);  // leaves its timeout armed for 6 ms
        f["2"] = result(k.wait_event(never, 2 * kMs), t0);  // an earlier deadline than the armed one
        e.notify(from_ps(kMs / 2));
        f["3"] = result(k.wait_event(e, 5 * kMs), t0);  // armed for 8.5 ms
        f["4"] = result(k.wait_event(never, 10 * kMs), t0);  // woken at 8.5 ms: waits on to 13.5
        e.notify(from_ps(kMs));
        f["5"] = result(k.wait_event(e, 5 * kMs), t0);  // armed for 19.5 ms
        e.notify(from_ps(5 * kMs));                        // at 19.5 ms, with that timeout
        f["6"] = result(k.wait_event(e, 10 * kMs), t0);
        e.notify(from_ps(3 * kMs));
        f["7"] = result(k.wait_event(e, Kernel::kNoTimeout), t0);
        f["8"] = result(k.wait_event(never, 0), t0);  // one delta cycle
    });
    CHECK(f["1"] == "event at 10/10ms");
    CHECK(f["2"] == "timeout at 30/10ms");
    CHECK(f["3"] == "event at 35/10ms");
    CHECK(f["4"] == "timeout at 135/10ms");
    CHECK(f["5"] == "event at 145/10ms");
    CHECK(f["6"] == "event at 195/10ms");
    CHECK(f["7"] == "event at 225/10ms");
    CHECK(f["8"] == "timeout at 225/10ms");
}

TEST_CASE("wait_event: each thread's timeouts are its own", "[wait]") {
    Facts f = quiesce::test::with_kernel([](RunContext&, Kernel& k, Cpu&, Facts& f) {
        sc_core::sc_event e, never;
        const Picos t0 = now_ps();
        sc_core::sc_event other_done;
        sc_core::sc_spawn([&] {
            f["other 1"] = result(k.wait_event(never, 3 * kMs), t0);
            f["other 2"] = result(k.wait_event(never, 1 * kMs), t0);
            other_done.notify();
        });
        e.notify(from_ps(kMs));
        f["main 1"] = result(k.wait_event(e, 2 * kMs), t0);
        f["main 2"] = result(k.wait_event(other_done, 10 * kMs), t0);
    });
    CHECK(f["main 1"] == "event at 10/10ms");
    CHECK(f["other 1"] == "timeout at 30/10ms");
    CHECK(f["other 2"] == "timeout at 40/10ms");
    CHECK(f["main 2"] == "event at 40/10ms");
}
