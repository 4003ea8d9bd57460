// Tasks of the modelled OS: their threads, freeze points, freezable sleeps and stop requests.
#include "sim/kernel/task.h"
#include "sim/core/sync.h"

#include "models/cpu/cpu.h"
#include "sim/kernel/kernel.h"

namespace quiesce {

Task::Task(Kernel& kernel, std::string name, Kind kind, bool freezable, unsigned cpu, Body body)
    : kernel_(kernel), name_(std::move(name)), kind_(kind), freezable_(freezable), cpu_(cpu),
      body_(std::move(body)) {}

void Task::freezer_count() {
    skip_ = false;
    try_to_freeze();
}

Cpu& Task::cpu() {
    if (skip_ && freezing_ && freezable())
        kernel_.hub().guest_error(kernel_.path(), "freeze.escaped",
                                  "task " + name_ + " runs while the freezer counts it frozen",
                                  {{"task", name_}, {"kind", "freezer-skip"}});
    for (Cpu* c : kernel_.cpus())
        if (c->index() == cpu_ && c->online()) return *c;
    return kernel_.boot_cpu();
}

void Task::run() {
    kernel_.hub().instant(kernel_.path(), "task-start", "task", {{"task", name_}});
    body_(*this);
    exited_ = true;
    kernel_.hub().instant(kernel_.path(), "task-exit", "task", {{"task", name_}});
    kernel_.task_changed();
}

void Task::try_to_freeze() {
    if (!freezing_ || !freezable()) return;
    if (refusing_) {  // TASK_UNINTERRUPTIBLE: not frozen, not running, until thawed
        kernel_.hub().instant(kernel_.path(), "uninterruptible", "task", {{"task", name_}});
        while (freezing_) quiesce::wait(wake_);
        refusing_ = false;
        return;
    }
    frozen_ = true;
    kernel_.hub().instant(kernel_.path(), "frozen", "task", {{"task", name_}});
    kernel_.task_changed();
    while (freezing_) quiesce::wait(wake_);
    frozen_ = false;
    kernel_.hub().instant(kernel_.path(), "thawed", "task", {{"task", name_}});
}

void Task::sleep_freezable(uint64_t duration_ps) {
    quiesce::wait(sc_core::sc_time::from_value(duration_ps), wake_);
    try_to_freeze();
}

void Task::request_stop() {
    stop_ = true;
    quiesce::notify(wake_, sc_core::SC_ZERO_TIME);
}

void Task::set_freezing(bool f) {
    freezing_ = f;
    quiesce::notify(wake_, sc_core::SC_ZERO_TIME);
}

}  // namespace quiesce
