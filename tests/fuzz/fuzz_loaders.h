// The fuzz entry of every input file kind (issue 19): the libFuzzer target
// (fuzz_main.cpp, `make fuzz`) and the corpus replay of the unit tests
// (test_fuzz_replay.cpp) feed bytes through the same function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace quiesce::fuzz {

enum class Kind { Scenario, Platform, Protocol, Driver, Device };

// "scenario", "platform", "protocol", "driver", "device"; false for anything
// else.
bool kind_of(const std::string& name, Kind& kind);
const char* kind_name(Kind kind);

// An input the loaders handled wrongly without crashing: an input error
// without a location, or over more than one line.
struct Finding : std::logic_error {
    Finding(const std::string& what, std::string key) : std::logic_error(what), key(std::move(key)) {}
    std::string key;  // the input error's key
};

// Writes `data` to a file of this process's own and loads it as `kind`
// does for `quiesce validate`/`run`: load_scenario and the device graph,
// load_platform and the graph, load_protocol, load_driver, and a device
// file's checks (read_device_file: it is not kept, so no input changes how
// the next one loads). Returns whether it loaded (true) or was refused
// with an InputError naming file:line:column (false). Throws Finding for an input error without a
// location or on more than one line; any other exception propagates, and
// an abort is an abort - each a crash.
bool load_input(Kind kind, const uint8_t* data, size_t size);

}  // namespace quiesce::fuzz
