// SPDX-License-Identifier: MIT
/*
 * emu/x86dec.c -- decode and complete the x86-64 instructions a guest
 * traps on for port I/O and MMIO (pvkit/x86dec.h).  Written for pvkit from
 * the Intel SDM's encoding tables; only the forms listed there.
 */
#include <errno.h>

#include <pvkit/x86dec.h>

#define REX_W 0x08u
#define REX_R 0x04u

struct cursor {
	const uint8_t *code;
	size_t avail;
	size_t pos;
};

/* Take @n bytes, little-endian, into *@v: -EINVAL past the 15-byte limit
 * (whatever @avail is), -ENODATA past @avail. */
static int take(struct cursor *c, size_t n, uint64_t *v)
{
	size_t i;

	if (c->pos + n > PVK_X86_MAX_LEN)
		return -EINVAL;
	if (c->pos + n > c->avail)
		return -ENODATA;
	*v = 0;
	for (i = 0; i < n; i++)
		*v |= (uint64_t)c->code[c->pos + i] << (8 * i);
	c->pos += n;
	return 0;
}

/* Sign-extend the low @bytes bytes of @v. */
static uint64_t sext(uint64_t v, unsigned int bytes)
{
	unsigned int sh = 64 - 8 * bytes;

	return (uint64_t)((int64_t)(v << sh) >> sh);
}

static uint64_t mask(unsigned int bytes)
{
	return bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1;
}

/* ModRM (+ SIB, displacement) of a memory operand; mod 3 is no memory. */
static int modrm(struct cursor *c, unsigned int rex, struct pvk_x86_insn *in)
{
	uint64_t m, sib, d;
	unsigned int mod, rm;
	int ret;

	ret = take(c, 1, &m);
	if (ret)
		return ret;
	mod = (unsigned int)m >> 6;
	rm = m & 7;
	in->reg = (uint8_t)(((m >> 3) & 7) | (rex & REX_R ? 8 : 0));
	if (mod == 3)
		return -EINVAL;
	if (rm == 4) {
		ret = take(c, 1, &sib);
		if (ret)
			return ret;
		if ((sib & 7) == 5 && mod == 0)
			mod = 2; /* no base, disp32 */
	} else if (rm == 5 && mod == 0) {
		in->flags |= PVK_X86_F_RIP_REL;
		mod = 2;
	}
	in->disp = 0;
	if (mod == 1 || mod == 2) {
		ret = take(c, mod == 1 ? 1 : 4, &d);
		if (ret)
			return ret;
		in->disp = (int64_t)sext(d, mod == 1 ? 1 : 4);
	}
	return 0;
}

int pvk_x86_decode(const uint8_t *code, size_t avail, struct pvk_x86_insn *out)
{
	struct cursor c = { code, avail, 0 };
	struct pvk_x86_insn in = { 0 };
	unsigned int rex = 0, osz, op;
	bool o16 = false, rep = false, a32 = false;
	int seg = -1, ret;
	uint64_t b;

	for (;;) {
		ret = take(&c, 1, &b);
		if (ret)
			return ret;
		if ((b & 0xf0) == 0x40) {
			rex = (unsigned int)b; /* counts if the opcode follows */
			continue;
		}
		switch (b) {
		case 0xf0: /* lock: never on these forms */
			return -EINVAL;
		case 0x66:
			o16 = true;
			break;
		case 0x67:
			a32 = true;
			break;
		case 0xf2:
		case 0xf3:
			rep = true;
			break;
		case 0x26:
			seg = PVK_X86_SEG_ES;
			break;
		case 0x2e:
			seg = PVK_X86_SEG_CS;
			break;
		case 0x36:
			seg = PVK_X86_SEG_SS;
			break;
		case 0x3e:
			seg = PVK_X86_SEG_DS;
			break;
		case 0x64:
			seg = PVK_X86_SEG_FS;
			break;
		case 0x65:
			seg = PVK_X86_SEG_GS;
			break;
		default:
			goto opcode;
		}
		rex = 0; /* a legacy prefix after REX cancels it */
	}
opcode:
	op = (unsigned int)b;
	/* Operand size of the non-byte forms that REX.W promotes. */
	osz = rex & REX_W ? 8 : o16 ? 2 : 4;
	in.seg = seg < 0 ? PVK_X86_SEG_DS : (uint8_t)seg;
	in.reg = PVK_X86_RAX;
	if (a32)
		in.flags |= PVK_X86_F_ADDR32;

	switch (op) {
	case 0xe4 ... 0xe7: /* in/out imm8 */
	case 0xec ... 0xef: /* in/out dx */
		in.kind = op & 2 ? PVK_X86_PIO_OUT : PVK_X86_PIO_IN;
		in.size = op & 1 ? (o16 ? 2 : 4) : 1;
		if (op < 0xec) {
			ret = take(&c, 1, &in.imm);
			if (ret)
				return ret;
			in.flags |= PVK_X86_F_PORT_IMM;
		}
		break;
	case 0x6c ... 0x6f: /* ins/outs */
		in.kind = op & 2 ? PVK_X86_PIO_OUTS : PVK_X86_PIO_INS;
		in.size = op & 1 ? (o16 ? 2 : 4) : 1;
		if (in.kind == PVK_X86_PIO_INS)
			in.seg = PVK_X86_SEG_ES;
		break;
	case 0xa4: /* movs */
	case 0xa5:
		in.kind = PVK_X86_MMIO_MOVS;
		in.size = op & 1 ? osz : 1;
		break;
	case 0xaa: /* stos */
	case 0xab:
		in.kind = PVK_X86_MMIO_STOS;
		in.size = op & 1 ? osz : 1;
		in.seg = PVK_X86_SEG_ES;
		break;
	case 0xa0 ... 0xa3: /* mov rAX <-> moffs */
		in.kind = op & 2 ? PVK_X86_MMIO_WRITE : PVK_X86_MMIO_READ;
		in.size = op & 1 ? osz : 1;
		ret = take(&c, a32 ? 4 : 8, &b);
		if (ret)
			return ret;
		in.disp = (int64_t)b;
		break;
	case 0x88 ... 0x8b: /* mov r/m, r and mov r, r/m */
		in.kind = op & 2 ? PVK_X86_MMIO_READ : PVK_X86_MMIO_WRITE;
		in.size = op & 1 ? osz : 1;
		ret = modrm(&c, rex, &in);
		if (ret)
			return ret;
		if (in.size == 1 && !rex && in.reg >= 4 && in.reg < 8) {
			in.reg -= 4; /* AH, CH, DH, BH */
			in.flags |= PVK_X86_F_HIGH8;
		}
		break;
	case 0xc6: /* mov r/m, imm */
	case 0xc7:
		in.kind = PVK_X86_MMIO_WRITE;
		in.size = op & 1 ? osz : 1;
		ret = modrm(&c, rex, &in);
		if (ret)
			return ret;
		if (in.reg & 7)
			return -EINVAL; /* only /0 is mov */
		in.reg = 0;
		ret = take(&c, in.size == 8 ? 4 : in.size, &in.imm);
		if (ret)
			return ret;
		in.imm = sext(in.imm, in.size == 8 ? 4 : in.size) &
			 mask(in.size);
		in.flags |= PVK_X86_F_IMM;
		break;
	case 0x0f:
		ret = take(&c, 1, &b);
		if (ret)
			return ret;
		if (b != 0xb6 && b != 0xb7 && b != 0xbe && b != 0xbf)
			return -EINVAL;
		in.kind = PVK_X86_MMIO_READ;
		in.size = b & 1 ? 2 : 1;
		in.ext = b & 8 ? PVK_X86_EXT_SIGN : PVK_X86_EXT_ZERO;
		in.dst_size = (uint8_t)osz;
		ret = modrm(&c, rex, &in);
		if (ret)
			return ret;
		break;
	default:
		return -EINVAL;
	}

	if (op >= 0xa4 && op <= 0xab && rep)
		in.flags |= PVK_X86_F_REP;
	if (op >= 0x6c && op <= 0x6f && rep)
		in.flags |= PVK_X86_F_REP;
	if (!in.dst_size)
		in.dst_size = in.size;
	in.len = (uint8_t)c.pos;
	*out = in;
	return in.len;
}

uint16_t pvk_x86_port(const struct pvk_x86_insn *insn,
		      const struct pvk_x86_regs *regs)
{
	if (insn->flags & PVK_X86_F_PORT_IMM)
		return (uint16_t)insn->imm;
	return (uint16_t)regs->gpr[PVK_X86_RDX];
}

int pvk_x86_store_value(const struct pvk_x86_insn *insn,
			const struct pvk_x86_regs *regs, uint64_t *val)
{
	uint64_t v;

	switch (insn->kind) {
	case PVK_X86_PIO_OUT:
	case PVK_X86_MMIO_STOS:
		v = regs->gpr[PVK_X86_RAX];
		break;
	case PVK_X86_MMIO_WRITE:
		if (insn->flags & PVK_X86_F_IMM)
			v = insn->imm;
		else if (insn->flags & PVK_X86_F_HIGH8)
			v = regs->gpr[insn->reg & 3] >> 8;
		else
			v = regs->gpr[insn->reg & 15];
		break;
	default:
		return -EINVAL;
	}
	*val = v & mask(insn->size);
	return 0;
}

int pvk_x86_complete_read(const struct pvk_x86_insn *insn,
			  struct pvk_x86_regs *regs, uint64_t value)
{
	uint64_t *r, v = value & mask(insn->size);

	if (insn->kind != PVK_X86_PIO_IN && insn->kind != PVK_X86_MMIO_READ)
		return -EINVAL;
	if (insn->ext == PVK_X86_EXT_SIGN)
		v = sext(v, insn->size);
	if (insn->flags & PVK_X86_F_HIGH8) {
		r = &regs->gpr[insn->reg & 3];
		*r = (*r & ~0xff00ull) | (v & 0xff) << 8;
		return 0;
	}
	r = &regs->gpr[insn->reg & 15];
	switch (insn->dst_size) {
	case 1:
	case 2:
		*r = (*r & ~mask(insn->dst_size)) | (v & mask(insn->dst_size));
		break;
	case 4:
		*r = (uint32_t)v; /* a 32-bit write clears bits 32-63 */
		break;
	default:
		*r = v;
		break;
	}
	return 0;
}

static bool is_string(const struct pvk_x86_insn *insn)
{
	return insn->kind == PVK_X86_PIO_INS ||
	       insn->kind == PVK_X86_PIO_OUTS ||
	       insn->kind == PVK_X86_MMIO_MOVS ||
	       insn->kind == PVK_X86_MMIO_STOS;
}

static uint64_t addr_mask(const struct pvk_x86_insn *insn)
{
	return insn->flags & PVK_X86_F_ADDR32 ? 0xffffffffull : ~0ull;
}

uint64_t pvk_x86_rep_count(const struct pvk_x86_insn *insn,
			   const struct pvk_x86_regs *regs)
{
	if (!is_string(insn) || !(insn->flags & PVK_X86_F_REP))
		return 1;
	return regs->gpr[PVK_X86_RCX] & addr_mask(insn);
}

uint64_t pvk_x86_string_addr(const struct pvk_x86_insn *insn,
			     const struct pvk_x86_regs *regs, bool dst)
{
	return regs->gpr[dst ? PVK_X86_RDI : PVK_X86_RSI] & addr_mask(insn);
}

/* Add @delta to an address register of the instruction's address size. */
static void addr_add(const struct pvk_x86_insn *insn, uint64_t *r,
		     uint64_t delta)
{
	*r = (*r + delta) & addr_mask(insn);
}

int pvk_x86_retire(const struct pvk_x86_insn *insn, struct pvk_x86_regs *regs,
		   uint64_t done)
{
	uint64_t max, delta, left;

	if (!is_string(insn)) {
		regs->rip += insn->len;
		return 1;
	}
	max = pvk_x86_rep_count(insn, regs);
	if (done > max)
		done = max;
	delta = done * insn->size;
	if (regs->rflags & PVK_X86_RFLAGS_DF)
		delta = -delta;
	if (insn->kind != PVK_X86_MMIO_STOS && insn->kind != PVK_X86_PIO_INS)
		addr_add(insn, &regs->gpr[PVK_X86_RSI], delta);
	if (insn->kind != PVK_X86_PIO_OUTS)
		addr_add(insn, &regs->gpr[PVK_X86_RDI], delta);
	left = max - done;
	if (insn->flags & PVK_X86_F_REP)
		regs->gpr[PVK_X86_RCX] = left;
	if (left)
		return 0;
	regs->rip += insn->len;
	return 1;
}
