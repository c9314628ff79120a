# SPDX-License-Identifier: MIT
# libpvkit-back: the block backend (data path + control plane) and the
# pvkit-backd daemon that serves it in the control domain.
LIBS += back
back_SRCS := backend/blkback.c backend/blkback_xs.c backend/blkback_stats.c
back_MAP := backend/libpvkit-back.map
back_LDLIBS := -luring
back_PCLIBS := hv ring
back_DESC := pvkit block backend: blkif over io_uring, xenbus negotiation

PROGS += pvkit-backd
pvkit-backd_SRCS := backend/pvkit-backd.c
pvkit-backd_LIBS := back hv ring
