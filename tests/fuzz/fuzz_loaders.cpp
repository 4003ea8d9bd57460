#include "tests/fuzz/fuzz_loaders.h"

#include "sim/core/errors.h"
#include "sim/drivers/device_file.h"
#include "sim/drivers/program.h"
#include "sim/pm/protocol.h"
#include "sim/scenario/platform.h"
#include "sim/scenario/scenario.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace quiesce::fuzz {

bool kind_of(const std::string& name, Kind& kind) {
    if (name == "scenario") kind = Kind::Scenario;
    else if (name == "platform") kind = Kind::Platform;
    else if (name == "protocol") kind = Kind::Protocol;
    else if (name == "driver") kind = Kind::Driver;
    else if (name == "device") kind = Kind::Device;
    else return false;
    return true;
}

const char* kind_name(Kind kind) {
    switch (kind) {
        case Kind::Scenario: return "scenario";
        case Kind::Platform: return "platform";
        case Kind::Protocol: return "protocol";
        case Kind::Driver: return "driver";
        case Kind::Device: return "device";
    }
    return "?";
}

namespace {

// A directory of this process's own, made once: the loaders take paths,
// and a scenario resolves the platform and protocol it names next to its
// file first (platforms/NAME.toml, ../platforms/NAME.toml), then in
// QUIESCE_DATA_DIR - an empty directory leaves the built-in ones. Removed
// when the process ends normally.
struct InputDir {
    std::string dir, file;
    InputDir() {
        const char* tmp = std::getenv("TMPDIR");
        dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/quiesce-fuzz-XXXXXX";
        if (!::mkdtemp(dir.data())) throw std::runtime_error("mkdtemp failed: " + dir);
        file = dir + "/input.toml";
    }
    ~InputDir() {
        ::unlink(file.c_str());
        ::rmdir(dir.c_str());
    }
};

const std::string& input_path() {
    static const InputDir input;
    return input.file;
}

void write_input(const uint8_t* data, size_t size) {
    const std::string& path = input_path();
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) throw std::runtime_error("cannot write " + path);
    for (size_t done = 0; done < size;) {
        ssize_t n = ::write(fd, data + done, size - done);
        if (n <= 0) {
            ::close(fd);
            throw std::runtime_error("cannot write " + path);
        }
        done += size_t(n);
    }
    ::close(fd);
}

}  // namespace

bool load_input(Kind kind, const uint8_t* data, size_t size) {
    write_input(data, size);
    const std::string& path = input_path();
    try {
        switch (kind) {
            case Kind::Scenario: {
                Scenario s = load_scenario(path);
                build_graph(s.platform);
                break;
            }
            case Kind::Platform: build_graph(load_platform(path)); break;
            case Kind::Protocol: load_protocol(path); break;
            case Kind::Driver: load_driver(path); break;
            case Kind::Device: read_device_file(path); break;
        }
        return true;
    } catch (const InputError& e) {
        // The documented form: file:line:column: key: reason, on one line.
        const std::string what = e.what();
        if (e.file().empty() || e.line() < 1 || e.column() < 1 || what.find('\n') != std::string::npos)
            throw Finding(std::string(kind_name(kind)) + ": an input error without file:line:column: " + what, e.key());
        return false;
    }
}

}  // namespace quiesce::fuzz
