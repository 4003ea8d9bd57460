// The smallest protocol file that loads, in pieces a test can recombine or
// break: suspend phases that take the CPUs and interrupts down and enter
// the sleep state, and resume phases that bring them back.
#pragma once

#include <string>

namespace quiesce::test {

// Three [[suspend]] tables: cpus-offline, irqs-off, enter (platform-enter).
inline const std::string kSuspendPhases = R"([[suspend]]
name = "cpus-offline"
action = "cpus-offline"
[[suspend]]
name = "irqs-off"
action = "irqs-off"
[[suspend]]
name = "enter"
action = "platform-enter"
)";
// Two [[resume]] tables: irqs-on, cpus-online.
inline const std::string kResumePhases = R"([[resume]]
name = "irqs-on"
action = "irqs-on"
[[resume]]
name = "cpus-online"
action = "cpus-online"
)";

}  // namespace quiesce::test
