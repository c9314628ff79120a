# SPDX-License-Identifier: MIT
# test-netfront: pvkit's netfront against pvkit's netback on the loop
# hypervisor, real TAPs on a real bridge in a network namespace (cmocka).
TESTS += test-netfront
test-netfront_SRCS := tests/net/front-unit.c tests/common/t_toolstack.c \
	tests/common/t_wire.c
test-netfront_LIBS := front back hv ring net
test-netfront_LDLIBS := -lcmocka -pthread

# pvk-tcp: one TCP transfer with a clear end (the lane's pvk-xen-tcp), a
# helper of netfront-sim.sh.
pvk-tcp_SRCS := tests/xen/tcpio.c
$(eval $(call pvk_program,pvk-tcp,tests))
tests: $(B)/tests/pvk-tcp

# pvk-netevil: the lane's hostile netif frontend (pvk-xen-netevil), for
# netfront-sim.sh's hostile guest.
pvk-netevil_SRCS := tests/xen/netevil.c
pvk-netevil_LIBS := hv ring
$(eval $(call pvk_program,pvk-netevil,tests))
tests: $(B)/tests/pvk-netevil

# Two simulated guests on one bridge through pvkit's netfront (`pvkit nic
# serve-tap`) and pvkit-backd: ping, TCP with sha256 both ways, MTU 9000,
# offloads off, multi-queue, backend restart mid-transfer, a guest killed
# mid-transfer, hostile frontends beside them, detach.
TEST_SCRIPTS += tests/net/netfront-sim.sh

# test-netfront-evil: netfront against a hostile backend test double
# (crafted rx/tx responses on the loop hypervisor): protocol violations
# latch it broken, malformed frames are dropped and counted (cmocka).
TESTS += test-netfront-evil
test-netfront-evil_SRCS := tests/net/front-evil.c tests/net/net_double.c \
	tests/common/t_toolstack.c
test-netfront-evil_LIBS := front hv ring net
test-netfront-evil_LDLIBS := -lcmocka -pthread
