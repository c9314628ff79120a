/* SPDX-License-Identifier: MIT */
/*
 * blkback data path: one thread per queue owns its ring, event channel,
 * grant mappings and io_uring.  Requests are copied off the ring once,
 * validated on the copy, mapped, and submitted in batches; completions
 * become responses pushed in batches.  See blkback_priv.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <liburing.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "blkback_priv.h"

#define SEG_SECTORS(s) ((uint32_t)(s).last_sect - (s).first_sect + 1u)

enum { BK_READ, BK_WRITE, BK_FLUSH, BK_BARRIER, BK_DISCARD };

struct bb_map {
	void *addr;
	uint32_t count;
};

struct bb_req {
	uint64_t id;
	uint64_t t0;
	uint64_t off, len; /* bytes */
	uint8_t op, kind;
	uint8_t cqes; /* completions still to come */
	bool sync; /* data (if any) then fdatasync */
	int16_t status;
	uint32_t nsegs, nmaps;
	struct iovec *iov;
	struct bb_map *maps;
	void *heap; /* iov/maps/segs of an indirect request */
	struct iovec iov_in[PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST];
	struct bb_map maps_in[PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST];
	struct bb_req *next_free;
};

struct bb_pgnt {
	uint32_t gref;
	bool used, writable;
	void *addr;
};

struct bb_queue {
	struct bb_dev *dev;
	struct pvk_hv *hv;
	uint32_t idx, fe;
	void *ring_addr;
	uint32_t ring_pages;
	struct pvk_ring ring;
	struct pvk_evtchn *ev;
	int port;
	int stop_fd;
	struct io_uring uring;
	bool uring_ok, thread_ok;
	pthread_t thread;

	struct bb_req *reqs, *free;
	/* Answered, response not yet published: back on the free list at
	 * the next push (their journal entries must stay until then). */
	struct bb_req *done;
	struct bj_queue *j; /* this queue's crash journal, or NULL */
	uint32_t *replay, nr_replay; /* journal entries to re-execute */
	uint32_t inflight; /* taken off the ring, not yet answered */
	uint32_t inflight_pub; /* atomic copy for the control thread */
	struct bb_req *held; /* a barrier waiting for the queue to drain */
	/* A barrier in flight: nothing taken after it starts before it
	 * completes (blkif.h: a barrier orders both ways). */
	struct bb_req *barrier;
	bool persistent;
	struct bb_pgnt *pg;
	uint32_t pg_mask, pg_count, pg_max;
	uint32_t pg_mul, pg_shift; /* secret odd multiplier; 32 - log2 size */
	uint32_t max_indirect;
	struct pvk_spin spin;
	/* Event storms (Linux's lateeoi, in spirit): kicks that bring no
	 * work in a row; past BB_SPURIOUS_FREE, the port stays masked for a
	 * backoff before the next kick can wake us. */
	uint32_t spurious;
	bool kicked; /* the last wake-up was a kick */
	int masked_port; /* left masked until unmask_at, or -1 */
	uint64_t unmask_at;
	bool broken; /* atomic: read by the control thread */
	struct bb_counters c;
};

#define BB_INC(q, field, v) \
	__atomic_store_n(&(q)->c.field, (q)->c.field + (v), __ATOMIC_RELAXED)

int bb_disk_open(struct bb_disk *d, const char *path, bool readonly,
		 bool allow_direct)
{
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;
	uint64_t bytes;
	int ssz, pssz;
	void *buf;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	if (allow_direct) {
		d->fd = open(path, flags | O_DIRECT);
		d->direct = d->fd >= 0;
	}
	if (d->fd < 0)
		d->fd = open(path, flags);
	if (d->fd < 0)
		return -errno;
	if (fstat(d->fd, &st) < 0)
		goto err_errno;
	d->readonly = readonly;
	d->sector_size = PVK_BLKIF_SECTOR_SIZE;
	d->phys_sector_size = PVK_BLKIF_SECTOR_SIZE;
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(d->fd, BLKGETSIZE64, &bytes) < 0 ||
		    ioctl(d->fd, BLKSSZGET, &ssz) < 0 ||
		    ioctl(d->fd, BLKPBSZGET, &pssz) < 0)
			goto err_errno;
		d->is_bdev = true;
		d->sector_size = (uint32_t)ssz;
		d->phys_sector_size = (uint32_t)pssz;
		d->discard_granularity = (uint32_t)pssz;
	} else if (S_ISREG(st.st_mode)) {
		bytes = (uint64_t)st.st_size;
		d->discard_granularity = st.st_blksize > 0 ?
						 (uint32_t)st.st_blksize :
						 PVK_PAGE_SIZE;
	} else {
		close(d->fd);
		d->fd = -1;
		return -EINVAL;
	}
	if (d->sector_size < PVK_BLKIF_SECTOR_SIZE ||
	    d->sector_size > PVK_PAGE_SIZE ||
	    (d->sector_size & (d->sector_size - 1))) {
		close(d->fd);
		d->fd = -1;
		return -EINVAL;
	}
	d->sectors = bytes / PVK_BLKIF_SECTOR_SIZE;
	d->discard = !readonly;

	/* O_DIRECT opens on file systems that then refuse sector-aligned
	 * I/O; find out now rather than on the guest's first request. */
	if (d->direct && d->sectors &&
	    posix_memalign(&buf, PVK_PAGE_SIZE, PVK_PAGE_SIZE) == 0) {
		ssize_t n = pread(d->fd, buf, d->sector_size, 0);

		free(buf);
		if (n < 0 && errno == EINVAL) {
			close(d->fd);
			d->fd = open(path, flags);
			d->direct = false;
			if (d->fd < 0)
				return -errno;
		}
	}
	return 0;

err_errno:
	ssz = -errno;
	close(d->fd);
	d->fd = -1;
	return ssz;
}

int bb_disk_refresh(struct bb_disk *d)
{
	struct stat st;
	uint64_t bytes;

	if (fstat(d->fd, &st) < 0)
		return -errno;
	if (d->is_bdev) {
		if (ioctl(d->fd, BLKGETSIZE64, &bytes) < 0)
			return -errno;
	} else {
		bytes = (uint64_t)st.st_size;
	}
	d->sectors = bytes / PVK_BLKIF_SECTOR_SIZE;
	return 0;
}

void bb_disk_close(struct bb_disk *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

/* --- grants ------------------------------------------------------------ */

static struct bb_pgnt *pg_find(struct bb_queue *q, uint32_t gref)
{
	/* Multiplicative hashing with a multiplier the frontend cannot know
	 * (the top bits of gref * mul), so it cannot choose grefs that all
	 * probe the same chain: a lookup stays short on average. */
	uint32_t i, h = (gref * q->pg_mul) >> q->pg_shift;

	for (i = 0; i <= q->pg_mask; i++, h = (h + 1) & q->pg_mask) {
		if (!q->pg[h].used || q->pg[h].gref == gref)
			return &q->pg[h];
	}
	return NULL;
}

/*
 * Persistent mode: map @gref once and keep it.  Frontends grant persistent
 * pages writable; one that grants a page read-only gets a read-only entry,
 * and a later write-mapping need for it is served by a transient mapping
 * (never by remapping: an in-flight request may be using the old one).
 */
static int pg_get(struct bb_queue *q, struct bb_req *r, uint32_t gref,
		  bool need_write, void **addr)
{
	struct bb_pgnt *e = pg_find(q, gref);
	bool wr = true;
	void *a;
	int err;

	if (e && e->used && (e->writable || !need_write)) {
		*addr = e->addr;
		return 0;
	}
	err = pvk_hv_grant_map(q->hv, q->fe, 1, &gref, true, &a);
	if (err == -EACCES && !need_write) {
		wr = false;
		err = pvk_hv_grant_map(q->hv, q->fe, 1, &gref, false, &a);
	}
	if (err < 0)
		return err;
	if (e && !e->used && q->pg_count < q->pg_max) {
		*e = (struct bb_pgnt){
			.gref = gref, .used = true, .writable = wr, .addr = a
		};
		q->pg_count++;
	} else {
		r->maps[r->nmaps++] = (struct bb_map){ a, 1 };
	}
	*addr = a;
	return 0;
}

static void req_unmap(struct bb_queue *q, struct bb_req *r)
{
	uint32_t i;

	for (i = 0; i < r->nmaps; i++)
		pvk_hv_grant_unmap(q->hv, r->maps[i].addr, r->maps[i].count);
	r->nmaps = 0;
}

/* Map the data pages of @segs (already validated) and build the iovecs. */
static int req_map(struct bb_queue *q, struct bb_req *r,
		   const struct pvk_blkif_request_segment *segs, uint32_t n,
		   uint32_t *refs)
{
	bool wr = r->kind == BK_READ;
	uint32_t i;
	void *base;
	int err;

	if (!q->persistent) {
		for (i = 0; i < n; i++)
			refs[i] = segs[i].gref;
		err = pvk_hv_grant_map(q->hv, q->fe, n, refs, wr, &base);
		if (err < 0)
			return err;
		r->maps[r->nmaps++] = (struct bb_map){ base, n };
		for (i = 0; i < n; i++) {
			r->iov[i].iov_base =
				(char *)base + (size_t)i * PVK_PAGE_SIZE +
				segs[i].first_sect * PVK_BLKIF_SECTOR_SIZE;
			r->iov[i].iov_len =
				SEG_SECTORS(segs[i]) * PVK_BLKIF_SECTOR_SIZE;
		}
		return 0;
	}
	for (i = 0; i < n; i++) {
		err = pg_get(q, r, segs[i].gref, wr, &base);
		if (err < 0)
			return err;
		r->iov[i].iov_base = (char *)base +
				     segs[i].first_sect * PVK_BLKIF_SECTOR_SIZE;
		r->iov[i].iov_len =
			SEG_SECTORS(segs[i]) * PVK_BLKIF_SECTOR_SIZE;
	}
	return 0;
}

/*
 * Copy an indirect request's segment pages into @segs, once.  The pages
 * are mapped read-only (transiently, or through the persistent table) and
 * never read again after the copy.
 */
static int req_copy_indirect(struct bb_queue *q, struct bb_req *r,
			     const struct pvk_blkif_request_indirect *ind,
			     struct pvk_blkif_request_segment *segs)
{
	uint32_t n = ind->nr_segments, pages = pvk_blkif_indirect_pages(n);
	uint32_t refs[PVK_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST], i, k, left;
	const size_t per = PVK_BLKIF_SEGS_PER_INDIRECT_PAGE;
	uint32_t nmaps0 = r->nmaps;
	void *base = NULL, *page;
	int err;

	for (i = 0; i < pages; i++)
		refs[i] = ind->indirect_grefs[i];
	if (!q->persistent) {
		err = pvk_hv_grant_map(q->hv, q->fe, pages, refs, false, &base);
		if (err < 0)
			return err;
	}
	for (i = 0, left = n; i < pages; i++, left -= k) {
		k = left < per ? left : (uint32_t)per;
		if (base) {
			page = (char *)base + (size_t)i * PVK_PAGE_SIZE;
		} else {
			err = pg_get(q, r, refs[i], false, &page);
			if (err < 0)
				goto unmap;
		}
		memcpy(segs + i * per, page, k * sizeof(*segs));
	}
	err = 0;
unmap:
	/* Transient mappings of the indirect pages go now, not at
	 * completion: only the copy is used from here on. */
	if (base)
		pvk_hv_grant_unmap(q->hv, base, pages);
	while (r->nmaps > nmaps0) {
		r->nmaps--;
		pvk_hv_grant_unmap(q->hv, r->maps[r->nmaps].addr,
				   r->maps[r->nmaps].count);
	}
	return err;
}

/* --- requests ----------------------------------------------------------- */

static void req_finish(struct bb_queue *q, struct bb_req *r, int16_t status)
{
	struct pvk_blkif_response rsp = { .id = r->id,
					  .operation = r->op,
					  .status = status };
	uint64_t us = (pvk_spin_clock_ns() - r->t0) / 1000u;
	unsigned int kind = r->kind == BK_READ	? BB_LAT_READ :
			    r->kind == BK_WRITE ? BB_LAT_WRITE :
						  BB_LAT_SYNC;

	req_unmap(q, r);
	free(r->heap);
	r->heap = NULL;
	if (q->j) {
		struct bj_ent *e = &q->j->e[r - q->reqs];

		__atomic_store_n(&e->ans, q->ring.prod_pvt, __ATOMIC_RELAXED);
		__atomic_store_n(&e->state, BJ_ANSWERED, __ATOMIC_RELEASE);
	}
	/* Fails only on a latched-broken ring: the response is dropped. */
	pvk_blkif_put_response(&q->ring, &rsp);

	if (status == PVK_BLKIF_RSP_OKAY) {
		switch (r->kind) {
		case BK_READ:
			BB_INC(q, reads, 1);
			BB_INC(q, bytes_read, r->len);
			break;
		case BK_WRITE:
			BB_INC(q, writes, 1);
			BB_INC(q, bytes_written, r->len);
			break;
		case BK_FLUSH:
			BB_INC(q, flushes, 1);
			BB_INC(q, bytes_written, r->len);
			break;
		case BK_BARRIER:
			BB_INC(q, barriers, 1);
			BB_INC(q, bytes_written, r->len);
			break;
		case BK_DISCARD:
			BB_INC(q, discards, 1);
			break;
		}
	} else if (status == PVK_BLKIF_RSP_EOPNOTSUPP) {
		BB_INC(q, eopnotsupp, 1);
	} else {
		BB_INC(q, errors, 1);
	}
	BB_INC(q, hist[kind][bb_hist_bucket(us)], 1);

	if (q->barrier == r)
		q->barrier = NULL;
	r->next_free = q->done;
	q->done = r;
	q->inflight--;
}

static struct io_uring_sqe *get_sqe(struct bb_queue *q)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->uring);

	if (!sqe) {
		io_uring_submit(&q->uring);
		sqe = io_uring_get_sqe(&q->uring);
	}
	return sqe;
}

/* Queue the I/O of a validated, mapped request. */
static void req_submit(struct bb_queue *q, struct bb_req *r)
{
	int fd = q->dev->disk.fd;
	struct io_uring_sqe *sqe;

	r->cqes = 0;
	/* Both SQEs of a data + sync pair in one submission: were the
	 * queue to fill between them, the link would end with the data
	 * and the sync would run beside it, not after it. */
	if (io_uring_sq_space_left(&q->uring) < 2)
		io_uring_submit(&q->uring);
	if (r->kind == BK_DISCARD) {
		sqe = get_sqe(q);
		if (!sqe)
			goto nosqe;
		io_uring_prep_fallocate(
			sqe, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			(off_t)r->off, (off_t)r->len);
		io_uring_sqe_set_data(sqe, r);
		r->cqes = 1;
		return;
	}
	if (r->nsegs) {
		sqe = get_sqe(q);
		if (!sqe)
			goto nosqe;
		/* One segment (a 4 KiB request) needs no iovec import. */
		if (r->nsegs == 1 && r->kind == BK_READ)
			io_uring_prep_read(sqe, fd, r->iov[0].iov_base,
					   (unsigned int)r->iov[0].iov_len,
					   r->off);
		else if (r->nsegs == 1)
			io_uring_prep_write(sqe, fd, r->iov[0].iov_base,
					    (unsigned int)r->iov[0].iov_len,
					    r->off);
		else if (r->kind == BK_READ)
			io_uring_prep_readv(sqe, fd, r->iov, r->nsegs, r->off);
		else
			io_uring_prep_writev(sqe, fd, r->iov, r->nsegs, r->off);
		io_uring_sqe_set_data(sqe, r);
		r->cqes++;
		if (r->sync)
			sqe->flags |= IOSQE_IO_LINK;
	}
	if (r->sync) {
		sqe = get_sqe(q);
		if (!sqe)
			goto nosqe;
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data(sqe, r);
		r->cqes++;
	}
	return;
nosqe:
	/* Only if the kernel refuses submissions; answer, never hang. */
	if (!r->cqes)
		req_finish(q, r, PVK_BLKIF_RSP_ERROR);
	else
		r->status = PVK_BLKIF_RSP_ERROR;
}

/*
 * Take one request copied off the ring (ring index @idx) into @r, a free
 * bb_req; answer it or queue its I/O.  Journaled first (blkback_priv.h):
 * from here on a crash leaves it to the next instance.
 */
static void req_start(struct bb_queue *q, struct bb_req *r,
		      const union pvk_blkif_any_request *req, uint32_t idx)
{
	const struct pvk_blkif_request_segment *segs = req->rw.seg;
	struct pvk_blkif_request_segment *isegs = NULL;
	const struct bb_disk *d = &q->dev->disk;
	const struct bb_limits *lim = &q->dev->lim;
	uint32_t refs_in[PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST], *refs = refs_in;
	uint64_t sectors = 0, sector;
	const char *why = NULL;
	int16_t st = PVK_BLKIF_RSP_ERROR;
	uint32_t i, n;
	int err;

	if (q->j) {
		struct bj_ent *e = &q->j->e[r - q->reqs];

		if (&e->req != req)
			e->req = *req;
		__atomic_store_n(&e->idx, idx, __ATOMIC_RELAXED);
		__atomic_store_n(&e->state, BJ_TAKEN, __ATOMIC_RELEASE);
		if ((int32_t)(idx + 1 - q->j->cons) > 0)
			__atomic_store_n(&q->j->cons, idx + 1,
					 __ATOMIC_RELEASE);
	}
	q->inflight++;
	r->t0 = pvk_spin_clock_ns();
	r->op = req->hdr.operation;
	r->status = PVK_BLKIF_RSP_OKAY;
	r->sync = false;
	r->nmaps = 0;
	r->nsegs = 0;
	r->len = 0;
	r->iov = r->iov_in;
	r->maps = r->maps_in;
	r->heap = NULL;

	err = pvk_blkif_check_request(req, q->max_indirect, &why);
	switch (req->hdr.operation) {
	case PVK_BLKIF_OP_DISCARD:
		r->id = req->discard.id;
		r->kind = BK_DISCARD;
		sector = req->discard.sector_number;
		sectors = req->discard.nr_sectors;
		if (!lim->discard || !d->discard ||
		    (req->discard.flag & PVK_BLKIF_DISCARD_SECURE)) {
			st = PVK_BLKIF_RSP_EOPNOTSUPP;
			goto answer;
		}
		if (sector > d->sectors || sectors > d->sectors - sector)
			goto answer;
		if (!sectors) {
			st = PVK_BLKIF_RSP_OKAY;
			goto answer;
		}
		r->off = sector * PVK_BLKIF_SECTOR_SIZE;
		r->len = sectors * PVK_BLKIF_SECTOR_SIZE;
		req_submit(q, r);
		return;
	case PVK_BLKIF_OP_INDIRECT:
		r->id = req->indirect.id;
		/* Answered as the operation it carries: Linux's blkfront
		 * (since 5.16) disables a device whose response to an
		 * indirect request names INDIRECT.  Its op is valid here
		 * (READ or WRITE) whenever err is 0. */
		if (!err)
			r->op = req->indirect.indirect_op;
		r->kind = req->indirect.indirect_op == PVK_BLKIF_OP_READ ?
				  BK_READ :
				  BK_WRITE;
		sector = req->indirect.sector_number;
		n = req->indirect.nr_segments;
		break;
	default:
		r->id = req->rw.id;
		sector = req->rw.sector_number;
		n = req->rw.nr_segments;
		r->kind = req->hdr.operation == PVK_BLKIF_OP_READ  ? BK_READ :
			  req->hdr.operation == PVK_BLKIF_OP_WRITE ? BK_WRITE :
			  req->hdr.operation == PVK_BLKIF_OP_FLUSH_DISKCACHE ?
								     BK_FLUSH :
								     BK_BARRIER;
		break;
	}
	if (err == -EOPNOTSUPP) {
		st = PVK_BLKIF_RSP_EOPNOTSUPP;
		goto answer;
	}
	if (err < 0)
		goto answer;
	if ((r->kind == BK_FLUSH && !lim->flush) ||
	    (r->kind == BK_BARRIER && !lim->barrier)) {
		st = PVK_BLKIF_RSP_EOPNOTSUPP;
		goto answer;
	}
	if (r->kind != BK_READ && d->readonly)
		goto answer;

	if (req->hdr.operation == PVK_BLKIF_OP_INDIRECT) {
		/* segs + iov + maps + refs for n segments, one allocation. */
		r->heap =
			malloc((size_t)n * (sizeof(*isegs) + sizeof(*r->iov) +
					    sizeof(*r->maps) + sizeof(*refs)));
		if (!r->heap)
			goto answer;
		r->iov = r->heap;
		r->maps = (struct bb_map *)(r->iov + n);
		isegs = (struct pvk_blkif_request_segment *)(r->maps + n);
		refs = (uint32_t *)(isegs + n);
		if (req_copy_indirect(q, r, &req->indirect, isegs) < 0)
			goto answer;
		segs = isegs;
		for (i = 0; i < n; i++)
			if (!pvk_blkif_check_segment(&segs[i]))
				goto answer;
	}
	for (i = 0; i < n; i++)
		sectors += SEG_SECTORS(segs[i]);
	/* A bare flush or barrier names no sectors: its sector_number is
	 * meaningless and not checked. */
	if (!n)
		sector = 0;
	if (sector > d->sectors || sectors > d->sectors - sector)
		goto answer;
	r->off = sector * PVK_BLKIF_SECTOR_SIZE;
	r->len = sectors * PVK_BLKIF_SECTOR_SIZE;
	if (d->sector_size > PVK_BLKIF_SECTOR_SIZE &&
	    ((r->off | r->len) & (d->sector_size - 1)))
		goto answer;
	if (n && req_map(q, r, segs, n, refs) < 0)
		goto answer;
	r->nsegs = n;
	r->sync = r->kind == BK_FLUSH || r->kind == BK_BARRIER;
	if (r->kind == BK_BARRIER) {
		/* Everything taken before the barrier completes first. */
		if (q->inflight > 1) {
			q->held = r;
			return;
		}
		q->barrier = r;
	}
	req_submit(q, r);
	return;

answer:
	req_finish(q, r, st);
}

static void queue_broken(struct bb_queue *q)
{
	/* The whole device stops: its other queues see dev->broken. */
	__atomic_store_n(&q->dev->broken, true, __ATOMIC_RELAXED);
	if (__atomic_exchange_n(&q->broken, true, __ATOMIC_RELAXED))
		return;
	__atomic_fetch_add(&q->dev->broken_count, 1, __ATOMIC_RELAXED);
	pvk_xenbus_bus_log(q->dev->bus, "vbd %s: queue %u: %s; device disabled",
			   q->dev->name, q->idx,
			   pvk_ring_broken_reason(&q->ring) ?:
				   "ring protocol violation");
}

static bool queue_reap(struct bb_queue *q);
static void queue_push(struct bb_queue *q);

/*
 * Copy requests off the ring while there is room to track them.  Each is
 * submitted as it is taken, so that the disk starts on it while we take
 * the next (issuing an I/O costs microseconds in the kernel: one batch
 * submitted at the end would hold the first request back by the cost of
 * all the others), and completions that arrive meanwhile are answered
 * at once, so the frontend can refill while we are still draining.
 */
static bool queue_consume(struct bb_queue *q)
{
	union pvk_blkif_any_request req;
	uint32_t taken = 0;
	bool got = false;
	struct bb_req *r;
	int n;

	/* At most a ring's worth per call: answers pushed in the loop free
	 * slots, and a frontend that keeps refilling them must not keep us
	 * from looking at the device's state (broken, stopping). */
	while (!q->held && !q->barrier && q->free &&
	       taken++ < q->ring.nr_ents) {
		n = pvk_blkif_get_any_request(&q->ring, &req);
		if (n < 0) {
			queue_broken(q);
			break;
		}
		if (n == 0)
			break;
		r = q->free;
		q->free = r->next_free;
		req_start(q, r, &req, q->ring.cons - 1);
		got = true;
		io_uring_submit(&q->uring);
		if (io_uring_cq_ready(&q->uring) && queue_reap(q))
			queue_push(q);
	}
	return got;
}

/* Reap completions; returns true if any request completed. */
static bool queue_reap(struct bb_queue *q)
{
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0;
	bool done = false;
	struct bb_req *r;

	io_uring_for_each_cqe(&q->uring, head, cqe)
	{
		seen++;
		r = io_uring_cqe_get_data(cqe);
		if (cqe->res < 0 ||
		    (r->kind != BK_DISCARD && r->nsegs &&
		     r->cqes == 1 + r->sync && (uint64_t)cqe->res != r->len))
			r->status = PVK_BLKIF_RSP_ERROR;
		if (--r->cqes == 0) {
			req_finish(q, r, r->status);
			done = true;
		}
	}
	io_uring_cq_advance(&q->uring, seen);
	return done;
}

static void queue_push(struct bb_queue *q)
{
	struct bb_req *r;

	if (pvk_ring_push(&q->ring)) {
		pvk_evtchn_notify(q->ev, (uint32_t)q->port);
		BB_INC(q, notifies, 1);
	}
	if (pvk_ring_is_broken(&q->ring))
		return;
	/* Published: the answered requests' entries and structs are free. */
	while ((r = q->done)) {
		q->done = r->next_free;
		if (q->j)
			__atomic_store_n(&q->j->e[r - q->reqs].state, BJ_FREE,
					 __ATOMIC_RELEASE);
		r->next_free = q->free;
		q->free = r;
	}
}

/* Re-execute what a crashed instance took and did not answer, in the
 * order it took it, before taking anything new. */
static void queue_replay(struct bb_queue *q)
{
	union pvk_blkif_any_request req;
	uint32_t i, k;

	for (i = 0; i < q->nr_replay; i++) {
		k = q->replay[i];
		req = q->j->e[k].req;
		req_start(q, &q->reqs[k], &req, q->j->e[k].idx);
	}
	if (q->nr_replay)
		pvk_xenbus_bus_log(q->dev->bus,
				   "vbd %s: queue %u: re-executed %u requests "
				   "taken by the crashed instance",
				   q->dev->name, q->idx, q->nr_replay);
	free(q->replay);
	q->replay = NULL;
	q->nr_replay = 0;
}

/*
 * Before sleeping, watch the ring and the completion queue for a while
 * without asking to be notified (req_event is left behind, so the
 * frontend need not kick us either).  Saves the wake-ups of a request at
 * low queue depth, at the cost of CPU; off unless configured, and then
 * sized by pvk_spin (hv.h): it stops while the frontend is idle.
 */
static bool queue_spin(struct bb_queue *q)
{
	uint64_t budget = pvk_spin_budget(&q->spin), end;
	int n;

	if (!budget || q->inflight > PVK_SPIN_MAX_INFLIGHT)
		return false;
	end = pvk_spin_clock_ns() + budget;
	do {
		if (io_uring_cq_ready(&q->uring))
			return true;
		n = pvk_ring_peek(&q->ring);
		if (n < 0) {
			queue_broken(q); /* not left for consume to see */
			return false;
		}
		if (n > 0)
			return true;
		/* A frontend on this CPU gets it; with none, a fast return. */
		sched_yield();
	} while (pvk_spin_clock_ns() < end);
	return false;
}

/*
 * Sleep until an I/O completes (the ring's fd), the frontend kicks (the
 * event channel) or we are told to stop.  poll() on the ring's fd rather
 * than io_uring_enter() with GETEVENTS: one wake-up hop for a kick, and a
 * call that tools such as valgrind know to block in without stalling
 * every other thread.
 */
#define BB_SPURIOUS_FREE 8u
#define BB_SPURIOUS_MAX_DELAY_NS 10000000ull /* 10 ms */

/* How long a port stays masked after a kick that found no work. */
static uint64_t spurious_delay_ns(uint32_t spurious)
{
	uint32_t k = spurious - BB_SPURIOUS_FREE;
	uint64_t ns = 100000ull << (k < 7 ? k : 7);

	return ns < BB_SPURIOUS_MAX_DELAY_NS ? ns : BB_SPURIOUS_MAX_DELAY_NS;
}

static void queue_sleep(struct bb_queue *q, bool *stopping, bool broken)
{
	struct pollfd pfd[3] = {
		{ .fd = q->uring.ring_fd, .events = POLLIN },
		/* A broken ring is not read again: its kicks are left
		 * pending (and masked), so a frontend that keeps notifying
		 * costs us no wake-ups. */
		{ .fd = broken ? -1 : pvk_evtchn_fd(q->ev), .events = POLLIN },
		/* Once stopping, only completions matter. */
		{ .fd = *stopping ? -1 : q->stop_fd, .events = POLLIN },
	};
	uint64_t t;
	int port, rc, tmo = -1;

	io_uring_submit(&q->uring);
	if (io_uring_cq_ready(&q->uring))
		return;
	t = pvk_spin_clock_ns();
	if (q->masked_port >= 0) {
		if (t >= q->unmask_at) {
			pvk_evtchn_unmask(q->ev, (uint32_t)q->masked_port);
			q->masked_port = -1;
			return; /* look at the ring before sleeping */
		}
		tmo = (int)((q->unmask_at - t + 999999) / 1000000);
		pfd[1].fd = -1;
	}
	rc = poll(pfd, 3, tmo);
	pvk_spin_slept(&q->spin, pvk_spin_clock_ns() - t);
	if (rc <= 0)
		return;
	if (pfd[1].revents) {
		/* The ring is looked at next anyway: take the kick.  One
		 * port is bound per handle, so one call drains it (were there
		 * more, the fd would stay readable). */
		port = pvk_evtchn_pending(q->ev);
		if (port >= 0) {
			BB_INC(q, events, 1);
			q->kicked = true;
			if (q->spurious < BB_SPURIOUS_FREE) {
				pvk_evtchn_unmask(q->ev, (uint32_t)port);
			} else {
				q->masked_port = port;
				q->unmask_at = pvk_spin_clock_ns() +
					       spurious_delay_ns(q->spurious);
			}
		}
	}
	if (pfd[2].revents)
		*stopping = true;
}

static void *queue_main(void *arg)
{
	struct bb_queue *q = arg;
	bool stopping = false, progress, broken;
	int n;

	queue_replay(q);
	for (;;) {
		broken = __atomic_load_n(&q->broken, __ATOMIC_RELAXED) ||
			 __atomic_load_n(&q->dev->broken, __ATOMIC_RELAXED);
		progress = false;
		if (!stopping && !broken)
			progress = queue_consume(q);
		/* Requests taken reset the count; a kick without any (the
		 * ring may be full: then completions soon reset it) adds. */
		if (progress)
			q->spurious = 0;
		else if (q->kicked)
			q->spurious++;
		q->kicked = false;
		if (q->held && q->inflight == 1) {
			struct bb_req *r = q->held;

			q->held = NULL;
			q->barrier = r;
			req_submit(q, r);
			progress = true;
		}
		io_uring_submit(&q->uring);
		progress |= queue_reap(q);
		queue_push(q);
		__atomic_store_n(&q->inflight_pub, q->inflight,
				 __ATOMIC_RELAXED);
		if (progress)
			continue;
		if (stopping && !q->inflight)
			break;
		/* While a barrier is held or in flight the ring is not
		 * read, so it is not waited on either. */
		if (!stopping && !broken && !q->held && !q->barrier &&
		    queue_spin(q))
			continue;
		if (!stopping && !broken && !q->held && !q->barrier) {
			n = pvk_ring_final_check(&q->ring);
			if (n < 0)
				queue_broken(q);
			if (n > 0)
				continue;
		}
		queue_sleep(q, &stopping, broken);
	}
	return NULL;
}

/* --- connect / disconnect ---------------------------------------------- */

static void queue_destroy(struct bb_queue *q)
{
	uint32_t i;

	if (!q)
		return;
	if (q->thread_ok) {
		uint64_t one = 1;

		if (write(q->stop_fd, &one, sizeof(one)) < 0) {
			/* eventfd write cannot fail short of overflow */
		}
		pthread_join(q->thread, NULL);
	}
	if (q->pg) {
		for (i = 0; i <= q->pg_mask; i++)
			if (q->pg[i].used)
				pvk_hv_grant_unmap(q->hv, q->pg[i].addr, 1);
		free(q->pg);
	}
	if (q->uring_ok)
		io_uring_queue_exit(&q->uring);
	if (q->stop_fd >= 0)
		close(q->stop_fd);
	if (q->ev) {
		if (q->port >= 0)
			pvk_evtchn_unbind(q->ev, (uint32_t)q->port);
		pvk_evtchn_close(q->ev);
	}
	if (q->ring_addr)
		pvk_hv_grant_unmap(q->hv, q->ring_addr, q->ring_pages);
	free(q->replay);
	free(q->reqs);
	free(q);
}

/*
 * Resume after a crash (blkback_priv.h): the requests owed are [P, J),
 * P the published response index (the ring is attached there), J the
 * journal's consumer index.  Exactly J - P journal entries must be owed:
 * TAKEN before J, or ANSWERED at or after P.  They stay TAKEN (a second
 * crash before they are answered finds them again) and are queued for
 * queue_replay() in the order taken; every other entry is freed.
 */
static int queue_recover(struct bb_queue *q)
{
	struct bj_queue *j = q->j;
	uint32_t P = q->ring.prod_pvt, J, n = q->ring.nr_ents, i, k, owed;
	struct bj_ent *e;

	if (!j || j->nr_ents != n)
		return -ESTALE;
	J = __atomic_load_n(&j->cons, __ATOMIC_ACQUIRE);
	owed = J - P;
	if (pvk_ring_back_resume(&q->ring, J) < 0)
		goto mismatch;
	q->replay = calloc(n, sizeof(*q->replay));
	if (!q->replay)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		e = &j->e[i];
		if ((e->state == BJ_TAKEN && (int32_t)(e->idx - J) < 0) ||
		    (e->state == BJ_ANSWERED && (int32_t)(e->ans - P) >= 0)) {
			if (q->nr_replay == owed)
				goto mismatch;
			/* Insertion by ring index: at most a ring's worth. */
			for (k = q->nr_replay;
			     k > 0 &&
			     (int32_t)(j->e[q->replay[k - 1]].idx - e->idx) > 0;
			     k--)
				q->replay[k] = q->replay[k - 1];
			q->replay[k] = i;
			q->nr_replay++;
			e->state = BJ_TAKEN;
		} else {
			e->state = BJ_FREE;
		}
	}
	if (q->nr_replay != owed)
		goto mismatch;
	return 0;
mismatch:
	pvk_xenbus_bus_log(q->dev->bus,
			   "vbd %s: queue %u: journal does not match the ring "
			   "(responses published up to %u, requests taken up "
			   "to %u, %u journaled as owed): not resuming",
			   q->dev->name, q->idx, P, J, q->nr_replay);
	return -ESTALE;
}

static int queue_recover(struct bb_queue *q);

static int queue_create(struct bb_dev *dev, uint32_t idx,
			const struct bb_connect *c, struct bb_queue **out)
{
	const struct bb_queue_conf *qc = &c->q[idx];
	struct bb_queue *q;
	uint32_t i, depth;
	int err;

	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->dev = dev;
	q->hv = dev->hv;
	q->idx = idx;
	q->fe = dev->fe_domid;
	q->port = -1;
	q->stop_fd = -1;
	q->masked_port = -1;
	q->ring_pages = 1u << c->ring_order;
	q->persistent = c->persistent;
	q->max_indirect = dev->lim.max_indirect_segs;
	pvk_spin_init(&q->spin, dev->lim.poll_us);

	err = pvk_hv_grant_map(q->hv, q->fe, q->ring_pages, qc->ring_refs, true,
			       &q->ring_addr);
	if (err < 0) {
		q->ring_addr = NULL;
		goto err;
	}
	if (c->resume || c->recover) {
		/* A previous instance drained this ring before handing it
		 * over: every request it took was answered and pushed, so
		 * requests start at the response producer index.  One that
		 * crashed owes the requests its journal holds: from there.
		 * The frontend can write that word too; if it lies, the index
		 * checks of the ring bound what it can make us read (and a
		 * recovery refuses a journal that does not add up). */
		pvk_ring_idx_t start = __atomic_load_n(
			&((struct pvk_sring *)q->ring_addr)->rsp_prod,
			__ATOMIC_ACQUIRE);

		err = pvk_ring_attach(&q->ring, PVK_RING_BACK, q->ring_addr,
				      (size_t)q->ring_pages * PVK_PAGE_SIZE,
				      sizeof(union pvk_blkif_sring_entry),
				      sizeof(struct pvk_blkif_request),
				      sizeof(struct pvk_blkif_response), start,
				      false);
	} else {
		err = pvk_blkif_back_attach(&q->ring, q->ring_addr,
					    (size_t)q->ring_pages *
						    PVK_PAGE_SIZE);
	}
	if (err < 0)
		goto err;
	err = pvk_evtchn_open(q->hv, &q->ev);
	if (err < 0) {
		q->ev = NULL;
		goto err;
	}
	q->port = pvk_evtchn_bind(q->ev, q->fe, qc->evtchn);
	if (q->port < 0) {
		err = q->port;
		goto err;
	}
	q->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->stop_fd < 0) {
		err = -errno;
		goto err;
	}
	q->reqs = calloc(q->ring.nr_ents, sizeof(*q->reqs));
	if (!q->reqs) {
		err = -ENOMEM;
		goto err;
	}
	q->j = bj_queue(dev, idx);
	if (c->recover) {
		err = queue_recover(q);
		if (err < 0)
			goto err;
	} else if (q->j) {
		q->j->cons = q->ring.cons;
	}
	for (i = q->ring.nr_ents; i-- > 0;) {
		if (q->j && q->j->e[i].state == BJ_TAKEN)
			continue; /* to re-execute, in q->reqs[i] */
		q->reqs[i].next_free = q->free;
		q->free = &q->reqs[i];
	}
	if (q->persistent) {
		q->pg_max = dev->lim.max_persistent;
		for (depth = 2; depth < 2 * q->pg_max; depth *= 2)
			;
		q->pg = calloc(depth, sizeof(*q->pg));
		if (!q->pg) {
			err = -ENOMEM;
			goto err;
		}
		q->pg_mask = depth - 1;
		q->pg_shift = 32u - (uint32_t)__builtin_ctz(depth);
		if (getrandom(&q->pg_mul, sizeof(q->pg_mul), 0) !=
		    sizeof(q->pg_mul))
			q->pg_mul = (uint32_t)pvk_spin_clock_ns();
		q->pg_mul |= 1u;
	}
	/* Two SQEs at most per request (data + sync). */
	depth = 2 * q->ring.nr_ents + 8;
	err = io_uring_queue_init(depth, &q->uring, 0);
	if (err < 0)
		goto err;
	q->uring_ok = true;
	*out = q;
	return 0;
err:
	queue_destroy(q);
	return err;
}

int bb_dev_connect(struct bb_dev *dev, const struct bb_connect *c)
{
	uint32_t i;
	int err;
	char name[16];

	if (!c->nr_queues || c->nr_queues > BB_MAX_QUEUES ||
	    c->ring_order > PVK_RING_MAX_ORDER)
		return -EINVAL;
	if (dev->bb->cfg.state_dir) {
		char msg[320];

		err = bj_open(dev, c,
			      pvk_blkif_ring_size((size_t)PVK_PAGE_SIZE
						  << c->ring_order),
			      msg, sizeof(msg));
		if (err < 0) {
			pvk_xenbus_bus_log(dev->bus, "vbd %s: %s", dev->name,
					   msg);
			/* Without a journal a crash costs a reconnection,
			 * as before; a recovery cannot go on. */
			if (c->recover)
				return err;
		}
	} else if (c->recover) {
		return -EOPNOTSUPP;
	}
	for (i = 0; i < c->nr_queues; i++) {
		err = queue_create(dev, i, c, &dev->queues[i]);
		if (err < 0)
			goto destroy_queues;
	}
	bj_seal(dev);
	dev->nr_queues = c->nr_queues;
	dev->persistent = c->persistent;
	for (i = 0; i < c->nr_queues; i++) {
		struct bb_queue *q = dev->queues[i];

		err = -pthread_create(&q->thread, NULL, queue_main, q);
		if (err < 0)
			goto destroy_queues;
		q->thread_ok = true;
		/* A thread name is 15 characters at most: cut if need be. */
		if (snprintf(name, sizeof(name), "bb%u.%u.%u", dev->fe_domid,
			     dev->devid & 0xffff, i) >= (int)sizeof(name))
			name[sizeof(name) - 1] = 0;
		pthread_setname_np(q->thread, name);
	}
	return 0;

destroy_queues:
	for (i = 0; i < BB_MAX_QUEUES; i++) {
		queue_destroy(dev->queues[i]);
		dev->queues[i] = NULL;
	}
	dev->nr_queues = 0;
	/* The rings are about to be closed: the journal is of no use. */
	bj_close(dev);
	return err;
}

static void counters_add(struct bb_counters *to, const struct bb_counters *c)
{
	const uint64_t *s = (const uint64_t *)c;
	uint64_t *d = (uint64_t *)to;
	size_t i;

	for (i = 0; i < sizeof(*c) / sizeof(uint64_t); i++)
		d[i] += __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

void bb_dev_quiesce(struct bb_dev *dev)
{
	uint64_t one = 1;
	uint32_t i;

	for (i = 0; i < BB_MAX_QUEUES; i++) {
		struct bb_queue *q = dev->queues[i];

		if (q && q->thread_ok &&
		    write(q->stop_fd, &one, sizeof(one)) < 0)
			pvk_xenbus_bus_log(dev->bus, "vbd %s: stop: %m",
					   dev->name);
	}
}

void bb_dev_disconnect(struct bb_dev *dev)
{
	uint64_t one = 1;
	uint32_t i;

	for (i = 0; i < BB_MAX_QUEUES; i++) {
		struct bb_queue *q = dev->queues[i];

		if (!q)
			continue;
		/* Join first: the thread answers every request it took. */
		if (q->thread_ok) {
			if (write(q->stop_fd, &one, sizeof(one)) < 0)
				pvk_xenbus_bus_log(dev->bus, "vbd %s: stop: %m",
						   dev->name);
			pthread_join(q->thread, NULL);
			q->thread_ok = false;
		}
		counters_add(&dev->old, &q->c);
		queue_destroy(q);
		dev->queues[i] = NULL;
	}
	dev->nr_queues = 0;
	/* Drained: nothing is owed, nothing to journal. */
	bj_close(dev);
}

void bb_dev_counters(struct bb_dev *dev, struct bb_counters *out, bool *broken,
		     uint32_t *inflight)
{
	uint32_t i;

	*out = dev->old;
	*broken = __atomic_load_n(&dev->broken, __ATOMIC_RELAXED);
	*inflight = 0;
	for (i = 0; i < BB_MAX_QUEUES; i++) {
		struct bb_queue *q = dev->queues[i];

		if (!q)
			continue;
		counters_add(out, &q->c);
		*inflight +=
			__atomic_load_n(&q->inflight_pub, __ATOMIC_RELAXED);
	}
}
