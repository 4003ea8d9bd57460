// Paths the user names: their kind, the TOML files under a directory, output paths checked first, whole writes.
#include "sim/core/paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>

namespace quiesce {

namespace fs = std::filesystem;

InputError os_input_error(const std::string& path, const std::error_code& ec) {
    return InputError(path.empty() ? "(empty path)" : path, 0, 0, "", ec.message());
}

InputError os_input_error(const fs::filesystem_error& e) {
    std::string path = e.path1().string();
    if (path.empty()) path = e.path2().string();
    if (path.empty()) return InputError(e.code().message());
    return os_input_error(path, e.code());
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

int write_all(int fd, const void* data, size_t len) {
    const char* p = static_cast<const char*>(data);
    for (size_t off = 0; off < len;) {
        ssize_t n = ::write(fd, p + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        if (n == 0) return EIO;
        off += size_t(n);
    }
    return 0;
}

bool environment_errno(int err) { return err == ENOSPC || err == EDQUOT || err == EFBIG || err == EIO; }

PathKind path_kind(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) return PathKind::Missing;
        throw os_input_error(path, std::error_code(errno, std::generic_category()));
    }
    if (S_ISREG(st.st_mode)) return PathKind::File;
    if (S_ISDIR(st.st_mode)) return PathKind::Directory;
    return PathKind::Other;
}

std::vector<std::string> toml_files_under(const std::string& dir) {
    std::vector<std::string> found;
    std::error_code ec;
    fs::recursive_directory_iterator it(dir, ec), end;
    std::string at = dir;  // where an error is: the entry the iterator was leaving (or entering)
    for (; !ec && it != end; it.increment(ec)) {
        at = it->path().string();
        std::error_code kind;
        if (it->is_regular_file(kind) && it->path().extension() == ".toml") found.push_back(at);
    }
    if (ec) throw os_input_error(at, ec);
    std::sort(found.begin(), found.end());
    return found;
}

namespace {
// The directory a file of `path` goes in ("." for a bare name).
std::string parent_of(const std::string& path) {
    std::string parent = fs::path(path).parent_path().string();
    return parent.empty() ? "." : parent;
}
}  // namespace

void check_output_file(const std::string& path, const std::string& option) {
    if (path.empty()) return;
    const auto bad = [&](const std::string& why) { return InputError(path, 0, 0, option, why); };
    PathKind kind = path_kind(path);
    if (kind == PathKind::Directory) throw bad("is a directory");
    std::string dir = parent_of(path);
    switch (path_kind(dir)) {
        case PathKind::Missing: throw bad("no such directory: " + dir);
        case PathKind::Directory: break;
        default: throw bad(dir + " is not a directory");
    }
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
        throw bad("cannot write in " + dir + ": " + std::error_code(errno, std::generic_category()).message());
}

void check_output_dir(const std::string& path, const std::string& option) {
    if (path.empty()) return;
    for (fs::path p = path;; p = p.parent_path()) {
        std::string at = p.empty() ? "." : p.string();
        switch (path_kind(at)) {
            case PathKind::Missing:
                if (p.empty() || p == p.parent_path()) return;
                continue;
            case PathKind::Directory:
                // The folder, or the nearest one there to make it in: written
                // at the end of a command that may run for hours.
                if (::access(at.c_str(), W_OK | X_OK) != 0)
                    throw InputError(path, 0, 0, option,
                                     "cannot write in " + at + ": " +
                                         std::error_code(errno, std::generic_category()).message());
                return;
            default:
                throw InputError(path, 0, 0, option,
                                 at == path ? "is not a directory" : at + " is not a directory");
        }
    }
}

}  // namespace quiesce
