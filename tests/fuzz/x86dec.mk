# SPDX-License-Identifier: MIT
# fuzz-x86dec: the trap decoder (pvkit/x86dec.h) on hostile instruction
# bytes with any number of them available (tests/fuzz/fuzz.mk has the
# others; this fragment is read the same way).
FUZZERS += fuzz-x86dec
fuzz-x86dec_SRCS := tests/fuzz/fuzz-x86dec.c tests/fuzz/fuzz.c
fuzz-x86dec_LIBS := emu
fuzz-x86dec_LDLIBS := $(FUZZ_LINK)
