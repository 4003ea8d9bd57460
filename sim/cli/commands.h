// Subcommands implemented outside main.cpp.
#pragma once

#include "sim/explore/findings.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
class Validator;
}

namespace quiesce {

// quiesce explore's command line: main parses it, and findings reads a
// campaign's recorded command line back with the same options.
struct ExploreArgs {
    std::vector<std::string> files;
    std::string db, out, kinds, shard = "0/1", mutate, budget, junit;
    bool no_prefix = false, no_rollback = false;
    const CLI::Option* kinds_given = nullptr;  // --kinds, to tell "" from its absence
    ExploreOptions opts;
};
// --seed: a scenario file's seed, 0 to 2^63-1 (run's and explore's).
const CLI::Validator& seed_validator();
// A run id of a trace database, 1 to 2^63-1, in decimal.
const CLI::Validator& run_id_validator();
// Every whole-number option of `app` and its commands reads a leading zero
// as decimal: 010 is 10 (CLI11's conversion takes C's prefixes: 010 would
// be 8). Called once every option is declared.
void decimal_whole_numbers(CLI::App& app);
// Adds explore's options to its subcommand, bound to `a`.
void add_explore_options(CLI::App& explore, ExploreArgs& a);
// After parsing: --kinds, --shard, --budget, --no-prefix and --no-rollback into a.opts
// (an InputError names the option).
void settle_explore_args(ExploreArgs& a);

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
// This process's command line, each argument quoted where a shell would
// need it: what a campaign record says ran (set once by main).
void set_command_line(int argc, const char* const* argv);
const std::string& command_line();
// quiesce findings DB...: the findings of every exploration the databases
// hold (one, several shards, a merged one), deduplicated across them as
// explore deduplicates its own; with `out_dir`, a shrunk reproducer each.
// 0 when none, 1 when some, 2 on bad input (nothing written).
int cmd_findings(const std::vector<std::string>& dbs, const std::string& out_dir, unsigned jobs);
// The findings part of that, for `merge`: the report's text ("" when the
// databases hold no exploration); whether there are findings in `any`.
std::string findings_report(const std::vector<std::string>& dbs, const std::string& out_dir, unsigned jobs,
                            bool& any);
// Writes each file (atomically), making the directories on its way, once
// check_out_files() has passed them all.
void write_out_files(const std::vector<OutFile>& files);
// The copies of local files among `files` (OutFile::from) that would put
// the wrong file beside a reproducer: one already there with other content
// (a folder of the user's own given to --out), or two copies of one path
// that differ (two scenarios' local platforms of one name). Throws an
// InputError naming the path.
void check_out_files(const std::vector<OutFile>& files);
// quiesce replay DB RUN: 0 when the digest is identical, 1 when it differs.
int cmd_replay(const std::string& db_path, int64_t run_id);

// The scenario files PATHS name: files as given, directories searched for
// *.toml (an input error when one holds none, or a path is missing). With
// `scenarios_only`, the files in a platforms/, protocols/, drivers/ or
// devices/ folder under a directory are data, not scenarios, and left out.
std::vector<std::string> collect(const std::vector<std::string>& paths, bool scenarios_only = false);
// quiesce run: 0 when every expectation held, 1 otherwise.
// The database a command writes when --db is not given: a new
// quiesce-<date>-<time>.db here (run, explore and explore --mutate alike).
std::string default_db_name();

int cmd_run(const std::vector<std::string>& paths, std::string db_path, const std::string& junit,
            const std::optional<uint64_t>& seed, const std::vector<std::string>& faults, unsigned jobs,
            const std::string& order);
// quiesce validate FILE...: 0 when every file loads, 2 otherwise (a line each).
int cmd_validate(const std::vector<std::string>& files);
int cmd_graph(const std::string& file);
int cmd_registers(const std::string& file);
// quiesce query: one read-only statement, stopped after `timeout_s` seconds.
int cmd_query(const std::string& db_path, const std::string& sql, const std::string& format, double timeout_s);
// quiesce merge OUT IN...: every input checked first; an OUT this created
// goes again if the merge fails.
int cmd_merge(const std::string& out, const std::vector<std::string>& in);

}  // namespace quiesce
