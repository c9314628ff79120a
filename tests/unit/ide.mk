# SPDX-License-Identifier: MIT
# test-ide: the emulated PIIX IDE disk (pvkit/dm_ide.h) and the guest IDE
# driver (pvkit/ide_guest.h) on the loop hypervisor (cmocka).
TESTS += test-ide
test-ide_SRCS := tests/unit/test-ide.c tests/common/t_dmodel.c
test-ide_LIBS := back front hv ring net
test-ide_LDLIBS := -lcmocka
