// request_irq's IRQF_NO_SUSPEND and IRQF_COND_SUSPEND (kernel/irq/pm.c):
// a line kept live through suspend_device_irqs, the warning at request time
// when it is shared with an ordinary user, and a COND_SUSPEND handler that
// copes with running while its device is suspended.
#include "files.h"
#include "tmpfile.h"

#include "sim/core/errors.h"
#include "sim/scenario/executor.h"

#include <fstream>
#include <sstream>

using namespace quiesce;
using quiesce::test::TempFile;

namespace {
// Instants and errors while device interrupts are suspended, in time order:
// the suspend_device_irqs mark, each D3hot entry, the fault, each run of
// IRQ 10's handlers as one word with what they did (repeats of a run while
// the level line stays asserted counted as *N), the request-time warning.
std::string story(const RunResult& r) {
    std::vector<std::string> words;
    std::string run;  // the IRQ 10 run being built
    bool in_run = false;
    auto dev = [](const Event& ev) { return ev.track.substr(ev.track.rfind('.') + 1); };
    auto note = [&](const std::string& s) {
        if (in_run) run += (run.size() > 6 ? "," : "") + s;
        else words.push_back(s);
    };
    for (const auto& ev : r.stream.events) {
        if (ev.kind == EvKind::Instant && ev.name == "resume_device_irqs") break;
        if (ev.kind == EvKind::Instant && ev.name == "suspend_device_irqs") note("suspend-irqs");
        else if (ev.kind == EvKind::Instant && ev.name == "pci.D0->D3hot") note(dev(ev) + ":D3hot");
        else if (ev.kind == EvKind::Fault) note("fault:" + ev.name);
        else if (ev.kind == EvKind::SliceBegin && ev.name == "irq 10") in_run = true, run = "irq10(";
        else if (ev.kind == EvKind::SliceEnd && ev.name == "irq 10") {
            in_run = false;
            run += ")";
            if (!words.empty() && words.back().rfind(run, 0) == 0) {
                const size_t star = words.back().find('*', run.size());
                words.back() = run + "*" + std::to_string(star == std::string::npos ? 2 : std::stoi(words.back().substr(star + 1)) + 1);
            } else {
                words.push_back(run);
            }
        } else if (ev.kind == EvKind::Instant && ev.name == "irq-while-suspended")
            note(arg_value(ev, "device") + ":coped(wakeup=" + arg_value(ev, "wakeup") + ")");
        else if (ev.kind == EvKind::Instant && ev.name == "irq-suspended") note("pending");
        else if (ev.kind == EvKind::GuestError && ev.name == "irq.no-suspend-shared") note("warn:" + arg_value(ev, "plain"));
        else if (ev.kind == EvKind::GuestError && ev.name == "io.suspended-device") note("io:" + dev(ev));
        else if (ev.kind == EvKind::Violation && ev.name == "irq.suspended-handler") note("violation:" + dev(ev));
    }
    std::string out;
    for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
    return out;
}

// The part of the story from the first `from` on.
std::string from(const std::string& story, const std::string& word) {
    size_t at = story.find(word);
    return at == std::string::npos ? "" : story.substr(at);
}
}  // namespace

TEST_CASE("irq flags: a NO_SUSPEND line shared with an ordinary user runs its handler on a D3hot device", "[irq][irqflags]") {
    RunResult r = execute(test::load_regression("s3-irq-no-suspend-shared"));
    CHECK(r.status == "passed");  // its [expect] lists the violations
    CHECK(r.violations.count("irq.suspended-handler"));
    CHECK(r.violations.count("io.suspended-device"));
    const std::string s = story(r);
    // Linux's WARN at request_irq: dma1 (NO_SUSPEND) came first at probe, then dma0's plain request.
    CHECK(s.rfind("warn:dma0", 0) == 0);
    // dma1 stays in D0 (its driver saved config space in its noirq callback);
    // the line is not suspended, so the handlers run while the glitch holds
    // it - dma0's on its D3hot function, its MMIO read stopped at the root
    // port in D3hot above it. Ten passes: the controller sees the 2 us
    // glitch end two of its clock edges after the line drops (its input
    // synchronizer), and every pass's accesses complete before the next.
    CHECK(from(s, "suspend-irqs") ==
          "suspend-irqs dma0:D3hot rp0:D3hot fault:spurious-irq irq10(violation:dma0,io:rp0) irq10(io:rp0)*10");
}

TEST_CASE("irq flags: a COND_SUSPEND handler on a NO_SUSPEND line touches nothing while suspended", "[irq][irqflags]") {
    RunResult r = execute(test::load_regression("s3-irq-cond-suspend"));
    CHECK(r.status == "passed");
    CHECK(r.violations.empty());
    CHECK(r.stream.summary.outcome == "resumed");
    const std::string s = story(r);
    CHECK(s.find("warn:") == std::string::npos);
    CHECK(from(s, "suspend-irqs") ==
          "suspend-irqs dma0:D3hot rp0:D3hot fault:spurious-irq irq10(dma0:coped(wakeup=no))*6");
    // No MMIO access reached dma0 while it was in D3hot.
    bool dma0_d3 = false, touched = false;
    for (const auto& ev : r.stream.events) {
        if (ev.kind == EvKind::Instant && ev.name == "pci.D0->D3hot" && ev.track.find("dma0") != std::string::npos)
            dma0_d3 = true;
        if (ev.kind == EvKind::Instant && ev.name == "pci.D3hot->D0" && ev.track.find("dma0") != std::string::npos)
            dma0_d3 = false;
        if (dma0_d3 && ev.kind == EvKind::RegAccess && ev.track.find("dma0") != std::string::npos) touched = true;
    }
    CHECK_FALSE(touched);
}

TEST_CASE("irq flags: without NO_SUSPEND the same interrupt is only marked pending", "[irq][irqflags]") {
    Scenario sc = test::load_regression("s3-irq-cond-suspend");
    for (auto& [dev, p] : sc.drivers) {
        auto copy = std::make_shared<DriverProgram>(*p);
        copy->irq_flags = 0;
        p = copy;
    }
    RunResult r = execute(sc);
    CHECK(r.violations.empty());
    // The line is suspended: the arrival is masked and left pending, no handler runs.
    CHECK(from(story(r), "suspend-irqs") == "suspend-irqs dma0:D3hot rp0:D3hot fault:spurious-irq pending");
}

TEST_CASE("irq flags: a wakeup-armed COND_SUSPEND handler calls pm_system_wakeup and the suspend aborts", "[irq][irqflags]") {
    std::string t = test::read_text(test::regression("s3-irq-cond-suspend"));
    // dma0's suspend arms its line for wakeup (enable_irq_wake).
    t.insert(t.find("[drivers.dma1]"), "[[drivers.dma0.patch]]\ncallback = \"suspend\"\n"
                                        "prepend = [{ op = \"irq-wake\", label = \"arm\" }]\n\n");
    t = t.replace(t.find("[expect]"), std::string::npos, "[expect]\nresult = \"pass\"\n");
    TempFile f(t);
    RunResult r = execute(load_scenario(f.path()));
    const std::string s = story(r);
    CHECK(s.find("dma0:coped(wakeup=yes)") != std::string::npos);
    CHECK(r.stream.summary.outcome.rfind("aborted", 0) == 0);
}

TEST_CASE("irq flags: unknown or contradictory irq_flags are input errors", "[irq][irqflags][input]") {
    const std::string base = test::read_text(test::regression("s3-irq-cond-suspend"));
    for (const auto& [flags, says] : {std::pair<std::string, std::string>{"[\"NO_SLEEP\"]", "unknown flag 'NO_SLEEP'"},
                                      {"[\"NO_SUSPEND\", \"COND_SUSPEND\"]", "exclude each other"}}) {
        std::string t = base;
        t.replace(t.find("[\"COND_SUSPEND\"]"), 16, flags);
        TempFile f(t);
        try {
            load_scenario(f.path());
            FAIL("accepted irq_flags = " << flags);
        } catch (const InputError& e) {
            CHECK(std::string(e.what()).find(says) != std::string::npos);
            CHECK(std::string(e.what()).find("irq_flags") != std::string::npos);
        }
    }
}
