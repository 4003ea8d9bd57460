// Subcommands implemented outside main.cpp.
#pragma once

#include "sim/explore/explore.h"

#include <cstdint>
#include <string>

namespace quiesce {

// quiesce explore SCENARIO: 0 when no fault point breaks it beyond its
// baseline, 1 when some do (each written to out_dir), 2 on bad input.
int cmd_explore(const std::string& file, ExploreOptions o, std::string db_path, const std::string& out_dir,
                const std::string& junit = "");
// quiesce replay DB RUN: 0 when the digest is identical, 1 when it differs.
int cmd_replay(const std::string& db_path, int64_t run_id);

}  // namespace quiesce
