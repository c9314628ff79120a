# SPDX-License-Identifier: MIT
# test-dm: ioreq servers and device-model operations (pvkit/dm.h,
# pvkit/ioreq.h) on the loop hypervisor, the wire format against Xen's
# hvm/ioreq.h (cmocka).
TESTS += test-dm
test-dm_SRCS := tests/unit/test-dm.c
test-dm_LIBS := hv
test-dm_LDLIBS := -lcmocka

# test-dmodel: the device-model core (pvkit/dmodel.h) on loop (cmocka).
TESTS += test-dmodel
test-dmodel_SRCS := tests/unit/test-dmodel.c tests/common/t_dmodel.c
test-dmodel_LIBS := back front hv ring net
test-dmodel_LDLIBS := -lcmocka
