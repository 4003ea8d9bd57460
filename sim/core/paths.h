// Paths the user names (scenario files and directories, databases, output
// files), looked at in one place: an OS or filesystem error about one - a
// name over 255 bytes, a directory without search permission, a loop of
// symbolic links - is an input error naming the path (exit 2, one line),
// never an uncaught std::filesystem::filesystem_error. Also write_all, which
// writes a whole buffer to a descriptor (a pipe to the parent, a file).
#pragma once

#include "sim/core/errors.h"

#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace quiesce {

// The input was good and the machine could not do it: a full disk, a
// file-size limit, an I/O error writing `path`. One line, "PATH: REASON";
// exit status 3 (2 is bad input); no half-written file is left.
class EnvironmentError : public std::runtime_error {
public:
    EnvironmentError(const std::string& path, const std::string& reason)
        : std::runtime_error(one_line(path + ": " + reason)) {}
};
// Whether an errno from writing a file is the environment's (ENOSPC, EDQUOT,
// EFBIG, EIO) rather than the path's.
bool environment_errno(int err);

// "PATH: REASON" (the OS's words: "File name too long", "Permission denied").
InputError os_input_error(const std::string& path, const std::error_code& ec);
InputError os_input_error(const std::filesystem::filesystem_error& e);

enum class PathKind { Missing, File, Directory, Other };
// What `path` is: Missing when it, or a directory on its way, does not
// exist. Any other error stat'ing it throws os_input_error.
PathKind path_kind(const std::string& path);

// The *.toml files under `dir`, recursively, sorted.
std::vector<std::string> toml_files_under(const std::string& dir);

// A file's whole text ("" when it cannot be read: callers that must tell
// check the path first).
std::string read_text(const std::string& path);

// Writes all `len` bytes to fd, retrying short writes and EINTR; stops
// quietly if the reader has gone away (the parent then reports the child).
// 0, or the errno of the write that failed.
int write_all(int fd, const void* data, size_t len);
inline int write_all(int fd, const std::string& s) { return write_all(fd, s.data(), s.size()); }

// Checked before any work: `path` can be written as a file (its directory
// exists, and it is no directory itself); `option` names it in the error
// ("--junit"). An empty path is no file and passes.
void check_output_file(const std::string& path, const std::string& option);
// Checked before any work: `path` is a directory or can be created as one
// (the nearest existing path on its way is a directory).
void check_output_dir(const std::string& path, const std::string& option);

}  // namespace quiesce
