/* SPDX-License-Identifier: MIT */
/*
 * tests/blk/back_tfront.h -- a TEST frontend for blkback tests: a minimal
 * raw blkif frontend that speaks the wire protocol directly (it is not
 * libpvkit-front), so that backend tests depend on nothing but the
 * protocol, and can send what a correct frontend never would: arbitrary
 * raw requests, bad grants, garbage in the ring.
 *
 * One struct t_fe is used by one thread.  Waiting is done by polling
 * xenstore and the event channel with timeouts, never forever.
 */
#ifndef PVK_TESTS_BACK_TFRONT_H
#define PVK_TESTS_BACK_TFRONT_H

#include <stdbool.h>
#include <stdint.h>

#include <pvkit/blkif.h>
#include <pvkit/hv.h>

#define T_FE_MAX_QUEUES 4
#define T_FE_POOL_PAGES 256 /* data pages granted once, reused */
#define T_FE_MAX_SEGS 256 /* largest request the helper builds */

struct t_fe_cfg {
	uint32_t ring_order; /* asked for; capped by max-ring-page-order */
	uint32_t nr_queues; /* asked for; capped by multi-queue-max-queues */
	bool persistent; /* write feature-persistent = 1 */
	bool indirect; /* use indirect requests if offered */
	int timeout_ms; /* for each wait; default 10000 */
};

struct t_fe_q {
	void *sring;
	uint32_t refs[1u << PVK_RING_MAX_ORDER];
	struct pvk_ring ring;
	struct pvk_evtchn *ev;
	int port;
};

struct t_fe {
	struct pvk_hv *hv;
	uint32_t domid, be_domid, devid;
	char fe_path[256], be_path[256];
	struct t_fe_cfg cfg;
	bool connected;
	uint32_t ring_order, nr_queues;
	struct t_fe_q q[T_FE_MAX_QUEUES];
	uint8_t *pool;
	uint32_t pool_refs[T_FE_POOL_PAGES];
	uint8_t *ind;
	uint32_t ind_refs[PVK_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	/* What the backend offered. */
	uint64_t sectors;
	uint32_t sector_size, info, max_indirect;
	bool be_persistent, flush, barrier, discard;
	uint32_t connects;
};

/* Write the nodes `pvkit disk attach` writes, acting as @tool (dom0):
 * backend /local/domain/<be>/backend/vbd/<fe>/<devid>. */
int t_attach(struct pvk_hv *tool, uint32_t be, uint32_t fe, uint32_t devid,
	     const char *image, bool readonly);
/* The same with the mode node as given ("r", "w", "rw", garbage...). */
int t_attach_mode(struct pvk_hv *tool, uint32_t be, uint32_t fe, uint32_t devid,
		  const char *image, const char *mode);
/* Wait until xenstore node @path reads @want (decimal), or timeout. */
int t_wait_node(struct pvk_hv *hv, const char *path, unsigned long want,
		int timeout_ms);

/* Negotiate and connect: returns 0 or -errno. */
int t_fe_open(struct t_fe *fe, struct pvk_hv *hv, uint32_t devid,
	      const struct t_fe_cfg *cfg);
/* Frontend Closing -> Closed, rings freed. */
void t_fe_close(struct t_fe *fe);
/* Tear the rings down without telling anyone (a dead frontend), then
 * (t_fe_connect) negotiate afresh. */
void t_fe_drop_rings(struct t_fe *fe);
int t_fe_connect(struct t_fe *fe);
/* Follow a backend that left Connected: Closed, wait InitWait, connect. */
int t_fe_reconnect(struct t_fe *fe);
int t_fe_backend_state(struct t_fe *fe);

/*
 * Synchronous I/O of @nsect 512-byte sectors at @sector through queue @q
 * (op READ, WRITE, FLUSH_DISKCACHE or WRITE_BARRIER), as one ring request
 * (indirect if it needs more than 11 segments); the first segment starts
 * @first_sect sectors into its page.  Returns the response status
 * (PVK_BLKIF_RSP_*) or -errno.
 */
int t_fe_io(struct t_fe *fe, uint32_t q, uint8_t op, uint64_t sector, void *buf,
	    uint32_t nsect, uint32_t first_sect);
/* Several I/Os in flight at once on queue @q: submit all, then wait for
 * all.  status[i] gets each response. */
struct t_fe_io {
	uint8_t op;
	uint64_t sector;
	void *buf;
	uint32_t nsect;
	int status;
};
int t_fe_batch(struct t_fe *fe, uint32_t q, struct t_fe_io *ios, uint32_t n);
/* Submit the batch and return without waiting (requests in flight). */
int t_fe_submit(struct t_fe *fe, uint32_t q, struct t_fe_io *ios, uint32_t n);
/* Next response of queue @q, or -ETIMEDOUT. */
int t_fe_wait_rsp(struct t_fe *fe, uint32_t q, struct pvk_blkif_response *r,
		  int timeout_ms);
int t_fe_discard(struct t_fe *fe, uint32_t q, uint64_t sector, uint64_t nsect,
		 uint8_t flag);
/* Push what was put on queue @q's ring; notify if the backend asked. */
int t_fe_kick(struct t_fe *fe, uint32_t q);
/* Put @req as it is, wait for the response with its id. */
int t_fe_raw(struct t_fe *fe, uint32_t q,
	     const union pvk_blkif_any_request *req);
/* Hostile: fill every slot with garbage and publish a producer index far
 * beyond the ring, then notify. */
void t_fe_scribble(struct t_fe *fe, uint32_t q, uint32_t seed);

#endif /* PVK_TESTS_BACK_TFRONT_H */
