/* SPDX-License-Identifier: MIT */
/*
 * hv_impl.h -- private: the operations table behind struct pvk_hv.
 *
 * hv.c owns the public entry points: it checks arguments once (NULL,
 * domid range, counts, path and value lengths) and then calls the
 * implementation's op, so an implementation may assume sane arguments.
 * Implementations return >= 0 or -errno, never -1/errno, and never print.
 *
 * An implementation embeds struct pvk_hv (and struct pvk_evtchn) as the
 * first member of its own handle types.
 */
#ifndef PVK_HYPERCALL_HV_IMPL_H
#define PVK_HYPERCALL_HV_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <pvkit/dm.h>
#include <pvkit/hv.h>

/* Longest xenstore path and value accepted (xs_wire.h: XENSTORE_ABS_PATH_MAX
 * and XENSTORE_PAYLOAD_MAX). */
#define PVK_XS_PATH_MAX 3072u
#define PVK_XS_VALUE_MAX 4096u
/* Largest grant batch one call may map, share or copy. */
#define PVK_HV_GRANT_BATCH_MAX 1024u

struct pvk_hv_ops {
	const char *name;
	void (*close)(struct pvk_hv *hv);

	int (*grant_alloc)(struct pvk_hv *hv, uint32_t peer, uint32_t count,
			   bool writable, uint32_t *refs, void **addr);
	int (*grant_free)(struct pvk_hv *hv, void *addr, uint32_t count);
	int (*grant_map)(struct pvk_hv *hv, uint32_t granter, uint32_t count,
			 const uint32_t *refs, bool writable, void **addr);
	int (*grant_unmap)(struct pvk_hv *hv, void *addr, uint32_t count);
	int (*grant_copy)(struct pvk_hv *hv, struct pvk_grant_copy *segs,
			  uint32_t count);

	int (*evtchn_open)(struct pvk_hv *hv, struct pvk_evtchn **ev);
	void (*evtchn_close)(struct pvk_evtchn *ev);
	int (*evtchn_fd)(struct pvk_evtchn *ev);
	int (*evtchn_alloc_unbound)(struct pvk_evtchn *ev, uint32_t remote);
	int (*evtchn_bind)(struct pvk_evtchn *ev, uint32_t remote,
			   uint32_t remote_port);
	int (*evtchn_notify)(struct pvk_evtchn *ev, uint32_t port);
	int (*evtchn_pending)(struct pvk_evtchn *ev);
	int (*evtchn_unmask)(struct pvk_evtchn *ev, uint32_t port);
	int (*evtchn_unbind)(struct pvk_evtchn *ev, uint32_t port);

	int (*xs_read)(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path,
		       char **val);
	int (*xs_write)(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path,
			const char *val, size_t len);
	int (*xs_mkdir)(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path);
	int (*xs_rm)(struct pvk_hv *hv, pvk_xs_txn_t txn, const char *path);
	int (*xs_directory)(struct pvk_hv *hv, pvk_xs_txn_t txn,
			    const char *path, char ***names);
	int (*xs_set_perms)(struct pvk_hv *hv, pvk_xs_txn_t txn,
			    const char *path, const struct pvk_xs_perm *perms,
			    uint32_t count);
	/* Start a transaction (*txn != 0), end it (commit unless @abort);
	 * a commit conflict is -EAGAIN. */
	int (*xs_txn_start)(struct pvk_hv *hv, pvk_xs_txn_t *txn);
	int (*xs_txn_end)(struct pvk_hv *hv, pvk_xs_txn_t txn, bool abort);
	int (*xs_watch)(struct pvk_hv *hv, const char *path, const char *token);
	int (*xs_unwatch)(struct pvk_hv *hv, const char *path,
			  const char *token);
	int (*xs_watch_fd)(struct pvk_hv *hv);
	int (*xs_read_watch)(struct pvk_hv *hv, char **path, char **token);

	int (*domain_info)(struct pvk_hv *hv, uint32_t domid,
			   struct pvk_domain_info *info);

	/* pvkit/dm.h; NULL where the hypervisor has none (-EOPNOTSUPP). */
	int (*dm_server_create)(struct pvk_hv *hv, uint32_t domid,
				unsigned int flags, pvk_ioservid_t *id);
	int (*dm_server_map)(struct pvk_hv *hv, uint32_t domid,
			     pvk_ioservid_t id, struct pvk_dm_server *s);
	void (*dm_server_unmap)(struct pvk_hv *hv, struct pvk_dm_server *s);
	int (*dm_range)(struct pvk_hv *hv, uint32_t domid, pvk_ioservid_t id,
			enum pvk_dm_space space, uint64_t start, uint64_t end,
			bool map);
	int (*dm_server_enable)(struct pvk_hv *hv, uint32_t domid,
				pvk_ioservid_t id, bool enabled);
	int (*dm_server_destroy)(struct pvk_hv *hv, uint32_t domid,
				 pvk_ioservid_t id);
	int (*dm_set_isa_irq)(struct pvk_hv *hv, uint32_t domid,
			      unsigned int irq, unsigned int level);
	int (*dm_foreign_map)(struct pvk_hv *hv, uint32_t domid,
			      const uint64_t *gfns, uint32_t count,
			      bool writable, void **addr);
	int (*dm_foreign_unmap)(struct pvk_hv *hv, void *addr, uint32_t count);
	int (*dm_guest_io)(struct pvk_hv *hv, unsigned int vcpu,
			   struct pvk_ioreq *req, int timeout_ms);
	int (*dm_guest_irq_fd)(struct pvk_hv *hv);
	int (*dm_guest_irqs)(struct pvk_hv *hv, uint16_t *lines);
	int (*dm_guest_memory)(struct pvk_hv *hv, void **addr, uint64_t *size);
};

struct pvk_hv {
	const struct pvk_hv_ops *ops;
	uint32_t domid;
	const char *backend; /* "xen", "sim", "loop" */
	/* Fault injection (hv.c): calls counted per handle, per fault,
	 * since the setting of generation fault_gen.  Not thread-safe: a
	 * count off by one under a race is harmless here. */
	uint64_t fault_calls[PVK_HV_FAULT_COUNT];
	uint32_t fault_gen[PVK_HV_FAULT_COUNT];
};

struct pvk_evtchn {
	struct pvk_hv *hv;
	/* a copy: an event-channel handle may outlive its pvk_hv */
	const struct pvk_hv_ops *ops;
	uint64_t fault_calls; /* PVK_HV_FAULT_EVTCHN_ALLOC, as in pvk_hv */
	uint32_t fault_gen;
};

struct pvk_xenlib;

/* hypercall/xen.c: a handle on the xen implementation over @lib, whose
 * prepare() has succeeded. */
int pvk_hv_xen_open(struct pvk_hv **hv, const struct pvk_xenlib *lib);

/* Read PVKIT_FAULTS once per process (hv.c; every open calls it). */
void pvk_hv_fault_env(void);

/* Validation shared by the implementations (hv.c). */
/* 0 if @path is a well-formed xenstore path (absolute or relative, or a
 * special "@..." node when @special), else -EINVAL / -E2BIG. */
int pvk_xs_path_check(const char *path, bool special);

#endif /* PVK_HYPERCALL_HV_IMPL_H */
