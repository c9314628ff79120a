# SPDX-License-Identifier: MIT
# test-trap: the HVM trap runtime (pvkit/hvm_trap.h) -- real port and MMIO
# instructions trapping into ioreqs on the loop hypervisor, and the IDE
# guest driver over the trap gio (cmocka).
TESTS += test-trap
test-trap_SRCS := tests/unit/test-trap.c tests/common/t_dmodel.c
test-trap_LIBS := back front emu hv ring net
test-trap_LDLIBS := -lcmocka
