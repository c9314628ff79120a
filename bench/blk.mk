# SPDX-License-Identifier: MIT
# bench-blk: 4 KiB random read/write at QD1 and QD32, native io_uring on an
# image file vs the same file as a PV disk (blkfront -> pvkit-backd) on the
# simulator.  bench/blk-bench.sh starts a private simulator, pvkit-backd,
# attaches the image and runs bench-blk inside a guest domain.
BENCHES += bench-blk
bench-blk_SRCS = bench/bench-blk.c $(bench_SRCS)
bench-blk_LIBS := front hv ring
bench-blk_LDLIBS = -luring $(bench_LDLIBS)
BENCH_TARGETS += blk

.PHONY: bench-blk
bench-blk: all
	@bench/blk-bench.sh $(B) $(BENCH_ARGS)
