# SPDX-License-Identifier: MIT
# blkfront tests.  front-unit: blkfront against a test-double backend on
# the loop hypervisor (cmocka).
TESTS += front-unit
front-unit_SRCS := tests/blk/front-unit.c tests/blk/front_double.c
front-unit_LIBS := front hv ring
front-unit_LDLIBS := -lcmocka

# front-nbd: the disk behind `pvkit disk serve-nbd` (tools/nbd_disk.c, what
# the nbdkit plugin calls) against the test double, from many threads; the
# plugin in nbdkit against stock clients is tests/blk/front-sim-nbd.sh.
TESTS += front-nbd
front-nbd_SRCS := tests/blk/front-nbd.c tests/blk/front_double.c tools/nbd_disk.c
front-nbd_LIBS := front hv ring
front-nbd_LDLIBS := -lcmocka

# front-sim-io: the guest program of the simulator tests (a helper, not a
# test of its own); the scripts run it inside guest domains.
front-sim-io_SRCS := tests/blk/front-sim-io.c
front-sim-io_LIBS := front hv ring
$(eval $(call pvk_program,front-sim-io,tests))
tests: $(B)/tests/front-sim-io

TEST_SCRIPTS += tests/blk/front-sim-matrix.sh tests/blk/front-sim-reconnect.sh \
		tests/blk/front-sim-nbd.sh
