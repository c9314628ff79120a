/* SPDX-License-Identifier: MIT */
/*
 * blkback_priv.h -- private: the narrow interface between the blkback
 * control plane (blkback_xs.c: xenstore, negotiation, xenbus states) and
 * its data path (blkback.c: rings, grants, event channels, io_uring).
 *
 * The control plane owns struct bb_dev and everything in it except the
 * queues' run-time state; it fills a struct bb_connect from the frontend's
 * nodes and hands it to bb_dev_connect().  After that the queue threads own
 * their struct bb_queue until bb_dev_disconnect() has joined them.
 */
#ifndef PVK_BACKEND_BLKBACK_PRIV_H
#define PVK_BACKEND_BLKBACK_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <pvkit/blkback.h>
#include <pvkit/blkif.h>
#include <pvkit/xenbus.h>

#define BB_MAX_QUEUES 16u
/* Largest feature-max-indirect-segments offered: a non-persistent request
 * maps its data pages in one batch, and libpvkit-hv maps at most 1024
 * grants per call. */
#define BB_MAX_INDIRECT_SEGS 1024u
/*
 * Latency histogram: microseconds, four buckets per power of two (each
 * bucket at most 25% wide), so that a p50 of 40 us and one of 50 us land
 * in different buckets.  Buckets 0..3 are [0,1) .. [3,4) us; from 4 us,
 * bucket 4 + 4 * (e - 2) + s is [(4 + s) << (e - 2), (5 + s) << (e - 2))
 * for 2^e <= us < 2^(e+1).  The last bucket also takes everything above
 * (about 16.8 s).
 */
#define BB_HIST_BUCKETS 92
enum { BB_LAT_READ, BB_LAT_WRITE, BB_LAT_SYNC, BB_LAT_KINDS };

static inline unsigned int bb_hist_bucket(uint64_t us)
{
	unsigned int e, b;

	if (us < 4)
		return (unsigned int)us;
	e = 63u - (unsigned int)__builtin_clzll(us);
	b = 4 + 4 * (e - 2) + (unsigned int)((us >> (e - 2)) & 3);
	return b < BB_HIST_BUCKETS ? b : BB_HIST_BUCKETS - 1;
}

/* Lower bound of bucket @b, in microseconds; bb_hist_lo(b + 1) is its
 * upper bound. */
static inline uint64_t bb_hist_lo(unsigned int b)
{
	if (b < 4)
		return b;
	return (uint64_t)(4 + (b - 4) % 4) << ((b - 4) / 4);
}

/* Counters of one queue; written by its thread, read by the stats thread
 * with relaxed atomics (a snapshot, not a transaction).  hist[] is the
 * latency from taking a request off the ring to putting its response on
 * it, by kind: reads, writes, and flushes/barriers/discards. */
struct bb_counters {
	uint64_t reads, writes, flushes, barriers, discards;
	uint64_t bytes_read, bytes_written;
	uint64_t errors, eopnotsupp;
	uint64_t events; /* event-channel notifications taken */
	uint64_t notifies; /* notifications sent */
	uint64_t hist[BB_LAT_KINDS][BB_HIST_BUCKETS];
};

/* What the frontend published, validated, for one queue. */
struct bb_queue_conf {
	uint32_t ring_refs[1u << PVK_RING_MAX_ORDER];
	uint32_t evtchn;
};

struct bb_connect {
	uint32_t nr_queues;
	uint32_t ring_order;
	bool persistent;
	bool resume; /* rings handed over by a previous instance */
	bool recover; /* rings of a crashed instance, from its journal */
	struct bb_queue_conf q[BB_MAX_QUEUES];
};

/*
 * The crash journal (blkback_journal.c): what a SIGKILLed instance leaves
 * for the next one to resume its rings with, in a file of the state
 * directory (tmpfs: it survives the process, not the machine, as the
 * guests do not either) shared-mapped while the device is connected.
 *
 * Per queue, one entry per struct bb_req (same index).  The queue thread
 * alone writes its section, in this order, each store a release:
 *   take:    entry = { request copy, ring index idx }, state TAKEN; then
 *            cons = idx + 1
 *   answer:  entry.ans = response index, state ANSWERED; then the
 *            response is put on the ring
 *   push:    after rsp_prod is published, the answered entries FREE
 *            (their bb_req returns to the free list only then, so an
 *            entry is never reused before its response is published)
 * A process killed anywhere leaves: requests [P, cons) taken and owed,
 * P being rsp_prod as published in the ring page; each of them TAKEN, or
 * ANSWERED with ans >= P (put, not published).  The next instance
 * re-executes exactly those, in the order taken, answering from P.
 */
enum { BJ_FREE, BJ_TAKEN, BJ_ANSWERED };

struct bj_ent {
	uint32_t state, idx, ans, pad;
	union pvk_blkif_any_request req;
};

struct bj_queue {
	uint32_t cons, nr_ents;
	uint32_t pad[14];
	struct bj_ent e[];
};

struct bj_file;
struct bb_dev;

/* Create (truncate) the journal of @dev for the rings of @c (@nr_ents
 * entries each), valid once bj_seal()ed after the queues set their
 * consumer index; or, with c->recover, open the one a crashed instance
 * left and check that it describes @c.  0 or -errno, @msg saying why. */
int bj_open(struct bb_dev *dev, const struct bb_connect *c, uint32_t nr_ents,
	    char *msg, size_t len);
void bj_seal(struct bb_dev *dev);
/* Queue @q's section; NULL without a journal. */
struct bj_queue *bj_queue(struct bb_dev *dev, uint32_t q);
/* Unmap and remove (nothing is owed: the rings were drained or closed). */
void bj_close(struct bb_dev *dev);

/* The disk: set at probe, fixed while the device exists. */
struct bb_disk {
	int fd;
	bool readonly, direct, is_bdev, cdrom;
	bool discard; /* punch-hole works here */
	uint64_t sectors; /* 512-byte units */
	uint32_t sector_size, phys_sector_size;
	uint32_t discard_granularity;
};

struct bb_queue;
struct bb_dev;

/* Limits in force for a device (from the config, per device copy). */
struct bb_limits {
	uint32_t max_queues, max_ring_order, max_indirect_segs, max_persistent;
	uint32_t poll_us;
	bool flush, barrier, discard, persistent;
};

/* The block driver: one per backend directory type, registered on a
 * bus. */
struct pvk_blkback {
	struct pvk_xenbus_bus *bus;
	bool own_bus; /* made by pvk_blkback_create, destroyed with us */
	struct pvk_blkback_config cfg;
	char type[PVK_XENBUS_TYPE_MAX], fe_type[PVK_XENBUS_TYPE_MAX];
	struct pvk_xenbus_driver drv;
};

/* A vbd: the bus device's private state (backdev->priv). */
struct bb_dev {
	struct pvk_blkback *bb;
	struct pvk_xenbus_backdev *bd;
	struct pvk_xenbus_bus *bus; /* for logging from the data path */
	struct pvk_hv *hv;
	struct pvk_xenbus_dev xb; /* = bd->xb, fixed while the device is */
	uint32_t fe_domid, devid;
	char name[32]; /* "<fe>/<devid>", for logs */
	char *params;
	char mode[4];
	struct bb_disk disk;
	struct bb_limits lim;

	/* Data path, valid between connect and disconnect. */
	uint32_t nr_queues, ring_order;
	bool persistent;
	struct bb_queue *queues[BB_MAX_QUEUES];
	/* Counters of queues already torn down, so totals survive
	 * reconnects. */
	struct bb_counters old;
	bool broken; /* atomic: a queue saw a ring protocol violation */
	uint64_t broken_count; /* atomic */
	/* The crash journal, while connected; NULL without a state dir. */
	struct bj_file *journal;
	size_t journal_len;
	char journal_path[256];
};

/* blkback.c */
int bb_disk_open(struct bb_disk *d, const char *path, bool readonly,
		 bool allow_direct);
/* Re-read the size (sectors) of an open disk; no queue may be running. */
int bb_disk_refresh(struct bb_disk *d);
void bb_disk_close(struct bb_disk *d);
/* Map and start every queue of @c; on failure nothing is left behind. */
int bb_dev_connect(struct bb_dev *dev, const struct bb_connect *c);
/* Tell every queue to stop taking requests; returns at once (the
 * queues drain meanwhile; bb_dev_disconnect joins them). */
void bb_dev_quiesce(struct bb_dev *dev);
/* Stop taking requests, answer those taken, join, unmap.  NULL-safe per
 * queue; idempotent.  Afterwards every request taken off a ring has its
 * response pushed: a ring left so can be handed over (resume). */
void bb_dev_disconnect(struct bb_dev *dev);
/* Sum of the queues' counters plus dev->old; *broken if a queue is
 * latched broken. */
void bb_dev_counters(struct bb_dev *dev, struct bb_counters *out, bool *broken,
		     uint32_t *inflight);

#endif /* PVK_BACKEND_BLKBACK_PRIV_H */
