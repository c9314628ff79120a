# SPDX-License-Identifier: MIT
LIBS += ring
ring_SRCS := ring/ring.c
ring_MAP := ring/libpvkit-ring.map
ring_DESC := pvkit shared rings on the Xen io/ring.h wire ABI (blkif, netif)
