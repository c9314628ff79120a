/* SPDX-License-Identifier: MIT */
/*
 * An emulated e1000 (pvkit/dm_e1000.h), written from Intel's 8254x
 * developer's manual: registers, the EEPROM, legacy descriptor rings, a
 * TAP for a wire.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvkit/dm_e1000.h>
#include <pvkit/e1000_regs.h>
#include <pvkit/net.h>

#define NR_RA 16
#define TX_MAX_DESCS 64u /* per frame */
#define RX_BURST 64 /* frames per TAP event */
#define LEGACY_MAX 1522u /* with the FCS, one VLAN tag */
#define NREGS (PVK_E1000_BAR_SIZE / 4)
#define REG(off) ((off) / 4)

enum e1k_err {
	E_RING,
	E_INDEX,
	E_ACCESS,
	E_TX_DMA,
	E_RX_DMA,
	E_TX_LONG,
	E_TX_UNSUP,
	E_TAP
};

struct pvk_e1000 {
	struct pvk_dmodel *dm;
	uint64_t base;
	unsigned int irq;
	bool level; /* of the ISA line */
	int tap;
	char ifname[PVK_NET_IFNAMSIZ];
	void (*log)(void *arg, const char *line);
	void *log_arg;
	unsigned int logged; /* bit per enum e1k_err */
	uint32_t r[NREGS];
	uint16_t eeprom[PVK_E1000_EEPROM_WORDS];
	/* The Microwire EEPROM: rising clock edges since CS went high,
	 * the bits shifted in, and the bit on DO. */
	unsigned int ee_edges;
	uint32_t ee_in;
	bool ee_do;
	/* The frame being gathered from TX descriptors. */
	size_t tx_len;
	unsigned int tx_descs;
	bool tx_drop; /* until EOP */
	struct pvk_e1000_stats st;
	uint8_t tx[PVK_E1000_FRAME_MAX];
	uint8_t rx[PVK_E1000_FRAME_MAX + 4];
};

#define BUMP(e, f, n) __atomic_fetch_add(&(e)->st.f, (n), __ATOMIC_RELAXED)

static void guest_error(struct pvk_e1000 *e, enum e1k_err kind, const char *fmt,
			...)
{
	char line[256];
	int n;
	va_list ap;

	if (e->logged & (1u << kind))
		return;
	e->logged |= 1u << kind;
	n = snprintf(line, sizeof(line),
		     "e1000 %s: guest error (logged once): ", e->ifname);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (e->log)
		e->log(e->log_arg, line);
	else
		fprintf(stderr, "%s\n", line);
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* ------------------------------------------------------------------ */
/* interrupts, statistics                                               */

static void update_irq(struct pvk_e1000 *e)
{
	bool level = (e->r[REG(PVK_E1000_ICR)] & e->r[REG(PVK_E1000_IMS)]) != 0;

	if (level == e->level)
		return;
	e->level = level;
	pvk_dmodel_set_irq(e->dm, e->irq, level);
	if (level)
		BUMP(e, irq_raised, 1);
	else
		BUMP(e, irq_lowered, 1);
}

static void raise_icr(struct pvk_e1000 *e, uint32_t bits)
{
	e->r[REG(PVK_E1000_ICR)] |= bits;
	update_irq(e);
}

static void stat32(struct pvk_e1000 *e, unsigned int off, uint32_t n)
{
	e->r[REG(off)] += n;
}

static void stat64(struct pvk_e1000 *e, unsigned int off, uint64_t n)
{
	uint64_t v = e->r[REG(off)] | (uint64_t)e->r[REG(off) + 1] << 32;

	v += n;
	e->r[REG(off)] = (uint32_t)v;
	e->r[REG(off) + 1] = (uint32_t)(v >> 32);
}

/* ------------------------------------------------------------------ */
/* EEPROM, PHY, reset                                                   */

static void eeprom_init(struct pvk_e1000 *e, const uint8_t mac[6])
{
	uint16_t sum = 0;

	for (int i = 0; i < 3; i++)
		e->eeprom[i] = (uint16_t)(mac[2 * i] | mac[2 * i + 1] << 8);
	e->eeprom[0x0d] = 0x100e; /* device: 82540EM */
	e->eeprom[0x0e] = 0x8086; /* vendor */
	for (int i = 0; i < PVK_E1000_EEPROM_WORDS - 1; i++)
		sum = (uint16_t)(sum + e->eeprom[i]);
	e->eeprom[PVK_E1000_EEPROM_WORDS - 1] =
		(uint16_t)(PVK_E1000_EEPROM_SUM - sum);
}

/* Microwire, 64 words: on rising SK edges with CS high, a start bit and
 * the READ opcode (1, 1, 0) then 6 address bits come in on DI; the word
 * goes out on DO, most significant bit first, from the 10th edge. */
static void eecd_write(struct pvk_e1000 *e, uint32_t v)
{
	uint32_t old = e->r[REG(PVK_E1000_EECD)];

	v &= PVK_E1000_EECD_SK | PVK_E1000_EECD_CS | PVK_E1000_EECD_DI |
	     PVK_E1000_EECD_REQ;
	e->r[REG(PVK_E1000_EECD)] = v;
	if (!(v & PVK_E1000_EECD_CS)) {
		e->ee_edges = 0;
		e->ee_in = 0;
		e->ee_do = false;
		return;
	}
	if ((old & PVK_E1000_EECD_SK) || !(v & PVK_E1000_EECD_SK))
		return;
	if (e->ee_edges < 9) {
		e->ee_in = e->ee_in << 1 | !!(v & PVK_E1000_EECD_DI);
		e->ee_edges++;
		e->ee_do = false;
	} else if (e->ee_edges < 25 && (e->ee_in >> 6) == 6) {
		e->ee_edges++;
		e->ee_do = (e->eeprom[e->ee_in & 63] >> (25 - e->ee_edges)) & 1;
	} else {
		e->ee_do = false;
	}
}

static uint32_t eecd_read(struct pvk_e1000 *e)
{
	uint32_t v = e->r[REG(PVK_E1000_EECD)] | PVK_E1000_EECD_PRES;

	if (v & PVK_E1000_EECD_REQ)
		v |= PVK_E1000_EECD_GNT;
	return e->ee_do ? v | PVK_E1000_EECD_DO : v;
}

static void eerd_write(struct pvk_e1000 *e, uint32_t v)
{
	uint32_t addr = (v >> 8) & 0xff;
	uint16_t data = addr < PVK_E1000_EEPROM_WORDS ? e->eeprom[addr] :
							0xffff;

	if (v & PVK_E1000_EERD_START)
		e->r[REG(PVK_E1000_EERD)] = (uint32_t)data << 16 | addr << 8 |
					    PVK_E1000_EERD_DONE;
}

/* A PHY at address 1 with its link up (an M88E1011's identifiers). */
static void mdic_write(struct pvk_e1000 *e, uint32_t v)
{
	static const uint16_t phy[] = { 0x1140, 0x796d, 0x0141, 0x0c20 };
	unsigned int reg = (v >> 16) & 31, addr = (v >> 21) & 31;

	if (addr != 1) {
		e->r[REG(PVK_E1000_MDIC)] = v | PVK_E1000_MDIC_READY |
					    PVK_E1000_MDIC_ERROR;
		return;
	}
	if ((v & (3u << 26)) == PVK_E1000_MDIC_OP_READ)
		v = (v & ~0xffffu) | (reg < 4 ? phy[reg] : 0);
	e->r[REG(PVK_E1000_MDIC)] = (v & ~PVK_E1000_MDIC_ERROR) |
				    PVK_E1000_MDIC_READY;
}

/* The registers' reset values over all-zero registers. */
static void reset_zeroed(struct pvk_e1000 *e)
{
	e->r[REG(PVK_E1000_CTRL)] = PVK_E1000_CTRL_FD;
	e->r[REG(PVK_E1000_RAL)] = e->eeprom[0] | (uint32_t)e->eeprom[1] << 16;
	e->r[REG(PVK_E1000_RAL) + 1] = e->eeprom[2] | PVK_E1000_RAH_AV;
	e->ee_edges = 0;
	e->ee_in = 0;
	e->ee_do = false;
	e->tx_len = 0;
	e->tx_descs = 0;
	e->tx_drop = false;
	update_irq(e);
}

static void reset(struct pvk_e1000 *e)
{
	memset(e->r, 0, sizeof(e->r));
	reset_zeroed(e);
}

/* ------------------------------------------------------------------ */
/* transmit                                                             */

static void tx_end_frame(struct pvk_e1000 *e)
{
	e->tx_len = 0;
	e->tx_descs = 0;
	e->tx_drop = false;
}

static void tx_drop(struct pvk_e1000 *e)
{
	e->tx_drop = true;
}

/* Legacy CMD.IC: the ones' complement sum from CSS to the end, put at
 * CSO. */
static void tx_csum(struct pvk_e1000 *e, unsigned int css, unsigned int cso)
{
	uint16_t c;

	if (css >= e->tx_len || cso + 2 > e->tx_len) {
		BUMP(e, tx_unsupported, 1);
		guest_error(e, E_TX_UNSUP, "checksum at %u from %u, frame %zu",
			    cso, css, e->tx_len);
		return;
	}
	c = (uint16_t)~pvk_net_csum_fold(
		pvk_net_csum_partial(e->tx + css, e->tx_len - css, 0));
	e->tx[cso] = (uint8_t)(c >> 8); /* network order */
	e->tx[cso + 1] = (uint8_t)c;
}

static void tx_send(struct pvk_e1000 *e)
{
	const uint8_t *dst = e->tx;
	ssize_t n = write(e->tap, e->tx, e->tx_len);

	if (n != (ssize_t)e->tx_len) {
		BUMP(e, tx_tap_errors, 1);
		guest_error(e, E_TAP, "the TAP refused a frame of %zu bytes",
			    e->tx_len);
		return;
	}
	BUMP(e, tx_frames, 1);
	BUMP(e, tx_bytes, e->tx_len);
	stat32(e, PVK_E1000_GPTC, 1);
	stat32(e, PVK_E1000_TPT, 1);
	stat64(e, PVK_E1000_GOTCL, e->tx_len + 4);
	stat64(e, PVK_E1000_TOTL, e->tx_len + 4);
	if ((dst[0] & dst[1] & dst[2] & dst[3] & dst[4] & dst[5]) == 0xff)
		stat32(e, PVK_E1000_BPTC, 1);
	else if (dst[0] & 1)
		stat32(e, PVK_E1000_MPTC, 1);
}

/* One descriptor at @gpa, @d its copy.  Returns whether STA.DD was
 * written back. */
static bool tx_desc(struct pvk_e1000 *e, uint64_t gpa, uint8_t *d)
{
	uint64_t buf = le64(d);
	uint32_t cmdlen = le32(d + 8), len;
	uint8_t cmd = d[11];

	if (cmd & PVK_E1000_TXD_DEXT) {
		unsigned int dtyp = (cmdlen >> 20) & 0xf;

		if (dtyp == 0)
			goto writeback; /* context: offloads we ignore */
		len = cmdlen & 0xfffff;
		if (dtyp != 1 || (cmd & PVK_E1000_TXD_TSE)) {
			if (!e->tx_drop) {
				BUMP(e, tx_unsupported, 1);
				guest_error(e, E_TX_UNSUP,
					    "descriptor type %u, command %#x",
					    dtyp, cmd);
			}
			tx_drop(e);
		}
	} else {
		len = cmdlen & 0xffff;
	}
	if (!e->tx_drop && (++e->tx_descs > TX_MAX_DESCS ||
			    len > PVK_E1000_FRAME_MAX - e->tx_len)) {
		BUMP(e, tx_oversize, 1);
		guest_error(e, E_TX_LONG,
			    "a frame beyond %u bytes or %u descriptors",
			    PVK_E1000_FRAME_MAX, TX_MAX_DESCS);
		tx_drop(e);
	}
	if (!e->tx_drop && len) {
		if (pvk_dmodel_dma_read(e->dm, buf, e->tx + e->tx_len, len) <
		    0) {
			BUMP(e, tx_dma_faults, 1);
			guest_error(e, E_TX_DMA,
				    "TX buffer %#llx+%u is not guest memory",
				    (unsigned long long)buf, len);
			tx_drop(e);
		} else {
			e->tx_len += len;
		}
	}
	if (cmd & PVK_E1000_TXD_EOP) {
		if (!e->tx_drop) {
			if (!(cmd & PVK_E1000_TXD_DEXT) &&
			    (cmd & PVK_E1000_TXD_IC))
				tx_csum(e, d[13], d[10]);
			tx_send(e);
		}
		tx_end_frame(e);
	}
writeback:
	if (!(cmd & PVK_E1000_TXD_RS))
		return false;
	d[12] |= PVK_E1000_TXD_STA_DD;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	return pvk_dmodel_dma_write(e->dm, gpa + 12, &d[12], 1) == 0;
}

/* TDH up to TDT, at most one ring's worth. */
static void tx_run(struct pvk_e1000 *e)
{
	uint32_t n = e->r[REG(PVK_E1000_TDLEN)] / 16,
		 h = e->r[REG(PVK_E1000_TDH)];
	uint32_t t = e->r[REG(PVK_E1000_TDT)], done = 0;
	uint64_t ring = (uint64_t)e->r[REG(PVK_E1000_TDBAH)] << 32 |
			e->r[REG(PVK_E1000_TDBAL)];
	uint32_t icr = 0;
	uint8_t d[16];

	if (!(e->r[REG(PVK_E1000_TCTL)] & PVK_E1000_TCTL_EN) || !n || h == t)
		return;
	if (h >= n || t >= n) {
		BUMP(e, bad_index, 1);
		guest_error(e, E_INDEX, "TDH %u / TDT %u beyond a ring of %u",
			    h, t, n);
		return;
	}
	for (; h != t && done < n; h = (h + 1) % n, done++) {
		if (pvk_dmodel_dma_read(e->dm, ring + h * 16ull, d, 16) < 0) {
			BUMP(e, tx_dma_faults, 1);
			guest_error(e, E_TX_DMA,
				    "TX descriptor %#llx is not guest memory",
				    (unsigned long long)(ring + h * 16ull));
			tx_end_frame(e);
			continue;
		}
		if (tx_desc(e, ring + h * 16ull, d))
			icr |= PVK_E1000_ICR_TXDW;
	}
	e->r[REG(PVK_E1000_TDH)] = h;
	raise_icr(e, icr | (h == t ? PVK_E1000_ICR_TXQE : 0));
}

/* ------------------------------------------------------------------ */
/* receive                                                              */

static uint32_t crc32_eth(const uint8_t *p, size_t len)
{
	uint32_t c = ~0u;

	while (len--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & -(c & 1));
	}
	return ~c;
}

static bool rx_accept(struct pvk_e1000 *e, const uint8_t *dst)
{
	uint32_t rctl = e->r[REG(PVK_E1000_RCTL)], ral, rah, hash;
	static const unsigned int mo_shift[] = { 4, 3, 2, 0 };
	unsigned int mo = (rctl >> 12) & 3;

	if ((dst[0] & dst[1] & dst[2] & dst[3] & dst[4] & dst[5]) == 0xff)
		return rctl & (PVK_E1000_RCTL_BAM | PVK_E1000_RCTL_MPE);
	if ((dst[0] & 1) && (rctl & PVK_E1000_RCTL_MPE))
		return true;
	if (!(dst[0] & 1) && (rctl & PVK_E1000_RCTL_UPE))
		return true;
	ral = le32(dst);
	rah = dst[4] | (uint32_t)dst[5] << 8;
	for (int i = 0; i < NR_RA; i++)
		if ((e->r[REG(PVK_E1000_RAL) + 2 * i + 1] & PVK_E1000_RAH_AV) &&
		    e->r[REG(PVK_E1000_RAL) + 2 * i] == ral &&
		    (e->r[REG(PVK_E1000_RAL) + 2 * i + 1] & 0xffff) == rah)
			return true;
	if (!(dst[0] & 1))
		return false;
	hash = ((uint32_t)dst[4] >> mo_shift[mo] |
		(uint32_t)dst[5] << (8 - mo_shift[mo])) &
	       0xfff;
	return (e->r[REG(PVK_E1000_MTA) + (hash >> 5)] >> (hash & 31)) & 1;
}

static size_t rx_bufsize(uint32_t rctl)
{
	static const size_t plain[] = { 2048, 1024, 512, 256 };
	static const size_t bsex[] = { 2048, 16384, 8192, 4096 };
	unsigned int b = (rctl >> 16) & 3;

	return rctl & PVK_E1000_RCTL_BSEX ? bsex[b] : plain[b];
}

static void rx_miss(struct pvk_e1000 *e)
{
	BUMP(e, rx_missed, 1);
	stat32(e, PVK_E1000_MPC, 1);
	raise_icr(e, PVK_E1000_ICR_RXO);
}

/* Put @len bytes of e->rx (room for the FCS after them) in the ring. */
static void rx_frame(struct pvk_e1000 *e, size_t len)
{
	uint32_t rctl = e->r[REG(PVK_E1000_RCTL)],
		 n = e->r[REG(PVK_E1000_RDLEN)] / 16;
	uint32_t h = e->r[REG(PVK_E1000_RDH)], t = e->r[REG(PVK_E1000_RDT)],
		 crc, avail, icr;
	uint64_t ring = (uint64_t)e->r[REG(PVK_E1000_RDBAH)] << 32 |
			e->r[REG(PVK_E1000_RDBAL)];
	size_t bufsz = rx_bufsize(rctl), total = len, off = 0, chunk;
	const uint8_t *dst = e->rx;
	bool fault = false;
	uint8_t d[16];

	stat32(e, PVK_E1000_TPR, 1);
	stat64(e, PVK_E1000_TORL, len + 4);
	if (len < PVK_NET_ETH_HLEN)
		return;
	if (len > PVK_E1000_FRAME_MAX ||
	    (!(rctl & PVK_E1000_RCTL_LPE) && len + 4 > LEGACY_MAX)) {
		BUMP(e, rx_oversize, 1);
		stat32(e, PVK_E1000_ROC, 1);
		return;
	}
	if (!rx_accept(e, dst)) {
		BUMP(e, rx_filtered, 1);
		return;
	}
	if (!(rctl & PVK_E1000_RCTL_EN) || !n) {
		rx_miss(e);
		return;
	}
	if (h >= n || t >= n) {
		BUMP(e, bad_index, 1);
		guest_error(e, E_INDEX, "RDH %u / RDT %u beyond a ring of %u",
			    h, t, n);
		rx_miss(e);
		return;
	}
	if (!(rctl & PVK_E1000_RCTL_SECRC)) {
		crc = crc32_eth(e->rx, len);
		for (unsigned int i = 0; i < 4; i++)
			e->rx[len + i] = (uint8_t)(crc >> (8 * i));
		total += 4;
	}
	avail = (t + n - h) % n;
	if ((total + bufsz - 1) / bufsz > avail) {
		stat32(e, PVK_E1000_RNBC, 1);
		rx_miss(e);
		return;
	}
	while (off < total) {
		uint64_t dgpa = ring + h * 16ull;

		chunk = total - off < bufsz ? total - off : bufsz;
		if (pvk_dmodel_dma_read(e->dm, dgpa, d, 16) < 0) {
			BUMP(e, rx_dma_faults, 1);
			guest_error(e, E_RX_DMA,
				    "RX descriptor %#llx is not guest memory",
				    (unsigned long long)dgpa);
			return;
		}
		if (!fault && pvk_dmodel_dma_write(e->dm, le64(d), e->rx + off,
						   chunk) < 0) {
			BUMP(e, rx_dma_faults, 1);
			guest_error(e, E_RX_DMA,
				    "RX buffer %#llx+%zu is not guest memory",
				    (unsigned long long)le64(d), chunk);
			fault = true;
		}
		off += chunk;
		memset(d + 8, 0, 8);
		d[8] = (uint8_t)(fault ? 0 : chunk);
		d[9] = (uint8_t)(fault ? 0 : chunk >> 8);
		d[12] = PVK_E1000_RXD_STA_DD |
			(off == total ? PVK_E1000_RXD_STA_EOP : 0);
		d[13] = fault ? PVK_E1000_RXD_ERR_RXE : 0;
		__atomic_thread_fence(__ATOMIC_RELEASE);
		pvk_dmodel_dma_write(e->dm, dgpa + 8, d + 8, 8);
		h = (h + 1) % n;
		avail--;
	}
	e->r[REG(PVK_E1000_RDH)] = h;
	if (!fault) {
		BUMP(e, rx_frames, 1);
		BUMP(e, rx_bytes, len);
		stat32(e, PVK_E1000_GPRC, 1);
		stat64(e, PVK_E1000_GORCL, total);
		if ((dst[0] & dst[1] & dst[2] & dst[3] & dst[4] & dst[5]) ==
		    0xff)
			stat32(e, PVK_E1000_BPRC, 1);
		else if (dst[0] & 1)
			stat32(e, PVK_E1000_MPRC, 1);
	}
	/* RCTL.RDMTS: free descriptors down to 1/2, 1/4, 1/8 of the ring. */
	icr = PVK_E1000_ICR_RXT0;
	if (avail <= n >> (1 + ((rctl >> 8) & 3)))
		icr |= PVK_E1000_ICR_RXDMT0;
	raise_icr(e, icr);
}

static int e1k_fd(void *dev)
{
	return ((struct pvk_e1000 *)dev)->tap;
}

/* Drain the TAP: what finds no room is missed, as on the wire. */
static void e1k_event(void *dev)
{
	struct pvk_e1000 *e = dev;
	ssize_t n;

	for (int i = 0; i < RX_BURST; i++) {
		n = read(e->tap, e->rx, sizeof(e->rx));
		if (n < 0)
			return;
		rx_frame(e, (size_t)n);
	}
}

/* ------------------------------------------------------------------ */
/* registers                                                            */

static uint32_t reg_read(struct pvk_e1000 *e, uint32_t off)
{
	uint32_t v;

	switch (off) {
	case PVK_E1000_STATUS:
		return PVK_E1000_STATUS_FD | PVK_E1000_STATUS_LU |
		       PVK_E1000_STATUS_1000;
	case PVK_E1000_EECD:
		return eecd_read(e);
	case PVK_E1000_ICR:
		v = e->r[REG(PVK_E1000_ICR)];
		e->r[REG(PVK_E1000_ICR)] = 0;
		update_irq(e);
		return v;
	case PVK_E1000_ICS:
	case PVK_E1000_IMC:
		return 0;
	}
	v = e->r[REG(off)];
	if (off >= PVK_E1000_STATS && off < PVK_E1000_STATS + 0x100)
		e->r[REG(off)] = 0;
	return v;
}

/* A head or tail index: 16 bits, inside the ring. */
static bool index_ok(struct pvk_e1000 *e, uint32_t off, uint32_t v,
		     uint32_t len)
{
	if (v <= 0xffff && (v == 0 || v < len / 16))
		return true;
	BUMP(e, bad_index, 1);
	guest_error(e, E_INDEX, "index %u at %#x beyond a ring of %u", v, off,
		    len / 16);
	return false;
}

static void reg_write(struct pvk_e1000 *e, uint32_t off, uint32_t v)
{
	uint32_t *r = &e->r[REG(off)];

	switch (off) {
	case PVK_E1000_CTRL:
		if (v & PVK_E1000_CTRL_RST) {
			reset(e);
			break;
		}
		if (!(*r & PVK_E1000_CTRL_SLU) && (v & PVK_E1000_CTRL_SLU))
			e->r[REG(PVK_E1000_ICR)] |= PVK_E1000_ICR_LSC;
		*r = v & ~PVK_E1000_CTRL_PHY_RST;
		update_irq(e);
		break;
	case PVK_E1000_STATUS:
		break;
	case PVK_E1000_EECD:
		eecd_write(e, v);
		break;
	case PVK_E1000_EERD:
		eerd_write(e, v);
		break;
	case PVK_E1000_MDIC:
		mdic_write(e, v);
		break;
	case PVK_E1000_ICR:
		e->r[REG(PVK_E1000_ICR)] &= ~v;
		update_irq(e);
		break;
	case PVK_E1000_ICS:
		raise_icr(e, v);
		break;
	case PVK_E1000_IMS:
		e->r[REG(PVK_E1000_IMS)] |= v;
		update_irq(e);
		break;
	case PVK_E1000_IMC:
		e->r[REG(PVK_E1000_IMS)] &= ~v;
		update_irq(e);
		break;
	case PVK_E1000_TCTL:
		*r = v;
		tx_run(e);
		break;
	case PVK_E1000_RDBAL:
	case PVK_E1000_TDBAL:
		*r = v & ~0xfu;
		break;
	case PVK_E1000_RDLEN:
	case PVK_E1000_TDLEN:
		if (v % 128 || v > PVK_E1000_RING_MAX) {
			BUMP(e, bad_ring, 1);
			guest_error(e, E_RING, "ring length %u at %#x", v, off);
			break;
		}
		*r = v;
		break;
	case PVK_E1000_RDH:
	case PVK_E1000_RDT:
		if (index_ok(e, off, v, e->r[REG(PVK_E1000_RDLEN)]))
			*r = v;
		break;
	case PVK_E1000_TDH:
	case PVK_E1000_TDT:
		if (!index_ok(e, off, v, e->r[REG(PVK_E1000_TDLEN)]))
			break;
		*r = v;
		if (off == PVK_E1000_TDT)
			tx_run(e);
		break;
	default: /* the statistics are read-only */
		if (off < PVK_E1000_STATS || off >= PVK_E1000_STATS + 0x100)
			*r = v;
	}
}

static bool access_ok(struct pvk_e1000 *e, uint64_t off, unsigned int size)
{
	if ((size == 4 || size == 8) && !(off % size) &&
	    off < PVK_E1000_BAR_SIZE)
		return true;
	BUMP(e, bad_access, 1);
	guest_error(e, E_ACCESS, "%u-byte access at %#llx", size,
		    (unsigned long long)off);
	return false;
}

static uint64_t e1k_read(void *dev, enum pvk_dm_space space, uint64_t addr,
			 unsigned int size)
{
	struct pvk_e1000 *e = dev;
	uint64_t off = addr - e->base, v;

	(void)space;
	if (!access_ok(e, off, size))
		return 0;
	v = reg_read(e, (uint32_t)off);
	if (size == 8)
		v |= (uint64_t)reg_read(e, (uint32_t)off + 4) << 32;
	return v;
}

static void e1k_write(void *dev, enum pvk_dm_space space, uint64_t addr,
		      unsigned int size, uint64_t val)
{
	struct pvk_e1000 *e = dev;
	uint64_t off = addr - e->base;

	(void)space;
	if (!access_ok(e, off, size))
		return;
	reg_write(e, (uint32_t)off, (uint32_t)val);
	if (size == 8)
		reg_write(e, (uint32_t)off + 4, (uint32_t)(val >> 32));
}

static const struct pvk_dmodel_dev_ops e1k_ops = {
	.name = "e1000",
	.read = e1k_read,
	.write = e1k_write,
	.fd = e1k_fd,
	.event = e1k_event,
};

/* ------------------------------------------------------------------ */

int pvk_e1000_create(struct pvk_e1000 **out, struct pvk_dmodel *dm,
		     const struct pvk_e1000_config *cfg)
{
	struct pvk_e1000 *e;
	int ret;

	*out = NULL;
	if (!dm || !cfg || !cfg->tap || cfg->irq > 15 ||
	    cfg->base % PVK_E1000_BAR_SIZE ||
	    cfg->base + PVK_E1000_BAR_SIZE < cfg->base)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->dm = dm;
	e->base = cfg->base;
	e->irq = cfg->irq;
	e->log = cfg->log;
	e->log_arg = cfg->log_arg;
	ret = pvk_tap_open(cfg->tap, 0, 1, &e->tap, e->ifname);
	if (ret < 0)
		goto free_dev;
	eeprom_init(e, cfg->mac);
	reset_zeroed(e); /* calloc'd: 128 KiB of registers not touched twice */
	ret = pvk_dmodel_add(dm, &e1k_ops, e, PVK_DM_MMIO, cfg->base,
			     cfg->base + PVK_E1000_BAR_SIZE - 1);
	if (ret < 0)
		goto close_tap;
	*out = e;
	return 0;

close_tap:
	pvk_tap_close(&e->tap, 1);
free_dev:
	free(e);
	return ret;
}

void pvk_e1000_destroy(struct pvk_e1000 *e)
{
	if (!e)
		return;
	pvk_tap_close(&e->tap, 1);
	free(e);
}

const char *pvk_e1000_ifname(const struct pvk_e1000 *e)
{
	return e->ifname;
}

void pvk_e1000_stats(const struct pvk_e1000 *e, struct pvk_e1000_stats *st)
{
	const uint64_t *src = (const uint64_t *)&e->st;
	uint64_t *dst = (uint64_t *)st;

	_Static_assert(sizeof(*st) % sizeof(uint64_t) == 0, "u64 fields");
	for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
