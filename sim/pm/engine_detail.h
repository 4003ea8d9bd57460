// What the engine's files share (engine.cpp, engine_actions.cpp): the result of
// a phase the machine lost power in, after which the image came back. Not for
// use outside sim/pm.
#pragma once

namespace quiesce::engine_detail {


constexpr int kResumedFromImage = 1;  // a phase hit by power loss, after which the image came back

}  // namespace quiesce::engine_detail
