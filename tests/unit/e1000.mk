# SPDX-License-Identifier: MIT
# test-e1000: the emulated e1000 (pvkit/dm_e1000.h) and its guest driver
# (pvkit/e1000_guest.h) on the loop hypervisor, with a real TAP in a
# network namespace of its own (cmocka; skips without one).
TESTS += test-e1000
test-e1000_SRCS := tests/unit/test-e1000.c tests/common/t_dmodel.c
test-e1000_LIBS := back front hv ring net
test-e1000_LDLIBS := -lcmocka -pthread
