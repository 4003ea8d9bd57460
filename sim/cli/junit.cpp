#include "sim/cli/junit.h"

#include "sim/core/errors.h"

#include <fmt/format.h>

#include <cstdio>
#include <fstream>

namespace quiesce {

namespace {
std::string xml(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') out += ' ';
                else out += c;
        }
    }
    return out;
}
}  // namespace

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
                       xml(suite), cases.size(), failures, errors, total);
    out += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" "
                       "time=\"{:.3f}\">\n",
                       xml(suite), cases.size(), failures, errors, total);
    for (const auto& c : cases) {
        out += fmt::format("    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" time=\"{:.3f}\">\n",
                           xml(c.classname), xml(c.name), xml(c.file), c.time_s);
        out += "      <properties>\n";
        for (const auto& [k, v] : c.properties)
            out += fmt::format("        <property name=\"{}\" value=\"{}\"/>\n", xml(k), xml(v));
        out += "      </properties>\n";
        if (c.status == "failed")
            out += fmt::format("      <failure message=\"{}\" type=\"expectation\">{}</failure>\n", xml(c.message),
                               xml(c.message));
        else if (c.status != "passed")
            out += fmt::format("      <error message=\"{}\" type=\"{}\">{}</error>\n", xml(c.message),
                               xml(c.status), xml(c.message));
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
