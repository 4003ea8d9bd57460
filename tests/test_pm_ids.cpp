// A phase's action and the PM callbacks resolved from their names once (sim/pm/pm_ids.h).
#include "sim/pm/pm_ids.h"
#include "sim/pm/protocol.h"

#include <catch2/catch.hpp>

#include <cctype>
#include <set>
#include <string>
#include <vector>

using namespace quiesce;

namespace {
// Near misses of a name: one more character, one fewer, another case.
std::vector<std::string> near_misses(const std::string& name) {
    std::string upper = name;
    upper[0] = char(std::toupper(static_cast<unsigned char>(upper[0])));
    return {name + "x", name.substr(1), name.substr(0, name.size() - 1), upper, name + " "};
}
}  // namespace

TEST_CASE("pm ids: every known action has an id of its own, anything else is Other", "[pm-ids]") {
    std::set<PhaseAction> seen;
    for (const auto& a : known_actions()) {
        INFO(a);
        const PhaseAction id = phase_action_of(a);
        CHECK(id != PhaseAction::Other);
        CHECK(seen.insert(id).second);
        for (const auto& miss : near_misses(a)) CHECK(phase_action_of(miss) == PhaseAction::Other);
    }
    // S2idle is the last id: every id is some known action's.
    CHECK(seen.size() == size_t(PhaseAction::S2idle));
    for (const char* other : {"", "callback", "s2idle-", "platform", "irqs"}) CHECK(phase_action_of(other) == PhaseAction::Other);
}

TEST_CASE("pm ids: every callback has an id of its own, with the event and level its name says", "[pm-ids]") {
    std::vector<std::string> names = known_callbacks();
    for (const char* rpm : {"runtime_suspend", "runtime_resume", "runtime_idle"}) names.push_back(rpm);
    std::set<PmCallback> seen;
    for (const auto& n : names) {
        INFO(n);
        const PmCallback id = pm_callback_of(n);
        CHECK(id != PmCallback::Other);
        CHECK(seen.insert(id).second);
        for (const auto& miss : near_misses(n)) CHECK(pm_callback_of(miss) == PmCallback::Other);
        // The event and level as the PM core read them from the name: the
        // word before the first '_' (restore_explicit is no restore), and
        // its _noirq, _late or _early suffix.
        const std::string base = n.substr(0, n.find('_'));
        const char event = base == "suspend" ? 'S' : base == "freeze" ? 'F' : base == "poweroff" ? 'H'
                           : base == "resume" ? 'R' : base == "thaw" ? 'T'
                           : base == "restore" && n != "restore_explicit" ? 'E' : 0;
        CHECK(pm_event_of(id) == event);
        const bool noirq = n.size() > 6 && n.compare(n.size() - 6, 6, "_noirq") == 0;
        const bool late = n.find("_late") != std::string::npos || n.find("_early") != std::string::npos;
        CHECK(pm_level_of(id) == (noirq ? PmLevel::Noirq : late ? PmLevel::Late : PmLevel::Main));
    }
    CHECK(seen.size() == size_t(PmCallback::RuntimeIdle));
    CHECK(pm_event_of(PmCallback::Other) == 0);
    CHECK(pm_level_of(PmCallback::Other) == PmLevel::Main);
}
