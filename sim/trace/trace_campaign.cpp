// Campaigns in the trace database (docs/reliability.md): the row a `run` or
// `explore` writes before its first run and ends when it is over, and how a
// reader tells a finished, running or interrupted one (the process that
// wrote it, by pid and start time) - `quiesce trace runs`' closing block.
#include "sim/trace/trace_db.h"

#include "sim/core/errors.h"
#include "sim/core/paths.h"
#include "sim/trace/db_write.h"

#include <fmt/format.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace quiesce {

using namespace trace_detail;

namespace {

std::string read_first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

// /proc/PID/stat: the state (field 3) and the start time (field 22, clock
// ticks after boot); the command name (field 2) may hold spaces and ')'.
bool proc_stat(long pid, char& state, std::string& start) {
    std::string stat = read_first_line(fmt::format("/proc/{}/stat", pid));
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) return false;
    std::istringstream fields(stat.substr(paren + 1));
    std::string f;
    for (int i = 3; i <= 22 && fields >> f; ++i) {
        if (i == 3) state = f.empty() ? '?' : f[0];
        if (i == 22) start = f;
    }
    return !start.empty();
}

}  // namespace

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "?";
    return buf;
}

std::string process_start_of(long pid) {
    char state = '?';
    std::string start;
    if (!proc_stat(pid, state, start)) return "";
    return read_first_line("/proc/sys/kernel/random/boot_id") + "/" + start;
}

std::string campaign_state(const std::string& status, int64_t pid, const std::string& host,
                           const std::string& process_start) {
    if (status != "running") return status;
    if (host != host_name()) return "unfinished";
    char state = '?';
    std::string start;
    const bool alive = pid > 0 && proc_stat(long(pid), state, start) && state != 'Z' && state != 'X' &&
                       !process_start.empty() && process_start == process_start_of(long(pid));
    return alive ? "running" : "interrupted";
}

std::string trace_campaigns(const TraceReader& db) {
    std::string out;
    // Text columns only: a hostile database's values are shown, never parsed
    // into a crash.
    db.each("SELECT c.id, c.status, c.pid, c.host, c.process_start, c.planned, c.started_at, c.ended_at, c.command,"
            " (SELECT count(*) FROM run r WHERE r.campaign_id = c.id) FROM campaign c ORDER BY c.id",
            {}, [&](const std::vector<std::string>& c) {
                const int64_t pid = std::strtoll(c[2].c_str(), nullptr, 10);
                const std::string state = campaign_state(c[1], pid, c[3], c[4]);
                const std::string runs = c[5].empty() ? c[9] + " runs" : c[9] + " of " + c[5] + " runs";
                const std::string when =
                    c[7].empty() ? c[6] + (state == "running" ? ", running" : ", cut short") : c[6] + " to " + c[7];
                // A campaign over a whole folder has a command line of
                // thousands of characters: its start here, all of it in
                // campaign.command.
                std::string command = one_line(c[8]);
                if (command.size() > 120) command = command.substr(0, 117) + "...";
                out += fmt::format("{:>8}  {:<12} {:>16}  {:<43}  {}\n", one_line(c[0]), one_line(state),
                                   one_line(runs), one_line(when), command);
            });
    return out.empty() ? out
                       : fmt::format("\n{:>8}  {:<12} {:>16}  {:<43}  {}\n", "campaign", "state", "runs", "when",
                                     "command") +
                             out;
}

void TraceDb::begin_campaign(const std::string& command, const std::vector<std::string>& scenarios,
                             int64_t planned) {
    std::string list;
    for (const auto& f : scenarios) list += (list.empty() ? "" : "\n") + f;
    const long pid = long(::getpid());
    Stmt st(db_, "INSERT INTO campaign(command, scenarios, planned, status, started_at, pid, host, process_start,"
                 " quiesce_version) VALUES (?,?,?,'running',?,?,?,?,?)");
    st.bind(1, command).bind(2, list);
    if (planned < 0) st.bind_null(3);
    else st.bind(3, planned);
    st.bind(4, utc_now()).bind(5, int64_t(pid)).bind(6, host_name()).bind(7, process_start_of(pid));
    st.bind(8, std::string(QUIESCE_VERSION));
    try {
        campaign_ = st.run(db_, path_);
    } catch (const EnvironmentError&) {
        env_failed_ = true;
        throw;
    }
    campaign_pid_ = pid;
}

void TraceDb::set_planned(int64_t planned) {
    if (!campaign_) return;
    Stmt st(db_, "UPDATE campaign SET planned = ? WHERE id = ?");
    try {
        st.bind(1, planned).bind(2, campaign_).run(db_, path_);
    } catch (const EnvironmentError&) {
        env_failed_ = true;
        throw;
    }
}

void TraceDb::end_campaign(const std::string& status) {
    if (!campaign_) return;
    const int64_t id = campaign_;
    campaign_ = 0;  // once, whatever happens below
    Stmt st(db_, "UPDATE campaign SET status = ?, ended_at = ? WHERE id = ?");
    try {
        st.bind(1, status).bind(2, utc_now()).bind(3, id).run(db_, path_);
    } catch (const EnvironmentError&) {
        env_failed_ = true;
        throw;
    }
}

}  // namespace quiesce
