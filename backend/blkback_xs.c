/* SPDX-License-Identifier: MIT */
/*
 * blkback control plane: a driver on the backend bus (pvkit/xenbus.h),
 * which owns the watches and the xenbus state machine.  Here: the vbd's
 * nodes (params, mode, device-type), the features it publishes, and what
 * it reads from the frontend to connect.  Everything here runs on the
 * bus's thread; the data path is behind bb_dev_connect() and
 * bb_dev_disconnect().
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "blkback_priv.h"
#if defined(__x86_64__)
#define BB_PROTO_NATIVE "x86_64-abi"
#elif defined(__aarch64__) || defined(__arm__)
#define BB_PROTO_NATIVE "arm-abi"
#else
#define BB_PROTO_NATIVE ""
#endif

static int own_read_uint(struct bb_dev *dev, const char *name,
			 unsigned long def, unsigned long *v)
{
	char path[PVK_XENBUS_PATH_MAX + 32];
	int err;

	snprintf(path, sizeof(path), "%s/%s", dev->xb.be_path, name);
	err = pvk_xs_read_uint(dev->hv, PVK_XS_NO_TXN, path, v);
	if (err == -ENOENT) {
		*v = def;
		return 0;
	}
	return err;
}

static int own_read(struct bb_dev *dev, const char *name, char **v)
{
	return pvk_xenbus_read(&dev->xb, PVK_XS_NO_TXN, false, name, v);
}

/* The info bits (VDISK_*) of @d, as Linux's blkback computes them. */
static unsigned int disk_info(const struct bb_disk *d)
{
	unsigned int info = 0;

	if (d->readonly)
		info |= PVK_VDISK_READONLY;
	if (d->cdrom)
		info |= PVK_VDISK_CDROM | PVK_VDISK_REMOVABLE;
	return info;
}

/* Probe-time nodes: what we offer.  One transaction, so a frontend that
 * sees InitWait sees all of them. */
static int publish_txn(struct pvk_hv *hv, pvk_xs_txn_t t, void *arg)
{
	struct bb_dev *dev = arg;
	const struct bb_limits *l = &dev->lim;
	const struct bb_disk *d = &dev->disk;
	struct pvk_xenbus_dev *x = &dev->xb;
	int err = 0;

	if (l->max_indirect_segs)
		err |= pvk_xenbus_printf(x, t, "feature-max-indirect-segments",
					 "%u", l->max_indirect_segs);
	if (l->max_queues > 1)
		err |= pvk_xenbus_printf(x, t, "multi-queue-max-queues", "%u",
					 l->max_queues);
	err |= pvk_xenbus_printf(x, t, "max-ring-page-order", "%u",
				 l->max_ring_order);
	/* The deprecated form, for frontends that only know num-ring-pages. */
	err |= pvk_xenbus_printf(x, t, "max-ring-pages", "%u",
				 1u << l->max_ring_order);
	err |= pvk_xenbus_printf(x, t, "feature-flush-cache", "%d", l->flush);
	err |= pvk_xenbus_printf(x, t, "feature-barrier", "%d", l->barrier);
	err |= pvk_xenbus_printf(x, t, "feature-discard", "%d", l->discard);
	if (l->discard) {
		err |= pvk_xenbus_printf(x, t, "discard-granularity", "%u",
					 d->discard_granularity);
		err |= pvk_xenbus_printf(x, t, "discard-alignment", "0");
		err |= pvk_xenbus_printf(x, t, "discard-secure", "0");
	}
	err |= pvk_xenbus_printf(x, t, "feature-persistent", "%d",
				 l->persistent);
	err |= pvk_xenbus_printf(x, t, "sectors", "%" PRIu64, d->sectors);
	err |= pvk_xenbus_printf(x, t, "sector-size", "%u", d->sector_size);
	err |= pvk_xenbus_printf(x, t, "physical-sector-size", "%u",
				 d->phys_sector_size);
	err |= pvk_xenbus_printf(x, t, "info", "%u", disk_info(d));
	/* What a hotplug script writes once the device is ready, and what
	 * libxl waits for: written with the features, before InitWait. */
	err |= pvk_xenbus_printf(x, t, "hotplug-status", "connected");
	(void)hv;
	/* Each call returns 0 or -errno: OR-ing keeps "some failed". */
	return err < 0 ? -EIO : 0;
}

/* The frontend's unsigned node @name (which may be "queue-N/..."). */
static int fe_uint(struct bb_dev *dev, const char *name, unsigned long def,
		   unsigned long *v)
{
	char path[PVK_XENBUS_PATH_MAX + 48];
	int err;

	snprintf(path, sizeof(path), "%s/%s", dev->xb.fe_path, name);
	err = pvk_xs_read_uint(dev->hv, PVK_XS_NO_TXN, path, v);
	if (err == -ENOENT) {
		*v = def;
		return 0;
	}
	return err;
}

/* A peer string, made safe for one log line. */
static void printable(char *out, size_t len, const char *s)
{
	size_t i;

	for (i = 0; i + 1 < len && s[i]; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
}

/*
 * The ring's size and the names of its grant refs, as Linux's blkback
 * reads them: a ring-page-order node (even "0") means ring-ref0..N-1; no
 * such node means one page in ring-ref.  Older frontends give the page
 * count in num-ring-pages (blkif.h, deprecated) with ring-ref0..N-1.
 */
static int read_ring_size(struct bb_dev *dev, uint32_t *order, bool *multi,
			  char *why, size_t wlen)
{
	unsigned long v, pages;

	if (fe_uint(dev, "ring-page-order", ULONG_MAX, &v) < 0) {
		snprintf(why, wlen, "malformed ring-page-order");
		return -EPROTO;
	}
	if (v != ULONG_MAX) {
		if (v > dev->lim.max_ring_order) {
			snprintf(
				why, wlen,
				"ring-page-order %lu above max-ring-page-order "
				"%u",
				v, dev->lim.max_ring_order);
			return -EPROTO;
		}
		*order = (uint32_t)v;
		*multi = true;
		return 0;
	}
	if (fe_uint(dev, "num-ring-pages", 1, &pages) < 0 || !pages ||
	    (pages & (pages - 1)) || pages > (1ul << dev->lim.max_ring_order)) {
		snprintf(why, wlen,
			 "num-ring-pages not a power of two up to %u",
			 1u << dev->lim.max_ring_order);
		return -EPROTO;
	}
	for (*order = 0; (1ul << *order) < pages; (*order)++)
		;
	*multi = pages > 1;
	return 0;
}

/* One grant ref of the ring: @pre is "" or "queue-<q>/". */
static int read_ring_ref(struct bb_dev *dev, const char *pre, uint32_t i,
			 bool multi, uint32_t *ref)
{
	char name[48];
	unsigned long v;
	int err;

	if (multi)
		snprintf(name, sizeof(name), "%sring-ref%u", pre, i);
	else
		snprintf(name, sizeof(name), "%sring-ref", pre);
	err = fe_uint(dev, name, ULONG_MAX, &v);
	/* ring-page-order = 0 with the single-page name: accept it. */
	if (!err && v == ULONG_MAX && multi && i == 0) {
		snprintf(name, sizeof(name), "%sring-ref", pre);
		err = fe_uint(dev, name, ULONG_MAX, &v);
	}
	if (err < 0 || v > UINT32_MAX)
		return -EPROTO;
	*ref = (uint32_t)v;
	return 0;
}

/* Read what the frontend published, bounded and validated; on refusal
 * @why says which node and why. */
static int read_connect(struct bb_dev *dev, struct bb_connect *c, char *why,
			size_t wlen)
{
	unsigned long nq, v, pers;
	char name[48], pre[24], show[40];
	char *proto = NULL;
	uint32_t q, i;
	bool multi = false;
	int err;

	memset(c, 0, sizeof(*c));
	err = read_ring_size(dev, &c->ring_order, &multi, why, wlen);
	if (err < 0)
		return err;
	if (fe_uint(dev, "multi-queue-num-queues", 1, &nq) < 0 || nq == 0 ||
	    nq > dev->lim.max_queues) {
		snprintf(why, wlen,
			 "multi-queue-num-queues malformed or not 1..%u",
			 dev->lim.max_queues);
		return -EPROTO;
	}
	/* Missing or empty means native, as for Linux's blkback. */
	err = pvk_xenbus_read(&dev->xb, PVK_XS_NO_TXN, true, "protocol",
			      &proto);
	if (err == -ENOENT) {
		proto = NULL;
	} else if (err < 0) {
		snprintf(why, wlen, "unreadable protocol node");
		return -EPROTO;
	}
	if (proto && *proto && strcmp(proto, BB_PROTO_NATIVE)) {
		printable(show, sizeof(show), proto);
		if (!strcmp(proto, "x86_32-abi"))
			snprintf(why, wlen,
				 "protocol x86_32-abi: 32-bit guest ring "
				 "layout is not supported (run a 64-bit guest "
				 "kernel)");
		else
			snprintf(why, wlen,
				 "protocol '%s' is not this backend's "
				 "(%s)",
				 show, BB_PROTO_NATIVE);
		free(proto);
		return -EPROTO;
	}
	free(proto);
	if (fe_uint(dev, "feature-persistent", 0, &pers) < 0) {
		snprintf(why, wlen, "malformed feature-persistent");
		return -EPROTO;
	}

	c->nr_queues = (uint32_t)nq;
	c->persistent = dev->lim.persistent && pers == 1;
	for (q = 0; q < c->nr_queues; q++) {
		if (nq == 1)
			pre[0] = '\0';
		else
			snprintf(pre, sizeof(pre), "queue-%u/", q);
		for (i = 0; i < (1u << c->ring_order); i++) {
			if (read_ring_ref(dev, pre, i, multi,
					  &c->q[q].ring_refs[i]) < 0) {
				if (multi)
					snprintf(why, wlen,
						 "%sring-ref%u missing or "
						 "malformed",
						 pre, i);
				else
					snprintf(why, wlen,
						 "%sring-ref missing or "
						 "malformed",
						 pre);
				return -EPROTO;
			}
		}
		snprintf(name, sizeof(name), "%sevent-channel", pre);
		if (fe_uint(dev, name, ULONG_MAX, &v) < 0 || v > UINT32_MAX) {
			snprintf(why, wlen, "%s missing or malformed", name);
			return -EPROTO;
		}
		c->q[q].evtchn = (uint32_t)v;
	}
	return 0;
}

/*
 * What Linux's blkback connect() writes, rewritten in one transaction just
 * before Connected: blkfront reads sectors, info and sector-size (and the
 * features) when it sees Connected, so they must describe the disk as it
 * is now, not as it was at probe.  feature-persistent is the negotiated
 * value.
 */
static int connect_txn(struct pvk_hv *hv, pvk_xs_txn_t t, void *arg)
{
	struct bb_dev *dev = arg;
	const struct bb_limits *l = &dev->lim;
	const struct bb_disk *d = &dev->disk;
	struct pvk_xenbus_dev *x = &dev->xb;
	int err = 0;

	(void)hv;
	err |= pvk_xenbus_printf(x, t, "feature-flush-cache", "%d", l->flush);
	err |= pvk_xenbus_printf(x, t, "feature-barrier", "%d", l->barrier);
	err |= pvk_xenbus_printf(x, t, "feature-discard", "%d", l->discard);
	err |= pvk_xenbus_printf(x, t, "feature-persistent", "%d",
				 dev->persistent);
	err |= pvk_xenbus_printf(x, t, "sectors", "%" PRIu64, d->sectors);
	err |= pvk_xenbus_printf(x, t, "info", "%u", disk_info(d));
	err |= pvk_xenbus_printf(x, t, "sector-size", "%u", d->sector_size);
	err |= pvk_xenbus_printf(x, t, "physical-sector-size", "%u",
				 d->phys_sector_size);
	return err < 0 ? -EIO : 0;
}

/* --- the driver's ops (pvkit/xenbus.h) ---------------------------------- */

static struct bb_dev *bb_of(struct pvk_xenbus_backdev *bd)
{
	return bd->priv;
}

/* An image that starts with another format's header is served raw, as
 * the toolstack said, but not without a word (pvk_blkback_image_format). */
static void warn_format(struct pvk_xenbus_backdev *bd, struct bb_dev *dev)
{
	const char *f;
	ssize_t n;
	void *buf;

	if (posix_memalign(&buf, PVK_PAGE_SIZE, PVK_PAGE_SIZE))
		return;
	n = pread(dev->disk.fd, buf, PVK_PAGE_SIZE, 0);
	if (n > 0 && (f = pvk_blkback_image_format(buf, (size_t)n)))
		pvk_xenbus_bus_log(bd->bus,
				   "%s: warning: %s starts with a %s header; "
				   "served as a raw disk, as the toolstack "
				   "says (pvkit serves raw images only)",
				   bd->name, dev->params, f);
	free(buf);
}

static int bb_probe(struct pvk_xenbus_backdev *bd)
{
	struct pvk_blkback *bb = bd->drv_arg;
	char *mode = NULL, *dtype = NULL, shown[16];
	unsigned long den;
	struct bb_dev *dev;
	bool cdrom = false;
	int err;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -EAGAIN;
	dev->bb = bb;
	dev->bd = bd;
	dev->bus = bd->bus;
	dev->hv = pvk_xenbus_bus_hv(bd->bus);
	dev->xb = bd->xb;
	dev->fe_domid = bd->xb.fe_domid;
	dev->devid = bd->xb.devid;
	dev->disk.fd = -1;
	snprintf(dev->name, sizeof(dev->name), "%u/%u", dev->fe_domid,
		 dev->devid);
	if (own_read(dev, "params", &dev->params) < 0 ||
	    own_read(dev, "mode", &mode) < 0) {
		/* Not written yet. */
		free(dev->params);
		free(dev);
		return -EAGAIN;
	}
	bd->priv = dev;
	snprintf(dev->mode, sizeof(dev->mode), "%s", mode);
	if (own_read(dev, "device-type", &dtype) >= 0)
		cdrom = !strcmp(dtype, "cdrom");
	free(dtype);

	dev->lim.max_queues = bb->cfg.no_mq ? 1 : bb->cfg.max_queues;
	dev->lim.max_ring_order = bb->cfg.max_ring_order;
	dev->lim.max_indirect_segs =
		bb->cfg.no_indirect ? 0 : bb->cfg.max_indirect_segs;
	dev->lim.max_persistent = bb->cfg.max_persistent;
	dev->lim.poll_us = bb->cfg.poll_us;
	dev->lim.persistent = !bb->cfg.no_persistent;
	dev->lim.flush = !bb->cfg.no_flush;
	dev->lim.barrier = !bb->cfg.no_barrier;

	if (strcmp(mode, "r") && strcmp(mode, "w") && strcmp(mode, "w!") &&
	    strcmp(mode, "ro") && strcmp(mode, "rw")) {
		printable(shown, sizeof(shown), mode);
		free(mode);
		pvk_xenbus_bus_log(bd->bus, "%s: bad mode '%s' (r or w)",
				   bd->name, shown);
		pvk_xenbus_printf(&dev->xb, PVK_XS_NO_TXN, "hotplug-error",
				  "bad mode '%s': r (read-only) or w", shown);
		pvk_xenbus_printf(&dev->xb, PVK_XS_NO_TXN, "hotplug-status",
				  "error");
		return -EINVAL;
	}
	/* Writable only if the mode says so ("w", "w!", "rw"), as Linux's
	 * blkback reads it. */
	err = bb_disk_open(&dev->disk, dev->params, !strchr(mode, 'w') || cdrom,
			   !bb->cfg.no_direct);
	free(mode);
	if (err < 0) {
		pvk_xenbus_bus_log(bd->bus, "%s: cannot open %s: %s", bd->name,
				   dev->params, strerror(-err));
		pvk_xenbus_printf(&dev->xb, PVK_XS_NO_TXN, "hotplug-error",
				  "cannot open %s: %s", dev->params,
				  strerror(-err));
		pvk_xenbus_printf(&dev->xb, PVK_XS_NO_TXN, "hotplug-status",
				  "error");
		return err;
	}
	dev->disk.cdrom = cdrom;
	warn_format(bd, dev);
	/* The toolstack's discard-enable (blkif.h; default 1) can only take
	 * discard away. */
	if (own_read_uint(dev, "discard-enable", 1, &den) < 0)
		den = 1;
	dev->lim.discard = dev->disk.discard && !bb->cfg.no_discard && den;
	pvk_xenbus_bus_log(bd->bus, "%s: found %s (%s, %" PRIu64 " sectors%s)",
			   bd->name, dev->params,
			   dev->disk.readonly ? "ro" : "rw", dev->disk.sectors,
			   dev->disk.direct ? ", O_DIRECT" : "");
	return 0;
}

static int bb_publish(struct pvk_xenbus_backdev *bd, pvk_xs_txn_t t)
{
	return publish_txn(NULL, t, bb_of(bd));
}

static int bb_connect(struct pvk_xenbus_backdev *bd, char *msg, size_t len)
{
	struct bb_dev *dev = bb_of(bd);
	struct bb_connect c;
	int err;

	err = read_connect(dev, &c, msg, len);
	if (err < 0)
		return err;
	/* The image may have grown or shrunk since probe. */
	err = bb_disk_refresh(&dev->disk);
	if (err < 0) {
		snprintf(msg, len, "re-reading the size of %s: %s", dev->params,
			 strerror(-err));
		return err;
	}
	__atomic_store_n(&dev->broken, false, __ATOMIC_RELAXED);
	err = bb_dev_connect(dev, &c);
	if (err < 0) {
		snprintf(msg, len,
			 "mapping rings or binding event channels: %s",
			 strerror(-err));
		return err;
	}
	dev->ring_order = c.ring_order;
	err = pvk_xs_transaction(dev->hv, 0, connect_txn, dev);
	if (err < 0) {
		bb_dev_disconnect(dev);
		snprintf(msg, len, "writing the connect nodes: %s",
			 strerror(-err));
		return err;
	}
	snprintf(msg, len,
		 "queues=%u ring-page-order=%u persistent=%d indirect=%u "
		 "sectors=%" PRIu64 "%s%s",
		 c.nr_queues, c.ring_order, c.persistent,
		 dev->lim.max_indirect_segs, dev->disk.sectors,
		 dev->disk.readonly ? " ro" : "",
		 dev->disk.direct ? " O_DIRECT" : "");
	return 0;
}

static void bb_disconnect(struct pvk_xenbus_backdev *bd)
{
	if (bd->priv)
		bb_dev_disconnect(bb_of(bd));
}

static void bb_quiesce(struct pvk_xenbus_backdev *bd)
{
	if (bd->priv)
		bb_dev_quiesce(bb_of(bd));
}

/* The handover note names the rings' shape; they are resumed only if the
 * frontend still describes the same. */
static int bb_resume(struct pvk_xenbus_backdev *bd, const char *note, char *msg,
		     size_t len)
{
	struct bb_dev *dev = bb_of(bd);
	struct bb_connect c;
	char want[64];
	int err;

	err = read_connect(dev, &c, msg, len);
	if (err < 0)
		return err;
	snprintf(want, sizeof(want), "queues=%u ring-page-order=%u",
		 c.nr_queues, c.ring_order);
	if (strcmp(note, want)) {
		snprintf(msg, len, "the frontend's rings changed since");
		return -ESTALE;
	}
	c.resume = true;
	err = bb_dev_connect(dev, &c);
	if (err < 0) {
		snprintf(msg, len, "mapping the rings: %s", strerror(-err));
		return err;
	}
	dev->ring_order = c.ring_order;
	snprintf(msg, len, "%s", want);
	return 0;
}

/* No note: the previous instance crashed; its journal may say where. */
static int bb_recover(struct pvk_xenbus_backdev *bd, char *msg, size_t len)
{
	struct bb_dev *dev = bb_of(bd);
	struct bb_connect c;
	int err;

	if (!dev->bb->cfg.state_dir) {
		snprintf(msg, len, "no state directory (journal) configured");
		return -EOPNOTSUPP;
	}
	err = read_connect(dev, &c, msg, len);
	if (err < 0)
		return err;
	c.recover = true;
	err = bb_dev_connect(dev, &c);
	if (err < 0) {
		if (!msg[0] || err != -ESTALE)
			snprintf(msg, len, "%s",
				 err == -ENOENT ? "no journal of these rings" :
						  strerror(-err));
		else
			snprintf(msg, len,
				 "the journal does not match the rings");
		return err;
	}
	dev->ring_order = c.ring_order;
	snprintf(msg, len, "queues=%u ring-page-order=%u from %s", c.nr_queues,
		 c.ring_order, dev->bb->cfg.state_dir);
	return 0;
}

static int bb_handover(struct pvk_xenbus_backdev *bd, char *note, size_t len)
{
	struct bb_dev *dev = bb_of(bd);
	bool broken = __atomic_load_n(&dev->broken, __ATOMIC_RELAXED);
	uint32_t nq = dev->nr_queues;

	/* Drained: every request taken is answered and pushed. */
	bb_dev_disconnect(dev);
	if (broken) {
		snprintf(note, len, "broken: not handed over");
		return -EPROTO;
	}
	snprintf(note, len, "queues=%u ring-page-order=%u", nq,
		 dev->ring_order);
	return 0;
}

static void bb_remove(struct pvk_xenbus_backdev *bd)
{
	struct bb_dev *dev = bb_of(bd);

	if (!dev)
		return;
	bb_dev_disconnect(dev);
	bb_disk_close(&dev->disk);
	free(dev->params);
	free(dev);
	bd->priv = NULL;
}

/* --- the public API (pvkit/blkback.h) ------------------------------------ */

int pvk_blkback_create_on(struct pvk_blkback **out, struct pvk_xenbus_bus *bus,
			  const struct pvk_blkback_config *cfg)
{
	struct pvk_blkback *bb;
	int err;

	*out = NULL;
	bb = calloc(1, sizeof(*bb));
	if (!bb)
		return -ENOMEM;
	if (cfg)
		bb->cfg = *cfg;
	if (!bb->cfg.max_queues)
		bb->cfg.max_queues = PVK_BLKBACK_DEF_MAX_QUEUES;
	if (!bb->cfg.max_indirect_segs)
		bb->cfg.max_indirect_segs = PVK_BLKBACK_DEF_INDIRECT_SEGS;
	if (!bb->cfg.max_persistent)
		bb->cfg.max_persistent = PVK_BLKBACK_DEF_PERSISTENT;
	if (!cfg)
		bb->cfg.max_ring_order = PVK_BLKBACK_DEF_RING_ORDER;
	err = -EINVAL;
	if (bb->cfg.max_queues > BB_MAX_QUEUES ||
	    bb->cfg.max_ring_order > PVK_RING_MAX_ORDER ||
	    bb->cfg.max_indirect_segs > BB_MAX_INDIRECT_SEGS ||
	    bb->cfg.poll_us > 1000)
		goto free_bb;
	snprintf(bb->type, sizeof(bb->type), "%s",
		 bb->cfg.type && *bb->cfg.type ? bb->cfg.type : "vbd");
	bb->cfg.type = bb->type;
	if (strchr(bb->type, '/') || strlen(bb->type) >= sizeof(bb->type) - 1)
		goto free_bb;
	snprintf(bb->fe_type, sizeof(bb->fe_type), "%s",
		 bb->cfg.fe_type && *bb->cfg.fe_type ? bb->cfg.fe_type : "vbd");
	bb->cfg.fe_type = bb->fe_type;
	bb->bus = bus;
	bb->drv = (struct pvk_xenbus_driver){
		.name = "vbd",
		.type = bb->type,
		/* The guest sees an ordinary vbd whatever our directory is
		 * called, unless told otherwise. */
		.fe_type = bb->fe_type,
		.connect_on_initialised = true,
		.probe = bb_probe,
		.publish = bb_publish,
		.connect = bb_connect,
		.disconnect = bb_disconnect,
		.resume = bb_resume,
		.recover = bb_recover,
		.quiesce = bb_quiesce,
		.handover = bb_handover,
		.remove = bb_remove,
	};
	err = pvk_xenbus_bus_register(bus, &bb->drv, bb);
	if (err < 0)
		goto free_bb;
	*out = bb;
	return 0;

free_bb:
	free(bb);
	return err;
}

int pvk_blkback_create(struct pvk_blkback **out, struct pvk_hv *hv,
		       const struct pvk_blkback_config *cfg)
{
	struct pvk_xenbus_bus *bus;
	int err;

	*out = NULL;
	err = pvk_xenbus_bus_create(&bus, hv, cfg ? cfg->log : NULL,
				    cfg ? cfg->log_arg : NULL);
	if (err < 0)
		return err;
	err = pvk_blkback_create_on(out, bus, cfg);
	if (err < 0) {
		pvk_xenbus_bus_destroy(bus);
		return err;
	}
	(*out)->own_bus = true;
	return 0;
}

int pvk_blkback_fd(struct pvk_blkback *bb)
{
	return pvk_xenbus_bus_fd(bb->bus);
}

int pvk_blkback_handle_events(struct pvk_blkback *bb)
{
	return pvk_xenbus_bus_handle_events(bb->bus);
}

int pvk_blkback_count(struct pvk_blkback *bb, int *connected)
{
	return pvk_xenbus_bus_count(bb->bus, &bb->drv, connected);
}

int pvk_blkback_shutdown(struct pvk_blkback *bb, int timeout_ms)
{
	return pvk_xenbus_bus_shutdown(bb->bus, timeout_ms);
}

int pvk_blkback_handover(struct pvk_blkback *bb)
{
	return pvk_xenbus_bus_handover(bb->bus, 0);
}

void pvk_blkback_destroy(struct pvk_blkback *bb)
{
	if (!bb)
		return;
	if (bb->own_bus)
		pvk_xenbus_bus_destroy(bb->bus);
	else
		pvk_xenbus_bus_unregister(bb->bus, &bb->drv);
	free(bb);
}
