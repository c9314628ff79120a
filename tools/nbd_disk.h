/* SPDX-License-Identifier: MIT */
/*
 * nbd_disk.h -- a PV disk (pvkit's blkfront) as an NBD server needs it:
 * byte-addressed, any alignment, called from many threads at once.  The
 * nbdkit plugin (tools/nbdkit-pvkit-plugin.c, what `pvkit disk serve-nbd`
 * runs) is its one user; tests and the fuzz target drive it in-process on
 * the loop hypervisor.
 *
 * One I/O thread reaps the blkfront's answers (it is driven by one
 * thread at a time, pvkit/blkfront.h: a lock says which) and keeps up to
 * the queue depth in flight; each caller waits for its own request.
 * Requests aligned to the disk's sector size go straight to the rings,
 * put there by the caller itself when nothing is queued before them and
 * the thread is not on the disk (else queued to the thread, in order);
 * an unaligned read or write is done alone (the thread waits until
 * nothing else is in flight), as a read-modify-write of the sectors it
 * touches, so it can never interleave with another write to them.
 *
 * A request waits at most opts.timeout_ms for the disk: a backend that is
 * gone (stopped, crashed without coming back, the disk detached) costs the
 * client an error (-ETIMEDOUT, -ENODEV, -EIO), never a hang.  A request
 * that timed out stays with the I/O thread (its buffers are the disk's
 * own) until the backend answers or the disk is closed.
 *
 * Functions return 0 or -errno.
 */
#ifndef PVK_TOOLS_NBD_DISK_H
#define PVK_TOOLS_NBD_DISK_H

#include <stdbool.h>
#include <stdint.h>

#include <pvkit/blkfront.h>
#include <pvkit/hv.h>

struct nbd_disk;

struct nbd_disk_opts {
	struct pvk_blkfront_opts bf; /* queue depth, rings, polling */
	int timeout_ms; /* per request; <= 0: 30 s */
};

/* Open vbd @vdev of @hv's domain (waiting up to 10 s for it to appear)
 * and start the I/O thread.  @hv must outlive the disk. */
int nbd_disk_open(struct nbd_disk **d, struct pvk_hv *hv, const char *vdev,
		  const struct nbd_disk_opts *o);
/* Stop the thread (waiting for what is in flight) and close the device. */
void nbd_disk_close(struct nbd_disk *d);

void nbd_disk_info(const struct nbd_disk *d, struct pvk_blkfront_info *info);

/* Any offset and length inside the disk (-EINVAL otherwise).  @fua: the
 * data is durable when this returns (a flush follows). */
int nbd_disk_pread(struct nbd_disk *d, void *buf, uint32_t len, uint64_t off);
int nbd_disk_pwrite(struct nbd_disk *d, const void *buf, uint32_t len,
		    uint64_t off, bool fua);
/* Write zeroes (the part of whole discard blocks may be discarded only
 * when @may_trim and the backend reads discarded blocks back as zero,
 * which blkif does not promise: so never, today). */
int nbd_disk_zero(struct nbd_disk *d, uint32_t len, uint64_t off, bool fua);
/* Discard (a hint: what is not whole discard-granularity blocks is left). */
int nbd_disk_trim(struct nbd_disk *d, uint32_t len, uint64_t off, bool fua);
int nbd_disk_flush(struct nbd_disk *d);

/* NULL, or why the disk can serve no more (removed, broken). */
const char *nbd_disk_gone(struct nbd_disk *d);

#endif /* PVK_TOOLS_NBD_DISK_H */
