# SPDX-License-Identifier: MIT
#
# pvkit, the command-line tool.  One file per command group (cmd_<group>.c,
# registered with PVK_CMD_GROUP in tools/cmd.h); add yours to pvkit_SRCS
# (and the library it needs to pvkit_LIBS).
PROGS += pvkit
pvkit_SRCS := tools/pvkit.c tools/cmd_sim.c tools/cmd_domain.c \
	      hypercall/sim/xbmux.c \
	      tools/devcmd.c tools/cmd_disk.c tools/cmd_disk_nbd.c \
	      tools/cmd_stats.c tools/cmd_nic.c tools/cmd_nic_tap.c tools/cmd_lab.c
pvkit_LIBS := front hv ring net

# nbdkit-pvkit-plugin.so: the NBD export `pvkit disk serve-nbd` runs in
# nbdkit (tools/nbdkit-pvkit-plugin.c on tools/nbd_disk.c).  Built without
# sanitizers even by check-asan: nbdkit is not built with them, and a
# sanitized plugin cannot be loaded into it.  It takes the objects of the
# libraries it needs rather than their (maybe sanitized) archives.
NBDKIT_PLUGIN := $(B)/lib/nbdkit-pvkit-plugin.so
nbdplugin_SRCS = tools/nbdkit-pvkit-plugin.c tools/nbd_disk.c \
		 $(front_SRCS) $(hv_SRCS) $(ring_SRCS) $(net_SRCS) $(emu_SRCS)
nbdplugin_OBJS = $(patsubst %.c,$(B)/obj-nosan/%.o,$(nbdplugin_SRCS))
$(NBDKIT_PLUGIN): $(nbdplugin_OBJS) tools/nbdkit-pvkit-plugin.map
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) -shared $(filter-out $(SANFLAGS),$(PVK_LDFLAGS)) $(LDFLAGS) \
		-Wl,--version-script=tools/nbdkit-pvkit-plugin.map -o $@ \
		$(nbdplugin_OBJS) $(hv_LDLIBS) $(net_LDLIBS)
	@# -shared links with undefined symbols; only nbdkit's own may be.
	@bad=$$(nm -D --undefined-only $@ | awk '$$1 == "U" && $$2 !~ /@/ && \
		$$2 !~ /^nbdkit_/ { print $$2 }'); \
	if [ -n "$$bad" ]; then \
		echo "$@: undefined symbols (add their sources to nbdplugin_SRCS):" $$bad >&2; \
		rm -f $@; exit 1; fi
progs: $(NBDKIT_PLUGIN)
# serve-nbd finds the plugin beside itself (build/bin -> build/lib) or here.
$(B)/obj/tools/cmd_disk_nbd.o: CPPFLAGS += \
	-DPVK_NBDKIT_PLUGIN='"$(libdir)/nbdkit/plugins/nbdkit-pvkit-plugin.so"'

# pvkit-dm: a device model in domain 0 for one HVM guest (an IDE disk, an
# e1000), over an ioreq server on Xen or the simulator.
PROGS += pvkit-dm
pvkit-dm_SRCS := tools/pvkit-dm.c
pvkit-dm_LIBS := back hv ring net
