/* SPDX-License-Identifier: MIT */
/* A raw blkif TEST frontend for blkback tests; see back_tfront.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pvkit/xenbus.h>

#include "back_tfront.h"

static int tmo(const struct t_fe *fe)
{
	return fe->cfg.timeout_ms > 0 ? fe->cfg.timeout_ms : 10000;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	       (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int t_wait_node(struct pvk_hv *hv, const char *path, unsigned long want,
		int timeout_ms)
{
	struct timespec t0;
	unsigned long v;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (pvk_xs_read_uint(hv, PVK_XS_NO_TXN, path, &v) == 0 &&
		    v == want)
			return 0;
		if (ms_since(&t0) > timeout_ms)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

struct attach_arg {
	uint32_t be, fe, devid;
	const char *image;
	const char *mode;
};

static int attach_txn(struct pvk_hv *hv, pvk_xs_txn_t t, void *arg)
{
	struct attach_arg *a = arg;
	char be[128], fe[128], p[192];
	struct pvk_xs_perm bp[2] = { { a->be, 'n' }, { a->fe, 'r' } };
	struct pvk_xs_perm fp[2] = { { a->fe, 'n' }, { a->be, 'r' } };
	int err = 0;

	snprintf(be, sizeof(be), "/local/domain/%u/backend/vbd/%u/%u", a->be,
		 a->fe, a->devid);
	snprintf(fe, sizeof(fe), "/local/domain/%u/device/vbd/%u", a->fe,
		 a->devid);
#define W(dir, n, ...)                                             \
	do {                                                       \
		snprintf(p, sizeof(p), "%s/%s", dir, n);           \
		err = err ?: pvk_xs_printf(hv, t, p, __VA_ARGS__); \
	} while (0)
	W(be, "frontend", "%s", fe);
	W(be, "frontend-id", "%u", a->fe);
	W(be, "online", "1");
	W(be, "mode", "%s", a->mode);
	W(be, "device-type", "disk");
	W(be, "params", "%s", a->image);
	W(fe, "backend", "%s", be);
	W(fe, "backend-id", "%u", a->be);
	W(fe, "virtual-device", "%u", a->devid);
	W(fe, "device-type", "disk");
	if (!err)
		err = pvk_xs_set_perms(hv, t, be, bp, 2);
	if (!err)
		err = pvk_xs_set_perms(hv, t, fe, fp, 2);
	W(fe, "state", "1");
	W(be, "state", "1");
#undef W
	return err;
}

int t_attach(struct pvk_hv *tool, uint32_t be, uint32_t fe, uint32_t devid,
	     const char *image, bool readonly)
{
	return t_attach_mode(tool, be, fe, devid, image, readonly ? "r" : "w");
}

int t_attach_mode(struct pvk_hv *tool, uint32_t be, uint32_t fe, uint32_t devid,
		  const char *image, const char *mode)
{
	struct attach_arg a = { be, fe, devid, image, mode };
	char p[128];
	int err;

	/* The directories first: the loop hypervisor's transactions report
	 * a conflict when one creates a directory and two nodes in it. */
	snprintf(p, sizeof(p), "/local/domain/%u/backend/vbd/%u/%u", be, fe,
		 devid);
	err = pvk_xs_mkdir(tool, PVK_XS_NO_TXN, p);
	snprintf(p, sizeof(p), "/local/domain/%u/device/vbd/%u", fe, devid);
	err = err ?: pvk_xs_mkdir(tool, PVK_XS_NO_TXN, p);
	return err ?: pvk_xs_transaction(tool, 0, attach_txn, &a);
}

static int fe_write(struct t_fe *fe, pvk_xs_txn_t t, const char *name,
		    unsigned long v)
{
	char p[320];

	snprintf(p, sizeof(p), "%s/%s", fe->fe_path, name);
	return pvk_xs_printf(fe->hv, t, p, "%lu", v);
}

static unsigned long be_uint(struct t_fe *fe, const char *name,
			     unsigned long def)
{
	char p[320];
	unsigned long v;

	snprintf(p, sizeof(p), "%s/%s", fe->be_path, name);
	return pvk_xs_read_uint(fe->hv, PVK_XS_NO_TXN, p, &v) ? def : v;
}

static int set_state(struct t_fe *fe, int st)
{
	return fe_write(fe, PVK_XS_NO_TXN, "state", (unsigned long)st);
}

int t_fe_backend_state(struct t_fe *fe)
{
	return (int)be_uint(fe, "state", 0);
}

static int wait_be(struct t_fe *fe, int st)
{
	char p[320];

	snprintf(p, sizeof(p), "%s/state", fe->be_path);
	return t_wait_node(fe->hv, p, (unsigned long)st, tmo(fe));
}

static int publish_txn(struct pvk_hv *hv, pvk_xs_txn_t t, void *arg)
{
	struct t_fe *fe = arg;
	char name[64], pre[24], p[320];
	uint32_t q, i;
	int err = 0;

	if (fe->ring_order)
		err = err ?: fe_write(fe, t, "ring-page-order", fe->ring_order);
	if (fe->nr_queues > 1)
		err = err   ?:
			      fe_write(fe, t, "multi-queue-num-queues",
				       fe->nr_queues);
	for (q = 0; q < fe->nr_queues; q++) {
		if (fe->nr_queues > 1)
			snprintf(pre, sizeof(pre), "queue-%u/", q);
		else
			pre[0] = '\0';
		for (i = 0; i < (1u << fe->ring_order); i++) {
			if (fe->ring_order)
				snprintf(name, sizeof(name), "%sring-ref%u",
					 pre, i);
			else
				snprintf(name, sizeof(name), "%sring-ref", pre);
			err = err ?: fe_write(fe, t, name, fe->q[q].refs[i]);
		}
		snprintf(name, sizeof(name), "%sevent-channel", pre);
		err = err   ?:
			      fe_write(fe, t, name,
				       (unsigned long)fe->q[q].port);
	}
	snprintf(p, sizeof(p), "%s/protocol", fe->fe_path);
	err = err ?: pvk_xs_write(hv, t, p, "x86_64-abi");
	err = err ?: fe_write(fe, t, "feature-persistent", fe->cfg.persistent);
	return err;
}

void t_fe_drop_rings(struct t_fe *fe)
{
	uint32_t q;

	for (q = 0; q < T_FE_MAX_QUEUES; q++) {
		struct t_fe_q *Q = &fe->q[q];

		if (Q->ev) {
			if (Q->port >= 0)
				pvk_evtchn_unbind(Q->ev, (uint32_t)Q->port);
			pvk_evtchn_close(Q->ev);
		}
		if (Q->sring)
			pvk_hv_grant_free(fe->hv, Q->sring,
					  1u << fe->ring_order);
		memset(Q, 0, sizeof(*Q));
		Q->port = -1;
	}
	fe->connected = false;
}

int t_fe_connect(struct t_fe *fe)
{
	unsigned long mo, mq;
	uint32_t q;
	int err;

	err = wait_be(fe, PVK_XENBUS_INITWAIT);
	if (err < 0)
		return err;
	mo = be_uint(fe, "max-ring-page-order", 0);
	mq = be_uint(fe, "multi-queue-max-queues", 1);
	fe->ring_order = fe->cfg.ring_order < mo ? fe->cfg.ring_order :
						   (uint32_t)mo;
	fe->nr_queues = fe->cfg.nr_queues ? fe->cfg.nr_queues : 1;
	if (fe->nr_queues > mq)
		fe->nr_queues = (uint32_t)mq;
	if (fe->nr_queues > T_FE_MAX_QUEUES)
		fe->nr_queues = T_FE_MAX_QUEUES;
	for (q = 0; q < fe->nr_queues; q++) {
		struct t_fe_q *Q = &fe->q[q];
		size_t bytes = (size_t)PVK_PAGE_SIZE << fe->ring_order;

		err = pvk_hv_grant_alloc(fe->hv, fe->be_domid,
					 1u << fe->ring_order, true, Q->refs,
					 &Q->sring);
		if (err < 0)
			goto drop;
		err = pvk_blkif_front_init(&Q->ring, Q->sring, bytes);
		if (err < 0)
			goto drop;
		err = pvk_evtchn_open(fe->hv, &Q->ev);
		if (err < 0) {
			Q->ev = NULL;
			goto drop;
		}
		Q->port = pvk_evtchn_alloc_unbound(Q->ev, fe->be_domid);
		if (Q->port < 0) {
			err = Q->port;
			goto drop;
		}
	}
	/* queue-N/ first: see t_attach about the loop's transactions. */
	for (q = 0; q < fe->nr_queues && fe->nr_queues > 1; q++) {
		char p[320];

		snprintf(p, sizeof(p), "%s/queue-%u", fe->fe_path, q);
		pvk_xs_mkdir(fe->hv, PVK_XS_NO_TXN, p);
	}
	err = pvk_xs_transaction(fe->hv, 0, publish_txn, fe);
	if (err < 0)
		goto drop;
	set_state(fe, PVK_XENBUS_INITIALISED);
	err = wait_be(fe, PVK_XENBUS_CONNECTED);
	if (err < 0)
		goto drop;
	fe->sectors = be_uint(fe, "sectors", 0);
	fe->sector_size = (uint32_t)be_uint(fe, "sector-size", 512);
	fe->info = (uint32_t)be_uint(fe, "info", 0);
	fe->max_indirect =
		fe->cfg.indirect ?
			(uint32_t)be_uint(fe, "feature-max-indirect-segments",
					  0) :
			0;
	if (fe->max_indirect > T_FE_MAX_SEGS)
		fe->max_indirect = T_FE_MAX_SEGS;
	fe->be_persistent = be_uint(fe, "feature-persistent", 0);
	fe->flush = be_uint(fe, "feature-flush-cache", 0);
	fe->barrier = be_uint(fe, "feature-barrier", 0);
	fe->discard = be_uint(fe, "feature-discard", 0);
	set_state(fe, PVK_XENBUS_CONNECTED);
	fe->connected = true;
	fe->connects++;
	return 0;
drop:
	t_fe_drop_rings(fe);
	return err;
}

int t_fe_open(struct t_fe *fe, struct pvk_hv *hv, uint32_t devid,
	      const struct t_fe_cfg *cfg)
{
	char p[320], *v = NULL;
	uint32_t q;
	int err;

	memset(fe, 0, sizeof(*fe));
	for (q = 0; q < T_FE_MAX_QUEUES; q++)
		fe->q[q].port = -1;
	fe->hv = hv;
	fe->cfg = *cfg;
	fe->domid = pvk_hv_domid(hv);
	fe->devid = devid;
	snprintf(fe->fe_path, sizeof(fe->fe_path),
		 "/local/domain/%u/device/vbd/%u", fe->domid, devid);
	snprintf(p, sizeof(p), "%s/backend", fe->fe_path);
	err = pvk_xs_read(hv, PVK_XS_NO_TXN, p, &v);
	if (err < 0)
		return err;
	snprintf(fe->be_path, sizeof(fe->be_path), "%s", v);
	free(v);
	snprintf(p, sizeof(p), "%s/backend-id", fe->fe_path);
	{
		unsigned long id;

		err = pvk_xs_read_uint(hv, PVK_XS_NO_TXN, p, &id);
		if (err < 0)
			return err;
		fe->be_domid = (uint32_t)id;
	}
	err = pvk_hv_grant_alloc(hv, fe->be_domid, T_FE_POOL_PAGES, true,
				 fe->pool_refs, (void **)&fe->pool);
	if (err < 0)
		return err;
	err = pvk_hv_grant_alloc(hv, fe->be_domid,
				 PVK_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST, true,
				 fe->ind_refs, (void **)&fe->ind);
	if (err < 0)
		goto free_pool;
	err = t_fe_connect(fe);
	if (err < 0)
		goto free_ind;
	return 0;
free_ind:
	pvk_hv_grant_free(hv, fe->ind,
			  PVK_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);
free_pool:
	pvk_hv_grant_free(hv, fe->pool, T_FE_POOL_PAGES);
	return err;
}

void t_fe_close(struct t_fe *fe)
{
	if (!fe->hv)
		return;
	set_state(fe, PVK_XENBUS_CLOSING);
	wait_be(fe, PVK_XENBUS_CLOSING);
	t_fe_drop_rings(fe);
	set_state(fe, PVK_XENBUS_CLOSED);
	/* The backend unmapped before answering Closing. */
	if (fe->ind)
		pvk_hv_grant_free(fe->hv, fe->ind,
				  PVK_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);
	if (fe->pool)
		pvk_hv_grant_free(fe->hv, fe->pool, T_FE_POOL_PAGES);
	fe->hv = NULL;
}

int t_fe_reconnect(struct t_fe *fe)
{
	t_fe_drop_rings(fe);
	set_state(fe, PVK_XENBUS_CLOSED);
	return t_fe_connect(fe);
}

int t_fe_kick(struct t_fe *fe, uint32_t q)
{
	if (pvk_ring_push(&fe->q[q].ring))
		return pvk_evtchn_notify(fe->q[q].ev, (uint32_t)fe->q[q].port);
	return 0;
}

static int wait_rsp(struct t_fe *fe, uint32_t q, struct pvk_blkif_response *r)
{
	return t_fe_wait_rsp(fe, q, r, tmo(fe));
}

int t_fe_wait_rsp(struct t_fe *fe, uint32_t q, struct pvk_blkif_response *r,
		  int timeout_ms)
{
	struct t_fe_q *Q = &fe->q[q];
	int n, p;

	for (;;) {
		n = pvk_blkif_get_response(&Q->ring, r);
		if (n)
			return n < 0 ? n : 0;
		n = pvk_ring_final_check(&Q->ring);
		if (n < 0)
			return n;
		if (n > 0)
			continue;
		p = pvk_evtchn_wait(Q->ev, timeout_ms);
		if (p < 0)
			return p;
		pvk_evtchn_unmask(Q->ev, (uint32_t)p);
	}
}

/* Build the segments of @nsect sectors on pool pages from @page. */
static uint32_t build_segs(struct t_fe *fe, uint32_t page, uint32_t first,
			   uint32_t nsect,
			   struct pvk_blkif_request_segment *segs)
{
	uint32_t n = 0, f = first, k;

	while (nsect) {
		k = PVK_BLKIF_SECTORS_PER_PAGE - f;
		if (k > nsect)
			k = nsect;
		segs[n].gref = fe->pool_refs[page + n];
		segs[n].first_sect = (uint8_t)f;
		segs[n].last_sect = (uint8_t)(f + k - 1);
		nsect -= k;
		f = 0;
		n++;
	}
	return n;
}

static size_t pool_off(uint32_t page, uint32_t first)
{
	return (size_t)page * PVK_PAGE_SIZE + first * PVK_BLKIF_SECTOR_SIZE;
}

/* Lay @buf out on the pool as the segments see it (pages are contiguous
 * in the pool, so one copy does it). */
int t_fe_io(struct t_fe *fe, uint32_t q, uint8_t op, uint64_t sector, void *buf,
	    uint32_t nsect, uint32_t first_sect)
{
	static struct pvk_blkif_request_segment segs[T_FE_MAX_SEGS];
	union pvk_blkif_any_request req;
	struct pvk_blkif_response rsp;
	uint64_t id = ((uint64_t)q << 48) | 0xabc000u | fe->connects;
	uint32_t n, i;
	int err;

	if (!fe->connected || q >= fe->nr_queues || first_sect > 7 ||
	    (size_t)first_sect + nsect > (size_t)T_FE_MAX_SEGS * 8)
		return -EINVAL;
	n = build_segs(fe, 0, first_sect, nsect, segs);
	if (nsect && op != PVK_BLKIF_OP_READ)
		memcpy(fe->pool + pool_off(0, first_sect), buf,
		       (size_t)nsect * PVK_BLKIF_SECTOR_SIZE);
	memset(&req, 0, sizeof(req));
	if (n <= PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST) {
		req.rw.operation = op;
		req.rw.nr_segments = (uint8_t)n;
		req.rw.handle = (uint16_t)fe->devid;
		req.rw.id = id;
		req.rw.sector_number = sector;
		memcpy(req.rw.seg, segs, n * sizeof(segs[0]));
	} else {
		if (n > fe->max_indirect ||
		    (op != PVK_BLKIF_OP_READ && op != PVK_BLKIF_OP_WRITE))
			return -E2BIG;
		req.indirect.operation = PVK_BLKIF_OP_INDIRECT;
		req.indirect.indirect_op = op;
		req.indirect.nr_segments = (uint16_t)n;
		req.indirect.id = id;
		req.indirect.sector_number = sector;
		req.indirect.handle = (uint16_t)fe->devid;
		memcpy(fe->ind, segs, n * sizeof(segs[0]));
		for (i = 0; i < pvk_blkif_indirect_pages(n); i++)
			req.indirect.indirect_grefs[i] = fe->ind_refs[i];
	}
	err = pvk_blkif_put_any_request(&fe->q[q].ring, &req);
	if (err < 0)
		return err;
	t_fe_kick(fe, q);
	err = wait_rsp(fe, q, &rsp);
	if (err < 0)
		return err;
	if (rsp.id != id)
		return -EPROTO;
	if (rsp.status == PVK_BLKIF_RSP_OKAY && op == PVK_BLKIF_OP_READ)
		memcpy(buf, fe->pool + pool_off(0, first_sect),
		       (size_t)nsect * PVK_BLKIF_SECTOR_SIZE);
	return rsp.status;
}

int t_fe_submit(struct t_fe *fe, uint32_t q, struct t_fe_io *ios, uint32_t n)
{
	union pvk_blkif_any_request req;
	uint32_t i, page = 0, segs;
	int err;

	for (i = 0; i < n; i++) {
		segs = (ios[i].nsect + 7) / 8;
		if (segs > PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST ||
		    page + segs > T_FE_POOL_PAGES)
			return -E2BIG;
		memset(&req, 0, sizeof(req));
		req.rw.operation = ios[i].op;
		req.rw.id = i;
		req.rw.sector_number = ios[i].sector;
		req.rw.handle = (uint16_t)fe->devid;
		req.rw.nr_segments = (uint8_t)build_segs(
			fe, page, 0, ios[i].nsect, req.rw.seg);
		if (ios[i].op != PVK_BLKIF_OP_READ && ios[i].nsect)
			memcpy(fe->pool + pool_off(page, 0), ios[i].buf,
			       (size_t)ios[i].nsect * PVK_BLKIF_SECTOR_SIZE);
		err = pvk_blkif_put_any_request(&fe->q[q].ring, &req);
		if (err < 0)
			return err;
		page += segs;
	}
	return t_fe_kick(fe, q);
}

int t_fe_batch(struct t_fe *fe, uint32_t q, struct t_fe_io *ios, uint32_t n)
{
	struct pvk_blkif_response rsp;
	uint32_t i, got, page;
	int err;

	err = t_fe_submit(fe, q, ios, n);
	if (err < 0)
		return err;
	for (got = 0; got < n; got++) {
		err = wait_rsp(fe, q, &rsp);
		if (err < 0)
			return err;
		if (rsp.id >= n)
			return -EPROTO;
		ios[rsp.id].status = rsp.status;
	}
	for (i = 0, page = 0; i < n; page += (ios[i].nsect + 7) / 8, i++)
		if (ios[i].op == PVK_BLKIF_OP_READ &&
		    ios[i].status == PVK_BLKIF_RSP_OKAY)
			memcpy(ios[i].buf, fe->pool + pool_off(page, 0),
			       (size_t)ios[i].nsect * PVK_BLKIF_SECTOR_SIZE);
	return 0;
}

int t_fe_discard(struct t_fe *fe, uint32_t q, uint64_t sector, uint64_t nsect,
		 uint8_t flag)
{
	union pvk_blkif_any_request req;

	memset(&req, 0, sizeof(req));
	req.discard.operation = PVK_BLKIF_OP_DISCARD;
	req.discard.flag = flag;
	req.discard.id = 77;
	req.discard.sector_number = sector;
	req.discard.nr_sectors = nsect;
	return t_fe_raw(fe, q, &req);
}

int t_fe_raw(struct t_fe *fe, uint32_t q,
	     const union pvk_blkif_any_request *req)
{
	struct pvk_blkif_response rsp;
	int err;

	err = pvk_blkif_put_any_request(&fe->q[q].ring, req);
	if (err < 0)
		return err;
	t_fe_kick(fe, q);
	err = wait_rsp(fe, q, &rsp);
	if (err < 0)
		return err;
	return rsp.id == req->rw.id ? rsp.status : -EPROTO;
}

void t_fe_scribble(struct t_fe *fe, uint32_t q, uint32_t seed)
{
	struct t_fe_q *Q = &fe->q[q];
	size_t bytes = (size_t)PVK_PAGE_SIZE << fe->ring_order, i;
	uint8_t *p = (uint8_t *)Q->sring;

	for (i = PVK_RING_HDR_SIZE; i < bytes; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
	/* A producer index no correct frontend can reach. */
	__atomic_store_n(&((struct pvk_sring *)Q->sring)->req_prod,
			 Q->ring.prod_pvt + 0x40000000u, __ATOMIC_RELEASE);
	pvk_evtchn_notify(Q->ev, (uint32_t)Q->port);
}
