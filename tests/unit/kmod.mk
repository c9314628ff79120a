# SPDX-License-Identifier: MIT
# test-kmod-blkfront: the pure logic of the pvkit-blkfront kernel module
# (guest-kernel-patches/linux/blkfront-core.h), in userspace (cmocka).
TESTS += test-kmod-blkfront
test-kmod-blkfront_SRCS := tests/unit/test-kmod-blkfront.c
test-kmod-blkfront_LDLIBS := -lcmocka

# test-kmod-netfront: the pure logic of the pvkit-netfront kernel module
# (guest-kernel-patches/linux/netfront-core.h), in userspace (cmocka).
TESTS += test-kmod-netfront
test-kmod-netfront_SRCS := tests/unit/test-kmod-netfront.c
test-kmod-netfront_LDLIBS := -lcmocka
