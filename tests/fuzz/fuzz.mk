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

# fuzz-ring: every ring type, from both ends, against a peer rewriting
# slots and indices.
FUZZERS += fuzz-ring
fuzz-ring_SRCS := tests/fuzz/fuzz-ring.c tests/fuzz/fuzz.c
fuzz-ring_LIBS := ring
fuzz-ring_LDLIBS := $(FUZZ_LINK)

# fuzz-blkback: blkback's request validation and mapping against raw
# requests, on the loop hypervisor (grants are real objects).
FUZZERS += fuzz-blkback
fuzz-blkback_SRCS := tests/fuzz/fuzz-blkback.c tests/fuzz/fuzz.c \
		     tests/blk/back_tfront.c
fuzz-blkback_LIBS := back hv ring net
fuzz-blkback_LDLIBS := $(FUZZ_LINK)

# fuzz-xenback: the backend bus and blkback reading a hostile frontend's
# xenstore values and state transitions.
FUZZERS += fuzz-xenback
fuzz-xenback_SRCS := tests/fuzz/fuzz-xenback.c tests/fuzz/fuzz.c \
		     tests/blk/back_tfront.c
fuzz-xenback_LIBS := back hv ring net
fuzz-xenback_LDLIBS := $(FUZZ_LINK)

# fuzz-xenfront: blkfront's and netfront's parsing of a hostile backend's
# xenstore values and the frontend state machine, on the loop hypervisor.
FUZZERS += fuzz-xenfront
fuzz-xenfront_SRCS := tests/fuzz/fuzz-xenfront.c tests/fuzz/fuzz.c \
		      tests/common/t_toolstack.c
fuzz-xenfront_LIBS := front hv ring net
fuzz-xenfront_LDLIBS := $(FUZZ_LINK)

# fuzz-blkfront: pvkit's blkfront against a hostile blkif backend on the
# loop hypervisor; the backend is the target itself, driving the raw ring
# from the input.
FUZZERS += fuzz-blkfront
fuzz-blkfront_SRCS := tests/fuzz/fuzz-blkfront.c tests/fuzz/fuzz.c \
		      tests/common/t_toolstack.c
fuzz-blkfront_LIBS := front hv ring net
fuzz-blkfront_LDLIBS := $(FUZZ_LINK)

# fuzz-netfront: pvkit's netfront against a hostile netif backend (the
# test double tests/net/net_double.c) on the loop hypervisor.
FUZZERS += fuzz-netfront
fuzz-netfront_SRCS := tests/fuzz/fuzz-netfront.c tests/fuzz/fuzz.c \
		      tests/net/net_double.c tests/common/t_toolstack.c
fuzz-netfront_LIBS := front hv ring net
fuzz-netfront_LDLIBS := $(FUZZ_LINK)

# fuzz-netback: netback against a hostile frontend (tests/fuzz/
# fuzz-netback.c): raw tx slots, rx requests and control requests from the
# raw test frontend of test-netback, a real TAP in a network namespace of
# its own.
FUZZERS += fuzz-netback
fuzz-netback_SRCS := tests/fuzz/fuzz-netback.c tests/fuzz/fuzz.c \
		     tests/net/back_tfront.c tests/common/t_toolstack.c \
		     tests/common/t_wire.c
fuzz-netback_LIBS := back hv ring net
fuzz-netback_LDLIBS := $(FUZZ_LINK)

# fuzz-nbd: the request path of `pvkit disk serve-nbd` -- the calls
# nbdkit makes into pvkit's plugin core (tools/nbd_disk.c) for hostile
# clients, from 1 to 4 threads, against the blkif test double.
FUZZERS += fuzz-nbd
fuzz-nbd_SRCS := tests/fuzz/fuzz-nbd.c tests/fuzz/fuzz.c \
		 tests/blk/front_double.c tools/nbd_disk.c
fuzz-nbd_LIBS := front hv ring
fuzz-nbd_LDLIBS := $(FUZZ_LINK)

# fuzz-simctl: pvkit-simd's request dispatch in-process against two guest
# clients (tests/fuzz/fuzz-simctl.c): framing, descriptors, every op.
FUZZERS += fuzz-simctl
fuzz-simctl_SRCS := tests/fuzz/fuzz-simctl.c tests/fuzz/fuzz.c \
		    hypercall/sim/simd.c hypercall/sim/simd_res.c \
		    hypercall/sim/simd_ts.c hypercall/sim/simd_hvm.c
fuzz-simctl_LIBS :=
fuzz-simctl_LDLIBS := -lxenstore $(FUZZ_LINK)

TEST_SCRIPTS += tests/fuzz/smoke.sh

.PHONY: fuzz-build fuzz fuzz-smoke
# The fuzz build lives in $(B)/fuzz (build/fuzz by default), so
# `make B=DIR fuzz-smoke` builds and runs in DIR/fuzz.
ifeq ($(SAN),fuzz)
FUZZ_B := $(B)
fuzz-build: fuzzers
# The loop hypervisor is the targets' environment, not what they test: its
# edges still guide the fuzzer, its comparisons (list walks and pointer
# checks, a fifth of fuzz-xenback's time) are not traced.
$(B)/obj/hypercall/loop.o: CFLAGS += -fno-sanitize-coverage=trace-cmp
else
FUZZ_B := $(B)/fuzz
fuzz-build:
	@$(MAKE) --no-print-directory SAN=fuzz CC=$(FUZZ_CC) B=$(FUZZ_B) fuzzers
endif

fuzz: fuzz-build
	@tests/fuzz/run.sh --seconds $(FUZZ_SECONDS) $(FUZZ_B) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	@tests/fuzz/run.sh --smoke $(FUZZ_B) $(FUZZ_TARGETS)

# fuzz-emu: the device model core with the IDE disk and the e1000 against
# a hostile HVM guest's registers, string I/O, RAM and frames, on the loop
# hypervisor; the target is vCPU and device model at once (no thread).
FUZZERS += fuzz-emu
fuzz-emu_SRCS := tests/fuzz/fuzz-emu.c tests/fuzz/fuzz.c tests/common/t_wire.c
fuzz-emu_LIBS := back hv ring net
fuzz-emu_LDLIBS := $(FUZZ_LINK)
