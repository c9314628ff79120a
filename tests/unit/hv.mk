# SPDX-License-Identifier: MIT
# test-hv: libpvkit-hv (hv.h, xenbus.h) against loop, and against xen when
# a simulator or real Xen is reachable (cmocka).
TESTS += test-hv
test-hv_SRCS := tests/unit/test-hv.c
test-hv_LIBS := hv
test-hv_LDLIBS := -lcmocka

# test-xenbus-back: the backend bus with a mock driver, on loop (cmocka).
TESTS += test-xenbus-back
test-xenbus-back_SRCS := tests/unit/test-xenbus-back.c tests/common/t_toolstack.c
test-xenbus-back_LIBS := hv
test-xenbus-back_LDLIBS := -lcmocka
