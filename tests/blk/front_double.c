/* SPDX-License-Identifier: MIT */
/*
 * tests/blk/front_double.c -- TEST DOUBLE blkif backend (see the header).
 * Deliberately simple: copies each segment by a grant copy (maps one only
 * to hold it, cfg.hold_grant), checks every request it gets and counts
 * the ones a correct frontend never sends, so tests can assert the
 * frontend's side of the protocol too.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <pvkit/blkif.h>
#include <pvkit/xenbus.h>

#include "front_double.h"

#define T_DBL_MAXQ 4

struct t_dbl_q {
	struct pvk_ring ring;
	void *sring;
	uint32_t pages;
	int port;
};

struct t_dbl {
	struct pvk_hv *hv;
	struct pvk_evtchn *ev;
	uint32_t fe, devid;
	char be[128], fe_dir[128];
	struct t_dbl_cfg cfg;
	uint8_t *disk;
	pthread_t th;
	int stop;
	int silent; /* t_dbl_silence() */
	int wake; /* eventfd: unsilenced or stopping, look now (a frontend
		   * does not notify for requests it queued while we were
		   * silent: they passed req_event already) */
	pthread_mutex_t serving; /* held while serving: silence waits */
	pthread_mutex_t lock; /* st */
	struct t_dbl_q q[T_DBL_MAXQ];
	uint32_t nq;
	bool connected, dead, restarted, hostile_done;
	int state;
	uint64_t taken, answered;
	uint32_t unit; /* bytes per sector on the wire, this connection */
	void *held; /* hold_grant: the page kept mapped */
	bool held_once;
	struct pvk_blkif_response first_rsp; /* for T_DBL_STALE_ID */
	bool have_first;
	struct t_dbl_stats st;
};

static uint32_t ssize(const struct t_dbl *d)
{
	return d->cfg.sector_size ? d->cfg.sector_size : 512;
}

static int be_printf(struct t_dbl *d, const char *name, const char *fmt, ...)
{
	char path[256], val[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", d->be, name);
	return pvk_xs_write(d->hv, PVK_XS_NO_TXN, path, val);
}

static int fe_uint(struct t_dbl *d, const char *name, unsigned long def,
		   unsigned long *v)
{
	char path[256];
	int rc;

	snprintf(path, sizeof(path), "%s/%s", d->fe_dir, name);
	rc = pvk_xs_read_uint(d->hv, PVK_XS_NO_TXN, path, v);
	if (rc == -ENOENT) {
		*v = def;
		return 0;
	}
	return rc;
}

static void set_state(struct t_dbl *d, int st)
{
	d->state = st;
	be_printf(d, "state", "%d", st);
}

static void publish(struct t_dbl *d)
{
	const struct t_dbl_cfg *c = &d->cfg;

	if (c->max_ring_order >= 0)
		be_printf(d, "max-ring-page-order", "%d", c->max_ring_order);
	if (c->max_queues >= 0)
		be_printf(d, "multi-queue-max-queues", "%d", c->max_queues);
	if (c->max_indirect > 0)
		be_printf(d, "feature-max-indirect-segments", "%d",
			  c->max_indirect);
	be_printf(d, "feature-persistent", "%d", c->persistent);
	be_printf(d, "feature-flush-cache", "%d", c->flush);
	be_printf(d, "feature-barrier", "%d", c->barrier);
	if (c->discard) {
		be_printf(d, "feature-discard", "1");
		be_printf(d, "discard-granularity", "%u",
			  c->discard_granularity ? c->discard_granularity :
						   4096);
		be_printf(d, "discard-alignment", "%u", c->discard_alignment);
		be_printf(d, "discard-secure", "%d", c->discard_secure);
	}
	/* Rewritten at connect in the units the frontend asked for. */
	be_printf(d, "sectors", "%llu",
		  (unsigned long long)(c->disk_bytes / 512));
	be_printf(d, "sector-size", "%u", ssize(d));
	be_printf(d, "physical-sector-size", "4096");
	be_printf(d, "info", "%d", c->read_only ? PVK_VDISK_READONLY : 0);
	for (int i = 0; i < T_DBL_MAX_OVERRIDES && c->override[i].name; i++) {
		char path[256];

		snprintf(path, sizeof(path), "%s/%s", d->be,
			 c->override[i].name);
		if (c->override[i].value)
			pvk_xs_write(d->hv, PVK_XS_NO_TXN, path,
				     c->override[i].value);
		else
			pvk_xs_rm(d->hv, PVK_XS_NO_TXN, path);
	}
	set_state(d, PVK_XENBUS_INITWAIT);
}

static bool overridden(const struct t_dbl *d, const char *name)
{
	for (int i = 0; i < T_DBL_MAX_OVERRIDES && d->cfg.override[i].name; i++)
		if (!strcmp(d->cfg.override[i].name, name))
			return true;
	return false;
}

static void disconnect(struct t_dbl *d)
{
	uint32_t i;

	for (i = 0; i < d->nq; i++) {
		if (d->q[i].port >= 0)
			pvk_evtchn_unbind(d->ev, (uint32_t)d->q[i].port);
		if (d->q[i].sring)
			pvk_hv_grant_unmap(d->hv, d->q[i].sring, d->q[i].pages);
		memset(&d->q[i], 0, sizeof(d->q[i]));
		d->q[i].port = -1;
	}
	d->nq = 0;
	d->connected = false;
}

static int connect_queue(struct t_dbl *d, struct t_dbl_q *q, const char *prefix,
			 uint32_t order)
{
	uint32_t refs[16], i;
	unsigned long v, port;
	char name[64];
	int rc;

	q->pages = 1u << order;
	for (i = 0; i < q->pages; i++) {
		if (order)
			snprintf(name, sizeof(name), "%sring-ref%u", prefix, i);
		else
			snprintf(name, sizeof(name), "%sring-ref", prefix);
		rc = fe_uint(d, name, ~0ul, &v);
		if (rc < 0 || v == ~0ul)
			return -EPROTO;
		refs[i] = (uint32_t)v;
	}
	snprintf(name, sizeof(name), "%sevent-channel", prefix);
	rc = fe_uint(d, name, ~0ul, &port);
	if (rc < 0 || port == ~0ul)
		return -EPROTO;
	rc = pvk_hv_grant_map(d->hv, d->fe, q->pages, refs, true, &q->sring);
	if (rc < 0)
		return rc;
	rc = pvk_blkif_back_attach(&q->ring, q->sring,
				   (size_t)q->pages * PVK_PAGE_SIZE);
	if (rc < 0)
		return rc;
	rc = pvk_evtchn_bind(d->ev, d->fe, (uint32_t)port);
	if (rc < 0)
		return rc;
	q->port = rc;
	return 0;
}

static int connect(struct t_dbl *d)
{
	unsigned long order, nq, pers, large;
	char prefix[32];
	uint32_t i;
	int rc;

	if (fe_uint(d, "ring-page-order", 0, &order) < 0 || order > 4 ||
	    fe_uint(d, "multi-queue-num-queues", 1, &nq) < 0 || !nq ||
	    nq > T_DBL_MAXQ || fe_uint(d, "feature-persistent", 0, &pers) < 0 ||
	    fe_uint(d, "feature-large-sector-size", 0, &large) < 0)
		return -EPROTO;
	/* As QEMU: a larger sector needs a frontend that says it copes. */
	d->unit = large == 1 ? ssize(d) : 512;
	if (!overridden(d, "sectors"))
		be_printf(d, "sectors", "%llu",
			  (unsigned long long)(d->cfg.disk_bytes / d->unit));
	for (i = 0; i < nq; i++) {
		d->q[i].port = -1;
		d->nq = i + 1;
		if (nq == 1)
			prefix[0] = '\0';
		else
			snprintf(prefix, sizeof(prefix), "queue-%u/", i);
		rc = connect_queue(d, &d->q[i], prefix, (uint32_t)order);
		if (rc < 0) {
			disconnect(d);
			return rc;
		}
	}
	pthread_mutex_lock(&d->lock);
	d->st.ring_order = (uint32_t)order;
	d->st.nr_queues = (uint32_t)nq;
	d->st.fe_persistent = pers;
	d->st.fe_large_sectors = large == 1;
	pthread_mutex_unlock(&d->lock);
	d->connected = true;
	set_state(d, PVK_XENBUS_CONNECTED);
	return 0;
}

/* Copy between the disk and one granted page. */
static int seg_io(struct t_dbl *d, const struct pvk_blkif_request_segment *s,
		  uint64_t pos, bool is_read)
{
	size_t off = (size_t)s->first_sect * d->unit,
	       len = (size_t)(s->last_sect - s->first_sect + 1) * d->unit;
	void *va;
	int rc;

	if (s->last_sect >= PVK_PAGE_SIZE / d->unit)
		return -EINVAL;
	if (!d->cfg.hold_grant || d->held_once) {
		/* A copy checks the grant as a map would (a read needs it
		 * writable), without a mapping to make and tear down. */
		struct pvk_grant_copy c = { .len = (uint16_t)len };

		if (is_read) {
			c.src.virt = d->disk + pos;
			c.dst.is_gref = true;
			c.dst.domid = d->fe;
			c.dst.ref = s->gref;
			c.dst.offset = (uint16_t)off;
		} else {
			c.src.is_gref = true;
			c.src.domid = d->fe;
			c.src.ref = s->gref;
			c.src.offset = (uint16_t)off;
			c.dst.virt = d->disk + pos;
		}
		rc = pvk_hv_grant_copy(d->hv, &c, 1);
		return rc < 0 ? rc : c.status ? -EACCES : 0;
	}
	rc = pvk_hv_grant_map(d->hv, d->fe, 1, &s->gref, is_read, &va);
	if (rc < 0)
		return rc;
	if (is_read)
		memcpy((char *)va + off, d->disk + pos, len);
	else
		memcpy(d->disk + pos, (char *)va + off, len);
	if (d->cfg.hold_grant && !d->held_once) {
		d->held_once = true;
		d->held = va;
		d->st.holding = true;
		return 0;
	}
	pvk_hv_grant_unmap(d->hv, va, 1);
	return 0;
}

static int16_t handle(struct t_dbl *d, const union pvk_blkif_any_request *req)
{
	struct pvk_blkif_request_segment segs[PVK_BLKIF_MAX_INDIRECT_SEGMENTS];
	uint32_t maxind =
		d->cfg.max_indirect > 0 ? (uint32_t)d->cfg.max_indirect : 0;
	uint64_t sector, total = 0, pos, nsect = d->cfg.disk_bytes / d->unit;
	uint32_t n, i;
	const char *why = NULL;
	bool is_read;
	int rc;

	rc = pvk_blkif_check_request(req, maxind, &why);
	if (rc == -EOPNOTSUPP)
		return PVK_BLKIF_RSP_EOPNOTSUPP;
	if (rc < 0)
		goto bad;
	switch (req->hdr.operation) {
	case PVK_BLKIF_OP_FLUSH_DISKCACHE:
	case PVK_BLKIF_OP_WRITE_BARRIER:
		if (req->hdr.operation == PVK_BLKIF_OP_FLUSH_DISKCACHE ?
			    !d->cfg.flush :
			    !d->cfg.barrier)
			goto bad;
		if (req->rw.nr_segments)
			goto bad;
		d->st.flushes++;
		return PVK_BLKIF_RSP_OKAY;
	case PVK_BLKIF_OP_DISCARD:
		if (!d->cfg.discard || d->cfg.read_only ||
		    (req->discard.flag & ~PVK_BLKIF_DISCARD_SECURE) ||
		    (req->discard.flag && !d->cfg.discard_secure))
			goto bad;
		if (req->discard.sector_number > nsect ||
		    req->discard.nr_sectors >
			    nsect - req->discard.sector_number)
			goto bad;
		memset(d->disk + req->discard.sector_number * d->unit, 0,
		       req->discard.nr_sectors * d->unit);
		if (d->st.discards < T_DBL_DISCARD_LOG) {
			d->st.discard_log[d->st.discards].sector =
				req->discard.sector_number;
			d->st.discard_log[d->st.discards].nr_sectors =
				req->discard.nr_sectors;
			d->st.discard_log[d->st.discards].flag =
				req->discard.flag;
		}
		d->st.discards++;
		return PVK_BLKIF_RSP_OKAY;
	case PVK_BLKIF_OP_INDIRECT: {
		uint32_t nind;
		void *va;

		n = req->indirect.nr_segments;
		nind = pvk_blkif_indirect_pages(n);
		rc = pvk_hv_grant_map(d->hv, d->fe, nind,
				      req->indirect.indirect_grefs, false, &va);
		if (rc < 0)
			goto bad;
		memcpy(segs, va, n * sizeof(segs[0]));
		pvk_hv_grant_unmap(d->hv, va, nind);
		for (i = 0; i < n; i++)
			if (!pvk_blkif_check_segment(&segs[i]))
				goto bad;
		is_read = req->indirect.indirect_op == PVK_BLKIF_OP_READ;
		sector = req->indirect.sector_number;
		d->st.indirect++;
		break;
	}
	default:
		n = req->rw.nr_segments;
		memcpy(segs, req->rw.seg, n * sizeof(segs[0]));
		is_read = req->hdr.operation == PVK_BLKIF_OP_READ;
		sector = req->rw.sector_number;
		break;
	}
	if (n > d->st.max_segs_seen)
		d->st.max_segs_seen = n;
	if (!is_read && d->cfg.read_only)
		return PVK_BLKIF_RSP_ERROR;
	for (i = 0; i < n; i++)
		total += segs[i].last_sect - segs[i].first_sect + 1u;
	if (sector > nsect || total > nsect - sector)
		goto bad;
	pos = sector * d->unit;
	for (i = 0; i < n; i++) {
		if (seg_io(d, &segs[i], pos, is_read) < 0)
			goto bad;
		pos += (uint64_t)(segs[i].last_sect - segs[i].first_sect + 1) *
		       d->unit;
	}
	if (is_read)
		d->st.reads++;
	else
		d->st.writes++;
	return PVK_BLKIF_RSP_OKAY;
bad:
	d->st.bad_requests++;
	fprintf(stderr, "test double: bad request (%s)\n",
		why ? why : "range/grant/feature");
	return PVK_BLKIF_RSP_ERROR;
}

/* Write a response straight into the shared page, past the ring API. */
static void raw_put(struct t_dbl_q *q, const struct pvk_blkif_response *rsp)
{
	struct pvk_blkif_sring *s = q->sring;
	uint32_t prod = __atomic_load_n(&s->rsp_prod, __ATOMIC_RELAXED);

	memcpy(&s->ring[prod & (q->ring.nr_ents - 1)].rsp, rsp, sizeof(*rsp));
	__atomic_store_n(&s->rsp_prod, prod + 1, __ATOMIC_RELEASE);
}

static void hostile(struct t_dbl *d, struct t_dbl_q *q,
		    struct pvk_blkif_response *rsp)
{
	struct pvk_blkif_sring *s = q->sring;

	pvk_ring_push(&q->ring);
	switch (d->cfg.hostile) {
	case T_DBL_BAD_ID:
		rsp->id = 1u << 30;
		raw_put(q, rsp);
		break;
	case T_DBL_DUP_ID:
		raw_put(q, rsp);
		raw_put(q, rsp);
		break;
	case T_DBL_PROD_AHEAD:
		__atomic_store_n(&s->rsp_prod, s->rsp_prod + 1000,
				 __ATOMIC_RELEASE);
		break;
	case T_DBL_BAD_OP:
		rsp->operation ^= 0x40;
		raw_put(q, rsp);
		break;
	case T_DBL_STALE_ID:
		rsp->id = d->first_rsp.id;
		raw_put(q, rsp);
		break;
	case T_DBL_GARBAGE: {
		/* Up to 8 responses of random bytes, some with a plausible
		 * id (a live shadow index, any generation), and sometimes a
		 * producer index that jumps. */
		uint64_t x = d->cfg.hostile_seed | 1;
		uint32_t k, n;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		n = (uint32_t)(x % 8) + 1;
		for (k = 0; k < n; k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			memcpy(rsp, &x, 8);
			if (x & 1)
				rsp->id &= 0xffff0000000fu;
			rsp->operation = (uint8_t)(x >> 40);
			rsp->status = (int16_t)(x >> 48);
			if ((x >> 60) == 0)
				__atomic_store_n(&s->rsp_prod,
						 s->rsp_prod +
							 (uint32_t)(x >> 20),
						 __ATOMIC_RELEASE);
			else
				raw_put(q, rsp);
		}
		break;
	}
	default:
		break;
	}
	pvk_evtchn_notify(d->ev, (uint32_t)q->port);
	d->hostile_done = true;
	d->dead = true;
}

static void crash_and_restart(struct t_dbl *d)
{
	disconnect(d);
	pthread_mutex_lock(&d->lock);
	d->st.restarts++;
	if (d->cfg.restart_disk_bytes)
		d->cfg.disk_bytes = d->cfg.restart_disk_bytes;
	if (d->cfg.restart_sector_size)
		d->cfg.sector_size = d->cfg.restart_sector_size;
	pthread_mutex_unlock(&d->lock);
	if (d->cfg.restart_via_close)
		set_state(d, PVK_XENBUS_CLOSING);
	else
		publish(d);
}

static void serve(struct t_dbl *d)
{
	union pvk_blkif_any_request req;
	struct pvk_blkif_response rsp;
	uint32_t i;
	int rc;

	for (i = 0; i < d->nq && d->connected && !d->dead; i++) {
		struct t_dbl_q *q = &d->q[i];

		for (;;) {
			while ((rc = pvk_blkif_get_any_request(&q->ring,
							       &req)) > 0) {
				d->taken++;
				if (d->cfg.restart_after && !d->restarted &&
				    d->taken >= d->cfg.restart_after) {
					d->restarted = true;
					crash_and_restart(d);
					return;
				}
				memset(&rsp, 0, sizeof(rsp));
				rsp.id = req.rw.id;
				rsp.operation = req.hdr.operation;
				if (d->cfg.indirect_rsp_inner &&
				    req.hdr.operation == PVK_BLKIF_OP_INDIRECT)
					rsp.operation =
						req.indirect.indirect_op;
				pthread_mutex_lock(&d->lock);
				d->st.requests++;
				if (d->restarted)
					d->st.requests_since_restart++;
				rsp.status = handle(d, &req);
				pthread_mutex_unlock(&d->lock);
				if (!d->have_first) {
					d->first_rsp = rsp;
					d->have_first = true;
				}
				if (d->cfg.hostile && !d->hostile_done &&
				    d->answered >= d->cfg.hostile_after) {
					if (d->cfg.hostile == T_DBL_DUP_ID)
						pvk_blkif_put_response(&q->ring,
								       &rsp);
					hostile(d, q, &rsp);
					return;
				}
				pvk_blkif_put_response(&q->ring, &rsp);
				d->answered++;
			}
			if (rc < 0) {
				fprintf(stderr, "test double: ring: %s\n",
					pvk_ring_broken_reason(&q->ring));
				d->dead = true;
				return;
			}
			if (pvk_ring_push(&q->ring))
				pvk_evtchn_notify(d->ev, (uint32_t)q->port);
			if (pvk_ring_final_check(&q->ring) <= 0)
				break;
		}
	}
}

static void fe_changed(struct t_dbl *d)
{
	unsigned long fe;

	if (fe_uint(d, "state", 0, &fe) < 0)
		return;
	switch (fe) {
	case PVK_XENBUS_INITIALISED:
		if (!d->connected && d->state == PVK_XENBUS_INITWAIT &&
		    connect(d) < 0)
			fprintf(stderr, "test double: connect failed\n");
		break;
	case PVK_XENBUS_CLOSING:
		disconnect(d);
		if (d->state != PVK_XENBUS_CLOSED)
			set_state(d, PVK_XENBUS_CLOSING);
		break;
	case PVK_XENBUS_CLOSED:
		disconnect(d);
		if (d->state != PVK_XENBUS_CLOSED)
			set_state(d, PVK_XENBUS_CLOSED);
		break;
	case PVK_XENBUS_INITIALISING:
		if (d->state == PVK_XENBUS_CLOSED)
			publish(d);
		break;
	default:
		break;
	}
}

static void *dbl_main(void *arg)
{
	struct t_dbl *d = arg;
	char path[256], *p, *t;
	struct pollfd pfd[3];
	eventfd_t n;
	int port;

	if (pvk_evtchn_open(d->hv, &d->ev) < 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/state", d->fe_dir);
	pvk_xs_watch(d->hv, path, "dbl");
	publish(d);
	pfd[0].fd = pvk_xs_watch_fd(d->hv);
	pfd[1].fd = pvk_evtchn_fd(d->ev);
	pfd[2].fd = d->wake;
	pfd[0].events = pfd[1].events = pfd[2].events = POLLIN;
	while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
		poll(pfd, 3, 10);
		(void)eventfd_read(d->wake, &n);
		while (pvk_xs_read_watch(d->hv, &p, &t) > 0) {
			free(p);
			free(t);
			fe_changed(d);
		}
		while ((port = pvk_evtchn_pending(d->ev)) >= 0)
			pvk_evtchn_unmask(d->ev, (uint32_t)port);
		pthread_mutex_lock(&d->serving);
		if (d->connected &&
		    !__atomic_load_n(&d->silent, __ATOMIC_ACQUIRE))
			serve(d);
		pthread_mutex_unlock(&d->serving);
	}
	disconnect(d);
	pvk_xs_unwatch(d->hv, path, "dbl");
	pvk_evtchn_close(d->ev);
	return NULL;
}

static int mkdir_perms(struct t_dbl *d, const char *path, uint32_t owner,
		       uint32_t reader)
{
	struct pvk_xs_perm perms[2] = { { owner, 'n' }, { reader, 'r' } };
	int rc = pvk_xs_mkdir(d->hv, PVK_XS_NO_TXN, path);

	if (rc < 0)
		return rc;
	return pvk_xs_set_perms(d->hv, PVK_XS_NO_TXN, path, perms, 2);
}

static int node(struct t_dbl *d, const char *dir, const char *name,
		const char *fmt, ...)
{
	char path[256], val[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return pvk_xs_write(d->hv, PVK_XS_NO_TXN, path, val);
}

int t_dbl_start(struct t_dbl **dp, struct pvk_loop *loop, uint32_t fe,
		uint32_t devid, const struct t_dbl_cfg *cfg)
{
	struct t_dbl *d = calloc(1, sizeof(*d));
	int rc;

	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	d->fe = fe;
	d->devid = devid;
	d->disk = calloc(1, cfg->disk_bytes);
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->serving, NULL);
	d->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->wake < 0) {
		rc = -errno;
		goto free_d;
	}
	rc = pvk_hv_open_loop(&d->hv, loop, 0);
	if (rc < 0 || !d->disk)
		goto close_wake;
	snprintf(d->be, sizeof(d->be), "/local/domain/0/backend/vbd/%u/%u", fe,
		 devid);
	snprintf(d->fe_dir, sizeof(d->fe_dir), "/local/domain/%u/device/vbd/%u",
		 fe, devid);
	if ((rc = mkdir_perms(d, d->fe_dir, fe, 0)) < 0 ||
	    (rc = node(d, d->fe_dir, "backend", "%s", d->be)) < 0 ||
	    (rc = node(d, d->fe_dir, "backend-id", "0")) < 0 ||
	    (rc = node(d, d->fe_dir, "virtual-device", "%u", devid)) < 0 ||
	    (rc = node(d, d->fe_dir, "device-type", "disk")) < 0 ||
	    (rc = node(d, d->fe_dir, "state", "1")) < 0 ||
	    (rc = mkdir_perms(d, d->be, 0, fe)) < 0 ||
	    (rc = node(d, d->be, "frontend", "%s", d->fe_dir)) < 0 ||
	    (rc = node(d, d->be, "frontend-id", "%u", fe)) < 0 ||
	    (rc = node(d, d->be, "online", "1")) < 0 ||
	    (rc = node(d, d->be, "params", "ram")) < 0 ||
	    (rc = node(d, d->be, "mode", cfg->read_only ? "r" : "w")) < 0 ||
	    (rc = node(d, d->be, "device-type", "disk")) < 0 ||
	    (rc = node(d, d->be, "state", "1")) < 0)
		goto close_hv;
	rc = -pthread_create(&d->th, NULL, dbl_main, d);
	if (rc < 0)
		goto close_hv;
	*dp = d;
	return 0;

close_hv:
	pvk_hv_close(d->hv);
close_wake:
	close(d->wake);
free_d:
	free(d->disk);
	free(d);
	return rc < 0 ? rc : -ENOMEM;
}

void t_dbl_stop(struct t_dbl *d)
{
	if (!d)
		return;
	__atomic_store_n(&d->stop, 1, __ATOMIC_RELEASE);
	(void)eventfd_write(d->wake, 1);
	pthread_join(d->th, NULL);
	close(d->wake);
	t_dbl_release(d);
	pvk_xs_rm(d->hv, PVK_XS_NO_TXN, d->be);
	pvk_xs_rm(d->hv, PVK_XS_NO_TXN, d->fe_dir);
	pvk_hv_close(d->hv);
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->serving);
	free(d->disk);
	free(d);
}

void t_dbl_silence(struct t_dbl *d, bool on)
{
	pthread_mutex_lock(&d->serving);
	__atomic_store_n(&d->silent, on, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&d->serving);
	if (!on)
		(void)eventfd_write(d->wake, 1);
}

void t_dbl_stats(struct t_dbl *d, struct t_dbl_stats *st)
{
	pthread_mutex_lock(&d->lock);
	*st = d->st;
	pthread_mutex_unlock(&d->lock);
}

int t_dbl_resize(struct t_dbl *d, uint64_t bytes)
{
	int rc;

	pthread_mutex_lock(&d->lock);
	d->cfg.disk_bytes = bytes;
	pthread_mutex_unlock(&d->lock);
	rc = be_printf(d, "sectors", "%llu",
		       (unsigned long long)(bytes / (d->unit ? d->unit : 512)));
	return rc < 0 ? rc : be_printf(d, "state", "%d", PVK_XENBUS_CONNECTED);
}

void t_dbl_release(struct t_dbl *d)
{
	pthread_mutex_lock(&d->lock);
	if (d->held)
		pvk_hv_grant_unmap(d->hv, d->held, 1);
	d->held = NULL;
	d->st.holding = false;
	pthread_mutex_unlock(&d->lock);
}

uint8_t *t_dbl_disk(struct t_dbl *d)
{
	return d->disk;
}
