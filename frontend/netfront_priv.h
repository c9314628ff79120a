/* SPDX-License-Identifier: MIT */
/*
 * frontend/netfront_priv.h -- private: what netfront.c (data path: rings,
 * slots, event channels) and netfront_xs.c (xenstore nodes, negotiation,
 * xenbus states) share.  The control plane calls the data path through
 * nf_rings_alloc/nf_rings_free/nf_start/nf_set_broken; the data path
 * calls the control plane through nf_xs_*() only.
 */
#ifndef PVK_FRONTEND_NETFRONT_PRIV_H
#define PVK_FRONTEND_NETFRONT_PRIV_H

#include <pvkit/netfront.h>
#include <pvkit/netif.h>
#include <pvkit/xenbus.h>

#include "gntpool.h"

#define NF_RING_ENTS 256u /* one page, tx (12-byte slots) and rx (8) */

/* Connection phases: the shared frontend state machine's. */
#define NF_DISCONNECTED PVK_XENBUS_FE_DISCONNECTED
#define NF_PUBLISHED PVK_XENBUS_FE_PUBLISHED
#define NF_CONNECTED PVK_XENBUS_FE_CONNECTED
#define NF_BROKEN PVK_XENBUS_FE_BROKEN
#define NF_GONE PVK_XENBUS_FE_GONE

/* A frame being received: its slots may arrive over several calls. */
struct nf_rx_frame {
	bool active; /* first slot seen, last not yet */
	bool extra_next; /* the next slot is an extra-info */
	bool more; /* the last data slot said more_data */
	bool bad; /* malformed: drop at the end */
	bool staged; /* data so far is in stage, not a caller buffer */
	bool too_long; /* outgrew the caller's buffer: drop at the end */
	uint16_t first_flags;
	uint32_t slots, len;
	uint8_t gso_type;
	uint16_t gso_size;
	int hash_type;
	uint32_t hash;
};

struct nf_queue {
	unsigned int idx;
	struct pvk_ring tx, rx;
	void *tx_sring, *rx_sring;
	uint32_t tx_ref, rx_ref;
	int port_tx, port_rx; /* equal without split event channels */
	struct pvk_gntpool_page *tx_pages[NF_RING_ENTS];
	struct pvk_gntpool_page *rx_pages[NF_RING_ENTS];
	uint16_t tx_free[NF_RING_ENTS]; /* stack of free tx ids */
	uint32_t tx_nfree;
	uint8_t tx_state[NF_RING_ENTS]; /* NF_TX_* */
	uint32_t rx_consumed; /* responses taken, requests not yet re-posted */
	struct nf_rx_frame fr;
	uint8_t *stage; /* PVK_NETFRONT_MAX_RX_FRAME, when a frame spans calls */
};

#define NF_TX_FREE 0
#define NF_TX_FIRST 1 /* in flight, a frame's first slot */
#define NF_TX_MORE 2 /* in flight, a later slot */

struct pvk_netfront {
	struct pvk_hv *hv;
	struct pvk_xenbus_front fr; /* xenstore side; fr.phase: NF_* */
	struct pvk_evtchn *ev;
	int epfd;
	char name[24]; /* "vif0" */
	struct pvk_netfront_opts opts;
	struct pvk_netfront_info info;
	const char *broken_why;
	char broken_buf[160];

	struct nf_queue *q[PVK_NETFRONT_MAX_QUEUES];
	uint32_t nr_queues;
	struct pvk_gntpool gp;
	struct pvk_netfront_stats st;
};

void nf_log(struct pvk_netfront *nf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* netfront.c */
int nf_rings_alloc(struct pvk_netfront *nf, uint32_t nq, bool split);
void nf_rings_free(struct pvk_netfront *nf);
void nf_start(struct pvk_netfront *nf);
void nf_set_broken(struct pvk_netfront *nf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* netfront_xs.c: the vif's nodes, on the shared frontend state machine */
int nf_xs_init(struct pvk_netfront *nf, uint32_t devid);

#endif /* PVK_FRONTEND_NETFRONT_PRIV_H */
