# Thin wrapper around CMake. The README's two commands are `make demo` and
# `make check`; both install missing packages first.
JOBS     ?= $(shell nproc)
BUILD    ?= build
ASAN     ?= build-asan
FUZZ     ?= build-fuzz
DEMO_CMD  = $(BUILD)/bin/kvmlet-vmm --kernel $(BUILD)/firmware/kvmlet-testguest.elf \
	--vcpus 2 --memory 128 --cmdline "console=ttyS0 kvmlet.test=smp,irq,mem"

.PHONY: all deps build asan fuzz demo check test clean format

all: build

deps:
	scripts/install-deps

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

asan:
	cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DKVMLET_SANITIZE=ON >/dev/null
	cmake --build $(ASAN) -j $(JOBS)

fuzz:
	CC=clang cmake -S . -B $(FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVMLET_FUZZ=ON >/dev/null
	cmake --build $(FUZZ) -j $(JOBS)

demo: deps
	@$(MAKE) --no-print-directory build
	$(DEMO_CMD)
	scripts/demo-agent $(BUILD)

# Every test runs twice, in the release build and under ASan+UBSan; then each
# libFuzzer target runs for a bounded time.
check: deps
	@$(MAKE) --no-print-directory build asan fuzz
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	ctest --test-dir $(ASAN) --output-on-failure -j $(JOBS)
	ctest --test-dir $(FUZZ) --output-on-failure -j $(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

format:
	git ls-files '*.c' '*.h' | grep -v '^firmware/.*\.S$$' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
