/* SPDX-License-Identifier: MIT */
/*
 * test-ide: the emulated PIIX IDE disk (pvkit/dm_ide.h) and the guest
 * driver (pvkit/ide_guest.h) on the loop hypervisor.  The guest's vCPU is
 * this thread; the device model runs in another.  Register semantics
 * after ATA8-ACS and SFF-8038i, data integrity through PIO and DMA against
 * the image file, hostile guests (PRD tables, LBAs, counts), trap counts.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvkit/dm_ide.h>
#include <pvkit/dmodel.h>
#include <pvkit/gio.h>
#include <pvkit/ide_guest.h>

#include "../common/t_dmodel.h"

#define BM 0xc000
#define SECTORS 16384u /* 8 MiB */
#define PRD_PAGE 0x1000ull
#define BUF_A 0x100000ull
#define BUF_B 0x400000ull
#define BUF_C 0x81fe00ull /* not 64 KiB aligned */

#define P_CMD PVK_IDE_CMD_BASE
#define P_STATUS (P_CMD + PVK_ATA_STATUS)
#define P_ERROR (P_CMD + PVK_ATA_ERROR)
#define P_COUNT (P_CMD + PVK_ATA_COUNT)
#define P_LBAL (P_CMD + PVK_ATA_LBA_LOW)
#define P_LBAM (P_CMD + PVK_ATA_LBA_MID)
#define P_LBAH (P_CMD + PVK_ATA_LBA_HIGH)
#define P_DEV (P_CMD + PVK_ATA_DEVICE)
#define P_CTL PVK_IDE_CTL_PORT

#define READY (PVK_ATA_ST_DRDY | PVK_ATA_ST_DSC)

struct env {
	struct pvk_loop *loop;
	struct pvk_hv *hv0, *ghv;
	uint32_t guest;
	struct pvk_dmodel *dm;
	struct pvk_ide *ide;
	struct t_dmthread dmt;
	struct pvk_gio *g;
	struct pvk_ideg drv;
	char img[256];
	int img_fd;
	uint64_t sectors;
	unsigned int logs;
};

static void count_log(void *arg, const char *line)
{
	((struct env *)arg)->logs++;
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)random();
}

/* A disk of @bytes (random contents if @fill, else sparse). */
static void up(struct env *e, uint64_t bytes, bool fill, bool ro)
{
	struct pvk_ide_config cfg = {
		.bm_base = BM, .read_only = ro, .log = count_log, .log_arg = e
	};
	const char *dir = getenv("TMPDIR");
	uint8_t *chunk;
	int fd;

	memset(e, 0, sizeof(*e));
	snprintf(e->img, sizeof(e->img), "%s/pvk-ide-XXXXXX",
		 dir && *dir ? dir : "/tmp");
	fd = mkstemp(e->img);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)bytes), 0);
	if (fill) {
		chunk = malloc(1 << 20);
		for (uint64_t off = 0; off < bytes; off += 1 << 20) {
			fill_random(chunk, 1 << 20);
			assert_int_equal(pwrite(fd, chunk, 1 << 20, (off_t)off),
					 1 << 20);
		}
		free(chunk);
	}
	e->img_fd = fd;
	e->sectors = bytes / 512;
	assert_int_equal(pvk_loop_create(&e->loop), 0);
	assert_int_equal(pvk_hv_open_loop(&e->hv0, e->loop, 0), 0);
	assert_int_equal(pvk_loop_domain_create(e->loop, "hvm", &e->guest), 0);
	assert_int_equal(pvk_hv_open_loop(&e->ghv, e->loop, e->guest), 0);
	assert_int_equal(pvk_dmodel_create(&e->dm, e->hv0, e->guest), 0);
	cfg.path = e->img;
	assert_int_equal(pvk_ide_create(&e->ide, e->dm, &cfg), 0);
	assert_int_equal(pvk_ide_sectors(e->ide), e->sectors);
	assert_int_equal(pvk_ide_attach(e->ide), 0);
	assert_int_equal(pvk_dmodel_enable(e->dm), 0);
	assert_int_equal(t_dmthread_start(&e->dmt, e->dm), 0);
	assert_int_equal(pvk_gio_open(&e->g, e->ghv, 0), 0);
}

static void down(struct env *e)
{
	pvk_gio_close(e->g);
	t_dmthread_stop(&e->dmt);
	assert_int_equal(e->dmt.err, 0);
	pvk_dmodel_destroy(e->dm);
	pvk_ide_destroy(e->ide);
	pvk_hv_close(e->ghv);
	pvk_hv_close(e->hv0);
	pvk_loop_destroy(e->loop);
	close(e->img_fd);
	unlink(e->img);
}

static bool irq_high(struct env *e)
{
	uint16_t lines = 0;

	assert_int_equal(pvk_gio_irqs(e->g, &lines), 0);
	return lines & (1u << PVK_IDE_IRQ);
}

/* Wait up to @ms for IRQ 14. */
static bool irq_wait(struct env *e, int ms)
{
	struct pollfd p = { .fd = e->g->irq_fd, .events = POLLIN };

	for (int i = 0; i < ms; i += 10) {
		if (irq_high(e))
			return true;
		poll(&p, 1, 10);
	}
	return irq_high(e);
}

static uint8_t inb(struct env *e, uint16_t port)
{
	return pvk_inb(e->g, port);
}

static void outb(struct env *e, uint16_t port, uint8_t v)
{
	pvk_outb(e->g, port, v);
}

static void lba28(struct env *e, uint32_t lba, uint8_t count, uint8_t cmd)
{
	outb(e, P_DEV, (uint8_t)(0xe0 | (lba >> 24)));
	outb(e, P_COUNT, count);
	outb(e, P_LBAL, (uint8_t)lba);
	outb(e, P_LBAM, (uint8_t)(lba >> 8));
	outb(e, P_LBAH, (uint8_t)(lba >> 16));
	outb(e, P_STATUS, cmd);
}

static void lba48(struct env *e, uint64_t lba, uint16_t count, uint8_t cmd)
{
	outb(e, P_DEV, 0xe0);
	outb(e, P_COUNT, (uint8_t)(count >> 8));
	outb(e, P_LBAL, (uint8_t)(lba >> 24));
	outb(e, P_LBAM, (uint8_t)(lba >> 32));
	outb(e, P_LBAH, (uint8_t)(lba >> 40));
	outb(e, P_COUNT, (uint8_t)count);
	outb(e, P_LBAL, (uint8_t)lba);
	outb(e, P_LBAM, (uint8_t)(lba >> 8));
	outb(e, P_LBAH, (uint8_t)(lba >> 16));
	outb(e, P_STATUS, cmd);
}

/* The command ended with ERR and @error, interrupting. */
static void expect_error(struct env *e, uint8_t error)
{
	assert_true(irq_wait(e, 2000));
	assert_int_equal(inb(e, P_STATUS), READY | PVK_ATA_ST_ERR);
	assert_int_equal(inb(e, P_ERROR), error);
	assert_false(irq_high(e));
}

static void expect_file(struct env *e, uint64_t lba, uint32_t n,
			const uint8_t *want)
{
	uint8_t *buf = malloc((size_t)n * 512);

	assert_int_equal(pread(e->img_fd, buf, (size_t)n * 512,
			       (off_t)(lba * 512)),
			 (ssize_t)n * 512);
	assert_memory_equal(buf, want, (size_t)n * 512);
	free(buf);
}

static void t_identify(void **state)
{
	struct env *e = *state;
	uint16_t w[256];
	uint8_t sum = 0;
	char model[41];

	up(e, (uint64_t)SECTORS * 512, true, false);
	/* After reset: the signature, ready. */
	assert_int_equal(inb(e, P_CTL), READY);
	assert_int_equal(inb(e, P_COUNT), 1);
	assert_int_equal(inb(e, P_LBAL), 1);
	assert_int_equal(inb(e, P_LBAM), 0);
	assert_int_equal(inb(e, P_LBAH), 0);
	assert_int_equal(inb(e, BM + PVK_BM_STATUS), PVK_BM_ST_DMA0);

	outb(e, P_DEV, 0xa0);
	outb(e, P_STATUS, PVK_ATA_IDENTIFY);
	assert_true(irq_high(e));
	/* Alternate Status leaves the interrupt; Status takes it. */
	assert_int_equal(inb(e, P_CTL), READY | PVK_ATA_ST_DRQ);
	assert_true(irq_high(e));
	assert_int_equal(inb(e, BM + PVK_BM_STATUS),
			 PVK_BM_ST_DMA0 | PVK_BM_ST_INTR);
	assert_int_equal(inb(e, P_STATUS), READY | PVK_ATA_ST_DRQ);
	assert_false(irq_high(e));
	for (int i = 0; i < 256; i++) {
		if (i == 255)
			assert_int_equal(inb(e, P_CTL), READY | PVK_ATA_ST_DRQ);
		w[i] = pvk_inw(e->g, P_CMD);
	}
	/* The last word ends the command without an interrupt. */
	assert_int_equal(inb(e, P_CTL), READY);
	assert_false(irq_high(e));
	assert_int_equal(pvk_inw(e->g, P_CMD), 0); /* no DRQ: nothing */

	assert_int_equal(w[0], 0x0040);
	assert_int_equal(w[49] & 0x0300, 0x0300); /* LBA, DMA */
	assert_int_equal(w[53] & 0x0006, 0x0006);
	assert_int_equal(w[60] | (uint32_t)w[61] << 16, SECTORS);
	assert_int_equal(w[63] & 0x0007, 0x0007);
	assert_int_equal(w[83] & 0x7400, 0x7400); /* 48-bit, FLUSH (EXT) */
	assert_int_equal(w[86] & 0x3400, 0x3400);
	assert_int_equal(w[88] & 0x003f, 0x003f); /* UDMA 0-5 */
	assert_int_equal(w[100] | (uint64_t)w[101] << 16 |
				 (uint64_t)w[102] << 32 |
				 (uint64_t)w[103] << 48,
			 SECTORS);
	assert_int_equal(w[1] * w[3] * w[6], w[57] | (uint32_t)w[58] << 16);
	assert_int_equal(w[255] & 0xff, 0xa5);
	for (int i = 0; i < 256; i++)
		sum += (uint8_t)(w[i] + (w[i] >> 8));
	assert_int_equal(sum, 0);
	for (int i = 0; i < 20; i++) {
		model[2 * i] = (char)(w[27 + i] >> 8);
		model[2 * i + 1] = (char)w[27 + i];
	}
	model[40] = 0;
	assert_string_equal(model, "pvkit emulated disk                     ");

	/* The driver's view. */
	assert_int_equal(pvk_ideg_probe(&e->drv, e->g, BM, PRD_PAGE), 0);
	assert_string_equal(e->drv.model, "pvkit emulated disk");
	assert_int_equal(e->drv.sectors, SECTORS);
	assert_true(e->drv.lba48);
	assert_true(e->drv.dma);
	assert_int_equal(e->logs, 0);
	down(e);
}

static void t_errors(void **state)
{
	struct env *e = *state;
	struct pvk_ide_stats st;
	uint16_t w88 = 0, w63 = 0;

	up(e, (uint64_t)SECTORS * 512, true, false);
	/* Unknown command. */
	outb(e, P_DEV, 0xe0);
	outb(e, P_STATUS, 0x50);
	expect_error(e, PVK_ATA_ER_ABRT);
	/* Past the end, 28 and 48 bits, PIO and DMA. */
	lba28(e, SECTORS - 1, 2, PVK_ATA_READ_SECTORS);
	expect_error(e, PVK_ATA_ER_IDNF);
	lba28(e, SECTORS, 1, PVK_ATA_WRITE_SECTORS);
	expect_error(e, PVK_ATA_ER_IDNF);
	lba28(e, SECTORS - 1, 2, PVK_ATA_READ_DMA);
	expect_error(e, PVK_ATA_ER_IDNF);
	lba48(e, 1ull << 40, 1, PVK_ATA_READ_DMA_EXT);
	expect_error(e, PVK_ATA_ER_IDNF);
	/* Count 0: 65536 sectors for EXT (more than the disk)... */
	lba48(e, 0, 0, PVK_ATA_READ_SECTORS_EXT);
	expect_error(e, PVK_ATA_ER_IDNF);
	lba48(e, 0, 0, PVK_ATA_WRITE_DMA_EXT);
	expect_error(e, PVK_ATA_ER_IDNF);
	/* ... 256 for LBA28: one sector too many, then just enough, as 256
	 * DRQ blocks with an interrupt each. */
	lba28(e, SECTORS - 255, 0, PVK_ATA_READ_SECTORS);
	expect_error(e, PVK_ATA_ER_IDNF);
	lba28(e, SECTORS - 256, 0, PVK_ATA_READ_SECTORS);
	for (int b = 0; b < 256; b++) {
		assert_true(irq_high(e));
		assert_int_equal(inb(e, P_STATUS), READY | PVK_ATA_ST_DRQ);
		assert_false(irq_high(e));
		assert_int_equal(e->g->ops->rep(e->g, P_CMD, 4, 128, BUF_A,
						true),
				 0); /* 32-bit: two words each */
		expect_file(e, SECTORS - 256 + b, 1, e->g->ram + BUF_A);
	}
	assert_int_equal(inb(e, P_CTL), READY);
	assert_false(irq_high(e));

	/* SET FEATURES: transfer modes. */
	outb(e, P_CMD + PVK_ATA_FEATURE, 0x03);
	outb(e, P_COUNT, 0x46); /* UDMA 6: not supported */
	outb(e, P_STATUS, PVK_ATA_SET_FEATURES);
	expect_error(e, PVK_ATA_ER_ABRT);
	outb(e, P_CMD + PVK_ATA_FEATURE, 0x03);
	outb(e, P_COUNT, 0x22); /* MWDMA 2 */
	outb(e, P_STATUS, PVK_ATA_SET_FEATURES);
	assert_true(irq_wait(e, 1000));
	assert_int_equal(inb(e, P_STATUS), READY);
	outb(e, P_CMD + PVK_ATA_FEATURE, 0x66);
	outb(e, P_STATUS, PVK_ATA_SET_FEATURES);
	expect_error(e, PVK_ATA_ER_ABRT);
	assert_int_equal(pvk_ideg_probe(&e->drv, e->g, BM, PRD_PAGE), 0);
	w63 = e->drv.id[63];
	w88 = e->drv.id[88];
	assert_int_equal(w63, 0x0407);
	assert_int_equal(w88, 0x003f);
	/* Read-only commands on a writable disk, and CHECK POWER MODE. */
	outb(e, P_STATUS, PVK_ATA_CHECK_POWER);
	assert_true(irq_wait(e, 1000));
	assert_int_equal(inb(e, P_STATUS), READY);
	assert_int_equal(inb(e, P_COUNT), 0xff);
	pvk_ide_stats(e->ide, &st);
	assert_int_equal(st.errors, 10);
	assert_int_equal(e->logs, 0);
	down(e);
}

static void t_nien_srst_slave_hob(void **state)
{
	struct env *e = *state;

	up(e, (uint64_t)SECTORS * 512, true, false);
	/* nIEN: no interrupt, nor the bus master's Interrupt bit. */
	outb(e, P_CTL, PVK_ATA_CTL_NIEN);
	outb(e, P_DEV, 0xa0);
	outb(e, P_STATUS, PVK_ATA_IDENTIFY);
	assert_int_equal(inb(e, P_CTL), READY | PVK_ATA_ST_DRQ);
	assert_false(irq_high(e));
	assert_int_equal(inb(e, BM + PVK_BM_STATUS), PVK_BM_ST_DMA0);
	assert_int_equal(inb(e, P_STATUS), READY | PVK_ATA_ST_DRQ);
	outb(e, P_CTL, 0);
	assert_false(irq_high(e));

	/* SRST in the middle of the data: BSY, commands ignored, then the
	 * signature, no DRQ, no interrupt. */
	pvk_inw(e->g, P_CMD);
	outb(e, P_CTL, PVK_ATA_CTL_SRST);
	assert_int_equal(inb(e, P_CTL), PVK_ATA_ST_BSY);
	outb(e, P_STATUS, PVK_ATA_IDENTIFY);
	outb(e, P_COUNT, 0x77);
	outb(e, P_CTL, 0);
	assert_int_equal(inb(e, P_CTL), READY);
	assert_int_equal(inb(e, P_COUNT), 1);
	assert_int_equal(inb(e, P_LBAL), 1);
	assert_int_equal(inb(e, P_LBAM), 0);
	assert_int_equal(inb(e, P_LBAH), 0);
	assert_int_equal(inb(e, P_ERROR), 0x01);
	assert_false(irq_high(e));
	assert_int_equal(pvk_inw(e->g, P_CMD), 0);

	/* Device 1 is absent: Status 00h, commands ignored. */
	outb(e, P_DEV, 0xb0);
	assert_int_equal(inb(e, P_STATUS), 0x00);
	assert_int_equal(inb(e, P_CTL), 0x00);
	outb(e, P_STATUS, PVK_ATA_IDENTIFY);
	assert_false(irq_wait(e, 50));
	outb(e, P_DEV, 0xa0);
	assert_int_equal(inb(e, P_STATUS), READY);
	/* EXECUTE DEVICE DIAGNOSTIC: the signature, an interrupt. */
	outb(e, P_COUNT, 0x33);
	outb(e, P_STATUS, PVK_ATA_EXEC_DIAG);
	assert_true(irq_wait(e, 1000));
	assert_int_equal(inb(e, P_STATUS), READY);
	assert_int_equal(inb(e, P_ERROR), 0x01);
	assert_int_equal(inb(e, P_COUNT), 1);

	/* HOB: the previous value; any register write clears HOB. */
	outb(e, P_COUNT, 0x12);
	outb(e, P_COUNT, 0x34);
	outb(e, P_LBAH, 0x56);
	outb(e, P_LBAH, 0x78);
	assert_int_equal(inb(e, P_COUNT), 0x34);
	outb(e, P_CTL, PVK_ATA_CTL_HOB);
	assert_int_equal(inb(e, P_COUNT), 0x12);
	assert_int_equal(inb(e, P_LBAH), 0x56);
	outb(e, P_LBAL, 0);
	assert_int_equal(inb(e, P_COUNT), 0x34);
	/* A word access to byte registers: two registers. */
	assert_int_equal(pvk_inw(e->g, P_LBAM), 0x7800 | inb(e, P_LBAM));
	down(e);
}

static void t_integrity(void **state)
{
	struct env *e = *state;
	uint8_t *ram;

	up(e, (uint64_t)SECTORS * 512, true, false);
	ram = e->g->ram;
	assert_int_equal(pvk_ideg_probe(&e->drv, e->g, BM, PRD_PAGE), 0);
	/* PIO out, DMA in. */
	fill_random(ram + BUF_A, 37 * 512);
	assert_int_equal(pvk_ideg_write_pio(&e->drv, 100, 37, BUF_A), 0);
	expect_file(e, 100, 37, ram + BUF_A);
	memset(ram + BUF_B, 0, 37 * 512);
	assert_int_equal(pvk_ideg_read_dma(&e->drv, 100, 37, BUF_B), 0);
	assert_memory_equal(ram + BUF_B, ram + BUF_A, 37 * 512);
	assert_int_equal(e->drv.bm_status & (PVK_BM_ST_ACTIVE | PVK_BM_ST_ERR |
					     PVK_BM_ST_INTR),
			 PVK_BM_ST_INTR);
	/* DMA out (EXT, more than a bounce buffer, entries across 64 KiB),
	 * PIO in. */
	fill_random(ram + BUF_C, 300 * 512);
	assert_int_equal(pvk_ideg_write_dma(&e->drv, 1000, 300, BUF_C), 0);
	expect_file(e, 1000, 300, ram + BUF_C);
	memset(ram + BUF_A, 0, 300 * 512);
	assert_int_equal(pvk_ideg_read_pio(&e->drv, 1000, 300, BUF_A), 0);
	assert_memory_equal(ram + BUF_A, ram + BUF_C, 300 * 512);
	/* 1 MiB by DMA from the end of the disk; the file's own data. */
	assert_int_equal(
		pvk_ideg_read_dma(&e->drv, SECTORS - 2048, 2048, BUF_B), 0);
	expect_file(e, SECTORS - 2048, 2048, ram + BUF_B);
	assert_int_equal(pvk_ideg_read_pio(&e->drv, SECTORS - 5, 5, BUF_A), 0);
	expect_file(e, SECTORS - 5, 5, ram + BUF_A);
	assert_int_equal(pvk_ideg_flush(&e->drv), 0);
	/* The driver's own checks. */
	assert_int_equal(pvk_ideg_read_dma(&e->drv, SECTORS - 1, 2, BUF_A),
			 -EINVAL);
	assert_int_equal(pvk_ideg_read_pio(&e->drv, 0, 1, e->g->ram_size - 4),
			 -EINVAL);
	assert_int_equal(e->logs, 0);
	down(e);
}

/* A disk beyond LBA28 (sparse): words 60-61 saturate; EXT reaches. */
static void t_big_disk(void **state)
{
	struct env *e = *state;
	uint64_t big = 419430400ull, lba = 0x10000000ull + 5;
	uint8_t *ram;

	up(e, big * 512, false, false);
	ram = e->g->ram;
	assert_int_equal(pvk_ideg_probe(&e->drv, e->g, BM, PRD_PAGE), 0);
	assert_int_equal(e->drv.id[60] | (uint32_t)e->drv.id[61] << 16,
			 0x0fffffff);
	assert_int_equal(e->drv.sectors, big);
	assert_int_equal(e->drv.id[1], 16383);
	fill_random(ram + BUF_A, 8 * 512);
	assert_int_equal(pvk_ideg_write_pio(&e->drv, lba, 8, BUF_A), 0);
	expect_file(e, lba, 8, ram + BUF_A);
	assert_int_equal(pvk_ideg_read_dma(&e->drv, lba - 4, 16, BUF_B), 0);
	assert_memory_equal(ram + BUF_B + 4 * 512, ram + BUF_A, 8 * 512);
	for (int i = 0; i < 4 * 512; i++)
		assert_int_equal(ram[BUF_B + i], 0);
	/* Past the end; the last sector waits for its bus master, and a
	 * soft reset forgets it. */
	lba48(e, big, 1, PVK_ATA_READ_SECTORS_EXT);
	expect_error(e, PVK_ATA_ER_IDNF);
	lba48(e, big - 1, 1, PVK_ATA_READ_DMA_EXT);
	assert_false(irq_wait(e, 20)); /* waits for the bus master */
	assert_int_equal(inb(e, P_CTL), PVK_ATA_ST_BSY | PVK_ATA_ST_DRDY);
	outb(e, P_CTL, PVK_ATA_CTL_SRST);
	outb(e, P_CTL, 0);
	assert_int_equal(inb(e, P_CTL), READY);
	down(e);
}

static void t_read_only(void **state)
{
	struct env *e = *state;

	up(e, (uint64_t)SECTORS * 512, true, true);
	assert_int_equal(pvk_ideg_probe(&e->drv, e->g, BM, PRD_PAGE), 0);
	lba28(e, 0, 1, PVK_ATA_WRITE_SECTORS);
	expect_error(e, PVK_ATA_ER_ABRT);
	lba28(e, 0, 1, PVK_ATA_WRITE_DMA);
	expect_error(e, PVK_ATA_ER_ABRT);
	assert_int_equal(pvk_ideg_write_pio(&e->drv, 0, 1, BUF_A), -EIO);
	assert_int_equal(e->drv.error, PVK_ATA_ER_ABRT);
	assert_int_equal(pvk_ideg_read_dma(&e->drv, 7, 9, BUF_A), 0);
	expect_file(e, 7, 9, e->g->ram + BUF_A);
	assert_int_equal(pvk_ideg_flush(&e->drv), 0);
	down(e);
}

struct dma_result {
	uint8_t status, error, bm;
	bool irq;
};

/* A raw DMA command with the PRD table at @prd, bus-master direction
 * @to_guest; waits up to @ms for its interrupt, then stops the bus
 * master and acknowledges everything. */
static struct dma_result raw_dma(struct env *e, uint8_t cmd, uint64_t lba,
				 uint8_t count, uint32_t prd, bool to_guest,
				 int ms)
{
	uint8_t dir = to_guest ? PVK_BM_CMD_READ : 0;
	struct dma_result r;

	pvk_outl(e->g, BM + PVK_BM_PRD, prd);
	outb(e, BM + PVK_BM_CMD, dir);
	lba28(e, (uint32_t)lba, count, cmd);
	outb(e, BM + PVK_BM_CMD, dir | PVK_BM_CMD_START);
	r.irq = irq_wait(e, ms);
	r.bm = inb(e, BM + PVK_BM_STATUS);
	outb(e, BM + PVK_BM_CMD, dir);
	r.status = inb(e, P_STATUS);
	r.error = inb(e, P_ERROR);
	outb(e, BM + PVK_BM_STATUS,
	     PVK_BM_ST_DMA0 | PVK_BM_ST_INTR | PVK_BM_ST_ERR);
	return r;
}

static void prd(struct env *e, uint64_t at, uint32_t addr, uint32_t count)
{
	memcpy(e->g->ram + at, &addr, 4);
	memcpy(e->g->ram + at + 4, &count, 4);
}

static void expect_dma_error(struct dma_result r)
{
	assert_true(r.irq);
	assert_int_equal(r.status, READY | PVK_ATA_ST_ERR);
	assert_int_equal(r.error, PVK_ATA_ER_ABRT);
	assert_int_equal(r.bm, PVK_BM_ST_DMA0 | PVK_BM_ST_ERR | PVK_BM_ST_INTR);
}

static void healthy(struct env *e)
{
	assert_int_equal(pvk_ideg_read_dma(&e->drv, 3, 4, BUF_B), 0);
	expect_file(e, 3, 4, e->g->ram + BUF_B);
}

static void t_hostile_dma(void **state)
{
	struct env *e = *state;
	uint64_t top, t = 0x200000;
	struct dma_result r;
	uint8_t before[512];
	unsigned int logs;

	up(e, (uint64_t)SECTORS * 512, true, false);
	top = e->g->ram_size;
	assert_int_equal(pvk_ideg_probe(&e->drv, e->g, BM, PRD_PAGE), 0);

	/* No EOT, and the table runs off the end of guest RAM. */
	prd(e, top - 8, (uint32_t)BUF_A, 512);
	r = raw_dma(e, PVK_ATA_READ_DMA, 0, 2, (uint32_t)(top - 8), true, 2000);
	expect_dma_error(r);
	expect_file(e, 0, 1, e->g->ram + BUF_A); /* the first entry's */
	healthy(e);
	/* A buffer outside guest RAM, both ways; the disk is untouched. */
	prd(e, t, 0xf0000000u, 4096 | PVK_BM_PRD_EOT);
	expect_dma_error(
		raw_dma(e, PVK_ATA_READ_DMA, 0, 8, (uint32_t)t, true, 2000));
	assert_int_equal(pread(e->img_fd, before, 512, 50 * 512), 512);
	expect_dma_error(
		raw_dma(e, PVK_ATA_WRITE_DMA, 50, 8, (uint32_t)t, false, 2000));
	expect_file(e, 50, 1, before);
	/* The table pointer at the top of the 32-bit space. */
	expect_dma_error(
		raw_dma(e, PVK_ATA_READ_DMA, 0, 1, 0xfffffffcu, true, 2000));
	/* Shorter than the transfer. */
	prd(e, t, (uint32_t)BUF_A, 512 | PVK_BM_PRD_EOT);
	expect_dma_error(
		raw_dma(e, PVK_ATA_READ_DMA, 0, 8, (uint32_t)t, true, 2000));
	/* Direction bit against the command. */
	prd(e, t, (uint32_t)BUF_A, 4096 | PVK_BM_PRD_EOT);
	expect_dma_error(
		raw_dma(e, PVK_ATA_READ_DMA, 0, 8, (uint32_t)t, false, 2000));
	/* More entries than the limit: 2-byte entries, no EOT. */
	for (unsigned int i = 0; i < PVK_IDE_PRD_MAX + 100; i++)
		prd(e, t + 8ull * i, (uint32_t)BUF_A, 2);
	expect_dma_error(
		raw_dma(e, PVK_ATA_READ_DMA, 0, 64, (uint32_t)t, true, 2000));
	healthy(e);

	/* A zero byte count is 64 KiB: one entry for 128 sectors; exactly
	 * the transfer: Interrupt, not Active. */
	prd(e, t, (uint32_t)BUF_A, 0 | PVK_BM_PRD_EOT);
	r = raw_dma(e, PVK_ATA_READ_DMA, 200, 128, (uint32_t)t, true, 2000);
	assert_true(r.irq);
	assert_int_equal(r.status, READY);
	assert_int_equal(r.bm, PVK_BM_ST_DMA0 | PVK_BM_ST_INTR);
	expect_file(e, 200, 128, e->g->ram + BUF_A);
	/* A table longer than the transfer, no EOT where it ends: Interrupt
	 * and Active (SFF-8038i), data right. */
	prd(e, t, (uint32_t)BUF_B, 0);
	r = raw_dma(e, PVK_ATA_READ_DMA, 300, 8, (uint32_t)t, true, 2000);
	assert_true(r.irq);
	assert_int_equal(r.status, READY);
	assert_int_equal(r.bm,
			 PVK_BM_ST_DMA0 | PVK_BM_ST_INTR | PVK_BM_ST_ACTIVE);
	expect_file(e, 300, 8, e->g->ram + BUF_B);

	/* The bus master started with no command: Active, idle, no
	 * interrupt; stopping it ends that. */
	outb(e, BM + PVK_BM_CMD, PVK_BM_CMD_READ | PVK_BM_CMD_START);
	assert_false(irq_wait(e, 50));
	assert_int_equal(inb(e, BM + PVK_BM_STATUS),
			 PVK_BM_ST_DMA0 | PVK_BM_ST_ACTIVE);
	assert_int_equal(inb(e, P_CTL), READY);
	outb(e, BM + PVK_BM_CMD, PVK_BM_CMD_READ);
	assert_int_equal(inb(e, BM + PVK_BM_STATUS), PVK_BM_ST_DMA0);
	/* Started first, then the command: that runs. */
	prd(e, t, (uint32_t)BUF_A, 1024 | PVK_BM_PRD_EOT);
	outb(e, BM + PVK_BM_CMD, PVK_BM_CMD_READ | PVK_BM_CMD_START);
	lba28(e, 400, 2, PVK_ATA_READ_DMA);
	assert_true(irq_wait(e, 2000));
	assert_int_equal(inb(e, P_STATUS), READY);
	outb(e, BM + PVK_BM_CMD, 0);
	outb(e, BM + PVK_BM_STATUS, PVK_BM_ST_DMA0 | PVK_BM_ST_INTR);
	expect_file(e, 400, 2, e->g->ram + BUF_A);

	/* Stopped or reset in the middle of a long transfer: the device
	 * settles (ABRT, or the signature), never hangs. */
	prd(e, t, (uint32_t)BUF_B, 0x10000);
	for (unsigned int i = 1; i < 64; i++)
		prd(e, t + 8 * i, (uint32_t)BUF_B,
		    i == 63 ? PVK_BM_PRD_EOT : 0);
	pvk_outl(e->g, BM + PVK_BM_PRD, (uint32_t)t);
	lba48(e, 0, 8192, PVK_ATA_READ_DMA_EXT);
	outb(e, BM + PVK_BM_CMD, PVK_BM_CMD_READ | PVK_BM_CMD_START);
	outb(e, BM + PVK_BM_CMD, PVK_BM_CMD_READ);
	assert_true(irq_wait(e, 2000));
	assert_int_equal(inb(e, P_STATUS), READY | PVK_ATA_ST_ERR);
	assert_int_equal(inb(e, P_ERROR), PVK_ATA_ER_ABRT);
	outb(e, BM + PVK_BM_STATUS,
	     PVK_BM_ST_DMA0 | PVK_BM_ST_INTR | PVK_BM_ST_ERR);
	lba48(e, 0, 8192, PVK_ATA_READ_DMA_EXT);
	outb(e, BM + PVK_BM_CMD, PVK_BM_CMD_READ | PVK_BM_CMD_START);
	outb(e, P_CTL, PVK_ATA_CTL_SRST);
	outb(e, P_CTL, 0);
	for (int i = 0; i < 200 && inb(e, P_CTL) != READY; i++)
		usleep(10000);
	assert_int_equal(inb(e, P_CTL), READY);
	assert_int_equal(inb(e, P_COUNT), 1);
	outb(e, BM + PVK_BM_CMD, 0);
	outb(e, BM + PVK_BM_STATUS,
	     PVK_BM_ST_DMA0 | PVK_BM_ST_INTR | PVK_BM_ST_ERR);
	healthy(e);
	logs = e->logs;
	assert_int_equal(logs, 7); /* one line per violation */
	down(e);
}

/* Traps per 4 KiB read: the driver's cost, fixed by the protocol. */
static void t_traps(void **state)
{
	struct env *e = *state;
	uint64_t before;

	up(e, (uint64_t)SECTORS * 512, true, false);
	assert_int_equal(pvk_ideg_probe(&e->drv, e->g, BM, PRD_PAGE), 0);
	assert_int_equal(pvk_ideg_read_dma(&e->drv, 0, 1, BUF_B), 0);
	before = e->g->traps;
	assert_int_equal(pvk_ideg_read_pio(&e->drv, 8, 8, BUF_A), 0);
	/* taskfile 6 + 8 x (status + rep insw) + the last alt status */
	assert_int_equal(e->g->traps - before, 6 + 8 * 2 + 1);
	expect_file(e, 8, 8, e->g->ram + BUF_A);
	before = e->g->traps;
	assert_int_equal(pvk_ideg_read_dma(&e->drv, 8, 8, BUF_B), 0);
	/* taskfile 6 + start + BM status + stop + status + BM ack */
	assert_int_equal(e->g->traps - before, 6 + 5);
	expect_file(e, 8, 8, e->g->ram + BUF_B);
	before = e->g->traps;
	assert_int_equal(pvk_ideg_write_pio(&e->drv, 8, 8, BUF_A), 0);
	/* taskfile 6 + alt status + 8 x (rep outsw + status) */
	assert_int_equal(e->g->traps - before, 6 + 1 + 8 * 2);
	down(e);
}

int main(void)
{
	struct env e;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(t_identify, &e),
		cmocka_unit_test_prestate(t_errors, &e),
		cmocka_unit_test_prestate(t_nien_srst_slave_hob, &e),
		cmocka_unit_test_prestate(t_integrity, &e),
		cmocka_unit_test_prestate(t_big_disk, &e),
		cmocka_unit_test_prestate(t_read_only, &e),
		cmocka_unit_test_prestate(t_hostile_dma, &e),
		cmocka_unit_test_prestate(t_traps, &e),
	};

	srandom(1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
