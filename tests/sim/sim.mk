# SPDX-License-Identifier: MIT
#
# Simulator integration tests: each script starts its own pvkit-simd in a
# private state directory and stops it at the end.  test-sim-client holds
# the guest/dom0 roles the scripts run; alone, it checks bad input against
# a private simulator.
TESTS += test-sim-client
test-sim-client_SRCS := tests/sim/test-sim-client.c
test-sim-client_LIBS := hv ring
test-sim-client_LDLIBS := -lxenstore

TEST_SCRIPTS += tests/sim/service.sh tests/sim/pingpong.sh \
		tests/sim/xenstore.sh tests/sim/death.sh tests/sim/badinput.sh \
		tests/sim/fds.sh tests/sim/netns.sh tests/sim/faults.sh \
		tests/sim/readme-walkthrough.sh tests/sim/hvm.sh \
		tests/sim/hvm-net.sh

# HVM guests: the guest side tests/sim/hvm.sh runs against pvkit-dm.
TESTS += hvm-guest
hvm-guest_SRCS := tests/sim/hvm-guest.c tests/common/t_dmodel.c
hvm-guest_LIBS := back front emu hv ring net

# The guest xenbus multiplexer against a scripted, sometimes hostile,
# xenstored (the event channel is a mock).
TESTS += test-xbmux
test-xbmux_SRCS := tests/sim/test-xbmux.c
test-xbmux_LDLIBS := -lcmocka
