/* SPDX-License-Identifier: MIT */
/*
 * blkback control plane: the backend directory watch, per-device probe,
 * feature negotiation and the xenbus state machine.  Everything here runs
 * on the caller's thread; the data path is behind bb_dev_connect() and
 * bb_dev_disconnect().
 *
 * Reconciliation is level-triggered: a watch event only marks devices
 * dirty, and reconcile() re-reads online, our state and the frontend's
 * state and moves the device one step.  Coalesced or reordered watch
 * events therefore cannot leave a device stuck.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blkback_priv.h"

enum bb_phase {
	PH_FAILED, /* params could not be opened; wait for removal */
	PH_INITWAIT,
	PH_CONNECTED,
	PH_CLOSING,
	PH_CLOSED,
};

static const char *const phase_names[] = {
	[PH_FAILED] = "failed",	      [PH_INITWAIT] = "InitWait",
	[PH_CONNECTED] = "Connected", [PH_CLOSING] = "Closing",
	[PH_CLOSED] = "Closed",
};

#if defined(__x86_64__)
#define BB_PROTO_NATIVE "x86_64-abi"
#elif defined(__aarch64__) || defined(__arm__)
#define BB_PROTO_NATIVE "arm-abi"
#else
#define BB_PROTO_NATIVE ""
#endif

struct pvk_blkback {
	struct pvk_hv *hv;
	struct pvk_blkback_config cfg;
	char type[PVK_XENBUS_TYPE_MAX];
	char base[96]; /* /local/domain/<self>/backend/<type> */
	uint32_t self;
	struct bb_dev *devs;
	bool shutting_down;
	pthread_mutex_t log_lock;
};

static void log_stderr(void *arg, const char *line)
{
	struct timespec ts;
	struct tm tm;
	char t[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(t, sizeof(t), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld pvkit-backd: %s\n", t, ts.tv_nsec / 1000000,
		line);
}

void bb_log(struct pvk_blkback *bb, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* Queue threads log too (a broken ring). */
	pthread_mutex_lock(&bb->log_lock);
	bb->cfg.log(bb->cfg.log_arg, line);
	pthread_mutex_unlock(&bb->log_lock);
}

/* --- xenstore helpers -------------------------------------------------- */

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

static void dev_switch(struct bb_dev *dev, enum pvk_xenbus_state st, int phase,
		       const char *why)
{
	int err = pvk_xenbus_switch_state(&dev->xb, st);

	dev->phase = phase;
	if (err < 0)
		bb_log(dev->bb, "vbd %s: writing state %s: %s", dev->name,
		       pvk_xenbus_state_name(st), strerror(-err));
	else
		bb_log(dev->bb, "vbd %s: %s%s%s", dev->name,
		       pvk_xenbus_state_name(st), why ? " - " : "",
		       why ? why : "");
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

static void dev_publish(struct bb_dev *dev, const char *why)
{
	int err = pvk_xs_transaction(dev->hv, 0, publish_txn, dev);

	if (err < 0) {
		bb_log(dev->bb, "vbd %s: publishing features: %s", dev->name,
		       strerror(-err));
		return;
	}
	dev_switch(dev, PVK_XENBUS_INITWAIT, PH_INITWAIT, why);
}

/* --- connect ------------------------------------------------------------ */

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

static void dev_go_closing(struct bb_dev *dev, const char *why)
{
	bb_dev_disconnect(dev);
	dev_switch(dev, PVK_XENBUS_CLOSING, PH_CLOSING, why);
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

static void dev_connect(struct bb_dev *dev)
{
	struct bb_connect c;
	char why[160], msg[200];
	int err;

	err = read_connect(dev, &c, why, sizeof(why));
	if (err < 0) {
		dev_go_closing(dev, why);
		return;
	}
	/* The image may have grown or shrunk since probe. */
	err = bb_disk_refresh(&dev->disk);
	if (err < 0) {
		snprintf(msg, sizeof(msg), "re-reading the size of %s: %s",
			 dev->params, strerror(-err));
		dev_go_closing(dev, msg);
		return;
	}
	__atomic_store_n(&dev->broken, false, __ATOMIC_RELAXED);
	err = bb_dev_connect(dev, &c);
	if (err < 0) {
		snprintf(msg, sizeof(msg),
			 "mapping rings or binding event channels: %s",
			 strerror(-err));
		dev_go_closing(dev, msg);
		return;
	}
	dev->ring_order = c.ring_order;
	err = pvk_xs_transaction(dev->hv, 0, connect_txn, dev);
	if (err < 0) {
		snprintf(msg, sizeof(msg), "writing the connect nodes: %s",
			 strerror(-err));
		dev_go_closing(dev, msg);
		return;
	}
	snprintf(msg, sizeof(msg),
		 "queues=%u ring-page-order=%u persistent=%d indirect=%u "
		 "sectors=%" PRIu64 "%s%s",
		 c.nr_queues, c.ring_order, c.persistent,
		 dev->lim.max_indirect_segs, dev->disk.sectors,
		 dev->disk.readonly ? " ro" : "",
		 dev->disk.direct ? " O_DIRECT" : "");
	dev_switch(dev, PVK_XENBUS_CONNECTED, PH_CONNECTED, msg);
}

/* --- devices ------------------------------------------------------------ */

static struct bb_dev *dev_find(struct pvk_blkback *bb, uint32_t fe,
			       uint32_t devid)
{
	struct bb_dev *d;

	for (d = bb->devs; d; d = d->next)
		if (d->fe_domid == fe && d->devid == devid)
			return d;
	return NULL;
}

static void dev_drop(struct bb_dev *dev, const char *why)
{
	struct pvk_blkback *bb = dev->bb;
	struct bb_dev **pp;

	bb_dev_disconnect(dev);
	if (dev->fe_watched) {
		char path[PVK_XENBUS_PATH_MAX + 8];

		snprintf(path, sizeof(path), "%s/state", dev->xb.fe_path);
		pvk_xs_unwatch(dev->hv, path, dev->fe_token);
	}
	bb_disk_close(&dev->disk);
	for (pp = &bb->devs; *pp; pp = &(*pp)->next) {
		if (*pp == dev) {
			*pp = dev->next;
			break;
		}
	}
	bb_log(bb, "vbd %s: removed (%s)", dev->name, why);
	free(dev->params);
	free(dev);
}

/*
 * The frontend path a backend device may name: exactly
 * /local/domain/<fe>/device/vbd/<devid>, whatever our own directory type.
 */
static int dev_init_paths(struct bb_dev *dev)
{
	/* The guest sees an ordinary vbd whatever our directory is called. */
	return pvk_xenbus_backend_init_as(&dev->xb, dev->bb->hv, dev->bb->type,
					  "vbd", dev->fe_domid, dev->devid);
}

/*
 * A note a draining instance leaves in the backend directory of each
 * device it hands over (pvk_blkback_handover), naming the rings' shape;
 * the next instance resumes those rings if the frontend still describes
 * the same, and removes the note either way.
 */
#define BB_HANDOVER_NODE "pvkit-handover"

static void drop_note(struct bb_dev *dev)
{
	char path[PVK_XENBUS_PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/%s", dev->xb.be_path,
		 BB_HANDOVER_NODE);
	pvk_xs_rm(dev->hv, PVK_XS_NO_TXN, path);
}

static bool dev_resume(struct bb_dev *dev)
{
	char *note = NULL, want[64], why[160];
	struct bb_connect c;
	int err;

	if (own_read(dev, BB_HANDOVER_NODE, &note) < 0)
		return false;
	drop_note(dev);
	err = read_connect(dev, &c, why, sizeof(why));
	if (!err) {
		snprintf(want, sizeof(want), "queues=%u ring-page-order=%u",
			 c.nr_queues, c.ring_order);
		if (strcmp(note, want)) {
			snprintf(why, sizeof(why),
				 "the frontend's rings changed since");
			err = -ESTALE;
		}
	}
	free(note);
	if (!err) {
		c.resume = true;
		err = bb_dev_connect(dev, &c);
		if (err < 0)
			snprintf(why, sizeof(why), "mapping the rings: %s",
				 strerror(-err));
	}
	if (err < 0) {
		bb_log(dev->bb,
		       "vbd %s: not resuming the rings handed over: %s",
		       dev->name, why);
		return false;
	}
	dev->ring_order = c.ring_order;
	dev->phase = PH_CONNECTED;
	bb_log(dev->bb,
	       "vbd %s: Connected - resumed the rings handed over by the "
	       "previous pvkit-backd (queues=%u ring-page-order=%u)",
	       dev->name, c.nr_queues, c.ring_order);
	return true;
}

static void dev_probe(struct pvk_blkback *bb, uint32_t fe, uint32_t devid)
{
	struct bb_dev *dev;
	char *mode = NULL, *dtype = NULL, path[PVK_XENBUS_PATH_MAX + 8];
	unsigned long online, den;
	char shown[16];
	bool cdrom = false;
	int err, sb, sf;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return;
	dev->bb = bb;
	dev->hv = bb->hv;
	dev->fe_domid = fe;
	dev->devid = devid;
	dev->disk.fd = -1;
	dev->phase = PH_FAILED;
	snprintf(dev->name, sizeof(dev->name), "%u/%u", fe, devid);

	err = dev_init_paths(dev);
	if (err < 0) {
		/* Half-written by a toolstack (or not a device): the next
		 * event under it probes again. */
		if (err != -ENOENT)
			bb_log(bb,
			       "vbd %s: ignored: bad frontend/frontend-id "
			       "(%s)",
			       dev->name, strerror(-err));
		free(dev);
		return;
	}
	/* Not yet written, or being detached (online = 0): not ours. */
	sb = pvk_xenbus_read_state(&dev->xb, false);
	if (sb <= PVK_XENBUS_UNKNOWN ||
	    own_read_uint(dev, "online", 1, &online) < 0 || online == 0) {
		free(dev);
		return;
	}
	if (own_read(dev, "params", &dev->params) < 0 ||
	    own_read(dev, "mode", &mode) < 0) {
		free(dev->params);
		free(dev);
		return;
	}
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

	dev->next = bb->devs;
	bb->devs = dev;

	if (strcmp(mode, "r") && strcmp(mode, "w") && strcmp(mode, "w!") &&
	    strcmp(mode, "ro") && strcmp(mode, "rw")) {
		printable(shown, sizeof(shown), mode);
		bb_log(bb, "vbd %s: bad mode '%s' (r or w)", dev->name, shown);
		pvk_xenbus_printf(&dev->xb, PVK_XS_NO_TXN, "hotplug-error",
				  "bad mode '%s': r (read-only) or w", shown);
		free(mode);
		pvk_xenbus_printf(&dev->xb, PVK_XS_NO_TXN, "hotplug-status",
				  "error");
		return;
	}
	/* Writable only if the mode says so ("w", "w!", "rw"), as Linux's
	 * blkback reads it. */
	err = bb_disk_open(&dev->disk, dev->params, !strchr(mode, 'w') || cdrom,
			   !bb->cfg.no_direct);
	free(mode);
	if (err < 0) {
		bb_log(bb, "vbd %s: cannot open %s: %s", dev->name, dev->params,
		       strerror(-err));
		pvk_xenbus_printf(&dev->xb, PVK_XS_NO_TXN, "hotplug-error",
				  "cannot open %s: %s", dev->params,
				  strerror(-err));
		pvk_xenbus_printf(&dev->xb, PVK_XS_NO_TXN, "hotplug-status",
				  "error");
		return;
	}
	dev->disk.cdrom = cdrom;
	/* The toolstack's discard-enable (blkif.h; default 1) can only take
	 * discard away. */
	if (own_read_uint(dev, "discard-enable", 1, &den) < 0)
		den = 1;
	dev->lim.discard = dev->disk.discard && !bb->cfg.no_discard && den;

	snprintf(dev->fe_token, sizeof(dev->fe_token), "fe/%u/%u", fe, devid);
	snprintf(path, sizeof(path), "%s/state", dev->xb.fe_path);
	if (pvk_xs_watch(bb->hv, path, dev->fe_token) == 0)
		dev->fe_watched = true;

	sf = pvk_xenbus_read_state(&dev->xb, true);
	bb_log(bb, "vbd %s: found %s (%s, %" PRIu64 " sectors%s)", dev->name,
	       dev->params, dev->disk.readonly ? "ro" : "rw", dev->disk.sectors,
	       dev->disk.direct ? ", O_DIRECT" : "");
	/* Rings a previous instance handed over are resumed; those it left
	 * by crashing cannot be: its consumer index is lost. */
	if (sb == PVK_XENBUS_CONNECTED && sf == PVK_XENBUS_CONNECTED &&
	    dev_resume(dev))
		return;
	/* A note not used now is stale: the rings it described are gone
	 * or about to be, and must never be resumed after a later crash. */
	drop_note(dev);
	if (sf == PVK_XENBUS_CONNECTED ||
	    (sf == PVK_XENBUS_INITIALISED &&
	     (sb == PVK_XENBUS_CONNECTED || sb == PVK_XENBUS_CLOSING ||
	      sb == PVK_XENBUS_CLOSED))) {
		dev_switch(dev, PVK_XENBUS_CLOSING, PH_CLOSING,
			   "rings of a previous backend: frontend must "
			   "reconnect");
		return;
	}
	if (sf == PVK_XENBUS_CLOSING) {
		dev->phase = PH_CLOSING;
		return;
	}
	dev_publish(dev, NULL);
}

static bool domain_gone(struct pvk_blkback *bb, uint32_t domid)
{
	struct pvk_domain_info info;
	int err = pvk_hv_domain_info(bb->hv, domid, &info);

	return err == -ENOENT || (err == 0 && info.dying);
}

/* Drop @dev and remove its backend directory, as libxl does when it
 * destroys the frontend's domain. */
static void dev_drop_rm(struct bb_dev *dev, const char *why)
{
	struct pvk_hv *hv = dev->hv;
	char path[PVK_XENBUS_PATH_MAX];

	memcpy(path, dev->xb.be_path, sizeof(path));
	dev_drop(dev, why);
	pvk_xs_rm(hv, PVK_XS_NO_TXN, path);
}

/* Move @dev one step towards what online, our state and the frontend's
 * state ask for.  May free @dev. */
static void reconcile(struct bb_dev *dev)
{
	struct pvk_blkback *bb = dev->bb;
	unsigned long online = 1;
	int sb, sf;

	if (dev->phase == PH_FAILED) {
		/* Never served; still let go with the domain. */
		if (domain_gone(bb, dev->fe_domid))
			dev_drop_rm(dev, "frontend domain gone");
		return;
	}
	if (own_read_uint(dev, "online", 1, &online) < 0)
		online = 1;
	sb = pvk_xenbus_read_state(&dev->xb, false);
	sf = pvk_xenbus_read_state(&dev->xb, true);
	if (sf < 0)
		sf = PVK_XENBUS_UNKNOWN; /* garbage: as if absent */
	/* A toolstack detaching writes online=0 and our state Closing. */
	if (online == 0 ||
	    ((sb == PVK_XENBUS_CLOSING || sb == PVK_XENBUS_CLOSED) &&
	     (dev->phase == PH_INITWAIT || dev->phase == PH_CONNECTED)))
		dev->want_close = true;

	switch (sf) {
	case PVK_XENBUS_INITIALISED:
	case PVK_XENBUS_CONNECTED:
		if (dev->want_close || bb->shutting_down) {
			if (dev->phase == PH_INITWAIT ||
			    dev->phase == PH_CONNECTED)
				dev_go_closing(dev, "detach requested");
		} else if (dev->phase == PH_INITWAIT) {
			dev_connect(dev);
		} else if (dev->phase == PH_CLOSED) {
			dev_publish(dev, NULL);
		}
		break;
	case PVK_XENBUS_CLOSING:
		if (dev->phase == PH_CONNECTED || dev->phase == PH_INITWAIT)
			dev_go_closing(dev, "frontend closing");
		break;
	case PVK_XENBUS_CLOSED:
		if (dev->phase == PH_CONNECTED || dev->phase == PH_CLOSING ||
		    (dev->phase == PH_INITWAIT && dev->want_close)) {
			bb_dev_disconnect(dev);
			dev_switch(dev, PVK_XENBUS_CLOSED, PH_CLOSED,
				   "frontend closed");
		}
		if (dev->phase != PH_CLOSED)
			break;
		if (dev->want_close) {
			dev_drop(dev, "detached");
			return;
		}
		if (!bb->shutting_down)
			dev_publish(dev, "ready for the frontend to reconnect");
		break;
	case PVK_XENBUS_INITIALISING:
	case PVK_XENBUS_INITWAIT:
		if (dev->want_close) {
			bb_dev_disconnect(dev);
			dev_switch(dev, PVK_XENBUS_CLOSED, PH_CLOSED,
				   "detached before connecting");
			dev_drop(dev, "detached");
			return;
		}
		if (dev->phase == PH_CONNECTED)
			bb_dev_disconnect(dev);
		if (dev->phase != PH_INITWAIT && !bb->shutting_down)
			dev_publish(dev, "frontend restarted");
		break;
	default:
		if (dev->phase == PH_CONNECTED)
			dev_go_closing(dev, "frontend state vanished");
		if (domain_gone(bb, dev->fe_domid)) {
			dev_drop_rm(dev, "frontend domain gone");
			return;
		}
		if (dev->want_close) {
			dev_switch(dev, PVK_XENBUS_CLOSED, PH_CLOSED,
				   "detached without a frontend");
			dev_drop(dev, "detached");
		}
		break;
	}
}

static bool parse_uint(const char *s, uint32_t max, uint32_t *v)
{
	char *end;
	unsigned long n;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || *end || n > max)
		return false;
	*v = (uint32_t)n;
	return true;
}

/* List the backend directory: probe new devices, drop vanished ones. */
static void scan(struct pvk_blkback *bb)
{
	char **fes = NULL, **ids = NULL, path[PVK_XENBUS_PATH_MAX + 16];
	int nfe, nid, i, j;
	uint32_t fe, id;
	struct bb_dev *d, *next;

	for (d = bb->devs; d; d = d->next)
		d->listed = false;
	nfe = pvk_xs_directory(bb->hv, PVK_XS_NO_TXN, bb->base, &fes);
	for (i = 0; i < nfe; i++) {
		if (!parse_uint(fes[i], PVK_DOMID_MAX, &fe))
			continue;
		snprintf(path, sizeof(path), "%s/%u", bb->base, fe);
		nid = pvk_xs_directory(bb->hv, PVK_XS_NO_TXN, path, &ids);
		for (j = 0; j < nid; j++) {
			if (!parse_uint(ids[j], UINT32_MAX, &id))
				continue;
			d = dev_find(bb, fe, id);
			if (!d && !bb->shutting_down) {
				dev_probe(bb, fe, id);
				d = dev_find(bb, fe, id);
			}
			if (d)
				d->listed = true;
		}
		free(ids);
		ids = NULL;
	}
	free(fes);
	if (nfe < 0 && nfe != -ENOENT)
		return; /* do not drop devices on a failed read */
	for (d = bb->devs; d; d = next) {
		next = d->next;
		if (!d->listed)
			dev_drop(d, "backend directory removed");
	}
}

static void reconcile_all(struct pvk_blkback *bb)
{
	struct bb_dev *d, *next;

	for (d = bb->devs; d; d = next) {
		next = d->next;
		reconcile(d);
	}
}

/*
 * Which devices an event concerns: the frontend state watch names one;
 * under our directory, a known device's state or online node names one
 * and its other nodes (our own feature writes) none; anything else (a
 * device appearing or going, @releaseDomain) asks for a rescan of all.
 * So a frontend rewriting its state node costs a few reads of its own
 * device, never a pass over every device.
 */
static void classify(struct pvk_blkback *bb, const char *path,
		     const char *token, bool *rescan)
{
	size_t bl = strlen(bb->base);
	struct bb_dev *d;
	uint32_t fe, id;
	char leaf[32];
	int n;

	if (sscanf(token, "fe/%u/%u%n", &fe, &id, &n) == 2 && !token[n]) {
		d = dev_find(bb, fe, id);
		if (d)
			d->dirty = true;
		return;
	}
	if (!strcmp(token, "be") && !strncmp(path, bb->base, bl) &&
	    path[bl] == '/' &&
	    sscanf(path + bl, "/%u/%u/%31s", &fe, &id, leaf) == 3 &&
	    (d = dev_find(bb, fe, id))) {
		if (!strcmp(leaf, "state") || !strcmp(leaf, "online"))
			d->dirty = true;
		return;
	}
	*rescan = true;
}

int pvk_blkback_handle_events(struct pvk_blkback *bb)
{
	struct bb_dev *d, *next;
	char *path, *token;
	bool rescan = false;
	int n, err = 0;

	while ((n = pvk_xs_read_watch(bb->hv, &path, &token)) == 1) {
		classify(bb, path, token, &rescan);
		free(path);
		free(token);
	}
	if (n < 0)
		err = n;
	if (rescan) {
		scan(bb);
		for (d = bb->devs; d; d = d->next)
			d->dirty = true;
	}
	for (d = bb->devs; d; d = next) {
		next = d->next;
		if (!d->dirty)
			continue;
		d->dirty = false;
		reconcile(d);
	}
	return err;
}

int pvk_blkback_fd(struct pvk_blkback *bb)
{
	return pvk_xs_watch_fd(bb->hv);
}

int pvk_blkback_count(struct pvk_blkback *bb, int *connected)
{
	struct bb_dev *d;
	int n = 0, c = 0;

	for (d = bb->devs; d; d = d->next) {
		n++;
		c += d->phase == PH_CONNECTED;
	}
	if (connected)
		*connected = c;
	return n;
}

int pvk_blkback_create(struct pvk_blkback **out, struct pvk_hv *hv,
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
	if (!bb->cfg.log)
		bb->cfg.log = log_stderr;
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
	pthread_mutex_init(&bb->log_lock, NULL);
	bb->hv = hv;
	bb->self = pvk_hv_domid(hv);
	snprintf(bb->base, sizeof(bb->base), "/local/domain/%u/backend/%s",
		 bb->self, bb->type);

	err = pvk_xs_watch(hv, bb->base, "be");
	if (err < 0)
		goto destroy_lock;
	err = pvk_xs_watch(hv, "@releaseDomain", "rel");
	if (err < 0)
		goto unwatch_base;
	scan(bb);
	reconcile_all(bb);
	*out = bb;
	return 0;

unwatch_base:
	pvk_xs_unwatch(hv, bb->base, "be");
destroy_lock:
	pthread_mutex_destroy(&bb->log_lock);
free_bb:
	free(bb);
	return err;
}

/* Wait until every device's frontend is Closed (or @timeout_ms), writing
 * Closed for those that are. */
static void wait_closed(struct pvk_blkback *bb, int timeout_ms)
{
	struct timespec t0, t;
	struct bb_dev *d;
	char *p, *tok;
	bool pending;
	long left;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pending = false;
		for (d = bb->devs; d; d = d->next) {
			int sf;

			if (d->phase != PH_CLOSING)
				continue;
			sf = pvk_xenbus_read_state(&d->xb, true);
			if (sf == PVK_XENBUS_CLOSED || sf <= 0)
				dev_switch(d, PVK_XENBUS_CLOSED, PH_CLOSED,
					   "shutdown");
			else
				pending = true;
		}
		if (!pending)
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 +
				     (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			return;
		struct pollfd pfd = { .fd = pvk_blkback_fd(bb),
				      .events = POLLIN };
		if (poll(&pfd, 1, (int)(left < 100 ? left : 100)) > 0)
			while (pvk_xs_read_watch(bb->hv, &p, &tok) == 1) {
				free(p);
				free(tok);
			}
	}
}

int pvk_blkback_shutdown(struct pvk_blkback *bb, int timeout_ms)
{
	struct bb_dev *d;

	bb->shutting_down = true;
	/* Only connected devices have rings to give back; one in InitWait
	 * stays so (a restart publishes the same), and is not made to wait
	 * for a frontend that may never come. */
	for (d = bb->devs; d; d = d->next) {
		if (d->phase == PH_CONNECTED)
			dev_go_closing(d, "backend shutting down");
	}
	wait_closed(bb, timeout_ms);
	return 0;
}

static int note_txn(struct pvk_hv *hv, pvk_xs_txn_t t, void *arg)
{
	struct bb_dev *dev = arg;
	int err, st;

	(void)hv;
	/* Only for a device still ours and Connected. */
	st = pvk_xenbus_read_state(&dev->xb, false);
	if (st != PVK_XENBUS_CONNECTED)
		return -ESTALE;
	err = pvk_xenbus_printf(&dev->xb, t, BB_HANDOVER_NODE,
				"queues=%u ring-page-order=%u", dev->nr_queues,
				dev->ring_order);
	return err < 0 ? err : 0;
}

int pvk_blkback_handover(struct pvk_blkback *bb)
{
	struct bb_dev *d;
	uint32_t nq;
	bool broken;
	int err;

	bb->shutting_down = true;
	for (d = bb->devs; d; d = d->next) {
		if (d->phase != PH_CONNECTED)
			continue;
		broken = __atomic_load_n(&d->broken, __ATOMIC_RELAXED);
		nq = d->nr_queues;
		/* Drained: every request taken is answered and pushed. */
		bb_dev_disconnect(d);
		if (broken) {
			dev_switch(d, PVK_XENBUS_CLOSING, PH_CLOSING,
				   "broken: not handed over");
			continue;
		}
		d->nr_queues = nq;
		err = pvk_xs_transaction(d->hv, 0, note_txn, d);
		d->nr_queues = 0;
		if (err < 0) {
			dev_switch(d, PVK_XENBUS_CLOSING, PH_CLOSING,
				   "could not leave a handover note");
			continue;
		}
		d->phase = PH_CLOSED; /* nothing more to do here */
		bb_log(bb,
		       "vbd %s: handed over: drained, stays Connected for the "
		       "next pvkit-backd",
		       d->name);
	}
	return 0;
}

void pvk_blkback_destroy(struct pvk_blkback *bb)
{
	struct bb_dev *d;

	if (!bb)
		return;
	while ((d = bb->devs)) {
		bb->devs = d->next;
		bb_dev_disconnect(d);
		bb_disk_close(&d->disk);
		free(d->params);
		free(d);
	}
	pvk_xs_unwatch(bb->hv, "@releaseDomain", "rel");
	pvk_xs_unwatch(bb->hv, bb->base, "be");
	pthread_mutex_destroy(&bb->log_lock);
	free(bb);
}

static const char *const lat_names[BB_LAT_KINDS] = {
	[BB_LAT_READ] = "read",
	[BB_LAT_WRITE] = "write",
	[BB_LAT_SYNC] = "flush",
};

/* The bucket holding the @pct-th percentile of @h (of @n samples): its
 * upper bound, in microseconds. */
static uint64_t hist_pct(const uint64_t *h, uint64_t n, double pct)
{
	uint64_t want = (uint64_t)((double)n * pct / 100.0 + 0.999999), sum = 0;
	unsigned int b;

	for (b = 0; b < BB_HIST_BUCKETS; b++) {
		sum += h[b];
		if (sum >= want && sum)
			return bb_hist_lo(b + 1);
	}
	return bb_hist_lo(BB_HIST_BUCKETS);
}

static void print_latency(FILE *f, const char *kind, const uint64_t *h)
{
	uint64_t n = 0;
	unsigned int b;

	for (b = 0; b < BB_HIST_BUCKETS; b++)
		n += h[b];
	if (!n)
		return;
	fprintf(f,
		"latency %s unit=us count=%" PRIu64 " p50<=%" PRIu64
		" p90<=%" PRIu64 " p99<=%" PRIu64 " p99.9<=%" PRIu64,
		kind, n, hist_pct(h, n, 50), hist_pct(h, n, 90),
		hist_pct(h, n, 99), hist_pct(h, n, 99.9));
	for (b = 0; b < BB_HIST_BUCKETS; b++)
		if (h[b])
			fprintf(f, " %" PRIu64 "-%" PRIu64 "us:%" PRIu64,
				bb_hist_lo(b), bb_hist_lo(b + 1), h[b]);
	fprintf(f, "\n");
}

int pvk_blkback_stats(struct pvk_blkback *bb, FILE *f)
{
	struct bb_counters c;
	struct bb_dev *d;
	uint32_t inflight;
	bool broken;
	unsigned int k;

	for (d = bb->devs; d; d = d->next) {
		bb_dev_counters(d, &c, &broken, &inflight);
		fprintf(f,
			"device %s %s params=%s mode=%s queues=%u "
			"ring-page-order=%u persistent=%d indirect=%u "
			"sectors=%" PRIu64 " direct=%d\n",
			d->name, phase_names[d->phase], d->params ?: "-",
			d->mode, d->nr_queues, d->ring_order, d->persistent,
			d->lim.max_indirect_segs, d->disk.sectors,
			d->disk.direct);
		fprintf(f,
			"counters reads=%" PRIu64 " writes=%" PRIu64
			" flushes=%" PRIu64 " barriers=%" PRIu64
			" discards=%" PRIu64 " bytes_read=%" PRIu64
			" bytes_written=%" PRIu64 " errors=%" PRIu64
			" eopnotsupp=%" PRIu64 " events=%" PRIu64
			" notifies=%" PRIu64 " inflight=%u broken=%d"
			" broken_events=%" PRIu64 "\n",
			c.reads, c.writes, c.flushes, c.barriers, c.discards,
			c.bytes_read, c.bytes_written, c.errors, c.eopnotsupp,
			c.events, c.notifies, inflight, broken,
			__atomic_load_n(&d->broken_count, __ATOMIC_RELAXED));
		for (k = 0; k < BB_LAT_KINDS; k++)
			print_latency(f, lat_names[k], c.hist[k]);
	}
	return 0;
}
