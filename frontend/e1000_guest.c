/* SPDX-License-Identifier: MIT */
/*
 * A minimal e1000 guest driver (pvkit/e1000_guest.h) on pvkit/gio.h.
 * Memory at @mem: the TX ring, the RX ring at +256, the RX buffers at
 * +4096, then the TX buffers.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pvkit/e1000_guest.h>
#include <pvkit/e1000_regs.h>
#include <pvkit/spin.h>

#define SPIN 1000 /* register polls before giving up */
#define TXN PVK_E1000G_TX_DESCS
#define RXN PVK_E1000G_RX_DESCS
#define RX_RING_OFF 256u
#define BUF_OFF 4096u

struct pvk_e1000g {
	struct pvk_gio *g;
	uint64_t mmio, mem;
	unsigned int irq;
	uint8_t mac[6];
	unsigned int tx_tail, tx_clean;
	unsigned int rx_next, rdt, rx_free; /* rx_free: taken, not given */
	struct pvk_e1000g_stats st;
};

static uint32_t rd(struct pvk_e1000g *d, uint32_t off)
{
	return pvk_mmio_read32(d->g, d->mmio + off);
}

static void wr(struct pvk_e1000g *d, uint32_t off, uint32_t v)
{
	pvk_mmio_write32(d->g, d->mmio + off, v);
}

static uint8_t *txd(struct pvk_e1000g *d, unsigned int i)
{
	return d->g->ram + d->mem + i * 16;
}

static uint8_t *rxd(struct pvk_e1000g *d, unsigned int i)
{
	return d->g->ram + d->mem + RX_RING_OFF + i * 16;
}

static uint64_t rx_buf(struct pvk_e1000g *d, unsigned int i)
{
	return d->mem + BUF_OFF + (uint64_t)i * PVK_E1000G_BUF;
}

static uint64_t tx_buf(struct pvk_e1000g *d, unsigned int i)
{
	return rx_buf(d, RXN + i);
}

/* The NIC writes a descriptor's status last. */
static uint8_t status(const uint8_t *desc)
{
	return __atomic_load_n(desc + 12, __ATOMIC_ACQUIRE);
}

static void put_desc(uint8_t *desc, uint64_t addr, uint16_t len, uint8_t cmd)
{
	for (int i = 0; i < 8; i++)
		desc[i] = (uint8_t)(addr >> (8 * i));
	desc[8] = (uint8_t)len;
	desc[9] = (uint8_t)(len >> 8);
	desc[10] = 0;
	desc[11] = cmd;
	memset(desc + 12, 0, 4);
}

static int eeprom_word(struct pvk_e1000g *d, unsigned int addr, uint16_t *w)
{
	uint32_t v;

	wr(d, PVK_E1000_EERD, addr << 8 | PVK_E1000_EERD_START);
	for (int i = 0; i < SPIN; i++) {
		v = rd(d, PVK_E1000_EERD);
		if (d->g->err)
			return d->g->err;
		if (v & PVK_E1000_EERD_DONE) {
			*w = (uint16_t)(v >> 16);
			return 0;
		}
	}
	return -EIO;
}

static int reset(struct pvk_e1000g *d)
{
	wr(d, PVK_E1000_CTRL, PVK_E1000_CTRL_RST);
	for (int i = 0; i < SPIN; i++) {
		if (!(rd(d, PVK_E1000_CTRL) & PVK_E1000_CTRL_RST))
			break;
	}
	if (d->g->err)
		return d->g->err;
	if (rd(d, PVK_E1000_CTRL) & PVK_E1000_CTRL_RST)
		return -EIO;
	wr(d, PVK_E1000_IMC, ~0u);
	(void)rd(d, PVK_E1000_ICR);
	return d->g->err;
}

static int read_mac(struct pvk_e1000g *d)
{
	uint16_t w = 0, sum = 0;
	int ret;

	for (unsigned int i = 0; i < 64; i++) {
		ret = eeprom_word(d, i, &w);
		if (ret < 0)
			return ret;
		if (i < 3) {
			d->mac[2 * i] = (uint8_t)w;
			d->mac[2 * i + 1] = (uint8_t)(w >> 8);
		}
		sum = (uint16_t)(sum + w);
	}
	return sum == 0xbaba ? 0 : -EIO;
}

static void setup_rings(struct pvk_e1000g *d)
{
	uint64_t tx = d->mem, rx = d->mem + RX_RING_OFF;

	memset(d->g->ram + d->mem, 0, BUF_OFF);
	for (unsigned int i = 0; i < RXN; i++)
		put_desc(rxd(d, i), rx_buf(d, i), 0, 0);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	wr(d, PVK_E1000_TDBAL, (uint32_t)tx);
	wr(d, PVK_E1000_TDBAH, (uint32_t)(tx >> 32));
	wr(d, PVK_E1000_TDLEN, TXN * 16);
	wr(d, PVK_E1000_TDH, 0);
	wr(d, PVK_E1000_TDT, 0);
	wr(d, PVK_E1000_TIPG, PVK_E1000_TIPG_COPPER);
	wr(d, PVK_E1000_TCTL,
	   PVK_E1000_TCTL_EN | PVK_E1000_TCTL_PSP | PVK_E1000_TCTL_CT |
		   PVK_E1000_TCTL_COLD);
	wr(d, PVK_E1000_RDBAL, (uint32_t)rx);
	wr(d, PVK_E1000_RDBAH, (uint32_t)(rx >> 32));
	wr(d, PVK_E1000_RDLEN, RXN * 16);
	wr(d, PVK_E1000_RDH, 0);
	d->rdt = RXN - 1; /* one slot empty: head == tail means none */
	wr(d, PVK_E1000_RDT, d->rdt);
	wr(d, PVK_E1000_RCTL,
	   PVK_E1000_RCTL_EN | PVK_E1000_RCTL_BAM | PVK_E1000_RCTL_LPE |
		   PVK_E1000_RCTL_SECRC);
}

int pvk_e1000g_open(struct pvk_e1000g **out, struct pvk_gio *g, uint64_t mmio,
		    uint64_t mem, unsigned int irq)
{
	struct pvk_e1000g *d;
	int ret;

	*out = NULL;
	if (irq > 15 || mem % 4096 || mem > g->ram_size ||
	    PVK_E1000G_MEM_SIZE > g->ram_size - mem)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	*d = (struct pvk_e1000g){ .g = g, .mmio = mmio, .mem = mem, .irq = irq };
	ret = reset(d);
	if (ret < 0)
		goto free_drv;
	ret = read_mac(d);
	if (ret < 0)
		goto reset_nic;
	wr(d, PVK_E1000_RAL0,
	   d->mac[0] | d->mac[1] << 8 | d->mac[2] << 16 |
		   (uint32_t)d->mac[3] << 24);
	wr(d, PVK_E1000_RAH0, d->mac[4] | d->mac[5] << 8 | PVK_E1000_RAH_AV);
	setup_rings(d);
	wr(d, PVK_E1000_IMS,
	   PVK_E1000_ICR_RXT0 | PVK_E1000_ICR_RXO | PVK_E1000_ICR_LSC);
	wr(d, PVK_E1000_CTRL, PVK_E1000_CTRL_FD | PVK_E1000_CTRL_SLU);
	d->st.icr |= rd(d, PVK_E1000_ICR); /* LSC: the line goes low again */
	ret = g->err;
	if (ret < 0)
		goto reset_nic;
	*out = d;
	return 0;

reset_nic:
	wr(d, PVK_E1000_CTRL, PVK_E1000_CTRL_RST);
free_drv:
	free(d);
	return ret;
}

void pvk_e1000g_close(struct pvk_e1000g *d)
{
	if (!d)
		return;
	wr(d, PVK_E1000_CTRL, PVK_E1000_CTRL_RST);
	free(d);
}

void pvk_e1000g_mac(const struct pvk_e1000g *d, uint8_t mac[6])
{
	memcpy(mac, d->mac, 6);
}

void pvk_e1000g_stats(const struct pvk_e1000g *d, struct pvk_e1000g_stats *st)
{
	*st = d->st;
}

/* ------------------------------------------------------------------ */

static unsigned int tx_room(struct pvk_e1000g *d)
{
	while (d->tx_clean != d->tx_tail &&
	       (status(txd(d, d->tx_clean)) & PVK_E1000_RXD_STA_DD))
		d->tx_clean = (d->tx_clean + 1) % TXN;
	return TXN - 1 - (d->tx_tail + TXN - d->tx_clean) % TXN;
}

int pvk_e1000g_send(struct pvk_e1000g *d, const void *frame, size_t len)
{
	const uint8_t *p = frame;
	unsigned int need =
		(unsigned int)((len + PVK_E1000G_BUF - 1) / PVK_E1000G_BUF);
	size_t chunk;

	if (len < 14 || len > PVK_E1000G_FRAME_MAX)
		return -EMSGSIZE;
	if (tx_room(d) < need)
		return -EAGAIN;
	for (unsigned int k = 0; k < need; k++, len -= chunk) {
		unsigned int i = d->tx_tail;

		chunk = len < PVK_E1000G_BUF ? len : PVK_E1000G_BUF;
		memcpy(d->g->ram + tx_buf(d, i), p + k * PVK_E1000G_BUF, chunk);
		put_desc(txd(d, i), tx_buf(d, i), (uint16_t)chunk,
			 PVK_E1000_TXD_RS | PVK_E1000_TXD_IFCS |
				 (k + 1 == need ? PVK_E1000_TXD_EOP : 0));
		d->tx_tail = (i + 1) % TXN;
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	wr(d, PVK_E1000_TDT, d->tx_tail);
	d->st.tx_frames++;
	return d->g->err;
}

/* Give the descriptors taken back to the NIC. */
static void rx_flush(struct pvk_e1000g *d)
{
	if (!d->rx_free)
		return;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	d->rdt = (d->rdt + d->rx_free) % RXN;
	d->rx_free = 0;
	wr(d, PVK_E1000_RDT, d->rdt);
}

/* One whole frame from the ring, or -EAGAIN. */
static int rx_take(struct pvk_e1000g *d, uint8_t *out, size_t cap)
{
	unsigned int k = 0, i;
	size_t got = 0, n;
	bool bad = false, big = false;
	uint8_t st, *desc;

	for (;;) {
		i = (d->rx_next + k) % RXN;
		desc = rxd(d, i);
		st = status(desc);
		if (!(st & PVK_E1000_RXD_STA_DD))
			return -EAGAIN; /* none, or not whole yet */
		k++;
		n = desc[8] | (size_t)desc[9] << 8;
		if (desc[13] || n > PVK_E1000G_BUF)
			bad = true;
		else if (n > cap - got)
			big = true;
		else if (!bad && !big) {
			memcpy(out + got, d->g->ram + rx_buf(d, i), n);
			got += n;
		}
		if (st & PVK_E1000_RXD_STA_EOP)
			break;
		if (k == RXN - 1) {
			bad = true; /* more than the NIC may hold */
			break;
		}
	}
	for (unsigned int j = 0; j < k; j++)
		put_desc(rxd(d, (d->rx_next + j) % RXN),
			 rx_buf(d, (d->rx_next + j) % RXN), 0, 0);
	d->rx_next = (d->rx_next + k) % RXN;
	d->rx_free += k;
	if (d->rx_free >= PVK_E1000G_RX_BATCH)
		rx_flush(d);
	if (bad || big) {
		d->st.rx_errors++;
		return bad ? -EIO : -EMSGSIZE;
	}
	d->st.rx_frames++;
	return (int)got;
}

int pvk_e1000g_recv(struct pvk_e1000g *d, void *buf, size_t len, int timeout_ms)
{
	struct pollfd p = { .fd = d->g->irq_fd, .events = POLLIN };
	long long end = (long long)pvk_spin_clock_ms() + timeout_ms, left;
	bool armed = false;
	uint16_t lines;
	int ret;

	for (;;) {
		ret = rx_take(d, buf, len);
		if (ret != -EAGAIN)
			return ret;
		if (d->g->err)
			return d->g->err;
		if (!timeout_ms) {
			rx_flush(d);
			return -ETIMEDOUT;
		}
		if (!armed) {
			/* Clear the causes (the line goes low, so the next
			 * one is an edge), take the wake-up, look again. */
			rx_flush(d);
			d->st.icr |= rd(d, PVK_E1000_ICR);
			pvk_gio_irqs(d->g, &lines);
			armed = true;
			continue;
		}
		left = timeout_ms < 0 ? -1 :
					end - (long long)pvk_spin_clock_ms();
		if (timeout_ms >= 0 && left <= 0)
			return -ETIMEDOUT;
		d->st.waits++;
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return -errno;
		armed = false;
	}
}
