// SPDX-License-Identifier: MIT
/*
 * fuzz-x86dec: the trap decoder (pvkit/x86dec.h) on hostile instruction
 * bytes.
 *
 * Input: one byte @avail (capped at the bytes there are), then the code.
 * The code is copied into a heap block of exactly @avail bytes, so ASan
 * sees any read past it.  Checked:
 *  - the verdict is a length 1..15 that fits @avail, -EINVAL, or
 *    -ENODATA only when @avail < 15;
 *  - a decoded instruction decodes identically from exactly its bytes and
 *    with every byte of the input after it; every shorter prefix of it is
 *    -ENODATA; an -EINVAL stays -EINVAL with more bytes;
 *  - the fields are in range (kinds, sizes, registers, flags per kind);
 *  - the completion helpers, on registers from the input, write only the
 *    registers the kind names and move RIP by the length when finished.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit/x86dec.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int decode_exact(const uint8_t *code, size_t n, struct pvk_x86_insn *in)
{
	uint8_t *b = malloc(n ? n : 1);
	int ret;

	FZ_CHECK(b);
	memcpy(b, code, n);
	memset(in, 0, sizeof(*in));
	ret = pvk_x86_decode(b, n, in);
	free(b);
	return ret;
}

static void check_fields(const struct pvk_x86_insn *in, int ret)
{
	bool pio = in->kind >= PVK_X86_PIO_IN && in->kind <= PVK_X86_PIO_OUTS;
	bool str =
		in->kind == PVK_X86_PIO_INS || in->kind == PVK_X86_PIO_OUTS ||
		in->kind == PVK_X86_MMIO_MOVS || in->kind == PVK_X86_MMIO_STOS;

	FZ_CHECK(in->len == ret);
	FZ_CHECK(in->kind >= PVK_X86_PIO_IN && in->kind <= PVK_X86_MMIO_STOS);
	FZ_CHECK(in->size == 1 || in->size == 2 || in->size == 4 ||
		 in->size == 8);
	FZ_CHECK(!pio || in->size <= 4);
	FZ_CHECK(in->dst_size >= in->size && in->dst_size <= 8);
	FZ_CHECK(in->ext <= PVK_X86_EXT_SIGN);
	FZ_CHECK(in->ext || in->dst_size == in->size);
	FZ_CHECK(!in->ext || in->kind == PVK_X86_MMIO_READ);
	FZ_CHECK(in->reg < 16);
	FZ_CHECK(in->seg <= PVK_X86_SEG_GS);
	FZ_CHECK(!(in->flags & PVK_X86_F_HIGH8) ||
		 (in->reg < 4 && in->size == 1));
	FZ_CHECK(!(in->flags & PVK_X86_F_REP) || str);
	FZ_CHECK(!(in->flags & PVK_X86_F_PORT_IMM) ||
		 (pio && !str && in->imm <= 0xff));
	FZ_CHECK(!(in->flags & PVK_X86_F_IMM) ||
		 in->kind == PVK_X86_MMIO_WRITE);
	FZ_CHECK(in->size == 8 || !(in->flags & PVK_X86_F_IMM) ||
		 in->imm < 1ull << (8 * in->size));
	FZ_CHECK(!(in->flags & ~0x3fu));
}

static void check_helpers(const struct pvk_x86_insn *in, struct fz *f)
{
	struct pvk_x86_regs r0, r;
	uint64_t v, n, done;
	int ret, k, fin;
	bool rd = in->kind == PVK_X86_PIO_IN || in->kind == PVK_X86_MMIO_READ;

	fz_bytes(f, &r0, sizeof(r0));
	v = fz_u64(f);
	done = fz_u8(f);

	r = r0;
	ret = pvk_x86_complete_read(in, &r, v);
	FZ_CHECK(ret == (rd ? 0 : -EINVAL));
	for (k = 0; k < 16; k++)
		FZ_CHECK(
			r.gpr[k] == r0.gpr[k] ||
			(rd && k == (in->flags & PVK_X86_F_HIGH8 ? in->reg & 3 :
								   in->reg)));
	FZ_CHECK(r.rip == r0.rip && r.rflags == r0.rflags);

	r = r0;
	ret = pvk_x86_store_value(in, &r, &v);
	FZ_CHECK(ret == 0 || ret == -EINVAL);
	FZ_CHECK(ret || in->size == 8 || v < 1ull << (8 * in->size));
	FZ_CHECK(!memcmp(&r, &r0, sizeof(r)));

	FZ_CHECK(pvk_x86_port(in, &r) ==
		 (in->flags & PVK_X86_F_PORT_IMM ?
			  in->imm :
			  (uint16_t)r.gpr[PVK_X86_RDX]));
	for (k = 0; k < 2; k++)
		FZ_CHECK(pvk_x86_string_addr(in, &r, k) ==
			 (r.gpr[k ? PVK_X86_RDI : PVK_X86_RSI] &
			  (in->flags & PVK_X86_F_ADDR32 ? 0xffffffffull :
							  ~0ull)));
	n = pvk_x86_rep_count(in, &r);
	fin = pvk_x86_retire(in, &r, done);
	FZ_CHECK(fin == 0 || fin == 1);
	FZ_CHECK(r.rip == r0.rip + (fin ? in->len : 0));
	FZ_CHECK(fin || (n > done && (in->flags & PVK_X86_F_REP)) ||
		 (n == 1 && done == 0));
	for (k = 0; k < 16; k++)
		FZ_CHECK(r.gpr[k] == r0.gpr[k] || k == PVK_X86_RCX ||
			 k == PVK_X86_RSI || k == PVK_X86_RDI);
	if (!(in->flags & PVK_X86_F_REP))
		FZ_CHECK(r.gpr[PVK_X86_RCX] == r0.gpr[PVK_X86_RCX]);
	else
		FZ_CHECK(r.gpr[PVK_X86_RCX] == n - (done < n ? done : n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pvk_x86_insn a, b;
	struct fz f;
	size_t avail, rest, k;
	int ret, r2;

	if (size < 1)
		return 0;
	rest = size - 1;
	avail = data[0] < rest ? data[0] : rest;
	ret = decode_exact(data + 1, avail, &a);
	FZ_CHECK(ret == -EINVAL || ret == -ENODATA ||
		 (ret >= 1 && ret <= PVK_X86_MAX_LEN && (size_t)ret <= avail));
	if (ret == -ENODATA) {
		FZ_CHECK(avail < PVK_X86_MAX_LEN);
		return 0;
	}
	/* More bytes never change a verdict. */
	r2 = decode_exact(data + 1, rest, &b);
	FZ_CHECK(r2 == ret);
	if (ret < 0)
		return 0;
	FZ_CHECK(!memcmp(&a, &b, sizeof(a)));
	check_fields(&a, ret);
	FZ_CHECK(decode_exact(data + 1, (size_t)ret, &b) == ret);
	FZ_CHECK(!memcmp(&a, &b, sizeof(a)));
	for (k = 0; k < (size_t)ret; k++)
		FZ_CHECK(decode_exact(data + 1, k, &b) == -ENODATA);
	f.p = data + 1 + ret;
	f.n = rest - (size_t)ret;
	check_helpers(&a, &f);
	return 0;
}

void fuzz_seeds(void)
{
	static const struct {
		const char *name, *b;
		size_t n;
	} s[] = {
#define S(name, b) { name, b, sizeof(b) - 1 }
		S("in-dx", "\xec"),
		S("out-imm16", "\x66\xe7\x81"),
		S("rep-insw-addr32", "\x67\x66\xf3\x6d"),
		S("rep-fs-outsl", "\x64\xf3\x6f"),
		S("rep-movsq", "\xf3\x48\xa5"),
		S("rep-stosb", "\xf3\xaa"),
		S("mov-ah-store", "\x88\x27"),
		S("mov-sib-r15", "\x4f\x89\xbc\xec\x78\x56\x34\x12"),
		S("mov-rip-imm32", "\xc7\x05\x40\x00\x00\x00\x01\x00\x00\x00"),
		S("movq-imm-neg", "\x48\xc7\x07\xfe\xff\xff\xff"),
		S("movsx-w-q", "\x4c\x0f\xbf\x2f"),
		S("movabs-rax", "\x48\xa1\x88\x77\x66\x55\x44\x33\x22\x11"),
		S("lock", "\xf0\x89\x07"),
		S("15-prefixes", "\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66"
				 "\x66\x66\x66\x66\x66\xec"),
#undef S
	};
	struct fz_out o;
	size_t i, k;

	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		o.n = 0;
		fzo_u8(&o, 0xff);
		fzo_bytes(&o, s[i].b, s[i].n);
		/* Registers for the helpers: a pattern with DF set. */
		for (k = 0; k < 16; k++)
			fzo_u64(&o, 0x0101010101010101ull * (k + 1));
		fzo_u64(&o, 0x401000);
		fzo_u64(&o, PVK_X86_RFLAGS_DF | 2);
		fzo_u64(&o, 0x8899aabbccddeeffull);
		fzo_u8(&o, 3);
		fz_seed_emit(s[i].name, &o);
	}
}
