/* SPDX-License-Identifier: MIT */
/*
 * pvkit/hv.h -- the hypervisor interface (libpvkit-hv): grant tables,
 * event channels, xenstore and domain information, behind one handle.
 *
 * Implementations, chosen by pvk_hv_open():
 *   xen   the libxen* libraries (libxenevtchn, libxengnttab/gntshr,
 *         libxenstore, libxenctrl).  On a Xen host they reach the /dev/xen devices;
 *         on a plain Linux host the same code reaches pvkit-simd, the
 *         simulated hypervisor, through pvkit's libxen-compatible layer.
 *         pvk_hv_backend() reports "xen" or "sim" accordingly.
 *   loop  in-process and deterministic: domains are handles of one process
 *         sharing a struct pvk_loop.  For unit tests and fuzzing.
 *
 * Conventions: functions return >= 0 on success and -errno on failure;
 * nothing here prints.  Every close/free accepts NULL.  Domain ids are
 * uint32_t (Xen's are 16-bit; values above 0x7FEF are rejected with
 * -EINVAL).  Grant references and event-channel ports are uint32_t.
 *
 * Handles are not shared across fork(): open new ones in the child.
 * A handle may be used by several threads, except that one event-channel
 * handle (struct pvk_evtchn) belongs to one thread at a time, as a
 * libxenevtchn handle does.  An event-channel handle may outlive the
 * pvk_hv it was opened from.
 *
 * Where the implementations can differ, the difference is stated below as
 * "loop:" (the in-process hypervisor) and "xen:" (libxen on Xen; the
 * simulator follows Xen).
 */
#ifndef PVKIT_HV_H
#define PVKIT_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pvk_hv;
struct pvk_evtchn;
struct pvk_loop;

#define PVK_DOMID_SELF 0x7FF0u /* DOMID_SELF */
#define PVK_DOMID_MAX 0x7FEFu /* largest ordinary domid */

/* pvk_hv_open() flags.  With none, detect (see pvk_hv_open). */
#define PVK_HV_XEN (1u << 0) /* libxen*: real Xen or the simulator */
#define PVK_HV_OPEN_VALID_FLAGS (PVK_HV_XEN)

/*
 * Open a handle on the hypervisor this process runs on.
 *
 * Detection without flags (and with PVK_HV_XEN, which only forbids the
 * fallback):
 *   1. real Xen: /sys/hypervisor/type reads "xen" AND a real operation
 *      succeeds (an unbound event channel is allocated and closed).  A
 *      /dev/xen node alone proves nothing: in containers it opens and every
 *      ioctl fails with ENOTTY.
 *   2. the simulator: $PVKIT_SIM_DIR (default /run/pvkit-sim) holds a live
 *      pvkit-simd socket.  This process joins the domain named by
 *      $PVKIT_DOMID (set by `pvkit domain create`), or domain 0.
 *   3. otherwise -ENODEV; the caller should say: "no Xen and no simulator:
 *      run `pvkit sim start` first".
 * A simulator that is running but refuses this process fails with its
 * reason instead (pvk_sim_open() in pvkit/sim.h: -EACCES for a wrong
 * $PVKIT_DOMID, -EPERM for another user's simulator, ...).
 * Unknown flag bits: -EINVAL.
 */
int pvk_hv_open(struct pvk_hv **hv, unsigned int flags);
/* Open a handle as domain @domid of the in-process hypervisor @loop. */
int pvk_hv_open_loop(struct pvk_hv **hv, struct pvk_loop *loop, uint32_t domid);
void pvk_hv_close(struct pvk_hv *hv);

/* "xen", "sim" or "loop". */
const char *pvk_hv_backend(const struct pvk_hv *hv);
/* The domain this handle acts as. */
uint32_t pvk_hv_domid(const struct pvk_hv *hv);

/*
 * Grant tables (Xen v1 semantics).
 *
 * Granter side.  pvk_hv_grant_alloc() allocates @count zeroed pages,
 * grants each to @peer (read-only unless @writable), stores the grant
 * references in @refs[@count] and the pages' address in *@addr (contiguous,
 * page-aligned).  pvk_hv_grant_free() ends access and frees them; if the
 * peer still has a page mapped, access cannot be ended: it returns -EBUSY
 * and the pages stay granted (call again after the peer unmaps); that is
 * loop's behaviour.  xen (real, or the simulator, which follows Linux's
 * gntalloc): pvk_hv_grant_free() returns 0, and a page still mapped by
 * the peer stays granted, its entry in use, until the peer unmaps it.
 * Closing the pvk_hv ends access to its grants the same way (deferred
 * while mapped).  Grant references 0-7 are never handed out (Xen reserves
 * them for the toolstack).  At most 1024 pages per call.
 */
int pvk_hv_grant_alloc(struct pvk_hv *hv, uint32_t peer, uint32_t count,
		       bool writable, uint32_t *refs, void **addr);
int pvk_hv_grant_free(struct pvk_hv *hv, void *addr, uint32_t count);

/*
 * Grantee side.  Map @count grants of domain @granter, contiguously, into
 * *@addr.  Fails as a whole with -EINVAL (bad ref or a grant to another
 * domain), -EACCES (@writable and the grant is read-only), -ENOENT
 * (@granter does not exist); xen: the error is gntdev's.  Mappings
 * survive the granter's death, as on Xen.  pvk_hv_grant_unmap() takes the
 * address and count returned (-EINVAL for anything else).  At most 1024
 * grants per call.
 */
int pvk_hv_grant_map(struct pvk_hv *hv, uint32_t granter, uint32_t count,
		     const uint32_t *refs, bool writable, void **addr);
int pvk_hv_grant_unmap(struct pvk_hv *hv, void *addr, uint32_t count);

/* Grant copy: one segment, like xengnttab_grant_copy_segment_t.  A side
 * with is_gref set names (domid, ref, offset); otherwise (virt) local
 * memory.  offset + len must stay within one 4096-byte page. */
struct pvk_grant_copy {
	struct {
		bool is_gref;
		uint32_t domid;
		uint32_t ref;
		uint16_t offset;
		void *virt;
	} src, dst;
	uint16_t len;
	int16_t status; /* out: 0, or a negative GNTST_* value */
};
/* The GNTST_* values a copy segment may report (xen/grant_table.h). */
#define PVK_GNTST_OKAY 0
#define PVK_GNTST_GENERAL_ERROR (-1)
#define PVK_GNTST_BAD_DOMAIN (-2)
#define PVK_GNTST_BAD_GNTREF (-3)
#define PVK_GNTST_PERMISSION_DENIED (-8)
#define PVK_GNTST_BAD_COPY_ARG (-10)
/* Returns 0 if the batch was issued (check each status), or -errno. */
int pvk_hv_grant_copy(struct pvk_hv *hv, struct pvk_grant_copy *segs,
		      uint32_t count);

/*
 * Event channels (libxenevtchn semantics).  One handle = one fd that
 * polls readable while a port bound through it is pending.  After
 * pvk_evtchn_pending() returns a port, that port is masked until
 * pvk_evtchn_unmask().  Notifications coalesce: several notifies before
 * the receiver looks count as one.  When the peer end closes (or its
 * domain dies) our port becomes unbound and notifies on it are silently
 * dropped, as on Xen; watch xenstore to learn the peer went away.
 * Port 0 is never a valid port.  Binding needs a port the remote
 * allocated unbound for us (-EINVAL), in an existing domain (-ESRCH).
 * loop: notify/unmask/unbind of a port not bound through this handle is
 * -EINVAL.
 */
int pvk_evtchn_open(struct pvk_hv *hv, struct pvk_evtchn **ev);
void pvk_evtchn_close(struct pvk_evtchn *ev);
int pvk_evtchn_fd(struct pvk_evtchn *ev);
/* Allocate a port that @remote may bind to; returns the port (>= 0). */
int pvk_evtchn_alloc_unbound(struct pvk_evtchn *ev, uint32_t remote);
/* Bind to @remote's unbound port @remote_port; returns our port (>= 0). */
int pvk_evtchn_bind(struct pvk_evtchn *ev, uint32_t remote,
		    uint32_t remote_port);
int pvk_evtchn_notify(struct pvk_evtchn *ev, uint32_t port);
/* Next pending port (>= 0), or -EAGAIN if none; never blocks. */
int pvk_evtchn_pending(struct pvk_evtchn *ev);
int pvk_evtchn_unmask(struct pvk_evtchn *ev, uint32_t port);
int pvk_evtchn_unbind(struct pvk_evtchn *ev, uint32_t port);
/* Block until a port is pending or @timeout_ms passes (-1: forever).
 * Returns the port (>= 0), -ETIMEDOUT, or -errno. */
int pvk_evtchn_wait(struct pvk_evtchn *ev, int timeout_ms);

/* Polling before blocking on an event channel: pvkit/spin.h. */
#include <pvkit/spin.h>

/*
 * xenstore.  Paths are absolute or relative to the domain's home
 * (/local/domain/<domid>).  @txn is 0 (PVK_XS_NO_TXN) or a transaction
 * handed to a pvk_xs_transaction() callback.  Values are returned
 * NUL-terminated in malloc'ed memory the caller frees.  Errors are
 * xenstored's, as -errno: -ENOENT, -EACCES, -EINVAL (also for a malformed
 * path: characters outside [A-Za-z0-9-/_@], "//", a trailing '/'), -ENOSPC
 * (a quota: xenstored's per-domain node, watch and transaction limits;
 * loop applies 1000 nodes, 128 watches, 10 transactions), -EAGAIN
 * (transaction conflict), -E2BIG (a value over 4096 bytes), -EEXIST (a
 * watch registered twice), -EPERM (a guest giving its node to another
 * owner).  Relative paths name nodes under the domain's home; a node
 * created by a guest is owned by it and inherits its parent's other
 * permissions; removal is recursive, and removing a missing node whose
 * parent exists succeeds.
 */
typedef uint32_t pvk_xs_txn_t;
#define PVK_XS_NO_TXN 0u

/* Returns the value's length (>= 0) and sets *@val. */
int pvk_xs_read(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path,
		char **val);
/* Read an unsigned decimal; -EINVAL if the value is not one (with no
 * sign, no trailing junk, no overflow). */
int pvk_xs_read_uint(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path,
		     unsigned long *v);
int pvk_xs_write(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path,
		 const char *val);
int pvk_xs_printf(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int pvk_xs_mkdir(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path);
int pvk_xs_rm(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path);
/* Children's names: *@names is one malloc'ed array of pointers, free it
 * with free(); returns the count. */
int pvk_xs_directory(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path,
		     char ***names);

/* Permissions, as xenstore-chmod: perms[0] is the owner and the default
 * for everyone else; 'r', 'w', 'b' (both) or 'n' (none). */
struct pvk_xs_perm {
	uint32_t domid;
	char perm; /* 'n', 'r', 'w', 'b' */
};
int pvk_xs_set_perms(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path,
		     const struct pvk_xs_perm *perms, uint32_t count);

/*
 * Run @fn inside a transaction; if committing fails with -EAGAIN (another
 * writer touched what we read), run it again, up to @max_tries times
 * (0 = default, 16), after a pause that doubles from 100 us up to 20 ms,
 * so that a storm of conflicts costs bounded CPU (about 0.17 s of waiting
 * over the 16 default tries).  @fn returns 0 to commit, < 0 to
 * abort with that error.  Returns 0, @fn's error, -EAGAIN after
 * max_tries conflicts, or -errno.
 */
int pvk_xs_transaction(struct pvk_hv *hv, unsigned int max_tries,
		       int (*fn)(struct pvk_hv *hv, pvk_xs_txn_t txn,
				 void *arg),
		       void *arg);

/*
 * Watches.  The watch fires once at registration, then on every change
 * under @path (or, when a parent is removed, with @path itself), to a
 * watcher that may read the node; a relative @path gets relative event
 * paths.  "@releaseDomain" and "@introduceDomain" fire when a domain goes
 * or comes.  pvk_xs_watch_fd() polls readable while events are queued;
 * pvk_xs_read_watch() returns 1 with *@path and *@token (malloc'ed) set,
 * or 0 if none is queued.  loop: at most 4096 events wait per handle;
 * later ones are dropped.
 */
int pvk_xs_watch(struct pvk_hv *hv, const char *path, const char *token);
int pvk_xs_unwatch(struct pvk_hv *hv, const char *path, const char *token);
int pvk_xs_watch_fd(struct pvk_hv *hv);
int pvk_xs_read_watch(struct pvk_hv *hv, char **path, char **token);

/* Domain information. */
struct pvk_domain_info {
	uint32_t domid;
	bool dying;
	bool shutdown;
};
/* 0 and *@info filled, or -ENOENT if @domid does not exist; -EPERM from
 * any domain but 0 (Xen's getdomaininfo is the control domain's).  xen: a
 * dead domain whose pages another domain still maps stays, dying, until
 * they are unmapped (loop: it is gone at once). */
int pvk_hv_domain_info(struct pvk_hv *hv, uint32_t domid,
		       struct pvk_domain_info *info);

/*
 * Fault injection, for testing what callers do when the hypervisor says
 * no.  Process-wide, over every implementation (loop, the simulator, Xen):
 * the entry points above fail one call in @every of operation @f (1:
 * every call; 0: none, the default), with the error a real hypervisor
 * gives for it, before the implementation is called:
 *   PVK_HV_FAULT_GRANT_ALLOC  -ENOSPC  the grant table is full
 *   PVK_HV_FAULT_GRANT_MAP    -ENOMEM  the grantee cannot map (gntdev
 *                                      out of slots, address space)
 *   PVK_HV_FAULT_EVTCHN_ALLOC -ENOSPC  no free event-channel port (both
 *                                      alloc_unbound and bind)
 *   PVK_HV_FAULT_XS_COMMIT    -EAGAIN  a transaction conflicts (a storm of
 *                                      other writers)
 * Counting is per operation, from the setting.  The environment variable
 * PVKIT_FAULTS=grant_alloc:N,grant_map:N,evtchn_alloc:N,xs_commit:N sets
 * them at the first pvk_hv_open*() of a process (a malformed one is
 * reported on stderr and ignored).  pvk_hv_fault_set returns 0 or
 * -EINVAL; pvk_hv_fault_hits how many calls it failed so far.
 */
enum pvk_hv_fault {
	PVK_HV_FAULT_GRANT_ALLOC,
	PVK_HV_FAULT_GRANT_MAP,
	PVK_HV_FAULT_EVTCHN_ALLOC,
	PVK_HV_FAULT_XS_COMMIT,
	PVK_HV_FAULT_COUNT
};
int pvk_hv_fault_set(enum pvk_hv_fault f, uint32_t every);
uint64_t pvk_hv_fault_hits(enum pvk_hv_fault f);

/*
 * The loop hypervisor: an in-process Xen with its own grant tables, event
 * channels (eventfds) and a xenstore with Xen's permission, watch and
 * transaction rules.  Domain 0 exists from creation.  Deterministic: no
 * threads of its own; one mutex makes it safe to drive several domains
 * from several threads.  pvk_loop_destroy() may be called with handles
 * still open: the loop is freed when the last one is closed.
 */
int pvk_loop_create(struct pvk_loop **loop);
void pvk_loop_destroy(struct pvk_loop *loop);
/* Create a domain (its /local/domain/<id> with name, owned by it). */
int pvk_loop_domain_create(struct pvk_loop *loop, const char *name,
			   uint32_t *domid);
/* Destroy: event channels closed (peers' ends become unbound), grants
 * revoked (mappings survive), its own mappings released, transactions and
 * watches dropped, xenstore subtree removed, @releaseDomain fired.  The
 * domain's handles then fail with -ESRCH, but still unmap, free and close.
 * -EINVAL for domain 0, -ENOENT if there is no such domain. */
int pvk_loop_domain_destroy(struct pvk_loop *loop, uint32_t domid);

#ifdef __cplusplus
}
#endif

#endif /* PVKIT_HV_H */
