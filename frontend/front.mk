# SPDX-License-Identifier: MIT
# libpvkit-front: the guest-side drivers (blkfront, netfront).
LIBS += front
front_SRCS := frontend/gntpool.c frontend/blkfront.c frontend/blkfront_xs.c \
	frontend/netfront.c frontend/netfront_xs.c frontend/gio.c \
	frontend/ide_guest.c frontend/e1000_guest.c frontend/hvm_trap.c
front_MAP := frontend/libpvkit-front.map
front_PCLIBS := hv ring net emu
front_DESC := pvkit frontends: Xen blkfront (vbd) and netfront (vif) over libpvkit-hv
