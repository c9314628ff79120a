# SPDX-License-Identifier: MIT
# test-ring: libpvkit-ring against Xen's own io/ring.h macros (cmocka).
TESTS += test-ring
test-ring_SRCS := tests/unit/test-ring.c
test-ring_LIBS := ring
test-ring_LDLIBS := -lcmocka
