#include "sim/cli/junit.h"

#include "sim/core/errors.h"
#include "sim/core/events.h"
#include "sim/core/paths.h"

#include <fmt/format.h>

#include <map>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

namespace quiesce {

namespace {
struct Counts {
    int failures = 0, errors = 0;
    double time = 0;
    size_t tests = 0;
    void add(const JunitCase& c) {
        failures += c.status == "failed";
        errors += c.status == "crashed" || c.status == "timeout";
        time += c.time_s;
        ++tests;
    }
};
}  // namespace

// One <testsuite> per folder (the cases' classname), in order of first
// appearance; <testsuites> carries the totals.
std::string junit_xml(const std::string& suite, const std::vector<JunitCase>& cases) {
    Counts total;
    std::vector<std::string> folders;
    std::map<std::string, Counts> per;
    for (const auto& c : cases) {
        total.add(c);
        if (!per.count(c.classname)) folders.push_back(c.classname);
        per[c.classname].add(c);
    }
    std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out += fmt::format("<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3f}\">\n",
                       markup_escape(suite), total.tests, total.failures, total.errors, total.time);
    for (const auto& folder : folders) {
        const Counts& n = per[folder];
        out += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" "
                           "time=\"{:.3f}\">\n",
                           markup_escape(folder), n.tests, n.failures, n.errors, n.time);
        for (const auto& c : cases) {
            if (c.classname != folder) continue;
            out += fmt::format("    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" time=\"{:.3f}\">\n",
                               markup_escape(c.classname), markup_escape(c.name), markup_escape(c.file), c.time_s);
            out += "      <properties>\n";
            for (const auto& [k, v] : c.properties)
                out += fmt::format("        <property name=\"{}\" value=\"{}\"/>\n", markup_escape(k), markup_escape(v));
            out += "      </properties>\n";
            if (c.status == "failed")
                out += fmt::format("      <failure message=\"{}\" type=\"expectation\">{}</failure>\n",
                                   markup_escape(c.message), markup_escape(c.message));
            else if (c.status != "passed")
                out += fmt::format("      <error message=\"{}\" type=\"{}\">{}</error>\n", markup_escape(c.message),
                                   markup_escape(c.status), markup_escape(c.message));
            out += "    </testcase>\n";
        }
        out += "  </testsuite>\n";
    }
    out += "</testsuites>\n";
    return out;
}

void write_file_atomically(const std::string& path, const std::string& content) {
    const std::string tmp = path + ".tmp";
    // Whatever fails, the temporary file goes and `path` is as it was.
    const auto fail = [&](int err, bool created) {
        if (created) ::unlink(tmp.c_str());
        std::string why = "cannot write file: " + std::error_code(err, std::generic_category()).message();
        if (environment_errno(err)) throw EnvironmentError(path, why);
        throw InputError(path, 0, 0, "", why);
    };
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) fail(errno, false);
    for (size_t done = 0; done < content.size();) {
        ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            ::close(fd);
            fail(err, true);
        }
        done += size_t(n);
    }
    if (::close(fd) != 0) fail(errno, true);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(errno, true);
}

}  // namespace quiesce
