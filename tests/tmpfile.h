// Temporary files for tests that feed quiesce bad or generated input.
#pragma once

#include "sim/core/errors.h"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <string>

namespace quiesce::test {

class TempFile {
public:
    explicit TempFile(const std::string& content, const std::string& suffix = ".toml") {
        std::string templ = "/tmp/quiesce-testXXXXXX" + suffix;
        std::vector<char> buf(templ.begin(), templ.end());
        buf.push_back('\0');
        int fd = mkstemps(buf.data(), int(suffix.size()));
        REQUIRE(fd >= 0);
        path_ = buf.data();
        REQUIRE(::write(fd, content.data(), content.size()) == ssize_t(content.size()));
        ::close(fd);
    }
    ~TempFile() { std::remove(path_.c_str()); }
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// The input error a scenario text gives (what InputError says), or "no error".
template <class Load>
std::string input_error(const std::string& text, Load load) {
    TempFile f(text);
    try {
        load(f.path());
    } catch (const InputError& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace quiesce::test
