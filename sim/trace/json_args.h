// The `args` and `evidence` columns hold JSON objects; read from any
// database, text that does not parse is kept as {"raw": text}.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace quiesce {

inline nlohmann::json parse_args(const std::string& text) {
    if (text.empty()) return nlohmann::json::object();
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    return j.is_discarded() ? nlohmann::json{{"raw", text}} : j;
}

}  // namespace quiesce
