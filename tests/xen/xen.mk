# SPDX-License-Identifier: MIT
#
# The real-Xen lane: Xen 4.17 + a Linux dom0 + a PV domU booted in QEMU
# (TCG) from Debian's packages, running the interop cells in
# tests/xen/cells/.  Slow (about a minute, plus the first download), so
# it is not part of `make test`.
#
#   make test-xen                     every cell
#   make test-xen XEN_CELLS='00 04'   some (names or globs)
#
# Downloads, boot images and logs go to $(B)/xen/.  When the host cannot
# run it at all (no qemu-system-x86_64, no Debian mirror and nothing
# cached) tests/xen/run.sh exits 77 with the reason; make cannot pass
# that status on, so this target prints the SKIP line and succeeds.

# Lane-only programs, built into $(B)/xen/bin (not installed, not run by
# `make test`): pvk-xen-blkio drives pvkit's blkfront from the domU,
# pvk-xen-tcp moves one TCP stream for the network cells,
# pvk-xen-netevil is a hostile netif frontend (cell 15), pvk-xen-blkevil a
# hostile blkif backend (cell 22, against pvkit-blkfront),
# pvk-xen-netbackevil a hostile netif backend (cell 25, against
# pvkit-netfront).
XEN_PROGS := pvk-xen-blkio pvk-xen-tcp pvk-xen-netevil pvk-xen-blkevil \
	pvk-xen-netbackevil
pvk-xen-blkio_SRCS := tests/xen/blkio.c
pvk-xen-blkio_LIBS := front hv ring
pvk-xen-tcp_SRCS := tests/xen/tcpio.c
pvk-xen-netevil_SRCS := tests/xen/netevil.c
pvk-xen-netevil_LIBS := hv ring
pvk-xen-blkevil_SRCS := tests/xen/blkevil.c
pvk-xen-blkevil_LIBS := hv ring
pvk-xen-netbackevil_SRCS := tests/xen/netbackevil.c
pvk-xen-netbackevil_LIBS := hv ring
$(foreach p,$(XEN_PROGS),$(eval $(call pvk_program,$(p),xen/bin)))

.PHONY: test-xen xen-progs
xen-progs: $(addprefix $(B)/xen/bin/,$(XEN_PROGS))

test-xen: all xen-progs
	@PVK_BUILD=$(abspath $(B)) XEN_CELLS='$(XEN_CELLS)' tests/xen/run.sh; \
	rc=$$?; [ $$rc -eq 77 ] || exit $$rc
