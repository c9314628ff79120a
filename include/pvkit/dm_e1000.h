/* SPDX-License-Identifier: MIT */
/*
 * pvkit/dm_e1000.h -- an emulated Intel e1000 NIC (a subset of the 82540EM,
 * as Intel's PCI/PCI-X Family of Gigabit Ethernet Controllers Software
 * Developer's Manual describes it) for a device model (pvkit/dmodel.h),
 * its wire a TAP device.  Part of libpvkit-back (pkg-config pvkit-back).
 *
 * What a guest sees: a 128 KiB memory BAR at a base the caller chooses,
 * decoding
 *   CTRL (RST resets, SLU raises the link), STATUS (full duplex, 1000
 *   Mb/s, link up), EECD (the Microwire EEPROM, bit-banged) and EERD (one
 *   word per read) -- a 64-word EEPROM with the MAC address in words 0..2
 *   and word 63 making the sum 0xBABA --, MDIC (a PHY with its link up),
 *   ICR (read clears; writing ones clears), ICS, IMS, IMC, RCTL, TCTL,
 *   TIPG, RDBAL/RDBAH/RDLEN/RDH/RDT, TDBAL/TDBAH/TDLEN/TDH/TDT, MTA,
 *   RAL/RAH (16 receive addresses, the first loaded from the EEPROM), and
 *   the statistics block at 0x4000 (read clears): MPC, GPRC, BPRC, MPRC,
 *   GPTC, GORC, GOTC, RNBC, ROC, TOR, TOT, TPR, TPT, MPTC, BPTC.  Other
 *   offsets read back what was written.
 *
 *   Transmit: legacy descriptors (CMD.EOP, IFCS, IC with CSO/CSS, RS; STA.DD
 *   written back when RS), and extended data descriptors without TSE
 *   (context descriptors are consumed and ignored).  A TDT write sends
 *   every descriptor from TDH to TDT, at most one ring's worth; a frame
 *   may take several descriptors up to 16 KiB, until EOP.
 *   Receive: legacy descriptors; frames from the TAP pass the address
 *   filter (RAL/RAH, UPE, MPE, BAM, MTA hash with RCTL.MO), are cut to
 *   RCTL.BSIZE/BSEX buffers, with STA.DD|EOP on the last; the four-byte
 *   FCS is appended (the CRC-32) unless RCTL.SECRC.  No room or
 *   RCTL.EN clear: the frame is missed (MPC, ICR.RXO).
 *   Interrupts: ICR.TXDW, TXQE, LSC, RXDMT0, RXO, RXT0; the ISA line is
 *   high while ICR & IMS is non-zero.
 *
 * Everything the guest writes is hostile: a ring length that is not a
 * multiple of 128 or above PVK_E1000_RING_MAX bytes is refused (the old
 * value stays), a head or tail outside its ring is ignored, a descriptor
 * or buffer outside guest memory drops its frame, a chain without EOP
 * beyond 16 KiB (or 64 descriptors) is dropped up to its EOP.  Each kind
 * of violation is counted and logged once.
 *
 * Threading: the device model's thread runs the device; pvk_e1000_stats
 * may be called from any thread.
 */
#ifndef PVKIT_DM_E1000_H
#define PVKIT_DM_E1000_H

#include <stdint.h>

#include <pvkit/dmodel.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PVK_E1000_BAR_SIZE 0x20000u /* the memory BAR: 128 KiB */
#define PVK_E1000_RING_MAX 65536u /* bytes: 4096 descriptors */
#define PVK_E1000_FRAME_MAX 16384u /* bytes, without the FCS */

struct pvk_e1000;

struct pvk_e1000_config {
	uint64_t base; /* guest-physical, a multiple of the BAR's size */
	unsigned int irq; /* ISA line, 0..15 */
	uint8_t mac[6]; /* the EEPROM's */
	/* The TAP (no vnet header): a name or a template with "%d" for
	 * the device to create with pvk_tap_open; its name comes back in
	 * pvk_e1000_ifname. */
	const char *tap;
	/* One line per kind of guest error, without a newline; NULL logs
	 * to stderr. */
	void (*log)(void *arg, const char *line);
	void *log_arg;
};

/* Create the device, open its TAP and decode its BAR in @dm (before
 * pvk_dmodel_enable).  -EINVAL for a bad config; pvk_tap_open's and
 * pvk_dmodel_add's errors. */
int pvk_e1000_create(struct pvk_e1000 **e, struct pvk_dmodel *dm,
		     const struct pvk_e1000_config *cfg);
/* Close the TAP and free; after pvk_dmodel_destroy (or with the model's
 * thread stopped). */
void pvk_e1000_destroy(struct pvk_e1000 *e);
/* The TAP's name. */
const char *pvk_e1000_ifname(const struct pvk_e1000 *e);

struct pvk_e1000_stats {
	uint64_t tx_frames, tx_bytes; /* written to the TAP */
	uint64_t rx_frames, rx_bytes; /* put in the guest's ring */
	uint64_t rx_missed; /* no descriptor, or RX off (MPC) */
	uint64_t rx_filtered; /* not for this address filter */
	uint64_t rx_oversize; /* longer than allowed (ROC) */
	uint64_t tx_dma_faults; /* descriptor or buffer not guest memory */
	uint64_t rx_dma_faults;
	uint64_t tx_oversize; /* chain over 16 KiB or 64 descriptors */
	uint64_t tx_unsupported; /* TSE, or a bad checksum offset */
	uint64_t tx_tap_errors; /* the TAP refused the frame */
	uint64_t bad_ring; /* RDLEN/TDLEN refused */
	uint64_t bad_index; /* head or tail outside the ring */
	uint64_t bad_access; /* not a naturally aligned 4 or 8 bytes */
	uint64_t irq_raised, irq_lowered; /* line transitions */
};
void pvk_e1000_stats(const struct pvk_e1000 *e, struct pvk_e1000_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_DM_E1000_H */
