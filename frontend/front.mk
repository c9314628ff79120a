# SPDX-License-Identifier: MIT
# libpvkit-front: the guest-side drivers (blkfront).
LIBS += front
front_SRCS := frontend/gntpool.c frontend/blkfront.c frontend/blkfront_xs.c
front_MAP := frontend/libpvkit-front.map
front_PCLIBS := hv ring
front_DESC := pvkit frontends: Xen blkfront (vbd) over libpvkit-hv
