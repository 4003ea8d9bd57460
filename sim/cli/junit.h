// JUnit XML for CI (reference/trace-and-ecosystem.md §4.1), valid against
// Jenkins xUnit's junit-10.xsd (tests/data/junit-10.xsd): a testsuite per
// folder with its timestamp and hostname, a testcase per scenario run
// (classname = scenario directory, name = scenario), failure text with the
// one-line reason, and the run's file and properties (seed, simulated time,
// trace database and run id) as name=value lines of its <system-out>.
#pragma once

#include "sim/core/errors.h"

#include <string>
#include <utility>
#include <vector>

namespace quiesce {

struct JunitCase {
    std::string classname;
    std::string name;
    std::string file;
    double time_s = 0;
    std::string status;   // passed | failed | crashed | timeout | input-error
    std::string message;
    std::vector<std::pair<std::string, std::string>> properties;
};

std::string junit_xml(const std::string& suite, const std::vector<JunitCase>& cases);
// The report of a command stopped by bad input, at `path` (nothing when
// empty): one errored testcase, named after the file and line, whose
// message is the error's one line. Writes nothing when it cannot.
void write_junit_input_error(const std::string& path, const std::string& suite, const InputError& e);
// --junit while a campaign goes on (run, explore, explore --mutate): the
// report is there from before the first run, and holds the cases recorded
// so far and one more with an <error type="not-run"> standing for what is
// still to come - so that a campaign stopped half-way (kill -9, a CI job's
// timeout, the OOM killer, an error) leaves a report that fails, not one
// that is short or missing. Rewritten whole (write_file_atomically) as cases
// come, at most once a second (and never more than a twentieth of the
// time), and by finish(). Nothing is written when `path` is empty; a path
// that is a device or a FIFO (`--junit /dev/stdout`, a pipe to a reader)
// gets the whole report once, by finish().
class JunitReport {
public:
    JunitReport(std::string path, std::string suite);
    // `cases` so far; `pending` says what is still to come ("12 of 194
    // runs"). Writes now when `now` or when it is time to.
    void update(const std::vector<JunitCase>& cases, const std::string& pending, bool now = false);
    // The whole report: `cases`, nothing pending.
    void finish(const std::vector<JunitCase>& cases);
    // The last report of a campaign stopped before its end (a signal):
    // `cases`, and `pending` as one not-run case whose message is `why`.
    // Written whatever the path is, as finish() writes.
    void stopped(const std::vector<JunitCase>& cases, const std::string& pending, const std::string& why);

private:
    void write(const std::vector<JunitCase>& cases, const std::string& pending, const std::string& why = "");
    std::string path_, suite_;
    bool progressive_ = false;  // a regular file, or none yet: rewritten as cases come
    double last_ = -1;   // when it was last written (steady clock, s)
    double took_ = 0;    // how long that took (s)
};

// Writes `content` to PATH.tmp, then renames it to `path`: a reader sees the
// old file or the whole new one. A failure leaves no PATH.tmp and throws an
// EnvironmentError when the machine refused (a full disk, a file-size
// limit, an I/O error), an InputError otherwise.
void write_file_atomically(const std::string& path, const std::string& content);
// Several files (path, content) all or none: each is written to its PATH.tmp
// and the renames come only when every one is whole; a failure removes the
// temporaries and leaves every path as it was (but one renamed before a later
// rename failed), and throws as above. A path that is a directory fails
// before anything is written, so that its rename does not. (A device or FIFO
// is written through, after the temporaries: nothing to keep there.)
void write_files_atomically(const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace quiesce
