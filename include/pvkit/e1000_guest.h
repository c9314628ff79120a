/* SPDX-License-Identifier: MIT */
/*
 * pvkit/e1000_guest.h -- a minimal guest driver for an e1000 (82540EM)
 * NIC, what a small OS would have: reset, the MAC address from the EEPROM
 * (checksum verified), one TX and one RX ring of legacy descriptors with
 * 2 KiB buffers in guest RAM, frames sent by copy, received by polling
 * the ring or waiting on the interrupt line.  Part of libpvkit-front
 * (pkg-config pvkit-front); written against pvkit/gio.h only, so it
 * drives pvkit's device model (pvkit/dm_e1000.h) or any e1000.
 *
 * Traps: sending a frame is one (TDT); receiving is one RDT write per
 * PVK_E1000G_RX_BATCH frames, plus one ICR read each time the ring is
 * found empty and the driver waits.  Reclaiming TX descriptors and
 * finding received frames read guest RAM only.
 *
 * Not thread-safe: one thread per device (the vCPU's).
 */
#ifndef PVKIT_E1000_GUEST_H
#define PVKIT_E1000_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include <pvkit/gio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PVK_E1000G_TX_DESCS 16u
#define PVK_E1000G_RX_DESCS 32u
#define PVK_E1000G_BUF 2048u /* bytes per descriptor's buffer */
#define PVK_E1000G_RX_BATCH 8u /* descriptors given back per RDT write */
#define PVK_E1000G_FRAME_MAX 16384u
/* Guest RAM the driver takes for its rings and buffers. */
#define PVK_E1000G_MEM_SIZE \
	(4096u + (PVK_E1000G_TX_DESCS + PVK_E1000G_RX_DESCS) * PVK_E1000G_BUF)

struct pvk_e1000g;

/*
 * Bring up the e1000 whose registers are at guest-physical @mmio: reset
 * it, read its MAC address from the EEPROM, put the rings and buffers in
 * guest RAM at @mem (4 KiB aligned, PVK_E1000G_MEM_SIZE bytes, the
 * driver's until close), enable RX (broadcast, its own address; large
 * frames; the FCS stripped) and TX, unmask RXT0, RXO and LSC.  @irq is
 * the ISA line the NIC drives.  -EINVAL for a bad @mem or @irq; -EIO if
 * the NIC does not answer (reset or EEPROM never done) or the EEPROM's
 * checksum is wrong; g->err if an access failed.
 */
int pvk_e1000g_open(struct pvk_e1000g **d, struct pvk_gio *g, uint64_t mmio,
		    uint64_t mem, unsigned int irq);
/* Reset the NIC (it stops using the memory) and free. */
void pvk_e1000g_close(struct pvk_e1000g *d);
void pvk_e1000g_mac(const struct pvk_e1000g *d, uint8_t mac[6]);

/* Send @len bytes (a whole Ethernet frame, 14 .. PVK_E1000G_FRAME_MAX,
 * without the FCS, which the NIC appends).  0; -EMSGSIZE; -EAGAIN if the
 * TX ring has no room (the NIC has not finished earlier frames). */
int pvk_e1000g_send(struct pvk_e1000g *d, const void *frame, size_t len);

/*
 * Receive one frame into @buf: its length; -ETIMEDOUT after @timeout_ms
 * (0: do not wait; -1: for ever); -EMSGSIZE (the frame is dropped) if it
 * is longer than @len; -EIO for a frame the NIC marked bad or a ring the
 * NIC left inconsistent (dropped too); g->err if an access failed.
 */
int pvk_e1000g_recv(struct pvk_e1000g *d, void *buf, size_t len,
		    int timeout_ms);

struct pvk_e1000g_stats {
	uint64_t tx_frames, rx_frames;
	uint64_t rx_errors; /* dropped: bad, too long, inconsistent */
	uint64_t waits; /* times recv slept on the interrupt line */
	uint32_t icr; /* the causes seen in ICR, ORed */
};
void pvk_e1000g_stats(const struct pvk_e1000g *d, struct pvk_e1000g_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_E1000_GUEST_H */
