# SPDX-License-Identifier: MIT
# libpvkit-emu: instruction emulation for trapped guest accesses -- the
# x86-64 decoder of port I/O and MMIO instructions (pvkit/x86dec.h).
LIBS += emu
emu_SRCS := emu/x86dec.c
emu_MAP := emu/libpvkit-emu.map
emu_DESC := pvkit x86-64 decoder and completion of trapped port and MMIO accesses
