// JUnit XML for CI: one testcase per run, valid against Jenkins xUnit's and Ant's schemas.
#include "sim/cli/junit.h"

#include "sim/core/errors.h"
#include "sim/core/events.h"
#include "sim/core/paths.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <map>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

namespace quiesce {

namespace fs = std::filesystem;

namespace {
struct Counts {
    int failures = 0, errors = 0;
    double time = 0;
    size_t tests = 0;
    void add(const JunitCase& c) {
        failures += c.status == "failed";
        errors += c.status != "passed" && c.status != "failed";  // crashed, timeout, input-error
        time += c.time_s;
        ++tests;
    }
};

// `s` with every byte that does not start or continue a well-formed UTF-8
// character replaced by U+FFFD: an XML file is text in its encoding, and a
// file name need not be.
std::string valid_utf8(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size();) {
        const auto b = static_cast<unsigned char>(s[i]);
        size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
        bool ok = n && i + n <= s.size();
        for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
        if (ok && n > 1) {  // no overlong forms, surrogates or code points past U+10FFFF
            uint32_t cp = b & (0x7f >> n);
            for (size_t k = 1; k < n; ++k) cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3f);
            ok = cp >= (n == 2 ? 0x80u : n == 3 ? 0x800u : 0x10000u) && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) &&
                 cp != 0xfffe && cp != 0xffff;
        }
        if (ok) out.append(s, i, n), i += n;
        else out += "\xef\xbf\xbd", ++i;
    }
    return out;
}
std::string xml(const std::string& s) { return markup_escape(valid_utf8(s)); }

// The suites' timestamp: when this quiesce started, in UTC, as the Ant and
// Jenkins schemas write it (no zone).
const std::time_t kStarted = std::time(nullptr);
std::string timestamp() {
    std::tm t{};
    gmtime_r(&kStarted, &t);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
    return buf;
}
std::string hostname() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
    return buf;
}

// A case's class: its folder, named even when the command line said "."
// (`run .`) or gave a file in the working directory.
std::string classname_of(const JunitCase& c) {
    if (!c.classname.empty() && c.classname != "." && c.classname != "..") return c.classname;
    if (c.file.empty()) return "quiesce";
    std::error_code ec;
    fs::path dir = fs::absolute(c.file, ec).lexically_normal().parent_path();
    std::string name = dir.filename().string();
    return name.empty() ? "quiesce" : name;
}
}  // namespace

// One <testsuite> per folder (the cases' classname), in order of first
// appearance; <testsuites> carries the totals. Valid against Jenkins xUnit's
// junit-10.xsd: a testcase has no `file` attribute and no <properties>, so
// its file and properties are `name=value` lines of its <system-out>.
std::string junit_xml(const std::string& suite, const std::vector<JunitCase>& cases) {
    Counts total;
    std::vector<std::string> folders, classes;
    std::map<std::string, Counts> per;
    for (const auto& c : cases) {
        classes.push_back(classname_of(c));
        total.add(c);
        if (!per.count(classes.back())) folders.push_back(classes.back());
        per[classes.back()].add(c);
    }
    const std::string when = timestamp(), host = xml(hostname());
    std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out += fmt::format("<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3f}\">\n",
                       xml(suite), total.tests, total.failures, total.errors, total.time);
    for (const auto& folder : folders) {
        const Counts& n = per[folder];
        out += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" "
                           "time=\"{:.3f}\" timestamp=\"{}\" hostname=\"{}\">\n",
                           xml(folder), n.tests, n.failures, n.errors, n.time, when, host);
        for (size_t i = 0; i < cases.size(); ++i) {
            const JunitCase& c = cases[i];
            if (classes[i] != folder) continue;
            out += fmt::format("    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3f}\">\n", xml(folder),
                               xml(c.name), c.time_s);
            if (c.status == "failed")
                out += fmt::format("      <failure message=\"{}\" type=\"expectation\">{}</failure>\n", xml(c.message),
                                   xml(c.message));
            else if (c.status != "passed")
                out += fmt::format("      <error message=\"{}\" type=\"{}\">{}</error>\n", xml(c.message),
                                   xml(c.status), xml(c.message));
            std::string props = c.file.empty() ? "" : "file=" + c.file + "\n";
            for (const auto& [k, v] : c.properties) props += k + "=" + v + "\n";
            if (!props.empty()) out += "      <system-out>" + xml(props) + "</system-out>\n";
            out += "    </testcase>\n";
        }
        out += "  </testsuite>\n";
    }
    out += "</testsuites>\n";
    return out;
}

void write_junit_input_error(const std::string& path, const std::string& suite, const InputError& e) {
    if (path.empty()) return;
    JunitCase c;
    c.classname = "input";
    c.name = e.file().empty() ? "command line" : e.line() ? e.file() + ":" + std::to_string(e.line()) : e.file();
    c.status = "input-error";
    c.message = e.what();
    try {
        write_file_atomically(path, junit_xml(suite, {c}));
    } catch (const std::exception&) {
        // The input error is what the user hears of; a report that cannot
        // be written (the --junit path may be the bad input) adds nothing.
    }
}

namespace {
double steady_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

JunitReport::JunitReport(std::string path, std::string suite) : path_(std::move(path)), suite_(std::move(suite)) {
    struct stat st {};
    progressive_ = !path_.empty() && (::stat(path_.c_str(), &st) != 0 ? errno == ENOENT : S_ISREG(st.st_mode));
}

void JunitReport::update(const std::vector<JunitCase>& cases, const std::string& pending, bool now) {
    if (!progressive_) return;
    if (!now && last_ >= 0 && steady_s() - last_ < std::max(1.0, 20 * took_)) return;
    write(cases, pending);
}

void JunitReport::finish(const std::vector<JunitCase>& cases) {
    if (!path_.empty()) write(cases, "");
}

void JunitReport::stopped(const std::vector<JunitCase>& cases, const std::string& pending, const std::string& why) {
    if (!path_.empty()) write(cases, pending, why);
}

void JunitReport::write(const std::vector<JunitCase>& cases, const std::string& pending, const std::string& why) {
    const double start = steady_s();
    if (pending.empty()) {
        write_file_atomically(path_, junit_xml(suite_, cases));
    } else {
        std::vector<JunitCase> all = cases;
        JunitCase c;
        c.classname = "not-run";
        c.name = pending;
        c.status = "not-run";
        c.message = !why.empty() ? pending + " not recorded: " + why
                                 : pending + " not recorded: quiesce is still running them, or was stopped before it "
                                             "could (killed, a signal, an error)";
        all.push_back(std::move(c));
        write_file_atomically(path_, junit_xml(suite_, all));
    }
    last_ = steady_s();
    took_ = last_ - start;
}

void write_file_atomically(const std::string& path, const std::string& content) {
    write_files_atomically({{path, content}});
}

void write_files_atomically(const std::vector<std::pair<std::string, std::string>>& files) {
    std::vector<std::string> temporaries;  // written so far: they go on any failure
    // Whatever fails, the temporary files go and every path is as it was.
    const auto fail = [&](const std::string& path, int err) {
        for (const auto& t : temporaries) ::unlink(t.c_str());
        std::string why = "cannot write file: " + std::error_code(err, std::generic_category()).message();
        if (environment_errno(err)) throw EnvironmentError(path, why);
        throw InputError(path, 0, 0, "", why);
    };
    // A device or a FIFO (`--junit /dev/null`, a pipe) is written through,
    // never replaced by a rename: there is no old content to keep.
    std::vector<bool> through(files.size());
    for (size_t i = 0; i < files.size(); ++i) {
        struct stat st;
        if (::stat(files[i].first.c_str(), &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) fail(files[i].first, EISDIR);  // its rename would fail after the others'
        through[i] = !S_ISREG(st.st_mode);
    }
    for (size_t i = 0; i < files.size(); ++i) {
        if (through[i]) continue;
        const auto& [path, content] = files[i];
        const std::string tmp = path + ".tmp";
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (fd < 0) fail(path, errno);
        temporaries.push_back(tmp);
        if (const int err = write_all(fd, content)) {
            ::close(fd);
            fail(path, err);
        }
        if (::close(fd) != 0) fail(path, errno);
    }
    for (size_t i = 0; i < files.size(); ++i) {
        if (!through[i]) continue;
        int fd = ::open(files[i].first.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) fail(files[i].first, errno);
        const int err = write_all(fd, files[i].second);
        ::close(fd);
        if (err) fail(files[i].first, err);
    }
    // Renames in the paths' own directories; one that fails after another
    // succeeded leaves that one's new file (the others' temporaries go).
    for (size_t i = 0, t = 0; i < files.size(); ++i) {
        if (through[i]) continue;
        if (std::rename(temporaries[t].c_str(), files[i].first.c_str()) != 0) {
            const int err = errno;
            temporaries.erase(temporaries.begin(), temporaries.begin() + std::ptrdiff_t(t));
            fail(files[i].first, err);
        }
        ++t;
    }
}

}  // namespace quiesce
