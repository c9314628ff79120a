# SPDX-License-Identifier: MIT
# test-netfront: pvkit's netfront against pvkit's netback on the loop
# hypervisor, real TAPs on a real bridge in a network namespace (cmocka).
TESTS += test-netfront
test-netfront_SRCS := tests/net/front-unit.c tests/common/t_toolstack.c
test-netfront_LIBS := front back hv ring net
test-netfront_LDLIBS := -lcmocka -pthread
