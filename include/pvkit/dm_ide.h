/* SPDX-License-Identifier: MIT */
/*
 * pvkit/dm_ide.h -- an emulated PIIX IDE disk for a device model
 * (pvkit/dmodel.h): the primary channel (command block 0x1f0-0x1f7,
 * control 0x3f6, ISA IRQ 14) with one ATA disk as master, and the
 * channel's bus master (SFF-8038i, PIIX BAR4).  Part of libpvkit-back.
 *
 * The disk is a raw image file (or block device), opened O_DIRECT where
 * the file system allows sector-aligned O_DIRECT I/O.  ATA commands:
 * IDENTIFY DEVICE, READ/WRITE SECTORS (EXT), READ/WRITE DMA (EXT), FLUSH
 * CACHE (EXT), SET FEATURES (transfer modes, write cache, look-ahead),
 * EXECUTE DEVICE DIAGNOSTIC, CHECK POWER MODE, IDLE/STANDBY IMMEDIATE;
 * anything else ends with ERR and ABRT.  LBA28, LBA48 and CHS addressing
 * (the geometry IDENTIFY reports).  Device 1 (slave) is absent: with it
 * selected Status reads 00h and commands are ignored.
 *
 * PIO transfers are served synchronously in the device model's thread;
 * DMA and FLUSH CACHE go through io_uring and complete from the device's
 * fd (->fd / ->event), so the vCPU is free meanwhile (Status: BSY).  DMA
 * moves at most 128 KiB of the transfer at a time through a bounce buffer.
 *
 * The guest is hostile: every LBA range is checked against the disk
 * (IDNF), a PRD table is walked lazily, at most PVK_IDE_PRD_MAX entries
 * per command, each through pvk_dmodel_dma_read/_write.  Bus-master
 * outcomes (BMIDE status after the interrupt):
 *   - PRD table exactly as long as the transfer: Interrupt, not Active;
 *   - longer: Interrupt and Active (SFF-8038i);
 *   - shorter, an entry or a buffer outside guest memory, more than
 *     PVK_IDE_PRD_MAX entries, or the direction bit not matching the
 *     command: Error and Interrupt, not Active; the ATA status has ERR
 *     with ABRT.
 * A bus master started with no DMA command pending stays Active and idle
 * until the guest stops it (as hardware: it waits for DMARQ); a DMA
 * command whose bus master is never started keeps BSY until a soft reset.
 * Stopping the bus master mid-transfer ends the command with ERR/ABRT; a
 * soft reset mid-transfer keeps BSY until the I/O in flight is done.
 */
#ifndef PVKIT_DM_IDE_H
#define PVKIT_DM_IDE_H

#include <stdbool.h>
#include <stdint.h>

#include <pvkit/dmodel.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PVK_IDE_CMD_BASE 0x1f0 /* command block: 0x1f0..0x1f7 */
#define PVK_IDE_CTL_PORT 0x3f6 /* alternate status / device control */
#define PVK_IDE_IRQ 14
#define PVK_IDE_SECTOR 512
#define PVK_IDE_PRD_MAX 8192u /* PRD entries walked per command */

/* Command block registers (offsets from PVK_IDE_CMD_BASE). */
#define PVK_ATA_DATA 0
#define PVK_ATA_ERROR 1 /* read */
#define PVK_ATA_FEATURE 1 /* write */
#define PVK_ATA_COUNT 2
#define PVK_ATA_LBA_LOW 3
#define PVK_ATA_LBA_MID 4
#define PVK_ATA_LBA_HIGH 5
#define PVK_ATA_DEVICE 6
#define PVK_ATA_STATUS 7 /* read */
#define PVK_ATA_COMMAND 7 /* write */

#define PVK_ATA_ST_BSY 0x80
#define PVK_ATA_ST_DRDY 0x40
#define PVK_ATA_ST_DF 0x20
#define PVK_ATA_ST_DSC 0x10
#define PVK_ATA_ST_DRQ 0x08
#define PVK_ATA_ST_ERR 0x01

#define PVK_ATA_ER_UNC 0x40
#define PVK_ATA_ER_IDNF 0x10
#define PVK_ATA_ER_ABRT 0x04

#define PVK_ATA_DEV_LBA 0x40
#define PVK_ATA_DEV_DEV 0x10 /* device 1 */

#define PVK_ATA_CTL_NIEN 0x02
#define PVK_ATA_CTL_SRST 0x04
#define PVK_ATA_CTL_HOB 0x80

#define PVK_ATA_READ_SECTORS 0x20
#define PVK_ATA_READ_SECTORS_EXT 0x24
#define PVK_ATA_READ_DMA_EXT 0x25
#define PVK_ATA_WRITE_SECTORS 0x30
#define PVK_ATA_WRITE_SECTORS_EXT 0x34
#define PVK_ATA_WRITE_DMA_EXT 0x35
#define PVK_ATA_EXEC_DIAG 0x90
#define PVK_ATA_READ_DMA 0xc8
#define PVK_ATA_WRITE_DMA 0xca
#define PVK_ATA_STANDBY_IMM 0xe0
#define PVK_ATA_IDLE_IMM 0xe1
#define PVK_ATA_CHECK_POWER 0xe5
#define PVK_ATA_FLUSH_CACHE 0xe7
#define PVK_ATA_FLUSH_CACHE_EXT 0xea
#define PVK_ATA_IDENTIFY 0xec
#define PVK_ATA_SET_FEATURES 0xef

/* Bus-master registers (offsets from the BMIDE base, primary channel;
 * the secondary channel's, base + 8.., read 0 and ignore writes). */
#define PVK_BM_CMD 0
#define PVK_BM_STATUS 2
#define PVK_BM_PRD 4 /* 32 bits, dword aligned */

#define PVK_BM_CMD_START 0x01
#define PVK_BM_CMD_READ 0x08 /* the bus master writes guest memory */

#define PVK_BM_ST_ACTIVE 0x01
#define PVK_BM_ST_ERR 0x02 /* write 1 to clear */
#define PVK_BM_ST_INTR 0x04 /* write 1 to clear */
#define PVK_BM_ST_DMA0 0x20 /* drive 0 DMA capable */
#define PVK_BM_ST_DMA1 0x40

#define PVK_BM_PRD_EOT 0x80000000u /* in an entry's second dword */

struct pvk_ide;

struct pvk_ide_config {
	const char *path; /* raw image file or block device */
	bool read_only; /* writes end with ERR and ABRT */
	bool no_direct; /* never O_DIRECT */
	uint16_t bm_base; /* BMIDE (BAR4), 16 ports, 16-aligned */
	const char *model; /* IDENTIFY words 27-46; NULL: a default */
	const char *serial; /* words 10-19; NULL: a default */
	/* Optional: one line per guest violation (a bad PRD table, a bus
	 * master direction that does not match the command). */
	void (*log)(void *arg, const char *line);
	void *log_arg;
};

/* Open the disk and make the device (ranges not yet claimed).  -errno
 * from open(2) or io_uring; -EINVAL for a bad @cfg or an image of no
 * sectors. */
int pvk_ide_create(struct pvk_ide **ide, struct pvk_dmodel *dm,
		   const struct pvk_ide_config *cfg);
/* Claim 0x1f0-0x1f7, 0x3f6 and bm_base..bm_base+15 in @dm.  On failure
 * @dm may already hold some of them for the device: as always, destroy
 * the device model before the device. */
int pvk_ide_attach(struct pvk_ide *ide);
/* Waits for an I/O still in flight, closes the disk, frees.  After
 * pvk_dmodel_destroy of the model it was attached to. */
void pvk_ide_destroy(struct pvk_ide *ide);

/* The disk's size in 512-byte sectors. */
uint64_t pvk_ide_sectors(const struct pvk_ide *ide);

struct pvk_ide_stats {
	uint64_t commands; /* ATA commands accepted */
	uint64_t errors; /* commands that ended with ERR */
	uint64_t dma_bytes; /* moved by the bus master */
	uint64_t pio_bytes; /* moved through the data port */
	uint64_t irqs; /* interrupts asserted */
};
void pvk_ide_stats(const struct pvk_ide *ide, struct pvk_ide_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_DM_IDE_H */
