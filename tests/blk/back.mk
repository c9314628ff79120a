# SPDX-License-Identifier: MIT
# blkback tests: test-blkback (cmocka, loop hypervisor, real image files
# through io_uring) and the simulator integration scripts.
TESTS += test-blkback
test-blkback_SRCS := tests/blk/back-unit.c tests/blk/back_tfront.c
test-blkback_LIBS := back hv ring
test-blkback_LDLIBS := -lcmocka
