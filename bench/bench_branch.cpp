// The budget of a branch, fork against in-process rollback, on this machine
// (issue 18 item 6; docs/performance.md, "In-process branching"). One run
// measures, interleaved, over a region of N pages already written (the
// writable set a stem holds at its branch point) of which a variant writes
// W, spread evenly:
//   - the empty-child floor: fork, exit, wait;
//   - fork and a child that writes W pages: the copy-on-write fault per
//     page, as the difference with the floor and as the child's own clock
//     around its writes;
//   - in-process by asynchronous userfaultfd write-protection
//     (sim/core/written_pages.h): the snapshot per branch (the present
//     pages copied aside, the region write-protected), then per variant the
//     W writes (a fault each, resolved in the kernel), the scan for written
//     pages, their copy back and their protection again;
//   - in-process by mprotect and a SIGSEGV handler that saves a page before
//     its first write: per
//     variant the W faults (a signal, a copy and an mprotect each), the
//     copy back, and the region made read-only again.
// Each is repeated `reps` times (default 15), interleaved; medians and
// [ranges] of wall and CPU time (getrusage: this process and the children
// waited for). Arguments: [N pages] [W pages] [reps].
// `--stem scenario.toml` instead prints what a real stem holds: the
// mappings and present pages of a prefix run of the scenario's phase sweep
// at each pause, and the pages it writes from its first pause to its end.
#include "bench/bench_util.h"
#include "sim/core/written_pages.h"
#include "sim/explore/explore.h"
#include "sim/scenario/executor.h"
#include "sim/scenario/fork_runner.h"
#include "sim/scenario/run.h"

#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace quiesce;

int sc_main(int, char**) { return 2; }

namespace {

double wall_now() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return double(t.tv_sec) + double(t.tv_nsec) / 1e9;
}
double cpu_now() { return bench::Usage::now().cpu; }  // this process and its children waited for
double thread_cpu_now() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return double(t.tv_sec) + double(t.tv_nsec) / 1e9;
}

struct Sample {
    double wall = 0, cpu = 0;
};
std::map<std::string, std::vector<Sample>> samples;  // microseconds per unit
void add(const std::string& what, double wall_s, double cpu_s, double units) {
    samples[what].push_back({wall_s * 1e6 / units, cpu_s * 1e6 / units});
}

char* region = nullptr;
size_t n_pages = 4096, w_pages = 180;
size_t stride() { return std::max<size_t>(1, n_pages / w_pages); }
void write_pages(unsigned char v) {
    const size_t ps = page_size();
    for (size_t i = 0, k = 0; k < w_pages; i += stride(), ++k) region[i * ps] = char(v + k);
}

// fork, exit, wait; with `writes`, the child writes W pages first and sends
// its own clocks around them.
void fork_round(bool writes, int count) {
    double wall = 0, cpu = 0, child_wall = 0, child_cpu = 0;
    for (int r = 0; r < count; ++r) {
        int p[2];
        if (pipe(p) != 0) std::exit(1);
        double w0 = wall_now(), c0 = cpu_now();
        pid_t pid = fork();
        if (pid == 0) {
            double t[2] = {0, 0};
            if (writes) {
                double a = wall_now(), b = thread_cpu_now();
                write_pages(7);
                t[0] = wall_now() - a;
                t[1] = thread_cpu_now() - b;
            }
            ssize_t n = write(p[1], t, sizeof t);
            _exit(n == sizeof t ? 0 : 1);
        }
        close(p[1]);
        double t[2] = {0, 0};
        ssize_t got = read(p[0], t, sizeof t);
        close(p[0]);
        waitpid(pid, nullptr, 0);
        wall += wall_now() - w0;
        cpu += cpu_now() - c0;
        if (got == sizeof t) {
            child_wall += t[0];
            child_cpu += t[1];
        }
    }
    add(writes ? "fork: child writing W pages" : "fork: empty child (floor)", wall, cpu, count);
    if (writes) add("fork: a child's copy-on-write fault, per page (its own clock)", child_wall, child_cpu,
                    double(count) * double(w_pages));
}

WrittenPages* tracker = nullptr;
std::vector<char> snapshot;
std::vector<PageRun> present_runs;

// Per branch: the present pages found and copied aside, the region protected.
void uffd_branch() {
    const uintptr_t a = reinterpret_cast<uintptr_t>(region), e = a + n_pages * page_size();
    double w0 = wall_now(), c0 = cpu_now();
    present_runs.clear();
    tracker->present(a, e, present_runs);
    add("uffd: per branch, scan N for present pages", wall_now() - w0, cpu_now() - c0, 1);
    w0 = wall_now();
    c0 = cpu_now();
    for (const PageRun& r : present_runs)
        std::memcpy(snapshot.data() + (r.start - a), reinterpret_cast<void*>(r.start), r.end - r.start);
    add("uffd: per branch, copy N aside", wall_now() - w0, cpu_now() - c0, 1);
    w0 = wall_now();
    c0 = cpu_now();
    tracker->protect(a, e - a);
    add("uffd: per branch, protect N", wall_now() - w0, cpu_now() - c0, 1);
}

// Per variant: W writes, then a scan for them, their copy back, and one
// scan that protects them again.
void uffd_variant(int count) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(region), e = a + n_pages * page_size();
    double fw = 0, fc = 0, sw = 0, sc = 0, cw = 0, cc = 0, pw = 0, pc = 0, rw = 0, rc = 0;
    std::vector<PageRun> runs, again;
    for (int k = 0; k < count; ++k) {
        double w0 = wall_now(), c0 = cpu_now();
        write_pages(9);
        fw += wall_now() - w0;
        fc += cpu_now() - c0;
        w0 = wall_now();
        c0 = cpu_now();
        runs.clear();
        tracker->written(a, e, false, runs);
        sw += wall_now() - w0;
        sc += cpu_now() - c0;
        w0 = wall_now();
        c0 = cpu_now();
        size_t pages = 0;
        for (const PageRun& r : runs) {
            std::memcpy(reinterpret_cast<void*>(r.start), snapshot.data() + (r.start - a), r.end - r.start);
            pages += r.pages();
        }
        cw += wall_now() - w0;
        cc += cpu_now() - c0;
        w0 = wall_now();
        c0 = cpu_now();
        // Protected again: by one ioctl over N when k is even, else by one
        // per run of written pages.
        if (k % 2 == 0) {
            tracker->protect(a, e - a);
            pw += wall_now() - w0;
            pc += cpu_now() - c0;
        } else {
            for (const PageRun& r : runs) tracker->protect(r.start, r.end - r.start);
            rw += wall_now() - w0;
            rc += cpu_now() - c0;
        }
        again.clear();
        tracker->written(a, e, false, again);
        if (pages != w_pages || !again.empty() || region[0] != snapshot[0]) {
            std::fprintf(stderr, "uffd: %zu pages found written of %zu, or not restored\n", pages, w_pages);
            std::exit(1);
        }
    }
    add("uffd: write fault, per page", fw, fc, double(count) * double(w_pages));
    add("uffd: scan N for written pages, per variant", sw, sc, count);
    add("uffd: copy back, per page", cw, cc, double(count) * double(w_pages));
    add("uffd: protect N again (one ioctl), per variant", pw, pc, (count + 1) / 2);
    add("uffd: protect each run written again (an ioctl each), per page", rw, rc, double(count / 2) * double(w_pages));
}

// mprotect + SIGSEGV: a page saved before its first write.
std::vector<char> undo;
std::vector<uintptr_t> saved;
void on_segv(int, siginfo_t* si, void*) {
    const uintptr_t p = reinterpret_cast<uintptr_t>(si->si_addr) & ~(page_size() - 1);
    std::memcpy(undo.data() + saved.size() * page_size(), reinterpret_cast<void*>(p), page_size());
    saved.push_back(p);
    mprotect(reinterpret_cast<void*>(p), page_size(), PROT_READ | PROT_WRITE);
}
void mprotect_round(int count) {
    double bw = 0, bc = 0, fw = 0, fc = 0, rw = 0, rc = 0;
    for (int k = 0; k < count; ++k) {
        double w0 = wall_now(), c0 = cpu_now();
        saved.clear();
        mprotect(region, n_pages * page_size(), PROT_READ);
        bw += wall_now() - w0;
        bc += cpu_now() - c0;
        w0 = wall_now();
        c0 = cpu_now();
        write_pages(11);
        fw += wall_now() - w0;
        fc += cpu_now() - c0;
        w0 = wall_now();
        c0 = cpu_now();
        for (size_t i = 0; i < saved.size(); ++i)
            std::memcpy(reinterpret_cast<void*>(saved[i]), undo.data() + i * page_size(), page_size());
        rw += wall_now() - w0;
        rc += cpu_now() - c0;
        if (saved.size() != w_pages) std::exit(1);
    }
    add("mprotect: protect N read-only, per variant", bw, bc, count);
    add("mprotect: SIGSEGV + save + unprotect, per page", fw, fc, double(count) * double(w_pages));
    add("mprotect: copy back, per page", rw, rc, double(count) * double(w_pages));
}

void print(const std::string& what) {
    std::vector<Sample> v = samples[what];
    auto stat = [&](auto get) {
        std::vector<double> x;
        for (const Sample& s : v) x.push_back(get(s));
        std::sort(x.begin(), x.end());
        return std::make_tuple(x[x.size() / 2], x.front(), x.back());
    };
    auto [wm, wl, wh] = stat([](const Sample& s) { return s.wall; });
    auto [cm, cl, ch] = stat([](const Sample& s) { return s.cpu; });
    std::printf("  %-62s wall %8.2f us [%.2f..%.2f]   CPU %8.2f us [%.2f..%.2f]\n", what.c_str(), wm, wl, wh, cm, cl,
                ch);
}

// The fork rounds run in a copy of this program started by posix_spawn
// (which shares the memory until the exec, no copy-on-write): a fork in this
// process would leave its pages write-protected, and the in-process ways
// would pay a fault for that on their next write. It prints its samples.
std::vector<double> spawn_fork_rounds(char* self) {
    int p[2];
    if (pipe(p) != 0) std::exit(1);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    std::string n = std::to_string(n_pages), w = std::to_string(w_pages);
    char fork_arg[] = "--fork-rounds";
    char* args[] = {self, fork_arg, n.data(), w.data(), nullptr};
    pid_t pid = 0;
    if (posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, args, environ) != 0) std::exit(1);
    close(p[1]);
    std::string out;
    char buf[4096];
    for (ssize_t k; (k = read(p[0], buf, sizeof buf)) > 0;) out.append(buf, size_t(k));
    close(p[0]);
    waitpid(pid, nullptr, 0);
    std::vector<double> v(out.size() / sizeof(double));
    std::memcpy(v.data(), out.data(), v.size() * sizeof(double));
    return v;
}

void prepare_region() {
    const size_t len = n_pages * page_size();
    region = static_cast<char*>(mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    std::memset(region, 1, len);  // every page present and the process's own, as a stem's heap is
}

}  // namespace

// What in-process branching would face on a real stem: the mappings of a
// prefix run of `path` (its phase sweep's, callback-fail and power-loss) at
// each of its branch points - writable private pages present, mappings - and,
// tracked from the first branch point to the run's end, the pages the run
// writes after it and the mappings made and unmade.
struct Vma {
    uintptr_t start, end;
    std::string perms, name;
};
std::vector<Vma> read_maps() {
    std::vector<Vma> out;
    std::ifstream in("/proc/self/maps");
    for (std::string line; std::getline(in, line);) {
        std::istringstream ls(line);
        std::string range, perms, off, dev, inode, name;
        ls >> range >> perms >> off >> dev >> inode;
        std::getline(ls, name);
        name.erase(0, name.find_first_not_of(' '));
        const size_t dash = range.find('-');
        out.push_back({std::stoull(range.substr(0, dash), nullptr, 16), std::stoull(range.substr(dash + 1), nullptr, 16),
                       perms, name});
    }
    return out;
}
bool trackable(const Vma& v) {
    return v.perms[1] == 'w' && v.perms[3] == 'p' && v.name != "[vvar]" && v.name != "[vsyscall]";
}

int stem_mode(const std::string& path) {
    Scenario s = load_scenario(path);
    s.trace = TraceLevel::Summary;
    RunResult base = execute(s);
    std::vector<FaultPoint> points = fault_points(base.stream, {"callback-fail", "power-loss"}, {}, 0);
    std::vector<size_t> alone;
    PrefixPlan plan = prefix_plan(base.stream, points, alone);
    std::set<Picos> at;
    for (const Fork& f : plan.root) at.insert(f.at);
    ChildResult r = run_forked(
        [&](int fd) {
            std::ostringstream out;
            auto next = at.begin();
            std::vector<Vma> first;
            WrittenPages wp, probe;
            bool tracking = false;
            if (!wp.open() || !probe.open()) {
                write_all(fd, "no asynchronous userfaultfd write-protection: " + wp.error() + "\n");
                return;
            }
            size_t pause = 0;
            simulate(
                s, [](const Event&) {}, [&]() -> std::optional<Picos> {
                    if (next == at.end()) return std::nullopt;
                    return *next;
                },
                [&](BranchSite&) {
                    ++next;
                    std::vector<Vma> maps = read_maps();
                    size_t present = 0, writable = 0, tracked = 0;
                    for (const Vma& v : maps) {
                        if (!trackable(v)) continue;
                        ++tracked;
                        writable += (v.end - v.start) / page_size();
                        std::vector<PageRun> runs;
                        if (probe.present(v.start, v.end, runs))
                            for (const PageRun& p : runs) present += p.pages();
                    }
                    out << "pause " << pause++ << " at " << fmt::format("{:.3f} ms", double(*std::prev(next)) / 1e9) << ": " << maps.size() << " mappings, "
                        << tracked << " writable private (" << writable << " pages), " << present << " of their pages present\n";
                    if (!tracking) {
                        tracking = true;
                        first = maps;
                        for (const Vma& v : maps)
                            if (trackable(v) && !wp.track(v.start, v.end - v.start))
                                out << "cannot track " << v.name << ": " << wp.error() << "\n";
                    }
                },
                [&](const RunSummary&) {
                    std::vector<Vma> maps = read_maps();
                    size_t written = 0;
                    std::map<std::string, size_t> by_name;
                    for (const Vma& v : first) {
                        if (!trackable(v)) continue;
                        std::vector<PageRun> runs;
                        wp.written(v.start, v.end, false, runs);
                        for (const PageRun& p : runs) {
                            written += p.pages();
                            by_name[v.name.empty() ? "[anonymous]" : v.name.substr(v.name.rfind('/') + 1)] += p.pages();
                        }
                    }
                    size_t made = 0, unmade = 0;
                    auto has = [](const std::vector<Vma>& in, const Vma& v) {
                        for (const Vma& w : in)
                            if (w.start == v.start && w.end == v.end && w.perms == v.perms) return true;
                        return false;
                    };
                    for (const Vma& v : maps) made += !has(first, v);
                    for (const Vma& v : first) unmade += !has(maps, v);
                    out << "from the first pause to the end: " << written << " pages written (";
                    for (const auto& [k, n] : by_name) out << k << " " << n << ", ";
                    out << "), " << made << " mappings new or changed, " << unmade << " gone or changed\n";
                    std::string text = out.str();
                    write_all(fd, text);
                    ::close(fd);
                    ::_exit(0);
                });
        },
        600);
    std::printf("bench_branch --stem %s: %zu branch points\n%s%s", path.c_str(), at.size(), r.output.c_str(),
                r.error_tail.c_str());
    return r.status == ChildResult::Status::Exited ? 0 : 1;
}

static int bench_main(int argc, char** argv) {
    if (argc == 3 && std::string(argv[1]) == "--stem") {
        quiesce::prepare_for_forks(argv);  // as explore starts
        setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
        try {
            return stem_mode(argv[2]);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s\n", e.what());
            return 2;
        }
    }
    if (argc == 4 && std::string(argv[1]) == "--fork-rounds") {
        n_pages = std::strtoul(argv[2], nullptr, 10);
        w_pages = std::strtoul(argv[3], nullptr, 10);
        prepare_region();
        fork_round(false, 20);
        fork_round(true, 20);
        std::vector<double> v;
        for (const auto& [k, s] : samples) {
            v.push_back(s.back().wall);
            v.push_back(s.back().cpu);
        }
        return write(1, v.data(), v.size() * sizeof(double)) == ssize_t(v.size() * sizeof(double)) ? 0 : 1;
    }
    if (argc > 1) n_pages = std::strtoul(argv[1], nullptr, 10);
    if (argc > 2) w_pages = std::strtoul(argv[2], nullptr, 10);
    const int reps = argc > 3 ? std::atoi(argv[3]) : 15;
    if (n_pages < 1 || w_pages < 1 || w_pages > n_pages || reps < 1) {
        std::fprintf(stderr, "usage: bench_branch [N pages] [W pages <= N] [reps]\n");
        return 2;
    }
    const size_t len = n_pages * page_size();
    prepare_region();
    undo.resize(w_pages * page_size());
    snapshot.resize(len);
    std::memset(snapshot.data(), 0, len);
    struct sigaction sa{};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, nullptr);

    WrittenPages wp;
    const bool uffd = wp.open();
    tracker = &wp;
    if (uffd && !wp.track(reinterpret_cast<uintptr_t>(region), len)) {
        std::fprintf(stderr, "track: %s\n", wp.error().c_str());
        return 1;
    }
    // The spawned rounds' samples, in the order of the map's keys there.
    const std::vector<std::string> fork_keys = {"fork: a child's copy-on-write fault, per page (its own clock)",
                                                "fork: child writing W pages", "fork: empty child (floor)"};
    for (int r = 0; r < reps; ++r) {
        std::vector<double> f = spawn_fork_rounds(argv[0]);
        if (f.size() != 2 * fork_keys.size()) {
            std::fprintf(stderr, "the fork rounds failed\n");
            return 1;
        }
        for (size_t k = 0; k < fork_keys.size(); ++k) samples[fork_keys[k]].push_back({f[2 * k], f[2 * k + 1]});
        if (uffd) {
            uffd_branch();
            uffd_variant(20);
        }
        if (uffd) wp.untrack(reinterpret_cast<uintptr_t>(region), len);  // mprotect needs it unregistered
        mprotect_round(20);
        if (uffd) wp.track(reinterpret_cast<uintptr_t>(region), len);
    }
    // The fork's per-page cost by difference: (child writing - floor) / W, per repetition.
    auto& fl = samples["fork: empty child (floor)"];
    auto& fw = samples["fork: child writing W pages"];
    for (size_t i = 0; i < fl.size(); ++i)
        samples["fork: copy-on-write, per page (by difference with the floor)"].push_back(
            {(fw[i].wall - fl[i].wall) / double(w_pages), (fw[i].cpu - fl[i].cpu) / double(w_pages)});

    std::printf("bench_branch: N = %zu pages written before the branch (%zu KiB), W = %zu written per variant, "
                "%d interleaved repetitions; medians [ranges]\n",
                n_pages, len / 1024, w_pages, reps);
    std::printf("fork (in a spawned copy of this program):\n");
    for (const char* k : {"fork: empty child (floor)", "fork: child writing W pages",
                          "fork: copy-on-write, per page (by difference with the floor)",
                          "fork: a child's copy-on-write fault, per page (its own clock)"})
        print(k);
    auto med = [&](const std::string& k, bool cpu) {
        std::vector<double> x;
        for (const Sample& s : samples[k]) x.push_back(cpu ? s.cpu : s.wall);
        std::sort(x.begin(), x.end());
        return x[x.size() / 2];
    };
    const std::vector<const char*> per_branch = {"uffd: per branch, scan N for present pages",
                                                 "uffd: per branch, copy N aside", "uffd: per branch, protect N"};
    if (uffd) {
        std::printf("in-process, userfaultfd write-protection (asynchronous) + PAGEMAP_SCAN:\n");
        for (const char* k : per_branch) print(k);
        for (const char* k : {"uffd: write fault, per page", "uffd: scan N for written pages, per variant",
                              "uffd: copy back, per page", "uffd: protect N again (one ioctl), per variant",
                              "uffd: protect each run written again (an ioctl each), per page"})
            print(k);
    } else {
        std::printf("in-process, userfaultfd: unavailable (%s)\n", wp.error().c_str());
    }
    std::printf("in-process, mprotect + SIGSEGV:\n");
    for (const char* k : {"mprotect: protect N read-only, per variant", "mprotect: SIGSEGV + save + unprotect, per page",
                          "mprotect: copy back, per page"})
        print(k);
    // A variant of W pages, each way: a child writing W pages against the
    // in-process costs per variant.
    for (bool cpu : {false, true}) {
        const double f = med("fork: child writing W pages", cpu), fl0 = med("fork: empty child (floor)", cpu);
        std::printf("a variant writing W pages, %s: fork %.0f us (floor %.0f)", cpu ? "CPU " : "wall", f, fl0);
        if (uffd) {
            double u = double(w_pages) * (med("uffd: write fault, per page", cpu) + med("uffd: copy back, per page", cpu)) +
                       med("uffd: scan N for written pages, per variant", cpu) +
                       std::min(med("uffd: protect N again (one ioctl), per variant", cpu),
                                double(w_pages) * med("uffd: protect each run written again (an ioctl each), per page", cpu));
            double b = 0;
            for (const char* k : per_branch) b += med(k, cpu);
            std::printf(", userfaultfd %.0f us (%.2fx fork; per branch besides %.0f us)", u, u / f, b);
        }
        double m = double(w_pages) * (med("mprotect: SIGSEGV + save + unprotect, per page", cpu) +
                                      med("mprotect: copy back, per page", cpu)) +
                   med("mprotect: protect N read-only, per variant", cpu);
        std::printf(", mprotect %.0f us (%.2fx fork)\n", m, m / f);
    }
    return 0;
}

int main(int argc, char** argv) {
    return quiesce::bench::guarded_main(argc, argv, "[N_PAGES [W_PAGES [REPS]]]", bench_main);
}
