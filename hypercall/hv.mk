# SPDX-License-Identifier: MIT
#
# libpvkit-hv: the hypervisor interface (xen + loop) and the xenbus helpers.
# SIM_CLIENT_SRCS comes from hypercall/sim/sim.mk (pvk_xenlib_sim, the
# libxen-compatible layer on pvkit-simd), which is read after this file,
# hence the recursive assignments.
LIBS += hv
hv_SRCS = hypercall/hv.c hypercall/dm.c hypercall/loop.c hypercall/loop_dm.c \
	  hypercall/xen.c \
	  hypercall/xenlib_real.c hypercall/xenbus.c hypercall/xenbus_back.c \
	  hypercall/xenbus_front.c \
	  $(SIM_CLIENT_SRCS)
hv_MAP := hypercall/libpvkit-hv.map
hv_LDLIBS = -lxenstore -lxenevtchn -lxengnttab -lxenctrl -lxentoollog \
	    -lxendevicemodel -lxenforeignmemory \
	    $(SIM_CLIENT_LDLIBS)
hv_PCLIBS :=
hv_PCREQ := xenstore xenevtchn xengnttab xencontrol xentoollog \
	     xendevicemodel xenforeignmemory
hv_DESC := pvkit hypervisor interface: grants, event channels, xenstore, xenbus

# hv.c names pvk_xenlib_sim only when the simulator's client layer is
# part of the library.
$(B)/obj/hypercall/hv.o $(B)/obj-nosan/hypercall/hv.o: \
	CPPFLAGS += $(if $(strip $(SIM_CLIENT_SRCS)),-DPVK_HAVE_XENLIB_SIM)
$(B)/obj/hypercall/hv.o $(B)/obj-nosan/hypercall/hv.o: $(wildcard hypercall/sim/sim.mk)
