/* SPDX-License-Identifier: MIT */
/*
 * pvkit/x86dec.h -- a small x86-64 decoder for trapped port and MMIO
 * accesses, pvkit's own.  Part of libpvkit-emu (pkg-config pvkit-emu);
 * the header is freestanding.
 *
 * An "HVM" guest of the simulator is a 64-bit Linux process: its port I/O
 * instructions fault (no ioperm), and so do its loads and stores to MMIO
 * ranges (mapped PROT_NONE).  The fault handler decodes the instruction
 * at RIP (pvk_x86_decode), builds an ioreq from it (kind, size, port or
 * the faulting address, pvk_x86_store_value for writes, pvk_x86_rep_count
 * and pvk_x86_string_addr for string forms), and after the device model
 * answers completes it: pvk_x86_complete_read for reads, then
 * pvk_x86_retire (string registers, RIP).
 *
 * Only 64-bit mode.  Supported, with any legacy prefixes (66, 67, f2/f3,
 * segment overrides; a REX prefix counts only directly before the
 * opcode) and at most 15 bytes:
 *
 *   in/out      e4 e5 e6 e7 (imm8 port), ec ed ee ef (port in DX)
 *   ins/outs    6c 6d 6e 6f, f2/f3 = rep
 *   movs/stos   a4 a5 aa ab, f2/f3 = rep            (MMIO on either side)
 *   mov         88 89 8a 8b, c6 /0 ib, c7 /0 iw/id  (memory operand only)
 *   mov moffs   a0 a1 a2 a3
 *   movzx       0f b6, 0f b7;   movsx  0f be, 0f bf (memory operand only)
 *
 * f2/f3 are rep on the string forms and ignored on the others (as the CPU
 * does: xacquire/xrelease hints).  Everything else -- read-modify-write
 * forms (add, or, test, cmp, xchg to memory), SSE/AVX moves, VEX/EVEX,
 * a lock prefix, a register-only ModRM (mod 3), more than 15 bytes -- is
 * -EINVAL: the caller injects a fault into the guest, so guest code
 * touches MMIO through plain volatile loads and stores.
 * The instruction bytes are guest data: the decoder reads only code[0 ..
 * avail) and every result is validated.
 */
#ifndef PVKIT_X86DEC_H
#define PVKIT_X86DEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest x86 instruction; pvk_x86_decode needs no more bytes. */
#define PVK_X86_MAX_LEN 15

/* struct pvk_x86_regs.gpr indices: the hardware register numbers. */
enum {
	PVK_X86_RAX,
	PVK_X86_RCX,
	PVK_X86_RDX,
	PVK_X86_RBX,
	PVK_X86_RSP,
	PVK_X86_RBP,
	PVK_X86_RSI,
	PVK_X86_RDI,
	PVK_X86_R8,
	PVK_X86_R9,
	PVK_X86_R10,
	PVK_X86_R11,
	PVK_X86_R12,
	PVK_X86_R13,
	PVK_X86_R14,
	PVK_X86_R15,
};

#define PVK_X86_RFLAGS_DF (1ull << 10)

struct pvk_x86_regs {
	uint64_t gpr[16]; /* PVK_X86_RAX .. PVK_X86_R15 */
	uint64_t rip;
	uint64_t rflags;
};

enum pvk_x86_kind {
	PVK_X86_PIO_IN = 1, /* port -> AL/AX/EAX */
	PVK_X86_PIO_OUT, /* AL/AX/EAX -> port */
	PVK_X86_PIO_INS, /* port -> [ES:rDI], @count items */
	PVK_X86_PIO_OUTS, /* [seg:rSI] -> port, @count items */
	PVK_X86_MMIO_READ, /* memory -> register (mov, movzx, movsx) */
	PVK_X86_MMIO_WRITE, /* register or immediate -> memory */
	PVK_X86_MMIO_MOVS, /* [seg:rSI] -> [ES:rDI]: either side may trap */
	PVK_X86_MMIO_STOS, /* AL/AX/EAX/RAX -> [ES:rDI] */
};

enum pvk_x86_ext {
	PVK_X86_EXT_NONE, /* mov: @dst_size == @size */
	PVK_X86_EXT_ZERO, /* movzx */
	PVK_X86_EXT_SIGN, /* movsx */
};

/* struct pvk_x86_insn.seg: the segment the memory operand is in. */
enum pvk_x86_seg {
	PVK_X86_SEG_ES,
	PVK_X86_SEG_CS,
	PVK_X86_SEG_SS,
	PVK_X86_SEG_DS,
	PVK_X86_SEG_FS,
	PVK_X86_SEG_GS,
};

/* struct pvk_x86_insn.flags */
#define PVK_X86_F_REP 0x01u /* f2 or f3 on a string form */
#define PVK_X86_F_PORT_IMM 0x02u /* port is @imm (e4-e7), else DX */
#define PVK_X86_F_IMM 0x04u /* MMIO_WRITE stores @imm, not @reg */
#define PVK_X86_F_HIGH8 0x08u /* @reg is AH/CH/DH/BH: bits 8-15 of @reg */
#define PVK_X86_F_RIP_REL 0x10u /* the memory operand is [rIP + disp32] */
#define PVK_X86_F_ADDR32 0x20u /* 0x67: 32-bit addresses (and ECX) */

/*
 * One decoded instruction.  Filled by pvk_x86_decode only; the helpers
 * below trust it.
 *   @len       bytes, 1 .. PVK_X86_MAX_LEN
 *   @size      bytes moved per item on the bus: 1, 2, 4 or 8 (port I/O:
 *              1, 2 or 4)
 *   @dst_size  MMIO_READ: width of the register written (2, 4 or 8 for
 *              movzx/movsx, else @size); PIO_IN: @size
 *   @reg       register read or written (0 .. 15); rAX for in, out, stos
 *   @seg       segment of the memory operand: DS unless overridden (ES
 *              for ins and stos, whose rDI side cannot be overridden;
 *              for movs it is the rSI side's, rDI's is always ES).  In
 *              64-bit mode only FS and GS have bases (the caller adds
 *              them; the fault address already includes them)
 *   @imm       the immediate: port (F_PORT_IMM), or the value c6/c7
 *              store (F_IMM), sign-extended and truncated to @size
 *   @disp      displacement of the ModRM memory operand, sign-extended
 *              (F_RIP_REL: the address is RIP + @len + @disp); for a0-a3
 *              the absolute address (moffs)
 */
struct pvk_x86_insn {
	uint8_t len;
	uint8_t kind; /* enum pvk_x86_kind */
	uint8_t size;
	uint8_t dst_size;
	uint8_t reg;
	uint8_t ext; /* enum pvk_x86_ext */
	uint8_t seg; /* enum pvk_x86_seg */
	uint8_t flags; /* PVK_X86_F_* */
	uint64_t imm;
	int64_t disp;
};

/*
 * Decode the instruction at @code; reads code[0 .. avail) at most, and
 * never more than PVK_X86_MAX_LEN bytes.  Returns its length (> 0) and
 * fills @out, or
 *   -EINVAL   not a supported form (see above), a lock prefix, or longer
 *             than PVK_X86_MAX_LEN bytes: fault the guest;
 *   -ENODATA  the @avail bytes end inside a supported instruction: give
 *             more (e.g. the next page of code) and decode again.
 * The verdict does not depend on @avail beyond that: a success or
 * -EINVAL with @avail bytes is the same with more.  @out is undefined
 * unless the return is > 0.
 */
int pvk_x86_decode(const uint8_t *code, size_t avail, struct pvk_x86_insn *out);

/* The port of a port I/O form: the immediate or DX. */
uint16_t pvk_x86_port(const struct pvk_x86_insn *insn,
		      const struct pvk_x86_regs *regs);

/*
 * The value an OUT, MMIO_WRITE or STOS stores (@size bytes, zero-extended
 * into *@val): rAX, the source register (AH..BH included) or the
 * immediate.  -EINVAL for the other kinds (ins, outs, movs carry their
 * data in memory; see pvk_x86_string_addr).
 */
int pvk_x86_store_value(const struct pvk_x86_insn *insn,
			const struct pvk_x86_regs *regs, uint64_t *val);

/*
 * Complete an IN or MMIO_READ with the @size bytes the device returned
 * (higher bits of @value are ignored): zero- or sign-extend to
 * @dst_size, then write the register by x86 rules -- an 8- or 16-bit
 * write keeps the other bits (AH..BH: bits 8-15), a 32-bit write clears
 * bits 32-63.  Does not move RIP (pvk_x86_retire).  -EINVAL for other
 * kinds.
 */
int pvk_x86_complete_read(const struct pvk_x86_insn *insn,
			  struct pvk_x86_regs *regs, uint64_t value);

/*
 * Items a string form moves: 1 without rep, else rCX (ECX with 0x67),
 * which may be 0.  1 for the other kinds.
 */
uint64_t pvk_x86_rep_count(const struct pvk_x86_insn *insn,
			   const struct pvk_x86_regs *regs);

/*
 * The address of the rSI (@dst false) or rDI (@dst true) operand of a
 * string form: the register, truncated to 32 bits with 0x67, without the
 * segment base (@seg says which).  With DF set the items are walked down
 * from there.
 */
uint64_t pvk_x86_string_addr(const struct pvk_x86_insn *insn,
			     const struct pvk_x86_regs *regs, bool dst);

/*
 * Retire @done items of the instruction.  String forms: rSI and/or rDI
 * move by @done * @size (down if DF), rCX drops by @done with rep (each
 * written as a 32-bit register with 0x67: bits 32-63 cleared); RIP moves
 * past the instruction once it is finished (no rep, or rCX reached 0),
 * else stays so that the guest executes the rest.  Other forms: RIP moves
 * past it, @done is ignored.  @done must be at most pvk_x86_rep_count()
 * (it is clamped).  Returns 1 if the instruction is finished, 0 if not.
 */
int pvk_x86_retire(const struct pvk_x86_insn *insn, struct pvk_x86_regs *regs,
		   uint64_t done);

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_X86DEC_H */
