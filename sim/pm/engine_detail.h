// What the engine's files share (engine.cpp, engine_actions.cpp,
// engine_callbacks.cpp): the result of a phase the machine lost power in,
// after which the image came back, and the words of their events. Not for
// use outside sim/pm.
#pragma once

#include "sim/core/interned.h"

namespace quiesce::engine_detail {

// Interned once (the category of every phase slice and of the participants).
inline const EventWord kPhaseWord("phase");
inline const EventWord kPmWord("pm");

constexpr int kResumedFromImage = 1;  // a phase hit by power loss, after which the image came back

}  // namespace quiesce::engine_detail
