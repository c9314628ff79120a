/* SPDX-License-Identifier: MIT */
/*
 * frontend/blkfront_xs.c -- blkfront control plane: device naming,
 * xenstore nodes, feature negotiation and the xenbus state machine.
 *
 * Every value read from the backend's directory is parsed once, checked,
 * and kept in bf->info; nothing is re-read from xenstore on the data path.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blkfront_priv.h"

#if defined(__x86_64__)
#define BF_PROTOCOL "x86_64-abi"
#elif defined(__i386__)
#define BF_PROTOCOL "x86_32-abi"
#else
#define BF_PROTOCOL "arm-abi"
#endif

/* ---- device names (docs/misc/vbd-interface.txt) ------------------------ */

/* "a".."z", "aa".. as bijective base 26; -1 if not letters. */
static long disk_index(const char *s)
{
	long n = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < 'a' || *s > 'z' || n > (1l << 20))
			return -1;
		n = n * 26 + (*s - 'a' + 1);
	}
	return n - 1;
}

int pvk_blkfront_vdev_to_devid(const char *vdev)
{
	unsigned long v;
	char *end;
	long d;

	if (!vdev || !*vdev)
		return -EINVAL;
	if (vdev[0] >= '0' && vdev[0] <= '9') {
		errno = 0;
		v = strtoul(vdev, &end, 10);
		if (errno || *end || v > INT_MAX)
			return -EINVAL;
		return (int)v;
	}
	if (!strncmp(vdev, "xvd", 3)) {
		d = disk_index(vdev + 3);
		if (d < 0 || d >= (1l << 20))
			return -EINVAL;
		if (d < 16)
			return (202 << 8) | (int)(d << 4);
		return (1 << 28) | (int)(d << 8);
	}
	if (!strncmp(vdev, "sd", 2)) {
		d = disk_index(vdev + 2);
		if (d < 0 || d >= 16)
			return -EINVAL;
		return (8 << 8) | (int)(d << 4);
	}
	if (!strncmp(vdev, "hd", 2)) {
		d = disk_index(vdev + 2);
		if (d < 0 || d >= 4)
			return -EINVAL;
		return ((d < 2 ? 3 : 22) << 8) | (int)((d & 1) << 6);
	}
	return -EINVAL;
}

int pvk_blkfront_devid_name(uint32_t devid, char *buf, size_t len)
{
	char letters[8], tmp[8];
	uint32_t d;
	const char *pfx = "xvd";
	int i = 0, j, rc;

	if ((devid >> 8) == 202 && !(devid & 15)) {
		d = (devid >> 4) & 15;
	} else if ((devid & (1u << 28)) && !(devid & 0xff) &&
		   devid < (1u << 29)) {
		d = (devid >> 8) & 0xfffff;
	} else if ((devid >> 8) == 8 && !(devid & 15)) {
		pfx = "sd";
		d = (devid >> 4) & 15;
	} else if (((devid >> 8) == 3 || (devid >> 8) == 22) &&
		   !(devid & 0xbf)) {
		pfx = "hd";
		d = ((devid >> 8) == 22 ? 2 : 0) + ((devid >> 6) & 1);
	} else {
		rc = snprintf(buf, len, "%u", devid);
		return rc < 0 || (size_t)rc >= len ? -ENAMETOOLONG : 0;
	}
	d++;
	while (d && i < (int)sizeof(tmp)) {
		tmp[i++] = (char)('a' + (d - 1) % 26);
		d = (d - 1) / 26;
	}
	for (j = 0; j < i; j++)
		letters[j] = tmp[i - 1 - j];
	letters[i] = '\0';
	rc = snprintf(buf, len, "%s%s", pfx, letters);
	return rc < 0 || (size_t)rc >= len ? -ENAMETOOLONG : 0;
}

/* ---- helpers ----------------------------------------------------------- */

/* Write our node @name, which may name a subdirectory ("queue-0/..."). */
static int own_printf(struct pvk_blkfront *bf, pvk_xs_txn_t txn,
		      const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int own_printf(struct pvk_blkfront *bf, pvk_xs_txn_t txn,
		      const char *name, const char *fmt, ...)
{
	char path[PVK_XENBUS_PATH_MAX + 32], val[32];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(val))
		return -EINVAL;
	n = snprintf(path, sizeof(path), "%s/%s",
		     pvk_xenbus_own_path(&bf->fr.dev), name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	return pvk_xs_write(bf->hv, txn, path, val);
}

/*
 * Read the backend's unsigned node @name (@def if absent).  A value that
 * is not a decimal number, or is above @max, latches the device broken
 * with one line naming the node (-EPROTO).
 */
static int be_uint(struct pvk_blkfront *bf, const char *name, unsigned long def,
		   unsigned long max, unsigned long *v)
{
	int rc = pvk_xenbus_read_feature(&bf->fr.dev, PVK_XS_NO_TXN, name, def,
					 v);

	if (rc == -EPROTO) {
		bf_set_broken(bf, "backend node %s is not a decimal number",
			      name);
		return rc;
	}
	if (rc < 0) {
		bf_log(bf, "backend node %s unreadable (%d)", name, rc);
		return rc;
	}
	if (*v > max) {
		bf_set_broken(bf, "backend node %s = %lu, above %lu", name, *v,
			      max);
		return -EPROTO;
	}
	return 0;
}

/* A limit the backend offers: any number is fine, we take the smaller. */
static int be_limit(struct pvk_blkfront *bf, const char *name,
		    unsigned long def, unsigned long ours, unsigned long *v)
{
	int rc = be_uint(bf, name, def, ULONG_MAX, v);

	if (rc == 0 && *v > ours)
		*v = ours;
	return rc;
}

/* ---- Initialising/InitWait -> Initialised: publish our rings ------------ */

static int write_queue_nodes(struct pvk_blkfront *bf, pvk_xs_txn_t txn,
			     const char *prefix, const struct bf_queue *q)
{
	char name[40];
	uint32_t i;
	int rc;

	if (bf->info.ring_order == 0) {
		snprintf(name, sizeof(name), "%sring-ref", prefix);
		rc = own_printf(bf, txn, name, "%u", q->refs[0]);
		if (rc < 0)
			return rc;
	}
	for (i = 0; bf->info.ring_order && i < q->nr_pages; i++) {
		snprintf(name, sizeof(name), "%sring-ref%u", prefix, i);
		rc = own_printf(bf, txn, name, "%u", q->refs[i]);
		if (rc < 0)
			return rc;
	}
	snprintf(name, sizeof(name), "%sevent-channel", prefix);
	return own_printf(bf, txn, name, "%d", q->port);
}

/* "<prefix><N>", N in canonical decimal below @max. */
static bool numbered(const char *name, const char *prefix, unsigned long max)
{
	size_t n = strlen(prefix);
	unsigned long v = 0;
	const char *p;

	if (strncmp(name, prefix, n) || !name[n] ||
	    (name[n] == '0' && name[n + 1]))
		return false;
	for (p = name + n; *p; p++) {
		if (*p < '0' || *p > '9' || v >= max)
			return false;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	return v < max;
}

/* A node an earlier connection may have left. */
static bool stale(const char *name)
{
	static const char *const fixed[] = {
		"ring-ref",
		"event-channel",
		"ring-page-order",
		"num-ring-pages",
		"multi-queue-num-queues",
		"feature-large-sector-size",
	};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (!strcmp(name, fixed[i]))
			return true;
	return numbered(name, "ring-ref", BF_RING_PAGES_MAX) ||
	       numbered(name, "queue-", PVK_BLKFRONT_MAX_QUEUES);
}

static int publish_txn(struct pvk_hv *hv, pvk_xs_txn_t txn, void *arg)
{
	struct pvk_blkfront *bf = arg;
	char name[40], **names = NULL;
	uint32_t i;
	int rc = 0, n;

	/* Nodes of an earlier connection must not survive into this one:
	 * those there are removed (one listing, not a removal per name
	 * that might be there). */
	n = pvk_xs_directory(hv, txn, pvk_xenbus_own_path(&bf->fr.dev), &names);
	if (n == -ENOENT)
		n = 0;
	if (n < 0)
		return n;
	for (i = 0; i < (uint32_t)n && !rc; i++)
		if (stale(names[i]))
			rc = pvk_xenbus_front_rm(&bf->fr, txn, names[i]);
	free(names);
	if (rc)
		return rc;

	if (bf->nr_queues == 1) {
		rc = write_queue_nodes(bf, txn, "", &bf->q[0]);
	} else {
		rc = own_printf(bf, txn, "multi-queue-num-queues", "%u",
				bf->nr_queues);
		for (i = 0; i < bf->nr_queues && !rc; i++) {
			snprintf(name, sizeof(name), "queue-%u/", i);
			rc = write_queue_nodes(bf, txn, name, &bf->q[i]);
		}
	}
	if (!rc && bf->info.ring_order) {
		rc = own_printf(bf, txn, "ring-page-order", "%u",
				bf->info.ring_order);
		if (!rc)
			rc = own_printf(bf, txn, "num-ring-pages", "%u",
					1u << bf->info.ring_order);
	}
	if (!rc)
		rc = own_printf(bf, txn, "protocol", "%s", BF_PROTOCOL);
	if (!rc)
		rc = own_printf(
			bf, txn, "feature-persistent", "%u",
			bf->opts.flags & PVK_BLKFRONT_NO_PERSISTENT ? 0u : 1u);
	if (!rc && (bf->opts.flags & PVK_BLKFRONT_LARGE_SECTORS))
		rc = own_printf(bf, txn, "feature-large-sector-size", "1");
	return rc;
}

static int bf_talk(void *arg)
{
	struct pvk_blkfront *bf = arg;
	unsigned long order, pages, nq;
	int rc;

	if ((rc = be_limit(bf, "max-ring-page-order", 0,
			   bf->opts.max_ring_order, &order)) < 0 ||
	    (rc = be_limit(bf, "max-ring-pages", 1,
			   1ul << bf->opts.max_ring_order, &pages)) < 0 ||
	    (rc = be_limit(bf, "multi-queue-max-queues", 1, bf->opts.max_queues,
			   &nq)) < 0)
		return rc;
	/* The legacy node counts pages; take the larger of the two. */
	while (order < bf->opts.max_ring_order && (2ul << order) <= pages)
		order++;
	if (!nq)
		nq = 1;

	rc = bf_rings_alloc(bf, (uint32_t)order, (uint32_t)nq);
	if (rc < 0) {
		bf_log(bf, "cannot allocate rings (%d)", rc);
		return rc;
	}
	rc = pvk_xs_transaction(bf->hv, 0, publish_txn, bf);
	if (rc < 0) {
		bf_log(bf, "cannot publish rings (%d)", rc);
		bf_rings_free(bf);
		return rc;
	}
	return 0;
}

/* ---- backend Connected: read the disk's properties ---------------------- */

static bool pow2(unsigned long v)
{
	return v && !(v & (v - 1));
}

/* Discard parameters: bad ones disable discard, they do not break I/O. */
static void bf_discard_params(struct pvk_blkfront *bf, unsigned long gran,
			      unsigned long align, unsigned long secure)
{
	struct pvk_blkfront_info *bi = &bf->info;
	unsigned long ss = bi->sector_size;

	if (gran < ss)
		gran = ss;
	if (gran % ss || align % ss) {
		bf_log(bf,
		       "discard disabled: discard-granularity %lu / discard-alignment %lu not multiples of the %lu-byte sector",
		       gran, align, ss);
		bi->discard = false;
		bi->discard_secure = false;
		bi->discard_granularity = bi->discard_alignment = 0;
		return;
	}
	bi->discard = true;
	bi->discard_secure = secure;
	bi->discard_granularity = (uint32_t)gran;
	bi->discard_alignment = (uint32_t)(align % gran);
}

/* "sectors" in @unit-byte units, as bytes: at most 2^63 (offsets then fit
 * an off_t, and trimming a discard to granules cannot wrap), a whole
 * number of @ss-byte sectors, not empty. */
static int disk_size(struct pvk_blkfront *bf, unsigned long sectors,
		     uint64_t unit, unsigned long ss, uint64_t *size)
{
	if (!sectors || sectors > (UINT64_MAX >> 1) / unit ||
	    (sectors * unit) % ss) {
		bf_set_broken(
			bf,
			"backend disk size invalid: sectors = %lu (%" PRIu64
			"-byte units), sector-size %lu",
			sectors, unit, ss);
		return -EPROTO;
	}
	*size = sectors * unit;
	return 0;
}

/* Connected again while connected: the backend announces a new size, as
 * Linux's blkback does after a resize. */
static int bf_resize(void *arg)
{
	struct pvk_blkfront *bf = arg;
	struct pvk_blkfront_info *bi = &bf->info;
	unsigned long sectors;
	uint64_t size = 0;
	int rc;

	rc = be_uint(bf, "sectors", 0, ULONG_MAX, &sectors);
	if (rc == 0)
		rc = disk_size(bf, sectors, bf->unit, bi->sector_size, &size);
	if (rc < 0 || size == bi->size_bytes)
		return rc;
	bf_log(bf, "disk resized from %" PRIu64 " to %" PRIu64 " bytes",
	       bi->size_bytes, size);
	bi->size_bytes = size;
	bi->sectors = size / bi->sector_size;
	return 0;
}

static int bf_connect(void *arg)
{
	struct pvk_blkfront *bf = arg;
	unsigned long sectors, info, ss, pss, flush, barrier, discard;
	unsigned long gran, align, secure, persistent, indirect;
	struct pvk_blkfront_info *bi = &bf->info;
	bool large = bf->opts.flags & PVK_BLKFRONT_LARGE_SECTORS;
	const struct pvk_blkfront_io *io;
	unsigned int held = 0;
	uint64_t unit, size;
	char *mode = NULL;
	int rc;

	if ((rc = be_uint(bf, "sectors", 0, ULONG_MAX, &sectors)) < 0 ||
	    (rc = be_uint(bf, "info", 0, UINT32_MAX, &info)) < 0 ||
	    (rc = be_uint(bf, "sector-size", 512, ULONG_MAX, &ss)) < 0 ||
	    (rc = be_uint(bf, "physical-sector-size", ss, ULONG_MAX, &pss)) <
		    0 ||
	    (rc = be_uint(bf, "feature-flush-cache", 0, 1, &flush)) < 0 ||
	    (rc = be_uint(bf, "feature-barrier", 0, 1, &barrier)) < 0 ||
	    (rc = be_uint(bf, "feature-discard", 0, 1, &discard)) < 0 ||
	    (rc = be_uint(bf, "discard-granularity", 0, UINT32_MAX, &gran)) <
		    0 ||
	    (rc = be_uint(bf, "discard-alignment", 0, UINT32_MAX, &align)) <
		    0 ||
	    (rc = be_uint(bf, "discard-secure", 0, 1, &secure)) < 0 ||
	    (rc = be_uint(bf, "feature-persistent", 0, 1, &persistent)) < 0 ||
	    (rc = be_limit(bf, "feature-max-indirect-segments", 0,
			   bf->opts.max_indirect_segs, &indirect)) < 0)
		return rc;
	if (pvk_xenbus_read(&bf->fr.dev, PVK_XS_NO_TXN, true, "sectors",
			    &mode) == -ENOENT) {
		bf_set_broken(bf,
			      "backend connected without a \"sectors\" node");
		return -EPROTO;
	}
	free(mode);
	mode = NULL;
	if (!pow2(ss) || ss < 512 || ss > PVK_PAGE_SIZE) {
		bf_set_broken(
			bf,
			"backend sector-size %lu is not a power of two in 512..4096",
			ss);
		return -EPROTO;
	}
	if (!pow2(pss) || pss < ss || pss > (1ul << 20)) {
		bf_set_broken(
			bf,
			"backend physical-sector-size %lu is not a power-of-two multiple of sector-size %lu",
			pss, ss);
		return -EPROTO;
	}
	/* "sectors" is in wire units: 512 bytes, or sector-size with
	 * feature-large-sector-size (see blkfront.h). */
	unit = large ? ss : PVK_BLKIF_SECTOR_SIZE;
	rc = disk_size(bf, sectors, unit, ss, &size);
	if (rc < 0)
		return rc;
	if (bi->connects && ss != bi->sector_size) {
		bf_set_broken(
			bf,
			"backend sector-size changed from %u to %lu across a reconnect",
			bi->sector_size, ss);
		return -EPROTO;
	}
	if (pvk_xenbus_read(&bf->fr.dev, PVK_XS_NO_TXN, true, "mode", &mode) <
	    0)
		mode = NULL;

	if (bi->connects && size != bi->size_bytes)
		bf_log(bf, "disk size changed from %" PRIu64 " to %" PRIu64,
		       bi->size_bytes, size);
	bi->sectors = size / ss;
	bi->size_bytes = size;
	bi->sector_size = (uint32_t)ss;
	bi->physical_sector_size = (uint32_t)pss;
	bi->large_sectors = large;
	bf->unit = (uint32_t)unit;
	bi->vdisk_info = (uint32_t)info;
	/* As Linux's blkback reads the toolstack's mode: writable only
	 * with a 'w' in it ("w", "w!", "rw"); "r", "ro" or junk: not. */
	bi->read_only = (info & PVK_VDISK_READONLY) ||
			(mode && !strchr(mode, 'w'));
	free(mode);
	bi->flush = flush;
	bi->barrier = barrier;
	bi->discard = false;
	bi->discard_secure = false;
	bi->discard_granularity = bi->discard_alignment = 0;
	if (discard)
		bf_discard_params(bf, gran, align, secure);
	bi->persistent = persistent &&
			 !(bf->opts.flags & PVK_BLKFRONT_NO_PERSISTENT);
	bf->pooled = bi->persistent ||
		     !(bf->opts.flags & PVK_BLKFRONT_GRANT_PER_REQUEST);
	bi->grant_pool = bf->pooled;
	bi->max_indirect_segs = 0;
	if (!(bf->opts.flags & PVK_BLKFRONT_NO_INDIRECT) &&
	    indirect > PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST)
		bi->max_indirect_segs = (uint32_t)indirect;
	bf->max_segs = bi->max_indirect_segs ?
			       bi->max_indirect_segs :
			       PVK_BLKIF_MAX_SEGMENTS_PER_REQUEST;
	bi->max_segments = bf->max_segs;
	bf->max_ind = bi->max_indirect_segs ?
			      pvk_blkif_indirect_pages(bf->max_segs) :
			      0;

	bf_trim_ios(bf);
	for (io = bf->inc_head; io; io = io->next_)
		held++;
	rc = bf_start(bf);
	if (rc < 0 && rc != -EIO) {
		bf_log(bf, "cannot start the rings (%d)", rc);
		return rc;
	}
	bi->connects++;
	if (bi->connects > 1)
		bf_log(bf, "reconnected (%u), re-issuing %u I/O", bi->connects,
		       held);
	return pvk_xenbus_front_switch(&bf->fr, PVK_XENBUS_CONNECTED);
}

/* ---- the state machine's ops ------------------------------------------ */

static void bf_teardown(void *arg, const char *why)
{
	struct pvk_blkfront *bf = arg;

	if (!bf->fr.closing)
		bf_log(bf, "backend %s: rings torn down, I/O held", why);
	bf_rings_free(bf);
}

static void bf_gone(void *arg)
{
	struct pvk_blkfront *bf = arg;

	bf_log(bf, "device removed");
	bf_rings_free(bf);
	bf->fr.phase = BF_GONE;
	bf_fail_all(bf, -ENODEV);
}

static void bf_fail(void *arg, const char *why)
{
	bf_set_broken(arg, "%s", why);
}

static const struct pvk_xenbus_front_ops bf_ops = {
	.talk = bf_talk,
	.connect = bf_connect,
	.changed = bf_resize,
	.teardown = bf_teardown,
	.gone = bf_gone,
	.fail = bf_fail,
};

int bf_xs_init(struct pvk_blkfront *bf, const char *vdev)
{
	int devid = pvk_blkfront_vdev_to_devid(vdev), rc;

	if (devid < 0)
		return devid;
	rc = pvk_xenbus_front_init(&bf->fr, bf->hv, "vbd", (uint32_t)devid,
				   &bf_ops, bf, PVK_XENBUS_INITIALISED);
	if (rc < 0)
		return rc;
	bf->info.devid = (uint32_t)devid;
	bf->info.backend_id = bf->fr.dev.be_domid;
	return 0;
}
