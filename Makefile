# vhnet: top-level build. Run as root on Debian 12; every target installs what it needs first
# through 'make deps' where it matters (test, demo).
SHELL := /bin/bash
BUILD := $(CURDIR)/build
# The newest kernel with both an image in /boot and headers: the module is built for it and the
# test VM boots it.
KVER ?= $(shell scripts/kver.sh 2>/dev/null)
JOBS ?= $(shell nproc)
# -Werror in CI (CI=true), warnings only by default.
WERROR ?= $(if $(CI),ON,OFF)
CMAKE_FLAGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVHNET_WERROR=$(WERROR)

all: kmod userspace

deps:
	@scripts/deps.sh

kmod:
	@[ -n "$(KVER)" ] || { echo "make: no kernel with headers found; run 'make deps'" >&2; exit 1; }
	$(MAKE) -C kmod KVER=$(KVER) VHNET_WERROR=$(WERROR)

userspace:
	@cmake -S userspace -B $(BUILD)/userspace $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD)/userspace -j$(JOBS)

# Everything: lint, host unit tests, the VM suites. Last line: "N passed, N failed".
test: deps
	@$(MAKE) --no-print-directory all
	@tests/run-all.sh

# The VM suites on a debug kernel (KASAN, lockdep, kmemleak, UBSAN, KFENCE) built once from
# linux-source-6.1 into /var/cache/vhnet, with the fuzz suite at scale; SUITE as for make vm.
# Last line: "N passed, N failed". See Documentation/testing.rst.
test-debug: deps
	@$(MAKE) --no-print-directory userspace
	@tests/debug/run.sh $(foreach s,$(SUITE),--suite $(s))

# Only the VM suites: make vm SUITE=dev FILTER='dev/set-owner*'; REPEAT=N runs the migration
# sequence N times (make vm SUITE=migration REPEAT=10)
vm: all
	tests/vm/run.sh $(foreach s,$(SUITE),--suite $(s)) $(if $(FILTER),--filter '$(FILTER)') \
		$(if $(REPEAT),--repeat $(REPEAT))

# Packets per second, latency and nested-guest TCP for vhnet, vhost-net and a bare tap, in the
# instruction-counted and the wall-clock VM: build/bench/results.{md,json,png}. QUICK=1: a short
# icount-only version. See Documentation/performance.rst.
bench: deps
	@$(MAKE) --no-print-directory all
	@bench/run.sh $(if $(filter 1,$(QUICK)),--quick)

unit: userspace
	ctest --test-dir $(BUILD)/userspace --output-on-failure

# libFuzzer on the ring core (clang; a build directory of its own): make fuzz FUZZ_SECONDS=600
FUZZ_SECONDS ?= 60
fuzz: deps
	CC=clang CXX=clang++ cmake -S userspace -B $(BUILD)/fuzz -DVHNET_FUZZ=ON >/dev/null
	cmake --build $(BUILD)/fuzz -j$(JOBS) --target vhnet-ring-fuzz
	rm -rf $(BUILD)/fuzz/corpus-ring && cp -r tests/fuzz/corpus/ring $(BUILD)/fuzz/corpus-ring
	mkdir -p $(BUILD)/fuzz/artifacts
	cd $(BUILD)/fuzz && tests/fuzz/vhnet-ring-fuzz -max_total_time=$(FUZZ_SECONDS) \
		-artifact_prefix=artifacts/ corpus-ring

demo: deps
	@$(MAKE) --no-print-directory all
	@tests/vm/run.sh --mode demo

# checkpatch.pl comes from Debian's linux-source tarball (the headers package lacks it).
CHECKPATCH := $(BUILD)/checkpatch/checkpatch.pl
$(CHECKPATCH):
	@mkdir -p $(BUILD)/checkpatch
	tar -xJf /usr/src/linux-source-6.1.tar.xz -C $(BUILD)/checkpatch --strip-components=2 \
		linux-source-6.1/scripts/checkpatch.pl linux-source-6.1/scripts/spelling.txt \
		linux-source-6.1/scripts/const_structs.checkpatch
	@touch $@

KMOD_SOURCES = $(shell git ls-files -co --exclude-standard 'kmod/*.[ch]')
CXX_SOURCES = $(shell git ls-files -co --exclude-standard 'userspace/*.cpp' 'userspace/*.h' \
		'tests/*.cpp' 'tests/*.h')

lint: $(CHECKPATCH)
	perl $(CHECKPATCH) --no-tree --quiet --show-types -f $(filter-out kmod/compat.h,$(KMOD_SOURCES))
	@# compat.h is where the kernel-version checks belong
	perl $(CHECKPATCH) --no-tree --quiet --show-types --ignore LINUX_VERSION_CODE -f kmod/compat.h
	clang-format --dry-run --Werror $(CXX_SOURCES)

clean:
	-$(MAKE) -C kmod KVER=$(KVER) clean
	rm -rf $(BUILD)

.PHONY: all deps kmod userspace test test-debug vm unit demo lint fuzz clean bench
