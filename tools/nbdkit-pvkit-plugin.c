// SPDX-License-Identifier: MIT
/*
 * nbdkit-pvkit-plugin: a guest's PV disk (pvkit's blkfront) as an nbdkit
 * plugin, so that nbdkit speaks NBD: structured replies, base:allocation,
 * WRITE_ZEROES, FUA, multi-conn, many clients, TLS.  What `pvkit disk
 * serve-nbd` runs; also usable on its own, inside a guest domain:
 *
 *   nbdkit --foreground --unix /tmp/d.sock nbdkit-pvkit-plugin.so xvda
 *
 * The disk is opened once nbdkit has bound its sockets (after_fork): a
 * client may connect at once and is served when the disk is ready.  When
 * the disk is detached the plugin stops nbdkit, as `pvkit nic serve-tap`
 * ends when its vif goes.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit/blkfront.h>
#include <pvkit/hv.h>

#include "nbd_disk.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static const char *vdev = "xvda";
static struct nbd_disk_opts dopts = { .bf = { .queue_depth = 64 },
				      .timeout_ms = 30000 };
static struct pvk_hv *hv;
static struct nbd_disk *disk;
static struct pvk_blkfront_info info;

static int uint_param(const char *key, const char *value, unsigned int lo,
		      unsigned int hi, unsigned int *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || !*value || *end || *value == '-' || v < lo || v > hi) {
		nbdkit_error("%s=%s: a whole number in %u..%u", key, value, lo,
			     hi);
		return -1;
	}
	*out = (unsigned int)v;
	return 0;
}

static int pvkit_config(const char *key, const char *value)
{
	unsigned int v;

	if (!strcmp(key, "vdev")) {
		if (pvk_blkfront_vdev_to_devid(value) < 0) {
			nbdkit_error("vdev=%s: not a virtual disk name (xvda, "
				     "hdb, sdc, ...) nor a device number",
				     value);
			return -1;
		}
		vdev = value;
	} else if (!strcmp(key, "timeout")) {
		if (uint_param(key, value, 1, 3600, &v) < 0)
			return -1;
		dopts.timeout_ms = (int)v * 1000;
	} else if (!strcmp(key, "queue-depth")) {
		if (uint_param(key, value, 1, 1024, &v) < 0)
			return -1;
		dopts.bf.queue_depth = v;
	} else if (!strcmp(key, "max-ring-order")) {
		if (uint_param(key, value, 0, PVK_BLKFRONT_MAX_RING_ORDER, &v) <
		    0)
			return -1;
		dopts.bf.max_ring_order = v;
		if (!v)
			dopts.bf.flags |= PVK_BLKFRONT_NO_MULTI_PAGE;
	} else if (!strcmp(key, "max-queues")) {
		if (uint_param(key, value, 1, PVK_BLKFRONT_MAX_QUEUES, &v) < 0)
			return -1;
		dopts.bf.max_queues = v;
	} else if (!strcmp(key, "indirect")) {
		if (uint_param(key, value, 0, 1, &v) < 0)
			return -1;
		if (!v)
			dopts.bf.flags |= PVK_BLKFRONT_NO_INDIRECT;
	} else if (!strcmp(key, "persistent")) {
		if (uint_param(key, value, 0, 1, &v) < 0)
			return -1;
		if (!v)
			dopts.bf.flags |= PVK_BLKFRONT_NO_PERSISTENT;
	} else if (!strcmp(key, "poll-us")) {
		if (uint_param(key, value, 0, 1000, &v) < 0)
			return -1;
		dopts.bf.poll_us = v;
	} else {
		nbdkit_error("unknown parameter '%s' (see --help)", key);
		return -1;
	}
	return 0;
}

#define pvkit_config_help                                                   \
	"vdev=<VDEV>          the guest's virtual disk (default xvda)\n"    \
	"timeout=<SECS>       a request waits at most this for the disk, "  \
	"then fails (default 30)\n"                                         \
	"queue-depth=<N>      I/Os in flight on the rings (default 64)\n"   \
	"max-ring-order=<N>   max-queues=<N>   indirect=0   persistent=0\n" \
	"poll-us=<N>          poll the rings up to N us before sleeping"

/* Open the disk once nbdkit has forked (threads may only start then) and
 * bound its sockets. */
static int pvkit_after_fork(void)
{
	int rc = pvk_hv_open(&hv, 0);

	if (rc < 0) {
		nbdkit_error("no hypervisor (%s): run inside a Xen guest, or a "
			     "domain of pvkit's simulator",
			     strerror(-rc));
		return -1;
	}
	rc = nbd_disk_open(&disk, hv, vdev, &dopts);
	if (rc < 0) {
		nbdkit_error("open %s in domain %u: %s", vdev, pvk_hv_domid(hv),
			     strerror(-rc));
		pvk_hv_close(hv);
		hv = NULL;
		return -1;
	}
	nbd_disk_info(disk, &info);
	/* The line scripts wait for: the disk is open, clients are served. */
	fprintf(stderr,
		"serve-nbd: %s (%llu bytes, sector %u%s) of domain %u\n", vdev,
		(unsigned long long)info.size_bytes, info.sector_size,
		info.read_only ? ", read-only" : "", pvk_hv_domid(hv));
	fflush(stdout);
	return 0;
}

static void pvkit_unload(void)
{
	nbd_disk_close(disk);
	disk = NULL;
	if (hv)
		pvk_hv_close(hv);
	hv = NULL;
}

static void *pvkit_open(int readonly)
{
	(void)readonly;
	if (!disk) {
		nbdkit_error("the disk is not open");
		return NULL;
	}
	return disk;
}

static int64_t pvkit_get_size(void *h)
{
	(void)h;
	return (int64_t)info.size_bytes;
}

static int pvkit_block_size(void *h, uint32_t *minimum, uint32_t *preferred,
			    uint32_t *maximum)
{
	(void)h;
	*minimum = 1; /* unaligned requests are read-modify-write */
	*preferred = info.sector_size > 4096 ? info.sector_size : 4096;
	*maximum = 0xffffffff;
	return 0;
}

static int pvkit_can_write(void *h)
{
	(void)h;
	return !info.read_only;
}

static int pvkit_can_flush(void *h)
{
	(void)h;
	return info.flush || info.barrier;
}

static int pvkit_can_trim(void *h)
{
	(void)h;
	return info.discard && !info.read_only;
}

static int pvkit_can_zero(void *h)
{
	(void)h;
	return !info.read_only;
}

static int pvkit_can_fua(void *h)
{
	(void)h;
	return info.flush || info.barrier ? NBDKIT_FUA_NATIVE : NBDKIT_FUA_NONE;
}

/* One device behind every connection: a flush on any covers the writes
 * completed on all of them. */
static int pvkit_can_multi_conn(void *h)
{
	(void)h;
	return 1;
}

/* The error a client gets: NBD has few codes; a disk that went away or
 * does not answer is EIO (and said why, once). */
static int fail(int rc, const char *what)
{
	const char *gone = nbd_disk_gone(disk);
	int err = -rc;

	switch (rc) {
	case -EROFS:
		err = EPERM;
		break;
	case -EOPNOTSUPP:
		err = ENOTSUP;
		break;
	case -EINVAL:
	case -ENOMEM:
	case -ENOSPC:
		break;
	default:
		err = EIO;
		break;
	}
	nbdkit_error("%s: %s%s%s", what, strerror(-rc), gone ? ": " : "",
		     gone ? gone : "");
	if (rc == -ENODEV)
		nbdkit_shutdown(); /* detached: nothing more to serve */
	nbdkit_set_error(err);
	return -1;
}

static int pvkit_pread(void *h, void *buf, uint32_t count, uint64_t offset,
		       uint32_t flags)
{
	int rc = nbd_disk_pread(h, buf, count, offset);

	(void)flags;
	return rc < 0 ? fail(rc, "read") : 0;
}

static int pvkit_pwrite(void *h, const void *buf, uint32_t count,
			uint64_t offset, uint32_t flags)
{
	int rc =
		nbd_disk_pwrite(h, buf, count, offset, flags & NBDKIT_FLAG_FUA);

	return rc < 0 ? fail(rc, "write") : 0;
}

static int pvkit_zero(void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
	int rc;

	if (flags & NBDKIT_FLAG_FAST_ZERO) {
		nbdkit_set_error(ENOTSUP); /* zeroes are written */
		return -1;
	}
	rc = nbd_disk_zero(h, count, offset, flags & NBDKIT_FLAG_FUA);
	return rc < 0 ? fail(rc, "write zeroes") : 0;
}

static int pvkit_trim(void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
	int rc = nbd_disk_trim(h, count, offset, flags & NBDKIT_FLAG_FUA);

	return rc < 0 ? fail(rc, "trim") : 0;
}

static int pvkit_flush(void *h, uint32_t flags)
{
	int rc = nbd_disk_flush(h);

	(void)flags;
	return rc < 0 ? fail(rc, "flush") : 0;
}

static struct nbdkit_plugin plugin = {
	.name = "pvkit",
	.longname = "pvkit PV disk (blkfront)",
	.version = PVK_VERSION,
	.description = "a guest's PV disk, through pvkit's blkfront",
	.magic_config_key = "vdev",
	.config = pvkit_config,
	.config_help = pvkit_config_help,
	.after_fork = pvkit_after_fork,
	.unload = pvkit_unload,
	.open = pvkit_open,
	.get_size = pvkit_get_size,
	.block_size = pvkit_block_size,
	.can_write = pvkit_can_write,
	.can_flush = pvkit_can_flush,
	.can_trim = pvkit_can_trim,
	.can_zero = pvkit_can_zero,
	.can_fua = pvkit_can_fua,
	.can_multi_conn = pvkit_can_multi_conn,
	.pread = pvkit_pread,
	.pwrite = pvkit_pwrite,
	.zero = pvkit_zero,
	.trim = pvkit_trim,
	.flush = pvkit_flush,
};

NBDKIT_REGISTER_PLUGIN(plugin)
