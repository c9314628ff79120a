# SPDX-License-Identifier: MIT
# bench-hv: notification round trip between two simulated domains (grant-
# mapped page + event channel) vs a raw eventfd ping-pong between two
# processes, the floor, in the same run.  Starts a private simulator unless
# one runs in $PVKIT_SIM_DIR.
BENCHES += bench-hv
bench-hv_SRCS = bench/bench-hv.c $(bench_SRCS)
bench-hv_LIBS := hv ring
bench-hv_LDLIBS = -lxenstore $(bench_LDLIBS)
BENCH_TARGETS += hv

.PHONY: bench-hv
bench-hv: all
	@PVK_BUILD=$(B) $(B)/bench/bench-hv $(BENCH_ARGS)
