# SPDX-License-Identifier: MIT
# The benchmark harness (bench/bench.h), linked into every benchmark:
#   bench-foo_SRCS = bench/foo.c $(bench_SRCS)
# (a recursive '=' so that the order fragments are read in does not matter).
bench_SRCS := bench/bench.c
bench_LDLIBS := -lm
