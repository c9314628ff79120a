/* SPDX-License-Identifier: MIT */
/*
 * blkfront-core.h -- the pure logic of pvkit-blkfront: what to negotiate
 * from the backend's feature values, how a request's bytes map onto
 * segments, and the checks every response must pass.  No kernel and no
 * libc dependence beyond pvkit/blkif.h: the module includes it, and so
 * does its userspace unit test (tests/unit/test-kmod-blkfront.c).
 *
 * Everything here works on values already copied out of xenstore or out
 * of the shared ring: callers never pass pointers into shared memory.
 */
#ifndef PVKIT_BLKFRONT_CORE_H
#define PVKIT_BLKFRONT_CORE_H

#include <pvkit/blkif.h>

/* What the frontend itself is willing to use (module parameters). */
struct pvkbf_limits {
	unsigned int max_ring_order; /* <= PVK_RING_MAX_ORDER */
	unsigned int max_queues; /* >= 1 */
	unsigned int max_indirect; /* segments per request; 0: none */
	unsigned int max_depth; /* requests in flight per queue */
};

/* The ring geometry both ends agree on (decided at InitWait). */
struct pvkbf_rings {
	unsigned int order; /* ring-page-order */
	unsigned int nr_queues; /* multi-queue-num-queues */
};

/*
 * @be_order: the backend's max-ring-page-order (0 when absent);
 * @be_queues: its multi-queue-max-queues (0 or 1 when absent).  A value
 * above what we support is clamped, never trusted.
 */
static inline struct pvkbf_rings pvkbf_pick_rings(const struct pvkbf_limits *l,
						  unsigned int be_order,
						  unsigned int be_queues)
{
	struct pvkbf_rings r;
	unsigned int my_order = l->max_ring_order < PVK_RING_MAX_ORDER ?
					l->max_ring_order :
					PVK_RING_MAX_ORDER;

	r.order = be_order < my_order ? be_order : my_order;
	r.nr_queues = be_queues < l->max_queues ? be_queues : l->max_queues;
	if (!r.nr_queues)
		r.nr_queues = 1;
	return r;
}

/* Per-request data geometry (decided at Connected). */
struct pvkbf_geom {
	unsigned int segs; /* data pages (segments) per request */
	unsigned int ind_pages; /* indirect descriptor pages; 0: direct */
	unsigned int depth; /* requests in flight per queue = ring ids */
};

/*
 * @be_indirect: the backend's feature-max-indirect-segments (0 when
 * absent); @nr_ents: entries in one ring.  Indirect requests are used only
 * when they carry more than a direct request's 11 segments.
 */
static inline struct pvkbf_geom pvkbf_pick_geom(const struct pvkbf_limits *l,
						unsigned int be_indirect,
						unsigned int nr_ents)
{
	struct pvkbf_geom g;
	unsigned int n = be_indirect < l->max_indirect ? be_indirect :
							 l->max_indirect;

	if (n > PVK_BLKIF_MAX_INDIRECT_SEGMENTS)
		n = PVK_BLKIF_MAX_INDIRECT_SEGMENTS;
	if (n > PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST) {
		g.segs = n;
		g.ind_pages = pvk_blkif_indirect_pages(n);
	} else {
		g.segs = PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST;
		g.ind_pages = 0;
	}
	g.depth = nr_ents < l->max_depth ? nr_ents : l->max_depth;
	if (!g.depth)
		g.depth = 1;
	return g;
}

/*
 * sector-size / physical-sector-size: the logical block size must be a
 * power of two from 512 to a page; the physical one a power of two at
 * least the logical one (0, absent, or anything else: the logical one).
 * Returns 0 with *@lbs and *@pbs set, or -EINVAL.
 */
static inline int pvkbf_sector_sizes(unsigned int ss, unsigned int pss,
				     unsigned int *lbs, unsigned int *pbs)
{
	if (ss < PVK_BLKIF_SECTOR_SIZE || ss > PVK_PAGE_SIZE || (ss & (ss - 1)))
		return -EINVAL;
	*lbs = ss;
	*pbs = (pss >= ss && !(pss & (pss - 1)) && pss <= (1u << 20)) ? pss :
									ss;
	return 0;
}

/* The operation a cache flush is sent as: FLUSH_DISKCACHE if offered,
 * else WRITE_BARRIER, else -1 (no write cache to flush). */
static inline int pvkbf_flush_op(bool flush_cache, bool barrier)
{
	if (flush_cache)
		return PVK_BLKIF_OP_FLUSH_DISKCACHE;
	if (barrier)
		return PVK_BLKIF_OP_WRITE_BARRIER;
	return -1;
}

/*
 * A request's data is copied through whole pool pages: byte i of the
 * request lives at offset i % 4096 of page i / 4096.  Fill @seg[] for
 * @bytes (a multiple of 512, at most @max_segs pages) with @grefs[] and
 * return the number of segments, or -EINVAL.
 */
static inline int pvkbf_fill_segs(uint32_t bytes, const pvk_grant_ref_t *grefs,
				  struct pvk_blkif_request_segment *seg,
				  unsigned int max_segs)
{
	unsigned int i, n, len;

	if (!bytes || bytes % PVK_BLKIF_SECTOR_SIZE)
		return -EINVAL;
	n = (bytes + PVK_PAGE_SIZE - 1) / PVK_PAGE_SIZE;
	if (n > max_segs)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		len = bytes - i * PVK_PAGE_SIZE;
		if (len > PVK_PAGE_SIZE)
			len = PVK_PAGE_SIZE;
		seg[i].gref = grefs[i];
		seg[i].first_sect = 0;
		seg[i].last_sect = (uint8_t)(len / PVK_BLKIF_SECTOR_SIZE - 1);
	}
	return (int)n;
}

/* What the frontend remembers of a request it sent, per ring id. */
struct pvkbf_expect {
	bool inflight;
	uint8_t op; /* the ring operation sent */
	uint8_t ind_op; /* for PVK_BLKIF_OP_INDIRECT: READ or WRITE */
};

/* Response status as the block layer sees it. */
enum pvkbf_status {
	PVKBF_OK = 0,
	PVKBF_ERROR = 1,
	PVKBF_NOTSUPP = 2,
};

/* The id of a copied response: < @nr_ids, or -EPROTO with *@why set. */
static inline int pvkbf_rsp_id(const struct pvk_blkif_response *rsp,
			       uint32_t nr_ids, const char **why)
{
	if (rsp->id >= nr_ids) {
		*why = "response id out of range";
		return -EPROTO;
	}
	return (int)rsp->id;
}

/*
 * Check a copied response against what was sent with its id: the id must
 * be in flight, the operation the one sent (a response to an indirect
 * request may name INDIRECT or the operation it carried: backends
 * differ), the status one of the three blkif defines.  Returns an enum
 * pvkbf_status, or -EPROTO with *@why set.
 */
static inline int pvkbf_rsp_match(const struct pvk_blkif_response *rsp,
				  const struct pvkbf_expect *x,
				  const char **why)
{
	if (!x->inflight) {
		*why = "response for an id not in flight";
		return -EPROTO;
	}
	if (rsp->operation != x->op &&
	    !(x->op == PVK_BLKIF_OP_INDIRECT && rsp->operation == x->ind_op)) {
		*why = "response operation differs from the request's";
		return -EPROTO;
	}
	switch (rsp->status) {
	case PVK_BLKIF_RSP_OKAY:
		return PVKBF_OK;
	case PVK_BLKIF_RSP_ERROR:
		return PVKBF_ERROR;
	case PVK_BLKIF_RSP_EOPNOTSUPP:
		return PVKBF_NOTSUPP;
	default:
		*why = "unknown response status";
		return -EPROTO;
	}
}

#endif /* PVKIT_BLKFRONT_CORE_H */
