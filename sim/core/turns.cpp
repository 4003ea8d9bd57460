// Runs one after another from one point, rolled back after each, a turn's crash and limits its own.
#include "sim/core/turns.h"

#include "sim/core/paths.h"  // write_all

#include <fmt/format.h>

#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdlib>

namespace quiesce {

namespace {
Checkpoint* g_checkpoint = nullptr;           // the one Turns of this process
volatile sig_atomic_t g_turn_running = 0;     // set by start(): a rollback clears it

constexpr int kTurnSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGPROF, SIGALRM};

// The CPU-time (ITIMER_PROF: this process's user and system time) and
// wall-clock (ITIMER_REAL) limits; 0 or infinite: none.
void set_timers(double cpu_s, double wall_s) {
    auto timer = [](int which, double s) {
        itimerval t{};
        if (s > 0 && std::isfinite(s)) {
            t.it_value.tv_sec = time_t(s);
            t.it_value.tv_usec = suseconds_t((s - double(time_t(s))) * 1e6);
            if (!t.it_value.tv_sec && !t.it_value.tv_usec) t.it_value.tv_usec = 1;
        }
        ::setitimer(which, &t, nullptr);
    };
    timer(ITIMER_PROF, cpu_s);
    timer(ITIMER_REAL, wall_s);
}

void on_turn_signal(int sig) {
    if (!g_turn_running) {
        if (sig == SIGPROF || sig == SIGALRM) return;  // a limit that came as its turn ended
        ::signal(sig, SIG_DFL);                         // not a turn's: the process dies of it
        ::raise(sig);
        return;
    }
    g_turn_running = 0;
    set_timers(0, 0);
    g_checkpoint->rollback(sig);  // allocates nothing, takes no lock
}

uint64_t now_ns() {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
}

std::string read_from(int fd, off_t at) {
    std::string out;
    char buf[65536];
    ::lseek(fd, at, SEEK_SET);
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
    return out;
}
}  // namespace

Turns::Turns(size_t count) : count_(count), checkpoint_(std::make_unique<Checkpoint>()) {
    stream_ = ::memfd_create("quiesce-turn", MFD_CLOEXEC);
    err_ = ::memfd_create("quiesce-turn-stderr", MFD_CLOEXEC);
    stderr_ = ::dup(2);
    if (stream_ < 0 || err_ < 0 || stderr_ < 0) why_ = "cannot make the turns' files";
    else if (!checkpoint_->ready(why_)) return;
    if (!why_.empty()) return;
    // The mappings stay put from turn to turn: the heap is not trimmed nor
    // large blocks mapped apart.
    ::mallopt(M_TRIM_THRESHOLD, 1 << 30);
    ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
    // The handlers run on a stack of their own: a turn's may be what overflowed.
    constexpr size_t kStack = 1 << 16;
    void* p = ::mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
        stack_t ss{};
        ss.ss_sp = p;
        ss.ss_size = kStack;
        ::sigaltstack(&ss, nullptr);
    }
    g_checkpoint = checkpoint_.get();
    struct sigaction sa {};
    sa.sa_handler = on_turn_signal;
    sa.sa_flags = SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (int sig : kTurnSignals) sigaddset(&sa.sa_mask, sig);
    for (int sig : kTurnSignals) ::sigaction(sig, &sa, nullptr);
}

Turns::~Turns() {
    if (g_checkpoint == checkpoint_.get()) {
        set_timers(0, 0);
        for (int sig : kTurnSignals) ::signal(sig, SIG_DFL);
        g_checkpoint = nullptr;
    }
    for (int fd : {stream_, err_, stderr_})
        if (fd >= 0) ::close(fd);
}

bool Turns::ready(std::string& why) const {
    why = why_;
    return why_.empty();
}

__attribute__((noinline)) size_t Turns::next() {
    const size_t done = checkpoint_->take();
    ::dup2(stderr_, 2);
    if (const char* log = std::getenv("QUIESCE_CHECKPOINT_LOG")) {  // what each take and rollback cost, for benchmarks
        const Checkpoint::Stats st = checkpoint_->stats();
        const std::string line =
            done ? fmt::format("rollback written {} dropped {} unmapped {} remapped {} closed {} cpu_us {:.0f} faults {}\n",
                               st.written_pages, st.dropped_pages, st.unmapped, st.remapped, st.closed,
                               st.restore_cpu_s * 1e6, st.restore_faults)
                 : fmt::format("take tracked {} present {} cpu_us {:.0f}\n", st.tracked_pages, st.present_pages,
                               st.take_cpu_s * 1e6);
        const int fd = ::open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            write_all(fd, line);
            ::close(fd);
        }
    }
    if (done >= count_) checkpoint_->release();
    return done;
}

int Turns::died() const { return checkpoint_->cause(); }

void Turns::start(double cpu_s, double wall_s) {
    checkpoint_->kept()[0] = now_ns();
    if (::ftruncate(stream_, 0) != 0 || ::lseek(stream_, 0, SEEK_SET) != 0 || ::ftruncate(err_, 0) != 0 ||
        ::lseek(err_, 0, SEEK_SET) != 0 || ::dup2(err_, 2) < 0)
        ::_exit(3);
    g_turn_running = 1;
    set_timers(cpu_s, wall_s);
}

void Turns::stop() {
    g_turn_running = 0;
    set_timers(0, 0);
}

std::string Turns::output() const { return read_from(stream_, 0); }

std::string Turns::error_tail() const {
    const off_t len = ::lseek(err_, 0, SEEK_END);
    return read_from(err_, len > 8192 ? len - 8192 : 0);
}

double Turns::wall_s() const { return double(now_ns() - checkpoint_->kept()[0]) / 1e9; }

void Turns::end() {
    stop();
    checkpoint_->rollback();
}

}  // namespace quiesce
