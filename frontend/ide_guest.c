/* SPDX-License-Identifier: MIT */
/*
 * A minimal guest IDE driver (pvkit/ide_guest.h): ATA PIO and bus-master
 * DMA on the primary channel, through pvkit/gio.h only.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include <pvkit/ide_guest.h>
#include <pvkit/spin.h>

#define CMD 0x1f0
#define R_DATA (CMD + 0)
#define R_ERROR (CMD + 1)
#define R_COUNT (CMD + 2)
#define R_LBAL (CMD + 3)
#define R_LBAM (CMD + 4)
#define R_LBAH (CMD + 5)
#define R_DEVICE (CMD + 6)
#define R_STATUS (CMD + 7)
#define R_COMMAND (CMD + 7)
#define R_CTL 0x3f6 /* Alternate Status / Device Control */
#define IRQ 14

#define ST_BSY 0x80
#define ST_DRQ 0x08
#define ST_ERR 0x01
#define ST_DF 0x20
#define DEV_LBA 0xe0 /* LBA, and the obsolete bits 7 and 5 */

#define BM_CMD 0
#define BM_STATUS 2
#define BM_PRD 4
#define BM_START 0x01
#define BM_READ 0x08
#define BM_ERR 0x02
#define BM_INTR 0x04
#define BM_DMA0 0x20
#define PRD_EOT 0x80000000u

#define SECTOR 512u
#define MAX48 16384u /* sectors per EXT command (8 MiB) */

/* Sleep until IRQ 14 is high.  Not a trap: the interrupt controller. */
static int wait_irq(struct pvk_ideg *d)
{
	int64_t end = (int64_t)pvk_spin_clock_ms() + d->timeout_ms, left;
	struct pollfd p = { .fd = d->g->irq_fd, .events = POLLIN };
	uint16_t lines;

	for (;;) {
		if (pvk_gio_irqs(d->g, &lines) == 0 && (lines & (1u << IRQ)))
			return 0;
		left = end - (int64_t)pvk_spin_clock_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		poll(&p, 1, (int)left);
	}
}

/* Read Status (which acknowledges the interrupt) and judge it. */
static int status(struct pvk_ideg *d, bool want_drq)
{
	d->status = pvk_inb(d->g, R_STATUS);
	if (d->g->err)
		return d->g->err;
	if (d->status & (ST_ERR | ST_DF | ST_BSY)) {
		d->error = pvk_inb(d->g, R_ERROR);
		return -EIO;
	}
	return !!(d->status & ST_DRQ) == want_drq ? 0 : -EIO;
}

static int irq_status(struct pvk_ideg *d, bool want_drq)
{
	int ret = wait_irq(d);

	return ret < 0 ? ret : status(d, want_drq);
}

static void taskfile(struct pvk_ideg *d, uint64_t lba, uint32_t n, bool ext,
		     uint8_t cmd)
{
	struct pvk_gio *g = d->g;

	pvk_outb(g, R_DEVICE,
		 (uint8_t)(DEV_LBA | (ext ? 0 : (lba >> 24) & 0x0f)));
	if (ext) {
		pvk_outb(g, R_COUNT, (uint8_t)(n >> 8));
		pvk_outb(g, R_LBAL, (uint8_t)(lba >> 24));
		pvk_outb(g, R_LBAM, (uint8_t)(lba >> 32));
		pvk_outb(g, R_LBAH, (uint8_t)(lba >> 40));
	}
	pvk_outb(g, R_COUNT, (uint8_t)n);
	pvk_outb(g, R_LBAL, (uint8_t)lba);
	pvk_outb(g, R_LBAM, (uint8_t)(lba >> 8));
	pvk_outb(g, R_LBAH, (uint8_t)(lba >> 16));
	pvk_outb(g, R_COMMAND, cmd);
}

static int check(struct pvk_ideg *d, uint64_t lba, uint32_t count, uint64_t gpa)
{
	uint64_t bytes = (uint64_t)count * SECTOR;

	if (!count || lba >= d->sectors || count > d->sectors - lba)
		return -EINVAL;
	if (gpa > d->g->ram_size || bytes > d->g->ram_size - gpa)
		return -EINVAL;
	return 0;
}

/* The sectors of the next command from @lba (0: out of reach): LBA28 if
 * it reaches, else (or for more than 256) EXT. */
static uint32_t chunk(struct pvk_ideg *d, uint64_t lba, uint32_t count,
		      bool *ext)
{
	uint32_t n = count < 256 ? count : 256;

	*ext = false;
	if (d->lba48 && (count > 256 || lba + n > 0x0fffffffull)) {
		*ext = true;
		return count < MAX48 ? count : MAX48;
	}
	return lba + n <= 0x0fffffffull ? n : 0;
}

static int pio(struct pvk_ideg *d, uint64_t lba, uint32_t count, uint64_t gpa,
	       bool write)
{
	uint32_t n;
	bool ext;
	int ret = check(d, lba, count, gpa);

	if (ret < 0)
		return ret;
	while (count) {
		n = chunk(d, lba, count, &ext);
		if (!n)
			return -EINVAL;
		taskfile(d, lba, n, ext,
			 write ? (ext ? 0x34 : 0x30) : (ext ? 0x24 : 0x20));
		if (write) {
			/* The first block comes without an interrupt. */
			int64_t end =
				(int64_t)pvk_spin_clock_ms() + d->timeout_ms;

			while ((d->status = pvk_inb(d->g, R_CTL)) & ST_BSY)
				if (d->g->err ||
				    (int64_t)pvk_spin_clock_ms() > end)
					return d->g->err ? d->g->err :
							   -ETIMEDOUT;
			if (d->status & (ST_ERR | ST_DF)) {
				d->error = pvk_inb(d->g, R_ERROR);
				return -EIO;
			}
			if (!(d->status & ST_DRQ))
				return -EIO;
		}
		for (uint32_t i = 0; i < n; i++) {
			if (!write) {
				ret = irq_status(d, true);
				if (ret < 0)
					return ret;
			}
			ret = d->g->ops->rep(d->g, R_DATA, 2, SECTOR / 2, gpa,
					     !write);
			if (ret < 0)
				return ret;
			gpa += SECTOR;
			if (write) {
				ret = irq_status(d, i + 1 < n);
				if (ret < 0)
					return ret;
			}
		}
		if (!write) {
			/* After the last block: no interrupt; not busy. */
			d->status = pvk_inb(d->g, R_CTL);
			if (d->status & (ST_ERR | ST_DRQ | ST_BSY))
				return -EIO;
		}
		lba += n;
		count -= n;
	}
	return d->g->err;
}

int pvk_ideg_read_pio(struct pvk_ideg *d, uint64_t lba, uint32_t count,
		      uint64_t gpa)
{
	return pio(d, lba, count, gpa, false);
}

int pvk_ideg_write_pio(struct pvk_ideg *d, uint64_t lba, uint32_t count,
		       uint64_t gpa)
{
	return pio(d, lba, count, gpa, true);
}

/* A PRD table for @len bytes at @gpa, no entry crossing 64 KiB. */
static int prd_build(struct pvk_ideg *d, uint64_t gpa, uint64_t len)
{
	uint8_t *t = d->g->ram + d->prd_gpa;
	uint32_t e[2], n, i = 0;

	while (len) {
		if (i == 4096 / sizeof(e) || gpa > 0xffffffffull)
			return -EINVAL;
		n = (uint32_t)(0x10000 - (gpa & 0xffff));
		n = len < n ? (uint32_t)len : n;
		len -= n;
		e[0] = (uint32_t)gpa;
		e[1] = (n & 0xffff) | (len ? 0 : PRD_EOT);
		memcpy(t + i++ * sizeof(e), e, sizeof(e));
		gpa += n;
	}
	return 0;
}

static int dma(struct pvk_ideg *d, uint64_t lba, uint32_t count, uint64_t gpa,
	       bool write)
{
	struct pvk_gio *g = d->g;
	uint8_t dir = write ? 0 : BM_READ;
	uint32_t n;
	bool ext;
	int ret = check(d, lba, count, gpa);

	if (ret < 0)
		return ret;
	if (!d->dma)
		return -ENOTSUP;
	while (count) {
		n = chunk(d, lba, count, &ext);
		if (!n)
			return -EINVAL;
		ret = prd_build(d, gpa, (uint64_t)n * SECTOR);
		if (ret < 0)
			return ret;
		if (d->prd_loaded != (uint32_t)d->prd_gpa) {
			pvk_outl(g, d->bm + BM_PRD, (uint32_t)d->prd_gpa);
			d->prd_loaded = (uint32_t)d->prd_gpa;
		}
		taskfile(d, lba, n, ext,
			 write ? (ext ? 0x35 : 0xca) : (ext ? 0x25 : 0xc8));
		pvk_outb(g, d->bm + BM_CMD, dir | BM_START);
		ret = wait_irq(d);
		d->bm_status = pvk_inb(g, d->bm + BM_STATUS);
		pvk_outb(g, d->bm + BM_CMD, dir);
		if (ret < 0)
			return ret;
		ret = status(d, false);
		pvk_outb(g, d->bm + BM_STATUS, BM_INTR | BM_ERR | BM_DMA0);
		if (ret < 0)
			return ret;
		if ((d->bm_status & (BM_ERR | BM_INTR)) != BM_INTR)
			return -EIO;
		lba += n;
		count -= n;
		gpa += (uint64_t)n * SECTOR;
	}
	return g->err;
}

int pvk_ideg_read_dma(struct pvk_ideg *d, uint64_t lba, uint32_t count,
		      uint64_t gpa)
{
	return dma(d, lba, count, gpa, false);
}

int pvk_ideg_write_dma(struct pvk_ideg *d, uint64_t lba, uint32_t count,
		       uint64_t gpa)
{
	return dma(d, lba, count, gpa, true);
}

int pvk_ideg_flush(struct pvk_ideg *d)
{
	pvk_outb(d->g, R_DEVICE, DEV_LBA);
	pvk_outb(d->g, R_COMMAND, d->lba48 ? 0xea : 0xe7);
	return irq_status(d, false);
}

static void id_string(char *out, const uint16_t *w, unsigned int words)
{
	unsigned int n = words * 2;

	for (unsigned int i = 0; i < words; i++) {
		out[2 * i] = (char)(w[i] >> 8);
		out[2 * i + 1] = (char)w[i];
	}
	while (n && (out[n - 1] == ' ' || !out[n - 1]))
		n--;
	out[n] = 0;
}

int pvk_ideg_probe(struct pvk_ideg *d, struct pvk_gio *g, uint16_t bm_base,
		   uint64_t prd_gpa)
{
	const uint16_t *w = d->id;
	uint8_t st, sum = 0;
	int ret;

	if (prd_gpa % 4096 || prd_gpa > 0xffffffffull ||
	    prd_gpa + 4096 > g->ram_size)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->g = g;
	d->bm = bm_base;
	d->prd_gpa = prd_gpa;
	d->timeout_ms = 5000;
	pvk_outb(g, R_DEVICE, 0xa0);
	st = pvk_inb(g, R_CTL);
	if (st == 0x00 || st == 0xff)
		return g->err ? g->err : -ENODEV;
	pvk_outb(g, R_CTL, 0); /* nIEN clear */
	pvk_outb(g, R_COMMAND, 0xec);
	ret = irq_status(d, true);
	if (ret < 0)
		return ret;
	ret = g->ops->rep(g, R_DATA, 2, 256, prd_gpa, true);
	if (ret < 0)
		return ret;
	memcpy(d->id, g->ram + prd_gpa, sizeof(d->id));
	if ((w[255] & 0xff) == 0xa5) {
		for (unsigned int i = 0; i < 512; i++)
			sum += g->ram[prd_gpa + i];
		if (sum)
			return -EIO;
	}
	if (!(w[49] & 0x0200))
		return -ENOTSUP;
	d->lba48 = (w[83] & 0x0400) && (w[86] & 0x0400);
	d->sectors = d->lba48 ? (uint64_t)w[100] | (uint64_t)w[101] << 16 |
					(uint64_t)w[102] << 32 |
					(uint64_t)w[103] << 48 :
				(uint64_t)w[60] | (uint64_t)w[61] << 16;
	d->dma = w[49] & 0x0100;
	id_string(d->model, &w[27], 20);
	id_string(d->serial, &w[10], 10);
	pvk_outb(g, bm_base + BM_CMD, 0);
	pvk_outb(g, bm_base + BM_STATUS, BM_INTR | BM_ERR | BM_DMA0);
	return g->err;
}
