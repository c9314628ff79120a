# SPDX-License-Identifier: MIT
# test-netback: netback on the loop hypervisor with a frontend test double,
# real TAPs on a real bridge in a network namespace of its own (cmocka).
TESTS += test-netback
test-netback_SRCS := tests/net/back-unit.c tests/net/back_tfront.c \
	tests/common/t_toolstack.c tests/common/t_wire.c
test-netback_LIBS := back hv ring net
test-netback_LDLIBS := -lcmocka

# pvkit nic attach/detach/list with pvkit-backd serving the vif on the
# simulator: libxl's nodes and permissions, the TAP on its bridge, bad
# input refused with nothing written, detach.
TEST_SCRIPTS += tests/net/nic-sim.sh
