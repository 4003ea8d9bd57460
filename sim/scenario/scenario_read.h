// What the scenario loader's files share (scenario.cpp, scenario_devices.cpp,
// scenario_run.cpp, platform_spec.cpp): the clock rate parsed with the key
// named in its error (a duration or a size: TableReader::duration, ::size),
// and the readers of the sections load_scenario hands out. Not for use
// outside sim/scenario.
#pragma once

#include "sim/core/toml_reader.h"
#include "sim/scenario/scenario.h"

#include <stdexcept>
#include <string>

namespace quiesce::scenario_detail {

template <class F>
auto parse_value(TableReader& r, const std::string& key, const std::string& text, F f) {
    try {
        return f(text);
    } catch (const std::invalid_argument& e) {
        r.fail(key, e.what());
    }
}

// [devices.NAME], [runtime.NAME] and [drivers.NAME], then the built-in driver
// file of every device the scenario left alone.
void read_device_tables(TableReader& top, Scenario& s, const std::string& path);
// [workload], [cycles] and [hibernation], and the disk a hibernation needs.
void read_run_tables(TableReader& top, Scenario& s, const std::string& path);

}  // namespace quiesce::scenario_detail
