# SPDX-License-Identifier: MIT
#
# pvkit, the command-line tool.  One file per command group (cmd_<group>.c,
# registered with PVK_CMD_GROUP in tools/cmd.h); add yours to pvkit_SRCS
# (and the library it needs to pvkit_LIBS).
PROGS += pvkit
pvkit_SRCS := tools/pvkit.c tools/cmd_sim.c tools/cmd_domain.c \
	      hypercall/sim/xbmux.c \
	      tools/devcmd.c tools/cmd_disk.c tools/cmd_disk_nbd.c \
	      tools/cmd_stats.c tools/cmd_nic.c tools/cmd_nic_tap.c
pvkit_LIBS := front hv ring net
