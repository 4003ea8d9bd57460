// Device files (scenarios/devices/NAME.toml, docs/devices.md): a PCI function
// with no C++ model of its own, described as data - identity, register bank,
// and the behaviours it has (models/pci/generic_device.h). Loading one makes
// it a target driver files can bind to (`binds = "NAME"`).
#pragma once

#include "models/pci/generic_device.h"

#include <memory>
#include <string>

namespace quiesce {

class TableReader;

// Loads and checks a device file; throws InputError naming file:line:column
// and key. The device becomes a driver target under its name (two different
// files of one name are an input error).
std::shared_ptr<const GenericDeviceDesc> load_device_file(const std::string& path);
// The same checks without making it a driver target or keeping it: what
// `path` describes, or the InputError (the fuzz entry's, which keeps no
// state from one input to the next).
std::shared_ptr<GenericDeviceDesc> read_device_file(const std::string& path);
// Finds a device file by name next to `near` (a devices/ folder beside it or
// beside its folder) or in the built-in set; "" if none.
std::string find_device_file(const std::string& near, const std::string& name);
// The same, loaded, or the error for `key` of `r`.
std::shared_ptr<const GenericDeviceDesc> resolve_device(TableReader& r, const std::string& key,
                                                        const std::string& name);
// A device loaded before, by name (nullptr if none).
std::shared_ptr<const GenericDeviceDesc> loaded_device(const std::string& name);

}  // namespace quiesce
