# SPDX-License-Identifier: MIT
# test-net: libpvkit-net -- frames, checksums, Toeplitz (cmocka), and TAP +
# rtnetlink for real in a network namespace of its own.
TESTS += test-net
test-net_SRCS := tests/net/test-net.c
test-net_LIBS := net
test-net_LDLIBS := -lcmocka
