# SPDX-License-Identifier: MIT
# bench-net: 64-byte packets per second through one netback queue, each
# way, against a plain TAP writer/reader on the same bridge, and TCP
# throughput between guests on the simulator (bench/net-tcp.sh) against a
# veth pair, in the same run (root: network namespaces of its own).
BENCHES += bench-net
bench-net_SRCS = bench/bench-net.c tests/common/t_toolstack.c $(bench_SRCS)
bench-net_LIBS := back hv ring net
bench-net_LDLIBS = $(bench_LDLIBS)
BENCH_TARGETS += net

.PHONY: bench-net
bench-net: all $(B)/tests/pvk-tcp
	@PVK_BUILD=$(B) bench/net-tcp.sh $(B)/bench/net-tcp.txt && \
	PVK_BUILD=$(B) $(B)/bench/bench-net --tcp $(B)/bench/net-tcp.txt \
		$(BENCH_ARGS)
