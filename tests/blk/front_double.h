/* SPDX-License-Identifier: MIT */
/*
 * tests/blk/front_double.h -- a TEST DOUBLE of a blkif backend, for
 * blkfront unit tests on the loop hypervisor.  It is not pvkit's blkback:
 * a RAM disk served by one thread acting as domain 0, small enough to be
 * obviously right, with knobs the real backend does not have: advertise
 * any subset of the features, "crash" and reconnect with requests in
 * flight, or answer with hostile responses.
 */
#ifndef PVK_TESTS_FRONT_DOUBLE_H
#define PVK_TESTS_FRONT_DOUBLE_H

#include <stdbool.h>
#include <stdint.h>

#include <pvkit/hv.h>

enum t_dbl_hostile {
	T_DBL_HONEST = 0,
	T_DBL_BAD_ID, /* a response id beyond the ring */
	T_DBL_DUP_ID, /* the same response twice */
	T_DBL_PROD_AHEAD, /* rsp_prod far beyond the requests */
	T_DBL_BAD_OP, /* response operation differs from the request */
	T_DBL_STALE_ID, /* answer with the id of an earlier, answered request */
	T_DBL_GARBAGE, /* random responses (seeded by hostile_seed) */
};

#define T_DBL_MAX_OVERRIDES 4
#define T_DBL_DISCARD_LOG 8

struct t_dbl_cfg {
	uint64_t disk_bytes;
	int max_ring_order; /* -1: no node */
	int max_queues; /* -1: no node */
	int max_indirect; /* -1 or 0: no node */
	bool persistent, flush, barrier, discard;
	bool read_only; /* mode=r and VDISK_READONLY */
	enum t_dbl_hostile hostile;
	uint32_t hostile_after; /* requests answered honestly first */
	uint64_t hostile_seed; /* T_DBL_GARBAGE */
	/* After this many requests taken (0: never), drop every unanswered
	 * request and the rings, as a crashed backend would, and come back:
	 * straight to InitWait, or through Closing/Closed if via_close. */
	uint32_t restart_after;
	bool restart_via_close;
	/* The disk the backend comes back with (0: unchanged; smaller only). */
	uint64_t restart_disk_bytes;
	uint32_t restart_sector_size;
	/* Backend nodes written as given after the honest ones (hostile
	 * xenstore values); a NULL value removes the node. */
	struct {
		const char *name, *value;
	} override[T_DBL_MAX_OVERRIDES];
	/* Logical sector size (0: 512).  As blkif.h and QEMU: sector
	 * quantities are in these units if the frontend wrote
	 * feature-large-sector-size = 1, else in 512-byte units (Linux). */
	uint32_t sector_size;
	uint32_t discard_granularity; /* 0: 4096 */
	uint32_t discard_alignment;
	bool discard_secure;
	/* Answer INDIRECT with its inner READ/WRITE, as Linux's blkback. */
	bool indirect_rsp_inner;
	/* Keep the first data grant it maps mapped until t_dbl_release()
	 * (a backend that does not let go of a page). */
	bool hold_grant;
};

struct t_dbl_stats {
	uint64_t requests, reads, writes, flushes, discards, indirect;
	uint64_t bad_requests; /* requests a correct frontend never sends */
	uint32_t restarts;
	uint32_t ring_order, nr_queues; /* as the frontend published */
	bool fe_persistent;
	bool fe_large_sectors; /* the frontend wrote feature-large-sector-size */
	uint32_t max_segs_seen;
	uint64_t requests_since_restart;
	struct {
		uint64_t sector, nr_sectors;
		uint8_t flag;
	} discard_log[T_DBL_DISCARD_LOG]; /* the first ones */
	bool holding; /* a grant is held (hold_grant) */
};

struct t_dbl;

/* Write the toolstack's nodes for vbd @devid of domain @fe (as `pvkit disk
 * attach` would) and start serving it from a RAM disk. */
int t_dbl_start(struct t_dbl **d, struct pvk_loop *loop, uint32_t fe,
		uint32_t devid, const struct t_dbl_cfg *cfg);
void t_dbl_stop(struct t_dbl *d);
/* While @on, take no requests and answer none (a backend stopped, e.g.
 * SIGSTOP): the frontend's requests wait on the ring.  Silencing returns
 * once the double is not serving: it takes nothing after that.  Lifting
 * it wakes the double at once: it serves what waited (a SIGCONT). */
void t_dbl_silence(struct t_dbl *d, bool on);
void t_dbl_stats(struct t_dbl *d, struct t_dbl_stats *st);
/* Shrink the disk to @bytes and say so as Linux's blkback does: new
 * "sectors", then "state" = Connected again. */
int t_dbl_resize(struct t_dbl *d, uint64_t bytes);
/* Unmap the grant held for hold_grant. */
void t_dbl_release(struct t_dbl *d);
/* The RAM disk (for comparing with what the frontend wrote). */
uint8_t *t_dbl_disk(struct t_dbl *d);

#endif
