/* SPDX-License-Identifier: MIT */
/*
 * frontend/blkfront.c -- blkfront data path: ios split into ring requests
 * through a shadow table, bounce pages (a grant pool, or per-request
 * grants), response validation, and the public I/O entry points.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "blkfront_priv.h"

void bf_log(struct pvk_blkfront *bf, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (bf->opts.log)
		bf->opts.log(bf->opts.log_arg, line);
	else
		fprintf(stderr, "blkfront %s: %s\n", bf->name, line);
}

/* ---- io lists ---------------------------------------------------------- */

static void io_unlink(struct pvk_blkfront *bf, struct pvk_blkfront_io *io)
{
	if (bf->dispatch == io)
		bf->dispatch = io->next_;
	if (io->prev_)
		io->prev_->next_ = io->next_;
	else
		bf->inc_head = io->next_;
	if (io->next_)
		io->next_->prev_ = io->prev_;
	else
		bf->inc_tail = io->prev_;
	io->next_ = io->prev_ = NULL;
}

static void io_complete(struct pvk_blkfront *bf, struct pvk_blkfront_io *io)
{
	io_unlink(bf, io);
	io->flags_ |= BF_IO_DONE;
	if (io->result)
		bf->st.errors++;
	io->prev_ = bf->done_tail;
	if (bf->done_tail)
		bf->done_tail->next_ = io;
	else
		bf->done_head = io;
	bf->done_tail = io;
}

static void done_unlink(struct pvk_blkfront *bf, struct pvk_blkfront_io *io)
{
	if (io->prev_)
		io->prev_->next_ = io->next_;
	else
		bf->done_head = io->next_;
	if (io->next_)
		io->next_->prev_ = io->prev_;
	else
		bf->done_tail = io->prev_;
	io->next_ = io->prev_ = NULL;
	bf->nr_ios--;
}

/* Mark @io fully split; it stays incomplete until its frags answer. */
static void io_sent(struct pvk_blkfront *bf, struct pvk_blkfront_io *io)
{
	io->flags_ |= BF_IO_SENT;
	if (bf->dispatch == io)
		bf->dispatch = io->next_;
}

static void io_fail(struct pvk_blkfront *bf, struct pvk_blkfront_io *io,
		    int err)
{
	if (!io->result)
		io->result = err;
	if (!(io->flags_ & BF_IO_SENT))
		io_sent(bf, io);
	if (!io->frags_)
		io_complete(bf, io);
}

/* ---- shadows ----------------------------------------------------------- */

static void shadow_release(struct pvk_blkfront *bf, struct bf_queue *q,
			   uint32_t id)
{
	struct bf_shadow *sh = &q->shadow[id];
	uint32_t i;

	if (sh->pages) {
		for (i = 0; i < sh->nr_data + sh->nr_ind; i++) {
			if (sh->pages[i])
				pvk_gntpool_put(&bf->gp, sh->pages[i]);
			sh->pages[i] = NULL;
		}
	}
	pvk_gntpool_release(&bf->gp, sh->np_addr, sh->np_count);
	free(sh->np_refs);
	sh->np_addr = NULL;
	sh->np_refs = NULL;
	sh->np_count = 0;
	sh->io = NULL;
	sh->nr_data = sh->nr_ind = 0;
	sh->next_free = q->free_head;
	q->free_head = id;
	q->busy--;
}

/* Page @i of the request in @sh: address and grant. */
static void *shadow_page(const struct bf_shadow *sh, uint32_t i, uint32_t *gref)
{
	if (sh->pages) {
		*gref = sh->pages[i]->gref;
		return sh->pages[i]->va;
	}
	*gref = sh->np_refs[i];
	return (char *)sh->np_addr + (size_t)i * PVK_PAGE_SIZE;
}

static uint32_t bf_busy(const struct pvk_blkfront *bf)
{
	uint32_t i, n = 0;

	for (i = 0; i < bf->nr_queues; i++)
		n += bf->q[i].busy;
	return n;
}

/* Give @sh @n pages: from the pool, or one fresh grant allocation.
 * Returns 0, -EAGAIN (come back after completions), or -errno. */
static int shadow_get_pages(struct pvk_blkfront *bf, struct bf_queue *q,
			    struct bf_shadow *sh, uint32_t n, bool writable)
{
	int rc;

	if (bf->pooled)
		return pvk_gntpool_get(&bf->gp, n, sh->pages);
	sh->np_refs = calloc(n, sizeof(*sh->np_refs));
	if (!sh->np_refs)
		return -ENOMEM;
	rc = pvk_gntpool_alloc(&bf->gp, n, writable, sh->np_refs, &sh->np_addr);
	if (rc < 0) {
		free(sh->np_refs);
		sh->np_refs = NULL;
		sh->np_addr = NULL;
		/* Grants are a shared resource: wait for ours to come back. */
		return bf_busy(bf) ? -EAGAIN : rc;
	}
	sh->np_count = n;
	return 0;
}

/* ---- building requests ------------------------------------------------- */

/*
 * The part of a discard to send, in bytes: @io's range trimmed to whole
 * granules (starting discard_alignment into the disk) unless it is a
 * secure discard.  False if nothing is left to send.
 */
static bool bf_discard_range(const struct pvk_blkfront *bf,
			     const struct pvk_blkfront_io *io, uint64_t *start,
			     uint64_t *end)
{
	uint64_t g = bf->info.discard_granularity,
		 a = bf->info.discard_alignment;

	*start = io->offset;
	*end = io->offset + io->len;
	if (io->op == PVK_BLKFRONT_SECURE_DISCARD || g <= bf->info.sector_size)
		return *end > *start;
	/* Granule boundaries are a + k*g; a < g, and a, g are multiples of
	 * the sector size (checked at connect), so the result stays aligned. */
	if (*start > a)
		*start = a + (*start - a + g - 1) / g * g;
	else
		*start = a;
	if (*end < a + g)
		return false;
	*end = a + (*end - a) / g * g;
	return *end > *start;
}

/*
 * Split the next ring request off @io onto @q.  Returns 1 when queued,
 * 2 when nothing needs sending (the io is complete: a discard with no
 * whole granule), 0 when resources (pages) are short -- try again after
 * completions -- or -errno, which fails the io.
 */
static int bf_queue_frag(struct pvk_blkfront *bf, struct bf_queue *q,
			 struct pvk_blkfront_io *io)
{
	uint32_t id = q->free_head, n = 0, nind = 0, i, gref, unit = bf->unit;
	struct bf_shadow *sh = &q->shadow[id];
	uint16_t handle = (uint16_t)bf->info.devid;
	uint64_t bytes = 0, left, start = 0, end = 0, wid, sector;
	union pvk_blkif_any_request *req;
	uint8_t op;
	int rc;

	switch (io->op) {
	case PVK_BLKFRONT_FLUSH:
		op = bf->info.flush ? PVK_BLKIF_OP_FLUSH_DISKCACHE :
				      PVK_BLKIF_OP_WRITE_BARRIER;
		break;
	case PVK_BLKFRONT_DISCARD:
	case PVK_BLKFRONT_SECURE_DISCARD:
		if (!bf_discard_range(bf, io, &start, &end)) {
			bf->st.discards_skipped++;
			io->cursor_ = io->len;
			io_sent(bf, io);
			return 2;
		}
		op = PVK_BLKIF_OP_DISCARD;
		bytes = io->len;
		break;
	default:
		left = io->len - io->cursor_;
		bytes = (uint64_t)bf->max_segs * PVK_PAGE_SIZE;
		if (bytes > left)
			bytes = left;
		n = (uint32_t)((bytes + PVK_PAGE_SIZE - 1) / PVK_PAGE_SIZE);
		nind = n > PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST ?
			       pvk_blkif_indirect_pages(n) :
			       0;
		op = nind			 ? PVK_BLKIF_OP_INDIRECT :
		     io->op == PVK_BLKFRONT_READ ? PVK_BLKIF_OP_READ :
						   PVK_BLKIF_OP_WRITE;
		rc = shadow_get_pages(bf, q, sh, n + nind,
				      io->op == PVK_BLKFRONT_READ);
		if (rc == -EAGAIN)
			return 0;
		if (rc < 0)
			return rc;
		sh->nr_data = n;
		sh->nr_ind = nind;
		break;
	}

	/*
	 * Build the request in its ring slot (a free shadow means a free
	 * slot).  The slot is shared: only stores, never a load of what we
	 * wrote.  Building in place, rather than on the stack and copying,
	 * also spares the store-forwarding stall of reading back as vectors
	 * the fields just stored as bytes.  The generation in the id's upper
	 * half changes with every use of the shadow.
	 */
	req = pvk_ring_prepare(&q->ring);
	if (!req) {
		rc = pvk_ring_is_broken(&q->ring) ? -EPROTO : -ENOSPC;
		goto release;
	}
	wid = ((uint64_t)(sh->gen + 1) << 32) | id;
	sector = (io->offset + io->cursor_) / unit;
	if (op == PVK_BLKIF_OP_DISCARD) {
		req->discard.operation = op;
		req->discard.flag = io->op == PVK_BLKFRONT_SECURE_DISCARD ?
					    PVK_BLKIF_DISCARD_SECURE :
					    0;
		req->discard.handle = handle;
		req->discard.id = wid;
		req->discard.sector_number = start / unit;
		req->discard.nr_sectors = (end - start) / unit;
	} else if (nind) {
		req->indirect.operation = op;
		req->indirect.indirect_op = io->op == PVK_BLKFRONT_READ ?
						    PVK_BLKIF_OP_READ :
						    PVK_BLKIF_OP_WRITE;
		req->indirect.nr_segments = (uint16_t)n;
		req->indirect.id = wid;
		req->indirect.sector_number = sector;
		req->indirect.handle = handle;
		for (i = 0; i < nind; i++)
			shadow_page(sh, n + i,
				    &req->indirect.indirect_grefs[i]);
	} else {
		req->rw.operation = op;
		req->rw.nr_segments = (uint8_t)n;
		req->rw.handle = handle;
		req->rw.id = wid;
		req->rw.sector_number = n ? sector : 0;
	}
	for (i = 0; i < n; i++) {
		struct pvk_blkif_request_segment seg;
		uint64_t off = (uint64_t)i * PVK_PAGE_SIZE;
		uint32_t chunk = bytes - off > PVK_PAGE_SIZE ?
					 PVK_PAGE_SIZE :
					 (uint32_t)(bytes - off);
		void *va = shadow_page(sh, i, &gref);

		if (io->op == PVK_BLKFRONT_WRITE)
			memcpy(va, (const char *)io->buf + io->cursor_ + off,
			       chunk);
		seg.gref = gref;
		seg.first_sect = 0;
		seg.last_sect = (uint8_t)(chunk / unit - 1);
		if (nind) {
			struct pvk_blkif_request_segment *ind;
			uint32_t g;

			ind = shadow_page(
				sh, n + i / PVK_BLKIF_SEGS_PER_INDIRECT_PAGE,
				&g);
			ind[i % PVK_BLKIF_SEGS_PER_INDIRECT_PAGE] = seg;
		} else {
			req->rw.seg[i] = seg;
		}
	}
	rc = pvk_ring_commit(&q->ring);
	if (rc < 0)
		goto release;

	q->free_head = sh->next_free;
	q->busy++;
	sh->gen++;
	sh->io = io;
	sh->op = op;
	sh->data_op = io->op == PVK_BLKFRONT_READ ? PVK_BLKIF_OP_READ :
						    PVK_BLKIF_OP_WRITE;
	sh->io_off = io->cursor_;
	sh->len = (uint32_t)(n ? bytes : 0);
	if (nind)
		bf->st.indirect_requests++;
	q->unpushed = true;
	io->frags_++;
	io->cursor_ += bytes;
	if (io->cursor_ >= io->len)
		io_sent(bf, io);
	bf->st.ring_requests++;
	return 1;

release:
	/* Take the shadow as shadow_release() expects, then give it back
	 * with whatever pages it holds. */
	q->free_head = sh->next_free;
	q->busy++;
	shadow_release(bf, q, id);
	return rc;
}

/* The queue of the CPU we run on, as blk-mq maps CPUs to hardware
 * queues (one submitting thread keeps to one queue and one backend
 * thread); another only when that one is full. */
static struct bf_queue *bf_pick_queue(struct pvk_blkfront *bf)
{
	int cpu = sched_getcpu();
	uint32_t i, k, first = cpu > 0 ? (uint32_t)cpu % bf->nr_queues : 0;

	for (i = 0; i < bf->nr_queues; i++) {
		k = (first + i) % bf->nr_queues;
		if (bf->q[k].free_head != BF_ID_NONE)
			return &bf->q[k];
	}
	return NULL;
}

static void bf_dispatch(struct pvk_blkfront *bf)
{
	struct pvk_blkfront_io *io;
	struct bf_queue *q;
	int rc;

	if (bf->fr.phase != BF_CONNECTED)
		return;
	while ((io = bf->dispatch)) {
		q = bf_pick_queue(bf);
		if (!q)
			return;
		rc = bf_queue_frag(bf, q, io);
		if (rc == 0)
			return;
		if (rc == 2 && !io->frags_)
			io_complete(bf, io);
		if (rc < 0)
			io_fail(bf, io, rc);
	}
}

int pvk_blkfront_kick(struct pvk_blkfront *bf)
{
	uint32_t i;
	int rc;

	bf_dispatch(bf);
	for (i = 0; i < bf->nr_queues && bf->fr.phase == BF_CONNECTED; i++) {
		struct bf_queue *q = &bf->q[i];

		if (!q->unpushed)
			continue;
		q->unpushed = false;
		if (pvk_ring_push(&q->ring)) {
			rc = pvk_evtchn_notify(bf->ev, (uint32_t)q->port);
			if (rc < 0)
				return rc;
			bf->st.notifies++;
		}
	}
	return bf->fr.phase == BF_BROKEN ? -EIO : 0;
}

/* ---- responses --------------------------------------------------------- */

static int bf_response(struct pvk_blkfront *bf, struct bf_queue *q,
		       const struct pvk_blkif_response *rsp)
{
	uint32_t idx = BF_ID_IDX(rsp->id), i, gref;
	struct pvk_blkfront_io *io;
	struct bf_shadow *sh;
	int err = 0;

	if (idx >= q->ring.nr_ents) {
		bf_set_broken(bf, "response id %#" PRIx64 " out of range",
			      rsp->id);
		return -EPROTO;
	}
	sh = &q->shadow[idx];
	if (!sh->io || BF_ID_GEN(rsp->id) != sh->gen) {
		bf_set_broken(bf,
			      "response id %#" PRIx64
			      " for a request not in flight (duplicate?)",
			      rsp->id);
		return -EPROTO;
	}
	/* Linux's blkback answers an indirect request with its inner op. */
	if (rsp->operation != sh->op && (sh->op != PVK_BLKIF_OP_INDIRECT ||
					 rsp->operation != sh->data_op)) {
		bf_set_broken(bf,
			      "response operation %u differs from request %u",
			      rsp->operation, sh->op);
		return -EPROTO;
	}
	io = sh->io;
	if (rsp->status == PVK_BLKIF_RSP_OKAY) {
		if (sh->len && sh->data_op == PVK_BLKIF_OP_READ) {
			for (i = 0; i < sh->nr_data; i++) {
				uint32_t off = i * PVK_PAGE_SIZE;
				uint32_t chunk = sh->len - off > PVK_PAGE_SIZE ?
							 PVK_PAGE_SIZE :
							 sh->len - off;

				memcpy((char *)io->buf + sh->io_off + off,
				       shadow_page(sh, i, &gref), chunk);
			}
			bf->st.bytes_read += sh->len;
		} else if (sh->len) {
			bf->st.bytes_written += sh->len;
		}
	} else {
		err = rsp->status == PVK_BLKIF_RSP_EOPNOTSUPP ? -EOPNOTSUPP :
								-EIO;
	}
	shadow_release(bf, q, idx);
	io->frags_--;
	if (err)
		io_fail(bf, io, err);
	else if (!io->frags_ && (io->flags_ & BF_IO_SENT))
		io_complete(bf, io);
	return 0;
}

/* Consume every response on @q; returns how many, or -EPROTO. */
static int bf_process_queue(struct pvk_blkfront *bf, struct bf_queue *q)
{
	struct pvk_blkif_response rsp;
	int rc, n = 0;

	for (;;) {
		while ((rc = pvk_blkif_get_response(&q->ring, &rsp)) > 0) {
			if (bf_response(bf, q, &rsp) < 0)
				return -EPROTO;
			n++;
		}
		if (rc == 0)
			rc = pvk_ring_final_check(&q->ring);
		if (rc > 0)
			continue;
		if (rc < 0) {
			bf_set_broken(bf, "%s",
				      pvk_ring_broken_reason(&q->ring) ?
					      pvk_ring_broken_reason(&q->ring) :
					      "ring error");
			return -EPROTO;
		}
		return n;
	}
}

static int bf_process_rings(struct pvk_blkfront *bf)
{
	uint32_t i;
	int rc, n = 0;

	for (i = 0; i < bf->nr_queues && bf->fr.phase == BF_CONNECTED; i++) {
		if (!bf->q[i].busy)
			continue;
		rc = bf_process_queue(bf, &bf->q[i]);
		if (rc < 0)
			return rc;
		n += rc;
	}
	if (n && pvk_gntpool_has_zombies(&bf->gp))
		pvk_gntpool_reap(&bf->gp);
	return n;
}

static bool bf_rings_ready(struct pvk_blkfront *bf)
{
	uint32_t i;

	for (i = 0; i < bf->nr_queues && bf->fr.phase == BF_CONNECTED; i++) {
		struct bf_queue *q = &bf->q[i];

		if (q->busy &&
		    (uint32_t)(__atomic_load_n(&q->ring.sring->rsp_prod,
					       __ATOMIC_RELAXED) -
			       q->ring.cons))
			return true;
	}
	return false;
}

/* Wait up to @timeout_ms for backend or xenstore events and handle them. */
static int bf_wait(struct pvk_blkfront *bf, int timeout_ms)
{
	struct epoll_event evs[2];
	uint64_t budget, t;
	int i, n, port, want;
	uint32_t k;

	pvk_blkfront_kick(bf);
	budget = bf->fr.phase == BF_CONNECTED ? pvk_spin_budget(&bf->spin) : 0;
	for (k = 0, n = 0; budget && k < bf->nr_queues; k++)
		n += (int)bf->q[k].busy;
	if (n > PVK_SPIN_MAX_INFLIGHT)
		budget = 0;
	if (budget) {
		uint64_t end = pvk_spin_clock_ns() + budget;

		do {
			if (bf_rings_ready(bf))
				return bf_process_rings(bf) < 0 ? -EIO : 0;
			/* The backend, should it share this CPU, runs. */
			sched_yield();
		} while (pvk_spin_clock_ns() < end);
	}
	t = pvk_spin_clock_ns();
	n = epoll_wait(bf->epfd, evs, 2, timeout_ms);
	pvk_spin_slept(&bf->spin, pvk_spin_clock_ns() - t);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		if (evs[i].data.u32 == 1) {
			pvk_xenbus_front_handle(&bf->fr);
			continue;
		}
		/* Take at most one port per queue that can have answered:
		 * asking once more only to hear "none" costs a system call
		 * per wake-up, and a port left pending keeps the fd
		 * readable for the next wait anyway. */
		want = 0;
		for (k = 0; k < bf->nr_queues; k++)
			want += bf->q[k].busy ? 1 : 0;
		do {
			port = pvk_evtchn_pending(bf->ev);
			if (port < 0)
				break;
			pvk_evtchn_unmask(bf->ev, (uint32_t)port);
			bf->st.events++;
		} while (--want > 0);
	}
	bf_process_rings(bf);
	pvk_blkfront_kick(bf);
	return 0;
}

/*
 * Take, without waiting, what makes pvk_blkfront_fd() poll readable: every
 * pending port (unmasked again, so that the next notification is seen)
 * and the xenstore watch queue, acting on a change of the backend's
 * state.  Afterwards the descriptor is readable only for what comes later.
 * Called before the rings are looked at: a response published after that
 * look notifies again.  A port stays masked until we unmask it, so it is
 * queued once: the loop is bounded by the ports bound (plus any left over
 * from a torn-down connection; the rest, if any, keep the descriptor
 * readable for the next call).
 */
static void bf_take_events(struct pvk_blkfront *bf)
{
	int ports[2 * PVK_BLKFRONT_MAX_QUEUES], i, n, np = 0, port;
	struct epoll_event evs[2];
	bool xs = false;

	n = epoll_wait(bf->epfd, evs, 2, 0);
	for (i = 0; i < n; i++) {
		if (evs[i].data.u32 == 1) {
			xs = true;
			continue;
		}
		while (np < (int)(sizeof(ports) / sizeof(ports[0])) &&
		       (port = pvk_evtchn_pending(bf->ev)) >= 0)
			ports[np++] = port;
	}
	for (i = 0; i < np; i++)
		pvk_evtchn_unmask(bf->ev, (uint32_t)ports[i]);
	bf->st.events += (uint64_t)np;
	if (xs)
		pvk_xenbus_front_handle(&bf->fr);
}

/* ---- connection lifecycle (called by blkfront_xs.c) -------------------- */

int bf_rings_alloc(struct pvk_blkfront *bf, uint32_t order, uint32_t nq)
{
	uint32_t i, pages = 1u << order;
	int rc;

	for (i = 0; i < nq; i++) {
		struct bf_queue *q = &bf->q[i];

		memset(q, 0, sizeof(*q));
		q->idx = i;
		q->port = -1;
		q->free_head = BF_ID_NONE;
		bf->nr_queues = i + 1;
		rc = pvk_gntpool_alloc(&bf->gp, pages, true, q->refs,
				       &q->sring);
		if (rc < 0) {
			q->sring = NULL;
			goto free_rings;
		}
		q->nr_pages = pages;
		rc = pvk_blkif_front_init(&q->ring, q->sring,
					  (size_t)pages * PVK_PAGE_SIZE);
		if (rc < 0)
			goto free_rings;
		rc = pvk_evtchn_alloc_unbound(bf->ev, bf->info.backend_id);
		if (rc < 0)
			goto free_rings;
		q->port = rc;
	}
	bf->info.ring_order = order;
	bf->info.nr_queues = nq;
	bf->info.ring_entries = bf->q[0].ring.nr_ents;
	return 0;

free_rings:
	bf_rings_free(bf);
	return rc;
}

/* Tear the rings down; every incomplete io goes back to be split again. */
void bf_rings_free(struct pvk_blkfront *bf)
{
	struct pvk_blkfront_io *io, *next;
	uint32_t i, id;

	for (i = 0; i < bf->nr_queues; i++) {
		struct bf_queue *q = &bf->q[i];

		for (id = 0; q->shadow && id < q->ring.nr_ents; id++)
			if (q->shadow[id].io)
				shadow_release(bf, q, id);
		if (q->shadow)
			free(q->shadow[0].pages);
		free(q->shadow);
		q->shadow = NULL;
		if (q->port >= 0)
			pvk_evtchn_unbind(bf->ev, (uint32_t)q->port);
		q->port = -1;
		pvk_gntpool_release(&bf->gp, q->sring, q->nr_pages);
		q->sring = NULL;
	}
	bf->nr_queues = 0;
	for (io = bf->inc_head; io; io = next) {
		next = io->next_;
		io->frags_ = 0;
		if (io->result) {
			io_fail(bf, io, io->result);
			continue;
		}
		if (io->cursor_ || (io->flags_ & BF_IO_SENT))
			bf->st.reissued++;
		io->cursor_ = 0;
		io->flags_ &= ~BF_IO_SENT;
	}
	bf->dispatch = bf->inc_head;
	if (bf->fr.phase != BF_BROKEN && bf->fr.phase != BF_GONE)
		bf->fr.phase = BF_DISCONNECTED;
}

int bf_start(struct pvk_blkfront *bf)
{
	uint32_t i, id, per = bf->max_segs + bf->max_ind;

	for (i = 0; i < bf->nr_queues; i++) {
		struct bf_queue *q = &bf->q[i];
		uint32_t n = q->ring.nr_ents;
		struct pvk_gntpool_page **pages = NULL;

		q->shadow = calloc(n, sizeof(*q->shadow));
		if (!q->shadow)
			return -ENOMEM;
		if (bf->pooled) {
			pages = calloc((size_t)n * per, sizeof(*pages));
			if (!pages)
				return -ENOMEM;
		}
		for (id = 0; id < n; id++) {
			q->shadow[id].next_free = id + 1 < n ? id + 1 :
							       BF_ID_NONE;
			q->shadow[id].pages = pages ? pages + (size_t)id * per :
						      NULL;
		}
		q->free_head = 0;
		q->busy = 0;
	}
	bf->fr.phase = BF_CONNECTED;
	return pvk_blkfront_kick(bf);
}

/* Before (re)starting: the disk may have shrunk while we were away. */
void bf_trim_ios(struct pvk_blkfront *bf)
{
	struct pvk_blkfront_io *io, *next;
	uint64_t size = bf->info.size_bytes;

	for (io = bf->inc_head; io; io = next) {
		next = io->next_;
		/* A flush has no range (submit does not check its offset). */
		if (io->op != PVK_BLKFRONT_FLUSH &&
		    (io->offset > size || io->len > size - io->offset))
			io_fail(bf, io, -EIO);
	}
}

void bf_fail_all(struct pvk_blkfront *bf, int err)
{
	struct pvk_blkfront_io *io, *next;
	uint32_t i, id;

	for (i = 0; i < bf->nr_queues; i++) {
		struct bf_queue *q = &bf->q[i];

		for (id = 0; q->shadow && id < q->ring.nr_ents; id++) {
			if (!q->shadow[id].io)
				continue;
			q->shadow[id].io->frags_--;
			shadow_release(bf, q, id);
		}
	}
	for (io = bf->inc_head; io; io = next) {
		next = io->next_;
		io->frags_ = 0;
		io_fail(bf, io, err);
	}
	bf->dispatch = NULL;
}

void bf_set_broken(struct pvk_blkfront *bf, const char *fmt, ...)
{
	va_list ap;

	if (bf->fr.phase == BF_BROKEN)
		return;
	va_start(ap, fmt);
	vsnprintf(bf->broken_buf, sizeof(bf->broken_buf), fmt, ap);
	va_end(ap);
	bf->fr.phase = BF_BROKEN;
	bf->broken_why = bf->broken_buf;
	bf_log(bf, "device disabled: %s", bf->broken_why);
	bf_fail_all(bf, -EIO);
}

/*
 * End access to every grant.  Pages the backend still maps cannot be
 * freed (Xen semantics); give it until it reaches Closed, at most 2 s,
 * then leave them granted -- never reused -- for the pvk_hv handle to
 * end when it closes, and say so once.
 */
static bool be_closed(void *arg)
{
	struct pvk_blkfront *bf = arg;
	int be = pvk_xenbus_read_state(&bf->fr.dev, true);

	return be < 0 || be == PVK_XENBUS_CLOSED || be == PVK_XENBUS_UNKNOWN;
}

static void bf_release_grants(struct pvk_blkfront *bf)
{
	uint64_t pages = pvk_gntpool_drain(&bf->gp, be_closed, bf, 2000);

	if (pages)
		bf_log(bf,
		       "backend domain %u still maps %" PRIu64
		       " granted pages; left granted until the hv handle closes",
		       bf->info.backend_id, pages);
}

/* ---- public API -------------------------------------------------------- */

int pvk_blkfront_open(struct pvk_blkfront **bfp, struct pvk_hv *hv,
		      const char *vdev, const struct pvk_blkfront_opts *opts)
{
	struct epoll_event e = { .events = EPOLLIN };
	struct pvk_blkfront *bf;
	uint64_t deadline = 0;
	int rc, tmo;

	if (!bfp || !hv || !vdev)
		return -EINVAL;
	*bfp = NULL;
	if (opts &&
	    ((opts->flags & ~PVK_BLKFRONT_VALID_FLAGS) ||
	     opts->max_ring_order > PVK_BLKFRONT_MAX_RING_ORDER ||
	     opts->max_queues > PVK_BLKFRONT_MAX_QUEUES ||
	     opts->max_indirect_segs > PVK_BLKFRONT_MAX_INDIRECT_SEGS ||
	     (opts->max_indirect_segs &&
	      opts->max_indirect_segs <= PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST) ||
	     opts->queue_depth > PVK_BLKFRONT_MAX_QUEUE_DEPTH ||
	     opts->poll_us > PVK_BLKFRONT_MAX_POLL_US))
		return -EINVAL;
	bf = calloc(1, sizeof(*bf));
	if (!bf)
		return -ENOMEM;
	bf->hv = hv;
	bf->epfd = -1;
	if (opts)
		bf->opts = *opts;
	if (!opts || !opts->max_ring_order)
		bf->opts.max_ring_order = PVK_BLKFRONT_MAX_RING_ORDER;
	if (bf->opts.flags & PVK_BLKFRONT_NO_MULTI_PAGE)
		bf->opts.max_ring_order = 0;
	if (!bf->opts.max_queues) {
		/* As Linux: a queue per CPU, up to the maximum. */
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		bf->opts.max_queues = cpus < 1 ? 1 :
				      cpus > PVK_BLKFRONT_MAX_QUEUES ?
						 PVK_BLKFRONT_MAX_QUEUES :
						 (unsigned int)cpus;
	}
	if (bf->opts.flags & PVK_BLKFRONT_NO_MULTI_QUEUE)
		bf->opts.max_queues = 1;
	if (!bf->opts.max_indirect_segs)
		bf->opts.max_indirect_segs = PVK_BLKFRONT_DEFAULT_INDIRECT_SEGS;
	if (!bf->opts.queue_depth)
		bf->opts.queue_depth = 128;
	if (!bf->opts.connect_timeout_ms)
		bf->opts.connect_timeout_ms = 10000;
	pvk_spin_init(&bf->spin, bf->opts.poll_us);
	snprintf(bf->name, sizeof(bf->name), "%s", vdev);

	rc = pvk_evtchn_open(hv, &bf->ev);
	if (rc < 0)
		goto free_bf;
	bf->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (bf->epfd < 0) {
		rc = -errno;
		goto close_evtchn;
	}
	e.data.u32 = 0;
	if (epoll_ctl(bf->epfd, EPOLL_CTL_ADD, pvk_evtchn_fd(bf->ev), &e) < 0) {
		rc = -errno;
		goto close_epoll;
	}
	rc = bf_xs_init(bf, vdev);
	if (rc < 0)
		goto close_epoll;
	pvk_gntpool_init(&bf->gp, hv, bf->info.backend_id, BF_POOL_CHUNK,
			 BF_POOL_MAX_PAGES);
	e.data.u32 = 1;
	rc = pvk_xs_watch_fd(hv);
	if (rc < 0 || epoll_ctl(bf->epfd, EPOLL_CTL_ADD, rc, &e) < 0) {
		rc = rc < 0 ? rc : -errno;
		goto fini_xs;
	}
	rc = pvk_xenbus_front_switch(&bf->fr, PVK_XENBUS_INITIALISING);
	if (rc < 0)
		goto fini_xs;
	rc = pvk_xenbus_front_step(&bf->fr);
	if (rc < 0)
		goto fini_xs;

	if (bf->opts.connect_timeout_ms > 0)
		deadline = pvk_spin_clock_ns() +
			   (uint64_t)bf->opts.connect_timeout_ms * 1000000ull;
	while (bf->fr.phase != BF_CONNECTED) {
		if (bf->fr.phase == BF_BROKEN) {
			/* Our own failure (e.g. -ENOSPC: no grant or port
			 * left) as it is; else the backend broke the rules. */
			rc = bf->fr.err ? bf->fr.err : -EPROTO;
			goto fini_xs;
		}
		if (bf->fr.phase == BF_GONE) {
			rc = -ENODEV;
			goto fini_xs;
		}
		tmo = 1000;
		if (deadline) {
			uint64_t t = pvk_spin_clock_ns();

			if (t >= deadline) {
				bf_log(bf, "backend did not connect in %d ms",
				       bf->opts.connect_timeout_ms);
				rc = -ETIMEDOUT;
				goto fini_xs;
			}
			if ((deadline - t) / 1000000u < (uint64_t)tmo)
				tmo = (int)((deadline - t) / 1000000u) + 1;
		}
		rc = bf_wait(bf, tmo);
		if (rc < 0)
			goto fini_xs;
	}
	*bfp = bf;
	return 0;

fini_xs:
	bf_rings_free(bf);
	pvk_xenbus_front_switch(&bf->fr, PVK_XENBUS_CLOSED);
	bf_release_grants(bf);
	pvk_xenbus_front_fini(&bf->fr);
close_epoll:
	close(bf->epfd);
close_evtchn:
	pvk_evtchn_close(bf->ev);
free_bf:
	free(bf);
	return rc;
}

void pvk_blkfront_close(struct pvk_blkfront *bf)
{
	uint64_t end;
	int be;

	if (!bf)
		return;
	bf->fr.closing = true;
	/* Let outstanding I/O finish, briefly; the caller gave up on it. */
	end = pvk_spin_clock_ns() + 5000000000ull;
	while (bf->inc_head && bf->fr.phase == BF_CONNECTED &&
	       pvk_spin_clock_ns() < end)
		bf_wait(bf, 100);
	if (bf->fr.phase != BF_GONE) {
		/* Closing, and wait for the backend to let go of our grants. */
		pvk_xenbus_front_switch(&bf->fr, PVK_XENBUS_CLOSING);
		end = pvk_spin_clock_ns() + 2000000000ull;
		while (pvk_spin_clock_ns() < end) {
			be = pvk_xenbus_read_state(&bf->fr.dev, true);
			if (be < 0 || be == PVK_XENBUS_CLOSING ||
			    be == PVK_XENBUS_CLOSED || be == PVK_XENBUS_UNKNOWN)
				break;
			bf_wait(bf, 100);
		}
	}
	bf_fail_all(bf, -ECANCELED);
	bf_rings_free(bf);
	if (bf->fr.phase != BF_GONE)
		pvk_xenbus_front_switch(&bf->fr, PVK_XENBUS_CLOSED);
	bf_release_grants(bf);
	pvk_xenbus_front_fini(&bf->fr);
	close(bf->epfd);
	pvk_evtchn_close(bf->ev);
	free(bf);
}

void pvk_blkfront_info(const struct pvk_blkfront *bf,
		       struct pvk_blkfront_info *info)
{
	*info = bf->info;
}

uint64_t pvk_blkfront_size(const struct pvk_blkfront *bf)
{
	return bf->info.size_bytes;
}

uint32_t pvk_blkfront_sector_size(const struct pvk_blkfront *bf)
{
	return bf->info.sector_size;
}

bool pvk_blkfront_read_only(const struct pvk_blkfront *bf)
{
	return bf->info.read_only;
}

const char *pvk_blkfront_broken_reason(const struct pvk_blkfront *bf)
{
	return bf->fr.phase == BF_BROKEN ? bf->broken_why : NULL;
}

unsigned int pvk_blkfront_in_flight(const struct pvk_blkfront *bf)
{
	return bf->nr_ios;
}

int pvk_blkfront_fd(const struct pvk_blkfront *bf)
{
	return bf->epfd;
}

void pvk_blkfront_stats(const struct pvk_blkfront *bf,
			struct pvk_blkfront_stats *st)
{
	*st = bf->st;
	st->grant_allocs = bf->gp.allocs;
	st->grants_busy = bf->gp.busy;
}

int pvk_blkfront_submit(struct pvk_blkfront *bf, struct pvk_blkfront_io *io)
{
	uint64_t ss = bf->info.sector_size;

	if (!io)
		return -EINVAL;
	if (bf->fr.phase == BF_BROKEN)
		return -EIO;
	if (bf->fr.phase == BF_GONE)
		return -ENODEV;
	switch (io->op) {
	case PVK_BLKFRONT_READ:
	case PVK_BLKFRONT_WRITE:
		if (!io->buf || !io->len)
			return -EINVAL;
		/* fall through */
	case PVK_BLKFRONT_DISCARD:
	case PVK_BLKFRONT_SECURE_DISCARD:
		if (io->offset % ss || io->len % ss ||
		    io->offset > bf->info.size_bytes ||
		    io->len > bf->info.size_bytes - io->offset)
			return -EINVAL;
		if (io->op != PVK_BLKFRONT_READ && bf->info.read_only)
			return -EROFS;
		if (io->op < PVK_BLKFRONT_DISCARD)
			break;
		if (!io->len)
			return -EINVAL;
		if (!bf->info.discard ||
		    (io->op == PVK_BLKFRONT_SECURE_DISCARD &&
		     !bf->info.discard_secure))
			return -EOPNOTSUPP;
		break;
	case PVK_BLKFRONT_FLUSH:
		if (!bf->info.flush && !bf->info.barrier)
			return -EOPNOTSUPP;
		if (io->len)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (bf->nr_ios >= bf->opts.queue_depth)
		return -EAGAIN;

	io->result = 0;
	io->cursor_ = 0;
	io->frags_ = 0;
	io->flags_ = 0;
	io->seq_ = bf->seq++;
	io->next_ = NULL;
	io->prev_ = bf->inc_tail;
	if (bf->inc_tail)
		bf->inc_tail->next_ = io;
	else
		bf->inc_head = io;
	bf->inc_tail = io;
	if (!bf->dispatch)
		bf->dispatch = io;
	bf->nr_ios++;
	bf->st.ios++;
	bf_dispatch(bf);
	return 0;
}

static int bf_reap(struct pvk_blkfront *bf, struct pvk_blkfront_io **done,
		   unsigned int min_complete, unsigned int max, int timeout_ms)
{
	uint64_t deadline = 0;
	unsigned int n = 0;
	int rc;

	if (timeout_ms > 0)
		deadline =
			pvk_spin_clock_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		bf_process_rings(bf);
		while (n < max && bf->done_head) {
			struct pvk_blkfront_io *io = bf->done_head;

			done_unlink(bf, io);
			io->flags_ &= ~BF_IO_DONE;
			done[n++] = io;
		}
		if (n >= min_complete || n == max)
			return (int)n;
		if (!bf->nr_ios)
			return n ? (int)n : -ENOENT;
		if (timeout_ms == 0)
			return (int)n;
		rc = 1000;
		if (deadline) {
			uint64_t t = pvk_spin_clock_ns();

			if (t >= deadline)
				return (int)n;
			if ((deadline - t) / 1000000u < 1000u)
				rc = (int)((deadline - t) / 1000000u) + 1;
		}
		rc = bf_wait(bf, rc);
		if (rc < 0 && rc != -EIO)
			return n ? (int)n : rc;
	}
}

int pvk_blkfront_reap(struct pvk_blkfront *bf, struct pvk_blkfront_io **done,
		      unsigned int min_complete, unsigned int max,
		      int timeout_ms)
{
	int rc;

	if (!done || !max || min_complete > max)
		return -EINVAL;
	/* What pvk_blkfront_fd() polls readable for (bf_wait() takes it
	 * when reap waits). */
	if (!timeout_ms)
		bf_take_events(bf);
	rc = bf_reap(bf, done, min_complete, max, timeout_ms);
	/* Completions freed ring slots and pages: put the ios that waited
	 * for them on the rings, or no event would ever bring them. */
	pvk_blkfront_kick(bf);
	return rc;
}

/* Run one io to completion, leaving other completions for reap(). */
static int bf_sync(struct pvk_blkfront *bf, struct pvk_blkfront_io *io)
{
	int rc;

	while ((rc = pvk_blkfront_submit(bf, io)) == -EAGAIN) {
		rc = bf_wait(bf, 100);
		if (rc < 0)
			return rc;
	}
	if (rc < 0)
		return rc;
	while (!(io->flags_ & BF_IO_DONE)) {
		bf_process_rings(bf);
		if (io->flags_ & BF_IO_DONE)
			break;
		rc = bf_wait(bf, 1000);
		if (rc < 0 && rc != -EIO && !(io->flags_ & BF_IO_DONE))
			return rc;
	}
	done_unlink(bf, io);
	io->flags_ &= ~BF_IO_DONE;
	return io->result;
}

ssize_t pvk_blkfront_pread(struct pvk_blkfront *bf, void *buf, size_t len,
			   uint64_t off)
{
	struct pvk_blkfront_io io = {
		.op = PVK_BLKFRONT_READ, .offset = off, .len = len, .buf = buf
	};
	int rc = bf_sync(bf, &io);

	return rc < 0 ? rc : (ssize_t)len;
}

ssize_t pvk_blkfront_pwrite(struct pvk_blkfront *bf, const void *buf,
			    size_t len, uint64_t off)
{
	struct pvk_blkfront_io io = { .op = PVK_BLKFRONT_WRITE,
				      .offset = off,
				      .len = len,
				      .buf = (void *)buf };
	int rc = bf_sync(bf, &io);

	return rc < 0 ? rc : (ssize_t)len;
}

int pvk_blkfront_flush(struct pvk_blkfront *bf)
{
	struct pvk_blkfront_io io = { .op = PVK_BLKFRONT_FLUSH };

	return bf_sync(bf, &io);
}

int pvk_blkfront_discard(struct pvk_blkfront *bf, uint64_t off, uint64_t len)
{
	struct pvk_blkfront_io io = { .op = PVK_BLKFRONT_DISCARD,
				      .offset = off,
				      .len = len };

	return bf_sync(bf, &io);
}
