// The trace database's writer: creating or opening a database, recording a
// run in one transaction, and removing a database this command created when
// the machine failed it. The schema and merge are in trace_schema.cpp,
// campaigns in trace_campaign.cpp, reading in trace_reader.cpp.
#include "sim/trace/trace_db.h"

#include "sim/core/errors.h"
#include "sim/core/paths.h"
#include "sim/trace/db_write.h"
#include "sim/trace/typed_args.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <exception>
#include <map>
#include <unordered_map>
#include <vector>

namespace quiesce {

namespace trace_detail {

bool environment_failure(sqlite3* db) {
    if (!db) return false;
    const int code = sqlite3_extended_errcode(db) & 0xff;
    if (code == SQLITE_FULL || code == SQLITE_IOERR) return true;
    return code == SQLITE_CANTOPEN && environment_errno(sqlite3_system_errno(db));
}

std::exception_ptr db_error(sqlite3* db, const std::string& path, const std::string& what) {
    if (!environment_failure(db)) return std::make_exception_ptr(InputError(path, 0, 0, "", what));
    const int err = sqlite3_system_errno(db);
    return std::make_exception_ptr(
        EnvironmentError(path, environment_errno(err) ? what + " (" + std::strerror(err) + ")" : what));
}

std::string utc_now() {
    std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

}  // namespace trace_detail

using namespace trace_detail;

void TraceDb::Close::operator()(sqlite3* db) const { sqlite3_close(db); }

TraceDb::TraceDb(const std::string& path) : path_(path), owner_pid_(long(::getpid())) {
    bool existed = path_kind(path) != PathKind::Missing;
    if (!existed) {
        // Created here (O_EXCL), so that the file is known to be this
        // command's to remove if what follows fails. Any error but the
        // machine's is sqlite3_open_v2's to report, as it always was.
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ::close(fd);
            created_ = true;
        } else if (errno == EEXIST) {
            existed = true;
        } else if (environment_errno(errno)) {
            throw EnvironmentError(path, std::string("cannot create database: ") + std::strerror(errno));
        }
    }
    try {
        setup(existed);
    } catch (...) {
        if (created_) discard();
        throw;
    }
}

// The connection is conn_'s from the moment sqlite3_open_v2 returns (a
// failed open allocates one too): every throw below closes it.
void TraceDb::setup(bool existed) {
    const std::string& path = path_;
    // One thread uses a connection (the process that records): no mutex
    // around every call of SQLite's API.
    configure_sqlite();
    const int opened = sqlite3_open_v2(path.c_str(), &db_,
                                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    conn_.reset(db_);
    if (opened != SQLITE_OK) {
        if (!db_) throw InputError(path, 0, 0, "", "cannot open database: out of memory");
        std::rethrow_exception(db_error(db_, path, std::string("cannot open database: ") + sqlite3_errmsg(db_)));
    }
    sqlite3_busy_timeout(db_, 5000);
    add_typed_args_function(db_);  // merge_from reads older versions with it
    if (existed) {
        const Stamp stamp = read_stamp(db_);
        // The machine failed the read (a WAL database's first read sizes its
        // -shm file, which a full disk refuses): not the file's fault.
        if (stamp.kind == Stamp::Unreadable && environment_failure(db_))
            std::rethrow_exception(db_error(db_, path, "cannot read database: " + stamp.why));
        if (stamp.kind == Stamp::Unreadable) throw InputError(path, 0, 0, "", "cannot read database: " + stamp.why);
        if (stamp.kind == Stamp::Foreign) throw InputError(path, 0, 0, "", stamp.why);
        if (stamp.kind == Stamp::Trace && stamp.version != kTraceSchemaVersion) {
            if (stamp.version >= kOldestTraceSchema && stamp.version < kTraceSchemaVersion)
                throw InputError(path, 0, 0, "",
                                 fmt::format("trace schema version {}: this quiesce adds runs to version {} only "
                                             "(quiesce merge NEW.db {} copies its runs into a new database of "
                                             "version {})",
                                             stamp.version, kTraceSchemaVersion, path, kTraceSchemaVersion));
            throw InputError(path, 0, 0, "",
                             fmt::format("trace schema version {} (this quiesce writes {})", stamp.version,
                                         kTraceSchemaVersion));
        }
        // Whole before anything is added: a damaged page found by the first
        // run that reaches it would leave the campaign's row and the runs
        // before it written.
        if (stamp.kind == Stamp::Trace) {
            const std::string damaged = damage(db_, path);
            if (!damaged.empty()) throw InputError(path, 0, 0, "", "a damaged database: " + damaged);
        }
    }
    // A new database (no page yet) becomes a WAL one in a single write of
    // its first page, without a rollback journal. With one (SQLite's
    // default for that write), a process killed after the page and before
    // the journal's removal left a hot journal, which only a writer may roll
    // back: `sqlite3 -readonly`, or any read-only reader, could not open the
    // file ("attempt to write a readonly database"; tests/kill_campaigns.sh
    // found it). A kill now leaves an empty file or a WAL database.
    int64_t pages = -1;
    Stmt(db_, "PRAGMA page_count").step_row(db_, path, [&](sqlite3_stmt* q) { pages = sqlite3_column_int64(q, 0); });
    if (pages == 0) exec("PRAGMA journal_mode=OFF");
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec("BEGIN");
    exec(schema_sql());
    exec(fmt::format("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', '{}'), "
                     "('time_unit', 'ps'), ('writer', 'quiesce {}')",
                     kTraceSchemaVersion, QUIESCE_VERSION)
             .c_str());
    exec(fmt::format("PRAGMA application_id = {}", kTraceApplicationId).c_str());
    exec(fmt::format("PRAGMA user_version = {}", kTraceSchemaVersion).c_str());
    exec("COMMIT");
}

// record()'s statements, prepared once per database.
struct TraceDb::Statements {
    explicit Statements(sqlite3* db)
        : run(db, "INSERT INTO run(scenario, file, seed, protocol, platform, status, outcome, workload, expected,"
                  " message, sim_time, wall_ms, digest, trace_level, started_at, quiesce_version, faults, campaign_id)"
                  " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"),
          track(db, "INSERT INTO track(run_id, name, parent_id, kind, clock_domain, clock_hz) VALUES (?,?,?,?,?,?)"),
          next_slice(db, "SELECT coalesce(max(id), 0) + 1 FROM slice"),
          slice(db, "INSERT INTO slice(id, run_id, track_id, ts, dur, ts_cycles, dur_cycles, name, category, depth,"
                    " parent_id, phase, args) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"),
          instant(db, "INSERT INTO instant(run_id, track_id, ts, ts_cycles, name, category, phase, args)"
                      " VALUES (?,?,?,?,?,?,?,?)"),
          counter(db, "INSERT INTO counter(run_id, track_id, ts, ts_cycles, name, value) VALUES (?,?,?,?,?,?)"),
          violation(db, "INSERT INTO violation(run_id, invariant, ts, ts_cycles, component, phase, message, evidence)"
                        " VALUES (?,?,?,?,?,?,?,?)"),
          guest_error(db, "INSERT INTO guest_error(run_id, track_id, ts, ts_cycles, name, phase, args)"
                          " VALUES (?,?,?,?,?,?,?)"),
          fault(db, "INSERT INTO fault(run_id, track_id, ts, ts_cycles, kind, phase, args) VALUES (?,?,?,?,?,?,?)"),
          reg_access(db, "INSERT INTO reg_access(run_id, track_id, ts, ts_cycles, register, offset, size, is_write,"
                         " value, state_class, initiator, phase) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"),
          bus(db, "INSERT INTO bus_transaction(run_id, ts, initiator, target, addr, size, is_write, response,"
                  " phase) VALUES (?,?,?,?,?,?,?,?,?)"),
          flow(db, "INSERT INTO flow(run_id, name, from_table, from_id, to_table, to_id) VALUES (?,?,?,?,?,?)"),
          input(db, "INSERT INTO run_input(run_id, path, bytes, hash) VALUES (?,?,?,?)") {}
    Stmt run, track, next_slice, slice, instant, counter, violation, guest_error, fault, reg_access, bus, flow, input;
};

TraceDb::~TraceDb() {
    // The disk failed this database before any run was recorded in it: a
    // database this command created goes (nothing in it is worth keeping,
    // and a 0-byte file would only be in the way). Not in a forked child.
    if (created_ && env_failed_ && recorded_ == 0 && owner_pid_ == long(::getpid())) {
        discard();
        return;
    }
    // An exception unwound past an open campaign: it failed. Not in a forked
    // child unwinding its copy of the parent's stack.
    if (campaign_ && campaign_pid_ == long(::getpid())) {
        try {
            end_campaign("failed");
        } catch (const std::exception&) {  // the database itself failed: the row stays `running`
        }
    }
}

void TraceDb::discard() {
    if (owner_pid_ != long(::getpid())) return;
    bool others = false;  // another process's runs or campaign: the file is not this command's alone
    if (db_) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        sqlite3_stmt* st = nullptr;
        // No such table: the schema never got in, nothing is there.
        if (sqlite3_prepare_v2(db_, "SELECT (SELECT count(*) FROM run) + (SELECT count(*) FROM campaign WHERE pid <> ?)",
                               -1, &st, nullptr) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, int64_t(owner_pid_));
            others = sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) != 0;  // unsure: keep it
        }
        sqlite3_finalize(st);
    }
    st_.reset();
    conn_.reset();
    db_ = nullptr;
    campaign_ = 0;
    if (others) return;
    for (const char* side : {"", "-wal", "-shm", "-journal"}) std::remove((path_ + side).c_str());
}
void TraceDb::exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "?";
        sqlite3_free(err);
        if (environment_failure(db_)) env_failed_ = true;
        std::rethrow_exception(db_error(db_, path_, "database error: " + msg));
    }
}

int64_t TraceDb::record(const RunMeta& m, const RunStream& s) {
    if (!st_) st_ = std::make_unique<Statements>(db_);
    exec("BEGIN IMMEDIATE");
    try {
        Stmt& run = st_->run;
        run.bind(1, m.scenario).bind(2, m.file).bind(3, int64_t(m.seed)).bind(4, m.protocol).bind(5, m.platform);
        run.bind(6, m.status);
        if (s.has_summary) run.bind_or_null(7, s.summary.outcome).bind_or_null(8, s.summary.workload);
        else run.bind_null(7).bind_null(8);
        run.bind(9, m.expected).bind_or_null(10, m.message).bind(11, int64_t(s.summary.sim_end)).bind(12, m.wall_ms);
        run.bind(13, fmt::format("{:016x}", s.digest)).bind_or_null(14, m.trace_level).bind(15, utc_now());
        run.bind(16, std::string(QUIESCE_VERSION));
        if (m.faults.empty()) run.bind_null(17);
        else run.bind(17, m.faults);
        if (campaign_) run.bind(18, campaign_);
        else run.bind_null(18);
        int64_t run_id = run.run(db_, path_);
        for (const InputFile& f : m.inputs) {
            st_->input.bind(1, run_id).bind(2, f.path).bind(3, int64_t(f.bytes)).bind(4, fmt::format("{:016x}", f.hash));
            st_->input.run(db_, path_);
        }

        // Tracks; parents are the explicit parent or the longest path prefix.
        // Each event looks its track up once, by name (id and clock).
        struct TrackRow {
            int64_t id;
            uint64_t hz;
        };
        std::unordered_map<std::string, TrackRow> track_row;
        Stmt& tr = st_->track;
        std::map<std::string, TrackInfo> infos;
        for (const auto& t : s.tracks) {
            auto& slot = infos[t.name];
            if (slot.name.empty()) slot = t;
            else if (!t.parent.empty()) slot.parent = t.parent;
        }
        auto ensure = [&](const std::string& name, auto& self) -> const TrackRow& {
            auto it = track_row.find(name);
            if (it != track_row.end()) return it->second;
            TrackInfo info = infos.count(name) ? infos[name] : TrackInfo{name, "", "component", "", 0};
            std::string parent = info.parent;
            if (parent.empty())
                for (size_t dot = name.rfind('.'); dot != std::string::npos && parent.empty();
                     dot = dot ? name.rfind('.', dot - 1) : std::string::npos)
                    if (infos.count(name.substr(0, dot))) parent = name.substr(0, dot);
            int64_t pid = parent.empty() || parent == name ? -1 : self(parent, self).id;
            tr.bind(1, run_id).bind(2, name);
            if (pid < 0) tr.bind_null(3);
            else tr.bind(3, pid);
            tr.bind_or_null(4, info.kind).bind_or_null(5, info.domain);
            if (info.hz) tr.bind(6, int64_t(info.hz));
            else tr.bind_null(6);  // no clock
            int64_t id = tr.run(db_, path_);
            return track_row.emplace(name, TrackRow{id, info.hz}).first->second;
        };
        for (const auto& [name, info] : infos) ensure(name, ensure);
        auto cycles = [&](uint64_t h, Picos t) -> int64_t {
            return h ? int64_t(static_cast<unsigned __int128>(t) * h / 1'000'000'000'000ULL) : -1;
        };
        auto bind_cycles = [&](Stmt& st, int i, uint64_t h, Picos t) {
            int64_t c = cycles(h, t);
            if (c < 0) st.bind_null(i);
            else st.bind(i, c);
        };

        Stmt &in = st_->instant, &co = st_->counter, &vi = st_->violation, &ge = st_->guest_error,
             &fa = st_->fault, &ra = st_->reg_access, &bt = st_->bus, &fl = st_->flow;
        std::string json;  // an args column, built in place (empty: NULL)
        // A slice is one row, written when it ends; its id is taken when it
        // begins, so ids follow the begin order and children name parents.
        int64_t next_slice = 0;
        st_->next_slice.step_row(db_, path_, [&](sqlite3_stmt* q) { next_slice = sqlite3_column_int64(q, 0); });
        auto write_slice = [&](const auto& o, Picos end, const std::vector<Arg>& args) {
            Stmt& sl = st_->slice;
            const Event& b = *o.begin;
            sl.bind(1, o.id).bind(2, run_id).bind(3, o.tid).bind(4, int64_t(b.ts)).bind(5, int64_t(end - b.ts));
            int64_t c0 = cycles(o.hz, b.ts), c1 = cycles(o.hz, end);
            if (c0 < 0) sl.bind_null(6).bind_null(7);
            else sl.bind(6, c0).bind(7, c1 - c0);
            sl.bind_ref(8, b.name).bind_ref_or_null(9, b.category).bind(10, o.depth);
            if (o.parent < 0) sl.bind_null(11);
            else sl.bind(11, o.parent);
            args_json(json, args);
            sl.bind_ref_or_null(12, b.phase).bind_ref_or_null(13, json).insert(db_, path_);
        };
        struct Open {  // a slice begun: its row's fields, and the event that began it
            int64_t id, tid, depth, parent;
            uint64_t hz;
            const Event* begin;
        };
        std::map<std::string, std::vector<Open>> stacks;
        std::map<std::string, int64_t> ledger_issue;  // ledger id -> instant id
        const std::string* last_track = nullptr;  // consecutive events are often on one track
        const TrackRow* row = nullptr;
        for (const Event& ev : s.events) {
            if (!last_track || *last_track != ev.track) {
                row = &ensure(ev.track, ensure);
                last_track = &ev.track;
            }
            const int64_t tid = row->id;
            const uint64_t hz = row->hz;
            switch (ev.kind) {
                case EvKind::SliceBegin: {
                    auto& st = stacks[ev.track];
                    st.push_back({next_slice++, tid, int64_t(st.size()), st.empty() ? -1 : st.back().id, hz, &ev});
                    break;
                }
                case EvKind::SliceEnd: {
                    auto& st = stacks[ev.track];
                    if (st.empty() || st.back().begin->name != ev.name) break;  // unmatched: ignore
                    const Open o = st.back();
                    st.pop_back();
                    if (ev.args.empty()) {
                        write_slice(o, ev.ts, o.begin->args);
                        break;
                    }
                    std::vector<Arg> all = o.begin->args;  // an end argument replaces a begin one of the same key
                    for (const Arg& a : ev.args) {
                        auto same = std::find_if(all.begin(), all.end(), [&](const Arg& b) { return b.key == a.key; });
                        if (same == all.end()) all.push_back(a);
                        else same->value = a.value;
                    }
                    write_slice(o, ev.ts, all);
                    break;
                }
                case EvKind::Instant: {
                    in.bind(1, run_id).bind(2, tid).bind(3, int64_t(ev.ts));
                    bind_cycles(in, 4, hz, ev.ts);
                    args_json(json, ev.args);
                    in.bind_ref(5, ev.name).bind_ref_or_null(6, ev.category).bind_ref_or_null(7, ev.phase)
                        .bind_ref_or_null(8, json);
                    int64_t iid = in.insert(db_, path_);
                    if (ev.category == "ledger" && ev.name == "issue") ledger_issue[arg_value(ev, "id")] = iid;
                    if (ev.category == "ledger" && ev.name == "retire") {
                        auto it = ledger_issue.find(arg_value(ev, "id"));
                        if (it != ledger_issue.end())
                            fl.bind(1, run_id).bind(2, "ledger").bind(3, "instant").bind(4, it->second)
                                .bind(5, "instant").bind(6, iid).run(db_, path_);
                    }
                    break;
                }
                case EvKind::Counter:
                    co.bind(1, run_id).bind(2, tid).bind(3, int64_t(ev.ts));
                    bind_cycles(co, 4, hz, ev.ts);
                    co.bind_ref(5, ev.name).bind(6, ev.value).insert(db_, path_);
                    break;
                case EvKind::Violation: {
                    vi.bind(1, run_id).bind(2, ev.name).bind(3, int64_t(ev.ts));
                    bind_cycles(vi, 4, hz, ev.ts);
                    std::string evidence = arg_value(ev, "evidence");
                    if (evidence == "{}") evidence.clear();
                    vi.bind_or_null(5, ev.track).bind_or_null(6, ev.phase).bind(7, arg_value(ev, "message"))
                        .bind_or_null(8, typed_json(evidence)).run(db_, path_);
                    break;
                }
                case EvKind::GuestError:
                    ge.bind(1, run_id).bind(2, tid).bind(3, int64_t(ev.ts));
                    bind_cycles(ge, 4, hz, ev.ts);
                    args_json(json, ev.args);
                    ge.bind_ref(5, ev.name).bind_ref_or_null(6, ev.phase).bind_ref_or_null(7, json).insert(db_, path_);
                    break;
                case EvKind::Fault:
                    fa.bind(1, run_id).bind(2, tid).bind(3, int64_t(ev.ts));
                    bind_cycles(fa, 4, hz, ev.ts);
                    args_json(json, ev.args);
                    fa.bind_ref(5, ev.name).bind_ref_or_null(6, ev.phase).bind_ref_or_null(7, json).insert(db_, path_);
                    break;
                case EvKind::RegAccess:
                    ra.bind(1, run_id).bind(2, tid).bind(3, int64_t(ev.ts));
                    bind_cycles(ra, 4, hz, ev.ts);
                    ra.bind_ref(5, ev.name).bind(6, int64_t(ev.addr)).bind(7, int64_t(ev.size))
                        .bind(8, int64_t(ev.write)).bind(9, int64_t(ev.data)).bind_ref(10, ev.category)
                        .bind_ref_or_null(11, ev.initiator).bind_ref_or_null(12, ev.phase).insert(db_, path_);
                    break;
                case EvKind::Transaction:
                    bt.bind(1, run_id).bind(2, int64_t(ev.ts)).bind_ref_or_null(3, ev.initiator)
                        .bind_ref_or_null(4, ev.name).bind(5, int64_t(ev.addr)).bind(6, int64_t(ev.size))
                        .bind(7, int64_t(ev.write)).bind(8, int64_t(ev.data)).bind_ref_or_null(9, ev.phase)
                        .insert(db_, path_);
                    break;
            }
        }
        // Slices still open at the end ran until the end of the run.
        for (auto& [track, st] : stacks)
            for (const Open& o : st) {
                std::vector<Arg> all = o.begin->args;
                all.push_back({"unfinished", "1"});
                write_slice(o, std::max(s.summary.sim_end, o.begin->ts), all);
            }
        exec("COMMIT");
        ++recorded_;
        return run_id;
    } catch (const EnvironmentError&) {
        env_failed_ = true;
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    } catch (...) {
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

}  // namespace quiesce
