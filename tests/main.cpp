#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <systemc>

#include <cstdlib>

// libsystemc's main() refers to sc_main; the test runner has its own main().
int sc_main(int, char**) { return 2; }

int main(int argc, char** argv) {
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
    return Catch::Session().run(argc, argv);
}
