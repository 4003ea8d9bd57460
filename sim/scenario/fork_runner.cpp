// Runs in forked children: the pool, the pipe each result comes back on, crashes and runaways contained.
#include "sim/scenario/fork_runner.h"

#include "sim/core/code_pages.h"
#include "sim/core/errors.h"
#include "sim/core/heap_arena.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>
#include <algorithm>

namespace quiesce {

namespace {
void read_some(int& fd, std::string& into) {
    char buf[65536];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) into.append(buf, size_t(n));
    else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        ::close(fd);
        fd = -1;
    }
}

// One forked child while it runs: its pipes, its clock, what it wrote.
struct Running {
    size_t index = 0;
    pid_t pid = -1;
    int fds[2] = {-1, -1};  // stream, stderr (the stream -1 when it goes to `file`)
    int file = -1;          // the stream's in-memory file (ForkPool::streams_in_files)
    std::chrono::steady_clock::time_point start;
    RunLimits limit = 0.0;
    clockid_t cpu_clock{};
    bool has_cpu_clock = false;
    bool killed = false;
    ChildResult r;
};

// Forks. The parent gets the running child; the child gets pid 0 and its
// stream fd in fds[0], with stderr going to the parent. With `to_file`, the
// stream goes into an in-memory file (the parent keeps its descriptor; the
// child is done when its stderr closes), else through a pipe.
Running start_child(size_t index, RunLimits limits, bool to_file) {
    int out[2] = {-1, -1}, err[2];
    const int file = to_file ? ::memfd_create("quiesce-stream", MFD_CLOEXEC) : -1;
    SIM_ASSERT(!to_file || file >= 0, "memfd_create failed: {}", std::strerror(errno));
    SIM_ASSERT((file >= 0 || ::pipe(out) == 0) && ::pipe(err) == 0, "pipe failed: {}", std::strerror(errno));
    std::fflush(stdout);
    std::fflush(stderr);
    // The code the child runs, mapped so that the fork copies its page
    // tables (sim/core/code_pages.h): once, before the first fork.
    code_in_huge_pages();
    const pid_t parent = ::getpid();
    Running c;
    c.index = index;
    c.limit = limits;
    c.start = std::chrono::steady_clock::now();
    c.pid = ::fork();
    SIM_ASSERT(c.pid >= 0, "fork failed: {}", std::strerror(errno));
    if (c.pid == 0) {
        // Its allocations from a heap of its own, the parent's chunks left
        // as they are (sim/core/heap_arena.h).
        heap_arena::enter();
        // A child only exists to report to its parent: it dies with it (a
        // parent stopped at a time budget or by Ctrl-C, a prefix run killed
        // at its wall-clock limit), and so, in turn, do its own children.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(1);
        if (file < 0) ::close(out[0]);
        ::close(err[0]);
        ::dup2(err[1], 2);
        ::close(err[1]);
        ::signal(SIGPIPE, SIG_IGN);
        // A crashing model must die by its signal, whatever handlers the
        // parent installed (test frameworks do), so the parent records it.
        for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTERM}) ::signal(sig, SIG_DFL);
        default_stop_signals();  // a run stopped by Ctrl-C dies, as it did
        c.fds[0] = file >= 0 ? file : out[1];
        return c;
    }
    if (file < 0) ::close(out[1]);
    ::close(err[1]);
    c.has_cpu_clock = ::clock_getcpuclockid(c.pid, &c.cpu_clock) == 0;
    c.fds[0] = out[0];
    c.fds[1] = err[0];
    c.file = file;
    return c;
}

// The child's CPU time so far (0 when its clock cannot be read: then only
// the wall limit holds).
double cpu_seconds(const Running& c) {
    timespec ts{};
    if (!c.has_cpu_clock || ::clock_gettime(c.cpu_clock, &ts) != 0) return 0;
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

// Whether a child not yet killed has used more than its CPU time (`cpu`,
// read from its clock): the pool kills it and times it out.
bool past_cpu_limit(const Running& c, double cpu) { return !c.killed && cpu > c.limit.cpu_s; }

// Whether the child has already ended (not reaped: its pipes are read to
// their end first). One that ended before the parent looked is judged by
// how it ended, not timed out by the wall clock: the parent was late, not
// the child (a parent busy recording a large run for longer than another
// child's wall limit).
bool has_ended(const Running& c) {
    siginfo_t info{};
    return ::waitid(P_PID, id_t(c.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == c.pid;
}

// Reaps a child whose pipes are closed.
ChildResult finish_child(Running& c) {
    // A child that ended past its CPU limit before the parent looked (the
    // parent looks between polls, and a loaded machine may not run it in
    // time) is timed out all the same: the verdict does not depend on when
    // the parent was scheduled. Its own clock, read before it is reaped
    // (its rusage at wait4 would add the descendants it reaped: a stem's
    // variants).
    const bool cpu_limit = past_cpu_limit(c, cpu_seconds(c));
    int status = 0;
    while (::waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
    }
    ChildResult r = std::move(c.r);
    r.file = c.file;
    c.file = -1;
    r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - c.start).count();
    if (cpu_limit) {
        c.killed = true;
        r.cpu_limit = true;
    }
    if (c.killed) r.status = ChildResult::Status::TimedOut;
    else if (WIFSIGNALED(status)) {
        r.status = ChildResult::Status::Crashed;
        r.signal = WTERMSIG(status);
    } else {
        r.exit_code = WEXITSTATUS(status);
        r.status = r.exit_code == 0 ? ChildResult::Status::Exited : ChildResult::Status::Crashed;
    }
    return r;
}

}  // namespace

void prepare_for_forks(char** argv) {
    if (argv == nullptr || argv[0] == nullptr || std::getenv("LD_BIND_NOW") != nullptr ||
        std::getenv("LD_PRELOAD") != nullptr)
        return;
    const char* tunables = std::getenv("GLIBC_TUNABLES");
    const std::string old_tunables = tunables ? tunables : "";
    std::string t = old_tunables;
    if (t.find("glibc.malloc.tcache_count") == std::string::npos)
        t += (t.empty() ? "" : ":") + std::string("glibc.malloc.tcache_count=0");
    ::setenv("LD_BIND_NOW", "1", 1);
    ::setenv("GLIBC_TUNABLES", t.c_str(), 1);
    ::execv("/proc/self/exe", argv);
    // Not executed (no /proc, say): carry on as we were.
    ::unsetenv("LD_BIND_NOW");
    if (tunables) ::setenv("GLIBC_TUNABLES", old_tunables.c_str(), 1);
    else ::unsetenv("GLIBC_TUNABLES");
}

struct ForkPool::Impl {
    std::vector<Running> running;
};

ForkPool::ForkPool(unsigned jobs, std::function<void(size_t, ChildResult)> done)
    : impl_(std::make_unique<Impl>()), jobs_(std::max(1u, jobs)), done_(std::move(done)) {}

// Children still running when the pool goes (an exception on its way out of
// the caller) are killed and reaped: none outlives the pool.
ForkPool::~ForkPool() {
    for (Running& c : impl_->running) {
        ::kill(c.pid, SIGKILL);
        for (int fd : c.fds)
            if (fd >= 0) ::close(fd);
        if (c.file >= 0) ::close(c.file);
        while (::waitpid(c.pid, nullptr, 0) < 0 && errno == EINTR) {
        }
    }
}

std::optional<int> ForkPool::fork_child(size_t index, RunLimits limits) {
    while (impl_->running.size() >= jobs_) pump();
    Running c = start_child(index, limits, files_ && !output_);
    if (c.pid == 0) {            // the child: its stream fd, back to the caller
        impl_->running.clear();  // the parent's children are not this one's
        return c.fds[0];
    }
    impl_->running.push_back(std::move(c));
    return std::nullopt;
}

void ForkPool::wait_all() {
    while (!impl_->running.empty()) pump();
}

void ForkPool::pump(int wake_fd) {
    auto& running = impl_->running;
    // Kill what ran out of CPU or wall time; wait for output from any child
    // (at most until the first limit could be reached: CPU time grows no
    // faster than the wall clock).
    auto now = std::chrono::steady_clock::now();
    double timeout = 1e9;
    std::vector<pollfd> p;
    std::vector<std::pair<size_t, int>> owner;  // (running slot, which fd)
    for (size_t k = 0; k < running.size(); ++k) {
        Running& c = running[k];
        double elapsed = std::chrono::duration<double>(now - c.start).count();
        const double cpu = cpu_seconds(c);
        const bool cpu_limit = past_cpu_limit(c, cpu);
        if (cpu_limit || (!c.killed && elapsed > c.limit.wall_s && !has_ended(c))) {
            ::kill(c.pid, SIGKILL);
            c.killed = true;
            c.r.cpu_limit = cpu_limit;
        }
        timeout = std::min(timeout, c.killed ? 0.1
                                             : std::max(0.001, std::min(c.limit.wall_s - elapsed, c.limit.cpu_s - cpu)));
        for (int w = 0; w < 2; ++w)
            if (c.fds[w] >= 0) {
                p.push_back({c.fds[w], POLLIN, 0});
                owner.push_back({k, w});
            }
    }
    if (wake_fd >= 0) {
        p.push_back({wake_fd, POLLIN, 0});
        owner.push_back({SIZE_MAX, 0});
    }
    // No child to watch: only the wake descriptor, as long as it takes.
    const int ms = running.empty() ? -1 : int(std::min(timeout * 1000, 1e9));
    int rc = p.empty() ? 0 : ::poll(p.data(), p.size(), ms < 0 ? ms : std::min(ms, 250));
    // A stop asked for by a signal (StopOnSignals): the children in flight
    // are killed as the pool unwinds.
    if (stop_signal) throw Interrupted{int(stop_signal)};
    if (rc < 0 && errno != EINTR) return;
    for (size_t j = 0; j < p.size() && rc > 0; ++j) {
        if (owner[j].first == SIZE_MAX || !(p[j].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        Running& c = running[owner[j].first];
        if (owner[j].second == 0) {
            read_some(c.fds[0], c.r.output);
            if (output_) output_(c.index, c.r.output);
        } else {
            std::string chunk;
            read_some(c.fds[1], chunk);
            c.r.error_tail += chunk;
            if (c.r.error_tail.size() > 8192) c.r.error_tail.erase(0, c.r.error_tail.size() - 8192);
        }
    }
    // Children whose pipes are both closed are done, in start order.
    for (size_t k = 0; k < running.size();) {
        if (running[k].fds[0] >= 0 || running[k].fds[1] >= 0) {
            ++k;
            continue;
        }
        size_t index = running[k].index;
        ChildResult r = finish_child(running[k]);
        running.erase(running.begin() + long(k));
        done_(index, std::move(r));
    }
}

namespace {

// Forks `count` children through `pool` and waits for them all; each child
// runs its body, then ends.
void fork_all(ForkPool& pool, size_t count, const std::function<void(size_t, int fd)>& body,
              const std::function<RunLimits(size_t)>& limits, const std::function<void()>& before_each = {}) {
    for (size_t i = 0; i < count; ++i) {
        if (before_each) before_each();
        if (std::optional<int> fd = pool.fork_child(i, limits(i))) {
            body(i, *fd);
            ::close(*fd);
            std::fflush(stderr);
            ::_exit(0);
        }
    }
    pool.wait_all();
}

}  // namespace

void run_forked_pool(size_t count, unsigned jobs, const std::function<void(size_t, int fd)>& body,
                     const std::function<RunLimits(size_t)>& limits,
                     const std::function<void(size_t, ChildResult)>& done,
                     const std::function<void(size_t, std::string&)>& output) {
    ForkPool pool(jobs, done);
    if (output) pool.on_output(output);
    fork_all(pool, count, body, limits);
}

namespace {

// Reads all of an in-memory file from its start into `into`, then closes it.
void read_file(int fd, std::string& into) {
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
        into.resize(size_t(st.st_size));
        size_t got = 0;
        while (got < into.size()) {
            const ssize_t n = ::pread(fd, into.data() + got, into.size() - got, off_t(got));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            got += size_t(n);
        }
        into.resize(got);
    }
    ::close(fd);
}

// What the runner reports of a child that ended, one message each (the
// stream's file travels beside it): how it ended, then its stderr's tail.
struct Report {
    uint64_t index;
    int32_t status, exit_code, signal;
    uint8_t cpu_limit;
    double wall_s;
};
constexpr size_t kTailMax = 8192;  // pump() keeps no more of a child's stderr

bool send_report(int sock, size_t index, const ChildResult& r) {
    const Report h{index, int32_t(r.status), r.exit_code, r.signal, uint8_t(r.cpu_limit), r.wall_s};
    std::string msg(reinterpret_cast<const char*>(&h), sizeof h);
    msg.append(r.error_tail, r.error_tail.size() > kTailMax ? r.error_tail.size() - kTailMax : 0, kTailMax);
    iovec iov{msg.data(), msg.size()};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (r.file >= 0) {
        m.msg_control = control;
        m.msg_controllen = sizeof control;
        cmsghdr* c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &r.file, sizeof(int));
    }
    ssize_t n;
    while ((n = ::sendmsg(sock, &m, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
    }
    return n == ssize_t(msg.size());
}

// One report: true with the child's index and result (its stream read from
// the file passed), false at the end of the runner's reports or at a
// message that is not one.
bool receive_report(int sock, size_t& index, ChildResult& r) {
    std::vector<char> buf(sizeof(Report) + kTailMax + 1);
    iovec iov{buf.data(), buf.size()};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    ssize_t n;
    while ((n = ::recvmsg(sock, &m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
    }
    int fd = -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); n > 0 && c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(&fd, CMSG_DATA(c), sizeof(int));
    if (n < ssize_t(sizeof(Report)) || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        if (fd >= 0) ::close(fd);
        return false;
    }
    Report h;
    std::memcpy(&h, buf.data(), sizeof h);
    index = size_t(h.index);
    r.status = ChildResult::Status(h.status);
    r.exit_code = h.exit_code;
    r.signal = h.signal;
    r.cpu_limit = h.cpu_limit != 0;
    r.wall_s = h.wall_s;
    r.error_tail.assign(buf.data() + sizeof h, size_t(n) - sizeof h);
    if (fd >= 0) read_file(fd, r.output);
    return true;
}

// Whether a runner can be had here: not turned off (QUIESCE_RUNNER=0), and
// in-memory files for the runs' streams.
bool runner_available() {
    const char* env = std::getenv("QUIESCE_RUNNER");
    if (env && std::string(env) == "0") return false;
    const int probe = ::memfd_create("quiesce-probe", MFD_CLOEXEC);
    if (probe < 0) return false;
    ::close(probe);
    return true;
}

}  // namespace

void run_served_pool(size_t count, unsigned jobs, const std::function<void(size_t, int fd)>& body,
                     const std::function<RunLimits(size_t)>& limits,
                     const std::function<void(size_t, ChildResult)>& done, size_t streams_ahead) {
    if (count == 0) return;
    int sv[2] = {-1, -1};
    if (!runner_available() || ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        run_forked_pool(count, jobs, body, limits, done);
        return;
    }
    std::fflush(stdout);
    std::fflush(stderr);
    code_in_huge_pages();  // as before a pool's first fork: the runner's children share it
    const pid_t parent = ::getpid();
    const pid_t runner = ::fork();
    SIM_ASSERT(runner >= 0, "fork failed: {}", std::strerror(errno));
    if (runner == 0) {
        // The runner: forks the runs, reports each as it ends, then ends.
        ::close(sv[0]);
        default_stop_signals();
        heap_arena::enter();
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(1);
        const int sock = sv[1];
        std::deque<size_t> waiting;  // the sizes of the streams reported, not yet taken in
        size_t ahead = 0;            // ... their sum
        ForkPool pool(jobs, [&](size_t i, ChildResult r) {
            struct stat st {};
            const size_t bytes = r.file >= 0 && ::fstat(r.file, &st) == 0 ? size_t(st.st_size) : 0;
            const bool sent = send_report(sock, i, r);
            waiting.push_back(bytes);
            ahead += bytes;
            if (r.file >= 0) ::close(r.file);
            if (!sent) ::_exit(1);  // the caller has gone: so do the runs (ForkPool kills none: _exit)
        });
        pool.streams_in_files();
        // The caller answers each report once it has taken the run in
        // (reports are taken in the order sent). A run starts only while
        // the streams reported and not yet taken in hold no more than
        // `streams_ahead` bytes: they wait in memory, and stay bounded when
        // the caller records more slowly than the runs end. While it waits
        // it still watches the runs going on: their ends, their limits.
        // One answer taken in (false: none there yet, without waiting).
        auto answer = [&](int flags) {
            char b[16];
            ssize_t n;
            while ((n = ::recv(sock, b, sizeof b, flags)) < 0 && errno == EINTR) {
            }
            if (n < 0 && errno == EAGAIN) return false;
            if (n <= 0) ::_exit(1);  // the caller has gone
            if (!waiting.empty()) {
                ahead -= waiting.front();
                waiting.pop_front();
            }
            return true;
        };
        fork_all(pool, count, body, limits, [&] {
            while (answer(MSG_DONTWAIT)) {
            }
            while (ahead > streams_ahead)
                if (!answer(MSG_DONTWAIT)) pool.pump(sock);
        });
        // Every answer read before the end: a socket closed with answers
        // unread resets the connection, and the caller would lose the
        // reports it had not yet read.
        while (!waiting.empty()) answer(0);
        ::_exit(0);
    }
    ::close(sv[1]);
    // On the way out (a `done` that threw too), the runner is ended and
    // reaped; its runs die with it (PR_SET_PDEATHSIG).
    struct Runner {
        pid_t pid;
        int sock;
        int status = 0;
        bool reaped = false;
        void reap() {
            while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            reaped = true;
        }
        ~Runner() {
            ::close(sock);
            if (reaped) return;
            ::kill(pid, SIGKILL);
            reap();
        }
    } guard{runner, sv[0]};
    // Each report answered once taken in: the runner counts what waits.
    auto taken = [&] {
        const char t = 1;
        while (::send(guard.sock, &t, 1, MSG_NOSIGNAL) < 0 && errno == EINTR) {
        }
    };
    std::vector<bool> reported(count, false);
    size_t left = count;
    // The next report, waited for a quarter of a second at a time: a stop
    // asked for by a signal is seen between (the signal's EINTR aside, a
    // signal that lands just before the wait still counts).
    auto wait_report = [&] {
        for (;;) {
            if (stop_signal) throw Interrupted{int(stop_signal)};
            pollfd p{guard.sock, POLLIN, 0};
            const int rc = ::poll(&p, 1, 250);
            if (rc > 0 || (rc < 0 && errno != EINTR)) return;  // a report, an end, an error: recvmsg says
        }
    };
    for (size_t i = 0; left > 0;) {
        ChildResult r;
        wait_report();
        if (!receive_report(guard.sock, i, r) || i >= count || reported[i]) break;
        reported[i] = true;
        --left;
        done(i, std::move(r));
        taken();
    }
    // The runner ended early, or sent a report that made no sense: it is
    // not to be trusted with the rest.
    if (left > 0) ::kill(runner, SIGKILL);
    guard.reap();
    if (left == 0) return;
    // Ended by the signal that stops this process too (a process group's
    // SIGTERM, Ctrl-C): a stop, not a runner to replace.
    if (stop_signal) throw Interrupted{int(stop_signal)};
    // The runner died before reporting them all (killed: the OOM killer, a
    // stray `kill`): no fault of the runs'. Those it did not report - their
    // processes died with it - run again, forked by this process, as
    // without a runner; a run is a function of its scenario and seed.
    const std::string why = WIFSIGNALED(guard.status) ? std::string("signal ") + strsignal(WTERMSIG(guard.status))
                                                      : "exit status " + std::to_string(WEXITSTATUS(guard.status));
    std::vector<size_t> again;
    for (size_t i = 0; i < count; ++i)
        if (!reported[i]) again.push_back(i);
    std::fprintf(stderr, "quiesce: the runner process that forks the runs died (%s): the %zu run(s) it had not "
                         "reported run again, forked by this process\n", why.c_str(), again.size());
    std::fflush(stderr);
    run_forked_pool(
        again.size(), jobs, [&](size_t k, int fd) { body(again[k], fd); },
        [&](size_t k) { return limits(again[k]); }, [&](size_t k, ChildResult r) { done(again[k], std::move(r)); });
}

namespace {
constexpr int kStopSignals[3] = {SIGTERM, SIGINT, SIGHUP};
void on_stop_signal(int sig) { stop_signal = sig; }
}  // namespace

StopOnSignals::StopOnSignals() {
    stop_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a wait ends with EINTR
    for (int k = 0; k < 3; ++k) ::sigaction(kStopSignals[k], &sa, &old_[k]);
}

StopOnSignals::~StopOnSignals() {
    for (int k = 0; k < 3; ++k) ::sigaction(kStopSignals[k], &old_[k], nullptr);
}

void default_stop_signals() {
    for (int sig : kStopSignals) ::signal(sig, SIG_DFL);
}

ChildResult run_forked(const std::function<void(int fd)>& body, RunLimits limits,
                       const std::function<void(std::string&)>& consume) {
    ChildResult out;
    run_forked_pool(
        1, 1, [&body](size_t, int fd) { body(fd); }, [limits](size_t) { return limits; },
        [&out](size_t, ChildResult r) { out = std::move(r); },
        consume ? [&consume](size_t, std::string& output) { consume(output); }
                : std::function<void(size_t, std::string&)>());
    return out;
}

}  // namespace quiesce
