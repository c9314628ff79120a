# SPDX-License-Identifier: MIT
# bench-ring: pvkit's ring vs Xen's io/ring.h macros vs a bare cache line,
# between two processes on shared memory.
BENCHES += bench-ring
bench-ring_SRCS = bench/bench-ring.c $(bench_SRCS)
bench-ring_LIBS := ring
bench-ring_LDLIBS = $(bench_LDLIBS)
BENCH_TARGETS += ring

.PHONY: bench-ring
bench-ring: $(B)/bench/bench-ring
	@PVK_BUILD=$(B) $(B)/bench/bench-ring $(BENCH_ARGS)
