// The freezer: tasks stop only at freeze points; freezable kernel threads
// only in the second stage; a task in an uninterruptible wait makes freezing
// fail after the timeout, and everything is thawed.
#include "kernel_bench.h"

using namespace quiesce;
using quiesce::test::Facts;

namespace {
constexpr Picos kMs = 1'000'000'000ULL;

Facts with_kernel(const std::function<void(Kernel&, Cpu&, Facts&)>& body) {
    return quiesce::test::with_kernel([&](RunContext&, Kernel& k, Cpu& c, Facts& f) { body(k, c, f); });
}
}  // namespace

TEST_CASE("freezer: user tasks, then freezable kernel threads, others keep running", "[freezer]") {
    Facts f = with_kernel([](Kernel& k, Cpu&, Facts& f) {
        int user_ticks = 0, kthread_ticks = 0, free_ticks = 0;
        k.spawn("user", Task::Kind::User, true, 0, [&](Task& t) {
            while (!t.should_stop()) { ++user_ticks; t.sleep_freezable(kMs); }
        });
        k.spawn("kfreezable", Task::Kind::KThread, true, 0, [&](Task& t) {
            while (!t.should_stop()) { ++kthread_ticks; t.sleep_freezable(kMs); }
        });
        k.spawn("kfree", Task::Kind::KThread, false, 0, [&](Task& t) {
            while (!t.should_stop()) { ++free_ticks; t.sleep_freezable(kMs); }  // not freezable: never parks
        });
        sc_core::wait(from_ps(5 * kMs));
        std::string refused;
        f["freeze_user"] = std::to_string(k.freeze(Task::Kind::User, 20'000 * kMs, refused));
        int kt = kthread_ticks;
        sc_core::wait(from_ps(3 * kMs));
        f["kthread_ran_after_user_freeze"] = kthread_ticks > kt ? "yes" : "no";
        f["freeze_kthreads"] = std::to_string(k.freeze(Task::Kind::KThread, 20'000 * kMs, refused));
        int u = user_ticks, kk = kthread_ticks, fr = free_ticks;
        sc_core::wait(from_ps(10 * kMs));
        f["user_frozen"] = user_ticks == u ? "yes" : "no";
        f["kthread_frozen"] = kthread_ticks == kk ? "yes" : "no";
        f["nonfreezable_ran"] = free_ticks > fr + 5 ? "yes" : "no";
        k.thaw_all();
        sc_core::wait(from_ps(3 * kMs));
        f["user_thawed"] = user_ticks > u ? "yes" : "no";
        k.stop_tasks();
    });
    REQUIRE(f["freeze_user"] == "0");
    REQUIRE(f["kthread_ran_after_user_freeze"] == "yes");
    REQUIRE(f["freeze_kthreads"] == "0");
    REQUIRE(f["user_frozen"] == "yes");
    REQUIRE(f["kthread_frozen"] == "yes");
    REQUIRE(f["nonfreezable_ran"] == "yes");
    REQUIRE(f["user_thawed"] == "yes");
}

TEST_CASE("freezer: an uninterruptible wait makes freezing fail after the timeout", "[freezer]") {
    Facts f = with_kernel([](Kernel& k, Cpu&, Facts& f) {
        k.spawn("ok", Task::Kind::User, true, 0, [](Task& t) {
            while (!t.should_stop()) t.sleep_freezable(kMs);
        });
        k.spawn("dstate", Task::Kind::User, true, 0, [](Task& t) {
            t.try_to_freeze();
            sc_core::wait(from_ps(100 * kMs));  // TASK_UNINTERRUPTIBLE
            while (!t.should_stop()) t.sleep_freezable(kMs);
        });
        sc_core::wait(from_ps(kMs));
        std::string refused;
        Picos t0 = now_ps();
        int rc = k.freeze(Task::Kind::User, 20 * kMs, refused);
        f["rc"] = std::to_string(rc);
        f["waited_ms"] = std::to_string((now_ps() - t0) / kMs);
        f["refused"] = refused;
        sc_core::wait(from_ps(2 * kMs));
        bool any_frozen = false;
        for (const auto& t : k.tasks()) any_frozen |= t->frozen();
        f["any_frozen"] = any_frozen ? "yes" : "no";
        k.stop_tasks();
    });
    REQUIRE(f["rc"] == "-16");
    REQUIRE(f["waited_ms"] == "20");
    REQUIRE(f["refused"] == "dstate");
    REQUIRE(f["any_frozen"] == "no");
}
