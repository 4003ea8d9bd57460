#include "sim/explore/fork_runner.h"

#include "sim/core/errors.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>

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
}  // namespace

void write_all(int fd, const void* data, size_t len) {
    const char* p = static_cast<const char*>(data);
    for (size_t off = 0; off < len;) {
        ssize_t n = ::write(fd, p + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        off += size_t(n);
    }
}

ChildResult run_forked(const std::function<void(int fd)>& body, double wall_limit_s) {
    int out[2], err[2];
    SIM_ASSERT(::pipe(out) == 0 && ::pipe(err) == 0, "pipe failed: {}", std::strerror(errno));
    std::fflush(stdout);
    std::fflush(stderr);
    auto start = std::chrono::steady_clock::now();
    pid_t pid = ::fork();
    SIM_ASSERT(pid >= 0, "fork failed: {}", std::strerror(errno));
    if (pid == 0) {
        ::close(out[0]);
        ::close(err[0]);
        ::dup2(err[1], 2);
        ::close(err[1]);
        ::signal(SIGPIPE, SIG_IGN);
        // A crashing model must die by its signal, whatever handlers the
        // parent installed (test frameworks do), so the parent records it.
        for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTERM}) ::signal(sig, SIG_DFL);
        body(out[1]);
        ::close(out[1]);
        std::fflush(stderr);
        ::_exit(0);
    }
    ::close(out[1]);
    ::close(err[1]);
    ChildResult r;
    int fds[2] = {out[0], err[0]};
    bool killed = false;
    while (fds[0] >= 0 || fds[1] >= 0) {
        double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (!killed && elapsed > wall_limit_s) {
            ::kill(pid, SIGKILL);
            killed = true;
        }
        pollfd p[2];
        nfds_t n = 0;
        for (int fd : fds)
            if (fd >= 0) p[n++] = {fd, POLLIN, 0};
        int timeout_ms = killed ? 100 : int(std::max(1.0, (wall_limit_s - elapsed) * 1000));
        int rc = ::poll(p, n, timeout_ms);
        if (rc < 0 && errno != EINTR) break;
        for (nfds_t i = 0; i < n; ++i) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            if (p[i].fd == fds[0]) read_some(fds[0], r.output);
            else {
                std::string chunk;
                read_some(fds[1], chunk);
                r.error_tail += chunk;
                if (r.error_tail.size() > 8192) r.error_tail.erase(0, r.error_tail.size() - 8192);
            }
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (killed) r.status = ChildResult::Status::TimedOut;
    else if (WIFSIGNALED(status)) {
        r.status = ChildResult::Status::Crashed;
        r.signal = WTERMSIG(status);
    } else {
        r.exit_code = WEXITSTATUS(status);
        r.status = r.exit_code == 0 ? ChildResult::Status::Exited : ChildResult::Status::Crashed;
    }
    return r;
}

}  // namespace quiesce
