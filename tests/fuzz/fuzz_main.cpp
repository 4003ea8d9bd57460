// The libFuzzer target of `make fuzz` (clang's -fsanitize=fuzzer, with ASan
// and UBSan): QUIESCE_FUZZ_KIND=scenario|platform|protocol|driver|device
// picks the loader. An InputError naming its location is a good answer;
// anything else - an abort, another exception, a sanitizer report - is a
// crash libFuzzer saves. An input error without file:line:column is a finding, printed once
// per key ("fuzz_loaders: finding: ...").
#include "tests/fuzz/fuzz_loaders.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>
#include <string>

// libsystemc's main() refers to sc_main; libFuzzer brings its own main().
extern "C" int sc_main(int, char**) { return 2; }

namespace {
quiesce::fuzz::Kind g_kind = quiesce::fuzz::Kind::Scenario;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
    const char* kind = std::getenv("QUIESCE_FUZZ_KIND");
    if (!kind || !quiesce::fuzz::kind_of(kind, g_kind)) {
        std::fprintf(stderr, "fuzz_loaders: set QUIESCE_FUZZ_KIND to scenario, platform, protocol, driver or device\n");
        std::exit(2);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        quiesce::fuzz::load_input(g_kind, data, size);
    } catch (const quiesce::fuzz::Finding& e) {
        // Not a crash: reported once per key (scripts/fuzz.sh lists them),
        // and fuzzing goes on. The corpus replay holds them to the form.
        static std::set<std::string> seen;
        if (seen.insert(e.key).second) std::fprintf(stderr, "fuzz_loaders: finding: %s\n", e.what());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fuzz_loaders: %s input: uncaught %s\n", quiesce::fuzz::kind_name(g_kind), e.what());
        std::abort();
    }
    return 0;
}
