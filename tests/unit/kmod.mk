# SPDX-License-Identifier: MIT
# test-kmod-blkfront: the pure logic of the pvkit-blkfront kernel module
# (guest-kernel-patches/linux/blkfront-core.h), in userspace (cmocka).
TESTS += test-kmod-blkfront
test-kmod-blkfront_SRCS := tests/unit/test-kmod-blkfront.c
test-kmod-blkfront_LDLIBS := -lcmocka
