# make run   installs missing Debian packages, builds Release, starts jobqd.
# make test  the same set-up, then every test through ctest.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
JOBQD_FLAGS ?= --data-dir ./data

.PHONY: all deps test-deps configure build run test check-image clean asan tsan

all: build

deps:
	@scripts/install-deps.sh scripts/deps.txt

test-deps:
	@scripts/install-deps.sh scripts/test-deps.txt

$(BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_EXTRA)

configure: $(BUILD_DIR)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD_DIR) -j$(JOBS)

run: build
	$(BUILD_DIR)/bin/jobqd $(JOBQD_FLAGS)

test: build test-deps
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 300

# The Docker image's runtime stage, proven without a Docker engine (root).
check-image: build test-deps
	deploy/check-image.sh $(BUILD_DIR)/bin

# Sanitizer builds in their own directories.
asan:
	$(MAKE) test BUILD_DIR=build-asan BUILD_TYPE=Debug CMAKE_EXTRA=-DJOBQ_SANITIZE=address
tsan:
	$(MAKE) test BUILD_DIR=build-tsan BUILD_TYPE=Debug CMAKE_EXTRA=-DJOBQ_SANITIZE=thread

clean:
	rm -rf $(BUILD_DIR)
