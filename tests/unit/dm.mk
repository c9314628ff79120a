# SPDX-License-Identifier: MIT
# test-dm: ioreq servers and device-model operations (pvkit/dm.h,
# pvkit/ioreq.h) on the loop hypervisor, the wire format against Xen's
# hvm/ioreq.h (cmocka).
TESTS += test-dm
test-dm_SRCS := tests/unit/test-dm.c
test-dm_LIBS := hv
test-dm_LDLIBS := -lcmocka
