/* SPDX-License-Identifier: MIT */
/*
 * frontend/blkfront_priv.h -- private: what blkfront.c (data path: rings,
 * shadow table, grants, event channel) and blkfront_xs.c (control plane:
 * xenstore nodes, negotiation, xenbus states) share.
 *
 * The control plane calls into the data path only through:
 *   bf_rings_alloc()     allocate rings + event channels for a connection
 *   bf_rings_free()      tear them down, keeping every incomplete io
 *   bf_trim_ios()        fail held ios beyond a disk that shrank
 *   bf_start()           the backend is Connected: build shadows, re-issue
 *   bf_fail_all()        complete every io with an error
 *   bf_set_broken()      latch the device broken (one log line)
 * and the data path into the control plane through the shared frontend
 * state machine (pvk_xenbus_front_*, on bf->fr).
 */
#ifndef PVK_FRONTEND_BLKFRONT_PRIV_H
#define PVK_FRONTEND_BLKFRONT_PRIV_H

#include <pvkit/blkfront.h>
#include <pvkit/blkif.h>
#include <pvkit/spin.h>
#include <pvkit/xenbus.h>

#include "gntpool.h"

#define BF_RING_PAGES_MAX (1u << PVK_BLKFRONT_MAX_RING_ORDER)
#define BF_ID_NONE UINT32_MAX
/* Grant pool: pages granted once, reused LIFO (see blkfront.h). */
#define BF_POOL_CHUNK 64u
#define BF_POOL_MAX_PAGES 8192u
/* Request ids: shadow index in the low half, a per-shadow generation in
 * the high half, so a stale duplicate of an answered request is caught
 * even after its shadow was reused. */
#define BF_ID_IDX(id) ((uint32_t)(id))
#define BF_ID_GEN(id) ((uint32_t)((id) >> 32))

/* io->flags_ */
#define BF_IO_SENT (1u << 0) /* every ring request split off */
#define BF_IO_DONE (1u << 1) /* on the completed list */

/* Connection phases: the shared frontend state machine's (xenbus.h). */
#define BF_DISCONNECTED PVK_XENBUS_FE_DISCONNECTED /* no rings: ios wait */
#define BF_PUBLISHED PVK_XENBUS_FE_PUBLISHED
#define BF_CONNECTED PVK_XENBUS_FE_CONNECTED /* ios flow */
#define BF_BROKEN PVK_XENBUS_FE_BROKEN /* all I/O fails with -EIO */
#define BF_GONE PVK_XENBUS_FE_GONE /* all I/O fails with -ENODEV */

struct bf_shadow {
	struct pvk_blkfront_io *io; /* NULL: free */
	uint32_t next_free;
	uint32_t gen; /* bumped each time the shadow is used */
	uint8_t op; /* operation put on the ring (INDIRECT, ...) */
	uint8_t data_op; /* READ or WRITE for data requests */
	uint32_t nr_data, nr_ind; /* data and indirect pages */
	uint64_t io_off; /* bytes into io->buf */
	uint32_t len; /* data bytes */
	struct pvk_gntpool_page **pages; /* pooled: [nr_data + nr_ind] */
	void *np_addr; /* per-request grants: one allocation */
	uint32_t *np_refs;
	uint32_t np_count;
};

struct bf_queue {
	unsigned int idx;
	struct pvk_ring ring;
	void *sring;
	uint32_t nr_pages;
	uint32_t refs[BF_RING_PAGES_MAX];
	int port; /* local event-channel port, -1 if none */
	struct bf_shadow *shadow; /* [ring.nr_ents] */
	uint32_t free_head;
	uint32_t busy; /* shadows in use */
	bool unpushed;
};

struct pvk_blkfront {
	struct pvk_hv *hv;
	struct pvk_xenbus_front fr; /* xenstore side; fr.phase: BF_* */
	struct pvk_evtchn *ev;
	int epfd;
	char name[32]; /* "xvda" for log lines */
	struct pvk_blkfront_opts opts;
	struct pvk_spin spin; /* polling before sleeping (opts.poll_us) */
	struct pvk_blkfront_info info;
	const char *broken_why; /* NULL, or broken_buf */
	char broken_buf[160];
	bool pooled; /* grant pool (persistent or cached), else per request */
	uint32_t unit; /* bytes per wire sector: 512, or sector_size with
			* feature-large-sector-size */

	struct bf_queue q[PVK_BLKFRONT_MAX_QUEUES];
	uint32_t nr_queues;
	uint32_t max_segs; /* data pages per ring request */
	uint32_t max_ind; /* indirect pages per ring request */

	/* ios: incomplete (submission order) and completed, not reaped */
	struct pvk_blkfront_io *inc_head, *inc_tail, *dispatch;
	struct pvk_blkfront_io *done_head, *done_tail;
	unsigned int nr_ios; /* submitted, not reaped */
	uint64_t seq;

	struct pvk_gntpool gp; /* bounce pages, rings */

	struct pvk_blkfront_stats st;
};

void bf_log(struct pvk_blkfront *bf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* blkfront.c */
int bf_rings_alloc(struct pvk_blkfront *bf, uint32_t order, uint32_t nq);
void bf_rings_free(struct pvk_blkfront *bf);
int bf_start(struct pvk_blkfront *bf);
void bf_trim_ios(struct pvk_blkfront *bf);
void bf_fail_all(struct pvk_blkfront *bf, int err);
/* Latch broken: log "backend protocol violation: <why>; device disabled"
 * once, fail every io with -EIO. */
void bf_set_broken(struct pvk_blkfront *bf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* blkfront_xs.c: the vbd's nodes, on the shared frontend state machine */
int bf_xs_init(struct pvk_blkfront *bf, const char *vdev);

#endif /* PVK_FRONTEND_BLKFRONT_PRIV_H */
