// Register tables generated from the register banks themselves (the bank is
// the single source of truth: docs/registers.md is this function's output).
#pragma once

#include "sim/scenario/scenario.h"

#include <string>

namespace quiesce {

// Builds the scenario's platform in this process (call in a forked child) and
// returns Markdown: one table per distinct bank layout, then every module's
// properties with their defaults.
std::string register_doc(const Scenario& s);

}  // namespace quiesce
