/* SPDX-License-Identifier: MIT */
/*
 * test-x86dec: the trap decoder (pvkit/x86dec.h).
 *  - every supported form, from bytes GNU as assembled, decoded from the
 *    end of a page followed by an inaccessible one (an over-read faults);
 *    every shorter prefix of it is -ENODATA;
 *  - rejections: bad and unsupported opcodes, lock, register operands,
 *    more than 15 bytes;
 *  - completion: partial-register writes, AH..BH, zero/sign extension,
 *    store values, string register updates in both directions and with
 *    32-bit addresses -- the latter checked against the CPU itself;
 *  - real traps: a SIGSEGV handler decodes at the faulting RIP, emulates
 *    the access on a fake device (a PROT_NONE page; ports without
 *    ioperm), completes the instruction and resumes the program.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvkit/x86dec.h>

/* --- the table of forms ------------------------------------------------ */

#define K_IN PVK_X86_PIO_IN
#define K_OUT PVK_X86_PIO_OUT
#define K_INS PVK_X86_PIO_INS
#define K_OUTS PVK_X86_PIO_OUTS
#define K_RD PVK_X86_MMIO_READ
#define K_WR PVK_X86_MMIO_WRITE
#define K_MOVS PVK_X86_MMIO_MOVS
#define K_STOS PVK_X86_MMIO_STOS
#define F_REP PVK_X86_F_REP
#define F_PIMM PVK_X86_F_PORT_IMM
#define F_IMM PVK_X86_F_IMM
#define F_H8 PVK_X86_F_HIGH8
#define F_RIP PVK_X86_F_RIP_REL
#define F_A32 PVK_X86_F_ADDR32
#define ZX PVK_X86_EXT_ZERO
#define SX PVK_X86_EXT_SIGN
#define ES PVK_X86_SEG_ES
#define DS PVK_X86_SEG_DS
#define FS PVK_X86_SEG_FS
#define GS PVK_X86_SEG_GS

struct form {
	const char *asm_text;
	const char *bytes;
	size_t n; /* bytes given = expected length */
	uint8_t kind, size, dst_size, reg, ext, seg, flags;
	uint64_t imm;
	int64_t disp;
};

/* dst 0: same as size. */
#define F(text, b, k, sz, dst, r, ext, seg, fl, imm, disp)                   \
	{                                                                    \
		text, b, sizeof(b) - 1, k, sz, (dst) ? (dst) : (sz), r, ext, \
			seg, fl, imm, disp                                   \
	}

static const struct form forms[] = {
	F("in $0x60,%al", "\xe4\x60", K_IN, 1, 0, 0, 0, DS, F_PIMM, 0x60, 0),
	F("in $0x71,%ax", "\x66\xe5\x71", K_IN, 2, 0, 0, 0, DS, F_PIMM, 0x71,
	  0),
	F("in $0xcf,%eax", "\xe5\xcf", K_IN, 4, 0, 0, 0, DS, F_PIMM, 0xcf, 0),
	F("out %al,$0x80", "\xe6\x80", K_OUT, 1, 0, 0, 0, DS, F_PIMM, 0x80, 0),
	F("out %ax,$0x81", "\x66\xe7\x81", K_OUT, 2, 0, 0, 0, DS, F_PIMM, 0x81,
	  0),
	F("out %eax,$0x82", "\xe7\x82", K_OUT, 4, 0, 0, 0, DS, F_PIMM, 0x82, 0),
	F("in (%dx),%al", "\xec", K_IN, 1, 0, 0, 0, DS, 0, 0, 0),
	F("in (%dx),%ax", "\x66\xed", K_IN, 2, 0, 0, 0, DS, 0, 0, 0),
	F("in (%dx),%eax", "\xed", K_IN, 4, 0, 0, 0, DS, 0, 0, 0),
	F("rex.w in (%dx),%eax", "\x48\xed", K_IN, 4, 0, 0, 0, DS, 0, 0, 0),
	F("out %al,(%dx)", "\xee", K_OUT, 1, 0, 0, 0, DS, 0, 0, 0),
	F("out %ax,(%dx)", "\x66\xef", K_OUT, 2, 0, 0, 0, DS, 0, 0, 0),
	F("out %eax,(%dx)", "\xef", K_OUT, 4, 0, 0, 0, DS, 0, 0, 0),
	F("insb", "\x6c", K_INS, 1, 0, 0, 0, ES, 0, 0, 0),
	F("insw", "\x66\x6d", K_INS, 2, 0, 0, 0, ES, 0, 0, 0),
	F("insl", "\x6d", K_INS, 4, 0, 0, 0, ES, 0, 0, 0),
	F("rep insb", "\xf3\x6c", K_INS, 1, 0, 0, 0, ES, F_REP, 0, 0),
	F("rep insw", "\x66\xf3\x6d", K_INS, 2, 0, 0, 0, ES, F_REP, 0, 0),
	F("rep insl", "\xf3\x6d", K_INS, 4, 0, 0, 0, ES, F_REP, 0, 0),
	F("repne insl", "\xf2\x6d", K_INS, 4, 0, 0, 0, ES, F_REP, 0, 0),
	F("fs insb (ES stays)", "\x64\x6c", K_INS, 1, 0, 0, 0, ES, 0, 0, 0),
	F("outsb", "\x6e", K_OUTS, 1, 0, 0, 0, DS, 0, 0, 0),
	F("rep outsw", "\x66\xf3\x6f", K_OUTS, 2, 0, 0, 0, DS, F_REP, 0, 0),
	F("rep outsl", "\xf3\x6f", K_OUTS, 4, 0, 0, 0, DS, F_REP, 0, 0),
	F("addr32 rep insb", "\x67\xf3\x6c", K_INS, 1, 0, 0, 0, ES,
	  F_REP | F_A32, 0, 0),
	F("fs outsb", "\x64\x6e", K_OUTS, 1, 0, 0, 0, FS, 0, 0, 0),
	F("rep gs outsl", "\x65\xf3\x6f", K_OUTS, 4, 0, 0, 0, GS, F_REP, 0, 0),
	F("addr32 rep fs outsw", "\x64\x67\x66\xf3\x6f", K_OUTS, 2, 0, 0, 0, FS,
	  F_REP | F_A32, 0, 0),
	F("movsb", "\xa4", K_MOVS, 1, 0, 0, 0, DS, 0, 0, 0),
	F("movsw", "\x66\xa5", K_MOVS, 2, 0, 0, 0, DS, 0, 0, 0),
	F("movsl", "\xa5", K_MOVS, 4, 0, 0, 0, DS, 0, 0, 0),
	F("movsq", "\x48\xa5", K_MOVS, 8, 0, 0, 0, DS, 0, 0, 0),
	F("rep movsb", "\xf3\xa4", K_MOVS, 1, 0, 0, 0, DS, F_REP, 0, 0),
	F("rep movsq", "\xf3\x48\xa5", K_MOVS, 8, 0, 0, 0, DS, F_REP, 0, 0),
	F("addr32 rep movsl", "\x67\xf3\xa5", K_MOVS, 4, 0, 0, 0, DS,
	  F_REP | F_A32, 0, 0),
	F("stos %al", "\xaa", K_STOS, 1, 0, 0, 0, ES, 0, 0, 0),
	F("stos %ax", "\x66\xab", K_STOS, 2, 0, 0, 0, ES, 0, 0, 0),
	F("stos %eax", "\xab", K_STOS, 4, 0, 0, 0, ES, 0, 0, 0),
	F("stos %rax", "\x48\xab", K_STOS, 8, 0, 0, 0, ES, 0, 0, 0),
	F("rep stos %al", "\xf3\xaa", K_STOS, 1, 0, 0, 0, ES, F_REP, 0, 0),
	F("rep stos %rax", "\xf3\x48\xab", K_STOS, 8, 0, 0, 0, ES, F_REP, 0, 0),
	F("mov %al,(%rdi)", "\x88\x07", K_WR, 1, 0, 0, 0, DS, 0, 0, 0),
	F("mov %ah,(%rdi)", "\x88\x27", K_WR, 1, 0, 0, 0, DS, F_H8, 0, 0),
	F("mov %bh,0x10(%rsi)", "\x88\x7e\x10", K_WR, 1, 0, 3, 0, DS, F_H8, 0,
	  0x10),
	F("mov %sil,(%rdi)", "\x40\x88\x37", K_WR, 1, 0, 6, 0, DS, 0, 0, 0),
	F("mov %spl,(%rdi)", "\x40\x88\x27", K_WR, 1, 0, 4, 0, DS, 0, 0, 0),
	F("rex then 66: rex void", "\x40\x66\x88\x27", K_WR, 1, 0, 0, 0, DS,
	  F_H8, 0, 0),
	F("mov %r9b,(%rax)", "\x44\x88\x08", K_WR, 1, 0, 9, 0, DS, 0, 0, 0),
	F("mov %cx,(%rdx)", "\x66\x89\x0a", K_WR, 2, 0, 1, 0, DS, 0, 0, 0),
	F("mov %ecx,(%rdx)", "\x89\x0a", K_WR, 4, 0, 1, 0, DS, 0, 0, 0),
	F("mov %rcx,(%rdx)", "\x48\x89\x0a", K_WR, 8, 0, 1, 0, DS, 0, 0, 0),
	F("66 rex.w mov %rcx,(%rdx)", "\x66\x48\x89\x0a", K_WR, 8, 0, 1, 0, DS,
	  0, 0, 0),
	F("rex.w then 66: 16-bit", "\x48\x66\x89\x0a", K_WR, 2, 0, 1, 0, DS, 0,
	  0, 0),
	F("mov %r15,0x12345678(%r12,%r13,8)",
	  "\x4f\x89\xbc\xec\x78\x56\x34\x12", K_WR, 8, 0, 15, 0, DS, 0, 0,
	  0x12345678),
	F("mov %r8d,-0x80(%rbp)", "\x44\x89\x45\x80", K_WR, 4, 0, 8, 0, DS, 0,
	  0, -0x80),
	F("mov %edx,0x1000(%rip)", "\x89\x15\x00\x10\x00\x00", K_WR, 4, 0, 2, 0,
	  DS, F_RIP, 0, 0x1000),
	F("mov %eax,0x100 (sib, no base)", "\x89\x04\x25\x00\x01\x00\x00", K_WR,
	  4, 0, 0, 0, DS, 0, 0, 0x100),
	F("mov %eax,%fs:(%rax)", "\x64\x89\x00", K_WR, 4, 0, 0, 0, FS, 0, 0, 0),
	F("mov %eax,(%esi)", "\x67\x89\x06", K_WR, 4, 0, 0, 0, DS, F_A32, 0, 0),
	F("xrelease mov %eax,(%rdi)", "\xf3\x89\x07", K_WR, 4, 0, 0, 0, DS, 0,
	  0, 0),
	F("mov (%rdi),%al", "\x8a\x07", K_RD, 1, 0, 0, 0, DS, 0, 0, 0),
	F("mov (%rdi),%ch", "\x8a\x2f", K_RD, 1, 0, 1, 0, DS, F_H8, 0, 0),
	F("mov (%rdi),%dil", "\x40\x8a\x3f", K_RD, 1, 0, 7, 0, DS, 0, 0, 0),
	F("mov (%rdi),%r10b", "\x44\x8a\x17", K_RD, 1, 0, 10, 0, DS, 0, 0, 0),
	F("mov (%rdi),%dx", "\x66\x8b\x17", K_RD, 2, 0, 2, 0, DS, 0, 0, 0),
	F("mov (%rdi),%edx", "\x8b\x17", K_RD, 4, 0, 2, 0, DS, 0, 0, 0),
	F("mov (%rdi),%rdx", "\x48\x8b\x17", K_RD, 8, 0, 2, 0, DS, 0, 0, 0),
	F("mov 0x7f(%rsp),%r11d", "\x44\x8b\x5c\x24\x7f", K_RD, 4, 0, 11, 0, DS,
	  0, 0, 0x7f),
	F("mov (%rsp,%rbx,2),%r14", "\x4c\x8b\x34\x5c", K_RD, 8, 0, 14, 0, DS,
	  0, 0, 0),
	F("mov 0x0(,%rax,4),%ebx", "\x8b\x1c\x85\x00\x00\x00\x00", K_RD, 4, 0,
	  3, 0, DS, 0, 0, 0),
	F("mov -0x10(%rip),%eax", "\x8b\x05\xf0\xff\xff\xff", K_RD, 4, 0, 0, 0,
	  DS, F_RIP, 0, -0x10),
	F("movb $0x5a,(%rdi)", "\xc6\x07\x5a", K_WR, 1, 0, 0, 0, DS, F_IMM,
	  0x5a, 0),
	F("movw $0xbeef,(%rdi)", "\x66\xc7\x07\xef\xbe", K_WR, 2, 0, 0, 0, DS,
	  F_IMM, 0xbeef, 0),
	F("movl $0xdeadbeef,(%rdi)", "\xc7\x07\xef\xbe\xad\xde", K_WR, 4, 0, 0,
	  0, DS, F_IMM, 0xdeadbeef, 0),
	F("movq $-2,(%rdi)", "\x48\xc7\x07\xfe\xff\xff\xff", K_WR, 8, 0, 0, 0,
	  DS, F_IMM, 0xfffffffffffffffeull, 0),
	F("movq $0x7fffffff,0x10(%rdi,%rcx,4)",
	  "\x48\xc7\x44\x8f\x10\xff\xff\xff\x7f", K_WR, 8, 0, 0, 0, DS, F_IMM,
	  0x7fffffff, 0x10),
	F("movl $1,0x40(%rip)", "\xc7\x05\x40\x00\x00\x00\x01\x00\x00\x00",
	  K_WR, 4, 0, 0, 0, DS, F_IMM | F_RIP, 1, 0x40),
	F("movzbl (%rdi),%eax", "\x0f\xb6\x07", K_RD, 1, 4, 0, ZX, DS, 0, 0, 0),
	F("movzbw (%rdi),%ax", "\x66\x0f\xb6\x07", K_RD, 1, 2, 0, ZX, DS, 0, 0,
	  0),
	F("movzbq (%rdi),%r8", "\x4c\x0f\xb6\x07", K_RD, 1, 8, 8, ZX, DS, 0, 0,
	  0),
	F("movzwl (%rdi),%ecx", "\x0f\xb7\x0f", K_RD, 2, 4, 1, ZX, DS, 0, 0, 0),
	F("movzwq 0x8(%rdi),%rcx", "\x48\x0f\xb7\x4f\x08", K_RD, 2, 8, 1, ZX,
	  DS, 0, 0, 8),
	F("movsbl (%rdi),%eax", "\x0f\xbe\x07", K_RD, 1, 4, 0, SX, DS, 0, 0, 0),
	F("movsbw (%rdi),%si", "\x66\x0f\xbe\x37", K_RD, 1, 2, 6, SX, DS, 0, 0,
	  0),
	F("movsbq (%rdi),%rax", "\x48\x0f\xbe\x07", K_RD, 1, 8, 0, SX, DS, 0, 0,
	  0),
	F("movswl (%rdi),%edx", "\x0f\xbf\x17", K_RD, 2, 4, 2, SX, DS, 0, 0, 0),
	F("movswq (%rdi),%r13", "\x4c\x0f\xbf\x2f", K_RD, 2, 8, 13, SX, DS, 0,
	  0, 0),
	F("movabs 0x1122334455667788,%al",
	  "\xa0\x88\x77\x66\x55\x44\x33\x22\x11", K_RD, 1, 0, 0, 0, DS, 0, 0,
	  0x1122334455667788),
	F("movabs 0x1122334455667788,%rax",
	  "\x48\xa1\x88\x77\x66\x55\x44\x33\x22\x11", K_RD, 8, 0, 0, 0, DS, 0,
	  0, 0x1122334455667788),
	F("movabs %eax,0x1122334455667788",
	  "\xa3\x88\x77\x66\x55\x44\x33\x22\x11", K_WR, 4, 0, 0, 0, DS, 0, 0,
	  0x1122334455667788),
	F("movabs %ax,0x1122334455667788",
	  "\x66\xa3\x88\x77\x66\x55\x44\x33\x22\x11", K_WR, 2, 0, 0, 0, DS, 0,
	  0, 0x1122334455667788),
	F("addr32 mov 0x11223344,%eax", "\x67\xa1\x44\x33\x22\x11", K_RD, 4, 0,
	  0, 0, DS, F_A32, 0, 0x11223344),
	F("14 prefixes + ed: 15 bytes",
	  "\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\xed", K_IN,
	  2, 0, 0, 0, DS, 0, 0, 0),
};

/* A page of code followed by an inaccessible one: bytes placed at its end
 * fault on any read past them. */
static uint8_t *guarded;
static long pagesz;

static int setup(void **state)
{
	(void)state;
	pagesz = sysconf(_SC_PAGESIZE);
	guarded = mmap(NULL, 2 * pagesz, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guarded == MAP_FAILED)
		return -1;
	return mprotect(guarded + pagesz, pagesz, PROT_NONE);
}

static int teardown(void **state)
{
	(void)state;
	munmap(guarded, 2 * pagesz);
	return 0;
}

static int decode_at_end(const void *b, size_t n, struct pvk_x86_insn *in)
{
	uint8_t *p = guarded + pagesz - n;

	memcpy(p, b, n);
	return pvk_x86_decode(p, n, in);
}

static void t_forms(void **state)
{
	struct pvk_x86_insn in;
	size_t i, k;
	int ret;

	(void)state;
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		const struct form *f = &forms[i];

		print_message("%s\n", f->asm_text);
		memset(&in, 0xcc, sizeof(in));
		ret = decode_at_end(f->bytes, f->n, &in);
		assert_int_equal(ret, f->n);
		assert_int_equal(in.len, f->n);
		assert_int_equal(in.kind, f->kind);
		assert_int_equal(in.size, f->size);
		assert_int_equal(in.dst_size, f->dst_size);
		assert_int_equal(in.reg, f->reg);
		assert_int_equal(in.ext, f->ext);
		assert_int_equal(in.seg, f->seg);
		assert_int_equal(in.flags, f->flags);
		assert_int_equal(in.imm, f->imm);
		assert_int_equal(in.disp, f->disp);
		/* Truncated anywhere: more bytes wanted, nothing read past. */
		for (k = 0; k < f->n; k++)
			assert_int_equal(decode_at_end(f->bytes, k, &in),
					 -ENODATA);
		/* Trailing bytes change nothing. */
		memset(guarded, 0x90, pagesz);
		memcpy(guarded, f->bytes, f->n);
		assert_int_equal(pvk_x86_decode(guarded, pagesz, &in), f->n);
		assert_int_equal(in.kind, f->kind);
	}
}

static void t_reject(void **state)
{
	static const struct {
		const char *why, *b;
		size_t n;
	} bad[] = {
#define B(why, b) { why, b, sizeof(b) - 1 }
		B("lock mov", "\xf0\x89\x07"),
		B("lock after prefixes", "\x66\x67\xf0\x89\x07"),
		B("mov reg,reg", "\x89\xc0"),
		B("mov reg,reg byte", "\x8a\xc4"),
		B("movzx reg,reg", "\x0f\xb6\xc0"),
		B("c6 /1", "\xc6\x4f\x00\x00"),
		B("c7 /7 (xbegin)", "\xc7\xf8\x00\x00\x00\x00"),
		B("c7 mod 3", "\xc7\xc0\x01\x00\x00\x00"),
		B("add r/m,reg", "\x01\x07"),
		B("nop", "\x90"),
		B("int3", "\xcc"),
		B("hlt", "\xf4"),
		B("syscall", "\x0f\x05"),
		B("popcnt", "\xf3\x0f\xb8\x07"),
		B("0f 0f", "\x0f\x0f\x07\x00"),
		B("xchg", "\x87\x07"),
		B("cmps", "\xa6"),
		B("lods", "\xac"),
		B("scas", "\xae"),
		B("rex rex 0f ff", "\x48\x48\x0f\xff"),
		B("15 prefixes", "\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66"
				 "\x66\x66\x66\x66\x66\xec"),
		B("14 prefixes + 2-byte", "\x66\x66\x66\x66\x66\x66\x66\x66"
					  "\x66\x66\x66\x66\x66\x66\x89\x07"),
		B("16 bytes: rip-rel imm32 + 7 prefixes",
		  "\x2e\x2e\x2e\x2e\x2e\x2e\x2e\xc7\x05\x40\x00\x00\x00\x01"
		  "\x00\x00\x00"),
#undef B
	};
	struct pvk_x86_insn in;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("%s\n", bad[i].why);
		assert_int_equal(decode_at_end(bad[i].b, bad[i].n, &in),
				 -EINVAL);
	}
	/* Nothing at all, prefixes only: more wanted, up to the limit. */
	assert_int_equal(pvk_x86_decode(guarded, 0, &in), -ENODATA);
	assert_int_equal(decode_at_end("\x66\x66\x66\x66\x66\x66\x66\x66\x66"
				       "\x66\x66\x66\x66\x66",
				       14, &in),
			 -ENODATA);
	assert_int_equal(decode_at_end("\x66\x66\x66\x66\x66\x66\x66\x66\x66"
				       "\x66\x66\x66\x66\x66\x66",
				       15, &in),
			 -EINVAL);
}

/* --- completion -------------------------------------------------------- */

static struct pvk_x86_insn dec(const char *b, size_t n)
{
	struct pvk_x86_insn in;

	assert_int_equal(pvk_x86_decode((const uint8_t *)b, n, &in), n);
	return in;
}

#define DEC(b) dec(b, sizeof(b) - 1)
#define ALL1 0xffffffffffffffffull
#define PAT 0x1122334455667788ull

static uint64_t read_into(struct pvk_x86_insn in, int r, uint64_t before,
			  uint64_t value)
{
	struct pvk_x86_regs regs = { .rip = 0x1000 };

	regs.gpr[r] = before;
	assert_int_equal(pvk_x86_complete_read(&in, &regs, value), 0);
	assert_int_equal(regs.rip, 0x1000); /* retire moves it */
	return regs.gpr[r];
}

static void t_complete_read(void **state)
{
	(void)state;
	/* mov: 8 and 16 bits keep the rest, 32 bits zero-extend. */
	assert_int_equal(read_into(DEC("\x8a\x07"), 0, ALL1, 0xab),
			 0xffffffffffffffabull);
	assert_int_equal(read_into(DEC("\x8a\x2f"), 1, PAT, 0xab),
			 0x112233445566ab88ull); /* ch */
	assert_int_equal(read_into(DEC("\x40\x8a\x3f"), 7, PAT, 0xab),
			 0x11223344556677abull); /* dil */
	assert_int_equal(read_into(DEC("\x44\x8a\x17"), 10, PAT, 0x1ab),
			 0x11223344556677abull); /* r10b, upper bits ignored */
	assert_int_equal(read_into(DEC("\x66\x8b\x17"), 2, PAT, 0xbeef),
			 0x112233445566beefull);
	assert_int_equal(read_into(DEC("\x8b\x17"), 2, ALL1, 0xdeadbeef),
			 0xdeadbeefull);
	assert_int_equal(read_into(DEC("\x48\x8b\x17"), 2, 0, PAT), PAT);
	assert_int_equal(read_into(DEC("\x44\x8b\x5c\x24\x7f"), 11, ALL1,
				   0x80000000),
			 0x80000000ull);
	/* movzx / movsx */
	assert_int_equal(read_into(DEC("\x0f\xb6\x07"), 0, ALL1, 0x80), 0x80);
	assert_int_equal(read_into(DEC("\x66\x0f\xb6\x07"), 0, ALL1, 0x80),
			 0xffffffffffff0080ull);
	assert_int_equal(read_into(DEC("\x4c\x0f\xb6\x07"), 8, ALL1, 0xff80),
			 0x80);
	assert_int_equal(read_into(DEC("\x0f\xb7\x0f"), 1, ALL1, 0x8000),
			 0x8000);
	assert_int_equal(read_into(DEC("\x0f\xbe\x07"), 0, ALL1, 0x80),
			 0xffffff80ull);
	assert_int_equal(read_into(DEC("\x0f\xbe\x07"), 0, ALL1, 0x7f), 0x7f);
	assert_int_equal(read_into(DEC("\x66\x0f\xbe\x37"), 6, PAT, 0x80),
			 0x112233445566ff80ull);
	assert_int_equal(read_into(DEC("\x48\x0f\xbe\x07"), 0, 0, 0x80),
			 0xffffffffffffff80ull);
	assert_int_equal(read_into(DEC("\x48\x0f\xbe\x07"), 0, 0,
				   0xffffffffffffff7full),
			 0x7f);
	assert_int_equal(read_into(DEC("\x0f\xbf\x17"), 2, ALL1, 0x8000),
			 0xffff8000ull);
	assert_int_equal(read_into(DEC("\x4c\x0f\xbf\x2f"), 13, 0, 0x8001),
			 0xffffffffffff8001ull);
	/* in */
	assert_int_equal(read_into(DEC("\xec"), 0, PAT, 0x5a),
			 0x112233445566775aull);
	assert_int_equal(read_into(DEC("\x66\xed"), 0, PAT, 0x12345a5a),
			 0x1122334455665a5aull);
	assert_int_equal(read_into(DEC("\x48\xed"), 0, PAT, ALL1),
			 0xffffffffull);
	/* Not a read. */
	{
		struct pvk_x86_insn in = DEC("\x89\x07");
		struct pvk_x86_regs regs = { 0 };

		assert_int_equal(pvk_x86_complete_read(&in, &regs, 1), -EINVAL);
		in = DEC("\xf3\x6c");
		assert_int_equal(pvk_x86_complete_read(&in, &regs, 1), -EINVAL);
		assert_int_equal(regs.gpr[0], 0);
	}
}

static uint64_t store(struct pvk_x86_insn in, int r, uint64_t v)
{
	struct pvk_x86_regs regs = { 0 };
	uint64_t out = 0x5555;

	regs.gpr[r] = v;
	assert_int_equal(pvk_x86_store_value(&in, &regs, &out), 0);
	return out;
}

static void t_store_value(void **state)
{
	struct pvk_x86_regs regs = { 0 };
	struct pvk_x86_insn in;
	uint64_t v = 7;

	(void)state;
	assert_int_equal(store(DEC("\x88\x07"), 0, PAT), 0x88);
	assert_int_equal(store(DEC("\x88\x27"), 0, PAT), 0x77); /* ah */
	assert_int_equal(store(DEC("\x88\x7e\x10"), 3, PAT), 0x77); /* bh */
	assert_int_equal(store(DEC("\x40\x88\x37"), 6, PAT), 0x88); /* sil */
	assert_int_equal(store(DEC("\x40\x88\x27"), 4, PAT), 0x88); /* spl */
	assert_int_equal(store(DEC("\x44\x88\x08"), 9, PAT), 0x88);
	assert_int_equal(store(DEC("\x66\x89\x0a"), 1, PAT), 0x7788);
	assert_int_equal(store(DEC("\x89\x0a"), 1, PAT), 0x55667788);
	assert_int_equal(store(DEC("\x48\x89\x0a"), 1, PAT), PAT);
	assert_int_equal(
		store(DEC("\x4f\x89\xbc\xec\x78\x56\x34\x12"), 15, PAT), PAT);
	assert_int_equal(store(DEC("\xc6\x07\x5a"), 0, PAT), 0x5a);
	assert_int_equal(store(DEC("\x66\xc7\x07\xef\xbe"), 0, PAT), 0xbeef);
	assert_int_equal(store(DEC("\xc7\x07\xef\xbe\xad\xde"), 0, PAT),
			 0xdeadbeef);
	assert_int_equal(store(DEC("\x48\xc7\x07\xfe\xff\xff\xff"), 0, PAT),
			 0xfffffffffffffffeull);
	assert_int_equal(store(DEC("\x48\xc7\x07\xff\xff\xff\x7f"), 0, PAT),
			 0x7fffffff);
	assert_int_equal(store(DEC("\xee"), 0, PAT), 0x88);
	assert_int_equal(store(DEC("\x66\xef"), 0, PAT), 0x7788);
	assert_int_equal(store(DEC("\x48\xef"), 0, PAT), 0x55667788);
	assert_int_equal(store(DEC("\xf3\x48\xab"), 0, PAT), PAT);
	assert_int_equal(store(DEC("\x66\xa3\x88\x77\x66\x55\x44\x33\x22\x11"),
			       0, PAT),
			 0x7788);
	/* Data in memory, or a read: no value, nothing written. */
	in = DEC("\x6e");
	assert_int_equal(pvk_x86_store_value(&in, &regs, &v), -EINVAL);
	in = DEC("\xa4");
	assert_int_equal(pvk_x86_store_value(&in, &regs, &v), -EINVAL);
	in = DEC("\x8b\x17");
	assert_int_equal(pvk_x86_store_value(&in, &regs, &v), -EINVAL);
	assert_int_equal(v, 7);
	/* Ports. */
	regs.gpr[PVK_X86_RDX] = 0xabcd1234;
	in = DEC("\xe4\x60");
	assert_int_equal(pvk_x86_port(&in, &regs), 0x60);
	in = DEC("\xed");
	assert_int_equal(pvk_x86_port(&in, &regs), 0x1234);
}

static void t_retire(void **state)
{
	struct pvk_x86_regs r = { 0 };
	struct pvk_x86_insn in;

	(void)state;
	/* rep insb, up: 4 then 6 of 10. */
	in = DEC("\xf3\x6c");
	r.rip = 0x1000;
	r.gpr[PVK_X86_RCX] = 10;
	r.gpr[PVK_X86_RDI] = 0x5000;
	r.gpr[PVK_X86_RSI] = 0x7000;
	assert_int_equal(pvk_x86_rep_count(&in, &r), 10);
	assert_int_equal(pvk_x86_string_addr(&in, &r, true), 0x5000);
	assert_int_equal(pvk_x86_retire(&in, &r, 4), 0);
	assert_int_equal(r.gpr[PVK_X86_RCX], 6);
	assert_int_equal(r.gpr[PVK_X86_RDI], 0x5004);
	assert_int_equal(r.gpr[PVK_X86_RSI], 0x7000);
	assert_int_equal(r.rip, 0x1000);
	assert_int_equal(pvk_x86_retire(&in, &r, 6), 1);
	assert_int_equal(r.gpr[PVK_X86_RCX], 0);
	assert_int_equal(r.gpr[PVK_X86_RDI], 0x500a);
	assert_int_equal(r.rip, 0x1002);
	/* rep outsw, down (DF): rSI moves, rDI not. */
	in = DEC("\x66\xf3\x6f");
	r.rflags = PVK_X86_RFLAGS_DF | 2;
	r.gpr[PVK_X86_RCX] = 3;
	assert_int_equal(pvk_x86_retire(&in, &r, 3), 1);
	assert_int_equal(r.gpr[PVK_X86_RSI], 0x7000 - 6);
	assert_int_equal(r.gpr[PVK_X86_RDI], 0x500a);
	assert_int_equal(r.rip, 0x1005);
	/* movsq, no rep, down: both move, rCX untouched; more than one
	 * done is clamped to one. */
	in = DEC("\x48\xa5");
	r.gpr[PVK_X86_RCX] = 99;
	assert_int_equal(pvk_x86_rep_count(&in, &r), 1);
	assert_int_equal(pvk_x86_retire(&in, &r, 5), 1);
	assert_int_equal(r.gpr[PVK_X86_RSI], 0x7000 - 6 - 8);
	assert_int_equal(r.gpr[PVK_X86_RDI], 0x500a - 8);
	assert_int_equal(r.gpr[PVK_X86_RCX], 99);
	assert_int_equal(r.rip, 0x1007);
	/* Nothing done without rep: not finished, nothing moves. */
	assert_int_equal(pvk_x86_retire(&in, &r, 0), 0);
	assert_int_equal(r.rip, 0x1007);
	assert_int_equal(r.gpr[PVK_X86_RDI], 0x500a - 8);
	/* rep with rCX 0: nothing to do, finished. */
	in = DEC("\xf3\xaa");
	r.gpr[PVK_X86_RCX] = 0;
	assert_int_equal(pvk_x86_rep_count(&in, &r), 0);
	assert_int_equal(pvk_x86_retire(&in, &r, 1), 1);
	assert_int_equal(r.gpr[PVK_X86_RDI], 0x500a - 8);
	assert_int_equal(r.rip, 0x1009);
	/* addr32: ECX counts, EDI wraps and both clear bits 32-63. */
	in = DEC("\x67\xf3\x6c");
	r.rflags = 0;
	r.gpr[PVK_X86_RCX] = 0xbeef000000000005ull;
	r.gpr[PVK_X86_RDI] = 0xdead0000fffffffeull;
	assert_int_equal(pvk_x86_rep_count(&in, &r), 5);
	assert_int_equal(pvk_x86_string_addr(&in, &r, true), 0xfffffffe);
	assert_int_equal(pvk_x86_retire(&in, &r, 2), 0);
	assert_int_equal(r.gpr[PVK_X86_RDI], 0);
	assert_int_equal(r.gpr[PVK_X86_RCX], 3);
	assert_int_equal(pvk_x86_retire(&in, &r, 3), 1);
	assert_int_equal(r.gpr[PVK_X86_RDI], 3);
	/* Not a string form: RIP only. */
	in = DEC("\x48\x8b\x17");
	r.rip = 0x2000;
	r.gpr[PVK_X86_RCX] = 9;
	assert_int_equal(pvk_x86_retire(&in, &r, 0), 1);
	assert_int_equal(r.rip, 0x2003);
	assert_int_equal(r.gpr[PVK_X86_RCX], 9);
}

/*
 * The CPU's own string updates: run stos (it does not trap on ordinary
 * memory) and compare its registers with pvk_x86_retire's, both
 * directions, 64- and 32-bit addresses, with junk in the upper halves.
 */
static void cpu_vs_retire(const char *code, size_t n, bool df, bool a32,
			  uint8_t *buf)
{
	struct pvk_x86_regs r = { 0 };
	struct pvk_x86_insn in = dec(code, n);
	uint64_t rdi, rcx, start;

	start = (uint64_t)(uintptr_t)(df ? buf + 200 : buf + 8);
	rdi = a32 ? start | 0xdead000000000000ull : start;
	rcx = a32 ? 0x5555000000000007ull : 7;
	r.gpr[PVK_X86_RDI] = rdi;
	r.gpr[PVK_X86_RCX] = rcx;
	r.rflags = df ? PVK_X86_RFLAGS_DF : 0;
	if (df && a32)
		asm volatile("std; addr32 rep stosl; cld"
			     : "+D"(rdi), "+c"(rcx)
			     : "a"(0)
			     : "memory", "cc");
	else if (df)
		asm volatile("std; rep stosl; cld"
			     : "+D"(rdi), "+c"(rcx)
			     : "a"(0)
			     : "memory", "cc");
	else if (a32)
		asm volatile("addr32 rep stosl"
			     : "+D"(rdi), "+c"(rcx)
			     : "a"(0)
			     : "memory");
	else
		asm volatile("rep stosl"
			     : "+D"(rdi), "+c"(rcx)
			     : "a"(0)
			     : "memory");
	assert_int_equal(pvk_x86_retire(&in, &r, 7), 1);
	assert_int_equal(r.gpr[PVK_X86_RDI], rdi);
	assert_int_equal(r.gpr[PVK_X86_RCX], rcx);
}

static void t_retire_vs_cpu(void **state)
{
	uint8_t *buf;

	(void)state;
	/* Below 4 GiB, so that EDI addresses it. */
	buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	assert_true(buf != MAP_FAILED);
	cpu_vs_retire("\xf3\xab", 2, false, false, buf);
	cpu_vs_retire("\xf3\xab", 2, true, false, buf);
	cpu_vs_retire("\x67\xf3\xab", 3, false, true, buf);
	cpu_vs_retire("\x67\xf3\xab", 3, true, true, buf);
	munmap(buf, 4096);
}

/* --- real traps -------------------------------------------------------- */

static const int greg_of[16] = {
	REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
	REG_R8,	 REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
};

#define NPORT 8
#define PORT0 0x3f0

/* The fake device: a page of MMIO registers and NPORT ports from PORT0;
 * a port reads as its number times 0x01010101 (truncated), and remembers
 * the last value written. */
static uint8_t *mmio; /* the guest's PROT_NONE page */
static uint8_t dev[4096];
static uint32_t port_last[NPORT];
static unsigned int traps, port_reads, port_writes;
static sigjmp_buf guest_fault;
static int fault_why;

static bool in_mmio(uint64_t a, unsigned int size)
{
	uint64_t base = (uint64_t)(uintptr_t)mmio;

	return a >= base && a - base <= sizeof(dev) - size;
}

static uint64_t dev_read(uint64_t a, unsigned int size)
{
	uint64_t v = 0;

	memcpy(&v, &dev[a - (uint64_t)(uintptr_t)mmio], size);
	return v;
}

static void dev_write(uint64_t a, unsigned int size, uint64_t v)
{
	memcpy(&dev[a - (uint64_t)(uintptr_t)mmio], &v, size);
}

/* One item of memory at @a: the device when it is MMIO, else the
 * process's own memory (the guest's RAM). */
static uint64_t mem_read(uint64_t a, unsigned int size)
{
	uint64_t v = 0;

	if (in_mmio(a, size))
		return dev_read(a, size);
	memcpy(&v, (void *)(uintptr_t)a, size);
	return v;
}

static void mem_write(uint64_t a, unsigned int size, uint64_t v)
{
	if (in_mmio(a, size))
		dev_write(a, size, v);
	else
		memcpy((void *)(uintptr_t)a, &v, size);
}

static int port_index(uint16_t port)
{
	return port >= PORT0 && port < PORT0 + NPORT ? port - PORT0 : -1;
}

static void on_segv(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;
	greg_t *g = uc->uc_mcontext.gregs;
	struct pvk_x86_regs r;
	struct pvk_x86_insn in;
	uint64_t a = (uint64_t)(uintptr_t)si->si_addr, n, i, v, step;
	const uint8_t *code;
	size_t avail;
	int ret, p, k;

	(void)sig;
	for (k = 0; k < 16; k++)
		r.gpr[k] = (uint64_t)g[greg_of[k]];
	r.rip = (uint64_t)g[REG_RIP];
	r.rflags = (uint64_t)g[REG_EFL];
	/* Up to the end of the code's page first, as a hypervisor would
	 * copy; more only if the instruction goes on. */
	code = (const uint8_t *)(uintptr_t)r.rip;
	avail = (size_t)(pagesz - (long)(r.rip % (uint64_t)pagesz));
	ret = pvk_x86_decode(code, avail, &in);
	if (ret == -ENODATA)
		ret = pvk_x86_decode(code, PVK_X86_MAX_LEN, &in);
	if (ret < 0) {
		fault_why = ret;
		siglongjmp(guest_fault, 1);
	}
	traps++;
	n = pvk_x86_rep_count(&in, &r);
	step = r.rflags & PVK_X86_RFLAGS_DF ? -(uint64_t)in.size : in.size;
	switch (in.kind) {
	case PVK_X86_PIO_IN:
	case PVK_X86_PIO_OUT:
	case PVK_X86_PIO_INS:
	case PVK_X86_PIO_OUTS:
		p = port_index(pvk_x86_port(&in, &r));
		if (a != 0 || p < 0) {
			fault_why = -EFAULT;
			siglongjmp(guest_fault, 1);
		}
		break;
	default:
		if (!in_mmio(a, in.size)) {
			fault_why = -EFAULT;
			siglongjmp(guest_fault, 1);
		}
		p = -1;
		break;
	}
	switch (in.kind) {
	case PVK_X86_PIO_IN:
		port_reads++;
		pvk_x86_complete_read(&in, &r, (PORT0 + p) * 0x01010101u);
		break;
	case PVK_X86_PIO_OUT:
		port_writes++;
		pvk_x86_store_value(&in, &r, &v);
		port_last[p] = (uint32_t)v;
		break;
	case PVK_X86_PIO_INS:
		for (i = 0; i < n; i++, port_reads++)
			mem_write(pvk_x86_string_addr(&in, &r, true) + i * step,
				  in.size, (PORT0 + p) * 0x01010101u);
		break;
	case PVK_X86_PIO_OUTS:
		for (i = 0; i < n; i++, port_writes++)
			port_last[p] = (uint32_t)mem_read(
				pvk_x86_string_addr(&in, &r, false) + i * step,
				in.size);
		break;
	case PVK_X86_MMIO_READ:
		pvk_x86_complete_read(&in, &r, dev_read(a, in.size));
		break;
	case PVK_X86_MMIO_WRITE:
		pvk_x86_store_value(&in, &r, &v);
		dev_write(a, in.size, v);
		break;
	case PVK_X86_MMIO_STOS:
		pvk_x86_store_value(&in, &r, &v);
		for (i = 0; i < n; i++)
			mem_write(pvk_x86_string_addr(&in, &r, true) + i * step,
				  in.size, v);
		break;
	case PVK_X86_MMIO_MOVS:
		for (i = 0; i < n; i++)
			mem_write(pvk_x86_string_addr(&in, &r, true) + i * step,
				  in.size,
				  mem_read(pvk_x86_string_addr(&in, &r, false) +
						   i * step,
					   in.size));
		break;
	}
	pvk_x86_retire(&in, &r, n);
	for (k = 0; k < 16; k++)
		g[greg_of[k]] = (greg_t)r.gpr[k];
	g[REG_RIP] = (greg_t)r.rip;
}

static int trap_setup(void **state)
{
	(void)state;
	mmio = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return mmio == MAP_FAILED ? -1 : 0;
}

static int trap_teardown(void **state)
{
	(void)state;
	munmap(mmio, 4096);
	return 0;
}

/* Called by each trap test itself: cmocka puts its own SIGSEGV handler in
 * place around a test function (and restores the previous one after). */
static void trap_on(void)
{
	struct sigaction sa = { 0 };

	pagesz = sysconf(_SC_PAGESIZE);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGSEGV, &sa, NULL), 0);
}

static void t_trap_mmio(void **state)
{
	register uint64_t r9 asm("r9"); /* a REX.R register */
	uint64_t rax, rcx, rdx;
	uint8_t *p = mmio;
	unsigned int i;

	(void)state;
	trap_on();
	for (i = 0; i < sizeof(dev); i++)
		dev[i] = (uint8_t)(i * 7 + 1);
	traps = 0;

	/* Loads of each size, into the register by x86 rules. */
	rax = ALL1;
	asm volatile("movb 0x10(%1), %%al" : "+a"(rax) : "D"(p) : "memory");
	assert_int_equal(rax, 0xffffffffffffff00ull | dev[0x10]);
	rax = PAT;
	asm volatile("movb 0x11(%1), %%ah" : "+a"(rax) : "D"(p) : "memory");
	assert_int_equal(rax, (PAT & ~0xff00ull) | (uint64_t)dev[0x11] << 8);
	rax = ALL1;
	asm volatile("movw 0x20(%1), %%ax" : "+a"(rax) : "D"(p) : "memory");
	assert_int_equal(rax, 0xffffffffffff0000ull |
				      dev_read((uintptr_t)p + 0x20, 2));
	rax = ALL1;
	asm volatile("movl 0x40(%1), %%eax" : "+a"(rax) : "D"(p) : "memory");
	assert_int_equal(rax, dev_read((uintptr_t)p + 0x40, 4));
	r9 = 0;
	asm volatile("movq 0x80(%1), %0" : "+r"(r9) : "D"(p) : "memory");
	assert_int_equal(r9, dev_read((uintptr_t)p + 0x80, 8));
	/* SIB with index, movzx, movsx. */
	rcx = 3;
	asm volatile("movl 0x10(%2,%1,4), %%eax"
		     : "=a"(rax)
		     : "c"(rcx), "S"(p)
		     : "memory");
	assert_int_equal(rax, dev_read((uintptr_t)p + 0x1c, 4));
	dev[0x30] = 0x80;
	asm volatile("movzbl 0x30(%1), %%eax" : "=a"(rax) : "D"(p) : "memory");
	assert_int_equal(rax, 0x80);
	asm volatile("movsbq 0x30(%1), %%rdx" : "=d"(rdx) : "D"(p) : "memory");
	assert_int_equal(rdx, 0xffffffffffffff80ull);
	dev[0x32] = 0x01;
	dev[0x33] = 0x90;
	asm volatile("movswl 0x32(%1), %%edx" : "=d"(rdx) : "D"(p) : "memory");
	assert_int_equal(rdx, 0xffff9001ull);

	/* Stores: registers of each size, AH, immediates. */
	rax = PAT;
	asm volatile("movb %%al, 0x100(%1)" ::"a"(rax), "D"(p) : "memory");
	asm volatile("movb %%ah, 0x101(%1)" ::"a"(rax), "D"(p) : "memory");
	asm volatile("movw %%ax, 0x102(%1)" ::"a"(rax), "D"(p) : "memory");
	asm volatile("movl %%eax, 0x104(%1)" ::"a"(rax), "D"(p) : "memory");
	asm volatile("movq %%rax, 0x108(%1)" ::"a"(rax), "D"(p) : "memory");
	asm volatile("movq $-2, 0x110(%0)" ::"D"(p) : "memory");
	asm volatile("movw $0xbeef, 0x118(%0)" ::"D"(p) : "memory");
	r9 = 0x0102030405060708ull;
	asm volatile("movq %0, 0x120(%1)" ::"r"(r9), "D"(p) : "memory");
	assert_int_equal(dev[0x100], 0x88);
	assert_int_equal(dev[0x101], 0x77);
	assert_int_equal(dev_read((uintptr_t)p + 0x102, 2), 0x7788);
	assert_int_equal(dev_read((uintptr_t)p + 0x104, 4), 0x55667788);
	assert_int_equal(dev_read((uintptr_t)p + 0x108, 8), PAT);
	assert_int_equal(dev_read((uintptr_t)p + 0x110, 8),
			 0xfffffffffffffffeull);
	assert_int_equal(dev_read((uintptr_t)p + 0x118, 2), 0xbeef);
	assert_int_equal(dev_read((uintptr_t)p + 0x120, 8), r9);
	assert_int_equal(traps, 17);
}

static void t_trap_strings(void **state)
{
	uint64_t rdi, rsi, rcx;
	uint8_t buf[64];
	unsigned int i;

	(void)state;
	trap_on();
	memset(dev, 0, sizeof(dev));
	traps = 0;
	/* rep stosl into MMIO, up. */
	rdi = (uintptr_t)mmio + 0x200;
	rcx = 4;
	asm volatile("rep stosl"
		     : "+D"(rdi), "+c"(rcx)
		     : "a"(0xa5a5a5a5u)
		     : "memory");
	assert_int_equal(rcx, 0);
	assert_int_equal(rdi, (uintptr_t)mmio + 0x210);
	for (i = 0x200; i < 0x210; i++)
		assert_int_equal(dev[i], 0xa5);
	assert_int_equal(dev[0x210], 0);
	/* rep movsb from MMIO into RAM, down. */
	for (i = 0; i < 16; i++)
		dev[0x300 + i] = (uint8_t)(0x40 + i);
	memset(buf, 0, sizeof(buf));
	rsi = (uintptr_t)mmio + 0x30f;
	rdi = (uintptr_t)&buf[15];
	rcx = 16;
	asm volatile("std; rep movsb; cld"
		     : "+S"(rsi), "+D"(rdi), "+c"(rcx)
		     :
		     : "memory", "cc");
	assert_int_equal(rcx, 0);
	assert_int_equal(rsi, (uintptr_t)mmio + 0x2ff);
	assert_int_equal(rdi, (uintptr_t)buf - 1);
	for (i = 0; i < 16; i++)
		assert_int_equal(buf[i], 0x40 + i);
	/* movsq RAM -> MMIO, no rep. */
	memcpy(buf, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	rsi = (uintptr_t)buf;
	rdi = (uintptr_t)mmio + 0x400;
	asm volatile("movsq" : "+S"(rsi), "+D"(rdi) : : "memory");
	assert_int_equal(rsi, (uintptr_t)buf + 8);
	assert_int_equal(rdi, (uintptr_t)mmio + 0x408);
	assert_memory_equal(&dev[0x400], buf, 8);
	assert_int_equal(traps, 3);
}

static void t_trap_ports(void **state)
{
	uint64_t rax, rdi, rsi, rcx;
	uint16_t w[4];
	uint8_t b[6];

	(void)state;
	trap_on();
	traps = port_reads = port_writes = 0;
	memset(port_last, 0, sizeof(port_last));
	rax = ALL1;
	asm volatile("inb %%dx, %%al" : "+a"(rax) : "d"(PORT0 + 1));
	assert_int_equal(rax, 0xffffffffffffff00ull | ((PORT0 + 1) & 0xff));
	rax = ALL1;
	asm volatile("inl %%dx, %%eax" : "+a"(rax) : "d"(PORT0 + 2));
	assert_int_equal(rax, (uint32_t)((PORT0 + 2) * 0x01010101u));
	rax = PAT;
	asm volatile("outw %%ax, %%dx" ::"a"(rax), "d"(PORT0 + 3));
	assert_int_equal(port_last[3], 0x7788);
	/* rep insb up, rep insw down, rep outsl up. */
	memset(b, 0, sizeof(b));
	rdi = (uintptr_t)b;
	rcx = 5;
	asm volatile("rep insb"
		     : "+D"(rdi), "+c"(rcx)
		     : "d"(PORT0 + 4)
		     : "memory");
	assert_int_equal(rcx, 0);
	assert_int_equal(rdi, (uintptr_t)&b[5]);
	assert_memory_equal(b, "\xf4\xf4\xf4\xf4\xf4\x00", 6);
	memset(w, 0, sizeof(w));
	rdi = (uintptr_t)&w[2];
	rcx = 2;
	asm volatile("std; rep insw; cld"
		     : "+D"(rdi), "+c"(rcx)
		     : "d"(PORT0 + 5)
		     : "memory", "cc");
	assert_int_equal(rdi, (uintptr_t)&w[0]);
	assert_int_equal(w[0], 0);
	assert_int_equal(w[1], (uint16_t)((PORT0 + 5) * 0x01010101u));
	assert_int_equal(w[2], (uint16_t)((PORT0 + 5) * 0x01010101u));
	assert_int_equal(w[3], 0);
	rsi = (uintptr_t)w;
	rcx = 2;
	w[2] = 0x1234;
	w[3] = 0x5678;
	asm volatile("rep outsl" : "+S"(rsi), "+c"(rcx) : "d"(PORT0 + 6));
	assert_int_equal(rsi, (uintptr_t)&w[4]);
	assert_int_equal(port_last[6], 0x56781234);
	assert_int_equal(port_reads, 2 + 5 + 2);
	assert_int_equal(port_writes, 1 + 2);
	assert_int_equal(traps, 6);
}

/* An access the decoder does not take ends in a guest fault, cleanly. */
static void t_trap_unsupported(void **state)
{
	volatile int done = 0;
	uint8_t *p = mmio;

	(void)state;
	trap_on();
	fault_why = 0;
	if (!sigsetjmp(guest_fault, 1)) {
		asm volatile("addl $1, (%0)" ::"r"(p) : "memory", "cc");
		done = 1;
	}
	assert_int_equal(done, 0);
	assert_int_equal(fault_why, -EINVAL);
	fault_why = 0;
	if (!sigsetjmp(guest_fault, 1)) {
		asm volatile("lock incl (%0)" ::"r"(p) : "memory", "cc");
		done = 1;
	}
	assert_int_equal(done, 0);
	assert_int_equal(fault_why, -EINVAL);
	/* A port the device does not have. */
	fault_why = 0;
	if (!sigsetjmp(guest_fault, 1)) {
		asm volatile("outb %%al, %%dx" ::"a"(0), "d"(0x80));
		done = 1;
	}
	assert_int_equal(done, 0);
	assert_int_equal(fault_why, -EFAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(t_reject, setup, teardown),
		cmocka_unit_test(t_complete_read),
		cmocka_unit_test(t_store_value),
		cmocka_unit_test(t_retire),
		cmocka_unit_test(t_retire_vs_cpu),
		cmocka_unit_test_setup_teardown(t_trap_mmio, trap_setup,
						trap_teardown),
		cmocka_unit_test_setup_teardown(t_trap_strings, trap_setup,
						trap_teardown),
		cmocka_unit_test_setup_teardown(t_trap_ports, trap_setup,
						trap_teardown),
		cmocka_unit_test_setup_teardown(t_trap_unsupported, trap_setup,
						trap_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
