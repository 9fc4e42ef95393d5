# make run   installs missing Debian packages, builds Release, starts jobqd.
# make test  the same set-up, then every test through ctest, then each
#            libFuzzer target for FUZZ_SECONDS (make fuzz; FUZZ=0 skips it).
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
JOBQD_FLAGS ?= --data-dir ./data
FUZZ ?= 1
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 15

.PHONY: all deps test-deps fuzz-deps configure build run test fuzz check-image clean asan tsan

all: build

deps:
	@scripts/install-deps.sh scripts/deps.txt

test-deps:
	@scripts/install-deps.sh scripts/test-deps.txt

fuzz-deps:
	@scripts/install-deps.sh scripts/fuzz-deps.txt

$(BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_EXTRA)

configure: $(BUILD_DIR)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

run: build
	$(BUILD_DIR)/bin/jobqd $(JOBQD_FLAGS)

test: build test-deps
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 300
ifeq ($(FUZZ),1)
	$(MAKE) fuzz
endif

# libFuzzer (clang, ASan, UBSan) in its own directory: each target explores
# from tests/fuzz/corpus for FUZZ_SECONDS.
$(FUZZ_DIR)/CMakeCache.txt: | deps fuzz-deps
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) -DJOBQ_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo

fuzz: deps fuzz-deps $(FUZZ_DIR)/CMakeCache.txt
	cmake --build $(FUZZ_DIR) -j$(JOBS) --target wal_fuzz request_fuzz config_fuzz
	tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

# The Docker image's runtime stage, proven without a Docker engine (root).
check-image: build test-deps
	deploy/check-image.sh $(BUILD_DIR)/bin

# Sanitizer builds in their own directories.
asan:
	$(MAKE) test FUZZ=0 BUILD_DIR=build-asan BUILD_TYPE=Debug CMAKE_EXTRA=-DJOBQ_SANITIZE=address
tsan:
	$(MAKE) test FUZZ=0 BUILD_DIR=build-tsan BUILD_TYPE=Debug CMAKE_EXTRA=-DJOBQ_SANITIZE=thread

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_DIR)
