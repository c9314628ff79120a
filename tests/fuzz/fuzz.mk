# SPDX-License-Identifier: MIT
#
# libFuzzer targets (tests/fuzz/README.md).  They are built only with
# SAN=fuzz (clang, ASan+UBSan, coverage) into build/fuzz/fuzz/:
#
#   make fuzz          every target for FUZZ_SECONDS each (default 60)
#   make fuzz-smoke    every target over its corpus plus a few seconds;
#                      part of make test
#   make fuzz-build    just build them
#   FUZZ_TARGETS='fuzz-ring fuzz-blkback'   a subset
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
FUZZ_LINK := -fsanitize=fuzzer

FUZZERS += fuzz-ring
fuzz-ring_SRCS := tests/fuzz/fuzz-ring.c tests/fuzz/fuzz.c
fuzz-ring_LIBS := ring
fuzz-ring_LDLIBS := $(FUZZ_LINK)

TEST_SCRIPTS += tests/fuzz/smoke.sh

.PHONY: fuzz-build fuzz fuzz-smoke
ifeq ($(SAN),fuzz)
fuzz-build: fuzzers
else
fuzz-build:
	@$(MAKE) --no-print-directory SAN=fuzz CC=$(FUZZ_CC) B=build/fuzz fuzzers
endif

fuzz: fuzz-build
	@tests/fuzz/run.sh --seconds $(FUZZ_SECONDS) build/fuzz $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	@tests/fuzz/run.sh --smoke build/fuzz $(FUZZ_TARGETS)

FUZZERS += fuzz-blkback
fuzz-blkback_SRCS := tests/fuzz/fuzz-blkback.c tests/fuzz/fuzz.c \
		     tests/blk/back_tfront.c
fuzz-blkback_LIBS := back hv ring net
fuzz-blkback_LDLIBS := $(FUZZ_LINK)

FUZZERS += fuzz-xenback
fuzz-xenback_SRCS := tests/fuzz/fuzz-xenback.c tests/fuzz/fuzz.c \
		     tests/blk/back_tfront.c
fuzz-xenback_LIBS := back hv ring net
fuzz-xenback_LDLIBS := $(FUZZ_LINK)
