# SPDX-License-Identifier: MIT
#
# The simulated hypervisor: pvkit-simd, the client code that libpvkit-hv
# links (SIM_CLIENT_SRCS: pvk_xenlib_sim and pvkit/sim.h), and
# libpvkit-xensim.so, the same under libxen's names for LD_PRELOAD into
# Xen's own xenstored and tools.

SIM_CLIENT_SRCS := hypercall/sim/client.c hypercall/sim/xenlib_sim.c \
		   hypercall/sim/dm_sim.c
SIM_CLIENT_LDLIBS :=

PROGS += pvkit-simd
pvkit-simd_SRCS := hypercall/sim/simd_main.c hypercall/sim/simd.c \
		   hypercall/sim/simd_res.c hypercall/sim/simd_ts.c \
		   hypercall/sim/simd_hvm.c
pvkit-simd_LDLIBS := -lxenstore

LIBS += xensim
xensim_SRCS := $(SIM_CLIENT_SRCS) hypercall/sim/xensim_preload.c
xensim_MAP := hypercall/sim/libpvkit-xensim.map
xensim_LDLIBS := -ldl
xensim_DESC := pvkit libxen-compatible layer on pvkit-simd (for LD_PRELOAD)
# Preloaded into xenstored and stock tools, which carry no sanitizer runtime.
xensim_NOSAN := 1
