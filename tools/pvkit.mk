# SPDX-License-Identifier: MIT
#
# pvkit, the command-line tool.  One file per command group (cmd_<group>.c,
# registered with PVK_CMD_GROUP): add yours to pvkit_SRCS.
PROGS += pvkit
pvkit_SRCS := tools/pvkit.c tools/cmd_sim.c tools/cmd_domain.c \
	      hypercall/sim/xbmux.c
pvkit_LIBS := hv ring
