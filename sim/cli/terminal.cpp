// Progress lines on a terminal: cut to its width (sim/cli/terminal.h).
#include "sim/cli/terminal.h"

#include <sys/ioctl.h>
#include <unistd.h>

namespace quiesce {

std::string fit_width(const std::string& line, unsigned columns) {
    if (columns < 2) return line;
    // Columns are characters: UTF-8 continuation bytes take none.
    size_t used = 0;
    for (size_t i = 0; i < line.size(); ++i) {
        if ((static_cast<unsigned char>(line[i]) & 0xc0) == 0x80) continue;
        if (used == columns - 1) return line.substr(0, i);  // the last column stays free: some terminals wrap on it
        ++used;
    }
    return line;
}

std::string fit_terminal(const std::string& line) {
    struct winsize ws {};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0) return line;
    return fit_width(line, ws.ws_col);
}

}  // namespace quiesce
