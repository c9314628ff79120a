# SPDX-License-Identifier: MIT
# test-x86dec: the trap decoder (pvkit/x86dec.h) -- every form, rejections,
# completion rules, and real SIGSEGV traps on MMIO pages and ports (cmocka).
TESTS += test-x86dec
test-x86dec_SRCS := tests/unit/test-x86dec.c
test-x86dec_LIBS := emu
test-x86dec_LDLIBS := -lcmocka
