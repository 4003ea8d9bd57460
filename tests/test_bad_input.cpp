// The bad-input catalogue (issue 19): scenario, platform, protocol and
// driver files, the command line and databases, each bad in one way. Every
// case must exit 2 with exactly one line, "quiesce: " and then
// file:line:column (or the option, or the database), and write nothing:
// no database, no file, nothing changed in the case's directory.
#include "cli.h"
#include "protocol_text.h"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using quiesce::test::regression;
using quiesce::test::sh;
using quiesce::test::tmp_path;

namespace {

// What the one line starts with after "quiesce: ".
enum class Where {
    File,    // `at` (relative to the case's directory) then :LINE:COLUMN:
    Option,  // `at`, an option or a command, as given
    Path,    // `at` (relative to the case's directory) then ": "
};

struct Case {
    std::string name;
    std::map<std::string, std::string> files;  // relative path -> content ("schema N", "damage: SQL")
    std::string args;                          // {d}: the case's directory; {good}: a real trace database
    Where where;
    std::string at;
    std::string needle;  // also in the line
};

// Line 1 [platform], 3 [protocol], 5 [expect].
const std::string kScenario =
    "[platform]\nname = \"pc-basic\"\n[protocol]\nname = \"linux-s3\"\n[expect]\nresult = \"pass\"\n";
std::string on(const std::string& platform, const std::string& protocol = "linux-s3") {
    return "[platform]\nname = \"" + platform + "\"\n[protocol]\nname = \"" + protocol +
           "\"\n[expect]\nresult = \"pass\"\n";
}

const std::string kPlatform = R"(name = "p"
[[device]]
name = "pci0"
type = "pci-host"
[[device]]
name = "dma0"
type = "dma-engine"
slot = "01.0"
parent = "pci0"
)";
std::string device(const std::string& name, const std::string& type, const std::string& slot,
                   const std::string& parent, const std::string& extra = "") {
    return "[[device]]\nname = \"" + name + "\"\ntype = \"" + type + "\"\nslot = \"" + slot + "\"\nparent = \"" +
           parent + "\"\n" + extra;
}

const std::string kSuspend = "name = \"q\"\n" + quiesce::test::kSuspendPhases;
const std::string& kResume = quiesce::test::kResumePhases;

std::string driver(const std::string& body) {
    return "[driver]\nname = \"d\"\nbinds = \"dma-engine\"\n[callbacks]\n" + body;
}

std::vector<Case> catalogue() {
    const std::string s = "validate {d}/s.toml";
    const std::string run = "run {d}/s.toml --db {d}/out.db";
    const std::string good = "run " + regression("s3-basic") + " --db {d}/out.db";
    return {
        // Scenario files.
        {"toml syntax", {{"s.toml", "[platform\nname = \"pc-basic\"\n"}}, run, Where::File, "s.toml", ""},
        {"duplicate key", {{"s.toml", kScenario + "[platform]\n"}}, run, Where::File, "s.toml", ""},
        {"unknown top-level key", {{"s.toml", "colour = 1\n" + kScenario}}, run, Where::File, "s.toml", ":1:1: colour: unknown key"},
        {"no [platform]", {{"s.toml", "[protocol]\nname = \"linux-s3\"\n[expect]\nresult = \"pass\"\n"}}, run, Where::File, "s.toml", "platform"},
        // A misspelt key that is required: the misspelling, not a missing key at line 1.
        {"misspelt [expect]", {{"s.toml", "[platform]\nname = \"pc-basic\"\n[protocol]\nname = \"linux-s3\"\n[expct]\nresult = \"pass\"\n"}}, run, Where::File, "s.toml", ":5:2: expct: unknown key (did you mean 'expect'?)"},
        {"misspelt platform name", {{"s.toml", "[platform]\nnmae = \"pc-basic\"\n[protocol]\nname = \"linux-s3\"\n[expect]\nresult = \"pass\"\n"}}, run, Where::File, "s.toml", ":2:1: platform.nmae: unknown key (did you mean 'name'?)"},
        {"unknown platform", {{"s.toml", on("pc-nowhere")}}, run, Where::File, "s.toml", "platform.name: no platform named 'pc-nowhere'"},
        {"unknown protocol", {{"s.toml", on("pc-basic", "linux-s5")}}, run, Where::File, "s.toml", "protocol.name:"},
        {"protocol name holding a newline", {{"s.toml", on("pc-basic", "linux\\ns3")}}, run, Where::File, "s.toml", "'linux\\ns3'"},
        {"expect result", {{"s.toml", "[platform]\nname = \"pc-basic\"\n[protocol]\nname = \"linux-s3\"\n[expect]\nresult = \"maybe\"\n"}}, run, Where::File, "s.toml", "expect.result"},
        {"expect workload", {{"s.toml", "[platform]\nname = \"pc-basic\"\n[protocol]\nname = \"linux-s3\"\n[expect]\nresult = \"pass\"\nworkload = \"broken\"\n"}}, run, Where::File, "s.toml", ":7:12: expect.workload: must be \"ok\" or \"failed\""},
        // An outcome no run of the file can have: a typo in the phase or level.
        {"expect outcome phase", {{"s.toml", "[platform]\nname = \"pc-basic\"\n[protocol]\nname = \"linux-s3\"\n[expect]\nresult = \"pass\"\noutcome = \"aborted:suspnd\"\n"}}, run, Where::File, "s.toml", ":7:11: expect.outcome: 'aborted:suspnd': 'suspnd' is no suspend phase of linux-s3"},
        {"expect outcome resume phase", {{"s.toml", "[platform]\nname = \"pc-basic\"\n[protocol]\nname = \"linux-s3\"\n[expect]\nresult = \"pass\"\noutcome = \"aborted:resume\"\n"}}, run, Where::File, "s.toml", "'resume' is no suspend phase"},
        {"expect outcome pm-test level", {{"s.toml", "[platform]\nname = \"pc-basic\"\n[protocol]\nname = \"linux-s3\"\n[expect]\nresult = \"pass\"\noutcome = \"pm-test:bogus\"\n"}}, run, Where::File, "s.toml", ":7:11: expect.outcome: 'pm-test:bogus': 'bogus' is no pm_test level"},
        {"zero sim_time", {{"s.toml", kScenario + "[limits]\nsim_time = \"0s\"\n"}}, run, Where::File, "s.toml", "limits.sim_time: must be above 0"},
        // A misspelt optional key: the key it is near, which the table does not hold.
        {"misspelt optional key", {{"s.toml", kScenario + "[workload]\ndma_copie = 3\n"}}, run, Where::File, "s.toml", "workload.dma_copie: unknown key (did you mean 'dma_copies'?)"},
        {"unknown invariant", {{"s.toml", "[platform]\nname = \"pc-basic\"\n[protocol]\nname = \"linux-s3\"\n[expect]\nviolations = [\"no.such\"]\n"}}, run, Where::File, "s.toml", "unknown invariant id 'no.such'"},
        {"negative seed", {{"s.toml", "[scenario]\nseed = -1\n" + kScenario}}, run, Where::File, "s.toml", "scenario.seed"},
        {"seed as text", {{"s.toml", "[scenario]\nseed = \"one\"\n" + kScenario}}, run, Where::File, "s.toml", "scenario.seed: expected an integer"},
        {"dma_copies out of range", {{"s.toml", kScenario + "[workload]\ndma_copies = 65\n"}}, run, Where::File, "s.toml", "workload.dma_copies: must be 0 to 64"},
        {"duration without unit", {{"s.toml", kScenario + "[wake]\nafter = \"50\"\n"}}, run, Where::File, "s.toml", "wake.after"},
        {"zero wall time", {{"s.toml", kScenario + "[limits]\nwall_time = \"0s\"\n"}}, run, Where::File, "s.toml", "limits.wall_time"},
        {"zero cpu time", {{"s.toml", kScenario + "[limits]\ncpu_time = \"0s\"\n"}}, run, Where::File, "s.toml", "limits.cpu_time"},
        {"trace level", {{"s.toml", kScenario + "[trace]\nlevel = \"verbose\"\n"}}, run, Where::File, "s.toml", "trace.level"},
        {"fault kind", {{"s.toml", kScenario + "[[fault]]\nkind = \"nope\"\n"}}, run, Where::File, "s.toml", "fault[0].kind: unknown fault kind 'nope'"},
        {"duration without a unit", {{"s.toml", kScenario + "[wake]\nafter = 5\n"}}, run, Where::File, "s.toml", "wake.after: '5' needs a unit: ps, ns, us, ms or s"},
        {"fault duration without a unit", {{"s.toml", kScenario + "[[fault]]\nkind = \"dma-delay\"\ndevice = \"dma0\"\nduration = 5\n"}}, run, Where::File, "s.toml", "fault[0].duration: '5' needs a unit: ps, ns, us, ms or s"},
        {"fault phase", {{"s.toml", kScenario + "[[fault]]\nkind = \"callback-fail\"\nphase = \"nap\"\ndevice = \"dma0\"\n"}}, run, Where::File, "s.toml", "fault[0].phase"},
        {"incomplete order", {{"s.toml", kScenario + "[order]\nsuspend = [\"dma0\"]\n"}}, run, Where::File, "s.toml", "order.suspend: must name every device once"},
        {"no such device", {{"s.toml", kScenario + "[devices.nope]\nwake = true\n"}}, run, Where::File, "s.toml", "devices.nope: no device named 'nope'"},
        {"driver variant", {{"s.toml", kScenario + "[drivers.dma0]\nvariant = \"x\"\n"}}, run, Where::File, "s.toml", "drivers.dma0.variant"},
        {"property without component", {{"s.toml", kScenario + "[properties]\nburst = 1\n"}}, run, Where::File, "s.toml", "properties.burst"},
        // A value that would overflow a time: 2^64 / 1000 cycles wrapped round to about none (the run passed).
        {"property past 2^32 - 1", {{"s.toml", kScenario + "[properties]\n\"dma0.core.beat_cycles\" = 18446744073709552\n"}}, run, Where::File, "s.toml", "properties.dma0.core.beat_cycles: must be 0 to 4294967295, got 18446744073709552"},
        {"property negative", {{"s.toml", kScenario + "[properties]\n\"firmware.s3_resume_us\" = -1\n"}}, run, Where::File, "s.toml", "properties.firmware.s3_resume_us: must be 0 to 4294967295, got -1"},
        {"[hibernation] under S3", {{"s.toml", kScenario + "[hibernation]\ncrc = false\n"}}, run, Where::File, "s.toml", "hibernation: is for a hibernation (S4) protocol"},
        {"override of no phase", {{"s.toml", kScenario + "[[protocol.override]]\nphase = \"nap\"\n"}}, run, Where::File, "s.toml", "protocol.override[0].phase"},
        {"schedule policy", {{"s.toml", kScenario + "[schedule]\npolicy = \"lifo\"\n"}}, run, Where::File, "s.toml", "schedule.policy"},
        {"timing jitter", {{"s.toml", kScenario + "[timing]\njitter = 91\n"}}, run, Where::File, "s.toml", "timing.jitter: must be 0 to 90"},
        {"binary garbage", {{"s.toml", std::string("\x7f" "ELF\x01\x01\x01\0\0\0", 10)}}, s, Where::File, "s.toml", ""},
        {"a directory without scenarios", {{"empty/.keep", ""}}, "run {d}/empty --db {d}/out.db", Where::Path, "empty", "no scenario files"},
        // Platform files.
        {"too many cpus", {{"s.toml", on("p")}, {"platforms/p.toml", "cpus = 9\n" + kPlatform}}, run, Where::File, "platforms/p.toml", "cpus: must be 1 to 8"},
        {"clock without a unit", {{"s.toml", on("p")}, {"platforms/p.toml", "cpu_clock = 1.5\n" + kPlatform}}, run, Where::File, "platforms/p.toml", "cpu_clock: '1.5' needs a unit: Hz, kHz, MHz or GHz"},
        {"cpu clock above 1000GHz", {{"s.toml", on("p")}, {"platforms/p.toml", "cpu_clock = \"2000GHz\"\n" + kPlatform}}, run, Where::File, "platforms/p.toml", "cpu_clock"},
        {"memory not whole MiB", {{"s.toml", on("p")}, {"platforms/p.toml", "memory = \"3MiB\"\n" + kPlatform}}, run, Where::File, "platforms/p.toml", "memory"},
        {"device type", {{"s.toml", on("p")}, {"platforms/p.toml", kPlatform + device("x", "gpu", "02.0", "pci0")}}, run, Where::File, "platforms/p.toml", "device[2].type: unknown device type 'gpu'"},
        {"slot syntax", {{"s.toml", on("p")}, {"platforms/p.toml", kPlatform + device("x", "dma-engine", "zz", "pci0")}}, run, Where::File, "platforms/p.toml", "device[2].slot"},
        {"parent declared below", {{"s.toml", on("p")}, {"platforms/p.toml", kPlatform + device("x", "dma-engine", "02.0", "rp9")}}, run, Where::File, "platforms/p.toml", "device[2].parent"},
        {"device declared twice", {{"s.toml", on("p")}, {"platforms/p.toml", kPlatform + device("dma0", "dma-engine", "02.0", "pci0")}}, run, Where::File, "platforms/p.toml", "declared twice"},
        {"link to no device", {{"s.toml", on("p")}, {"platforms/p.toml", kPlatform + "[[link]]\nsupplier = \"dma0\"\nconsumer = \"ghost\"\n"}}, run, Where::File, "platforms/p.toml", "link[0].consumer"},
        {"link cycle", {{"s.toml", on("p")}, {"platforms/p.toml", kPlatform + "[[link]]\nsupplier = \"dma0\"\nconsumer = \"pci0\"\n"}}, run, Where::File, "platforms/p.toml", "link[0]: device graph has a cycle"},
        {"two functions in a slot", {{"s.toml", on("p")}, {"platforms/p.toml", kPlatform + device("dma1", "dma-engine", "01.0", "pci0")}}, run, Where::File, "platforms/p.toml", "device[2].slot"},
        {"no pci-host", {{"s.toml", on("p")}, {"platforms/p.toml", "name = \"p\"\n"}}, run, Where::File, "platforms/p.toml", "a platform needs exactly one pci-host"},
        {"pci-host with a parent", {{"s.toml", on("p")}, {"platforms/p.toml", "name = \"p\"\n[[device]]\nname = \"pci0\"\ntype = \"pci-host\"\nparent = \"up\"\n"}}, run, Where::File, "platforms/p.toml", "device[0].parent"},
        {"disk named like a device", {{"s.toml", on("p")}, {"platforms/p.toml", kPlatform + device("sata0", "ahci", "1f.0", "pci0", "disk = \"dma0\"\n")}}, run, Where::File, "platforms/p.toml", "device[2].disk"},
        // Another kind of file where a scenario belongs: which kind it is, not what a scenario lacks.
        {"a protocol file run as a scenario", {{"q.toml", kSuspend + kResume}}, "run {d}/q.toml --db {d}/out.db", Where::File, "q.toml", "suspend: this is a protocol file, not a scenario"},
        {"a driver file given to graph", {{"d.toml", driver("suspend = []\n")}}, "graph {d}/d.toml", Where::File, "d.toml", ":1:1: driver: this is a driver file, not a scenario"},
        {"a platform file given to explore", {{"p.toml", kPlatform}}, "explore {d}/p.toml --db {d}/out.db", Where::File, "p.toml", "this is a platform file, not a scenario"},
        // Protocol files.
        {"unknown action", {{"s.toml", on("pc-basic", "q")}, {"protocols/q.toml", kSuspend + "[[resume]]\nname = \"x\"\naction = \"dance\"\n"}}, run, Where::File, "protocols/q.toml", "unknown action 'dance'"},
        {"misspelt action", {{"s.toml", on("pc-basic", "q")}, {"protocols/q.toml", kSuspend + "[[resume]]\nname = \"x\"\nacton = \"irqs-on\"\n"}}, run, Where::File, "protocols/q.toml", "resume[0].acton: unknown key (did you mean 'action'?)"},
        {"no platform-enter", {{"s.toml", on("pc-basic", "q")}, {"protocols/q.toml", "name = \"q\"\n[[suspend]]\nname = \"s\"\naction = \"sync\"\n" + kResume}}, run, Where::File, "protocols/q.toml", "suspend: the suspend list never reaches platform-enter"},
        {"two phases of one name", {{"s.toml", on("pc-basic", "q")}, {"protocols/q.toml", kSuspend + "[[resume]]\nname = \"enter\"\naction = \"irqs-on\"\n[[resume]]\nname = \"cpus-online\"\naction = \"cpus-online\"\n"}}, run, Where::File, "protocols/q.toml", "another phase has this name"},
        {"target S5", {{"s.toml", on("pc-basic", "q")}, {"protocols/q.toml", "target = \"S5\"\n" + kSuspend + kResume}}, run, Where::File, "protocols/q.toml", "target"},
        {"empty suspend list", {{"s.toml", on("pc-basic", "q")}, {"protocols/q.toml", "name = \"q\"\nsuspend = []\n" + kResume}}, run, Where::File, "protocols/q.toml", "suspend: needs at least one phase"},
        {"no resume list", {{"s.toml", on("pc-basic", "q")}, {"protocols/q.toml", kSuspend}}, run, Where::File, "protocols/q.toml", "resume: is required"},
        {"resume leaves interrupts off", {{"s.toml", on("pc-basic", "q")}, {"protocols/q.toml", kSuspend + "[[resume]]\nname = \"cpus-online\"\naction = \"cpus-online\"\n"}}, run, Where::File, "protocols/q.toml", "resume: the resume list leaves interrupts off"},
        // Driver files (docs/drivers.md), by themselves and named by a scenario.
        {"driver: unknown op", {{"drivers/d.toml", driver("suspend = [{ op = \"dance\" }]\n")}}, "validate {d}/drivers/d.toml", Where::File, "drivers/d.toml", "op"},
        {"driver: unknown register", {{"drivers/d.toml", driver("suspend = [{ op = \"write\", reg = \"CTLR\", value = 0 }]\n")}}, "validate {d}/drivers/d.toml", Where::File, "drivers/d.toml", "has no register 'CTLR'"},
        {"driver: jump to no label", {{"drivers/d.toml", driver("suspend = [{ op = \"write\", reg = \"CTRL\", value = 0, on_fail = \"nowhere\" }]\n")}}, "validate {d}/drivers/d.toml", Where::File, "drivers/d.toml", "nowhere"},
        {"driver: binds no model", {{"drivers/d.toml", "[driver]\nname = \"d\"\nbinds = \"gpu\"\n[callbacks]\n"}}, "validate {d}/drivers/d.toml", Where::File, "drivers/d.toml", "binds"},
        {"scenario: no such driver file", {{"s.toml", kScenario + "[drivers.dma0]\ndriver = \"nowhere\"\n"}}, run, Where::File, "s.toml", "drivers.dma0.driver"},
        {"scenario: a bad driver file", {{"s.toml", kScenario + "[drivers.dma0]\ndriver = \"d\"\n"}, {"drivers/d.toml", driver("suspend = [{ op = \"dance\" }]\n")}}, run, Where::File, "drivers/d.toml", ""},
        {"scenario: a patch's step names no register", {{"s.toml", kScenario + "[[drivers.dma0.patch]]\ncallback = \"suspend\"\nappend = [{ op = \"write\", reg = \"CTLR\", value = 0 }]\n"}}, run, Where::File, "s.toml", ":9:33: drivers.dma0.patch[0].append[0].reg: 'dma-engine' has no register 'CTLR'"},
        // A value the register or the field cannot hold was cut to what fits, silently (or a poll never matched).
        {"scenario: a step's value wider than its register", {{"s.toml", kScenario + "[[drivers.dma0.patch]]\ncallback = \"suspend\"\nappend = [{ op = \"write\", reg = \"CTRL\", value = 0x1FFFFFFFF }]\n"}}, run, Where::File, "s.toml", ":9:49: drivers.dma0.patch[0].append[0].value: 8589934591 does not fit register CTRL (4 bytes: at most 4294967295)"},
        {"scenario: a step's value wider than its field", {{"s.toml", kScenario + "[[drivers.dma0.patch]]\ncallback = \"suspend\"\nappend = [{ op = \"rmw\", reg = \"CTRL\", field = \"ENABLE\", value = 99 }]\n"}}, run, Where::File, "s.toml", "drivers.dma0.patch[0].append[0].value: 99 does not fit field ENABLE of CTRL (1 bit: at most 1)"},
        {"scenario: patch of no callback", {{"s.toml", kScenario + "[[drivers.dma0.patch]]\ncallback = \"nap\"\nappend = []\n"}}, run, Where::File, "s.toml", "callback"},
        // The command line.
        {"--seed -1", {}, good + " --seed -1", Where::Option, "--seed", "got '-1'"},
        {"-j 0", {}, good + " -j 0", Where::Option, "-j/--jobs", "0"},
        {"--fault of no kind", {}, good + " --fault kind=nope", Where::Option, "--fault 1", "unknown fault kind 'nope'"},
        {"--order incomplete", {}, good + " --order dma0", Where::Option, "--order", "must name every device once: 'dma1' is missing"},
        {"--order with an unknown device", {}, good + " --order pci0,rp0,dma0,zzz", Where::Option, "--order", "must name every device once: 'zzz' is no device of the platform"},
        {"--order with a device twice", {}, good + " --order pci0,rp0,dma0,dma0,dma1", Where::Option, "--order", "must name every device once: 'dma0' is named twice"},
        {"--junit into no directory", {}, good + " --junit {d}/nodir/x.xml", Where::Path, "nodir/x.xml", "--junit"},
        {"unknown option", {}, good + " --frobnicate", Where::Option, "--frobnicate", ": unknown option of 'run'"},
        {"unknown command", {}, "frobnicate", Where::Option, "frobnicate", ": unknown command (run, validate, "},
        {"no command", {}, "", Where::Option, "a command is required", "(run, validate, "},
        {"an option before any command", {}, "--frobnicate run", Where::Option, "--frobnicate", ": unknown option"},
        {"unknown trace command", {}, "trace frobnicate {good}", Where::Option, "frobnicate", ": unknown command of 'trace' (runs, show, "},
        {"trace without its command", {}, "trace", Where::Option, "trace", ": needs a command (runs, show, "},
        {"unknown option of trace show", {}, "trace show {good} 1 --frobnicate", Where::Option, "--frobnicate", ": unknown option of 'trace show'"},
        {"an argument too many", {}, "graph " + regression("s3-basic") + " extra", Where::Option, "extra", ": unexpected argument of 'graph'"},
        {"a missing argument", {}, "graph", Where::Option, "graph", ": SCENARIO is required"},
        {"an option without its value", {}, good + " --junit", Where::Option, "--junit", ": needs a value"},
        {"a run id that is no number", {}, "trace show {good} one", Where::Option, "RUN", ": a run id is a whole number from 1 to 9223372036854775807, got 'one'"},
        {"-j not a number", {}, good + " -j many", Where::Option, "-j/--jobs", "got 'many'"},
        // Every whole-number option reads decimal: 0300 is 300 (out of range), not C's octal 192.
        {"-j with a leading zero", {}, good + " -j 0300", Where::Option, "-j/--jobs", ": must be 1 to 256, got '300'"},
        // An option whose value was left out takes the next option as it ("--junit --db x"): a JUnit file named --db.
        {"--junit without its value", {}, good + " --junit --db {d}/x.db", Where::Option, "--junit", ": needs a value, got the option '--db'"},
        {"explore --out without its value", {}, "explore " + regression("s3-basic") + " --db {d}/out.db --out --kinds callback-fail", Where::Option, "--out", ": needs a value, got the option '--kinds'"},
        {"explore --budget", {}, "explore " + regression("s3-basic") + " --db {d}/out.db --budget 5x", Where::Option, "--budget", "'5x'"},
        {"explore --shard", {}, "explore " + regression("s3-basic") + " --db {d}/out.db --shard 2/1", Where::Option, "--shard", ""},
        // A budget past what a double holds as a count was read as none.
        {"explore --budget of 10^20 variants", {}, "explore " + regression("s3-basic") + " --db {d}/out.db --budget 99999999999999999999", Where::Option, "--budget", "got '99999999999999999999'"},
        {"explore --budget of 10^9 hours", {}, "explore " + regression("s3-basic") + " --db {d}/out.db --budget 1000000000h", Where::Option, "--budget", "got '1000000000h'"},
        // Counts of variants: a huge one asked for more memory than there is (and aborted), a negative one wrapped round.
        {"explore --pct huge", {}, "explore " + regression("s3-basic") + " --db {d}/out.db --pct 99999999999999999999", Where::Option, "--pct", ": must be 0 to 100000, got '99999999999999999999'"},
        {"explore --pct -1", {}, "explore " + regression("s3-basic") + " --db {d}/out.db --pct -1", Where::Option, "--pct", ": must be 0 to 100000, got '-1'"},
        {"explore --timing past the cap", {}, "explore " + regression("s3-basic") + " --db {d}/out.db --timing 100001", Where::Option, "--timing", ": must be 0 to 100000, got '100001'"},
        {"explore --timing -1", {}, "explore " + regression("s3-basic") + " --db {d}/out.db --timing -1", Where::Option, "--timing", "got '-1'"},
        {"explore --pct-steps -5", {}, "explore " + regression("s3-basic") + " --db {d}/out.db --pct 1 --pct-steps -5", Where::Option, "--pct-steps", ": must be 1 to 1000000000, got '-5'"},
        {"explore --pct-steps 0", {}, "explore " + regression("s3-basic") + " --db {d}/out.db --pct 1 --pct-steps 0", Where::Option, "--pct-steps", "got '0'"},
        {"explore --persistence -1", {}, "explore " + regression("s3-basic") + " --db {d}/out.db --persistence -1", Where::Option, "--persistence", ": must be 0 to 1000000, got '-1'"},
        {"export --format", {}, "trace export {good} 1 --format pdf -o {d}/x.pdf", Where::Option, "--format", ": must be chrome, vcd or html, got 'pdf'"},
        // Databases.
        {"no such database", {}, "trace runs {d}/missing.db", Where::Path, "missing.db", "no such database"},
        {"not a database", {{"junk.db", "this is not a database\n"}}, "trace runs {d}/junk.db", Where::Path, "junk.db", "not a quiesce trace database"},
        {"another schema version", {{"v.db", "schema 99"}}, "query {d}/v.db \"SELECT 1\"", Where::Path, "v.db", "trace schema version 99"},
        {"no such run", {}, "trace show {good} 999", Where::Option, "{good}", "no run 999"},
        {"query that writes", {}, "query {good} \"DELETE FROM run\"", Where::Option, "query", "refused"},
        {"replay of no run", {}, "replay {good} 999", Where::Option, "{good}", "no run 999"},
        {"merge of a non-database", {{"junk.db", "junk\n"}}, "merge {d}/out.db {d}/junk.db", Where::Path, "junk.db", "not a quiesce trace database"},
        {"merge of an input twice", {}, "merge {d}/out.db {good} {good}", Where::Option, "{good}", "its campaign 1 (started "},
        {"query past its --timeout", {}, "query {good} \"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c\" --timeout 0.2", Where::Option, "{good}", "query stopped at the --timeout of 0.2s"},
        {"query --timeout 0", {}, "query {good} \"SELECT 1\" --timeout 0", Where::Option, "--timeout", "got '0'"},
        // Damaged databases: a copy of a good one, then the SQL.
        {"text in an integer column: trace runs", {{"bad.db", "damage: UPDATE run SET sim_time = 'long'"}}, "trace runs {d}/bad.db", Where::Path, "bad.db", "run.sim_time: expected an integer, got 'long' (run row 1)"},
        {"text in an integer column: trace show", {{"bad.db", "damage: UPDATE slice SET ts = 'abc'"}}, "trace show {d}/bad.db 1", Where::Path, "bad.db", "slice.ts: expected an integer, got 'abc' (slice row "},
        {"a negative duration: trace show", {{"bad.db", "damage: UPDATE slice SET dur = -5"}}, "trace show {d}/bad.db 1", Where::Path, "bad.db", "slice.dur: expected a whole number, 0 or more, got '-5'"},
        {"text in an integer column: trace diff", {{"bad.db", "damage: UPDATE instant SET ts = 'x1'"}}, "trace diff {d}/bad.db 1 1", Where::Path, "bad.db", "instant.ts: expected an integer, got 'x1' (instant row "},
        {"a real in an integer column: trace summary", {{"bad.db", "damage: UPDATE slice SET dur = 1.5"}}, "trace summary {d}/bad.db", Where::Path, "bad.db", "slice.dur: expected an integer, got '1.5'"},
        {"text in a real column: export chrome", {{"bad.db", "damage: UPDATE counter SET value = 'high'"}}, "trace export {d}/bad.db 1 -o {d}/x.json", Where::Path, "bad.db", "counter.value: expected a number, got 'high' (counter row "},
        {"text in an integer column: export vcd", {{"bad.db", "damage: UPDATE track SET parent_id = 'root' WHERE parent_id IS NOT NULL"}}, "trace export {d}/bad.db 1 --format vcd -o {d}/x.vcd", Where::Path, "bad.db", "track.parent_id: expected an integer, got 'root'"},
        {"text in an integer column: export html", {{"bad.db", "damage: UPDATE slice SET depth = 'deep'"}}, "trace export {d}/bad.db 1 --format html -o {d}/x.html", Where::Path, "bad.db", "slice.depth: expected an integer, got 'deep' (slice row "},
        {"100,000-deep JSON: export html", {{"bad.db", "damage: UPDATE slice SET args = '{\"a\":' || replace(hex(zeroblob(100000)), '00', '[') || replace(hex(zeroblob(100000)), '00', ']') || '}'"}}, "trace export {d}/bad.db 1 --format html -o {d}/x.html", Where::Path, "bad.db", "slice.args: JSON nested deeper than 64 levels (slice row "},
        {"100,000-deep JSON: export chrome", {{"bad.db", "damage: UPDATE instant SET args = '{\"a\":' || replace(hex(zeroblob(100000)), '00', '[') || replace(hex(zeroblob(100000)), '00', ']') || '}'"}}, "trace export {d}/bad.db 1 -o {d}/x.json", Where::Path, "bad.db", "instant.args: JSON nested deeper than 64 levels"},
        {"text in an integer column: replay", {{"bad.db", "damage: UPDATE run SET seed = 'seven'"}}, "replay {d}/bad.db 1", Where::Path, "bad.db", "run.seed: expected an integer, got 'seven' (run row 1)"},
        {"text in an integer column: seed in trace runs", {{"bad.db", "damage: UPDATE run SET seed = 'seven'"}}, "trace runs {d}/bad.db", Where::Path, "bad.db", "run.seed: expected an integer, got 'seven' (run row 1)"},
        {"text in an integer column: seed in trace show", {{"bad.db", "damage: UPDATE run SET seed = 'seven'"}}, "trace show {d}/bad.db 1", Where::Path, "bad.db", "run.seed: expected an integer, got 'seven' (run row 1)"},
    };
}

// Every file under `dir`, with its size and content.
std::map<std::string, std::string> snapshot(const std::string& dir) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        std::ifstream in(e.path(), std::ios::binary);
        out[e.path().string()] = e.is_regular_file() ? std::string(std::istreambuf_iterator<char>(in), {}) : "<dir>";
    }
    return out;
}

std::set<std::string> databases_here() {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(fs::current_path()))
        if (e.path().extension() == ".db") out.insert(e.path().string());
    return out;
}

std::string subst(std::string text, const std::string& from, const std::string& to) {
    for (size_t at; (at = text.find(from)) != std::string::npos;) text.replace(at, from.size(), to);
    return text;
}

std::string regex_quote(const std::string& text) {
    static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
    return std::regex_replace(text, special, R"(\$&)");
}

// A copy of the good database `good`, then `sql` run on it.
void write_damaged_db(const std::string& good, const std::string& path, const std::string& sql) {
    fs::copy_file(good, path);
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    INFO(sql);
    REQUIRE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_changes(db) > 0);
    sqlite3_close(db);
}

// A database file of schema version `version` (and nothing else).
void write_versioned_db(const std::string& path, int version) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    std::string sql = "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO meta VALUES "
                      "('schema_version', '" + std::to_string(version) + "');";
    REQUIRE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
}

}  // namespace

TEST_CASE("bad input: every case exits 2 with one line naming where, and writes nothing", "[bad-input]") {
    const std::string root = tmp_path("bad-input");
    const std::string good = root + "/good.db";
    fs::create_directories(root);
    REQUIRE(sh("run " + regression("s3-basic") + " --db " + good).status == 0);
    const auto good_before = snapshot(root);
    const auto dbs_before = databases_here();
    const std::vector<Case> cases = catalogue();
    CHECK(cases.size() >= 60);
    int n = 0;
    for (const Case& c : cases) {
        const std::string d = root + "/case-" + std::to_string(n++);
        fs::create_directories(d);
        for (const auto& [rel, text] : c.files) {
            fs::create_directories(fs::path(d + "/" + rel).parent_path());
            if (text.rfind("schema ", 0) == 0) write_versioned_db(d + "/" + rel, std::stoi(text.substr(7)));
            else if (text.rfind("damage: ", 0) == 0) write_damaged_db(good, d + "/" + rel, text.substr(8));
            else std::ofstream(d + "/" + rel, std::ios::binary) << text;
        }
        const auto before = snapshot(d);
        const std::string args = subst(subst(c.args, "{d}", d), "{good}", good);
        quiesce::test::Cli r = sh(args);
        INFO(c.name << "\n$ quiesce " << args << "\n" << r.out);
        CHECK(r.status == 2);
        // Exactly one line.
        CHECK(!r.out.empty());
        CHECK(r.out.find('\n') == r.out.size() - 1);
        // Where it is: file:line:column, the path, or the option.
        std::string at = subst(c.at, "{good}", good);
        if (c.where == Where::File)
            CHECK(std::regex_search(r.out, std::regex("^quiesce: " + regex_quote(d + "/" + at) + ":[0-9]+:[0-9]+: ")));
        else if (c.where == Where::Path)
            CHECK(r.out.rfind("quiesce: " + d + "/" + at + ": ", 0) == 0);
        else
            CHECK(r.out.rfind("quiesce: " + at, 0) == 0);
        CHECK(r.out.find(subst(c.needle, "{good}", good)) != std::string::npos);
        // Nothing written.
        CHECK(snapshot(d) == before);
        CHECK_FALSE(fs::exists(d + "/out.db"));
    }
    CHECK(snapshot(root).size() >= good_before.size());
    for (const auto& [path, content] : good_before) CHECK(snapshot(root).at(path) == content);
    CHECK(databases_here() == dbs_before);
    fs::remove_all(root);
}

namespace {
// A file kind a value is written into, and where its error points.
struct ValueKind {
    std::string file, where;                              // where: line:column: key
    std::function<std::string(const std::string&)> text;  // the file with the value
};

// The line (from 1, as text) of the first `needle` in `text`, which must
// hold it: where an error about the value there points.
std::string line_of(const std::string& text, const std::string& needle) {
    const size_t at = text.find(needle);
    REQUIRE(at != std::string::npos);
    return std::to_string(1 + std::count(text.begin(), text.begin() + long(at), '\n'));
}

// Each kind's file with each value (as written, and the reason it is
// refused): validate exits 2 with the one line naming where and why.
void check_each_value(const std::string& dir, const std::vector<ValueKind>& kinds,
                      const std::vector<std::pair<std::string, std::string>>& values) {
    for (const ValueKind& k : kinds)
        for (const auto& [value, reason] : values) {
            const std::string path = dir + "/" + k.file;
            std::ofstream(path, std::ios::binary) << k.text(value);
            quiesce::test::Cli r = sh("validate " + path);
            INFO(k.file << " with " << value);
            CHECK(r.status == 2);
            CHECK(r.out == "quiesce: " + path + ":" + k.where + ": " + reason + "\n");
        }
}
}  // namespace

// One reader of durations serves every file kind: these lines are what each
// printed before they shared it, byte for byte.
TEST_CASE("bad input: a bad duration reads alike in scenario and device and driver and protocol files", "[bad-input]") {
    const std::string d = tmp_path("bad-duration");
    fs::create_directories(d + "/drivers");
    const std::string qgpu = quiesce::test::read_text(std::string(QUIESCE_DATA_DIR) + "/devices/qgpu.toml");
    const std::string latency_line = line_of(qgpu, "latency = \"10us\"");  // the engine's, the first
    // The value as written, and the reason it is refused.
    const std::vector<std::pair<std::string, std::string>> values = {
        {"\"50\"", "'50' needs a unit: ps, ns, us, ms or s"},
        {"\"5xs\"", "'5xs': unknown unit 'xs' (ps, ns, us, ms or s)"},
        {"\"-5us\"", "'-5us' does not start with a number"},
        {"\"abc\"", "'abc' does not start with a number"},
        {"5", "'5' needs a unit: ps, ns, us, ms or s"},
        {"1.5", "'1.5' needs a unit: ps, ns, us, ms or s"},
    };
    const std::vector<ValueKind> kinds = {
        {"s.toml", "8:9: wake.after", [](const std::string& v) { return kScenario + "[wake]\nafter = " + v + "\n"; }},
        {"s.toml", "10:12: fault[0].duration",
         [](const std::string& v) {
             return kScenario + "[[fault]]\nkind = \"dma-delay\"\ndevice = \"dma0\"\nduration = " + v + "\n";
         }},
        {"drivers/d.toml", "5:39: callbacks.suspend[0].duration",
         [](const std::string& v) { return driver("suspend = [{ op = \"sleep\", duration = " + v + " }]\n"); }},
        {"dev.toml", latency_line + ":11: engine.latency",
         [&](const std::string& v) { return subst(qgpu, "latency = \"10us\"", "latency = " + v); }},
        {"p.toml", "5:12: suspend[0].duration",
         [](const std::string& v) {
             return "name = \"q\"\n[[suspend]]\nname = \"enter\"\naction = \"platform-enter\"\nduration = " + v + "\n" +
                    kResume;
         }},
    };
    check_each_value(d, kinds, values);
    fs::remove_all(d);
}

// One reader of sizes (TableReader::size) serves scenario, platform and
// device files: these lines are what each printed before they shared it.
TEST_CASE("bad input: a bad size reads alike in scenario and platform and device files", "[bad-input]") {
    const std::string d = tmp_path("bad-size");
    fs::create_directories(d);
    const std::string qgpu = quiesce::test::read_text(std::string(QUIESCE_DATA_DIR) + "/devices/qgpu.toml");
    const std::string bar_line = line_of(qgpu, "bar = \"4KiB\"");
    const std::vector<std::pair<std::string, std::string>> values = {
        {"\"4xB\"", "'4xB': unknown unit 'xB' (B, KiB, MiB or GiB)"},
        {"\"1TiB\"", "'1TiB': unknown unit 'TiB' (B, KiB, MiB or GiB)"},  // not "needs a unit": it has one
        {"\"..4KiB\"", "'..4KiB' is not a number"},
        {"\"1.5B\"", "'1.5B' is not a whole number of the base unit"},
        {"\"-1KiB\"", "'-1KiB' does not start with a number"},
        {"4096", "expected a string"},
    };
    const std::vector<ValueKind> kinds = {
        {"s.toml", "8:13: workload.copy_size",
         [](const std::string& v) { return kScenario + "[workload]\ncopy_size = " + v + "\n"; }},
        {"p.toml", "1:10: memory", [](const std::string& v) { return "memory = " + v + "\n" + kPlatform; }},
        {"dev.toml", bar_line + ":7: device.bar",
         [&](const std::string& v) { return subst(qgpu, "bar = \"4KiB\"", "bar = " + v); }},
    };
    check_each_value(d, kinds, values);
    fs::remove_all(d);
}
