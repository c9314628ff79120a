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

# test-faults: pvkit's blkfront and blkback when grants, event channels
# and transactions fail (pvk_hv_fault_set), on the loop hypervisor.
TESTS += test-faults
test-faults_SRCS := tests/unit/test-faults.c tests/blk/back_tfront.c
test-faults_LIBS := front back hv ring net
test-faults_LDLIBS := -lcmocka
