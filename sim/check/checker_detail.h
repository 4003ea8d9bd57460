// What the checker's files share (checker.cpp, checker_state.cpp,
// checker_acpi.cpp): the words of an event, a violation's evidence as a
// JSON object, and a list split at a separator. Not for use outside
// sim/check (checker.h includes it for the checker's members).
#pragma once

#include "sim/core/events.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace quiesce::check_detail {

// The event categories and names the checker tells apart, resolved once per
// event (event_words) where it compared each event's strings test after
// test. Other: any category or name it does not look for.
enum class Cat : uint8_t { Other, Callback, Hotplug, Transition, Power, Firmware, Wake, Handle, Phase, Rpm, S2idle, Input };
enum class Word : uint8_t {
    Other,
    Offline, Online,                          // hotplug
    S3, S4, S5, PowerLost,                    // power
    SleepRequest,                             // firmware
    RemoteWakeup, Pme, Gpe, RtcAlarm, PowerButton, S2idleEnter, S2idleWake, KeyPress,  // wake, s2idle, input
    Revoke, HandleUse,                        // handle
    SleepInAtomic, DpmWaitFor, Participants, CallbackSkipped,
    Suspend, Freeze, SaveExplicit, Poweroff, Complete,  // callbacks
    RpmStatus, RuntimeSuspend, RuntimeResume,           // rpm
    // The guest errors judged as they are (io.suspended-device, freeze.escaped,
    // transparency.diverged, cache.lost-dirty-lines, irq.lost, acpi.sequence,
    // irq.suspended-handler, liveness.hang, rpm.usage-unbalanced).
    Judged,
};
struct EventWords {
    Cat cat = Cat::Other;
    Word name = Word::Other;
};
Cat category_of(const std::string& category);
Word word_of(const std::string& name);

// An event's category and name, resolved once per event: a word the emitter
// interned (Event::name_id, category_id) from its text the first time its
// id is seen and by its id after that, one it did not from its text.
class WordsById {
public:
    EventWords operator()(const Event& ev);

private:
    static constexpr uint8_t kUnseen = 0xff;
    std::vector<uint8_t> cats_, names_;  // Cat and Word by id, kUnseen until resolved
};

// {"key":"value",...}, each escaped.
std::string json_object(const std::vector<std::pair<std::string, std::string>>& kv);
// The non-empty items of `s` between `sep`s.
std::vector<std::string> split(const std::string& s, char sep);

}  // namespace quiesce::check_detail
