# SPDX-License-Identifier: MIT
# libpvkit-back: the block backend (data path + control plane) and the
# pvkit-backd daemon that serves it in the control domain.
LIBS += back
back_SRCS := backend/blkback.c backend/blkback_xs.c backend/blkback_stats.c \
	     backend/blkback_journal.c \
	     backend/netback.c backend/netback_ctrl.c backend/netback_xs.c \
	     backend/dmodel.c backend/dm_ide.c \
	     backend/dm_e1000.c
back_MAP := backend/libpvkit-back.map
back_LDLIBS := -luring
back_PCREQ := liburing
back_PCLIBS := hv ring net
back_DESC := pvkit backends: blkif over io_uring, netif over TAP, on the xenbus backend bus; device models

PROGS += pvkit-backd
pvkit-backd_SRCS := backend/pvkit-backd.c backend/backd_systemd.c
pvkit-backd_LIBS := back hv ring net
