# The two entry points of the README. Each installs missing Debian packages,
# configures and builds (Release), then runs.
#   make run    the regression suite on the default platform: installs what
#               quiesce needs and builds the quiesce executable only
#   make test   every test (unit, scenario, determinism, Slurm) through CTest:
#               installs what the tests use too (scripts/install-deps.sh
#               --tests: Chromium, GTKWave, Slurm...) and builds everything
# SANITIZE=1 builds with ASan+UBSan into build-asan/ instead of build/, at
#               -O1 -g1 (ASan's advice: usable speed, line numbers in reports;
#               one file builds in 52 s instead of -O3's 117 s).
#   make fuzz   the libFuzzer target (clang, ASan+UBSan) over each input file
#               kind for FUZZ_SECONDS each, in build-fuzz/ (docs/reliability.md)
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build-asan
BUILD_TYPE = -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"
else
BUILD ?= build
BUILD_TYPE = -DCMAKE_BUILD_TYPE=Release
endif
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
FUZZ_KINDS ?= scenario platform protocol driver device
FUZZ_BUILD ?= build-fuzz

.PHONY: deps test-deps configure build run test bench fuzz mutate clean

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --tests

CONFIGURE = cmake -S . -B $(BUILD) $(BUILD_TYPE) -DQUIESCE_SANITIZE=$(if $(filter 1,$(SANITIZE)),ON,OFF) >/dev/null

configure: deps
	@$(CONFIGURE)

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

run: configure
	@cmake --build $(BUILD) -j $(JOBS) --target quiesce
	./$(BUILD)/quiesce run scenarios/regression -j $(JOBS) --db $(BUILD)/regression.db --junit $(BUILD)/regression.xml

test: test-deps
	@$(CONFIGURE)
	@cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	./$(BUILD)/bench/bench_s3
	./$(BUILD)/bench/bench_s4
	./$(BUILD)/bench/bench_trace
	./$(BUILD)/bench/bench_explore

# clang (Debian's, for libFuzzer) is needed by this target only.
fuzz: deps
	@command -v clang++ >/dev/null || { S=$$([ "$$(id -u)" -ne 0 ] && echo sudo); $$S apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$S apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev; }
	@CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQUIESCE_FUZZ=ON \
		-DQUIESCE_SANITIZE=ON -DQUIESCE_BENCH=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_loaders
	@scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_KINDS)

# Mutation testing (docs/mutation.md): every mutation of scripts/mutations.toml
# applied, one at a time, to a copy of HEAD in MUTATE_WORK (its own Release
# build; the working tree is never touched); prints the score and the
# survivors. MUTATE_ARGS: e.g. --only ID..., --list, --no-unit, --full-suite.
MUTATE_WORK ?= /tmp/quiesce-mutate
mutate: deps
	@command -v python3 >/dev/null || { S=$$([ "$$(id -u)" -ne 0 ] && echo sudo); $$S apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$S apt-get install -y -qq --no-install-recommends python3; }
	python3 scripts/mutate.py --work $(MUTATE_WORK) -j $(JOBS) $(MUTATE_ARGS)

clean:
	rm -rf build build-asan build-fuzz
