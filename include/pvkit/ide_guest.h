/* SPDX-License-Identifier: MIT */
/*
 * pvkit/ide_guest.h -- a minimal guest driver for an IDE disk on a PIIX
 * channel (the primary: 0x1f0-0x1f7, 0x3f6, IRQ 14, its bus master at a
 * BMIDE base), written on pvkit/gio.h alone: what a small OS would have.
 * Part of libpvkit-front (pkg-config pvkit-front).
 *
 * Polled for nothing but the first PIO-out block: it sleeps on the
 * guest's interrupt lines (gio->irq_fd) for IRQ 14, up to @timeout_ms per
 * interrupt.  Buffers are guest-physical (in gio->ram): PIO moves them
 * with one rep insw / outsw per sector (one trap, as Xen splits string
 * I/O per page); DMA describes them with a PRD table the driver writes at
 * @prd_gpa.  One caller at a time per disk and per gio.
 *
 * Errors: -EINVAL (a range outside the disk or guest RAM, count 0),
 * -ENOTSUP (the disk has no LBA, or no DMA for the DMA calls), -EIO (the
 * disk ended a command with ERR or a bus-master error, or a protocol step
 * went wrong: @status, @error, @bm_status keep what it said), -ETIMEDOUT
 * (no interrupt), and gio's own (g->err) when an access failed.
 */
#ifndef PVKIT_IDE_GUEST_H
#define PVKIT_IDE_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include <pvkit/gio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pvk_ideg {
	struct pvk_gio *g;
	uint16_t bm; /* BMIDE base */
	uint64_t prd_gpa; /* a page of guest RAM the driver owns */
	int timeout_ms; /* per interrupt; pvk_ideg_probe sets 5000 */
	/* From IDENTIFY. */
	uint16_t id[256];
	uint64_t sectors;
	bool lba48, dma;
	char model[41], serial[21];
	/* The last command's ending: ATA status, error, BMIDE status. */
	uint8_t status, error, bm_status;
	uint32_t prd_loaded; /* the table address last given the bus master */
};

/* Find the master disk (-ENODEV if none answers), IDENTIFY it, enable its
 * interrupt and reset the bus master.  @prd_gpa: page-aligned, a page of
 * guest RAM the driver may overwrite (the PRD table; IDENTIFY's data). */
int pvk_ideg_probe(struct pvk_ideg *d, struct pvk_gio *g, uint16_t bm_base,
		   uint64_t prd_gpa);

/* Move @count sectors at @lba between the disk and guest RAM at @gpa:
 * READ/WRITE SECTORS or DMA, the EXT forms where LBA28 does not reach;
 * large counts take several commands. */
int pvk_ideg_read_pio(struct pvk_ideg *d, uint64_t lba, uint32_t count,
		      uint64_t gpa);
int pvk_ideg_write_pio(struct pvk_ideg *d, uint64_t lba, uint32_t count,
		       uint64_t gpa);
int pvk_ideg_read_dma(struct pvk_ideg *d, uint64_t lba, uint32_t count,
		      uint64_t gpa);
int pvk_ideg_write_dma(struct pvk_ideg *d, uint64_t lba, uint32_t count,
		       uint64_t gpa);
/* FLUSH CACHE (EXT). */
int pvk_ideg_flush(struct pvk_ideg *d);

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_IDE_GUEST_H */
