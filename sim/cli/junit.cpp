#include "sim/cli/junit.h"

#include "sim/core/errors.h"
#include "sim/core/events.h"

#include <fmt/format.h>

#include <cstdio>
#include <fstream>

namespace quiesce {

std::string junit_xml(const std::string& suite, const std::vector<JunitCase>& cases) {
    int failures = 0, errors = 0;
    double total = 0;
    for (const auto& c : cases) {
        failures += c.status == "failed";
        errors += c.status == "crashed" || c.status == "timeout";
        total += c.time_s;
    }
    std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out += fmt::format("<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3f}\">\n",
                       markup_escape(suite), cases.size(), failures, errors, total);
    out += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" "
                       "time=\"{:.3f}\">\n",
                       markup_escape(suite), cases.size(), failures, errors, total);
    for (const auto& c : cases) {
        out += fmt::format("    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" time=\"{:.3f}\">\n",
                           markup_escape(c.classname), markup_escape(c.name), markup_escape(c.file), c.time_s);
        out += "      <properties>\n";
        for (const auto& [k, v] : c.properties)
            out += fmt::format("        <property name=\"{}\" value=\"{}\"/>\n", markup_escape(k), markup_escape(v));
        out += "      </properties>\n";
        if (c.status == "failed")
            out += fmt::format("      <failure message=\"{}\" type=\"expectation\">{}</failure>\n", markup_escape(c.message),
                               markup_escape(c.message));
        else if (c.status != "passed")
            out += fmt::format("      <error message=\"{}\" type=\"{}\">{}</error>\n", markup_escape(c.message),
                               markup_escape(c.status), markup_escape(c.message));
        out += "    </testcase>\n";
    }
    out += "  </testsuite>\n</testsuites>\n";
    return out;
}

void write_file_atomically(const std::string& path, const std::string& content) {
    std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) throw InputError(path, 0, 0, "", "cannot write file");
        f << content;
        if (!f) throw InputError(path, 0, 0, "", "cannot write file");
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) throw InputError(path, 0, 0, "", "cannot write file");
}

}  // namespace quiesce
