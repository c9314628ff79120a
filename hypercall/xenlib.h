/* SPDX-License-Identifier: MIT */
/*
 * xenlib.h -- private: the libxen* entry points the `xen` implementation of
 * libpvkit-hv calls, as a table, so that one implementation (hypercall/xen.c)
 * runs on two providers:
 *
 *   pvk_xenlib_real  the real libxenevtchn/libxengnttab/libxenctrl
 *                    (hypercall/xenlib_real.c), for a Xen host;
 *   pvk_xenlib_sim   pvkit's libxen-compatible layer on pvkit-simd
 *                    (hypercall/sim/), for a plain Linux host.
 *
 * Signatures and semantics are libxen's exactly (NULL / -1 with errno on
 * failure); the sim provider exports the same functions under the libxen
 * names too (libpvkit-xensim.so, LD_PRELOADed into Xen's unmodified
 * xenstored and other stock programs).  xenstore is not in the table: both
 * providers use the real libxenstore; on the simulator it is pointed at
 * pvkit-simd's xenstored (dom0) or at the domain's xenbus ring (guests)
 * through XENSTORED_PATH, which prepare() sets.
 */
#ifndef PVK_HYPERCALL_XENLIB_H
#define PVK_HYPERCALL_XENLIB_H

#include <xenctrl.h>
#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xengnttab.h>

struct pvk_ioreq;

struct pvk_xenlib {
	const char *name; /* "xen" or "sim" */
	/* Called once before any other entry: connect, set XENSTORED_PATH.
	 * Returns 0 or -errno (-ENODEV: this provider is not available). */
	int (*prepare)(void);
	/* This process's domain id. */
	int (*self_domid)(uint32_t *domid);

	xenevtchn_handle *(*evtchn_open)(struct xentoollog_logger *,
					 unsigned int);
	int (*evtchn_close)(xenevtchn_handle *);
	int (*evtchn_fd)(xenevtchn_handle *);
	int (*evtchn_notify)(xenevtchn_handle *, evtchn_port_t);
	xenevtchn_port_or_error_t (*evtchn_bind_unbound_port)(
		xenevtchn_handle *, uint32_t);
	xenevtchn_port_or_error_t (*evtchn_bind_interdomain)(xenevtchn_handle *,
							     uint32_t,
							     evtchn_port_t);
	int (*evtchn_unbind)(xenevtchn_handle *, evtchn_port_t);
	xenevtchn_port_or_error_t (*evtchn_pending)(xenevtchn_handle *);
	int (*evtchn_unmask)(xenevtchn_handle *, evtchn_port_t);
	/* From now on evtchn_pending() fails with EAGAIN rather than block
	 * when nothing is pending (one system call per event, not a poll()
	 * then a read()).  0 or -1 with errno. */
	int (*evtchn_nonblock)(xenevtchn_handle *);

	xengnttab_handle *(*gnttab_open)(struct xentoollog_logger *,
					 unsigned int);
	int (*gnttab_close)(xengnttab_handle *);
	void *(*gnttab_map_domain_grant_refs)(xengnttab_handle *, uint32_t,
					      uint32_t, uint32_t *, int);
	int (*gnttab_unmap)(xengnttab_handle *, void *, uint32_t);
	int (*gnttab_grant_copy)(xengnttab_handle *, uint32_t,
				 xengnttab_grant_copy_segment_t *);
	int (*gnttab_set_max_grants)(xengnttab_handle *, uint32_t);

	xengntshr_handle *(*gntshr_open)(struct xentoollog_logger *,
					 unsigned int);
	int (*gntshr_close)(xengntshr_handle *);
	void *(*gntshr_share_pages)(xengntshr_handle *, uint32_t, int,
				    uint32_t *, int);
	int (*gntshr_munmap)(xengntshr_handle *, void *, uint32_t);

	xc_interface *(*xc_open)(struct xentoollog_logger *,
				 struct xentoollog_logger *, unsigned int);
	int (*xc_close)(xc_interface *);
	int (*xc_domain_getinfolist)(xc_interface *, uint32_t, unsigned int,
				     xc_domaininfo_t *);

	/* Device models (pvkit/dm.h); NULL where the provider has none:
	 * -EOPNOTSUPP. */
	xendevicemodel_handle *(*dm_open)(struct xentoollog_logger *,
					  unsigned int);
	int (*dm_close)(xendevicemodel_handle *);
	int (*dm_create_ioreq_server)(xendevicemodel_handle *, domid_t, int,
				      ioservid_t *);
	int (*dm_get_ioreq_server_info)(xendevicemodel_handle *, domid_t,
					ioservid_t, xen_pfn_t *, xen_pfn_t *,
					evtchn_port_t *);
	int (*dm_map_io_range)(xendevicemodel_handle *, domid_t, ioservid_t,
			       int, uint64_t, uint64_t);
	int (*dm_unmap_io_range)(xendevicemodel_handle *, domid_t, ioservid_t,
				 int, uint64_t, uint64_t);
	int (*dm_set_ioreq_server_state)(xendevicemodel_handle *, domid_t,
					 ioservid_t, int);
	int (*dm_destroy_ioreq_server)(xendevicemodel_handle *, domid_t,
				       ioservid_t);
	int (*dm_set_isa_irq_level)(xendevicemodel_handle *, domid_t, uint8_t,
				    unsigned int);
	xenforeignmemory_handle *(*fmem_open)(struct xentoollog_logger *,
					      unsigned int);
	int (*fmem_close)(xenforeignmemory_handle *);
	void *(*fmem_map)(xenforeignmemory_handle *, uint32_t, int, size_t,
			  const xen_pfn_t *, int *);
	int (*fmem_unmap)(xenforeignmemory_handle *, void *, size_t);
	xenforeignmemory_resource_handle *(*fmem_map_resource)(
		xenforeignmemory_handle *, domid_t, unsigned int, unsigned int,
		unsigned long, unsigned long, void **, int, int);
	int (*fmem_unmap_resource)(xenforeignmemory_handle *,
				   xenforeignmemory_resource_handle *);

	/* The hypervisor's side of an HVM guest's trapped access
	 * (pvkit/dm.h's pvk_dm_guest_*), for a guest process: pvkit's
	 * -errno returns, not libxen's.  NULL where the hypervisor does it
	 * itself (Xen: the CPU traps): -EOPNOTSUPP. */
	int (*guest_io)(unsigned int vcpu, struct pvk_ioreq *req,
			int timeout_ms);
	int (*guest_irq_fd)(void);
	int (*guest_irqs)(uint16_t *lines);
	int (*guest_memory)(void **addr, uint64_t *size);
};

/* A logger that drops everything, so that xc_interface_open() and friends
 * do not print (nothing in libpvkit-hv prints); hypercall/xenlib_real.c. */
extern struct xentoollog_logger pvk_xenlib_quiet_logger;

extern const struct pvk_xenlib pvk_xenlib_real;
extern const struct pvk_xenlib pvk_xenlib_sim;

#endif /* PVK_HYPERCALL_XENLIB_H */
