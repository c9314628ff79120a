// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * pvkit-blkfront: a blk-mq disk on a Xen blkif ring, bound to pvkit's own
 * xenbus device type "pvkvbd" (device/pvkvbd/<devid>), so that it never
 * races the stock xen-blkfront for a vbd.
 *
 * Data path: each queue owns a pool of pages, granted to the backend once
 * for the connection (feature-persistent), depth x (segments + indirect
 * pages).  All I/O is copied through them, so the backend never sees a
 * guest page it was not given for this purpose (a trusted=0 bounce).
 * Request ids are blk-mq tags; the ring holds at least depth entries, so
 * it never fills.
 *
 * Hostile backend: a response is copied out of the ring once (pvk_ring_get)
 * and checked on the copy (blkfront-core.h); the backend's rsp_prod is
 * bounded by what we published (pvk_ring_peek).  On any violation the
 * device is latched broken: one log line naming the value, all I/O fails,
 * the ring is not touched again.
 */
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/highmem.h>
#include <linux/interrupt.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <xen/events.h>
#include <xen/grant_table.h>
#include <xen/page.h>
#include <xen/xen.h>
#include <xen/xenbus.h>

#include "blkfront-core.h"
#include "pvkit-front.h"

#define PVKBF_TYPE "pvkvbd"
#define PVKBF_MINORS 16

static unsigned int max_ring_order = 4;
module_param(max_ring_order, uint, 0444);
MODULE_PARM_DESC(max_ring_order, "largest ring-page-order used (0-4)");
static unsigned int max_queues;
module_param(max_queues, uint, 0444);
MODULE_PARM_DESC(
	max_queues,
	"most queues (rings) per disk (default 0: online CPUs, at most 4)");
static unsigned int max_indirect = 32;
module_param(max_indirect, uint, 0444);
MODULE_PARM_DESC(max_indirect, "most segments per indirect request (0: none)");
static unsigned int queue_depth = 32;
module_param(queue_depth, uint, 0444);
MODULE_PARM_DESC(queue_depth, "requests in flight per queue");

static int pvkbf_major;

struct pvkbf_info;

/* One request id of one ring: what was sent, and its pool pages. */
struct pvkbf_shadow {
	struct pvkbf_expect x;
	struct request *rq;
	struct page **pages; /* segs data pages, then ind_pages */
	grant_ref_t *grefs;
};

struct pvkbf_ring {
	struct pvkbf_info *info;
	unsigned int idx;
	spinlock_t lock; /* ring, shadows' x and rq */
	struct pvk_ring ring;
	void *sring;
	grant_ref_t ring_refs[1u << PVK_RING_MAX_ORDER];
	evtchn_port_t evtchn;
	int irq;
	struct pvkbf_shadow *shadow; /* depth entries */
	struct page **pool_pages; /* depth * (segs + ind_pages) */
	grant_ref_t *pool_grefs;
};

struct pvkbf_info {
	struct xenbus_device *xbdev;
	struct mutex mutex; /* connect / teardown */
	unsigned int vdevice;
	int index; /* disk index from the vdevice, names and minors */
	struct pvkbf_rings rg;
	struct pvkbf_geom geom;
	struct pvkbf_ring *rings;
	struct blk_mq_tag_set tag_set;
	bool tag_set_ok;
	struct gendisk *disk;
	bool disk_added;
	int flush_op; /* -1: no flush */
	bool discard, discard_secure, persistent;
	bool connected; /* I/O may be sent */
	bool broken; /* the backend broke the protocol */
	struct work_struct fail_work;
};

/* Per-request driver data. */
struct pvkbf_pdu {
	blk_status_t status;
};

static struct pvkbf_pdu *pvkbf_pdu(struct request *rq)
{
	return blk_mq_rq_to_pdu(rq);
}

/* ---- pools ------------------------------------------------------- */

static unsigned int pvkbf_ppr(const struct pvkbf_info *info)
{
	return info->geom.segs + info->geom.ind_pages;
}

static void pvkbf_pool_free(struct pvkbf_info *info, struct pvkbf_ring *ring)
{
	if (ring->pool_pages)
		pvkfront_pages_end(ring->pool_pages, ring->pool_grefs,
				   info->geom.depth * pvkbf_ppr(info));
	kvfree(ring->pool_pages);
	kvfree(ring->pool_grefs);
	kvfree(ring->shadow);
	ring->pool_pages = NULL;
	ring->pool_grefs = NULL;
	ring->shadow = NULL;
}

static int pvkbf_pool_alloc(struct pvkbf_info *info, struct pvkbf_ring *ring)
{
	unsigned int ppr = pvkbf_ppr(info), n = info->geom.depth * ppr, i;

	ring->shadow =
		kvcalloc(info->geom.depth, sizeof(*ring->shadow), GFP_KERNEL);
	ring->pool_pages = kvcalloc(n, sizeof(*ring->pool_pages), GFP_KERNEL);
	ring->pool_grefs = kvcalloc(n, sizeof(*ring->pool_grefs), GFP_KERNEL);
	if (!ring->shadow || !ring->pool_pages || !ring->pool_grefs)
		goto fail;
	/* Writable, indirect pages too: a backend keeping grants mapped
	 * (feature-persistent) maps every one read-write. */
	if (pvkfront_pages_grant(info->xbdev, ring->pool_pages,
				 ring->pool_grefs, n, false))
		goto fail;
	for (i = 0; i < info->geom.depth; i++) {
		ring->shadow[i].pages = &ring->pool_pages[i * ppr];
		ring->shadow[i].grefs = &ring->pool_grefs[i * ppr];
	}
	return 0;
fail:
	pvkbf_pool_free(info, ring);
	return -ENOMEM;
}

/* Copy @len bytes between @buf and the pool pages of @sh at byte @off of
 * the request's data stream. */
static void pvkbf_copy(struct pvkbf_shadow *sh, unsigned int off, void *buf,
		       unsigned int len, bool to_pool)
{
	unsigned int pg, po, n;
	char *p;

	while (len) {
		pg = off / PAGE_SIZE;
		po = off % PAGE_SIZE;
		n = min_t(unsigned int, len, PAGE_SIZE - po);
		p = page_address(sh->pages[pg]) + po;
		if (to_pool)
			memcpy(p, buf, n);
		else
			memcpy(buf, p, n);
		off += n;
		buf += n;
		len -= n;
	}
}

static void pvkbf_copy_rq(struct request *rq, struct pvkbf_shadow *sh,
			  bool to_pool)
{
	struct req_iterator iter;
	struct bio_vec bv;
	unsigned int off = 0;
	void *p;

	rq_for_each_segment(bv, rq, iter) {
		p = bvec_kmap_local(&bv);
		pvkbf_copy(sh, off, p, bv.bv_len, to_pool);
		kunmap_local(p);
		if (!to_pool)
			flush_dcache_page(bv.bv_page);
		off += bv.bv_len;
	}
}

/* ---- broken -------------------------------------------------------- */

/* Fail every request in flight on @ring (the backend will not answer). */
static void pvkbf_fail_ring(struct pvkbf_ring *ring)
{
	struct pvkbf_shadow *sh;
	unsigned long flags;
	unsigned int i;

	spin_lock_irqsave(&ring->lock, flags);
	for (i = 0; ring->shadow && i < ring->info->geom.depth; i++) {
		sh = &ring->shadow[i];
		if (!sh->x.inflight)
			continue;
		sh->x.inflight = false;
		pvkbf_pdu(sh->rq)->status = BLK_STS_IOERR;
		blk_mq_complete_request(sh->rq);
	}
	spin_unlock_irqrestore(&ring->lock, flags);
}

static void pvkbf_fail_all(struct pvkbf_info *info)
{
	unsigned int i;

	for (i = 0; info->rings && i < info->rg.nr_queues; i++)
		pvkbf_fail_ring(&info->rings[i]);
}

static void pvkbf_fail_work(struct work_struct *w)
{
	pvkbf_fail_all(container_of(w, struct pvkbf_info, fail_work));
}

/* Called with @ring->lock held. */
static void pvkbf_set_broken(struct pvkbf_ring *ring, const char *why,
			     const struct pvk_blkif_response *rsp)
{
	struct pvkbf_info *info = ring->info;
	char detail[64];

	pvk_ring_set_broken(&ring->ring, why);
	if (rsp)
		snprintf(detail, sizeof(detail),
			 "id %llu, operation %u, status %d",
			 (unsigned long long)rsp->id, rsp->operation,
			 rsp->status);
	if (pvkfront_set_broken(info->xbdev, &info->broken, ring->idx, why,
				rsp ? detail : NULL))
		schedule_work(&info->fail_work);
}

/* ---- responses ----------------------------------------------------- */

static blk_status_t pvkbf_status(struct pvkbf_info *info, u8 op, int st)
{
	if (st == PVKBF_OK)
		return BLK_STS_OK;
	if (st == PVKBF_NOTSUPP && op != PVK_BLKIF_OP_READ &&
	    op != PVK_BLKIF_OP_WRITE && op != PVK_BLKIF_OP_INDIRECT) {
		dev_warn(
			&info->xbdev->dev,
			"backend does not support operation %u after all; not using it\n",
			op);
		if (op == PVK_BLKIF_OP_DISCARD)
			blk_queue_max_discard_sectors(info->disk->queue, 0);
		else
			blk_queue_write_cache(info->disk->queue, false, false);
		return BLK_STS_NOTSUPP;
	}
	return BLK_STS_IOERR;
}

static void pvkbf_handle_rsp(struct pvkbf_ring *ring,
			     const struct pvk_blkif_response *rsp)
{
	struct pvkbf_info *info = ring->info;
	struct pvkbf_shadow *sh;
	const char *why = NULL;
	int id, st;

	id = pvkbf_rsp_id(rsp, info->geom.depth, &why);
	if (id < 0) {
		pvkbf_set_broken(ring, why, rsp);
		return;
	}
	sh = &ring->shadow[id];
	st = pvkbf_rsp_match(rsp, &sh->x, &why);
	if (st < 0) {
		pvkbf_set_broken(ring, why, rsp);
		return;
	}
	sh->x.inflight = false;
	pvkbf_pdu(sh->rq)->status = pvkbf_status(info, sh->x.op, st);
	blk_mq_complete_request(sh->rq);
}

static irqreturn_t pvkbf_interrupt(int irq, void *dev_id)
{
	struct pvkbf_ring *ring = dev_id;
	struct pvk_blkif_response rsp;
	unsigned int eoi = XEN_EOI_FLAG_SPURIOUS;
	unsigned long flags;
	int rc;

	spin_lock_irqsave(&ring->lock, flags);
	if (READ_ONCE(ring->info->broken))
		goto unlock;
	for (;;) {
		while ((rc = pvk_blkif_get_response(&ring->ring, &rsp)) == 1) {
			eoi = 0;
			pvkbf_handle_rsp(ring, &rsp);
			if (READ_ONCE(ring->info->broken))
				goto unlock;
		}
		if (rc == 0)
			rc = pvk_ring_final_check(&ring->ring);
		if (rc < 0) {
			pvkbf_set_broken(ring,
					 pvk_ring_broken_reason(&ring->ring),
					 NULL);
			break;
		}
		if (rc == 0)
			break;
	}
unlock:
	spin_unlock_irqrestore(&ring->lock, flags);
	xen_irq_lateeoi(irq, eoi);
	return IRQ_HANDLED;
}

/* ---- requests ------------------------------------------------------ */

static void pvkbf_complete(struct request *rq)
{
	struct pvkbf_ring *ring = rq->mq_hctx->driver_data;
	blk_status_t st = pvkbf_pdu(rq)->status;

	if (!st && req_op(rq) == REQ_OP_READ)
		pvkbf_copy_rq(rq, &ring->shadow[rq->tag], false);
	blk_mq_end_request(rq, st);
}

/* Build the ring request for @rq in @req, copying write data in. */
static blk_status_t pvkbf_build(struct pvkbf_info *info,
				struct pvkbf_shadow *sh, struct request *rq,
				union pvk_blkif_any_request *req)
{
	u16 handle = (u16)info->vdevice;
	u64 id = rq->tag;
	struct pvk_blkif_request_segment *seg;
	unsigned int i, k, nseg, bytes;
	bool write;
	int n;

	memset(req, 0, sizeof(*req));
	sh->x.ind_op = 0;
	switch (req_op(rq)) {
	case REQ_OP_FLUSH:
		if (info->flush_op < 0)
			return BLK_STS_NOTSUPP;
		req->rw.operation = (u8)info->flush_op;
		req->rw.handle = handle;
		req->rw.id = id;
		sh->x.op = req->rw.operation;
		return BLK_STS_OK;
	case REQ_OP_DISCARD:
	case REQ_OP_SECURE_ERASE:
		if (!info->discard)
			return BLK_STS_NOTSUPP;
		req->discard.operation = PVK_BLKIF_OP_DISCARD;
		req->discard.flag = req_op(rq) == REQ_OP_SECURE_ERASE ?
					    PVK_BLKIF_DISCARD_SECURE :
					    0;
		req->discard.handle = handle;
		req->discard.id = id;
		req->discard.sector_number = blk_rq_pos(rq);
		req->discard.nr_sectors = blk_rq_sectors(rq);
		sh->x.op = PVK_BLKIF_OP_DISCARD;
		return BLK_STS_OK;
	case REQ_OP_READ:
		write = false;
		break;
	case REQ_OP_WRITE:
		write = true;
		break;
	default:
		return BLK_STS_NOTSUPP;
	}

	bytes = blk_rq_bytes(rq);
	nseg = DIV_ROUND_UP(bytes, PAGE_SIZE);
	if (nseg <= PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST) {
		n = pvkbf_fill_segs(bytes, sh->grefs, req->rw.seg, nseg);
		if (n < 0)
			return BLK_STS_IOERR;
		req->rw.operation = write ? PVK_BLKIF_OP_WRITE :
					    PVK_BLKIF_OP_READ;
		req->rw.nr_segments = (u8)n;
		req->rw.handle = handle;
		req->rw.id = id;
		req->rw.sector_number = blk_rq_pos(rq);
		sh->x.op = req->rw.operation;
	} else {
		if (!info->geom.ind_pages || nseg > info->geom.segs)
			return BLK_STS_IOERR;
		/* The descriptors go into our indirect pages, read-only to
		 * the backend, PVK_BLKIF_SEGS_PER_INDIRECT_PAGE a page. */
		for (i = 0; i < info->geom.ind_pages; i++)
			req->indirect.indirect_grefs[i] =
				sh->grefs[info->geom.segs + i];
		for (i = 0; i < nseg; i += PVK_BLKIF_SEGS_PER_INDIRECT_PAGE) {
			k = min_t(unsigned int, nseg - i,
				  PVK_BLKIF_SEGS_PER_INDIRECT_PAGE);
			seg = page_address(
				sh->pages[info->geom.segs +
					  i / PVK_BLKIF_SEGS_PER_INDIRECT_PAGE]);
			if (pvkbf_fill_segs(min_t(unsigned int,
						  bytes - i * PAGE_SIZE,
						  k * PAGE_SIZE),
					    sh->grefs + i, seg, k) < 0)
				return BLK_STS_IOERR;
		}
		req->indirect.operation = PVK_BLKIF_OP_INDIRECT;
		req->indirect.indirect_op = write ? PVK_BLKIF_OP_WRITE :
						    PVK_BLKIF_OP_READ;
		req->indirect.nr_segments = (u16)nseg;
		req->indirect.id = id;
		req->indirect.sector_number = blk_rq_pos(rq);
		req->indirect.handle = handle;
		sh->x.op = PVK_BLKIF_OP_INDIRECT;
		sh->x.ind_op = req->indirect.indirect_op;
	}
	if (write)
		pvkbf_copy_rq(rq, sh, true);
	return BLK_STS_OK;
}

static blk_status_t pvkbf_queue_rq(struct blk_mq_hw_ctx *hctx,
				   const struct blk_mq_queue_data *bd)
{
	struct pvkbf_ring *ring = hctx->driver_data;
	struct pvkbf_info *info = ring->info;
	struct request *rq = bd->rq;
	union pvk_blkif_any_request req;
	struct pvkbf_shadow *sh;
	unsigned long flags;
	blk_status_t st;
	bool notify;

	blk_mq_start_request(rq);
	if (!READ_ONCE(info->connected) || rq->tag >= info->geom.depth)
		return BLK_STS_IOERR;
	sh = &ring->shadow[rq->tag];
	st = pvkbf_build(info, sh, rq, &req);
	if (st)
		return st;

	spin_lock_irqsave(&ring->lock, flags);
	/* Under the lock: teardown fails what it finds in flight. */
	if (!info->connected || info->broken || sh->x.inflight ||
	    pvk_blkif_put_any_request(&ring->ring, &req) < 0) {
		spin_unlock_irqrestore(&ring->lock, flags);
		return BLK_STS_IOERR;
	}
	sh->rq = rq;
	sh->x.inflight = true;
	notify = pvk_ring_push(&ring->ring);
	spin_unlock_irqrestore(&ring->lock, flags);
	if (notify)
		notify_remote_via_irq(ring->irq);
	return BLK_STS_OK;
}

static int pvkbf_init_hctx(struct blk_mq_hw_ctx *hctx, void *data,
			   unsigned int idx)
{
	struct pvkbf_info *info = data;

	hctx->driver_data = &info->rings[idx];
	return 0;
}

static const struct blk_mq_ops pvkbf_mq_ops = {
	.queue_rq = pvkbf_queue_rq,
	.complete = pvkbf_complete,
	.init_hctx = pvkbf_init_hctx,
};

static const struct block_device_operations pvkbf_fops = {
	.owner = THIS_MODULE,
};

/* ---- rings and xenstore -------------------------------------------- */

static void pvkbf_ring_free(struct pvkbf_info *info, struct pvkbf_ring *ring)
{
	pvkfront_evtchn_unbind(info->xbdev, &ring->evtchn, &ring->irq, ring);
	pvkbf_pool_free(info, ring);
	if (ring->sring)
		xenbus_teardown_ring(&ring->sring, 1u << info->rg.order,
				     ring->ring_refs);
}

static void pvkbf_rings_free(struct pvkbf_info *info)
{
	unsigned int i;

	for (i = 0; info->rings && i < info->rg.nr_queues; i++)
		pvkbf_ring_free(info, &info->rings[i]);
	kfree(info->rings);
	info->rings = NULL;
}

static int pvkbf_ring_setup(struct pvkbf_info *info, struct pvkbf_ring *ring)
{
	struct xenbus_device *dev = info->xbdev;
	unsigned int pages = 1u << info->rg.order;
	int err;

	err = xenbus_setup_ring(dev, GFP_KERNEL, &ring->sring, pages,
				ring->ring_refs);
	if (err)
		return err;
	err = pvk_blkif_front_init(&ring->ring, ring->sring,
				   (size_t)pages * PVK_PAGE_SIZE);
	if (err)
		return err;
	return pvkfront_evtchn_bind(dev, &ring->evtchn, &ring->irq,
				    pvkbf_interrupt, "pvkvbd", ring);
}

static int pvkbf_write_ring(struct xenbus_transaction xbt, void *arg,
			    unsigned int q, const char *dir)
{
	struct pvkbf_info *info = arg;
	struct pvkbf_ring *ring = &info->rings[q];
	unsigned int i, pages = 1u << info->rg.order;
	char node[16];
	int err;

	for (i = 0; i < pages; i++) {
		if (info->rg.order)
			snprintf(node, sizeof(node), "ring-ref%u", i);
		else
			snprintf(node, sizeof(node), "ring-ref");
		err = xenbus_printf(xbt, dir, node, "%u", ring->ring_refs[i]);
		if (err)
			return err;
	}
	return xenbus_printf(xbt, dir, "event-channel", "%u", ring->evtchn);
}

static int pvkbf_write_nodes(struct xenbus_transaction xbt, void *arg)
{
	struct pvkbf_info *info = arg;
	struct xenbus_device *dev = info->xbdev;
	int err = 0;

	if (info->rg.order)
		err = xenbus_printf(xbt, dev->nodename, "ring-page-order", "%u",
				    info->rg.order);
	if (!err)
		err = pvkfront_write_queues(xbt, dev, info->rg.nr_queues,
					    pvkbf_write_ring, info);
	if (!err)
		err = xenbus_printf(xbt, dev->nodename, "protocol", "%s",
				    "x86_64-abi");
	if (!err)
		err = xenbus_printf(xbt, dev->nodename, "feature-persistent",
				    "%u", 1);
	return err;
}

static struct pvkbf_limits pvkbf_limits(void)
{
	struct pvkbf_limits l = {
		.max_ring_order = max_ring_order,
		.max_queues = max_queues ? min_t(unsigned int, max_queues, 16) :
					   clamp_t(unsigned int,
						   num_online_cpus(), 1, 4),
		.max_indirect = max_indirect,
		.max_depth = clamp_t(unsigned int, queue_depth, 1, 1024),
	};

	return l;
}

/* Backend in InitWait: build the rings and publish them. */
static int pvkbf_talk_to_backend(struct pvkbf_info *info)
{
	struct xenbus_device *dev = info->xbdev;
	struct pvkbf_limits l = pvkbf_limits();
	unsigned int i;
	int err;

	info->rg = pvkbf_pick_rings(
		&l,
		xenbus_read_unsigned(dev->otherend, "max-ring-page-order", 0),
		xenbus_read_unsigned(dev->otherend, "multi-queue-max-queues",
				     1));
	info->rings =
		kcalloc(info->rg.nr_queues, sizeof(*info->rings), GFP_KERNEL);
	if (!info->rings)
		return -ENOMEM;
	for (i = 0; i < info->rg.nr_queues; i++) {
		info->rings[i].info = info;
		info->rings[i].idx = i;
		spin_lock_init(&info->rings[i].lock);
		err = pvkbf_ring_setup(info, &info->rings[i]);
		if (err)
			goto free_rings;
	}
	err = pvkfront_transact(pvkbf_write_nodes, info);
	if (err)
		goto free_rings;
	return xenbus_switch_state(dev, XenbusStateInitialised);
free_rings:
	pvkbf_rings_free(info);
	return err;
}

static void pvkbf_disk_name(char *buf, size_t len, int index)
{
	if (index < 26)
		snprintf(buf, len, "pvkvd%c", 'a' + index);
	else
		snprintf(buf, len, "pvkvd%c%c", 'a' + index / 26 - 1,
			 'a' + index % 26);
}

/* Backend Connected: read the disk's properties, make the disk. */
static int pvkbf_connect(struct pvkbf_info *info)
{
	struct xenbus_device *dev = info->xbdev;
	const char *be = dev->otherend;
	unsigned long long sectors;
	unsigned int binfo, ss, lbs, pbs, i;
	struct request_queue *q;
	struct gendisk *disk;
	char *mode;
	bool ro;
	int err;

	err = xenbus_gather(XBT_NIL, be, "sectors", "%llu", &sectors, "info",
			    "%u", &binfo, "sector-size", "%u", &ss, NULL);
	if (err)
		return err;
	if (pvkbf_sector_sizes(
		    ss, xenbus_read_unsigned(be, "physical-sector-size", 0),
		    &lbs, &pbs)) {
		xenbus_dev_fatal(dev, -EINVAL, "backend sector-size %u", ss);
		return -EINVAL;
	}
	mode = xenbus_read(XBT_NIL, be, "mode", NULL);
	ro = (binfo & PVK_VDISK_READONLY) || (!IS_ERR(mode) && mode[0] == 'r');
	if (!IS_ERR(mode))
		kfree(mode);
	info->flush_op = pvkbf_flush_op(
		xenbus_read_unsigned(be, "feature-flush-cache", 0),
		xenbus_read_unsigned(be, "feature-barrier", 0));
	info->discard = xenbus_read_unsigned(be, "feature-discard", 0);
	info->discard_secure = xenbus_read_unsigned(be, "discard-secure", 0);
	info->persistent = xenbus_read_unsigned(be, "feature-persistent", 0);
	{
		struct pvkbf_limits l = pvkbf_limits();

		info->geom = pvkbf_pick_geom(
			&l,
			xenbus_read_unsigned(
				be, "feature-max-indirect-segments", 0),
			info->rings[0].ring.nr_ents);
	}
	for (i = 0; i < info->rg.nr_queues; i++) {
		err = pvkbf_pool_alloc(info, &info->rings[i]);
		if (err)
			return err;
	}

	info->tag_set.ops = &pvkbf_mq_ops;
	info->tag_set.nr_hw_queues = info->rg.nr_queues;
	info->tag_set.queue_depth = info->geom.depth;
	info->tag_set.numa_node = NUMA_NO_NODE;
	info->tag_set.flags = BLK_MQ_F_SHOULD_MERGE;
	info->tag_set.cmd_size = sizeof(struct pvkbf_pdu);
	info->tag_set.driver_data = info;
	err = blk_mq_alloc_tag_set(&info->tag_set);
	if (err)
		return err;
	info->tag_set_ok = true;
	disk = blk_mq_alloc_disk(&info->tag_set, info);
	if (IS_ERR(disk))
		return PTR_ERR(disk);
	info->disk = disk;
	q = disk->queue;
	blk_queue_logical_block_size(q, lbs);
	blk_queue_physical_block_size(q, pbs);
	blk_queue_max_hw_sectors(q, info->geom.segs * (PAGE_SIZE >> 9));
	blk_queue_max_segments(q, info->geom.segs);
	blk_queue_max_segment_size(q, PAGE_SIZE);
	blk_queue_segment_boundary(q, PAGE_SIZE - 1);
	blk_queue_flag_set(QUEUE_FLAG_VIRT, q);
	blk_queue_write_cache(q, info->flush_op >= 0, false);
	if (info->discard) {
		q->limits.discard_granularity =
			xenbus_read_unsigned(be, "discard-granularity", lbs);
		q->limits.discard_alignment =
			xenbus_read_unsigned(be, "discard-alignment", 0);
		blk_queue_max_discard_sectors(q, UINT_MAX >> 9);
		if (info->discard_secure)
			blk_queue_max_secure_erase_sectors(q, UINT_MAX >> 9);
	}
	disk->major = pvkbf_major;
	disk->first_minor = info->index * PVKBF_MINORS;
	disk->minors = PVKBF_MINORS;
	disk->fops = &pvkbf_fops;
	disk->private_data = info;
	pvkbf_disk_name(disk->disk_name, sizeof(disk->disk_name), info->index);
	set_capacity(disk, sectors);
	set_disk_ro(disk, ro);
	if (binfo & PVK_VDISK_CDROM)
		disk->flags |= GENHD_FL_REMOVABLE;

	WRITE_ONCE(info->connected, true);
	err = add_disk(disk);
	if (err)
		return err;
	info->disk_added = true;
	dev_info(
		&dev->dev,
		"%s: %llu sectors of %u bytes%s, %u queue(s), ring order %u, %u segments%s, depth %u, flush %s, discard %s, persistent grants %s\n",
		disk->disk_name, sectors, lbs, ro ? " (read-only)" : "",
		info->rg.nr_queues, info->rg.order, info->geom.segs,
		info->geom.ind_pages ? " (indirect)" : "", info->geom.depth,
		info->flush_op == PVK_BLKIF_OP_FLUSH_DISKCACHE ? "cache" :
		info->flush_op == PVK_BLKIF_OP_WRITE_BARRIER   ? "barrier" :
								 "none",
		info->discard ? "yes" : "no", info->persistent ? "yes" : "no");
	return xenbus_switch_state(dev, XenbusStateConnected);
}

/* Flip info->connected under every ring's lock, so that a request is
 * either refused or in flight where pvkbf_fail_all() finds it. */
static void pvkbf_set_connected(struct pvkbf_info *info, bool on)
{
	unsigned long flags;
	unsigned int i;

	WRITE_ONCE(info->connected, on);
	for (i = 0; info->rings && i < info->rg.nr_queues; i++) {
		spin_lock_irqsave(&info->rings[i].lock, flags);
		spin_unlock_irqrestore(&info->rings[i].lock, flags);
	}
}

/* Undo connect and talk_to_backend: in-flight I/O fails, the disk goes. */
static void pvkbf_teardown(struct pvkbf_info *info)
{
	unsigned int i;

	pvkbf_set_connected(info, false);
	if (info->disk_added)
		blk_mark_disk_dead(info->disk);
	/* No more responses: unbind first (waits for a running handler). */
	for (i = 0; info->rings && i < info->rg.nr_queues; i++)
		if (info->rings[i].irq > 0)
			pvkfront_evtchn_unbind(info->xbdev,
					       &info->rings[i].evtchn,
					       &info->rings[i].irq,
					       &info->rings[i]);
	cancel_work_sync(&info->fail_work);
	pvkbf_fail_all(info);
	if (info->disk_added)
		del_gendisk(info->disk);
	info->disk_added = false;
	if (info->tag_set_ok)
		blk_mq_free_tag_set(&info->tag_set);
	info->tag_set_ok = false;
	if (info->disk)
		put_disk(info->disk);
	info->disk = NULL;
	pvkbf_rings_free(info);
	memset(&info->tag_set, 0, sizeof(info->tag_set));
}

static int pvkbf_init_wait(struct xenbus_device *dev)
{
	return pvkbf_talk_to_backend(dev_get_drvdata(&dev->dev));
}

static void pvkbf_connected(struct xenbus_device *dev)
{
	struct pvkbf_info *info = dev_get_drvdata(&dev->dev);
	int err;

	if (dev->state != XenbusStateInitialised)
		return;
	err = pvkbf_connect(info);
	if (err) {
		xenbus_dev_fatal(dev, err, "connecting the disk");
		pvkbf_teardown(info);
	}
}

static void pvkbf_closing(struct xenbus_device *dev)
{
	pvkbf_teardown(dev_get_drvdata(&dev->dev));
}

static const struct pvkfront_states pvkbf_states = {
	.backend_initwait = pvkbf_init_wait,
	.connected = pvkbf_connected,
	.teardown = pvkbf_closing,
};

static void pvkbf_backend_changed(struct xenbus_device *dev,
				  enum xenbus_state state)
{
	struct pvkbf_info *info = dev_get_drvdata(&dev->dev);

	pvkfront_backend_changed(dev, state, &info->mutex, &pvkbf_states);
}

/* The disk index: xvd encoding (202 << 8 | disk << 4 | part) or the
 * extended one (1 << 28 | disk << 8 | part); -EINVAL otherwise. */
static int pvkbf_index(unsigned int vdevice)
{
	if (vdevice & (1u << 28))
		return (vdevice >> 8) & 0xfffff;
	if ((vdevice >> 8) == 202)
		return (vdevice >> 4) & 0xf;
	return -EINVAL;
}

static int pvkbf_probe(struct xenbus_device *dev,
		       const struct xenbus_device_id *id)
{
	struct pvkbf_info *info;
	unsigned int vdevice;
	int err, index;

	err = xenbus_scanf(XBT_NIL, dev->nodename, "virtual-device", "%u",
			   &vdevice);
	if (err != 1) {
		xenbus_dev_fatal(dev, -ENOENT, "reading virtual-device");
		return -ENOENT;
	}
	index = pvkbf_index(vdevice);
	if (index < 0 || index >= (1 << MINORBITS) / PVKBF_MINORS ||
	    index >= 26 * 27) {
		xenbus_dev_fatal(dev, -EINVAL, "virtual-device %u", vdevice);
		return -EINVAL;
	}
	info = kzalloc(sizeof(*info), GFP_KERNEL);
	if (!info)
		return -ENOMEM;
	info->xbdev = dev;
	info->vdevice = vdevice;
	info->index = index;
	mutex_init(&info->mutex);
	INIT_WORK(&info->fail_work, pvkbf_fail_work);
	dev_set_drvdata(&dev->dev, info);
	err = pvkfront_probe_state(dev);
	if (err) {
		xenbus_dev_fatal(dev, err, "switching to Initialising");
		goto free_info;
	}
	return 0;

free_info:
	dev_set_drvdata(&dev->dev, NULL);
	kfree(info);
	return err;
}

static void pvkbf_remove(struct xenbus_device *dev)
{
	struct pvkbf_info *info = dev_get_drvdata(&dev->dev);

	mutex_lock(&info->mutex);
	pvkbf_teardown(info);
	mutex_unlock(&info->mutex);
	dev_set_drvdata(&dev->dev, NULL);
	kfree(info);
}

static const struct xenbus_device_id pvkbf_ids[] = {
	{ PVKBF_TYPE },
	{ "" },
};

static struct xenbus_driver pvkbf_driver = {
	.name = "pvkit-blkfront",
	.ids = pvkbf_ids,
	.probe = pvkbf_probe,
	.remove = pvkbf_remove,
	.otherend_changed = pvkbf_backend_changed,
	.not_essential = true,
};

static int __init pvkbf_init(void)
{
	int err;

	if (!xen_domain())
		return -ENODEV;
	pvkbf_major = register_blkdev(0, PVKBF_TYPE);
	if (pvkbf_major < 0)
		return pvkbf_major;
	err = xenbus_register_frontend(&pvkbf_driver);
	if (err)
		unregister_blkdev(pvkbf_major, PVKBF_TYPE);
	return err;
}
module_init(pvkbf_init);

static void __exit pvkbf_exit(void)
{
	xenbus_unregister_driver(&pvkbf_driver);
	unregister_blkdev(pvkbf_major, PVKBF_TYPE);
}
module_exit(pvkbf_exit);

MODULE_DESCRIPTION("pvkit blkif frontend (xenbus type " PVKBF_TYPE ")");
MODULE_LICENSE("Dual MIT/GPL");
MODULE_ALIAS("xen:" PVKBF_TYPE);
