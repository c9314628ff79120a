/* SPDX-License-Identifier: MIT */
/*
 * pvkit/blkback.h -- the block backend (libpvkit-back): serves every vbd
 * that appears under a backend domain's xenstore directory, on raw image
 * files and block devices through io_uring.  pvkit-backd is a thin daemon
 * around this API.
 *
 * One struct pvk_blkback watches /local/domain/<self>/backend/<type>/ and,
 * for each device <fe>/<devid> the toolstack writes there (the nodes
 * `xl block-attach` writes: frontend, frontend-id, online, state, params,
 * mode, device-type), opens params, publishes its features and follows
 * Xen's xenbus protocol with the frontend:
 *
 *   probe       open params; write feature-max-indirect-segments,
 *               multi-queue-max-queues, max-ring-page-order,
 *               feature-flush-cache, feature-barrier, feature-discard
 *               (discard-granularity, discard-alignment, discard-secure),
 *               feature-persistent, sectors, sector-size,
 *               physical-sector-size, info, hotplug-status=connected;
 *               state InitWait.
 *   frontend Initialised/Connected
 *               read ring-page-order, ring-ref/ring-ref<i>, event-channel,
 *               multi-queue-num-queues and queue-<q>/..., protocol,
 *               feature-persistent; map the rings, bind the event channels,
 *               start one I/O thread per queue; state Connected.
 *   frontend Closing   drain in-flight I/O, unmap; state Closing.
 *   frontend Closed    state Closed; if online is 0 the device is dropped
 *               (the toolstack then removes its nodes), else the backend
 *               republishes and goes back to InitWait so that a frontend
 *               may reconnect.
 *   toolstack detach   (online = 0 and our state set to Closing, as libxl
 *               does): as frontend Closing, then dropped once the frontend
 *               is Closed.
 *   frontend domain gone (@releaseDomain)
 *               drain, unmap, remove the backend directory (libxl does the
 *               same when it destroys a domain).
 *
 * Restart.  pvk_blkback_handover() (pvkit-backd --handover, SIGTERM) stops
 * for a restart: it stops taking requests, answers every request already
 * taken (waiting for its I/O) and pushes the responses, unmaps, and
 * leaves each connected device Connected with a note (node
 * pvkit-handover, "queues=<n> ring-page-order=<o>").  The next instance
 * finds our state and the frontend's Connected and the note matching the
 * frontend's nodes: it maps the same rings and resumes at the response
 * producer index -- where every taken request has been answered -- and
 * rebinds the event channels.  The frontend sees nothing but a pause;
 * this is what keeps a stock Linux blkfront, which never reconnects on
 * its own, alive across a pvkit-backd upgrade.  A note is used once.
 * A crash (SIGKILL, a fault) cannot hand over; with a state_dir it need
 * not.  While a device is connected each queue journals, in a file of
 * state_dir shared-mapped (<type>-<fe>-<devid>.journal), a copy of every
 * request it takes, its consumer index, and which response index answers
 * which request; a bb_req is reused only once its response is published.
 * The next instance finds our state Connected, the frontend's Connected
 * (or Initialised), no note, and a journal naming the frontend's current
 * rings: it maps them, resumes consuming where the dead one stopped,
 * answers from the published response index, and re-executes, in the
 * order taken, exactly the requests taken and not answered in a published
 * response (their slots may hold unpublished responses: the journal's
 * copy is used).  The frontend sees latency, not a disconnection -- what
 * keeps a stock Linux blkfront alive across a crash.  A re-executed write
 * may land after a later write to the same sectors that was in flight
 * beside it; frontends never overlap writes in flight (Linux does not),
 * and such an order is one the frontend could have seen anyway.
 * Without a journal, or with one that does not add up (the frontend
 * reconnected meanwhile, or rewrote rsp_prod), the rings cannot be
 * resumed: the old instance's consumer index and the requests it had
 * taken are lost with it.  It writes Closing, waits for the frontend to
 * reach Closed, then goes Closed -> InitWait; a frontend that reconnects
 * (pvkit's does; Linux's does not) re-issues what was in flight.
 * Acknowledged writes are never lost either way: a response is pushed
 * only after its I/O completed (and, for a flush, after fdatasync).
 * pvk_blkback_shutdown() (pvkit-backd's SIGTERM by default) drains in-flight
 * I/O the same way, then closes each connected device instead (Closing,
 * then Closed once the frontend is Closed or after a bounded wait); a
 * device not connected stays InitWait.
 *
 * Hostile frontends.  Every slot is copied once and validated on the copy
 * (pvk_blkif_get_any_request, pvk_blkif_check_request), indirect segment
 * pages are copied before use, every count and index is bounded.  A
 * request that is wrong on its own (bad segment, sector range beyond the
 * disk, a grant that does not map, a write to a read-only disk) is
 * answered with BLKIF_RSP_ERROR; an unknown operation with
 * BLKIF_RSP_EOPNOTSUPP.  A ring-level violation (producer index beyond the
 * free slots) latches that queue's device broken with one log line: its
 * rings are no longer read nor its event channels listened to (a
 * frontend that keeps notifying costs no wake-ups); requests already
 * taken complete their I/O and release their mappings, their responses
 * are published on the device's healthy queues but not on the ring that
 * broke; every other device keeps working; a new connection (frontend Closed ->
 * Initialised) starts clean.  Garbage in the frontend's xenstore nodes
 * (ring-ref, event-channel, ring-page-order, multi-queue-num-queues,
 * protocol other than the native ABI) refuses the connection: Closing,
 * with the reason logged.  A read-only disk (mode=r, or device-type
 * cdrom) answers writes, barriers and flushes with BLKIF_RSP_ERROR and
 * does not offer discard.
 *
 * Images are opened with O_DIRECT when the file system accepts it for
 * sector-aligned I/O, otherwise buffered.  A params that cannot be opened
 * gets hotplug-status=error and hotplug-error (as a failed hotplug script
 * would), and the device stays unserved until it is removed.
 * Persistent grants (when both ends offer feature-persistent) stay mapped
 * until the queue disconnects, up to max_persistent per queue; beyond
 * that, grants are mapped per request.
 *
 * Durability.  A FLUSH_DISKCACHE is answered only after fdatasync of the
 * image completed (with its data, if it carries segments, written first);
 * a WRITE_BARRIER waits for every earlier request of its queue, then
 * writes and syncs.
 *
 * Threading: the control plane (pvk_blkback_handle_events, _stats,
 * _shutdown, _destroy) runs on one thread, the caller's; each connected
 * queue has an I/O thread of its own.
 */
#ifndef PVKIT_BLKBACK_H
#define PVKIT_BLKBACK_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit/hv.h>
#include <pvkit/xenbus.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pvk_blkback;

/* Defaults of the advertised limits. */
#define PVK_BLKBACK_DEF_MAX_QUEUES 4u
#define PVK_BLKBACK_DEF_RING_ORDER 4u
#define PVK_BLKBACK_DEF_INDIRECT_SEGS 256u
#define PVK_BLKBACK_DEF_PERSISTENT 1056u /* grants kept mapped per queue */

struct pvk_blkback_config {
	/* Backend directory type, default "vbd".  On a Xen dom0 whose kernel
	 * runs xen-blkback, use another (e.g. "pvkvbd") so the two never
	 * race; frontends follow the `backend` path they are given. */
	const char *type;
	uint32_t max_queues; /* multi-queue-max-queues; 0 = default */
	uint32_t max_ring_order; /* max-ring-page-order; > 4 is -EINVAL */
	uint32_t max_indirect_segs; /* 0 = default; see no_indirect */
	uint32_t max_persistent; /* persistent grants per queue */
	bool no_indirect, no_persistent, no_discard, no_flush, no_barrier,
		no_mq;
	bool no_direct; /* never open images with O_DIRECT */
	/* Before an I/O thread sleeps, poll its ring and completions for up
	 * to this long (saves wake-ups at low queue depth, burns CPU); the
	 * window adapts (struct pvk_spin, spin.h); 0 = off.  At most 1000. */
	uint32_t poll_us;
	/* One line per state change and per error, without newline;
	 * default: stderr with a timestamp. */
	void (*log)(void *arg, const char *line);
	void *log_arg;
	/* Crash journals (see Restart, above): a directory, on tmpfs, that
	 * outlives the process; NULL: none, and a crash costs the frontend
	 * a reconnection. */
	const char *state_dir;
	/* The frontends' device directory type (device/<fe_type>/), default
	 * "vbd": Linux's xen-blkfront and pvkit's userspace blkfront bind
	 * vbd; a guest driver of its own binds another (pvkit-blkfront in
	 * guest-kernel-patches/ binds "pvkvbd"). */
	const char *fe_type;
};

/*
 * Create a backend acting as the domain of @hv (which it does not own):
 * set the xenstore watches and serve the devices already present.  @cfg
 * may be NULL for the defaults.  Returns 0 or -errno.
 */
int pvk_blkback_create(struct pvk_blkback **bb, struct pvk_hv *hv,
		       const struct pvk_blkback_config *cfg);
/* The same as a driver on an existing backend bus (pvkit/xenbus.h) that
 * may host other drivers (pvkit-backd: vbd and vif on one watch fd); the
 * bus's log callback is used, cfg->log is not.  Then pvk_blkback_fd,
 * _handle_events, _shutdown and _handover act on the whole bus.
 * pvk_blkback_destroy() unregisters the driver and leaves the bus. */
int pvk_blkback_create_on(struct pvk_blkback **bb, struct pvk_xenbus_bus *bus,
			  const struct pvk_blkback_config *cfg);

/* The fd that polls readable when xenstore events are queued; call
 * pvk_blkback_handle_events() then. */
int pvk_blkback_fd(struct pvk_blkback *bb);

/* Process every queued xenstore event; never blocks on a peer.
 * Returns 0 or -errno (a lost xenstore connection). */
int pvk_blkback_handle_events(struct pvk_blkback *bb);

/* Number of devices currently served, and how many are connected. */
int pvk_blkback_count(struct pvk_blkback *bb, int *connected);

/*
 * Stop taking requests, answer every request already taken (waiting for
 * its I/O), unmap, and close each connected device (Closing; Closed once the
 * frontend is Closed, or after @timeout_ms).  Afterwards only
 * pvk_blkback_destroy() may be called.
 */
int pvk_blkback_shutdown(struct pvk_blkback *bb, int timeout_ms);

/*
 * Stop for a restart, handing the connected rings to the next instance
 * (see Restart above): drain, push, unmap, leave them Connected with a
 * note.  A device latched broken is closed instead.  Afterwards only
 * pvk_blkback_destroy() may be called.
 */
int pvk_blkback_handover(struct pvk_blkback *bb);

/* Disconnect everything without touching xenstore (a crash-like stop for
 * tests) and free.  NULL is a no-op. */
void pvk_blkback_destroy(struct pvk_blkback *bb);

/*
 * Per-device counters and latency histograms, as text to @f.  The format
 * is line-oriented, one group of lines per device:
 *   device <fe>/<devid> <state> params=<path> mode=<r|w> queues=<n> ...
 *   counters reads=<n> writes=<n> ... errors=<n> events=<n> notifies=<n>
 *            inflight=<n> broken=<0|1> broken_events=<n>
 *            (events: event-channel notifications taken; notifies: sent)
 *   latency <kind> unit=us count=<n> p50<=<us> p90<=<us> p99<=<us>
 *           p99.9<=<us> <lo>-<hi>us:<count> ...       (one line)
 * Latency is the backend's share of a request: from taking it off the ring
 * to putting its response there (mapping, I/O, unmapping), in
 * microseconds, for each <kind> that completed requests: read, write, and
 * flush (flushes, barriers and discards).  Buckets are [lo, hi), four per
 * power of two (each at most 25% wide), only non-empty ones listed; a
 * percentile is the upper bound of the bucket that holds it.  Counters
 * accumulate over reconnections of the device, from its probe.
 */
int pvk_blkback_stats(struct pvk_blkback *bb, FILE *f);

/*
 * Image formats pvkit does not serve.  pvkit's backend serves raw images
 * (files and block devices) only; an image whose first bytes are another
 * format's header -- qcow2, qcow, QED, VMDK, VDI, VHDX, dynamic VHD,
 * LUKS -- would be served as raw without a word.  Returns that format's
 * name for the first @len bytes of an image (4096 suffice), or NULL.
 * Inline so that the CLI checks without linking the backend.
 *
 * A guest can write any of these headers into its own raw disk, so a
 * backend must not refuse a disk for them (that would be the guest's
 * denial of its own service after a restart), only say so: `pvkit disk
 * attach` refuses unless given --format raw, pvkit-backd logs a warning.
 */
static inline const char *pvk_blkback_image_format(const void *head, size_t len)
{
	static const struct {
		unsigned int off, len;
		const char *magic, *name;
	} fmt[] = {
		{ 0, 4, "QFI\xfb", "qcow2 (or qcow)" },
		{ 0, 4, "QED\0", "QED" },
		{ 0, 4, "KDMV", "VMDK" },
		{ 0, 21, "# Disk DescriptorFile", "VMDK (descriptor)" },
		{ 64, 4, "\x7f\x10\xda\xbe", "VDI" },
		{ 0, 8, "vhdxfile", "VHDX" },
		{ 0, 8, "conectix", "VHD (dynamic)" },
		{ 0, 6, "LUKS\xba\xbe", "LUKS" },
	};
	const unsigned char *b = (const unsigned char *)head;
	size_t i;

	for (i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++)
		if (fmt[i].off + fmt[i].len <= len &&
		    !memcmp(b + fmt[i].off, fmt[i].magic, fmt[i].len))
			return fmt[i].name;
	return NULL;
}

/*
 * Where pvkit-backd listens for `pvkit stats show`: $PVKIT_BACKD_SOCK,
 * else <$PVKIT_SIM_DIR or /run/pvkit-sim>/pvkit-backd.sock on the
 * simulator (@sim), /run/pvkit/pvkit-backd.sock on Xen.  Inline so that
 * the CLI finds the daemon without linking the backend.  Returns 0 or
 * -ENAMETOOLONG.
 */
static inline int pvk_blkback_control_path(char *buf, size_t len, bool sim)
{
	const char *p = getenv("PVKIT_BACKD_SOCK"), *dir;
	int n;

	if (p && *p) {
		n = snprintf(buf, len, "%s", p);
	} else if (sim) {
		dir = getenv("PVKIT_SIM_DIR");
		n = snprintf(buf, len, "%s/pvkit-backd.sock",
			     dir && *dir ? dir : "/run/pvkit-sim");
	} else {
		n = snprintf(buf, len, "/run/pvkit/pvkit-backd.sock");
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_BLKBACK_H */
