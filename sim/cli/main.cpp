// The quiesce command line: every subcommand's options (CLI11), and which
// command they run - commands.cpp, explore_cmd.cpp, explore_options.cpp
// (explore's own options), findings_cmd.cpp (findings, replay), mutate_cmd.cpp.
// Exit status: 0 all expectations held; 1 some did not; 2 bad input; 3 the
// machine could not do it (a full disk, an I/O error).
#include "sim/cli/commands.h"
#include "sim/cli/junit.h"
#include "sim/cli/parse_errors.h"
#include "sim/core/errors.h"
#include "sim/core/paths.h"
#include "sim/scenario/executor.h"
#include "sim/scenario/scenario.h"
#include "sim/trace/export.h"
#include "sim/trace/summary.h"
#include "sim/trace/trace_db.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

namespace fs = std::filesystem;
using namespace quiesce;

// libsystemc's own main() refers to sc_main; quiesce has its own main() and
// starts each simulation in a forked child, so this entry is never used.
int sc_main(int, char**) { return 2; }

namespace {

// --timeout: seconds, a positive number.
const CLI::Validator kTimeout(
    [](std::string& text) -> std::string {
        char* end = nullptr;
        double v = std::strtod(text.c_str(), &end);
        if (text.empty() || *end || !std::isfinite(v) || !(v > 0) || v > 1e6)
            return "a time limit is a number of seconds above 0 (and at most 1000000), got '" + text + "'";
        return "";
    },
    "SECONDS", "timeout");

// `run --junit FILE` (or --junit=FILE; explore's too) as given on a command
// line that did not parse: its report still holds the error. "" when there
// is none.
std::string junit_as_given(int argc, char** argv) {
    if (argc < 2 || (std::string(argv[1]) != "run" && std::string(argv[1]) != "explore")) return "";
    std::string path;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--junit" && i + 1 < argc && argv[i + 1][0] != '-') path = argv[++i];
        else if (a.rfind("--junit=", 0) == 0) path = a.substr(8);
    }
    return path;
}
// The suite of that report: run's or explore's.
std::string junit_suite(int argc, char** argv) {
    return argc >= 2 && std::string(argv[1]) == "explore" ? "quiesce explore" : "quiesce";
}

}  // namespace

static int run_main(int argc, char** argv) {
    // explore forks a child per variant: starting once more, bound now and
    // without glibc's tcache, costs less than what its children then save.
    if (argc > 1 && std::string(argv[1]) == "explore") quiesce::prepare_for_forks(argv);
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
    set_command_line(argc, argv);
    CLI::App app{"quiesce: a full-system simulator that checks suspend/resume atomicity (cycle-accurate in its device registers, buses, memory and interrupts; software costs annotated: docs/models.md)"};
    app.require_subcommand(1);
    app.set_version_flag("--version", QUIESCE_VERSION);

    std::vector<std::string> run_paths;
    std::string db, junit;
    std::optional<uint64_t> seed;
    auto* run = app.add_subcommand("run", "Run scenarios and check their expectations");
    run->add_option("paths", run_paths, "Scenario files or directories (default: the regression suite, " +
                                            std::string(QUIESCE_DATA_DIR) + "/regression)");
    run->add_option("--db", db, "Trace database to write (default: a new quiesce-<time>.db here)");
    run->add_option("--junit", junit, "Write JUnit XML to this file");
    run->add_option("--seed", seed, "Override every scenario's seed")->check(seed_validator());
    std::vector<std::string> run_faults;
    unsigned run_jobs = 1;
    std::string run_order;
    run->add_option("--order", run_order, "An explicit suspend order for every scenario: DEV,DEV,... (resume: its reverse)");
    run->add_option("-j,--jobs", run_jobs, "Scenarios run in parallel, each in its own process (default 1)")
        ->check(CLI::Range(1, 256));
    run->add_option("--fault", run_faults,
                    "Add a fault rule to every scenario: \"kind=K,phase=P,device=D,...\" (the keys of [[fault]])")
        ->allow_extra_args(false);

    std::vector<std::string> validate_files;
    auto* validate = app.add_subcommand(
        "validate", "Check scenario, driver, protocol, platform and device files without running them");
    validate->add_option("files", validate_files, "Files or directories (each file checked as its kind)")->required();

    ExploreArgs ex;
    auto* explore = app.add_subcommand("explore", "Try fault points on a scenario: which ones break it, with reproducers");
    add_explore_options(*explore, ex);

    std::vector<std::string> findings_dbs;
    std::string findings_out;
    unsigned findings_jobs = 1;
    auto* findings = app.add_subcommand(
        "findings", "The deduplicated findings of explore databases (one, several shards, or a merged one)");
    findings->add_option("dbs", findings_dbs, "Explore databases")->required();
    findings->add_option("--out", findings_out, "Write a shrunk reproducer scenario per finding here");
    findings->add_option("-j,--jobs", findings_jobs, "Shrinking runs in parallel (default 1)")->check(CLI::Range(1, 256));

    std::string merge_out;
    std::vector<std::string> merge_in;
    auto* merge = app.add_subcommand("merge", "Merge trace databases (explore shards) into one");
    merge->add_option("out", merge_out, "Database to write (created if missing)")->required();
    merge->add_option("in", merge_in, "Databases to add, in order")->required();

    std::string replay_db;
    int64_t replay_run = 0;
    auto* replay = app.add_subcommand("replay", "Run a recorded run again and check its digest is identical");
    replay->add_option("db", replay_db, "Trace database")->required();
    replay->add_option("run", replay_run, "Run id")->required()->check(run_id_validator());

    std::string graph_file;
    auto* graph = app.add_subcommand("graph", "Print a scenario's device graph as DOT");
    graph->add_option("scenario", graph_file, "Scenario file")->required();

    // Defaults from the data directory built-in platforms and protocols come
    // from (QUIESCE_DATA_DIR), wherever quiesce runs.
    std::string registers_file = std::string(QUIESCE_DATA_DIR) + "/regression/s3-storage.toml";
    auto* registers = app.add_subcommand("registers", "Print the register and property tables of a scenario's platform (Markdown)");
    registers->add_option("scenario", registers_file, "Scenario file (default: " + registers_file + ")");

    auto* trace = app.add_subcommand("trace", "Read a trace database: runs, exports");
    trace->require_subcommand(1);
    std::string trace_db;
    auto* runs = trace->add_subcommand("runs", "One line per run");
    runs->add_option("db", trace_db, "Trace database")->required();
    int64_t export_run = 0;
    std::string export_format = "chrome", export_out;
    int64_t show_run = 0, diff_a = 0, diff_b = 0;
    auto* show = trace->add_subcommand("show", "A text timeline of one run");
    show->add_option("db", trace_db, "Trace database")->required();
    show->add_option("run", show_run, "Run id")->required()->check(run_id_validator());
    auto* diff = trace->add_subcommand("diff", "Where run B first departs from run A, and the phases side by side");
    diff->add_option("db", trace_db, "Trace database")->required();
    diff->add_option("a", diff_a, "Run A (e.g. the passing one)")->required()->check(run_id_validator());
    diff->add_option("b", diff_b, "Run B (e.g. the failing one)")->required()->check(run_id_validator());
    std::string diff_format = "text", diff_out;
    diff->add_option("--format", diff_format, "text, or html: a page with both runs side by side")
        ->check(CLI::IsMember({"text", "html"}));
    diff->add_option("-o,--output", diff_out, "Output file (default: standard output)");
    std::vector<std::string> summary_dbs;
    auto* summary = trace->add_subcommand("summary", "Many runs: phase and callback times, violation counts");
    summary->add_option("dbs", summary_dbs, "Trace databases")->required();
    auto* exp = trace->add_subcommand("export", "Export one run (chrome: Perfetto JSON; vcd: GTKWave; html: timeline "
                                                "page), or with --format html several: a summary page and each run's");
    exp->add_option("db", trace_db, "Trace database")->required();
    std::vector<std::string> export_runs;
    exp->add_option("runs", export_runs,
                    "Run id (see quiesce trace runs); with --format html several ids or ranges A-B, or none for "
                    "every run: -o DIR gets index.html (the summary) and run-N.html");
    exp->add_option("--format", export_format, "Export format")->check(CLI::IsMember({"chrome", "vcd", "html"}));
    exp->add_option("-o,--output", export_out, "Output file (default: standard output)");
    std::string export_gtkw_out;
    exp->add_option("--gtkw", export_gtkw_out,
                    "With --format vcd: write GTKWave's save file here (default: beside -o FILE, its extension .gtkw: "
                    "run.vcd, run.gtkw)");

    std::string query_db, query_sql, query_format = "table";
    double query_timeout = 5;
    auto* query = app.add_subcommand("query", "Run one read-only SQL statement on a trace database");
    query->add_option("db", query_db, "Trace database")->required();
    query->add_option("sql", query_sql, "SQL statement")->required();
    query->add_option("--format", query_format, "table (aligned), list (header, '|'), csv or json")
        ->check(CLI::IsMember({"table", "list", "csv", "json"}));
    query->add_option("--timeout", query_timeout,
                      "Stop the statement after this many seconds, an input error (default 5)")
        ->check(kTimeout);

    decimal_whole_numbers(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        const std::string line = parse_error_line(app, e, {argv + 1, argv + argc});
        write_junit_input_error(junit_as_given(argc, argv), junit_suite(argc, argv), InputError(line));
        std::fprintf(stderr, "quiesce: %s\n", line.c_str());
        return 2;
    }
    if (std::string missing = option_as_value(app); !missing.empty()) {
        write_junit_input_error(junit_as_given(argc, argv), junit_suite(argc, argv), InputError(missing));
        std::fprintf(stderr, "quiesce: %s\n", missing.c_str());
        return 2;
    }
    try {
        if (*run) return cmd_run(run_paths.empty() ? std::vector<std::string>{std::string(QUIESCE_DATA_DIR) + "/regression"}
                                                   : run_paths,
                                 db, junit, seed, run_faults, run_jobs, run_order);
        if (*validate) return cmd_validate(validate_files);
        if (*graph) return cmd_graph(graph_file);
        if (*explore) {
            // Where the results go is checked before anything runs.
            check_output_dir(ex.out, "--out");
            check_output_file(ex.junit, "--junit");
            settle_explore_args(ex);
            if (!ex.mutate.empty())
                return cmd_mutate(collect(ex.files, true), ex.mutate, ex.opts, ex.db, ex.out, ex.junit);
            if (ex.files.size() != 1) throw InputError("explore: one scenario file (several only with --mutate)");
            return cmd_explore(ex.files[0], ex.opts, ex.db, ex.out, ex.junit);
        }
        if (*findings) return cmd_findings(findings_dbs, findings_out, findings_jobs);
        if (*replay) return cmd_replay(replay_db, replay_run);
        if (*merge) return cmd_merge(merge_out, merge_in);
        if (*registers) return cmd_registers(registers_file);
        if (*summary) {
            std::vector<std::unique_ptr<TraceReader>> readers;
            std::vector<const TraceReader*> dbs;
            for (const auto& p : summary_dbs) {
                readers.push_back(std::make_unique<TraceReader>(p));
                dbs.push_back(readers.back().get());
            }
            std::fputs(trace_summary(dbs).c_str(), stdout);
            return 0;
        }
        if (*trace) {
            TraceReader db(trace_db);
            if (*runs) {
                std::fputs((trace_runs(db) + trace_campaigns(db)).c_str(), stdout);
                return 0;
            }
            if (*show) {
                std::fputs(trace_show(db, show_run).c_str(), stdout);
                return 0;
            }
            if (*diff) {
                if (!diff_out.empty()) check_output_file(diff_out, "-o");
                std::string text = diff_format == "html" ? diff_html(db, diff_a, diff_b) : trace_diff(db, diff_a, diff_b);
                if (diff_out.empty()) std::fputs(text.c_str(), stdout);
                else write_file_atomically(diff_out, text);
                return 0;
            }
            if (export_format != "vcd" && !export_gtkw_out.empty())
                throw InputError("--gtkw: a save file for --format vcd only");
            // Several runs (a list, a range, or none: all): the summary page and each run's timeline, in a directory.
            if (export_runs.size() != 1 || export_runs[0].find('-') != std::string::npos) {
                if (export_format != "html")
                    throw InputError("trace export: --format " + export_format +
                                     " writes one run: give one run id (several, or none: --format html)");
                if (export_out.empty())
                    throw InputError("trace export: a summary of several runs needs -o DIR (it writes DIR/index.html "
                                     "and DIR/run-N.html)");
                check_output_dir(export_out, "-o");
                MultiRunSummary sum = summarize_runs(db, parse_run_list(export_runs));
                if (sum.runs.empty()) throw InputError(db.path(), 0, 0, "", "no runs to summarize");
                fs::create_directories(export_out);
                for (const SummaryRun& r : sum.runs)
                    write_file_atomically((fs::path(export_out) / fmt::format("run-{}.html", r.id)).string(),
                                          export_html(db, r.id));
                write_file_atomically((fs::path(export_out) / "index.html").string(), summary_html(sum));
                return 0;
            }
            export_run = parse_run_list(export_runs)[0];
            std::string text = export_format == "vcd"    ? export_vcd(db, export_run)
                               : export_format == "html" ? export_html(db, export_run)
                                                         : export_chrome(db, export_run);
            if (export_format == "vcd" && export_gtkw_out.empty() && !export_out.empty()) {
                export_gtkw_out = fs::path(export_out).replace_extension(".gtkw").string();
                if (export_gtkw_out == export_out) export_gtkw_out += ".gtkw";
            }
            // The VCD and its save file are written all or none.
            std::vector<std::pair<std::string, std::string>> files;
            if (!export_out.empty()) files.emplace_back(export_out, text);
            if (export_format == "vcd" && !export_gtkw_out.empty()) {
                if (!export_out.empty() && fs::absolute(export_gtkw_out).lexically_normal() ==
                                               fs::absolute(export_out).lexically_normal())
                    throw InputError(export_gtkw_out, 0, 0, "--gtkw", "the same file as -o");
                files.emplace_back(export_gtkw_out, export_gtkw(db, export_run, export_out.empty() ? "" :
                                                                fs::absolute(export_out).string()));
            }
            write_files_atomically(files);
            if (export_out.empty()) std::fputs(text.c_str(), stdout);
            return 0;
        }
        if (*query) return cmd_query(query_db, query_sql, query_format, query_timeout);
    } catch (const InputError& e) {
        // CI shows the bad file in the report it asked for.
        if (*run) write_junit_input_error(junit, "quiesce", e);
        if (*explore) write_junit_input_error(ex.junit, "quiesce explore", e);
        std::fprintf(stderr, "quiesce: %s\n", e.what());
        return 2;
    } catch (const fs::filesystem_error& e) {  // a path no check above stat'ed first: still input
        std::fprintf(stderr, "quiesce: %s\n", os_input_error(e).what());
        return 2;
    } catch (const EnvironmentError& e) {
        std::fprintf(stderr, "quiesce: %s\n", e.what());
        return 3;
    }
    return 2;
}

int main(int argc, char** argv) {
    // A file-size limit (ulimit -f) is a write that fails, exit 3 with
    // nothing half-written, as a full disk is - not SIGXFSZ's default,
    // which killed quiesce mid-write and left what it had written.
    std::signal(SIGXFSZ, SIG_IGN);
    const int status = run_main(argc, argv);
    // Standard output on a full disk (or /dev/full): fputs does not say.
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
        const int err = errno;
        std::fprintf(stderr, "quiesce: standard output: cannot write: %s\n", err ? std::strerror(err) : "write error");
        return status == 0 ? 3 : status;
    }
    return status;
}
