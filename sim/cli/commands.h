// Subcommands implemented outside main.cpp.
#pragma once

#include "sim/explore/explore.h"

#include <cstdint>
#include <string>
#include <vector>

namespace quiesce {

// quiesce explore SCENARIO: 0 when no fault point breaks it beyond its
// baseline, 1 when some do (each written to out_dir), 2 on bad input.
int cmd_explore(const std::string& file, ExploreOptions o, std::string db_path, const std::string& out_dir,
                const std::string& junit = "");
// quiesce explore SCENARIO... --mutate DRIVER|all: every mutation of the
// driver's callbacks against the scenarios; 0 when every mutant is killed,
// 1 when some survive, 2 on bad input. `junit`: a testcase per mutant, a
// survivor failed.
int cmd_mutate(const std::vector<std::string>& files, const std::string& driver, const ExploreOptions& o,
               std::string db_path, const std::string& out_dir, const std::string& junit = "");
// `s` fit for a file name: what is not a letter, digit, '-' or '.' becomes '_'.
std::string file_part(std::string s);
// This process's command line, each argument quoted where a shell would
// need it: what a campaign record says ran (set once by main).
void set_command_line(int argc, const char* const* argv);
const std::string& command_line();
// quiesce replay DB RUN: 0 when the digest is identical, 1 when it differs.
int cmd_replay(const std::string& db_path, int64_t run_id);

}  // namespace quiesce
