// The subcommands that fit on a screen or two - run, validate, graph,
// registers, query, merge - and the command line a campaign records.
// Exit status: 0 all expectations held; 1 some did not; 2 bad input; 3 the
// machine could not do it (a full disk, an I/O error).
#include "sim/cli/commands.h"
#include "sim/cli/terminal.h"

#include "sim/cli/junit.h"
#include "sim/core/errors.h"
#include "sim/core/heap_arena.h"
#include "sim/core/paths.h"
#include "sim/core/toml_reader.h"
#include "sim/drivers/device_file.h"
#include "sim/pm/protocol.h"
#include "sim/scenario/fork_runner.h"
#include "sim/scenario/executor.h"
#include "sim/scenario/platform.h"
#include "sim/scenario/register_doc.h"
#include "sim/scenario/scenario.h"
#include "sim/trace/trace_db.h"

#include <fmt/format.h>

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>

namespace fs = std::filesystem;

namespace quiesce {

std::vector<std::string> collect(const std::vector<std::string>& paths, bool scenarios_only) {
    std::vector<std::string> files;
    // Where a scenario's own data files sit (a reproducer folder's copies).
    auto data_file = [](const std::string& dir, const std::string& file) {
        const fs::path rel = fs::path(file).lexically_relative(dir).parent_path();
        for (const auto& part : rel)
            if (part == "platforms" || part == "protocols" || part == "drivers" || part == "devices") return true;
        return false;
    };
    for (const auto& p : paths) {
        PathKind kind = path_kind(p);
        if (kind == PathKind::Directory) {
            std::vector<std::string> found = toml_files_under(p);
            if (scenarios_only)
                found.erase(std::remove_if(found.begin(), found.end(),
                                           [&](const std::string& f) { return data_file(p, f); }),
                            found.end());
            if (found.empty()) throw InputError(p, 0, 0, "", "no scenario files (*.toml) in this directory");
            files.insert(files.end(), found.begin(), found.end());
        } else if (kind == PathKind::File) {
            files.push_back(p);
        } else if (kind == PathKind::Missing) {
            throw InputError(p, 0, 0, "", "no such file or directory");
        } else {
            files.push_back(p);  // a device node, a FIFO: the loader reads it or says what it is
        }
    }
    return files;
}

std::string default_db_name() {
    std::time_t t = std::time(nullptr);
    char buf[64];
    std::strftime(buf, sizeof buf, "quiesce-%Y%m%d-%H%M%S.db", std::localtime(&t));
    return buf;
}

int cmd_run(const std::vector<std::string>& paths, std::string db_path, const std::string& junit,
            const std::optional<uint64_t>& seed, const std::vector<std::string>& faults, unsigned jobs,
            const std::string& order) {
    check_output_file(junit, "--junit");  // before any run: a campaign's results need somewhere to go
    std::vector<Scenario> scenarios = load_preflighted(collect(paths, true), [&](Scenario& s) {
        // Faults from the command line join each scenario's plan.
        add_cli_faults(s, faults);
        if (!order.empty()) set_order(s, order);
    });
    if (seed)
        for (auto& s : scenarios) s.seed = *seed;
    if (db_path.empty()) db_path = default_db_name();
    TraceDb db(db_path);
    std::vector<std::string> files;
    for (const auto& s : scenarios) files.push_back(s.file);
    db.begin_campaign(command_line(), files, int64_t(scenarios.size()));
    std::printf("trace database: %s\n", db_path.c_str());
    std::vector<JunitCase> cases;
    JunitReport report(junit, "quiesce");
    auto pending = [&] { return fmt::format("{} of {} runs", scenarios.size() - cases.size(), scenarios.size()); };
    report.update(cases, pending(), true);
    int passed = 0, failed = 0;
    // A terminal gets a progress line under the results; a pipe plain lines.
    const bool tty = ::isatty(STDOUT_FILENO);
    auto progress = [&] {
        if (!tty) return;
        size_t done = size_t(passed + failed);
        const std::string line = fmt::format("[{}/{}] {} passed, {} failed{}", done, scenarios.size(), passed, failed,
                                             done < scenarios.size() ? ", running " + scenarios[done].name : "");
        std::printf("\r\033[K%s", fit_terminal(line).c_str());
        std::fflush(stdout);
    };
    progress();
    // This process decodes and records every run's stream, and forks none
    // of them (the runner does, sim/scenario/fork_runner.h): its heap grows
    // in huge pages and keeps what it frees for the next run
    // (sim/core/heap_arena.h; not explore's, which forks its prefix runs).
    heap_arena::grow_main_heap_huge();
    // SIGTERM (a CI job's timeout), SIGINT (Ctrl-C) or SIGHUP stop the
    // campaign between two reports, not mid-record: what was recorded is
    // reported as recorded (below).
    StopOnSignals stop_on_signals;
    try {
        execute_all(scenarios, jobs, [&](size_t index, RunResult r) {
            const Scenario& s = scenarios[index];
            if (tty) std::printf("\r\033[K");
            int64_t run_id = db.record(run_meta(s, r), r.stream);
            uint64_t cycles = uint64_t(static_cast<unsigned __int128>(r.stream.summary.sim_end) * s.platform.cpu_hz /
                                       1'000'000'000'000ULL);
            std::string verdict = r.status == "passed" ? "PASS" : r.status == "failed" ? "FAIL"
                                : r.status == "crashed" ? "CRASH" : "TIMEOUT";
            std::printf("%-7s %-36s %12llu cycles  %10s  %6.2fs  run %lld%s%s\n", verdict.c_str(), s.name.c_str(),
                        static_cast<unsigned long long>(cycles), format_ps(r.stream.summary.sim_end).c_str(), r.wall_s,
                        static_cast<long long>(run_id), r.message.empty() ? "" : "  ", r.message.c_str());
            std::fflush(stdout);
            (r.status == "passed" ? passed : failed)++;
            JunitCase c;
            c.classname = fs::path(s.file).parent_path().filename().string();
            c.name = s.name;
            c.file = s.file;
            c.time_s = r.wall_s;
            c.status = r.status;
            c.message = r.message;
            c.properties = {{"random_seed", std::to_string(s.seed)},
                            {"sim_time", format_ps(r.stream.summary.sim_end)},
                            {"sim_cycles", std::to_string(cycles)},
                            {"protocol", s.protocol.name},
                            {"expected", expected_text(s.expect)},
                            {"trace_db", db_path},
                            {"run_id", std::to_string(run_id)},
                            {"digest", fmt::format("{:016x}", r.stream.digest)},
                            // wall seconds per simulated second: how fast the model ran
                            {"wall_sim_ratio", r.stream.summary.sim_end
                                                   ? fmt::format("{:.3f}", r.wall_s / (double(r.stream.summary.sim_end) * 1e-12))
                                                   : "0"}};
            cases.push_back(std::move(c));
            if (cases.size() < scenarios.size()) report.update(cases, pending());
            progress();
        });
    } catch (const Interrupted& stop) {
        // The report and the campaign row say what ran; the runs in flight
        // died with the runner. 128 + the signal's number, as a shell says
        // of a process the signal ended.
        const std::string sig = sigabbrev_np(stop.signal) ? std::string("SIG") + sigabbrev_np(stop.signal)
                                                           : "signal " + std::to_string(stop.signal);
        if (tty) std::printf("\r\033[K");
        std::printf("stopped by %s: %d passed, %d failed, %s not run\n", sig.c_str(), passed, failed,
                    pending().c_str());
        std::fflush(stdout);
        report.stopped(cases, pending(), "quiesce was stopped by " + sig + " before it could run them");
        db.end_campaign("interrupted");
        return 128 + stop.signal;
    }
    if (tty) std::printf("\r\033[K");
    std::printf("%d passed, %d failed\n", passed, failed);
    report.finish(cases);
    db.end_campaign("finished");
    return failed ? 1 : 0;
}

namespace {

// `quiesce query`'s time limit. TraceReader opens the connection, so the
// limit reaches it as an auto-extension (SQLite runs one for every
// connection this process opens): a progress handler that interrupts the
// statement once the deadline has passed.
namespace query_limit {
std::chrono::steady_clock::time_point deadline;
bool expired = false;
int check(void*) {
    if (std::chrono::steady_clock::now() < deadline) return 0;
    expired = true;
    return 1;  // SQLITE_INTERRUPT
}
int install(sqlite3* db, const char**, const sqlite3_api_routines*) {
    sqlite3_progress_handler(db, 1000, check, nullptr);  // every 1000 virtual machine steps
    return SQLITE_OK;
}
}  // namespace query_limit

}  // namespace

int cmd_query(const std::string& db_path, const std::string& sql, const std::string& format, double timeout_s) {
    query_limit::deadline = std::chrono::steady_clock::now() +
                            std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                std::chrono::duration<double>(timeout_s));
    sqlite3_auto_extension(reinterpret_cast<void (*)()>(&query_limit::install));
    try {
        std::fputs(TraceReader(db_path).query(sql, format).c_str(), stdout);
    } catch (const InputError&) {
        if (!query_limit::expired) throw;
        // A runaway statement (an unbounded WITH RECURSIVE, a cross join of
        // the big tables) is the user's to bound.
        throw InputError(db_path, 0, 0, "",
                         fmt::format("query stopped at the --timeout of {:g}s (bound it with LIMIT, or give a "
                                     "larger --timeout)",
                                     timeout_s));
    }
    return 0;
}

int cmd_validate(const std::vector<std::string>& paths) {
    // What each argument and file gave, in order: a line for stdout ("ok:
    // FILE") or an error for stderr. Scenarios are built once all are
    // loaded, in one child (preflight_errors), then every line is said.
    struct Line {
        std::string ok, error;
        size_t scenario = SIZE_MAX;  // its index in `scenarios`, until built
    };
    std::vector<Line> lines;
    std::vector<Scenario> scenarios;
    // Each argument on its own: a missing path or an empty folder is one
    // bad argument, said in its place, not the end of the check.
    for (const auto& path : paths) {
        std::vector<std::string> files;
        try {
            files = collect({path});
        } catch (const InputError& e) {
            lines.push_back({"", e.what()});
            continue;
        }
        for (const auto& f : files) {
            try {
                const toml::table doc = parse_toml_file(f);
                // A driver (scenarios/drivers/), protocol (scenarios/protocols/:
                // its [[suspend]] phases), platform (scenarios/platforms/: cpus,
                // memory, [[device]]) or device file (scenarios/devices/: one
                // [device]) is checked as its own kind.
                std::string key;
                const std::string kind = other_file_kind(doc, key);
                if (!kind.empty()) {
                    if (kind == "driver") load_driver(f);
                    else if (kind == "protocol") load_protocol(f);
                    else if (kind == "platform") load_platform(f);
                    else load_device_file(f);
                    lines.push_back({"ok: " + f, ""});
                    continue;
                }
                scenarios.push_back(load_scenario(f));
                lines.push_back({"ok: " + f, "", scenarios.size() - 1});
            } catch (const InputError& e) {
                lines.push_back({"", e.what()});
            }
        }
    }
    std::vector<const Scenario*> built;
    for (const auto& s : scenarios) built.push_back(&s);
    const std::vector<std::string> errors = preflight_errors(built);
    int bad = 0;
    for (Line& l : lines) {
        if (l.scenario != SIZE_MAX && !errors[l.scenario].empty()) l.error = errors[l.scenario];
        if (l.error.empty()) {
            std::printf("%s\n", l.ok.c_str());
            continue;
        }
        std::fflush(stdout);  // the lines in the order of the files, on a terminal or in a pipe
        std::fprintf(stderr, "quiesce: %s\n", l.error.c_str());
        ++bad;
    }
    return bad ? 2 : 0;
}

int cmd_graph(const std::string& file) {
    Scenario s = load_scenario(file);
    DeviceGraph g = build_graph(s.platform);
    std::string order;
    for (const auto& n : g.suspend_order()) order += (order.empty() ? "" : " ") + n;
    std::printf("// platform %s; suspend order: %s\n%s", s.platform.name.c_str(), order.c_str(),
                g.dot(s.platform.name).c_str());
    return 0;
}

int cmd_registers(const std::string& file) {
    Scenario s = load_scenario(file);
    ChildResult r = run_forked(
        [&s](int fd) {
            write_all(fd, register_doc(s));
        },
        60);
    if (r.status != ChildResult::Status::Exited) {
        std::fprintf(stderr, "quiesce: building the platform failed: %s\n", r.error_tail.c_str());
        return 1;
    }
    std::fputs(r.output.c_str(), stdout);
    return 0;
}

int cmd_merge(const std::string& merge_out, const std::vector<std::string>& merge_in) {
    for (const auto& in : merge_in) {
        std::error_code ec;
        if (path_kind(in) == PathKind::Missing) throw InputError(in, 0, 0, "", "no such file");
        else if (path_kind(merge_out) != PathKind::Missing && fs::equivalent(in, merge_out, ec))
            throw InputError(in, 0, 0, "", "is the output database");
    }
    // Every input is a quiesce database, whole, before OUT is created or
    // opened: each input is merged in a transaction of its own, so one found
    // damaged half-way would leave those before it in an OUT that was there
    // (and SQLite names the database it writes, OUT). And no campaign is
    // copied twice: an input given twice (or a copy of it), or one merged
    // into OUT before - a merge run again after one killed half way. A
    // campaign is the process that wrote it: host, pid, process start, and
    // its own start.
    const bool created = path_kind(merge_out) == PathKind::Missing;
    std::map<std::string, std::string> holder;  // a campaign's identity -> the database that has it
    auto campaigns = [&](const TraceReader& db, const std::function<void(const std::string& key,
                                                                         const std::vector<std::string>& row)>& each) {
        db.each("SELECT id, started_at, pid, host, process_start FROM campaign ORDER BY id", {},
                [&](const std::vector<std::string>& row) { each(row[1] + '\n' + row[2] + '\n' + row[3] + '\n' + row[4], row); });
    };
    if (!created)
        campaigns(TraceReader(merge_out),
                  [&](const std::string& key, const std::vector<std::string>&) { holder[key] = merge_out; });
    for (const auto& in : merge_in) {
        const TraceReader reader(in);
        const std::string damage = reader.damage();
        if (!damage.empty()) throw InputError(in, 0, 0, "", "a damaged database: " + damage);
        campaigns(reader, [&](const std::string& key, const std::vector<std::string>& row) {
            const auto [at, fresh] = holder.emplace(key, in);
            if (fresh) return;
            throw InputError(in, 0, 0, "",
                             fmt::format("its campaign {} (started {}, pid {} on {}) is in {} {}: nothing merged",
                                         row[0], row[1], row[2], row[3], at->second,
                                         at->second == merge_out ? "already" : "too"));
        });
    }
    // A new OUT is written as OUT.merging and renamed OUT once whole: a
    // merge killed half-way leaves no OUT holding the inputs before the
    // kill (which the same merge run again would refuse), only the
    // .merging file, which it replaces. Its errors name OUT.
    if (created) check_output_file(merge_out, "");
    const std::string target = created ? merge_out + ".merging" : merge_out;
    auto remove_target = [&] {
        for (const char* side : {"", "-wal", "-shm", "-journal"}) std::remove((target + side).c_str());
    };
    if (created) remove_target();
    std::string merged;  // said once all are in
    try {
        {
            TraceDb out(target);
            for (const auto& in : merge_in)
                merged += fmt::format("{}: {} run(s)\n", in, out.merge_from(in));
        }  // closed: its log folded into the file
        if (created) {
            for (const char* side : {"-wal", "-shm"})
                if (path_kind(target + side) != PathKind::Missing)
                    std::rename((target + side).c_str(), (merge_out + side).c_str());
            if (std::rename(target.c_str(), merge_out.c_str()) != 0)
                throw EnvironmentError(merge_out, std::string("cannot rename ") + target + ": " + std::strerror(errno));
        }
    } catch (const InputError& e) {
        if (created) remove_target();
        if (e.file() != target) throw;
        throw InputError(merge_out, e.line(), e.column(), e.key(), e.message());
    } catch (const EnvironmentError& e) {
        if (created) remove_target();
        const std::string what = e.what(), named = target + ": ";
        if (what.rfind(named, 0) != 0) throw;
        throw EnvironmentError(merge_out, what.substr(named.size()));
    } catch (...) {
        if (created) remove_target();
        throw;
    }
    std::fputs(merged.c_str(), stdout);
    // The findings of the explorations it now holds, as `quiesce findings`
    // prints them. The merge is done whatever they are: a scenario that
    // cannot be run again is said, and the status stays 0.
    try {
        bool any = false;
        std::string text = findings_report({merge_out}, "", 1, any);
        if (!text.empty()) std::printf("\n%s", text.c_str());
    } catch (const InputError& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "quiesce: findings not shown: %s\n", e.what());
    }
    return 0;
}

namespace {
std::string g_command_line;
}  // namespace

void set_command_line(int argc, const char* const* argv) {
    g_command_line.clear();
    for (int i = 0; i < argc; ++i) {
        std::string a = argv[i];
        bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                       "0123456789-_./=:,+@%") == std::string::npos;
        std::string q = "'";
        for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
        g_command_line += (i ? " " : "") + (plain ? a : q + "'");
    }
}
const std::string& command_line() { return g_command_line; }

}  // namespace quiesce
