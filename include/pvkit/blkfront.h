/* SPDX-License-Identifier: MIT */
/*
 * pvkit/blkfront.h -- the block-device frontend (libpvkit-front): a Xen
 * virtual block device (vbd) opened from inside a guest domain, with a
 * synchronous and an asynchronous I/O interface.
 *
 * Protocol: Xen's io/blkif.h (pvkit/blkif.h is the wire format).  The
 * frontend negotiates, with whatever the backend offers:
 *   max-ring-page-order        rings of up to 2^4 pages (ring-page-order,
 *                              ring-ref%u; a one-page ring uses ring-ref)
 *   multi-queue-max-queues     up to 4 rings (multi-queue-num-queues,
 *                              queue-N/{ring-ref*,event-channel})
 *   feature-max-indirect-segments   requests of more than 11 segments
 *   feature-persistent         a pool of pages granted once and reused
 *   feature-flush-cache, feature-barrier, feature-discard (+ granularity,
 *   alignment, secure), sector-size, physical-sector-size, sectors, info
 * and works against a backend offering none of the optional features.
 *
 * Data path.  Only granted pages can be shared with the backend, so data
 * moves through bounce pages: a write is copied into granted pages when
 * it is put on a ring, a read is copied out when its response arrives.
 * An I/O of any size is split into ring requests of at most
 * info.max_segments pages; the frontend keeps a private shadow of every
 * request on a ring, and only the shadow index (plus a generation count
 * in the upper 32 bits) crosses the ring as the request id.
 *
 * Grants.  Bounce pages come from a pool granted (writable) to the
 * backend domain in chunks and reused, in both modes:
 *  - feature-persistent negotiated: the backend maps each page once and
 *    keeps it mapped (blkif.h "feature-persistent");
 *  - not negotiated: the backend maps and unmaps the pages of every
 *    request, as without persistent grants on Xen; the pages simply stay
 *    granted between requests.  That is safe, and what Xen's semantics
 *    ask of a frontend: a grant exposes the page, not the guest.  Linux
 *    ends access after each request because its pages are the I/O's own
 *    memory, soon reused for anything; ours are dedicated bounce pages
 *    that only ever hold data this same backend has been given, or will
 *    overwrite with a read, so leaving them granted exposes nothing new.
 *    It saves a grant allocation and release (ioctls, mmap and munmap on
 *    the grant device) per request.
 * PVK_BLKFRONT_GRANT_PER_REQUEST restores the Linux behaviour: fresh
 * grants for each request (read-only for writes), access ended when it
 * completes (ignored when feature-persistent is negotiated).
 * A page the backend still maps when we release it cannot be taken back.
 * On xen (gntalloc, and the simulator) pvk_hv_grant_free() defers that by
 * itself; where it reports -EBUSY (loop), the frontend keeps the pages
 * aside -- never reused -- and retries as I/O completes.  At close it
 * waits for the backend to reach Closed (at most 2 s) and logs how many
 * pages it had to leave granted; the pvk_hv handle ends access to them
 * when it is closed.  stats.grants_busy counts such pages.
 *
 * Sector units.  Xen's blkif.h says "sectors", sector_number and
 * first/last_sect are in units of "sector-size" -- but only when the
 * frontend writes feature-large-sector-size = 1; Linux's blkback and
 * blkfront never do, and use 512-byte units throughout whatever the
 * sector size, and QEMU without that node insists on 512-byte sectors.
 * pvkit follows Linux by default: every sector quantity on the wire and
 * "sectors" are 512-byte units, and "sector-size" only sets the I/O
 * alignment.  PVK_BLKFRONT_LARGE_SECTORS writes
 * feature-large-sector-size = 1 and uses "sector-size" units everywhere
 * (for backends that follow blkif.h, e.g. QEMU's xen-block); against a
 * Linux blkback with a 4 KiB-sector disk that would be wrong, hence not
 * the default.  info.sectors is always in units of info.sector_size.
 *
 * Discard.  A discard is a hint: its range is trimmed to whole
 * discard-granularity blocks (which start discard-alignment bytes into
 * the disk), and one with no whole block left completes at once, with no
 * request.  A secure discard (PVK_BLKFRONT_SECURE_DISCARD, needs
 * discard-secure) must erase every byte asked and is sent untrimmed.
 *
 * Hostile backend.  Responses are copied once and validated: an id out of
 * range, of another generation, or not in flight (a duplicate), an
 * operation that does not match the request (for an indirect request the
 * inner READ/WRITE is accepted too, as Linux's blkback answers that
 * way), a producer index ahead of the requests we published.  Any
 * violation latches the device broken: one log line on stderr naming the
 * reason, every outstanding and later I/O fails with -EIO.  A response
 * status other than BLKIF_RSP_OKAY fails that I/O only (-EIO, or
 * -EOPNOTSUPP).  Backend xenstore nodes are read once per connection:
 * limits (max-ring-page-order, multi-queue-max-queues,
 * feature-max-indirect-segments, max-ring-pages) are clamped to what the
 * frontend supports, whatever their size; a node that is not a decimal
 * number, a boolean other than 0/1, or an impossible geometry (sectors
 * 0, or a disk above 2^63 bytes or not a whole number of sectors;
 * sector-size not a power of two in 512..4096; physical-sector-size not
 * a power-of-two multiple of it) fails pvk_blkfront_open()
 * with -EPROTO, or latches a connected device broken on reconnect, with
 * one log line naming the node.  Bad discard parameters only disable
 * discard (logged).
 *
 * Reconnect.  If the backend leaves Connected (pvkit-backd restarts and
 * writes InitWait again, or the device goes Closing -> Closed ->
 * InitWait), the rings are torn down but every I/O not yet completed is
 * kept; once the backend is Connected again the I/O is split afresh with
 * the newly negotiated parameters and re-issued, once.  A write is
 * reported complete only after the backend answered it, so no completed
 * write is lost by a reconnect (durability across a backend crash is
 * what a completed flush guarantees) and no request hangs.  The sector
 * size may not change across a reconnect (the device is latched broken);
 * if the disk shrank, I/O beyond its new end fails with -EIO.  If the
 * device is removed (the frontend or backend directory disappears),
 * outstanding I/O fails with -ENODEV.
 *
 * Threading: a struct pvk_blkfront is driven by one thread at a time --
 * whichever calls it; the library starts no threads.  That one thread
 * drives all of the device's queues: multi-queue here spreads requests
 * over several rings so that the backend can serve them in parallel
 * (pvkit-backd runs a thread per ring), not to spread the frontend's own
 * work over CPUs; one thread keeps the shadow tables, the io lists and
 * the grant pool free of locks.  The handle consumes the
 * xenstore watch queue of the pvk_hv handle it was opened on (events
 * carrying other tokens are dropped): give each device its own handle
 * when one process drives several, and drive each from its own thread if
 * they should run in parallel.
 *
 * Errors are -errno: -EINVAL (misaligned or out-of-range arguments),
 * -EROFS (write/discard to a read-only disk), -EOPNOTSUPP (flush or
 * discard the backend did not offer), -EAGAIN (queue full: reap first),
 * -EIO (backend error or broken device), -ENODEV (device removed),
 * -ETIMEDOUT.
 */
#ifndef PVKIT_BLKFRONT_H
#define PVKIT_BLKFRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <pvkit/hv.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pvk_blkfront;

/* Most the frontend asks for; the backend may offer less. */
#define PVK_BLKFRONT_MAX_RING_ORDER 4
#define PVK_BLKFRONT_MAX_QUEUES 4
#define PVK_BLKFRONT_MAX_INDIRECT_SEGS 256
#define PVK_BLKFRONT_DEFAULT_INDIRECT_SEGS 64
#define PVK_BLKFRONT_MAX_QUEUE_DEPTH 1024
#define PVK_BLKFRONT_MAX_POLL_US 1000

/* pvk_blkfront_opts.flags */
#define PVK_BLKFRONT_NO_PERSISTENT (1u << 0) /* do not offer persistent */
#define PVK_BLKFRONT_NO_INDIRECT (1u << 1) /* never use indirect requests */
#define PVK_BLKFRONT_NO_MULTI_PAGE (1u << 2) /* one-page rings */
#define PVK_BLKFRONT_NO_MULTI_QUEUE (1u << 3) /* one ring */
/* End grant access after every request (see "Grants" above). */
#define PVK_BLKFRONT_GRANT_PER_REQUEST (1u << 4)
/* Write feature-large-sector-size = 1 (see "Sector units" above). */
#define PVK_BLKFRONT_LARGE_SECTORS (1u << 5)
#define PVK_BLKFRONT_VALID_FLAGS (0x3fu)

/*
 * Open options; a NULL pointer or a zero field means the default.
 * max_ring_order: 0..4, default 4 (the largest, capped by the backend's
 *   max-ring-page-order; use PVK_BLKFRONT_NO_MULTI_PAGE for one page).
 * max_queues: 1..4, default one per online CPU up to 4 (capped by
 *   multi-queue-max-queues).
 * max_indirect_segs: 12..256, default 64 (capped by the backend's
 *   feature-max-indirect-segments).
 * queue_depth: 1..1024 I/Os in flight through the async interface,
 *   default 128.
 * connect_timeout_ms: how long pvk_blkfront_open() waits for the backend
 *   to connect; default 10000, -1 forever.
 * poll_us: before sleeping for a completion, poll the rings for up to
 *   this many microseconds (0..1000, default 0 = never), yielding the CPU
 *   between looks; the window adapts as KVM's halt polling does (see
 *   struct pvk_spin in spin.h): it shrinks to nothing while the backend is
 *   idle, and it only polls with at most PVK_SPIN_MAX_INFLIGHT requests
 *   in flight.  Saves the event-channel wake-ups of an I/O at low queue
 *   depth (the backend's notification still comes, but finds nobody
 *   asleep to wake) at the cost of CPU; pair it with pvkit-backd
 *   --poll-us.
 */
struct pvk_blkfront_opts {
	unsigned int flags;
	unsigned int max_ring_order;
	unsigned int max_queues;
	unsigned int max_indirect_segs;
	unsigned int queue_depth;
	int connect_timeout_ms;
	unsigned int poll_us;
	/* Where log lines go (one line, no newline), as in every pvkit
	 * driver; default stderr, prefixed "blkfront <vdev>: ". */
	void (*log)(void *log_arg, const char *line);
	void *log_arg;
};

/* What was negotiated; valid while connected (see pvk_blkfront_info()). */
struct pvk_blkfront_info {
	uint32_t devid; /* virtual-device number (51712 = xvda) */
	uint32_t backend_id;
	uint64_t sectors; /* in units of sector_size */
	uint64_t size_bytes;
	uint32_t sector_size; /* logical block size, bytes */
	uint32_t physical_sector_size;
	uint32_t vdisk_info; /* "info": PVK_VDISK_* bits */
	bool read_only;
	/* transport */
	uint32_t ring_order; /* pages per ring = 1 << ring_order */
	uint32_t ring_entries; /* requests per ring */
	uint32_t nr_queues;
	uint32_t max_segments; /* per ring request: 11, or indirect max */
	uint32_t max_indirect_segs; /* 0: indirect not in use */
	bool persistent;
	/* operations */
	bool flush; /* feature-flush-cache */
	bool barrier; /* feature-barrier */
	bool discard;
	bool discard_secure;
	uint32_t discard_granularity; /* bytes */
	uint32_t discard_alignment; /* bytes, < discard_granularity */
	uint32_t connects; /* times connected: 1, plus one per reconnect */
	bool large_sectors; /* wire sector unit is sector_size, not 512 */
	bool grant_pool; /* bounce pages stay granted between requests */
};

/*
 * Virtual-device names: "xvda".."xvdz", "xvdaa".., "hda", "sda", or a
 * decimal devid ("51712"), to the devid Xen uses as the device's xenstore
 * name (docs/misc/vbd-interface.txt).  Returns the devid (>= 0) or
 * -EINVAL.  pvk_blkfront_devid_name() writes the name back for a whole
 * disk ("xvda", "hdb", "sdc"; a partition's or an unknown devid as its
 * number).
 */
int pvk_blkfront_vdev_to_devid(const char *vdev);
int pvk_blkfront_devid_name(uint32_t devid, char *buf, size_t len);

/*
 * Open the vbd @vdev of the domain @hv acts as (its
 * device/vbd/<devid>), negotiate with its backend and wait until it is
 * Connected.  Returns 0 with *@bf set, or -ENOENT (no such device),
 * -ETIMEDOUT, -EPROTO (malformed backend nodes), -ENODEV, -errno.
 * @hv must stay open until pvk_blkfront_close().
 */
int pvk_blkfront_open(struct pvk_blkfront **bf, struct pvk_hv *hv,
		      const char *vdev, const struct pvk_blkfront_opts *opts);
/* Wait for outstanding I/O (up to a few seconds), switch to Closed, free
 * the rings and grants.  NULL is a no-op. */
void pvk_blkfront_close(struct pvk_blkfront *bf);

/* Copy of the negotiated parameters. */
void pvk_blkfront_info(const struct pvk_blkfront *bf,
		       struct pvk_blkfront_info *info);
uint64_t pvk_blkfront_size(const struct pvk_blkfront *bf);
uint32_t pvk_blkfront_sector_size(const struct pvk_blkfront *bf);
bool pvk_blkfront_read_only(const struct pvk_blkfront *bf);
/* NULL, or why the device was latched broken. */
const char *pvk_blkfront_broken_reason(const struct pvk_blkfront *bf);

/*
 * Synchronous I/O.  @off and @len must be multiples of the sector size
 * and inside the disk.  Return @len, or -errno.  Blocks across a backend
 * reconnect.
 */
ssize_t pvk_blkfront_pread(struct pvk_blkfront *bf, void *buf, size_t len,
			   uint64_t off);
ssize_t pvk_blkfront_pwrite(struct pvk_blkfront *bf, const void *buf,
			    size_t len, uint64_t off);
/* Durable: returns 0 once every write completed before it is on stable
 * storage (BLKIF_OP_FLUSH_DISKCACHE, else WRITE_BARRIER with no data).
 * -EOPNOTSUPP if the backend offers neither. */
int pvk_blkfront_flush(struct pvk_blkfront *bf);
/* Discard @len bytes at @off (sector-aligned), trimmed to whole
 * discard-granularity blocks; -EOPNOTSUPP without feature-discard. */
int pvk_blkfront_discard(struct pvk_blkfront *bf, uint64_t off, uint64_t len);

/*
 * Asynchronous I/O.  The caller owns each struct pvk_blkfront_io and its
 * buffer until the io is returned by pvk_blkfront_reap(); it must not
 * touch them meanwhile.  At most opts.queue_depth ios are in flight.
 */
enum pvk_blkfront_op {
	PVK_BLKFRONT_READ = 0,
	PVK_BLKFRONT_WRITE = 1,
	PVK_BLKFRONT_FLUSH = 2,
	PVK_BLKFRONT_DISCARD = 3, /* trimmed to discard-granularity */
	PVK_BLKFRONT_SECURE_DISCARD = 4, /* untrimmed; needs discard-secure */
};

struct pvk_blkfront_io {
	/* in */
	uint8_t op; /* enum pvk_blkfront_op */
	uint64_t offset; /* bytes, sector-aligned */
	uint64_t len; /* bytes, sector-aligned; 0 for FLUSH */
	void *buf; /* READ/WRITE data */
	void *user; /* the caller's */
	/* out */
	int result; /* 0 or -errno */
	/* private to the frontend */
	struct pvk_blkfront_io *next_, *prev_;
	uint64_t cursor_; /* bytes split off into ring requests so far */
	uint32_t frags_; /* ring requests in flight */
	uint32_t flags_;
	uint64_t seq_; /* submission order */
};

/* Queue @io.  0: accepted, the result comes from pvk_blkfront_reap().
 * -EAGAIN: queue_depth ios in flight.  -EINVAL, -EROFS, -EOPNOTSUPP,
 * -EIO, -ENODEV: rejected at once (the io is not queued). */
int pvk_blkfront_submit(struct pvk_blkfront *bf, struct pvk_blkfront_io *io);
/* Put every accepted io on the rings and notify the backend.  submit()
 * defers the notification, so a batch of submits costs one kick; reap()
 * flushes too. */
int pvk_blkfront_kick(struct pvk_blkfront *bf);
/*
 * Collect up to @max completed ios into @done, waiting up to @timeout_ms
 * (0: do not wait, -1: forever) for at least @min_complete of them
 * (0 < min_complete <= max).  Returns the number collected (>= 0; fewer
 * than min_complete on timeout), or -errno if nothing can ever complete
 * (nothing in flight: -ENOENT).  With @timeout_ms 0 it first takes what
 * pvk_blkfront_fd() polls readable for, in flight or not: event-channel
 * notifications, and xenstore changes (a backend state change, a resize,
 * a reconnect, removal are acted on).  Before returning it puts the ios
 * that waited for ring space or pages on the rings (see kick()).
 */
int pvk_blkfront_reap(struct pvk_blkfront *bf, struct pvk_blkfront_io **done,
		      unsigned int min_complete, unsigned int max,
		      int timeout_ms);
/* ios submitted and not yet reaped. */
unsigned int pvk_blkfront_in_flight(const struct pvk_blkfront *bf);
/* A descriptor that polls readable when pvk_blkfront_reap(..., 0) may
 * have work: backend events and xenstore changes.  reap(..., 0) takes
 * them, so it stops polling readable until something new comes; an
 * event loop polls it, then calls reap(..., 0) (which may find no
 * completion: 0, or -ENOENT with nothing in flight), and polls again. */
int pvk_blkfront_fd(const struct pvk_blkfront *bf);

/* Counters, for `pvkit stats` and tests. */
struct pvk_blkfront_stats {
	uint64_t ios, ring_requests, indirect_requests;
	uint64_t bytes_read, bytes_written;
	uint64_t notifies, events;
	uint64_t reissued; /* ios re-issued after a reconnect */
	uint64_t errors;
	uint64_t grant_allocs; /* pvk_hv_grant_alloc calls */
	uint64_t grants_busy; /* pages released but still mapped by the
			       * backend: kept, retried, never reused */
	uint64_t discards_skipped; /* discards with no whole block: no request */
};
void pvk_blkfront_stats(const struct pvk_blkfront *bf,
			struct pvk_blkfront_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_BLKFRONT_H */
