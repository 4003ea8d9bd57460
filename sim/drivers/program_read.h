// What reading a driver file shares with applying its patches (program.cpp,
// program_patch.cpp): a step's fields, a list of steps, the labels every step
// gets. Not for use outside sim/drivers.
#pragma once

#include "sim/drivers/program.h"

#include <string>
#include <vector>

namespace quiesce::program_detail {

// Sets the fields of `s` that `r` names (all of a new step, or some of a
// patched one).
void read_step_fields(TableReader& r, Step& s);
// An input error at `op` unless the step's op is one step_ops() holds (its
// code resolved).
void check_op(TableReader& r, const Step& s);
// The steps of the array of tables `key` of `r` (an error when it is missing).
std::vector<Step> read_steps(TableReader& r, const std::string& key);
// Steps without a label get their op's name, numbered from the second
// (`save`, `save-2`): every step can be named by a patch.
void name_steps(std::vector<Step>& steps);

}  // namespace quiesce::program_detail
