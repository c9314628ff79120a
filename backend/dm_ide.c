/* SPDX-License-Identifier: MIT */
/*
 * An emulated PIIX IDE disk (pvkit/dm_ide.h): one ATA disk on the primary
 * channel, PIO through the data port, bus-master DMA through io_uring.
 *
 * One command at a time: while the disk has I/O in flight its status has
 * BSY, so no command (nor a task-file write) is taken; a soft reset or a
 * bus-master stop then waits for that I/O before it takes effect, and the
 * bounce buffer is never shared.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <liburing.h>

#include <pvkit/dm_ide.h>

#define IDE_BUF (128u * 1024) /* bounce buffer: PIO and DMA */
#define BUF_SECTORS (IDE_BUF / PVK_IDE_SECTOR)
#define HEADS 16u
#define SPT 63u
#define LBA28_MAX 0x0fffffffull

enum xfer {
	X_NONE,
	X_PIO_IN, /* DRQ blocks from buf to the host */
	X_PIO_OUT, /* DRQ blocks from the host into buf */
	X_DMA_WAIT, /* DMA command taken, bus master not started */
	X_DMA_RUN, /* bus master moving data */
	X_FLUSH,
};

struct pvk_ide {
	struct pvk_dmodel *dm;
	int fd, efd;
	bool ro, ring_ok;
	uint64_t sectors;
	uint16_t bm_base;
	unsigned int cyls;
	struct io_uring ring;
	uint8_t *buf;
	uint16_t id[256];
	void (*log)(void *arg, const char *line);
	void *log_arg;

	/* Task file: current and previous (HOB) values. */
	uint8_t feat, nsect, lbal, lbam, lbah;
	uint8_t hfeat, hnsect, hlbal, hlbam, hlbah;
	uint8_t select, status, error, ctl;
	bool irq_pending;
	unsigned int irq_level;

	/* The command in progress. */
	enum xfer x;
	bool x_write;
	uint64_t lba; /* next sector to move to or from the disk */
	uint32_t left; /* sectors not yet moved to or from the disk */
	uint32_t pos, len; /* PIO: bytes of buf done, bytes in buf */
	uint32_t io_n; /* sectors of the I/O in flight */
	bool inflight, abort, reset_pending;

	/* Bus master: registers, then the PRD walk of the command. */
	uint8_t bm_cmd, bm_status;
	uint32_t bm_prd;
	uint64_t prd_next, seg_addr;
	uint32_t prd_n, seg_left;
	bool prd_eot;

	struct pvk_ide_stats st;
};

static void ide_log(struct pvk_ide *d, const char *fmt, ...)
{
	char line[160];
	va_list ap;

	if (!d->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	d->log(d->log_arg, line);
}

/* ------------------------------------------------------------------ */
/* IDENTIFY                                                             */

static void id_string(uint16_t *w, const char *s, unsigned int words)
{
	size_t n = strlen(s);

	for (unsigned int i = 0; i < words * 2; i++) {
		uint8_t c = i < n ? (uint8_t)s[i] : ' ';

		if (i % 2)
			w[i / 2] |= c;
		else
			w[i / 2] = (uint16_t)(c << 8);
	}
}

static void id_checksum(struct pvk_ide *d)
{
	uint8_t sum = 0xa5;

	for (unsigned int i = 0; i < 255; i++)
		sum += (uint8_t)(d->id[i] + (d->id[i] >> 8));
	d->id[255] = (uint16_t)(0xa5 | (uint8_t)-sum << 8);
}

static void id_build(struct pvk_ide *d, const struct pvk_ide_config *cfg)
{
	uint16_t *w = d->id;
	uint64_t lba28 = d->sectors < LBA28_MAX ? d->sectors : LBA28_MAX;
	uint64_t chs = (uint64_t)d->cyls * HEADS * SPT;

	memset(w, 0, sizeof(d->id));
	w[0] = 0x0040; /* fixed ATA device */
	w[1] = (uint16_t)d->cyls;
	w[3] = HEADS;
	w[6] = SPT;
	id_string(&w[10], cfg->serial ? cfg->serial : "PVKIT0000001", 10);
	id_string(&w[23], "pvkit1.0", 4);
	id_string(&w[27], cfg->model ? cfg->model : "pvkit emulated disk", 20);
	w[47] = 0x8000; /* no READ/WRITE MULTIPLE */
	w[49] = 0x0b00; /* IORDY, LBA, DMA */
	w[50] = 0x4000;
	w[51] = 0x0200;
	w[53] = 0x0007; /* words 54-58, 64-70 and 88 valid */
	w[54] = (uint16_t)d->cyls;
	w[55] = HEADS;
	w[56] = SPT;
	w[57] = (uint16_t)chs;
	w[58] = (uint16_t)(chs >> 16);
	w[60] = (uint16_t)lba28;
	w[61] = (uint16_t)(lba28 >> 16);
	w[63] = 0x0007; /* MWDMA 0-2 */
	w[64] = 0x0003; /* PIO 3-4 */
	w[65] = w[66] = w[67] = w[68] = 120;
	w[80] = 0x01f0; /* ATA-4 .. ATA8-ACS */
	w[82] = 0x0060; /* look-ahead, write cache */
	w[83] = 0x7400; /* FLUSH CACHE EXT, FLUSH CACHE, 48-bit */
	w[84] = 0x4000;
	w[85] = 0x0060;
	w[86] = 0x3400;
	w[87] = 0x4000;
	w[88] = 0x203f; /* UDMA 0-5, UDMA 5 selected */
	w[93] = 0x600b; /* 80-conductor cable, device 0 passed */
	for (unsigned int i = 0; i < 4; i++)
		w[100 + i] = (uint16_t)(d->sectors >> (16 * i));
	w[106] = 0x4000;
	id_checksum(d);
}

/* ------------------------------------------------------------------ */
/* status and interrupts                                                */

static void irq_update(struct pvk_ide *d)
{
	unsigned int level = d->irq_pending && !(d->ctl & PVK_ATA_CTL_NIEN);

	if (level != d->irq_level) {
		d->irq_level = level;
		pvk_dmodel_set_irq(d->dm, PVK_IDE_IRQ, level);
	}
}

static void irq_raise(struct pvk_ide *d)
{
	if (!(d->ctl & PVK_ATA_CTL_NIEN)) {
		d->bm_status |= PVK_BM_ST_INTR;
		d->st.irqs++;
	}
	d->irq_pending = true;
	irq_update(d);
}

static void irq_clear(struct pvk_ide *d)
{
	d->irq_pending = false;
	irq_update(d);
}

static void done(struct pvk_ide *d, bool irq)
{
	d->x = X_NONE;
	d->status = PVK_ATA_ST_DRDY | PVK_ATA_ST_DSC;
	if (irq)
		irq_raise(d);
}

static void fail(struct pvk_ide *d, uint8_t error)
{
	d->x = X_NONE;
	d->status = PVK_ATA_ST_DRDY | PVK_ATA_ST_DSC | PVK_ATA_ST_ERR;
	d->error = error;
	d->st.errors++;
	irq_raise(d);
}

static void signature(struct pvk_ide *d)
{
	d->nsect = d->lbal = 1;
	d->lbam = d->lbah = 0;
	d->select = 0;
	d->error = 0x01; /* no error detected */
	d->x = X_NONE;
	d->status = PVK_ATA_ST_DRDY | PVK_ATA_ST_DSC;
}

/* ------------------------------------------------------------------ */
/* disk I/O                                                             */

static bool wcache(const struct pvk_ide *d)
{
	return d->id[85] & 0x0020;
}

static int submit(struct pvk_ide *d, enum xfer kind, uint32_t n)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);
	uint64_t off = d->lba * PVK_IDE_SECTOR;
	int ret;

	if (!sqe)
		return -EBUSY;
	if (kind == X_FLUSH)
		io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
	else if (d->x_write)
		io_uring_prep_write(sqe, d->fd, d->buf, n * PVK_IDE_SECTOR,
				    off);
	else
		io_uring_prep_read(sqe, d->fd, d->buf, n * PVK_IDE_SECTOR, off);
	if (kind != X_FLUSH && d->x_write && !wcache(d))
		sqe->rw_flags = RWF_DSYNC;
	ret = io_uring_submit(&d->ring);
	if (ret < 0)
		return ret;
	d->io_n = n;
	d->inflight = true;
	d->status = PVK_ATA_ST_BSY | PVK_ATA_ST_DRDY;
	return 0;
}

static int pio_disk(struct pvk_ide *d, uint32_t n)
{
	size_t len = (size_t)n * PVK_IDE_SECTOR;
	off_t off = (off_t)(d->lba * PVK_IDE_SECTOR);
	struct iovec iov = { .iov_base = d->buf, .iov_len = len };
	ssize_t r;

	if (d->x_write)
		r = pwritev2(d->fd, &iov, 1, off, wcache(d) ? 0 : RWF_DSYNC);
	else
		r = preadv2(d->fd, &iov, 1, off, 0);
	if (r != (ssize_t)len)
		return r < 0 ? -errno : -EIO;
	d->lba += n;
	d->left -= n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* bus master                                                           */

/* Move @len bytes between buf and the guest memory the PRD table
 * describes, from where the walk stands.  0, or -ENOSPC (the table ended
 * first), -E2BIG (too many entries), -EFAULT (outside guest memory). */
static int prd_move(struct pvk_ide *d, uint32_t len, bool to_guest)
{
	uint8_t *p = d->buf;
	uint32_t e[2], n, c;
	int ret;

	while (len) {
		if (!d->seg_left) {
			if (d->prd_eot)
				return -ENOSPC;
			if (d->prd_n == PVK_IDE_PRD_MAX)
				return -E2BIG;
			if (pvk_dmodel_dma_read(d->dm, d->prd_next, e,
						sizeof(e)) < 0)
				return -EFAULT;
			d->prd_next += sizeof(e);
			d->prd_n++;
			d->seg_addr = le32toh(e[0]) & ~1u;
			c = le32toh(e[1]) & 0xfffe;
			d->seg_left = c ? c : 0x10000;
			d->prd_eot = le32toh(e[1]) & PVK_BM_PRD_EOT;
		}
		n = len < d->seg_left ? len : d->seg_left;
		ret = to_guest ?
			      pvk_dmodel_dma_write(d->dm, d->seg_addr, p, n) :
			      pvk_dmodel_dma_read(d->dm, d->seg_addr, p, n);
		if (ret < 0)
			return -EFAULT;
		d->st.dma_bytes += n;
		d->seg_addr += n;
		d->seg_left -= n;
		p += n;
		len -= n;
	}
	return 0;
}

static void dma_fail(struct pvk_ide *d, int err)
{
	const char *why =
		err == -ENOSPC ? "PRD table shorter than the transfer" :
		err == -E2BIG  ? "more PRD entries than the limit" :
		err == -EFAULT ? "PRD entry or buffer outside RAM" :
				 "bus master direction is not the command's";

	ide_log(d, "ide: DMA at LBA %llu, PRD entry %u: %s; ERR/ABRT",
		(unsigned long long)d->lba, d->prd_n, why);
	d->bm_status =
		(uint8_t)((d->bm_status & ~PVK_BM_ST_ACTIVE) | PVK_BM_ST_ERR);
	fail(d, PVK_ATA_ER_ABRT);
}

/* The next chunk of a running DMA, or its end. */
static void dma_next(struct pvk_ide *d)
{
	uint32_t n = d->left < BUF_SECTORS ? d->left : BUF_SECTORS;
	int ret;

	if (!n) {
		/* Active stays set if the table goes on (SFF-8038i). */
		if (d->prd_eot && !d->seg_left)
			d->bm_status &= (uint8_t)~PVK_BM_ST_ACTIVE;
		done(d, true);
		return;
	}
	if (d->x_write) {
		ret = prd_move(d, n * PVK_IDE_SECTOR, false);
		if (ret < 0) {
			dma_fail(d, ret);
			return;
		}
	}
	if (submit(d, X_DMA_RUN, n) < 0)
		fail(d, PVK_ATA_ER_ABRT);
}

static void dma_start(struct pvk_ide *d)
{
	bool to_guest = d->bm_cmd & PVK_BM_CMD_READ;

	if (to_guest == d->x_write) {
		dma_fail(d, -EINVAL);
		return;
	}
	d->x = X_DMA_RUN;
	d->prd_next = d->bm_prd;
	d->prd_n = 0;
	d->seg_left = 0;
	d->prd_eot = false;
	dma_next(d);
}

static uint8_t bm_read(struct pvk_ide *d, unsigned int off)
{
	switch (off) {
	case PVK_BM_CMD:
		return d->bm_cmd;
	case PVK_BM_STATUS:
		return d->bm_status;
	}
	if (off >= PVK_BM_PRD && off < PVK_BM_PRD + 4)
		return (uint8_t)(d->bm_prd >> (8 * (off - PVK_BM_PRD)));
	return 0;
}

static void bm_write(struct pvk_ide *d, unsigned int off, uint8_t v)
{
	uint32_t shift;

	switch (off) {
	case PVK_BM_CMD:
		if (!(d->bm_cmd & PVK_BM_CMD_START)) {
			d->bm_cmd = v & (PVK_BM_CMD_START | PVK_BM_CMD_READ);
			if (!(v & PVK_BM_CMD_START))
				break;
			d->bm_status |= PVK_BM_ST_ACTIVE;
			if (d->x == X_DMA_WAIT)
				dma_start(d);
		} else if (!(v & PVK_BM_CMD_START)) {
			/* Stop: a running transfer is aborted. */
			d->bm_cmd = v & PVK_BM_CMD_READ;
			d->bm_status &= (uint8_t)~PVK_BM_ST_ACTIVE;
			if (d->x == X_DMA_RUN && d->inflight)
				d->abort = true;
			else if (d->x == X_DMA_RUN)
				fail(d, PVK_ATA_ER_ABRT);
		}
		break;
	case PVK_BM_STATUS:
		d->bm_status &=
			(uint8_t) ~(v & (PVK_BM_ST_ERR | PVK_BM_ST_INTR));
		d->bm_status =
			(uint8_t)((d->bm_status &
				   ~(PVK_BM_ST_DMA0 | PVK_BM_ST_DMA1)) |
				  (v & (PVK_BM_ST_DMA0 | PVK_BM_ST_DMA1)));
		break;
	case PVK_BM_PRD:
	case PVK_BM_PRD + 1:
	case PVK_BM_PRD + 2:
	case PVK_BM_PRD + 3:
		shift = 8 * (off - PVK_BM_PRD);
		d->bm_prd = (d->bm_prd & ~(0xffu << shift)) |
			    ((uint32_t)v << shift);
		d->bm_prd &= ~3u;
		break;
	}
}

/* ------------------------------------------------------------------ */
/* commands                                                             */

/* The command's sectors from the task file; false (IDNF) outside the
 * disk. */
static bool range(struct pvk_ide *d, bool ext, uint64_t *lba, uint32_t *n)
{
	unsigned int head = d->select & 0x0f, sec = d->lbal;
	uint64_t cyl = d->lbam | (unsigned int)d->lbah << 8;

	if (ext) {
		*lba = d->lbal | (uint64_t)d->lbam << 8 |
		       (uint64_t)d->lbah << 16 | (uint64_t)d->hlbal << 24 |
		       (uint64_t)d->hlbam << 32 | (uint64_t)d->hlbah << 40;
		*n = d->nsect | (uint32_t)d->hnsect << 8;
		*n = *n ? *n : 65536;
	} else {
		*n = d->nsect ? d->nsect : 256;
		if (d->select & PVK_ATA_DEV_LBA) {
			*lba = d->lbal | (uint64_t)d->lbam << 8 |
			       (uint64_t)d->lbah << 16 | (uint64_t)head << 24;
		} else {
			if (!sec || sec > SPT)
				return false;
			*lba = (cyl * HEADS + head) * SPT + sec - 1;
		}
	}
	return *lba < d->sectors && *n <= d->sectors - *lba;
}

static void rw_command(struct pvk_ide *d, bool ext, bool write, bool dma)
{
	if (!range(d, ext, &d->lba, &d->left)) {
		fail(d, PVK_ATA_ER_IDNF);
		return;
	}
	if (write && d->ro) {
		fail(d, PVK_ATA_ER_ABRT);
		return;
	}
	d->x_write = write;
	if (dma) {
		d->x = X_DMA_WAIT;
		d->status = PVK_ATA_ST_BSY | PVK_ATA_ST_DRDY;
		if (d->bm_status & PVK_BM_ST_ACTIVE)
			dma_start(d);
		return;
	}
	d->pos = 0;
	d->len = (d->left < BUF_SECTORS ? d->left : BUF_SECTORS) *
		 PVK_IDE_SECTOR;
	if (write) {
		/* The first block is asked for without an interrupt. */
		d->x = X_PIO_OUT;
		d->status = PVK_ATA_ST_DRDY | PVK_ATA_ST_DSC | PVK_ATA_ST_DRQ;
		return;
	}
	if (pio_disk(d, d->len / PVK_IDE_SECTOR) < 0) {
		fail(d, PVK_ATA_ER_UNC);
		return;
	}
	d->x = X_PIO_IN;
	d->status = PVK_ATA_ST_DRDY | PVK_ATA_ST_DSC | PVK_ATA_ST_DRQ;
	irq_raise(d);
}

static void set_features(struct pvk_ide *d)
{
	unsigned int mode = d->nsect;

	switch (d->feat) {
	case 0x03: /* transfer mode, from the count register */
		if (mode <= 0x01 || (mode >= 0x08 && mode <= 0x0c))
			break;
		if (mode >= 0x20 && mode <= 0x22) {
			d->id[63] = (uint16_t)(0x0007 | 0x100 << (mode & 7));
			d->id[88] &= 0x003f;
		} else if (mode >= 0x40 && mode <= 0x45) {
			d->id[88] = (uint16_t)(0x003f | 0x100 << (mode & 7));
			d->id[63] &= 0x0007;
		} else {
			fail(d, PVK_ATA_ER_ABRT);
			return;
		}
		break;
	case 0x02: /* write cache on, off */
	case 0x82:
		d->id[85] = (uint16_t)((d->id[85] & ~0x0020) |
				       (d->feat == 0x02 ? 0x0020 : 0));
		break;
	case 0xaa: /* read look-ahead on, off */
	case 0x55:
		d->id[85] = (uint16_t)((d->id[85] & ~0x0040) |
				       (d->feat == 0xaa ? 0x0040 : 0));
		break;
	default:
		fail(d, PVK_ATA_ER_ABRT);
		return;
	}
	id_checksum(d);
	done(d, true);
}

static void command(struct pvk_ide *d, uint8_t cmd)
{
	if (d->status & PVK_ATA_ST_BSY)
		return;
	if ((d->select & PVK_ATA_DEV_DEV) && cmd != PVK_ATA_EXEC_DIAG)
		return; /* for device 1, which is absent */
	d->st.commands++;
	irq_clear(d);
	d->error = 0;
	d->x = X_NONE;
	d->status = PVK_ATA_ST_DRDY | PVK_ATA_ST_DSC;
	switch (cmd) {
	case PVK_ATA_IDENTIFY:
		for (unsigned int i = 0; i < 256; i++) {
			d->buf[2 * i] = (uint8_t)d->id[i];
			d->buf[2 * i + 1] = (uint8_t)(d->id[i] >> 8);
		}
		d->pos = 0;
		d->len = PVK_IDE_SECTOR;
		d->left = 0;
		d->x = X_PIO_IN;
		d->status |= PVK_ATA_ST_DRQ;
		irq_raise(d);
		break;
	case PVK_ATA_READ_SECTORS:
	case PVK_ATA_READ_SECTORS_EXT:
		rw_command(d, cmd == PVK_ATA_READ_SECTORS_EXT, false, false);
		break;
	case PVK_ATA_WRITE_SECTORS:
	case PVK_ATA_WRITE_SECTORS_EXT:
		rw_command(d, cmd == PVK_ATA_WRITE_SECTORS_EXT, true, false);
		break;
	case PVK_ATA_READ_DMA:
	case PVK_ATA_READ_DMA_EXT:
		rw_command(d, cmd == PVK_ATA_READ_DMA_EXT, false, true);
		break;
	case PVK_ATA_WRITE_DMA:
	case PVK_ATA_WRITE_DMA_EXT:
		rw_command(d, cmd == PVK_ATA_WRITE_DMA_EXT, true, true);
		break;
	case PVK_ATA_FLUSH_CACHE:
	case PVK_ATA_FLUSH_CACHE_EXT:
		if (d->ro)
			done(d, true);
		else if (submit(d, X_FLUSH, 0) == 0)
			d->x = X_FLUSH;
		else
			fail(d, PVK_ATA_ER_ABRT);
		break;
	case PVK_ATA_SET_FEATURES:
		set_features(d);
		break;
	case PVK_ATA_EXEC_DIAG:
		signature(d);
		irq_raise(d);
		break;
	case PVK_ATA_CHECK_POWER:
		d->nsect = 0xff; /* active or idle */
		done(d, true);
		break;
	case PVK_ATA_STANDBY_IMM:
	case PVK_ATA_IDLE_IMM:
		done(d, true);
		break;
	default:
		fail(d, PVK_ATA_ER_ABRT);
		break;
	}
}

/* The end of the I/O in flight. */
static void complete(struct pvk_ide *d, int res)
{
	uint32_t len = d->io_n * PVK_IDE_SECTOR;
	int ret;

	d->inflight = false;
	if (d->reset_pending) {
		d->reset_pending = false;
		d->abort = false;
		signature(d);
		return;
	}
	if (d->ctl & PVK_ATA_CTL_SRST) {
		d->abort = false;
		return; /* still in reset: BSY until SRST is cleared */
	}
	if (d->abort) {
		d->abort = false;
		fail(d, PVK_ATA_ER_ABRT);
		return;
	}
	if (d->x == X_FLUSH) {
		if (res < 0)
			fail(d, PVK_ATA_ER_ABRT);
		else
			done(d, true);
		return;
	}
	if (d->x != X_DMA_RUN)
		return;
	if (res != (int)len) {
		fail(d, d->x_write ? PVK_ATA_ER_ABRT : PVK_ATA_ER_UNC);
		return;
	}
	if (!d->x_write) {
		ret = prd_move(d, len, true);
		if (ret < 0) {
			dma_fail(d, ret);
			return;
		}
	}
	d->lba += d->io_n;
	d->left -= d->io_n;
	dma_next(d);
}

/* ------------------------------------------------------------------ */
/* registers                                                            */

static uint16_t data_in(struct pvk_ide *d)
{
	uint16_t v;

	if (d->x != X_PIO_IN || (d->select & PVK_ATA_DEV_DEV))
		return 0;
	v = (uint16_t)(d->buf[d->pos] | d->buf[d->pos + 1] << 8);
	d->pos += 2;
	d->st.pio_bytes += 2;
	if (d->pos % PVK_IDE_SECTOR)
		return v;
	/* The end of a DRQ block: the next one interrupts. */
	if (d->pos < d->len) {
		irq_raise(d);
	} else if (!d->left) {
		done(d, false);
	} else {
		d->pos = 0;
		d->len = (d->left < BUF_SECTORS ? d->left : BUF_SECTORS) *
			 PVK_IDE_SECTOR;
		if (pio_disk(d, d->len / PVK_IDE_SECTOR) < 0)
			fail(d, PVK_ATA_ER_UNC);
		else
			irq_raise(d);
	}
	return v;
}

static void data_out(struct pvk_ide *d, uint16_t v)
{
	if (d->x != X_PIO_OUT || (d->select & PVK_ATA_DEV_DEV))
		return;
	d->buf[d->pos] = (uint8_t)v;
	d->buf[d->pos + 1] = (uint8_t)(v >> 8);
	d->pos += 2;
	d->st.pio_bytes += 2;
	if (d->pos % PVK_IDE_SECTOR)
		return;
	if (d->pos < d->len) {
		irq_raise(d);
		return;
	}
	if (pio_disk(d, d->len / PVK_IDE_SECTOR) < 0) {
		fail(d, PVK_ATA_ER_ABRT);
		return;
	}
	if (!d->left) {
		done(d, true);
		return;
	}
	d->pos = 0;
	d->len = (d->left < BUF_SECTORS ? d->left : BUF_SECTORS) *
		 PVK_IDE_SECTOR;
	irq_raise(d);
}

static uint8_t status_of(struct pvk_ide *d)
{
	return (d->select & PVK_ATA_DEV_DEV) ? 0 : d->status;
}

static uint8_t ata_read(struct pvk_ide *d, unsigned int reg)
{
	bool hob = d->ctl & PVK_ATA_CTL_HOB;

	switch (reg) {
	case PVK_ATA_ERROR:
		return d->error;
	case PVK_ATA_COUNT:
		return hob ? d->hnsect : d->nsect;
	case PVK_ATA_LBA_LOW:
		return hob ? d->hlbal : d->lbal;
	case PVK_ATA_LBA_MID:
		return hob ? d->hlbam : d->lbam;
	case PVK_ATA_LBA_HIGH:
		return hob ? d->hlbah : d->lbah;
	case PVK_ATA_DEVICE:
		return d->select;
	case PVK_ATA_STATUS:
		if (!(d->select & PVK_ATA_DEV_DEV))
			irq_clear(d);
		return status_of(d);
	}
	return 0xff;
}

static void ata_write(struct pvk_ide *d, unsigned int reg, uint8_t v)
{
	if (d->status & PVK_ATA_ST_BSY)
		return;
	d->ctl &= (uint8_t)~PVK_ATA_CTL_HOB;
	switch (reg) {
	case PVK_ATA_FEATURE:
		d->hfeat = d->feat;
		d->feat = v;
		break;
	case PVK_ATA_COUNT:
		d->hnsect = d->nsect;
		d->nsect = v;
		break;
	case PVK_ATA_LBA_LOW:
		d->hlbal = d->lbal;
		d->lbal = v;
		break;
	case PVK_ATA_LBA_MID:
		d->hlbam = d->lbam;
		d->lbam = v;
		break;
	case PVK_ATA_LBA_HIGH:
		d->hlbah = d->lbah;
		d->lbah = v;
		break;
	case PVK_ATA_DEVICE:
		d->select = v;
		break;
	case PVK_ATA_COMMAND:
		command(d, v);
		break;
	}
}

static void ctl_write(struct pvk_ide *d, uint8_t v)
{
	bool was = d->ctl & PVK_ATA_CTL_SRST;

	d->ctl = v & (PVK_ATA_CTL_NIEN | PVK_ATA_CTL_SRST | PVK_ATA_CTL_HOB);
	if (!was && (v & PVK_ATA_CTL_SRST)) {
		d->x = X_NONE;
		d->status = PVK_ATA_ST_BSY;
		d->irq_pending = false;
		d->reset_pending = false; /* ends when SRST is cleared */
	} else if (was && !(v & PVK_ATA_CTL_SRST)) {
		if (d->inflight)
			d->reset_pending = true; /* BSY until it is done */
		else
			signature(d);
	}
	irq_update(d);
}

static uint8_t reg_read(struct pvk_ide *d, uint64_t port)
{
	if (port > PVK_IDE_CMD_BASE && port <= PVK_IDE_CMD_BASE + 7)
		return ata_read(d, (unsigned int)(port - PVK_IDE_CMD_BASE));
	if (port == PVK_IDE_CTL_PORT)
		return status_of(d); /* Alternate Status: no side effect */
	if (port >= d->bm_base && port < d->bm_base + 8u)
		return bm_read(d, (unsigned int)(port - d->bm_base));
	return port >= d->bm_base && port < d->bm_base + 16u ? 0 : 0xff;
}

static void reg_write(struct pvk_ide *d, uint64_t port, uint8_t v)
{
	if (port > PVK_IDE_CMD_BASE && port <= PVK_IDE_CMD_BASE + 7)
		ata_write(d, (unsigned int)(port - PVK_IDE_CMD_BASE), v);
	else if (port == PVK_IDE_CTL_PORT)
		ctl_write(d, v);
	else if (port >= d->bm_base && port < d->bm_base + 8u)
		bm_write(d, (unsigned int)(port - d->bm_base), v);
}

/* Wider accesses than a byte go to consecutive registers, as the bus
 * splits them; the data port moves 16-bit words. */
static uint64_t ide_read(void *dev, enum pvk_dm_space space, uint64_t addr,
			 unsigned int size)
{
	struct pvk_ide *d = dev;
	uint64_t v = 0;

	if (space != PVK_DM_PORT)
		return ~0ull;
	if (addr == PVK_IDE_CMD_BASE) {
		v = data_in(d);
		if (size == 4)
			v |= (uint64_t)data_in(d) << 16;
		return v;
	}
	for (unsigned int i = 0; i < size; i++)
		v |= (uint64_t)reg_read(d, addr + i) << (8 * i);
	return v;
}

static void ide_write(void *dev, enum pvk_dm_space space, uint64_t addr,
		      unsigned int size, uint64_t val)
{
	struct pvk_ide *d = dev;

	if (space != PVK_DM_PORT)
		return;
	if (addr == PVK_IDE_CMD_BASE) {
		data_out(d, (uint16_t)val);
		if (size == 4)
			data_out(d, (uint16_t)(val >> 16));
		return;
	}
	for (unsigned int i = 0; i < size; i++)
		reg_write(d, addr + i, (uint8_t)(val >> (8 * i)));
}

static int ide_fd(void *dev)
{
	return ((struct pvk_ide *)dev)->efd;
}

static void ide_event(void *dev)
{
	struct pvk_ide *d = dev;
	struct io_uring_cqe *cqe;
	uint64_t v;
	int res;

	(void)!read(d->efd, &v, sizeof(v));
	while (io_uring_peek_cqe(&d->ring, &cqe) == 0) {
		res = cqe->res;
		io_uring_cqe_seen(&d->ring, cqe);
		if (d->inflight)
			complete(d, res);
	}
}

static const struct pvk_dmodel_dev_ops ide_ops = {
	.name = "piix-ide",
	.read = ide_read,
	.write = ide_write,
	.fd = ide_fd,
	.event = ide_event,
};

/* ------------------------------------------------------------------ */
/* life                                                                 */

static int disk_open(struct pvk_ide *d, const struct pvk_ide_config *cfg)
{
	int flags = (cfg->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	uint64_t bytes;
	struct stat st;
	ssize_t n;

	d->fd = cfg->no_direct ? -1 : open(cfg->path, flags | O_DIRECT);
	if (d->fd >= 0) {
		/* Some file systems open O_DIRECT and refuse the I/O. */
		n = pread(d->fd, d->buf, PVK_IDE_SECTOR, 0);
		if (n < 0 && errno == EINVAL) {
			close(d->fd);
			d->fd = -1;
		}
	}
	if (d->fd < 0)
		d->fd = open(cfg->path, flags);
	if (d->fd < 0)
		return -errno;
	if (fstat(d->fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(d->fd, BLKGETSIZE64, &bytes) < 0)
			return -errno;
	} else if (S_ISREG(st.st_mode)) {
		bytes = (uint64_t)st.st_size;
	} else {
		return -EINVAL;
	}
	d->sectors = bytes / PVK_IDE_SECTOR;
	if (d->sectors >> 48) /* beyond LBA48 */
		d->sectors = (1ull << 48) - 1;
	return d->sectors ? 0 : -EINVAL;
}

int pvk_ide_create(struct pvk_ide **out, struct pvk_dmodel *dm,
		   const struct pvk_ide_config *cfg)
{
	struct pvk_ide *d;
	void *buf;
	int ret;

	*out = NULL;
	if (!dm || !cfg || !cfg->path || !cfg->bm_base || (cfg->bm_base & 15) ||
	    cfg->bm_base > 0xfff0)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fd = d->efd = -1;
	ret = -ENOMEM;
	if (posix_memalign(&buf, PVK_PAGE_SIZE, IDE_BUF))
		goto destroy;
	d->buf = buf;
	memset(d->buf, 0, IDE_BUF); /* the kernel fills it behind valgrind */
	d->dm = dm;
	d->ro = cfg->read_only;
	d->bm_base = cfg->bm_base;
	d->log = cfg->log;
	d->log_arg = cfg->log_arg;
	ret = disk_open(d, cfg);
	if (ret < 0)
		goto destroy;
	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->efd < 0) {
		ret = -errno;
		goto destroy;
	}
	ret = io_uring_queue_init(4, &d->ring, 0);
	if (ret < 0)
		goto destroy;
	d->ring_ok = true;
	ret = io_uring_register_eventfd(&d->ring, d->efd);
	if (ret < 0)
		goto destroy;
	d->cyls = (unsigned int)(d->sectors / (HEADS * SPT));
	d->cyls = d->cyls < 16383 ? d->cyls : 16383;
	id_build(d, cfg);
	signature(d);
	d->bm_status = PVK_BM_ST_DMA0;
	*out = d;
	return 0;

destroy:
	pvk_ide_destroy(d);
	return ret;
}

int pvk_ide_attach(struct pvk_ide *d)
{
	int ret;

	ret = pvk_dmodel_add(d->dm, &ide_ops, d, PVK_DM_PORT, PVK_IDE_CMD_BASE,
			     PVK_IDE_CMD_BASE + 7);
	if (ret == 0)
		ret = pvk_dmodel_add(d->dm, &ide_ops, d, PVK_DM_PORT,
				     PVK_IDE_CTL_PORT, PVK_IDE_CTL_PORT);
	if (ret == 0)
		ret = pvk_dmodel_add(d->dm, &ide_ops, d, PVK_DM_PORT,
				     d->bm_base, d->bm_base + 15u);
	return ret;
}

void pvk_ide_destroy(struct pvk_ide *d)
{
	struct io_uring_cqe *cqe;

	if (!d)
		return;
	if (d->ring_ok) {
		/* The kernel may still write the buffer: wait for it. */
		if (d->inflight && io_uring_wait_cqe(&d->ring, &cqe) == 0)
			io_uring_cqe_seen(&d->ring, cqe);
		io_uring_queue_exit(&d->ring);
	}
	if (d->efd >= 0)
		close(d->efd);
	if (d->fd >= 0)
		close(d->fd);
	free(d->buf);
	free(d);
}

uint64_t pvk_ide_sectors(const struct pvk_ide *d)
{
	return d->sectors;
}

void pvk_ide_stats(const struct pvk_ide *d, struct pvk_ide_stats *st)
{
	*st = d->st;
}
