# The two entry points of the README. Each installs missing Debian packages,
# configures and builds (Release), then runs.
#   make run    the regression suite on the default platform
#   make test   every test (unit, scenario, determinism) through CTest
# SANITIZE=1 builds with ASan+UBSan into build-asan/ instead of build/.
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build-asan
else
BUILD ?= build
endif
JOBS ?= $(shell nproc)

.PHONY: deps configure build run test bench clean

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DQUIESCE_SANITIZE=$(if $(filter 1,$(SANITIZE)),ON,OFF) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/quiesce run scenarios/regression -j $(JOBS) --db $(BUILD)/regression.db --junit $(BUILD)/regression.xml

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	./$(BUILD)/bench/bench_s3
	./$(BUILD)/bench/bench_s4
	./$(BUILD)/bench/bench_trace
	./$(BUILD)/bench/bench_explore

clean:
	rm -rf build build-asan
