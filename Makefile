# Entry points: make deps | make | make demo | make check | make bench
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
CHECK_FUZZ_SECONDS ?= 8
MODE ?= classic

.PHONY: all deps build demo check unit integration bench clean deb fuzz

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD)

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DNETD_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD)

demo: build
	@scripts/demo.sh $(BUILD) $(MODE)

# Unit tests run under ASan/UBSan; then every libFuzzer harness for
# CHECK_FUZZ_SECONDS (make fuzz: a crash fails, its input printed);
# integration tests use the release build in namespaces.
# -rfEs prints why each test failed or was skipped; with CI=true a skip is a
# failure (tests/integration/conftest.py), so the suite cannot shrink quietly.
check: build asan
	@cd $(ASAN_BUILD) && ctest --output-on-failure -L unit
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS)
	@NETD_BUILD=$(abspath $(BUILD)) NETD_ASAN_BUILD=$(abspath $(ASAN_BUILD)) /usr/bin/pytest -q -rfEs --durations=30 -p no:cacheprovider tests/integration

# Every libFuzzer harness for FUZZ_SECONDS each (clang; scripts/fuzz.sh).
fuzz:
	@DEPS_EXTRA=clang scripts/deps.sh
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNETD_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) --target fuzzers
	@scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# Every benchmark, then a summary; fails if any bench misses a target (bench/README.md).
bench: build
	@NETD_BUILD=$(abspath $(BUILD)) bench/lib/run_all

# The Debian package (debian/), built from a copy of the tree: $(BUILD)/deb/*.deb
deb: deps
	@scripts/build-deb.sh $(BUILD)/deb

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
