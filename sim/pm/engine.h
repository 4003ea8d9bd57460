// The protocol engine: runs a Protocol's phases on the boot CPU as timed code,
// in the device orders the graph yields, and unwinds exactly the phases (and,
// per phase, exactly the devices) that succeeded when a suspend phase fails.
#pragma once

#include "sim/fault/injector.h"

#include "sim/core/time.h"
#include "sim/kernel/task.h"
#include "sim/pm/device.h"
#include "sim/pm/device_graph.h"
#include "sim/pm/pm_ids.h"
#include "sim/pm/runtime.h"
#include "sim/pm/protocol.h"

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace quiesce {

class Cpu;
class Kernel;
class AcpiOs;
class EventHub;

struct PmServices {
    Kernel* kernel = nullptr;
    AcpiOs* acpi = nullptr;
    const DeviceGraph* graph = nullptr;
    std::map<std::string, PmDevice*> devices;
    uint64_t trampoline = 0;     // waking vector the kernel installs
    uint64_t context_area = 0;   // where save_processor_state puts the CPU context
    std::function<void(Cpu&)> syscore_suspend;
    std::function<void(Cpu&)> syscore_resume;
    std::function<int(Cpu&)> sync;            // ksys_sync: write back and flush every filesystem
    // pm_notifier_call_chain(PM_SUSPEND_PREPARE / PM_HIBERNATION_PREPARE):
    // what runs just before tasks freeze (the firmware cache fills).
    std::function<void(Cpu&)> pm_prepare;
    // Devices whose drivers register a PM notifier (register_pm_notifier),
    // in registration order: they get pm_suspend_prepare / pm_post_suspend
    // (pm_hibernation_prepare / pm_post_hibernation for an S4 protocol).
    std::vector<std::string> notifiers;
    std::function<void()> sleep_entered;      // the OS hands the machine to firmware (SLP_EN)
    std::function<int(Cpu&)> preallocate;     // hibernation: the copy pages
    std::function<int(Cpu&)> snapshot;        // hibernation: the atomic copy
    std::function<int(Cpu&)> write_image;     // hibernation: the image to swap
    std::function<int(Cpu&)> kexec_save;   // kexec-s4: the jump to the save kernel and back
    std::function<void(Cpu&)> image_restored;  // hibernation: the image kernel runs again (its state parsed back, swsusp_free)
    uint64_t image_restore_point = 0;         // where the restore kernel jumps into the image
    // The fault plan: point faults fire at phase boundaries; a power loss
    // among them stops this kernel where it is (power_cut cuts the power).
    FaultInjector* faults = nullptr;
    std::function<void(const FaultSpec&)> power_cut;
    // Runtime PM (sim/pm/runtime.h): what system sleep does with it - a
    // reference from prepare to complete, direct-complete, SMART_SUSPEND
    // and MAY_SKIP_RESUME, runtime PM off from late to early, pm_wq frozen
    // with the kernel threads. nullptr: none.
    RuntimePm* runtime = nullptr;
    Picos freeze_timeout = 20'000'000'000'000ULL;  // pm_freeze_timeout: 20 s
};

// What the image writer returns when an injected power loss struck it.
constexpr int kPowerLost = -1000;

class PmEngine {
public:
    struct Result {
        bool slept = false;        // platform-enter reached the firmware
        bool resumed = false;      // the CPU came back at the kernel's waking vector
        bool power_lost = false;   // an injected power loss struck during the transition
        int error = 0;             // first suspend-side error (0 = none)
        std::string failed_phase;
        std::string failed_device;
        std::string test_level;    // /sys/power/pm_test stopped the transition at this level
    };

    PmEngine(PmServices services, const Protocol& protocol, EventHub& hub);
    // One transition. An engine runs any number in turn ([cycles]): each
    // starts from nothing of the one before but the callback workers.
    // `cycle` (1-based) is recorded on the transition slice; 0 records none.
    Result run(Cpu& cpu, unsigned cycle = 0);

private:
    // `only`: restrict to these devices (unwinding). `stop_on_error`: a
    // suspend-side phase stops at the first failing device.
    int run_phase(const Phase& p, Cpu& cpu, std::set<std::string>* succeeded,
                  const std::set<std::string>* only, bool stop_on_error);
    int run_callbacks(const Phase& p, Cpu& cpu, std::set<std::string>* succeeded,
                      const std::set<std::string>* only, bool stop_on_error);
    int platform_enter(Cpu& cpu);
    // Suspend-to-idle (sim/pm/s2idle.cpp): the s2idle-prepare, s2idle-restore,
    // lps0 and s2idle actions; s2idle_loop and s2idle_enter as
    // kernel/power/suspend.c names them.
    int s2idle_action(const Phase& p, Cpu& cpu);
    int s2idle_loop(Cpu& cpu);
    void s2idle_enter(Cpu& cpu);
    void save_processor_state(Cpu& cpu);
    int freeze_stage(Task::Kind kind);  // one stage of the freezer; -EBUSY names the refusers
    int power_lost(Cpu& cpu, const FaultSpec& cut);  // the CPU stops; returns 0 if the image came back
    int after_async_power_loss(Cpu& cpu);             // the same, once the power already failed
    int wait_for_power(Cpu& cpu);                     // what both wait for
    bool run_suspend(Cpu& cpu);                       // false: the transition ended there
    Result run_resume(Cpu& cpu);
    int run_callbacks_async(const Phase& p, Cpu& cpu, const std::vector<std::string>& parts,
                            const std::function<int(const std::string&, Cpu&)>& one, std::set<std::string>* succeeded,
                            bool stop_on_error);
    unsigned async_threads_ = 0;  // names the async callback jobs uniquely
    // The threads that run async callbacks, kept from phase to phase (a
    // thread of its own per device and phase would cost a stack each).
    struct Worker;
    std::vector<std::shared_ptr<Worker>> workers_;
    Worker& idle_worker();
    int injected_callback_fault(const std::string& device, const std::string& callback, const std::string& track);
    int explicit_callback(PmDevice& d, const std::string& name, PmCallback cb, Cpu& c);
    // drivers/base/power/main.c around one device's callback with runtime
    // PM: dpm_skip says why it is skipped ("" to run it), dpm_before and
    // dpm_after do what the PM core does around it.
    // `rd`: the device's runtime PM entry, found once per callback (nullptr:
    // none, and the PM core does nothing of runtime PM around it).
    std::string dpm_skip(const std::string& name, RuntimePm::Dev& rd, PmCallback cb, Cpu& c);
    void dpm_before(const std::string& name, RuntimePm::Dev* rd, PmCallback cb);
    int dpm_after(const std::string& name, RuntimePm::Dev* rd, PmCallback cb, int rc, Cpu& c);
    struct DpmState {
        bool direct_complete = false;   // prepare said it may stay suspended
        bool direct_completed = false;  // it did: only complete runs
        bool skip_suspend = false;      // SMART_SUSPEND and runtime-suspended at late: late/noirq skipped
        bool noirq_done = false;        // its suspend_noirq ran (or was skipped): resume may skip
        bool must_resume = false;       // decided at noirq (MAY_SKIP_RESUME); children set their superiors'
    };
    std::map<std::string, DpmState> dpm_;
    std::set<std::string> not_restored_;  // restore_explicit failed: the revoke action's devices
    // Fires the point faults of a phase boundary; returns the power loss among them.
    const FaultSpec* point_faults(const std::string& phase, const char* when);
    Result finish_without_resume();
    bool wakeup_pending(const Phase& p);
    // `test`: a pm_test stops after phase `failed_index`, which succeeded and
    // is undone too, each callbacks phase by its test_undo callback if named.
    void unwind(size_t failed_index, Cpu& cpu, const std::set<std::string>& failed_phase_ok, bool test = false);
    void pm_test(const Phase& p, size_t index, Cpu& cpu);
    // pm_notifier_call_chain_robust(PREPARE, POST): a notifier that fails
    // stops the chain, the ones before it get POST, and its errno fails the
    // freeze phase. notify_post: POST to every notifier, once per PREPARE.
    int notify_prepare(Cpu& cpu);
    void notify_post(Cpu& cpu, size_t upto);
    int notify_one(const std::string& dev, PmDevice& d, const std::string& event, Cpu& cpu);
    bool notified_ = false;

    PmServices s_;
    const Protocol& protocol_;
    EventHub& hub_;
    Result result_;
    std::map<size_t, std::set<std::string>> succeeded_;  // suspend phase index -> devices
    std::set<size_t> closed_;                            // suspend phases a later one undid
    std::string track_;
    uint64_t wakeups_at_start_ = 0;
};

}  // namespace quiesce
