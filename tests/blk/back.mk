# SPDX-License-Identifier: MIT
# blkback tests: test-blkback (cmocka, loop hypervisor, real image files
# through io_uring) and the simulator integration scripts.
TESTS += test-blkback
test-blkback_SRCS := tests/blk/back-unit.c tests/blk/back_tfront.c
test-blkback_LIBS := back hv ring net
test-blkback_LDLIBS := -lcmocka

# back-guest: the guest program of back-sim.sh (a helper, not a test).
back-guest_SRCS := tests/blk/back-guest.c tests/blk/back_tfront.c
back-guest_LIBS := hv ring
$(eval $(call pvk_program,back-guest,tests))
tests: $(B)/tests/back-guest

# pvkit-backd as a process on the simulator: read-only, end of disk,
# a hostile guest next to an honest one, kill -9 after a flush, SIGTERM
# handing the rings over to the next instance (--handover) and closing
# them (default), restart picking up devices, stats, detach.
TEST_SCRIPTS += tests/blk/back-sim.sh

# pvkit disk attach/detach/list and pvkit stats as an operator meets them:
# libxl's nodes and permissions, every bad input refused with a message
# and nothing written.
TEST_SCRIPTS += tests/blk/back-disk-cli.sh

# pvkit-backd under systemd (tests/blk/back-systemd.sh): Type=notify
# readiness and stopping on $NOTIFY_SOCKET, journal priorities when stderr
# is $JOURNAL_STREAM; pvk-sd-notify-recv plays systemd's end.
pvk-sd-notify-recv_SRCS := tests/blk/sd-notify-recv.c
$(eval $(call pvk_program,pvk-sd-notify-recv,tests))
tests: $(B)/tests/pvk-sd-notify-recv
TEST_SCRIPTS += tests/blk/back-systemd.sh
