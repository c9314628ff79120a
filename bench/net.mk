# SPDX-License-Identifier: MIT
# bench-net: 64-byte packets per second through one netback queue, each
# way, against a plain TAP writer/reader on the same bridge, in the same
# run (root: a network namespace of its own).
BENCHES += bench-net
bench-net_SRCS = bench/bench-net.c tests/common/t_toolstack.c $(bench_SRCS)
bench-net_LIBS := back hv ring net
bench-net_LDLIBS = $(bench_LDLIBS)
BENCH_TARGETS += net

.PHONY: bench-net
bench-net: all
	@PVK_BUILD=$(B) $(B)/bench/bench-net $(BENCH_ARGS)
